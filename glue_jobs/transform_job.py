"""The transform job: raw users of one ``p_date`` (or of a backfill chunk's dates) -> the
analyst model.

Read only the day's raw partition (push-down predicate), deduplicate, model ``users``,
``user_locations`` and ``daily_user_counts``, run the data-quality gate, and only then
publish each table's partition atomically (``glue_jobs.publish``). A backfill chunk
does the same for all its dates in one Spark pass (:func:`transform_days_in_one_pass`), each date
still checked and published on its own.
The same code runs on Glue (``GlueRuntime``) and locally (``LocalRuntime``): both call
:func:`main` with the job's arguments and their clients, the Glue entrypoint
(``glue_jobs/entrypoints/transform_users.py``) and the local Glue jobs twin alike.
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts.dates import date_range, parse_p_date, partition_predicate
from contracts.erasure import ErasureRegister, hash_prefix
from contracts.erasure_store import S3RegisterStore, register_uri
from contracts.locations import partition_folder
from contracts.tables import (
    DAILY_USER_COUNTS,
    DQ_RESULTS,
    MODEL_TABLES,
    PARTITION_KEY,
    RAW,
    USER_LOCATIONS,
    USERS,
)
from glue_jobs.catalog_api import list_partitions
from glue_jobs.chunk import InvalidChunkArguments, date_run_id, parse_p_dates
from glue_jobs.data_quality import (
    DQBreach,
    RowCountNearTrailing,
    RuleResult,
    Ruleset,
    default_rulesets,
    judge,
    measure_by,
    published_row_counts_of,
    results_frame_of,
)
from glue_jobs.outcomes import failure_recorded, record_transform_outcomes
from glue_jobs.publish import (
    copy_manifest,
    current_location,
    ensure_partition,
    ensure_table,
    manifest_uri,
    new_run_id,
    plain_partition_uri,
    point_partition,
    run_folder_of,
    staging_uri,
    stale_versions,
    table_uri,
    validate_run_id,
    version_uri,
    versions_root,
)
from glue_jobs.runtime_port import JobRuntime
from glue_jobs.secrets import get_secret_value
from glue_jobs.transforms import (
    conform_to,
    filter_erased,
    to_daily_user_counts,
    to_latest_model,
)

__all__ = [
    "BASE_OPTIONS",
    "JOB_SQL_CONF",
    "InvalidJobArguments",
    "PassIncomplete",
    "TablePublication",
    "TransformClients",
    "TransformOptions",
    "TransformResult",
    "TransformSettings",
    "VersionTaken",
    "files_for",
    "job_option_names",
    "load_erasures",
    "main",
    "main_dates",
    "options_from_args",
    "run_transform",
    "run_transform_day_by_day",
    "transform_chunk",
    "transform_days_in_one_pass",
]

log = logging.getLogger(__name__)

BASE_OPTIONS = ("JOB_NAME", "lake_uri", "salt_secret_id")
"""Glue job arguments every run needs; dates come as ``--p_date`` (with ``--run_key``
when the nightly state machine runs it: its execution name, the key the day's
``run_outcomes`` record is written under) or ``--start_date`` + ``--end_date`` (a range
that stops at the first failure), or ``--p_dates`` + ``--run_key`` (a backfill chunk:
every date on its own, see :func:`transform_chunk`). The salt itself is never an
argument, only its secret's id."""


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
    return names + (["run_key"] if "--run_key" in argv else [])


@dataclass(frozen=True)
class TransformOptions:
    """Validated job arguments."""

    days: tuple[date, ...]
    lake_uri: str
    salt_secret_id: str
    run_id: str | None = None
    run_key: str | None = None
    """The run whose ``run_outcomes`` records this job writes: a backfill chunk's
    (``--p_dates``) or a nightly execution's (``--p_date``); none for a run by hand."""
    chunk: bool = False
    """A backfill chunk (``--p_dates``, :func:`main_dates`): each date on its own."""


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
        run_key = validate_run_id(args["run_key"]) if args.get("run_key") else None
    elif args.get("start_date") and args.get("end_date"):
        days = tuple(date_range(args["start_date"], args["end_date"]))
        if args.get("run_key"):
            raise InvalidJobArguments("--run_key goes with --p_date or --p_dates, "
                                      "not with a range")
    else:
        raise InvalidJobArguments("missing --p_date (or --start_date and --end_date)")
    lake_uri = args.get("lake_uri", "")
    if not lake_uri.startswith(("s3://", "file://")):
        raise InvalidJobArguments(f"--lake_uri must be an s3:// URI, got {lake_uri!r}")
    if not args.get("salt_secret_id"):
        raise InvalidJobArguments("missing --salt_secret_id")
    run_id = args.get("JOB_RUN_ID")
    return TransformOptions(days, lake_uri, args["salt_secret_id"],
                            validate_run_id(run_id) if run_id else None, run_key,
                            chunk=bool(args.get("p_dates")))


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
    erasures: ErasureRegister | None = field(default=None, repr=False)
    """The erasure register: its users' raw rows are dropped before anything is built,
    so no rerun or backfill rebuilds an erased user from raw."""


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


