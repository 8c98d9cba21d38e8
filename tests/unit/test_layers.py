"""The layers hold: the Glue wheel carries only the Glue layer, and `lint-imports` refuses
an import that breaks a layer."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# A twin class is a class of local_aws that is boto3-shaped (``@aws_shaped`` marks each
# boto3-named method with the operation it checks) or that the composition root,
# local_aws/cloud.py, instantiates; values (frozen dataclasses) and errors are not twins.
# A function builds twins when its body instantiates a twin class.


def _resolver(tree: ast.AST, module_globals: dict[str, Any]) -> Callable[[str], Any]:
    """What a name in ``tree`` stands for: its ``from X import Y`` (anywhere in the tree,
    as the lazy imports are), else the module's globals."""
    imported: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)

    def resolve(name: str) -> Any:
        if name in imported:
            module, attr = imported[name]
            return getattr(importlib.import_module(module), attr, None)
        return module_globals.get(name)

    return resolve


def _called(tree: ast.AST, resolve: Callable[[str], Any]) -> list[Any]:
    """The objects ``tree`` calls by a bare name."""
    return [obj for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and (obj := resolve(node.func.id)) is not None]


def _is_value(cls: type) -> bool:
    params = getattr(cls, "__dataclass_params__", None)
    return issubclass(cls, BaseException) or (
        dataclasses.is_dataclass(cls) and params is not None and params.frozen)


@functools.cache
def _cloud_built() -> frozenset[type]:
    """The local_aws classes that local_aws/cloud.py instantiates, values and errors aside."""
    import local_aws.cloud as cloud

    tree = ast.parse(inspect.getsource(cloud))
    return frozenset(obj for obj in _called(tree, _resolver(tree, vars(cloud)))
                     if inspect.isclass(obj) and obj.__module__.startswith("local_aws.")
                     and not _is_value(obj))


def _is_twin_class(obj: Any) -> bool:
    return (inspect.isclass(obj) and obj.__module__.startswith("local_aws.")
            and (any(hasattr(v, "__aws_operation__") for v in vars(obj).values())
                 or obj in _cloud_built()))


def _builds_twins(obj: Any) -> bool:
    """A twin class, or a function of local_aws whose body instantiates one."""
    if inspect.isclass(obj):
        return _is_twin_class(obj)
    if inspect.isfunction(obj) and obj.__module__.startswith("local_aws."):
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        return any(_is_twin_class(o) for o in _called(tree, _resolver(tree, obj.__globals__)))
    return False


def _twins_built_in(source: str) -> list[str]:
    """The calls in a bench script's ``source`` of a name from ``local_aws.facade`` that
    is a twin class or builds twins (``name`` or ``facade.name``), as ``line N: name``."""
    import local_aws.facade as facade

    tree = ast.parse(source)
    names: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "local_aws.facade":
            names.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module == "local_aws":
            modules.update(a.asname or a.name for a in node.names if a.name == "facade")
        elif isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names
                           if a.name == "local_aws.facade" and a.asname)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, name = node.func, None
        if isinstance(func, ast.Name) and func.id in names:
            name = names[func.id]
        elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
              and func.value.id in modules):
            name = func.attr
        if name is not None and _builds_twins(getattr(facade, name, None)):
            found.append(f"line {node.lineno}: {name}")
    return found


def test_the_twin_check_tells_twins_from_the_parts_a_bench_may_take() -> None:
    # GIVEN the twins a bench once constructed itself, and what it may take instead
    import local_aws.facade as facade
    from local_aws.firehose.delivery import LocalFirehose
    from local_aws.glue.catalog import LocalGlueCatalog
    from local_aws.glue.spark_runtime import LocalRuntime
    from local_aws.push.stack import start_push_stack
    from local_aws.redshift.postgres_adapter import PostgresWarehouse
    from local_aws.redshift.warehouse import LocalWarehouse
    from local_aws.s3.objectstore import LocalObjectStore

    # THEN the boto3-shaped ones and the engines LocalCloud builds are twin classes, a
    # function that makes them builds twins, and the root, Spark and the crawl do not
    for twin in (LocalFirehose, LocalGlueCatalog, LocalObjectStore, LocalRuntime,
                 LocalWarehouse, PostgresWarehouse, start_push_stack, facade.object_store):
        assert _builds_twins(twin), twin
    for part in ("LocalCloud", "local_spark", "crawl", "ApiOptions", "stream_copy"):
        assert not _builds_twins(getattr(facade, part)), part
    # AND a bench source that calls a twin-building name from the facade is caught
    assert _twins_built_in("from local_aws.facade import LocalCloud, glue_catalog\n"
                           "LocalCloud(p).catalog\nglue_catalog(p)\n") == ["line 3: glue_catalog"]
    assert _twins_built_in("from local_aws import facade as f\nf.object_store(p)\n") == [
        "line 2: object_store"]


def test_the_facade_lends_the_benchmarks_no_twin() -> None:
    # GIVEN the parts the facade lends the benchmarks by name
    import local_aws.facade as facade

    # THEN none is a twin class or a function that builds twins
    lent = [name for name in facade.BENCH_PARTS if _builds_twins(getattr(facade, name))]
    assert lent == []


def test_every_benchmark_takes_its_twins_from_a_local_cloud() -> None:
    # GIVEN every bench script
    scripts = sorted((REPO / "bench").glob("*.py"))
    assert len(scripts) > 5
    # THEN none constructs a twin from what the facade lends
    built = {p.name: calls for p in scripts if (calls := _twins_built_in(p.read_text()))}
    assert built == {}
