"""Offline checks of a synthesized template: cfn-lint and checkov.

``python -m infra.checks cdk.out/udp-dev.template.json`` runs both (``make infra-check``);
``tests/infra/test_lint_scan.py`` calls the same functions. The cfn-lint rules ignored
here are listed with their reason; checkov suppressions live on the resources
(``infra.suppressions.skip``), never here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CFN_LINT_IGNORED",
    "CheckError",
    "CheckovResult",
    "checkov_executable",
    "main",
    "run_cfn_lint",
    "run_checkov",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

CFN_LINT_IGNORED: dict[str, str] = {
    "W3005": "CDK writes DependsOn on a function's or state machine's role next to the "
             "GetAtt of that role (it waits for the role's policy); redundant, not wrong.",
    "W3010": "AZs are named in infra/config.py so synth stays offline and Redshift "
             "Serverless gets its three AZs; EnvConfig.az_letters is the knob.",
}
"""cfn-lint rules ignored for the whole template, each with its reason."""


class CheckError(RuntimeError):
    """A checker is missing or could not run (not: a finding)."""


def run_cfn_lint(template: Path, regions: list[str] | None = None) -> list[str]:
    """cfn-lint findings (one line each, rule id first); empty when the template passes."""
    from cfnlint.api import ManualArgs, lint_file

    config = ManualArgs(ignore_checks=list(CFN_LINT_IGNORED), regions=regions or ["eu-west-1"])
    try:
        matches = lint_file(template, config=config)
    except Exception as exc:  # cfn-lint's own failures, e.g. an unreadable template
        raise CheckError(f"cfn-lint did not run: {type(exc).__name__}: {exc}") from None
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]


def checkov_executable() -> str:
    """``$CHECKOV``, else ``.venv/checkov/bin/checkov``, else ``checkov`` on PATH.

    checkov lives in its own virtualenv: it pins boto3, botocore and packaging below
    what the project needs.
    """
    candidates = [os.environ.get("CHECKOV", ""),
                  str(REPO_ROOT / ".venv" / "checkov" / "bin" / "checkov"),
                  shutil.which("checkov") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise CheckError("checkov not found: run `make install` (it creates .venv/checkov) or "
                     "set CHECKOV=/path/to/checkov")


@dataclass(frozen=True)
class CheckovResult:
    """Failed checks as ``(check_id, logical id)`` and the skips checkov honoured."""

    failed: list[tuple[str, str]]
    skipped: list[tuple[str, str]]
    passed: int


def run_checkov(template: Path) -> CheckovResult:
    """Scan ``template`` with checkov offline (``--skip-download``)."""
    cmd = [checkov_executable(), "--file", str(template), "--framework", "cloudformation",
           "--skip-download", "--output", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    try:
        report: Any = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise CheckError(f"checkov did not run (exit {done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-500:]}") from None
    if isinstance(report, list):  # one report per framework when several ran
        report = next(r for r in report if r.get("check_type") == "cloudformation")
    results = report.get("results", {})

    def pairs(key: str) -> list[tuple[str, str]]:
        return [(c["check_id"], c["resource"].split(".", 1)[-1]) for c in results.get(key, [])]

    return CheckovResult(failed=pairs("failed_checks"), skipped=pairs("skipped_checks"),
                         passed=int(report.get("summary", {}).get("passed", 0)))


def _regions(template: Path) -> list[str]:
    """The stack's region from the cloud assembly manifest next to the template."""
    manifest = template.parent / "manifest.json"
    if manifest.is_file():
        for artifact in json.loads(manifest.read_text()).get("artifacts", {}).values():
            env = str(artifact.get("environment", ""))
            if artifact.get("type") == "aws:cloudformation:stack" and env.count("/") == 3:
                return [env.rsplit("/", 1)[1]]
    return ["eu-west-1"]


def main(argv: list[str] | None = None) -> int:
    """Run cfn-lint and checkov on each template given; exit 1 on any finding."""
    args = argv if argv is not None else sys.argv[1:]
    if not args:
        print("usage: python -m infra.checks TEMPLATE.json [...]", file=sys.stderr)
        return 2
    status = 0
    for name in args:
        template = Path(name)
        if not template.is_file():
            print(f"error: {template} does not exist (run `make synth` first)", file=sys.stderr)
            return 2
        try:
            lint = run_cfn_lint(template, regions=_regions(template))
            scan = run_checkov(template)
        except CheckError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{template}: cfn-lint {len(lint)} finding(s); checkov {scan.passed} passed, "
              f"{len(scan.failed)} failed, {len(scan.skipped)} skipped (reasons in Metadata)")
        for line in lint:
            print(f"  cfn-lint: {line}")
        for check_id, resource in scan.failed:
            print(f"  checkov: {check_id} {resource}")
        if lint or scan.failed:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