DQGroups = Sequence[tuple[DataFrame, Sequence[Ruleset]]]


def _dq_groups(frames: Mapping[str, DataFrame], shared: DataFrame, shared_tables: set[str],
               rulesets: Sequence[Ruleset]) -> list[tuple[DataFrame, Sequence[Ruleset]]]:
    """Rulesets of ``shared_tables`` together over ``shared``; any other ruleset alone
    over its own frame. Results keep ``rulesets`` order within each group."""
    together = [r for r in rulesets if r.table.name in shared_tables]
    groups: list[tuple[DataFrame, Sequence[Ruleset]]] = [(shared, together)] if together else []
    groups += [(frames[r.table.name], [r]) for r in rulesets
               if r.table.name not in shared_tables]
    return groups


def _published_history(runtime: JobRuntime, days: Sequence[date], groups: DQGroups
                       ) -> dict[str, dict[str, int]]:
    """Published row counts per day of every table with a trailing rule, over the
    trailing windows of all ``days``, read from ``dq_results`` in one scan; no Spark job
    when the catalog has no ``dq_results`` partition in the window (a first run)."""
    trailing = {rs.table.name: rs.trailing.days for _, rulesets in groups for rs in rulesets
                if rs.trailing is not None}
    if not trailing:
        return {}
    first = min(days) - timedelta(days=max(trailing.values()))
    window = partition_predicate(
        [first + timedelta(days=i) for i in range((max(days) - first).days)])
    if not list_partitions(runtime.catalog, DQ_RESULTS.database, DQ_RESULTS.name, window):
        return {name: {} for name in trailing}
    return published_row_counts_of(runtime.read_partitions(DQ_RESULTS, window), list(trailing))


def _rows_read(raw_df: DataFrame) -> dict[str, int]:
    """Raw rows read per day."""
    return {str(r[PARTITION_KEY]): int(r["count"])
            for r in raw_df.groupBy(PARTITION_KEY).count().collect()}


def _row_count(results: Sequence[RuleResult], table: str) -> int | None:
    return next((int(r.observed or 0) for r in results
                 if r.table_name == table and r.rule_type == "RowCountAtLeast"), None)


