"""The Glue jobs' wheel, installed as Glue installs it, imports next to Glue 6.0's modules only.

The wheel is built by ``infra.assets.stage_glue_assets`` (what the stack uploads) and
installed with ``pip install --no-deps --target`` (the jobs' ``--python-modules-installer-
option --no-deps``). Beside it sit only the distributions Glue 6.0 provides
(``glue6_provided_modules.txt``: AWS's published list, plus Glue's own pyspark, py4j and
awsglue) and the modules a job's synthesized ``--additional-python-modules`` names. A
fresh interpreter with no site-packages at all (``python -I -S``, only those folders on
``sys.path``) then imports what each job's entrypoint imports.

The clean environment is a *symlink farm* of those distributions' top-level modules out
of the shared venv, not a ``pip install --target`` of the list's pins. Why: installing the
list (pandas, matplotlib, pyarrow, grpcio, ... ~400 MB) would cost minutes and the
package index on every cold CI cache, while the question asked here is *which names* the
wheel may import, not whether Glue's exact versions behave alike; those versions are
exercised where behaviour matters (pyspark 4.1.1 and awsglue 6.0 in the Spark and argv
tests). The additional modules are held to the template's exact pins.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from infra.assets import ENTRYPOINTS, PACKAGES, GlueAssets, stage_glue_assets

ROOT = Path(__file__).resolve().parents[2]
PROVIDED_LIST = Path(__file__).with_name("glue6_provided_modules.txt")
NEVER_SHIPPED = ("local_aws", "udp_cli", "orchestration", "infra", "bench", "tests",
                 "ingest_lambda", "crawlers")
LOCAL_ONLY_IMPORTS = {
    # import name -> the one module allowed to import it inside a function, and why
    "sqlglot": ("sql/ddl.py", "declared_columns: the DDL review test, python -m sql.ddl"),
}
JOB_KEYS = {"transform_users": "TransformJob", "bulk_import": "BulkImportJob",
            "erase_users": "EraseJob"}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """``name==version`` lines (comments and blanks skipped) -> {normalised name: version}."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        assert match, f"not a name==version pin: {raw!r}"
        pins[_normalise(match[1])] = match[2]
    return pins


def top_level_names(dist: metadata.Distribution) -> set[str]:
    """Importable top-level names a distribution installs (top_level.txt, else its files)."""
    declared = dist.read_text("top_level.txt")
    if declared:
        return {n.strip() for n in declared.split() if n.strip()}
    names: set[str] = set()
    for file in dist.files or ():
        first = file.parts[0]
        if len(file.parts) == 1 and first.endswith(".py"):
            names.add(first[:-3])
        elif (len(file.parts) > 1 and not first.endswith((".dist-info", ".data"))
              and first not in {"..", "bin", "__pycache__"}):
            names.add(first)
        elif len(file.parts) == 1 and first.endswith(".so"):
            names.add(first.split(".", 1)[0])
    return names


def _dist_info_dirs(dist: metadata.Distribution) -> set[str]:
    return {f.parts[0] for f in dist.files or () if f.parts[0].endswith(".dist-info")}


def link_distributions(names: dict[str, str], farm: Path, *, exact: bool) -> set[str]:
    """Symlink each installed distribution's top-level modules (and dist-info) into ``farm``.

    ``exact``: the installed version must equal the pin (the job's own modules). Returns
    the top-level import names linked."""
    linked: set[str] = set()
    for name, version in names.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            assert not exact, f"{name}=={version} is not installed in the shared venv"
            continue  # provided by Glue but unused here: nothing can import it anyway
        if exact:
            assert dist.version == version, (
                f"the template pins {name}=={version}, the venv has {dist.version}")
        site = Path(str(dist.locate_file("")))
        for top in top_level_names(dist) | _dist_info_dirs(dist):
            for candidate in (site / top, site / f"{top}.py",
                              *site.glob(f"{top}.*.so")):
                if candidate.exists() and not (farm / candidate.name).exists():
                    (farm / candidate.name).symlink_to(candidate)
                    linked.add(top)
    return linked


