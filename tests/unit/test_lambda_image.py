"""The Lambda image cannot be built here (no Docker engine): check what can be checked."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_requirements_are_pinned_to_the_tested_versions() -> None:
    lines = [ln.strip() for ln in (ROOT / "ingest_lambda/requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines, "requirements.txt is empty"
    for line in lines:
        name, _, version = line.partition("==")
        assert version, f"{line} is not pinned with =="
        assert importlib.metadata.version(name) == version, f"{name} differs from the tested one"


def test_dockerfile_uses_the_python_311_base_and_an_importable_handler() -> None:
    text = (ROOT / "ingest_lambda/Dockerfile").read_text()
    assert re.search(r"^FROM public\.ecr\.aws/lambda/python:3\.11\s*$", text, re.M)
    cmd = re.search(r'^CMD \["([\w.]+)"\]', text, re.M)
    assert cmd is not None
    module, _, func = cmd.group(1).rpartition(".")
    assert callable(getattr(importlib.import_module(module), func))


def test_lambda_code_imports_only_what_the_image_ships() -> None:
    # GIVEN the packages copied into the image WHEN their imports are listed
    allowed = {"contracts", "ingest_lambda", "boto3", "botocore", "aws_lambda_powertools",
               "pyarrow", "orjson", "__future__"}
    stdlib = set(__import__("sys").stdlib_module_names)
    for folder in ("contracts", "ingest_lambda"):
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         else [])
                for name in names:
                    top = name.split(".")[0]
                    # pyspark is imported lazily inside contracts.schema.spark_schema only
                    assert top in allowed | stdlib | {"pyspark"}, f"{path.name} imports {name}"