class _ContextPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitting thread's context: what
    the job's pool threads log carries the run's log context (run id, day), as what the
    job's own thread logs does."""

    def submit[**P, T](self, fn: Callable[P, T], /, *args: P.args,
                       **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()

        def in_context() -> T:
            return context.run(fn, *args, **kwargs)
        return super().submit(in_context)


def _evaluate_days(runtime: JobRuntime, days: Sequence[date], groups: DQGroups,
                   pool: Executor) -> dict[str, list[RuleResult]]:
    """Every day's verdicts: each group's rulesets measured for all days in one
    aggregation grouped by day, then judged day by day in date order. A day that passes
    joins the trailing history of the days after it, as if it had been published
    before they ran (a day that fails does not, as a failed day publishes nothing).

    The aggregations and the history read are independent Spark jobs: submitted to
    ``pool`` together, one's planning and code generation overlap the others' tasks."""
    only = days[0].isoformat() if len(days) == 1 else None
    measuring = [pool.submit(measure_by, frame, rulesets, PARTITION_KEY, only=only)
                 for frame, rulesets in groups]
    history = pool.submit(_published_history, runtime, days, groups).result()
    measured = [m.result() for m in measuring]
    out: dict[str, list[RuleResult]] = {}
    for day in days:
        d = day.isoformat()
        results: list[RuleResult] = []
        for (_, rulesets), got in zip(groups, measured, strict=True):
            trailing = {rs.table.name: [history[rs.table.name][w.isoformat()]
                                        for w in _trailing_days(day, rs.trailing.days)
                                        if w.isoformat() in history[rs.table.name]]
                        for rs in rulesets if rs.trailing is not None}
            results += judge(rulesets, got.get(d), trailing)
        out[d] = results
        if all(r.passed for r in results):
            for name, counts in history.items():
                rows = _row_count(results, name)
                if rows is not None:
                    counts[d] = rows
    return out


def _placed_by_day(raw_df: DataFrame, days: int) -> DataFrame:
    """With at least as many days as the cluster has slots, each day in one partition
    from the start: the dedupe (by day and user), the DQ aggregations (by day) and the
    one-file-per-day writes then find the rows already placed and shuffle nothing more.
    With fewer days (a nightly run, a short chunk on a big cluster) the rows stay spread
    by user, so every slot works on a big day."""
    slots = raw_df.sparkSession.sparkContext.defaultParallelism
    return raw_df.repartition(slots, PARTITION_KEY) if days >= slots > 0 else raw_df


def _spread(df: DataFrame, files: Mapping[str, int]) -> DataFrame:
    """``df`` (several days) shuffled so a partitioned write makes ``files[day]`` files
    of each day (fewer if hash buckets collide): by day alone when every day needs one
    file, else by day and a hash bucket of the first column.

    By day alone, every row of a day lands in one task, which writes the day as one
    file however many days share the task: so no more tasks than the cluster runs at
    once (a 7-day pass of small days: 2.9 s instead of 3.5 s, best of 5 interleaved)."""
    total = sum(files.values())
    if all(n == 1 for n in files.values()):
        slots = df.sparkSession.sparkContext.defaultParallelism
        return df.repartition(max(1, min(total, slots)), PARTITION_KEY)
    count: Column = F.lit(1)
    for day, n in files.items():
        if n > 1:
            count = F.when(F.col(PARTITION_KEY) == day, F.lit(n)).otherwise(count)
    bucket = F.pmod(F.xxhash64(F.col(df.columns[0])), count)
    return df.repartition(total, F.col(PARTITION_KEY), bucket)


def _write_days(runtime: JobRuntime, frame: DataFrame, targets: Mapping[str, tuple[str, int]],
                staging: str, *, append: bool = False) -> None:
    """Write ``frame``'s rows of each day in ``targets`` (``day -> (folder, files)``) into
    that day's folder. One day: one plain write. Several: one partitioned write into
    ``staging``, then each day's files moved into its folder (a rename, no rewrite).
    With ``append`` the folders may hold files already (``dq_results``)."""
    if len(targets) == 1:
        (day, (location, files)), = targets.items()
        runtime.write_parquet(frame.filter(F.col(PARTITION_KEY) == day).drop(PARTITION_KEY),
                              location, files, append=append)
        return
    runtime.write_partitioned(_spread(frame, {d: n for d, (_, n) in targets.items()}),
                              staging)
    try:
        for day, (location, _) in targets.items():
            runtime.move_files(f"{staging}{partition_folder(day)}", location)
    finally:
        runtime.delete_folder(staging)


class VersionTaken(RuntimeError):
    """A day's version folder for this run id is already published: the run id was used
    before (a Step Functions redrive keeps the execution name a chunk's run key is built
    from). Writing into it would add this run's files to what readers read."""


def _claim_versions(runtime: JobRuntime, settings: TransformSettings, days: Sequence[str],
                    ids: Mapping[str, str]) -> None:
    """Make sure every version folder this run is about to fill is new: one left by an
    earlier attempt under the same run id is deleted if no catalog partition points at
    it (an orphan nobody reads), and is refused if one does (:class:`VersionTaken`).
    The multi-day write moves files into these folders, which, unlike a plain write,
    would not fail on a folder already there."""
    taken: list[str] = []
    for d in days:
        for contract in MODEL_TABLES:
            root = versions_root(settings.lake_uri, contract, d)
            if ids[d] not in runtime.list_folders(root):
                continue
            location = version_uri(settings.lake_uri, contract, d, ids[d])
            if current_location(runtime.catalog, contract, d) == location:
                taken.append(f"{contract.name} {d}")
            else:
                runtime.delete_folder(f"{root}{ids[d]}/")
    if taken:
        raise VersionTaken(f"already published under the same run id: {', '.join(taken)}; "
                           "a rerun needs a new run id")


def _discard_unpublished(runtime: JobRuntime,
                        staged: Mapping[str, Mapping[str, tuple[str, int]]]) -> None:
    """Delete every version folder this pass staged. None of them is published:
    :func:`_claim_versions` refused the pass before any write had one been, and this
    pass publishes only after all its writes."""
    for targets in staged.values():
        for location, _ in targets.values():
            runtime.delete_folder(location)


def _record_dq(runtime: JobRuntime, settings: TransformSettings, pass_id: str,
               runs: Sequence[tuple[str, str, str, Sequence[RuleResult]]]) -> None:
    """Append each day's ``(p_date, run_id, status, results)`` to ``dq_results`` and
    register the day's partition if new: one write for all days."""
    if not runs:
        return
    frame = results_frame_of(runtime.spark, runs, datetime.now(UTC))
    targets = {d: (plain_partition_uri(settings.lake_uri, DQ_RESULTS, d), 1)
               for d, *_ in runs}
    _write_days(runtime, frame, targets, staging_uri(settings.lake_uri, DQ_RESULTS, pass_id),
                append=True)
    for d, (location, _) in targets.items():
        ensure_partition(runtime.catalog, DQ_RESULTS, d, location)


JOB_SQL_CONF = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # the dedupe's row_number() = 1 without Spark's partial WindowGroupLimit: that adds a
    # map-side sort before the shuffle which drops only the duplicates sharing a map
    # partition (a few percent of rows), so nearly all of its sorting is extra work (1M
    # users: 1.0 s less wall time, 3 s less CPU)
    "spark.sql.optimizer.windowGroupLimitThreshold": "-1",
    # the model is cached once and scanned five times within seconds: building
    # compressed column buffers costs more than it saves (~15% of the model's CPU)
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}
"""Session settings the job sets at its start, on Glue as locally: each a runtime SQL
setting of the Spark Glue 6.0 runs (a test holds them to PySpark 4.1.1's own list)."""


