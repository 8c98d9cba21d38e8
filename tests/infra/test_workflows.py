"""The CI/CD workflows keep their promises: pinned actions, least privilege, OIDC only.

actionlint (in `make test`) checks syntax, expressions and types; these tests check the
project's own rules, which actionlint does not know.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
_USES = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>\S+)(?P<rest>.*)$", re.M)
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
_VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\b")


def _files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def _load(path: Path) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def test_there_are_test_diff_and_per_environment_deploy_workflows() -> None:
    names = {p.name for p in _files()}
    assert {"test.yml", "cdk-diff.yml", "deploy.yml", "deploy-dev.yml",
            "deploy-prod.yml"} <= names


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha_with_a_version_comment(path: Path) -> None:
    # GIVEN every `uses:` of the workflow
    for match in _USES.finditer(path.read_text(encoding="utf-8")):
        ref = match["ref"]
        if ref.startswith("./"):
            continue  # a workflow of this repository, pinned by the commit that runs it
        # THEN it names a full commit SHA (a tag can be moved) and says which version
        assert _PINNED.match(ref), f"{path.name}: {ref} is not pinned by a full SHA"
        assert _VERSION_COMMENT.search(match["rest"]), f"{path.name}: {ref} has no # vX"


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_permissions_are_read_only_unless_a_job_needs_an_oidc_token(path: Path) -> None:
    doc = _load(path)
    # GIVEN the workflow-level default: read the repository, nothing else
    assert doc.get("permissions") == {"contents": "read"}, path.name
    for name, job in doc["jobs"].items():
        # THEN every job states its own, and the only extra is id-token for AWS OIDC
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{path.name}:{name} has no permissions block"
        extra = {k: v for k, v in perms.items() if (k, v) != ("contents", "read")}
        assert extra in ({}, {"id-token": "write"}), f"{path.name}:{name}: {extra}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_no_long_lived_aws_keys_and_oidc_wherever_aws_is_reached(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    if "configure-aws-credentials" in text:
        assert "role-to-assume:" in text
        steps = [s for job in _load(path)["jobs"].values() for s in job.get("steps", [])
                 if "configure-aws-credentials" in s.get("uses", "")]
        assert all(set(s["with"]) >= {"role-to-assume", "aws-region"} for s in steps)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_every_workflow_that_runs_on_events_has_a_concurrency_group(path: Path) -> None:
    doc = _load(path)
    triggers: dict[str, Any] = doc.get(True) or doc["on"]  # YAML 1.1 reads `on` as True
    if set(triggers) == {"workflow_call"}:
        return  # a reusable workflow runs inside its caller's group
    assert "group" in doc.get("concurrency", {}), path.name


def test_deploys_are_never_cancelled_half_way_and_use_github_environments() -> None:
    for name in ("deploy-dev.yml", "deploy-prod.yml"):
        assert _load(WORKFLOWS / name)["concurrency"]["cancel-in-progress"] is False
    job = _load(WORKFLOWS / "deploy.yml")["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_the_test_workflow_runs_the_ci_entrypoint() -> None:
    steps = _load(WORKFLOWS / "test.yml")["jobs"]["test"]["steps"]
    assert any(s.get("run") == "bash .ci/run" for s in steps)
