"""Synthesize the dev stack once per test session (and once across xdist workers)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.config import EnvConfig, env_config


@dataclass(frozen=True)
class Synth:
    env: EnvConfig
    outdir: Path
    template_path: Path
    template: dict[str, Any]


def _synthesize(env: EnvConfig, outdir: Path) -> None:
    from infra.app import build_app

    app, _stack = build_app(env, outdir, staging_dir=outdir.parent / "staging")
    app.synth()


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The dev stack's cloud assembly and template (one synth shared by all workers)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "infra-synth"
    root.mkdir(exist_ok=True)
    env = env_config("dev")
    outdir = root / "cdk.out"
    template_path = outdir / f"{env.stack_name}.template.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            _synthesize(env, outdir)
            (root / ".done").touch()
        fcntl.flock(lock, fcntl.LOCK_UN)
    yield Synth(env, outdir, template_path, json.loads(template_path.read_text()))


@pytest.fixture(scope="session")
def template(synth: Synth) -> dict[str, Any]:
    return synth.template


@pytest.fixture(scope="session")
def assertions(synth: Synth) -> Any:
    """An ``aws_cdk.assertions.Template`` over the synthesized JSON."""
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