def transform_days_in_one_pass(runtime: JobRuntime, days: Sequence[date],
                               settings: TransformSettings, run_ids: Mapping[date, str], *,
                               rulesets: Sequence[Ruleset] | None = None
                               ) -> list[TransformResult | DQBreach]:
    """Transform, check and publish ``days`` in one pass; one outcome per day, in order:
    its :class:`TransformResult`, or the :class:`DQBreach` that kept it unpublished.

    Steps: read the days' raw partitions at once (push-down predicate) -> dedupe per day
    and user -> model (cached once) -> DQ gate (one aggregation per rule group, grouped
    by day; trailing history read once) -> write each table's passing days once, each
    day into its own new version folder -> point each day's catalog partitions at them
    (day ``D`` under ``run_ids[D]``) -> record every day's DQ results -> delete older
    versions. Each day is still published on its own and atomically: a failing day
    leaves its partitions as they were and costs the others nothing.

    The Spark work is a fixed number of jobs whatever the number of days: a year of small
    days pays Spark's per-job overhead once per chunk, not ~10 times a day.
    """
    if not days or len(set(days)) != len(days):
        raise InvalidJobArguments("transform_days_in_one_pass needs distinct dates")
    days = sorted(days)
    rulesets = default_rulesets(settings.trailing) if rulesets is None else rulesets
    ids = {day.isoformat(): validate_run_id(run_ids[day]) for day in days}
    pass_id = ids[days[0].isoformat()] if len(days) == 1 else new_run_id()
    spark, catalog = runtime.spark, runtime.catalog
    for setting, value in JOB_SQL_CONF.items():
        spark.conf.set(setting, value)
    for contract in (*MODEL_TABLES, DQ_RESULTS):
        ensure_table(catalog, contract, table_uri(settings.lake_uri, contract))

    predicate = partition_predicate(list(days))
    key = (PARTITION_KEY,)
    raw_df = runtime.read_partitions(RAW, predicate)
    if settings.erasures is not None:
        raw_df = raw_df.transform(filter_erased(settings.erasures.hashes,
                                                hash_prefix(settings.erasures.salt)))
    raw_df = _placed_by_day(raw_df, len(days))
    model_df = raw_df.transform(to_latest_model(settings.salt, by=key)).cache()
    users_df = model_df.transform(conform_to(USERS, keep=key))
    daily_df = users_df.transform(to_daily_user_counts, by=key).cache()
    frames: dict[str, DataFrame] = {
        USERS.name: users_df,
        USER_LOCATIONS.name: model_df.transform(conform_to(USER_LOCATIONS, keep=key)),
        DAILY_USER_COUNTS.name: daily_df,
    }
    # users and user_locations are projections of the same cached rows: one DQ pass
    per_user = model_df.transform(conform_to(USERS, USER_LOCATIONS, keep=key))
    groups = _dq_groups(frames, per_user, {USERS.name, USER_LOCATIONS.name}, rulesets)
    try:
        # the raw rows per day (for the result) are counted beside the DQ gate's jobs
        with _ContextPool(len(groups) + 2) as pool:
            counting = pool.submit(_rows_read, raw_df)
            # the caches complete before the gate plans on them: planned on a cache still
            # being built, the per-user aggregation cannot see that the rows are already
            # hash-partitioned by user and shuffles every user's partial measures again
            daily_df.count()
            verdicts = _evaluate_days(runtime, days, groups, pool)
            passed = [d for d, results in verdicts.items() if all(r.passed for r in results)]
            rows_read = counting.result() if passed else {}
        rows = {d: {name: _row_count(verdicts[d], name) or 0 for name in frames}
                for d in passed}
        staged: dict[str, dict[str, tuple[str, int]]] = {}
        if passed:
            _claim_versions(runtime, settings, passed, ids)
            for contract in MODEL_TABLES:
                staged[contract.name] = {
                    d: (version_uri(settings.lake_uri, contract, d, ids[d]),
                        files_for(rows[d][contract.name], settings.rows_per_file,
                                  settings.max_files)) for d in passed}
            # 1) every new version (nobody reads them yet); the tables at once: each
            # write is a Spark job over the cached model, and run side by side their
            # planning, commit and file listing overlap the others' tasks
            try:
                with _ContextPool(len(MODEL_TABLES)) as pool:
                    writes = [pool.submit(_write_days, runtime, frames[c.name],
                                          staged[c.name],
                                          staging_uri(settings.lake_uri, c, pass_id))
                              for c in MODEL_TABLES]
                    for write in writes:
                        write.result()
                for d in passed:  # the COPY manifest: exactly the files the load reads
                    location = staged[USERS.name][d][0]
                    runtime.write_text(manifest_uri(location),
                                       copy_manifest(location, runtime.list_files(location)))
            except Exception:
                # nothing is published yet: drop the versions this pass filled, or the
                # day-by-day retry under the same run ids finds their folders taken
                _discard_unpublished(runtime, staged)
                raise
    finally:
        model_df.unpersist()
        daily_df.unpersist()
    tables: dict[str, dict[str, TablePublication]] = {}
    try:  # from the first publish instant on, a failure must not retry the days alone
        for d in passed:  # 2) the publish instants: one catalog call per table and day
            published: dict[str, TablePublication] = {}
            for contract in MODEL_TABLES:
                location, files = staged[contract.name][d]
                params = {"recordCount": str(rows[d][contract.name]),
                          "objectCount": str(files), "udp_run_id": ids[d]}
                previous = point_partition(catalog, contract, d, location, params)
                published[contract.name] = TablePublication(
                    contract.name, location, previous, rows[d][contract.name], files)
            tables[d] = published
        _record_dq(runtime, settings, pass_id,  # 3) history for the days after
                   [(d, ids[d], "published" if d in tables else "breach", verdicts[d])
                    for d in verdicts])
        removed = {d: _clean_up(runtime, settings, d, ids[d], tables[d])  # 4) old versions
                   for d in tables}
    except Exception as exc:
        raise PassIncomplete(sorted(tables), exc) from exc
    outcomes: list[TransformResult | DQBreach] = []
    for d, results in verdicts.items():
        if d not in tables:
            outcomes.append(DQBreach([r for r in results if not r.passed], results))
            continue
        outcomes.append(TransformResult(d, partition_predicate([date.fromisoformat(d)]),
                                        ids[d], rows_read.get(d, 0), rows[d][USERS.name],
                                        tables[d], results, removed[d]))
    return outcomes


