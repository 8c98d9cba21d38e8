"""The nightly transform job: one ``p_date`` of raw users -> the analyst model.

For each day: read only that day's raw partition (push-down predicate), deduplicate,
model ``users``, ``user_locations`` and ``daily_user_counts``, run the data-quality
gate, and only then publish each table's partition atomically (``glue_jobs.publish``).
The same code runs on Glue (``GlueRuntime``) and locally (``LocalRuntime``): both call
:func:`main` with the job's arguments and their clients, the Glue entrypoint
(``glue_jobs/entrypoints/transform_users.py``) and the local Glue jobs twin alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from pyspark.sql import DataFrame

from contracts.dates import date_range, parse_p_date, partition_predicate
from contracts.tables import (
    DAILY_USER_COUNTS,
    DQ_RESULTS,
    MODEL_TABLES,
    RAW,
    USER_LOCATIONS,
    USERS,
)
from glue_jobs.chunk import InvalidChunkArguments, date_run_id, parse_p_dates
from glue_jobs.data_quality import (
    DQBreach,
    RowCountNearTrailing,
    RuleResult,
    Ruleset,
    default_rulesets,
    evaluate_together,
    results_frame,
    trailing_row_counts,
)
from glue_jobs.publish import (
    ensure_partition,
    ensure_table,
    new_run_id,
    plain_partition_uri,
    point_partition,
    run_folder_of,
    stale_versions,
    table_uri,
    validate_run_id,
    version_uri,
    versions_root,
)
from glue_jobs.runtime_port import JobRuntime
from glue_jobs.secrets import get_secret_value
from glue_jobs.transforms import conform_to, to_daily_user_counts, to_latest_model

__all__ = [
    "BASE_OPTIONS",
    "InvalidJobArguments",
    "TablePublication",
    "TransformClients",
    "TransformOptions",
    "TransformResult",
    "TransformSettings",
    "date_run_id",
    "files_for",
    "job_option_names",
    "main",
    "main_dates",
    "options_from_args",
    "parse_p_dates",
    "run_transform",
    "run_transform_dates",
    "run_transform_days",
]

BASE_OPTIONS = ("JOB_NAME", "lake_uri", "salt_secret_id")
"""Glue job arguments every run needs; dates come as ``--p_date`` or ``--start_date`` +
``--end_date`` (a range that stops at the first failure), or ``--p_dates`` + ``--run_key``
(a backfill chunk: every date on its own, see :func:`run_transform_dates`). The salt
itself is never an argument, only its secret's id."""


class InvalidJobArguments(ValueError):
    """Job arguments that do not describe a run (message says which)."""


# ------------------------------------------------------------------ options


def job_option_names(argv: Sequence[str]) -> list[str]:
    """Names to pass ``getResolvedOptions`` for this ``argv`` (it rejects absent ones).

    Never Glue's reserved ids (``JOB_ID``, ``JOB_RUN_ID``, ``SECURITY_CONFIGURATION``):
    awsglue declares those itself and asking for one again is an argparse conflict that
    kills the job at start-up. They come back in the resolved options all the same."""
    names = list(BASE_OPTIONS)
    if "--p_dates" in argv:
        return [*names, "p_dates", "run_key"]
    names += ["p_date"] if "--p_date" in argv else ["start_date", "end_date"]
    return names


@dataclass(frozen=True)
class TransformOptions:
    """Validated job arguments."""

    days: tuple[date, ...]
    lake_uri: str
    salt_secret_id: str
    run_id: str | None = None
    run_key: str | None = None
    """Set for a backfill chunk (``--p_dates``): each date is transformed on its own."""


