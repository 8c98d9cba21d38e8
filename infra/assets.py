"""Stage the Glue job assets: the entrypoint scripts and the project wheel.

The scripts bucket receives one folder, laid out as Glue reads it::

    scripts/transform_users.py
    scripts/bulk_import.py
    wheels/user_data_pipeline-<version>-py3-none-any.whl

The wheel keeps its standard file name because Glue installs it with pip
(``--additional-python-modules``), and pip refuses a wheel whose name is not
``name-version-tags.whl``. The wheel is written directly (pure Python, no build
backend): reproducible byte for byte, offline, and synthesis never writes ``build/``
or ``*.egg-info`` into the repository.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BOOTSTRAP_CODE",
    "BOOTSTRAP_HANDLER",
    "ENTRYPOINTS",
    "IMAGE_CONTEXT",
    "LAMBDA_IMAGE",
    "PACKAGES",
    "AssetStagingError",
    "GlueAssets",
    "LambdaImage",
    "StagedAssets",
    "build_wheel",
    "stage_all",
    "stage_bootstrap_code",
    "stage_context",
    "stage_glue_assets",
    "stage_image_context",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINTS = {
    "transform_users": "glue_jobs/entrypoints/transform_users.py",
    "bulk_import": "glue_jobs/entrypoints/bulk_import.py",
    "erase_users": "glue_jobs/entrypoints/erase_users.py",
}
"""Glue job key → entrypoint script, relative to the repository root."""

PACKAGES = ("contracts", "glue_jobs", "sql")
"""Top-level packages the Glue wheel contains: the Glue jobs' layer and the layers below it
(``[tool.importlinter]`` in pyproject.toml proves ``glue_jobs`` imports nothing else).
No twin, no CLI, no orchestration: those never run on Glue."""

IMAGE_CONTEXT = ("contracts", "ingest_lambda")
"""What ``ingest_lambda/Dockerfile`` copies from the repository root (its build context)."""



@dataclass(frozen=True)
class LambdaImage:
    """The ingest image's base and CPU: what its wheels must be built for.

    ``ingest_lambda/Dockerfile`` starts ``FROM`` :attr:`base`; the stack sets the image
    asset's build platform and the function's architecture from :attr:`arch`;
    ``tests/infra/test_lambda_image.py`` resolves ``ingest_lambda/requirements.txt`` as
    wheels for :attr:`python`, :attr:`glibc` and :attr:`arch` and imports the handler
    from them alone.
    """

    python: str
    glibc: tuple[int, int]
    arch: str  # "x86_64" or "aarch64" (as in manylinux wheel tags)

    @property
    def base(self) -> str:
        return f"public.ecr.aws/lambda/python:{self.python}"

    def manylinux_platforms(self) -> list[str]:
        """Every manylinux tag the image's pip accepts, newest first.

        pip does not widen a ``--platform manylinux_2_N`` to older glibc versions
        (it does so only for the running interpreter), so each is listed.
        """
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{n}_{self.arch}" for n in range(minor, 16, -1)]
        return [*tags, f"manylinux2014_{self.arch}"]


LAMBDA_IMAGE = LambdaImage(python="3.13", glibc=(2, 34), arch="x86_64")
"""Python 3.13 on Amazon Linux 2023 (glibc 2.34), x86_64: the project's one Python, the
same as Glue 6.0's (AWS Lambda runtimes table: ``python3.13`` runs on AL2023).