class PassIncomplete(RuntimeError):
    """A pass failed once publishing began, after it had published ``published`` (their
    catalog partitions point at this run's versions): publishing the other days,
    recording DQ results or removing old versions did not finish. Not retried day by
    day (the days' version folders exist); a rerun converges, as after any crash."""

    def __init__(self, published: Sequence[str], cause: Exception) -> None:
        days = ", ".join(published) or "no day"
        super().__init__(f"{days} published, then {type(cause).__name__}: {cause}")
        self.published = list(published)


def run_transform(runtime: JobRuntime, p_date: str | date, settings: TransformSettings, *,
                  run_id: str | None = None,
                  rulesets: Sequence[Ruleset] | None = None) -> TransformResult:
    """Transform, check and publish one day (:func:`transform_days_in_one_pass` of one day); raise
    :class:`DQBreach` (nothing published) when a rule fails."""
    day = p_date if isinstance(p_date, date) else parse_p_date(p_date)  # before any predicate
    run_id = validate_run_id(run_id) if run_id else new_run_id()
    outcome, = transform_days_in_one_pass(runtime, [day], settings, {day: run_id},
                                          rulesets=rulesets)
    if isinstance(outcome, DQBreach):
        raise outcome
    return outcome


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


def run_transform_day_by_day(runtime: JobRuntime, days: Sequence[date],
                             settings: TransformSettings, *,
                             run_id: str | None = None) -> list[TransformResult]:
    """Run :func:`run_transform` for each day in order, stopping at the first failure
    (``--start_date``/``--end_date``; a backfill chunk is :func:`transform_chunk`)."""
    base = run_id or new_run_id()
    return [run_transform(runtime, day, settings,
                          run_id=base if len(days) == 1 else f"{base}-{day:%Y%m%d}")
            for day in days]