def options_from_args(args: Mapping[str, str]) -> TransformOptions:
    """Typed options from ``getResolvedOptions`` output; dates validated here, before any
    Spark, catalog or predicate work starts."""
    given = [k for k in ("p_date", "start_date", "p_dates") if args.get(k)]
    if len(given) > 1:
        raise InvalidJobArguments("give one of --p_date, --start_date/--end_date, --p_dates")
    days: tuple[date, ...]
    run_key = None
    if args.get("p_dates"):
        try:
            days = parse_p_dates(args["p_dates"])
        except InvalidChunkArguments as exc:
            raise InvalidJobArguments(str(exc)) from None
        if not args.get("run_key"):
            raise InvalidJobArguments("--p_dates needs --run_key (the chunk's run id)")
        run_key = validate_run_id(args["run_key"])
    elif args.get("p_date"):
        days = (parse_p_date(args["p_date"]),)
    elif args.get("start_date") and args.get("end_date"):
        days = tuple(date_range(args["start_date"], args["end_date"]))
    else:
        raise InvalidJobArguments("missing --p_date (or --start_date and --end_date)")
    lake_uri = args.get("lake_uri", "")
    if not lake_uri.startswith(("s3://", "file://")):
        raise InvalidJobArguments(f"--lake_uri must be an s3:// URI, got {lake_uri!r}")
    if not args.get("salt_secret_id"):
        raise InvalidJobArguments("missing --salt_secret_id")
    run_id = args.get("JOB_RUN_ID")
    return TransformOptions(days, lake_uri, args["salt_secret_id"],
                            validate_run_id(run_id) if run_id else None, run_key)


# ------------------------------------------------------------------ the job


@dataclass(frozen=True)
class TransformSettings:
    """How the job runs (one object, built by the entrypoint or the local stack)."""

    lake_uri: str
    salt: str = field(repr=False)
    rows_per_file: int = 500_000
    max_files: int = 64
    trailing: RowCountNearTrailing = field(default_factory=RowCountNearTrailing)
    keep_previous_version: bool = True


@dataclass(frozen=True)
class TablePublication:
    table: str
    location: str
    previous_location: str | None
    rows: int
    files: int


@dataclass(frozen=True)
class TransformResult:
    p_date: str
    predicate: str
    run_id: str
    rows_read: int
    rows_written: int
    tables: dict[str, TablePublication]
    dq: list[RuleResult]
    removed_versions: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the job's output and run report)."""
        out = asdict(self)
        out["dq_passed"] = all(r.passed for r in self.dq)
        return out


def files_for(rows: int, rows_per_file: int, max_files: int) -> int:
    """Parquet files for a partition of ``rows`` rows: 1 for small days, then one per
    ``rows_per_file`` rows, at most ``max_files``."""
    return max(1, min(max_files, math.ceil(rows / max(1, rows_per_file))))


def _trailing_days(day: date, n: int) -> list[date]:
    return [day - timedelta(days=i) for i in range(n, 0, -1)]


def _evaluate_all(runtime: JobRuntime, day: date,
                  groups: Sequence[tuple[DataFrame, Sequence[Ruleset]]]
                  ) -> list[RuleResult]:
    """Each group's rulesets in one aggregation over the group's frame (tables that are
    projections of the same rows share one pass)."""
    results: list[RuleResult] = []
    for frame, rulesets in groups:
        history: dict[str, list[int]] = {}
        for ruleset in rulesets:
            trailing = ruleset.trailing
            if trailing is not None:
                window = partition_predicate(_trailing_days(day, trailing.days))
                history[ruleset.table.name] = trailing_row_counts(
                    runtime.read_partitions(DQ_RESULTS, window), ruleset.table.name)
        results += evaluate_together(frame, rulesets, history)
    return results


def _dq_groups(frames: Mapping[str, DataFrame], shared: DataFrame, shared_tables: set[str],
               rulesets: Sequence[Ruleset]) -> list[tuple[DataFrame, Sequence[Ruleset]]]:
    """Rulesets of ``shared_tables`` together over ``shared``; any other ruleset alone
    over its own frame. Results keep ``rulesets`` order within each group."""
    together = [r for r in rulesets if r.table.name in shared_tables]
    groups: list[tuple[DataFrame, Sequence[Ruleset]]] = [(shared, together)] if together else []
    groups += [(frames[r.table.name], [r]) for r in rulesets
               if r.table.name not in shared_tables]
    return groups


def _record_dq(runtime: JobRuntime, settings: TransformSettings, day: str, run_id: str,
               results: Sequence[RuleResult], status: str) -> None:
    frame = results_frame(runtime.spark, results, run_id, status, datetime.now(UTC))
    location = plain_partition_uri(settings.lake_uri, DQ_RESULTS, day)
    runtime.write_parquet(frame, location, 1, append=True)
    ensure_partition(runtime.catalog, DQ_RESULTS, day, location)


