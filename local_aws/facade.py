"""What code outside ``local_aws`` may reach of the local twins: this module, and nothing else.

The CLI (and anything else that drives the local stack) imports only this module;
import-linter holds them to it. :class:`local_aws.cloud.LocalCloud` wires every twin
under one state folder; the functions here build it, or open one twin's state
read-only for the commands that need no running stack (``udp status``, ``describe``,
the report). Heavy twins are imported on first call, so a read-only command pays only
for what it reads.

The benchmarks (``bench/``) come through here too, and take every twin from a
``LocalCloud``, as the CLI does: a whole one, or one over a lake the bench lays out itself
(``LocalCloud(folder, deploy=False)``) whose accessors give the one engine it times (a
crawl, a transform, a COPY, the push path). What else a bench needs it takes by name from
:data:`BENCH_PARTS`, imported on first use like the rest. import-linter holds ``bench/`` to
this module as it holds the CLI, and tests/unit/test_layers.py holds the benches to taking
their twins from a ``LocalCloud``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from local_aws.paths import DEFAULT_STATE_DIR, LocalPaths
from local_aws.processes import clean_up, running_push_server, running_services
from local_aws.push.endpoint import API_KEY_FILE
from local_aws.runlog import bind, install, run_log_path
from local_aws.stepfunctions.history import HistoryStore

BENCH_PARTS: dict[str, str] = {
    "LocalCloud": "local_aws.cloud",
    "DayPlan": "local_aws.scheduler.ingest",
    "ApiOptions": "local_aws.user_api.server",
    "MAX_RESULTS": "local_aws.user_api.server",
    "generate_page": "local_aws.user_api.server",
    "generate_user": "local_aws.user_api.server",
    "crawl": "local_aws.glue.crawl",
    "ensure_databases": "local_aws.glue.crawl",
    "local_spark": "local_aws.glue.spark_session",
    "stop_spark": "local_aws.glue.spark_session",
    "POSTGRES_SESSION": "local_aws.redshift.postgres_adapter",
    "copy_chunks": "local_aws.redshift.postgres_adapter",
    "record_batches": "local_aws.redshift.postgres_adapter",
    "stream_copy": "local_aws.redshift.postgres_adapter",
    "kinesis_event": "local_aws.push.stack",
    "rest_proxy_event": "local_aws.push.stack",
}
"""What a benchmark may take from here by name -> the module that defines it.

The composition root itself (``LocalCloud``), and what is not a twin: plain values
(``DayPlan``, ``ApiOptions``, ``MAX_RESULTS``, ``POSTGRES_SESSION``), the user-API twin's
generator (``generate_page``, ``generate_user``: a bench makes its input with it), the
engine functions a bench times or compares on twins it got from a ``LocalCloud``
(``crawl`` and ``ensure_databases`` on its catalog and object store; ``stream_copy``,
``copy_chunks`` and ``record_batches``, the COPY strategies ``bench/load.py`` sets against
the bulk import), the bare Spark session a bench times the transform on and stops
(``local_spark``, ``stop_spark``: no event log, one JVM across lakes), and the event
builders for calling the push handlers directly (``kinesis_event``, ``rest_proxy_event``).
Never a twin class or a function that builds twins: a bench takes those from a
``LocalCloud`` (tests/unit/test_layers.py fails otherwise)."""


def __getattr__(name: str) -> Any:
    """A :data:`BENCH_PARTS` name, imported from its module on first use."""
    if name in BENCH_PARTS:
        import importlib

        return getattr(importlib.import_module(BENCH_PARTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_KEY_FILE",
    "BENCH_PARTS",
    "DEFAULT_STATE_DIR",
    "HistoryStore",
    "LocalPaths",
    "TwinQueryError",
    "api_options",
    "athena_query",
    "bind",
    "clean_up",
    "date_leases",
    "day_plan",
    "erasure_errors",
    "erasure_line",
    "glue_catalog",
    "glue_service_info",
    "glue_service_wanted",
    "ingest_users",
    "install",
    "java_missing",
    "local_cloud",
    "object_store",
    "open_psql",
    "replay_pages",
    "run_backfill",
    "run_log_path",
    "running_push_server",
    "running_services",
    "simulate_days",
    "stop_glue_service",
    "warehouse_sql",
]


class TwinQueryError(ValueError):
    """A query the Athena or Redshift twin refused; its message is the engine's, one line."""


def local_cloud(state_dir: Path, **options: Any) -> Any:
    """The :class:`~local_aws.cloud.LocalCloud` of ``state_dir``: every twin, wired."""
    from local_aws.cloud import LocalCloud

    return LocalCloud(state_dir, **options)