def _failed(day: str, run_id: str, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, DQBreach):
        return {"p_date": day, "status": "FAILED", "run_id": run_id, "error": "DQBreach",
                "cause": str(exc), "dq_passed": False, "dq": [asdict(r) for r in exc.results]}
    return {"p_date": day, "status": "FAILED", "run_id": run_id,
            "error": type(exc).__name__, "cause": str(exc)}


def _succeeded(result: TransformResult) -> dict[str, Any]:
    summary = result.as_dict()
    summary.update(status="SUCCEEDED")
    return summary


def transform_chunk(runtime: JobRuntime, days: Sequence[date], settings: TransformSettings,
                    *, run_key: str,
                        rulesets: Sequence[Ruleset] | None = None) -> list[dict[str, Any]]:
    """A backfill chunk: every day published on its own under :func:`date_run_id`, a
    failed day recorded and the others published anyway; the bulk import then loads
    exactly the days published by this ``run_key`` and reports the rest.

    First one pass over all days (:func:`transform_days_in_one_pass`). Should that pass raise before
    it starts publishing (a corrupt file, a lost executor: anything but a DQ verdict,
    which it reports per day), the days run again one at a time, so one broken day costs
    only itself. Should it raise once publishing began (:class:`PassIncomplete`), every
    day is reported FAILED with that cause and nothing is retried here.

    Returns one JSON-ready dict per day, in ``days`` order: ``p_date``, ``status``
    (``SUCCEEDED`` or ``FAILED``), ``run_id``, ``rows_read``, ``rows_written``,
    ``dq_passed``, ``dq`` and, for a failure, ``error`` and ``cause``.
    """
    ids = {day: date_run_id(run_key, day) for day in days}
    try:
        outcomes = transform_days_in_one_pass(runtime, days, settings, ids, rulesets=rulesets)
    except PassIncomplete as exc:  # every day FAILED, the cause named; a rerun redoes them
        return [_failed(day.isoformat(), ids[day], exc) for day in days]
    except Exception:  # one broken day must not cost the chunk's others: one by one
        # said in the job's log: when every day then succeeds, nothing else would tell
        # that the pass failed (and the chunk paid for its days one at a time)
        log.warning("the pass over %d dates failed; running them one at a time",
                    len(days), exc_info=True)
        return [_run_one(runtime, day, settings, ids[day], rulesets) for day in days]
    by_day = dict(zip(sorted(days), outcomes, strict=True))
    return [_failed(day.isoformat(), ids[day], o) if isinstance(o, DQBreach)
            else _succeeded(o) for day, o in ((d, by_day[d]) for d in days)]