def run_transform(runtime: JobRuntime, p_date: str | date, settings: TransformSettings, *,
                  run_id: str | None = None,
                  rulesets: Sequence[Ruleset] | None = None) -> TransformResult:
    """Transform, check and publish one day; raise :class:`DQBreach` (nothing published)
    when a rule fails.

    Steps: read only ``p_date``'s raw partition -> dedupe -> model (cached once) -> DQ
    gate -> write each table to a new version folder -> point each catalog partition at
    it -> record DQ results -> delete older versions.
    """
    day = p_date if isinstance(p_date, date) else parse_p_date(p_date)  # before any predicate
    d = day.isoformat()
    run_id = validate_run_id(run_id) if run_id else new_run_id()
    rulesets = default_rulesets(settings.trailing) if rulesets is None else rulesets
    spark, catalog = runtime.spark, runtime.catalog
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    for contract in (*MODEL_TABLES, DQ_RESULTS):
        ensure_table(catalog, contract, table_uri(settings.lake_uri, contract))

    predicate = partition_predicate([day])
    raw_df = runtime.read_partitions(RAW, predicate)
    model_df = raw_df.transform(to_latest_model(settings.salt)).cache()
    users_df = model_df.transform(conform_to(USERS))
    daily_df = users_df.transform(to_daily_user_counts).cache()
    frames: dict[str, DataFrame] = {
        USERS.name: users_df,
        USER_LOCATIONS.name: model_df.transform(conform_to(USER_LOCATIONS)),
        DAILY_USER_COUNTS.name: daily_df,
    }
    # users and user_locations are projections of the same cached rows: one DQ pass
    per_user = model_df.transform(conform_to(USERS, USER_LOCATIONS))
    groups = _dq_groups(frames, per_user, {USERS.name, USER_LOCATIONS.name}, rulesets)
    try:
        results = _evaluate_all(runtime, day, groups)
        failed = [r for r in results if not r.passed]
        if failed:
            _record_dq(runtime, settings, d, run_id, results, "breach")
            raise DQBreach(failed, results)
        rows = {name: next(int(r.observed or 0) for r in results
                           if r.table_name == name and r.rule_type == "RowCountAtLeast")
                for name in frames}
        rows_read = raw_df.count()
        staged: dict[str, tuple[str, int]] = {}
        for contract in MODEL_TABLES:  # 1) write every table's new version (nobody reads it)
            location = version_uri(settings.lake_uri, contract, d, run_id)
            files = files_for(rows[contract.name], settings.rows_per_file, settings.max_files)
            runtime.write_parquet(frames[contract.name], location, files)
            staged[contract.name] = (location, files)
    finally:
        model_df.unpersist()
        daily_df.unpersist()
    tables: dict[str, TablePublication] = {}
    for contract in MODEL_TABLES:  # 2) the publish instants: one catalog call per table
        location, files = staged[contract.name]
        params = {"recordCount": str(rows[contract.name]), "objectCount": str(files),
                  "udp_run_id": run_id}
        previous = point_partition(catalog, contract, d, location, params)
        tables[contract.name] = TablePublication(contract.name, location, previous,
                                                 rows[contract.name], files)
    _record_dq(runtime, settings, d, run_id, results, "published")  # 3) history for tomorrow
    removed = _clean_up(runtime, settings, d, run_id, tables)  # 4) old versions
    return TransformResult(d, predicate, run_id, rows_read, rows[USERS.name], tables, results,
                           removed)


def _clean_up(runtime: JobRuntime, settings: TransformSettings, day: str, run_id: str,
              tables: Mapping[str, TablePublication]) -> list[str]:
    removed: list[str] = []
    for contract in MODEL_TABLES:
        root = versions_root(settings.lake_uri, contract, day)
        keep = {run_id}
        if settings.keep_previous_version:  # readers that resolved it a moment ago
            keep.add(run_folder_of(tables[contract.name].previous_location, root) or run_id)
        for folder in stale_versions(runtime.list_folders(root), keep):
            runtime.delete_folder(f"{root}{folder}/")
            removed.append(f"{root}{folder}/")
    return removed