The function uses only the standard library, orjson and Powertools, and the image test
resolves ``requirements.txt`` for this platform, imports the handler and splits a sample
page on a real 3.13 interpreter. x86_64: the image is built where the deploy runs (x86_64
machines and CI runners) without CPU emulation.
"""

_SKIP = {"__pycache__"}
_EPOCH = (1980, 1, 1, 0, 0, 0)


class AssetStagingError(RuntimeError):
    """The Glue assets could not be staged (missing script, wheel build failed)."""


@dataclass(frozen=True)
class GlueAssets:
    """Where the staged folder is and the keys its files will have in the scripts bucket."""

    folder: Path
    script_keys: dict[str, str]
    wheel_key: str


@dataclass(frozen=True)
class StagedAssets:
    """Everything the stack deploys from local files, staged outside the repository."""

    glue: GlueAssets
    image_context: Path
    bootstrap_code: Path | None = None


def _project_metadata(repo_root: Path) -> tuple[str, str, str]:
    try:
        project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
        return (str(project["name"]), str(project["version"]),
                str(project.get("requires-python", "")))
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise AssetStagingError(f"cannot read [project] name/version from pyproject.toml: "
                                f"{exc}") from None


def _package_files(repo_root: Path) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for package in PACKAGES:
        root = repo_root / package
        if not root.is_dir():
            raise AssetStagingError(f"package folder {package}/ is missing")
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(repo_root)
            if path.is_file() and not _SKIP.intersection(rel.parts) and path.suffix != ".pyc":
                files.append((rel.as_posix(), path.read_bytes()))
    return files


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(repo_root: Path, out_dir: Path) -> Path:
    """Write a reproducible pure-Python wheel of :data:`PACKAGES` into ``out_dir``.

    The same sources give byte-identical wheels (fixed timestamps, sorted entries), so
    the asset hash and ``cdk diff`` change only when the code does. It declares no
    ``Requires-Dist``: the runtime modules Glue needs are listed in
    ``EnvConfig.glue_python_modules``.
    """
    name, version, requires_python = _project_metadata(repo_root)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                + (f"Requires-Python: {requires_python}\n" if requires_python else ""))
    wheel_meta = ("Wheel-Version: 1.0\nGenerator: udp-infra\nRoot-Is-Purelib: true\n"
                  "Tag: py3-none-any\n")
    entries = [*_package_files(repo_root), (f"{info}/METADATA", metadata.encode()),
               (f"{info}/WHEEL", wheel_meta.encode())]
    record = [_record_line(n, d) for n, d in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry_name, data in entries:
            item = zipfile.ZipInfo(entry_name, date_time=_EPOCH)
            item.external_attr = 0o644 << 16
            item.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(item, data)
    return target


def stage_glue_assets(out_dir: Path, repo_root: Path = REPO_ROOT) -> GlueAssets:
    """Copy the entrypoints and build the project wheel into ``out_dir`` (emptied first)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "scripts").mkdir(parents=True)
    (out_dir / "wheels").mkdir()
    script_keys: dict[str, str] = {}
    for job, rel in ENTRYPOINTS.items():
        source = repo_root / rel
        if not source.is_file():
            raise AssetStagingError(f"Glue entrypoint {rel} is missing")
        shutil.copy2(source, out_dir / "scripts" / source.name)
        script_keys[job] = f"scripts/{source.name}"
    wheel = build_wheel(repo_root, out_dir / "wheels")
    return GlueAssets(folder=out_dir, script_keys=script_keys, wheel_key=f"wheels/{wheel.name}")


def stage_context(out_dir: Path, folders: Sequence[str], repo_root: Path = REPO_ROOT) -> Path:
    """Copy ``folders`` of the repository into a fresh ``out_dir`` (a container build
    context), without bytecode caches."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for folder in folders:
        if not (repo_root / folder).is_dir():
            raise AssetStagingError(f"image context folder {folder}/ is missing")
        shutil.copytree(repo_root / folder, out_dir / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return out_dir


def stage_image_context(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Copy the ingest image's build context (:data:`IMAGE_CONTEXT`) into ``out_dir``.

    CDK fingerprints the whole context folder at synth; pointing it at the repository
    root would walk ``.venv`` and ``.udp``. The Dockerfile is at
    ``ingest_lambda/Dockerfile`` inside the copy, as it is in the repository.
    """
    stage_context(out_dir, IMAGE_CONTEXT, repo_root)
    if not (out_dir / "ingest_lambda" / "Dockerfile").is_file():
        raise AssetStagingError("ingest_lambda/Dockerfile is missing")
    return out_dir


BOOTSTRAP_CODE = ("glue_jobs/__init__.py", "glue_jobs/warehouse_bootstrap.py", "sql")
"""What the warehouse bootstrap Lambda ships: its module, its package and the SQL it
reads; it imports nothing else (boto3 comes with the Lambda runtime, imported in the
handler only)."""
BOOTSTRAP_HANDLER = "glue_jobs.warehouse_bootstrap.handler"


def stage_bootstrap_code(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Copy :data:`BOOTSTRAP_CODE` into a fresh ``out_dir`` (the Lambda's zip asset)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for rel in BOOTSTRAP_CODE:
        source = repo_root / rel
        if source.is_dir():
            shutil.copytree(source, out_dir / rel,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, out_dir / rel)
        else:
            raise AssetStagingError(f"warehouse bootstrap file {rel} is missing")
    return out_dir


def stage_all(staging_dir: Path, repo_root: Path = REPO_ROOT) -> StagedAssets:
    """Stage the Glue assets, the image build context and the bootstrap Lambda's code
    under ``staging_dir``."""
    return StagedAssets(glue=stage_glue_assets(staging_dir / "glue", repo_root),
                        image_context=stage_image_context(staging_dir / "image", repo_root),
                        bootstrap_code=stage_bootstrap_code(staging_dir / "bootstrap",
                                                            repo_root))
