"""The layers hold: the Glue wheel carries only the Glue layer, and `lint-imports` refuses
an import that breaks a layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from infra.assets import build_wheel

REPO = Path(__file__).resolve().parents[2]


def test_glue_wheel_holds_only_the_glue_layer(tmp_path: Path) -> None:
    # GIVEN the wheel the infrastructure ships to Glue
    wheel = build_wheel(REPO, tmp_path)
    # WHEN its top-level folders are listed
    tops = {n.split("/", 1)[0] for n in zipfile.ZipFile(wheel).namelist()}
    # THEN it holds the jobs, the SQL they run and the contracts, and no twin or CLI
    assert tops == {"contracts", "glue_jobs", "sql", "user_data_pipeline-0.1.0.dist-info"}


def _lint_copy_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of the packages and contracts where ``module`` gains ``line``."""
    for name in ("contracts", "sql", "ingest_lambda", "crawlers", "glue_jobs",
                 "orchestration", "local_aws", "infra", "udp_cli", "bench"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as f:
        f.write(f"\n{line}  # noqa: E402,F401\n")
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)


def test_lint_imports_refuses_a_twin_imported_by_a_glue_job(tmp_path: Path) -> None:
    # GIVEN a copy of the packages and the layer contracts, where a Glue job module
    # imports a local twin
    # WHEN lint-imports checks the copy
    done = _lint_copy_with(tmp_path, "glue_jobs/runtime_port.py",
                           "import local_aws.s3.objectstore")
    # THEN it fails, naming the import and both broken contracts
    assert done.returncode == 1, done.stdout + done.stderr
    assert "glue_jobs.runtime_port -> local_aws.s3.objectstore" in done.stdout
    assert "AWS-role code never imports a twin, the CLI or the orchestration BROKEN" \
        in done.stdout


def test_lint_imports_refuses_a_twin_imported_by_the_cli(tmp_path: Path) -> None:
    # GIVEN a copy where a CLI module imports a twin module instead of local_aws.facade
    # WHEN lint-imports checks the copy
    done = _lint_copy_with(tmp_path, "udp_cli/output.py", "import local_aws.s3.objectstore")
    # THEN it fails on the composition-root contract, naming the import
    assert done.returncode == 1, done.stdout + done.stderr
    assert "udp_cli.output -> local_aws.s3.objectstore" in done.stdout
    assert "Only local_aws.facade is imported from outside local_aws BROKEN" in done.stdout


def test_lint_imports_keeps_the_cli_on_the_facade(tmp_path: Path) -> None:
    # GIVEN a copy where a CLI module imports the facade
    # WHEN lint-imports checks the copy
    done = _lint_copy_with(tmp_path, "udp_cli/output.py", "import local_aws.facade")
    # THEN every contract is kept
    assert done.returncode == 0, done.stdout + done.stderr


def test_lint_imports_keeps_the_benchmarks_on_the_facade(tmp_path: Path) -> None:
    # GIVEN a copy where a benchmark imports the composition root's module directly
    # WHEN lint-imports checks the copy
    done = _lint_copy_with(tmp_path, "bench/erase.py", "import local_aws.cloud")
    # THEN it fails on the composition-root contract, naming the import
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bench.erase -> local_aws.cloud" in done.stdout
    assert "Only local_aws.facade is imported from outside local_aws BROKEN" in done.stdout


def test_every_bench_part_the_facade_names_exists() -> None:
    # GIVEN the parts the facade lends the benchmarks by name
    import local_aws.facade as facade

    # THEN each resolves to the object its module defines
    for name, module in facade.BENCH_PARTS.items():
        assert getattr(facade, name) is getattr(__import__(module, fromlist=[name]), name)