def run_transform_days(runtime: JobRuntime, days: Sequence[date], settings: TransformSettings,
                       *, run_id: str | None = None) -> list[TransformResult]:
    """Run :func:`run_transform` for each day in order (each day publishes on its own, so
    a later day's trailing average sees the earlier ones)."""
    base = run_id or new_run_id()
    return [run_transform(runtime, day, settings,
                          run_id=base if len(days) == 1 else f"{base}-{day:%Y%m%d}")
            for day in days]


def run_transform_dates(runtime: JobRuntime, days: Sequence[date], settings: TransformSettings,
                        *, run_key: str,
                        rulesets: Sequence[Ruleset] | None = None) -> list[dict[str, Any]]:
    """A backfill chunk: :func:`run_transform` for each day in order, each under
    :func:`date_run_id`, a failed day (a DQ breach, or any error) recorded and the next
    one run anyway. Publication is per day and atomic, so a breach on one day leaves
    the others published; the bulk import then loads exactly the days published by
    this ``run_key`` and reports the rest.

    Returns one JSON-ready dict per day: ``p_date``, ``status`` (``SUCCEEDED`` or
    ``FAILED``), ``run_id``, ``rows_read``, ``rows_written``, ``dq_passed``, ``dq`` and,
    for a failure, ``error`` and ``cause``.
    """
    out: list[dict[str, Any]] = []
    for day in days:
        run_id = date_run_id(run_key, day)
        try:
            result = run_transform(runtime, day, settings, run_id=run_id, rulesets=rulesets)
        except DQBreach as exc:
            out.append({"p_date": day.isoformat(), "status": "FAILED", "run_id": run_id,
                        "error": "DQBreach", "cause": str(exc), "dq_passed": False,
                        "dq": [asdict(r) for r in exc.results]})
            continue
        except Exception as exc:  # one broken day must not cost the chunk's others
            out.append({"p_date": day.isoformat(), "status": "FAILED", "run_id": run_id,
                        "error": type(exc).__name__, "cause": str(exc)})
            continue
        summary = result.as_dict()
        summary.update(status="SUCCEEDED")
        out.append(summary)
    return out


# ------------------------------------------------------------------ the entrypoint's body


class TransformClients(Protocol):
    """What the job reaches the outside world through. Built only when asked, after the
    arguments are valid: a bad date never starts Spark (or Glue's context)."""

    def runtime(self) -> JobRuntime:
        """Spark + the Glue catalog (``GlueRuntime`` on Glue, ``LocalRuntime`` locally)."""

    def secrets(self) -> Any:
        """A Secrets Manager client (``get_secret_value(SecretId=...)``)."""


def main(args: Mapping[str, str], clients: TransformClients) -> list[TransformResult]:
    """The transform job for ``getResolvedOptions``-style ``args`` (names without ``--``):
    validate, read the salt's secret, then run each day. One body for Glue and local.
    (A backfill chunk, ``--p_dates``, is :func:`main_dates`.)"""
    options = options_from_args(args)  # dates are validated before anything starts
    if options.run_key is not None:
        raise InvalidJobArguments("--p_dates runs through main_dates")
    runtime = clients.runtime()
    salt = get_secret_value(options.salt_secret_id, clients.secrets())
    return run_transform_days(runtime, options.days, TransformSettings(options.lake_uri, salt),
                              run_id=options.run_id)


def main_dates(args: Mapping[str, str], clients: TransformClients) -> dict[str, Any]:
    """A backfill chunk (``--p_dates`` + ``--run_key``): every date on its own; returns
    ``{"run_key", "days": [one dict per date], "rows_read", "rows_written"}``. The job run
    succeeds even when a date failed: the bulk import of the chunk reports that date."""
    options = options_from_args(args)
    if options.run_key is None:
        raise InvalidJobArguments("main_dates needs --p_dates and --run_key")
    runtime = clients.runtime()
    salt = get_secret_value(options.salt_secret_id, clients.secrets())
    days = run_transform_dates(runtime, options.days, TransformSettings(options.lake_uri, salt),
                               run_key=options.run_key)
    return {"run_key": options.run_key, "days": days,
            "rows_read": sum(int(d.get("rows_read") or 0) for d in days),
            "rows_written": sum(int(d.get("rows_written") or 0) for d in days)}
