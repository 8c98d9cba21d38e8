"""Docs stay executable and the wiring stays importable (a smoke test of every edge)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from udp_cli.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_two_make_commands_and_ci_runs_the_test_one() -> None:
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S)
    assert block is not None
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: .*\n\t\$\(BIN\)/udp demo", makefile, re.M)
    assert re.search(r"^test: ", makefile, re.M)
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_every_udp_command_in_the_readme_exists() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    known = set(sub.choices)  # type: ignore[arg-type]
    used = set(re.findall(r"`udp (\w+)", README)) | set(re.findall(r"udp (\w+) ", README))
    assert used and used <= known, used - known


@pytest.mark.parametrize("module", [
    "ingest_lambda.handler", "ingest_lambda.core", "glue_jobs.transform_job",
    "glue_jobs.glue_runtime", "glue_jobs.bulk_import", "local_aws.cloud", "udp_cli.cli",
    "orchestration.state_machine", "crawlers.specs",
])
def test_entrypoint_modules_import(module: str) -> None:
    importlib.import_module(module)


def test_state_machine_file_is_valid_json_with_only_quoted_placeholders() -> None:
    from contracts.pipeline import PipelineConfig
    from orchestration.state_machine import DEFINITION_PATH, load_pipeline_definition

    text = DEFINITION_PATH.read_text()
    json.loads(text)
    definition = load_pipeline_definition(PipelineConfig())
    assert "${" not in json.dumps(definition)


def test_glue_entrypoints_are_the_only_awsglue_importers() -> None:
    offenders = [p for p in ROOT.glob("*/**/*.py")
                 if ".venv" not in p.parts and "entrypoints" not in p.parts
                 and "tests" not in p.parts
                 and re.search(r"^\s*(from|import) awsglue", p.read_text(), re.M)]
    assert offenders == []
