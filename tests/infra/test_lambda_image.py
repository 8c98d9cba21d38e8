"""The ingest image's requirements resolve for its base, and the handler imports from them alone.

No Docker engine here: pip resolves ``ingest_lambda/requirements.txt`` as wheels for the
base image's Python, glibc and CPU (``infra.assets.LAMBDA_IMAGE``) into a folder laid
out as the Dockerfile lays ``${LAMBDA_TASK_ROOT}``, and an interpreter of the image's
Python version imports the handler from that folder with no site-packages at all
(``-I -S``). The folder is cached under pytest's base temp for the session.
Needs the package index (pip) and a ``python3.X`` interpreter of the image's version.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.assets import IMAGE_CONTEXT, LAMBDA_IMAGE, LambdaImage

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "ingest_lambda" / "Dockerfile"
REQUIREMENTS = ROOT / "ingest_lambda" / "requirements.txt"


def _interpreter(version: str) -> str | None:
    """A working CPython ``version`` executable: on PATH or in pyenv's versions folder
    (a pyenv shim on PATH may name a version that is installed but not selected)."""
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    candidates = [shutil.which(f"python{version}"), *(
        found for root in filter(None, roots)
        for found in sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def _pip_install_for_image(image: LambdaImage, requirements: Path, target: Path) -> None:
    platforms = [arg for tag in image.manylinux_platforms() for arg in ("--platform", tag)]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(target), "--python-version", image.python, "--implementation", "cp",
           "--only-binary=:all:", *platforms, "-r", str(requirements)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"ingest_lambda/requirements.txt has no wheels for {image.base} "
        f"(glibc {image.glibc}, {image.arch}):\n{done.stderr[-2000:]}")


@pytest.fixture(scope="session")
def task_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``${LAMBDA_TASK_ROOT}`` as the Dockerfile builds it (cached per requirements text)."""
    key = f"{LAMBDA_IMAGE}{REQUIREMENTS.read_text()}"
    folder = tmp_path_factory.getbasetemp() / f"lambda-task-root-{abs(hash(key)):x}"
    if not (folder / ".done").exists():
        if folder.exists():
            shutil.rmtree(folder)
        _pip_install_for_image(LAMBDA_IMAGE, REQUIREMENTS, folder)
        (folder / ".done").touch()
    for package in IMAGE_CONTEXT:  # COPY contracts/ and ingest_lambda/ (fresh each session)
        shutil.rmtree(folder / package, ignore_errors=True)
        shutil.copytree(ROOT / package, folder / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import ingest_lambda.handler as h
from ingest_lambda.core import split_page
page = json.loads(open(sys.argv[2], encoding="utf-8").read())
good, bad = split_page(page, {"batch_id": "b", "fetched_at": "2026-11-22T10:00:00.000000Z",
                              "source_page": 1, "source_seed": "s"})
outside = sorted(
    name for name, mod in sys.modules.items()
    if getattr(mod, "__file__", None) and not mod.__file__.startswith(sys.argv[1])
    and (not mod.__file__.startswith(sys.base_prefix) or "site-packages" in mod.__file__))
print(json.dumps({"callable": callable(h.handler), "namespace": h.metrics.namespace,
                  "good": len(good), "bad": len(bad), "outside": outside,
                  "pyarrow": "pyarrow" in sys.modules,
                  "version": "%d.%d" % sys.version_info[:2]}))
"""


def test_dockerfile_builds_from_the_image_spec() -> None:
    # GIVEN the Dockerfile WHEN its base and command are read
    text = DOCKERFILE.read_text()
    # THEN it starts from the base the wheels are resolved for, installs wheels only
    assert re.search(rf"^FROM {re.escape(LAMBDA_IMAGE.base)}\s*$", text, re.M)
    assert "--only-binary=:all:" in text
    assert re.search(r'^CMD \["ingest_lambda\.handler\.handler"\]', text, re.M)
    # AND it copies exactly the image context the CDK asset is staged from
    copied = re.findall(r"^COPY (\w+)/ ", text, re.M)
    assert tuple(copied) == IMAGE_CONTEXT


def test_manylinux_tags_cover_every_glibc_from_the_base_down_to_2014() -> None:
    tags = LambdaImage(python="3.13", glibc=(2, 34), arch="x86_64").manylinux_platforms()
    assert tags[0] == "manylinux_2_34_x86_64"
    assert tags[-2:] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    assert len(tags) == 34 - 17 + 2


def test_handler_imports_from_the_image_wheels_alone(task_root: Path) -> None:
    # GIVEN the task root built from wheels for the image's platform, and an interpreter
    # of the image's Python version
    python = _interpreter(LAMBDA_IMAGE.python)
    if python is None:  # the wheels were still resolved and installed (the fixture)
        pytest.skip(f"no python{LAMBDA_IMAGE.python} interpreter (PATH or pyenv) to import "
                    f"the handler as {LAMBDA_IMAGE.base} does")
    # WHEN it imports the handler and splits a sample page with no site-packages (-I -S)
    done = subprocess.run(
        [python, "-I", "-S", "-c", _PROBE, str(task_root),
         str(ROOT / "tests/events/randomuser_page.json")],
        capture_output=True, text=True, check=False, cwd=task_root)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # THEN the handler is there, every module came from the task root or the stdlib
    assert seen["version"] == LAMBDA_IMAGE.python
    assert seen["callable"] is True
    assert seen["outside"] == []
    # AND the sample page's records all validate and serialise on that interpreter
    assert (seen["good"], seen["bad"]) == (4, 0)
    # AND pyarrow is neither needed nor shipped
    assert seen["pyarrow"] is False
    assert not (task_root / "pyarrow").exists()
    # AND the metrics go to the one namespace the stack grants
    from ingest_lambda import METRICS_NAMESPACE
    assert seen["namespace"] == METRICS_NAMESPACE
