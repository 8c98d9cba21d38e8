"""push_api is an AWS-role package: it imports contracts, ingest_lambda and itself only,
and its image ships everything it imports."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"contracts", "ingest_lambda", "push_api", "boto3", "botocore",
           "aws_lambda_powertools", "orjson", "pyarrow", "__future__"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_push_api_imports_only_its_layer() -> None:
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "push_api").glob("*.py"):
        extra = _imports(path) - ALLOWED - stdlib
        assert not extra, f"{path.name} imports {extra}"


def test_the_image_copies_what_the_handlers_import_and_both_commands_exist() -> None:
    text = (ROOT / "push_api/Dockerfile").read_text()
    from infra.assets import LAMBDA_IMAGE

    # the same base as the ingest image: infra.assets.LAMBDA_IMAGE's Python
    assert re.search(rf"^FROM public\.ecr\.aws/lambda/python:{re.escape(LAMBDA_IMAGE.python)}\s*$",
                     text, re.M)
    copied = set(re.findall(r"^COPY (\w+)/ ", text, re.M))
    assert copied == {"contracts", "ingest_lambda", "push_api"}
    from infra.push_stack import PUSH_IMAGE_CONTEXT

    assert set(PUSH_IMAGE_CONTEXT) == copied
    for target in ("push_api.api.handler", "push_api.consumer.handler"):
        module, _, func = target.rpartition(".")
        assert callable(getattr(importlib.import_module(module), func))