def provided_import_names(pins: dict[str, str]) -> set[str]:
    """Top-level import names of the provided distributions (metadata when installed, the
    normalised name otherwise)."""
    names: set[str] = set()
    for name in pins:
        try:
            names |= top_level_names(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            names.add(name.replace("-", "_"))
    return names


# ---------------------------------------------------------------- the template's modules

def _job_arguments(template: dict[str, Any], logical_prefix: str) -> dict[str, Any]:
    jobs = [v["Properties"] for k, v in template["Resources"].items()
            if v["Type"] == "AWS::Glue::Job" and k.startswith(logical_prefix)]
    assert len(jobs) == 1, logical_prefix
    return dict(jobs[0]["DefaultArguments"])


def additional_modules(template: dict[str, Any], job: str) -> tuple[str, dict[str, str]]:
    """(the wheel's file name, {module: version}) from a job's --additional-python-modules."""
    args = _job_arguments(template, JOB_KEYS[job])
    assert args["--python-modules-installer-option"] == "--no-deps"
    raw = args["--additional-python-modules"]
    if isinstance(raw, dict):  # Fn::Join of the wheel's S3 URL and the pins
        sep, parts = raw["Fn::Join"]
        raw = sep.join(p if isinstance(p, str) else "<token>" for p in parts)
    entries = [e for e in str(raw).split(",") if e]
    wheels = [e for e in entries if e.endswith(".whl")]
    assert len(wheels) == 1, entries
    pins = read_pins("\n".join(e for e in entries if not e.endswith(".whl")))
    return wheels[0].rsplit("/", 1)[-1], pins


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def staged(tmp_path_factory: pytest.TempPathFactory) -> GlueAssets:
    return stage_glue_assets(tmp_path_factory.mktemp("glue-assets") / "glue", ROOT)


@pytest.fixture(scope="session")
def wheel_path(staged: GlueAssets) -> Path:
    return staged.folder / staged.wheel_key


@pytest.fixture(scope="session")
def installed_wheel(wheel_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel as Glue installs it: pip, --no-deps, into a folder of its own (offline)."""
    target = tmp_path_factory.mktemp("glue-wheel-site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-index", "--target", str(target), str(wheel_path)],
        capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return target


@pytest.fixture(scope="session")
def provided_pins() -> dict[str, str]:
    return read_pins(PROVIDED_LIST.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def glue_site(provided_pins: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Glue 6.0's provided modules, linked from the shared venv."""
    farm = tmp_path_factory.mktemp("glue5-provided")
    linked = link_distributions(provided_pins, farm, exact=False)
    assert {"pyspark", "py4j", "awsglue", "boto3", "botocore"} <= linked
    return farm


def _wheel_modules(wheel: Path) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".py"):
                yield name, archive.read(name).decode("utf-8")


def _imports(source: str) -> Iterator[tuple[str, bool]]:
    """(top-level name, at module level?) of every absolute import in ``source``.

    Imports under ``if TYPE_CHECKING:`` never run and are skipped."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    module_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], id(node) in module_level
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], id(node) in module_level


# ---------------------------------------------------------------- tests

def test_the_wheel_holds_only_the_glue_layers(wheel_path: Path) -> None:
    # GIVEN the wheel the stack uploads
    with zipfile.ZipFile(wheel_path) as archive:
        names = archive.namelist()
    # WHEN its top-level folders are listed
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    # THEN it is exactly the Glue jobs' packages: no twin, no CLI, no orchestration, no infra
    assert tops == set(PACKAGES)
    assert not [n for n in names if n.split("/", 1)[0] in NEVER_SHIPPED]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # AND it carries the SQL and DQ rule files the jobs read at run time
    assert "sql/redshift/merge_users.sql" in names
    assert any(n.startswith("glue_jobs/dq/") and n.endswith(".dqdl") for n in names)


def test_every_third_party_import_in_the_wheel_is_on_glue(
        wheel_path: Path, provided_pins: dict[str, str], template: dict[str, Any]) -> None:
    # GIVEN what Glue 6.0 provides and what the jobs add with --additional-python-modules
    allowed = provided_import_names(provided_pins)
    for job in JOB_KEYS:
        _, pins = additional_modules(template, job)
        allowed |= provided_import_names(pins)
    own = set(PACKAGES) | {"__future__"}
    # WHEN every import in the wheel's modules is read (AST, not regex)
    missing: list[str] = []
    for path, source in _wheel_modules(wheel_path):
        for name, module_level in _imports(source):
            if name in own or name in sys.stdlib_module_names or name in allowed:
                continue
            local = LOCAL_ONLY_IMPORTS.get(name)
            if local and path == local[0] and not module_level:
                continue
            missing.append(f"{path}: {name} ({'module level' if module_level else 'lazy'})")
    # THEN each is Glue-provided, a job's additional module, or a known local-only lazy one
    assert missing == [], (
        "imports Glue does not have (make them lazy in local-only code, move them, or add "
        "the module to --additional-python-modules deliberately):\n" + "\n".join(missing))


_PROBE = """
import importlib, json, sys, sysconfig
roots = json.loads(sys.argv[1])
sys.path[:0] = roots
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
loaded = []
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
    loaded.append(name)
outside = sorted({m.split(".")[0] for m, mod in list(sys.modules.items())
                  if getattr(mod, "__file__", None)
                  and not mod.__file__.startswith((*roots, *stdlib))})
print(json.dumps({"loaded": loaded, "outside": outside,
                  "twins": sorted(m for m in sys.modules if m.split(".")[0] in
                                  ("local_aws", "udp_cli", "orchestration", "infra"))}))
"""


def _entrypoint_imports(script: Path) -> list[str]:
    """Modules an entrypoint script imports (a script runs its job when imported itself)."""
    names: list[str] = []
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] if node.module != "__future__" else []
    return names


@pytest.mark.parametrize("job", sorted(ENTRYPOINTS))
def test_entrypoint_imports_from_the_wheel_next_to_glues_modules_only(
        job: str, staged: GlueAssets, installed_wheel: Path, glue_site: Path,
        template: dict[str, Any], tmp_path: Path) -> None:
    # GIVEN the job's --additional-python-modules from the synthesized template
    wheel_name, pins = additional_modules(template, job)
    assert wheel_name == Path(staged.wheel_key).name
    extra = tmp_path / "additional"
    extra.mkdir()
    link_distributions(pins, extra, exact=True)
    # AND the modules its entrypoint script imports (plus the Redshift driver the bulk
    # import loads when it connects)
    script = staged.folder / staged.script_keys[job]
    modules = _entrypoint_imports(script) + (["redshift_connector"] if pins else [])
    assert any(m.startswith("glue_jobs") for m in modules), modules
    # WHEN a clean interpreter (no site-packages) imports them with only the wheel's
    # folder, Glue's modules and the job's additional modules on its path
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE,
         json.dumps([str(installed_wheel), str(glue_site), str(extra)]), json.dumps(modules)],
        capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path)
    # THEN every import succeeds, from those folders alone, with no twin or CLI loaded
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["loaded"] == modules
    assert report["twins"] == []
    assert set(report["outside"]) <= {"__main__"}, report["outside"]
