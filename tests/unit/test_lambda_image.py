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


def test_dockerfile_command_names_an_importable_handler() -> None:
    # (base image and wheels: tests/infra/test_lambda_image.py)
    text = (ROOT / "ingest_lambda/Dockerfile").read_text()
    cmd = re.search(r'^CMD \["([\w.]+)"\]', text, re.M)
    assert cmd is not None
    module, _, func = cmd.group(1).rpartition(".")
    assert callable(getattr(importlib.import_module(module), func))


def _import_time_modules(tree: ast.Module) -> list[str]:
    """Modules imported when the module loads: top level, not TYPE_CHECKING, not in defs."""
    out: list[str] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                stack += handler.body
    return out


def test_lambda_code_imports_at_load_only_what_the_image_ships() -> None:
    # GIVEN the packages copied into the image WHEN their load-time imports are listed
    allowed = {"contracts", "ingest_lambda", "boto3", "botocore", "aws_lambda_powertools",
               "orjson", "__future__"}
    stdlib = set(__import__("sys").stdlib_module_names)
    for folder in ("contracts", "ingest_lambda"):
        for path in (ROOT / folder).glob("*.py"):
            for name in _import_time_modules(ast.parse(path.read_text())):
                # THEN each is shipped (pyarrow and pyspark only inside the functions that
                # build Arrow or Spark schemas, which the function never calls)
                assert name.split(".")[0] in allowed | stdlib, f"{path.name} imports {name}"