def glue_service_wanted(*, no_warm: bool = False) -> bool:
    """Whether a command's Glue jobs run in the warm local Glue service
    (``local_aws.glue.warm``): not with ``--no-warm`` or ``UDP_GLUE_SERVICE=off``.
    ValueError (one line) if its idle timeout setting is not a number of minutes."""
    from local_aws.glue.warm import idle_timeout_s, warm_wanted

    wanted = warm_wanted(no_warm)
    if wanted:
        idle_timeout_s()
    return wanted


def glue_service_info(state_dir: Path) -> Any:
    """The warm local Glue service running for ``state_dir``
    (``local_aws.glue.warm.ServiceInfo``: pid, uptime, memory, idle time), or None."""
    from local_aws.glue.warm import service_info

    return service_info(Path(state_dir))


def stop_glue_service(state_dir: Path) -> int | None:
    """Stop the warm local Glue service of ``state_dir`` (after a run in progress); its
    pid, or None when none ran."""
    from local_aws.glue.warm import stop_service

    return stop_service(Path(state_dir))


def java_missing() -> str | None:
    """Why Spark cannot start here (the Java to install), or None when it can."""
    from local_aws.glue.java import JavaMissing, use_java

    try:
        use_java()
    except JavaMissing as exc:
        return str(exc)
    return None


def api_options(spec: str) -> Any:
    """The user-data API twin's options from ``malformed=0.1,...`` (ValueError if bad)."""
    from local_aws.user_api.server import ApiOptions

    return ApiOptions.parse(spec)


def day_plan(day: date, invocations: int, pages: int, page_size: int) -> Any:
    """One day of the ingest schedule (ValueError if the numbers cannot make one)."""
    from local_aws.scheduler.ingest import DayPlan

    return DayPlan(day, invocations, pages, page_size)


def simulate_days(*args: Any, **kwargs: Any) -> Any:
    """:func:`local_aws.scheduler.ingest.simulate_days`."""
    from local_aws.scheduler.ingest import simulate_days as simulate

    return simulate(*args, **kwargs)


def ingest_users(*args: Any, **kwargs: Any) -> Any:
    """:func:`local_aws.scheduler.ingest.ingest_users`."""
    from local_aws.scheduler.ingest import ingest_users as ingest

    return ingest(*args, **kwargs)


def replay_pages(*args: Any, **kwargs: Any) -> Any:
    """:func:`local_aws.scheduler.ingest.replay_pages`."""
    from local_aws.scheduler.ingest import replay_pages as replay

    return replay(*args, **kwargs)


def run_backfill(*args: Any, **kwargs: Any) -> Any:
    """:func:`local_aws.backfill_runner.run_backfill`."""
    from local_aws.backfill_runner import run_backfill as run

    return run(*args, **kwargs)


def athena_query(cloud: Any, sql: str) -> Any:
    """Run ``sql`` on the Athena twin of ``cloud``; :class:`TwinQueryError` if refused."""
    from local_aws.athena.engine import QueryError

    try:
        return cloud.athena().query(sql)
    except QueryError as exc:
        raise TwinQueryError(str(exc)) from None


def warehouse_sql(state_dir: Path, statement: str) -> Any:
    """Run one statement on the Redshift twin; :class:`TwinQueryError` if refused."""
    from local_aws.redshift.warehouse import WarehouseQueryError, run_warehouse_sql

    try:
        return run_warehouse_sql(state_dir, statement)
    except WarehouseQueryError as exc:
        raise TwinQueryError(str(exc)) from None


def open_psql(state_dir: Path, args: Sequence[str] = ()) -> int:
    """An interactive psql on the Redshift twin; its exit status."""
    from local_aws.redshift.warehouse import open_psql as psql

    return psql(state_dir, args)


def glue_catalog(state_dir: Path) -> Any:
    """The Glue catalog twin of ``state_dir``."""
    from local_aws.glue.catalog import LocalGlueCatalog

    return LocalGlueCatalog(LocalPaths(state_dir).catalog)


def object_store(state_dir: Path) -> Any:
    """The S3 twin's object store of ``state_dir``."""
    from local_aws.s3.objectstore import LocalObjectStore

    return LocalObjectStore(LocalPaths(state_dir).s3)


def date_leases(state_dir: Path, lease_table: str) -> Any:
    """The DynamoDB twin's table of date leases (one run per date)."""
    from local_aws.dynamodb.table import LocalDynamoDb

    return LocalDynamoDb(Path(state_dir) / "dynamodb", {lease_table: "p_date"})


def erasure_line(state_dir: Path) -> str | None:
    """``udp status``'s one line on the erasure register, or None when it is empty."""
    from local_aws.erasure import erasure_line as line

    return line(state_dir)


def erasure_errors() -> tuple[type[Exception], type[Exception]]:
    """``(PushServerRunning, UnknownErasure)``: the refusals of ``udp erase``, to catch."""
    from local_aws.erasure import PushServerRunning, UnknownErasure

    return PushServerRunning, UnknownErasure