def _run_one(runtime: JobRuntime, day: date, settings: TransformSettings, run_id: str,
             rulesets: Sequence[Ruleset] | None) -> dict[str, Any]:
    try:
        return _succeeded(run_transform(runtime, day, settings, run_id=run_id,
                                        rulesets=rulesets))
    except Exception as exc:  # recorded for this day; the next one runs anyway
        return _failed(day.isoformat(), run_id, exc)


# ------------------------------------------------------------------ the entrypoint's body


class TransformClients(Protocol):
    """What the job reaches the outside world through. Built only when asked, after the
    arguments are valid: a bad date never starts Spark (or Glue's context)."""

    def runtime(self) -> JobRuntime:
        """Spark + the Glue catalog (``GlueRuntime`` on Glue, ``LocalRuntime`` locally)."""

    def secrets(self) -> Any:
        """A Secrets Manager client (``get_secret_value(SecretId=...)``)."""

    def s3(self) -> Any:
        """An S3 client: the job reads the erasure register with it."""


def load_erasures(options: TransformOptions, clients: TransformClients) -> ErasureRegister:
    """The erasure register next to the lake (``contracts.erasure_store``)."""
    return S3RegisterStore.at(clients.s3(), register_uri(options.lake_uri)).load()


def main(args: Mapping[str, str], clients: TransformClients) -> list[TransformResult]:
    """The transform job for ``getResolvedOptions``-style ``args`` (names without ``--``):
    validate, read the salt's secret, then run each day. One body for Glue and local.
    With ``--run_key`` (the nightly state machine's execution name) the day's outcome is
    recorded in ``run_outcomes`` under it, a failure too, before the failure is raised.
    (A backfill chunk, ``--p_dates``, is :func:`main_dates`.)"""
    options = options_from_args(args)  # dates are validated before anything starts
    if options.chunk:
        raise InvalidJobArguments("--p_dates runs through main_dates")
    runtime = clients.runtime()
    salt = get_secret_value(options.salt_secret_id, clients.secrets())
    settings = TransformSettings(options.lake_uri, salt,
                                 erasures=load_erasures(options, clients))
    if options.run_key is None:
        return run_transform_day_by_day(runtime, options.days, settings,
                                        run_id=options.run_id)
    (day,) = options.days
    run_id = options.run_id or new_run_id()
    started = datetime.now(UTC)

    def record(outcome: dict[str, Any]) -> None:
        record_transform_outcomes(clients.s3(), runtime.catalog, options.lake_uri,
                                  str(options.run_key), [outcome], started_at=started,
                                  job_run_id=args.get("JOB_RUN_ID"))

    with failure_recorded(record, lambda exc: _failed(day.isoformat(), run_id, exc), day):
        result = run_transform(runtime, day, settings, run_id=run_id)
    record(_succeeded(result))
    return [result]


def main_dates(args: Mapping[str, str], clients: TransformClients) -> dict[str, Any]:
    """A backfill chunk (``--p_dates`` + ``--run_key``): every date on its own; returns
    ``{"run_key", "days": [one dict per date], "rows_read", "rows_written"}``. The job run
    succeeds even when a date failed: the bulk import of the chunk reports that date."""
    options = options_from_args(args)
    if not options.chunk or options.run_key is None:
        raise InvalidJobArguments("main_dates needs --p_dates and --run_key")
    runtime = clients.runtime()
    salt = get_secret_value(options.salt_secret_id, clients.secrets())
    settings = TransformSettings(options.lake_uri, salt,
                                 erasures=load_erasures(options, clients))
    started = datetime.now(UTC)
    days = transform_chunk(runtime, options.days, settings, run_key=options.run_key)
    record_transform_outcomes(clients.s3(), runtime.catalog, options.lake_uri, options.run_key,
                              days, started_at=started, job_run_id=args.get("JOB_RUN_ID"))
    return {"run_key": options.run_key, "days": days,
            "rows_read": sum(int(d.get("rows_read") or 0) for d in days),
            "rows_written": sum(int(d.get("rows_written") or 0) for d in days)}
