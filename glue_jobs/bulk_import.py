"""Bulk import job: load one transformed ``p_date`` partition into the warehouse.

Pure wiring around the :class:`~glue_jobs.warehouse_port.WarehousePort`: validate the
request, make sure the schema exists, run one atomic, audited load. The Glue entrypoint
(``glue_jobs/entrypoints/bulk_import.py``) and the local Glue jobs twin both call
:func:`main` with the job's arguments; only the clients they pass differ (the catalog, and
the warehouse adapter: Redshift on AWS, PostgreSQL locally).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from contracts.locations import partition_folder
from contracts.run_outcomes import LOAD, InvalidOutcome, outcome_key
from contracts.tables import USERS
from glue_jobs.chunk import InvalidChunkArguments, date_run_id, parse_p_dates
from glue_jobs.outcomes import failure_recorded, record_load_outcomes
from glue_jobs.redshift_warehouse import RedshiftSettings
from glue_jobs.warehouse_port import (
    InvalidLoadRequest,
    LoadResult,
    LoadSource,
    WarehousePort,
    validate_load_id,
    validate_p_date,
)

__all__ = [
    "JOB_OPTIONS",
    "RANGE_JOB_OPTIONS",
    "BulkImportOptions",
    "DatesNotLoaded",
    "check_manifest",
    "job_option_names",
    "load_dates",
    "main_dates",
    "new_load_id",
    "options_from_resolved",
    "partition_uri",
    "result_summary",
    "run_bulk_import",
]

JOB_OPTIONS = ["p_date", "table_uri", "secret_id", "iam_role_arn"]
"""Glue job arguments (``--p_date`` …) the entrypoint resolves; ``--replace`` and
``--run_key`` (the nightly execution's name: the day's ``run_outcomes`` record is
written under it) are optional."""
RANGE_JOB_OPTIONS = ["p_dates", "run_key", "table_uri", "secret_id", "iam_role_arn"]
"""A backfill chunk's arguments (``--p_dates '["D1", ...]' --run_key K``; ``--replace``
optional): each date in its own audited transaction, see :func:`load_dates`."""


def job_option_names(argv: Sequence[str]) -> list[str]:
    """Names to pass ``getResolvedOptions`` for this ``argv``: a backfill chunk's
    (``--p_dates``) or one day's, and ``replace`` (and a day's ``run_key``) only when
    given (awsglue makes every name it is asked for required)."""
    if "--p_dates" in argv:
        return RANGE_JOB_OPTIONS + (["replace"] if "--replace" in argv else [])
    return JOB_OPTIONS + [name for name in ("replace", "run_key") if f"--{name}" in argv]


def new_load_id(p_date: str) -> str:
    """A fresh load id: the day plus 12 random hex digits (sortable, unique enough)."""
    return f"{validate_p_date(p_date)}-{uuid.uuid4().hex[:12]}"


def partition_uri(table_uri: str, p_date: str) -> str:
    """``s3://bucket/transform/users/`` + ``p_date=D/``."""
    validate_p_date(p_date)
    if not table_uri.startswith("s3://"):
        raise InvalidLoadRequest(f"table_uri must be an s3:// URI, got {table_uri!r}")
    return f"{table_uri.rstrip('/')}/{partition_folder(p_date)}"


def run_bulk_import(warehouse: WarehousePort, p_date: str, source: LoadSource, *,
                    load_id: str | None = None, replace: bool = False,
                    ensure_schema: bool = True) -> LoadResult:
    """Load the ``p_date`` partition at ``source`` into the warehouse, atomically.

    Parameters
    ----------
    warehouse:
        A :class:`WarehousePort` adapter (PostgreSQL locally, Redshift on AWS).
    p_date:
        The day, ``YYYY-MM-DD``; anything else is rejected before any SQL is built.
    source:
        The partition: an ``s3://…/p_date=D/`` prefix, a local folder, or its files.
    load_id:
        Id recorded in ``audit.load_log``; generated when omitted.
    replace:
        Delete the day's slice before merging (reload after a transform fix).
    ensure_schema:
        Create schemas/tables/views first if missing (idempotent).

    Raises
    ------
    InvalidLoadRequest
        Bad date, load id or source.
    WarehouseLoadError
        The load failed and was rolled back (``ConcurrentLoadError`` if refused).
    """
    validate_p_date(p_date)
    load_id = validate_load_id(load_id) if load_id is not None else new_load_id(p_date)
    if ensure_schema:
        warehouse.ensure_schema()
    return warehouse.load_partition(p_date, source, load_id, replace=replace)


@dataclass(frozen=True)
class BulkImportOptions:
    """Validated job arguments."""

    p_date: str
    source_uri: str
    redshift: RedshiftSettings
    replace: bool = False


def _flag(value: str | None) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no", ""):
        return False
    raise InvalidLoadRequest(f"--replace must be true or false, got {value!r}")


def _require(args: Mapping[str, str], names: Sequence[str]) -> None:
    missing = [name for name in names if not args.get(name)]
    if missing:
        raise InvalidLoadRequest(f"missing job argument(s): --{', --'.join(missing)}")


def options_from_resolved(args: Mapping[str, str]) -> BulkImportOptions:
    """Typed options from ``getResolvedOptions`` output (plus optional ``replace``)."""
    _require(args, JOB_OPTIONS)
    p_date = validate_p_date(args["p_date"])
    return BulkImportOptions(
        p_date=p_date,
        source_uri=partition_uri(args["table_uri"], p_date),
        redshift=RedshiftSettings(secret_id=args["secret_id"],
                                  iam_role_arn=args["iam_role_arn"]),
        replace=_flag(args.get("replace")),
    )


def published_source(catalog: Any, p_date: str) -> str:
    """Where day ``p_date`` of the users table is published: the catalog partition's
    location (the transform writes versioned folders and moves the pointer), never a
    path guessed from the table root."""
    from glue_jobs.publish import current_location

    location = current_location(catalog, USERS, validate_p_date(p_date))
    if location is None:
        raise InvalidLoadRequest(f"no published users partition for p_date {p_date} in the "
                                 "catalog: has the transform job run for that day?")
    return location


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _object_sizes(s3: Any, prefix_uri: str) -> dict[str, int]:
    """``s3://…`` URI -> size of every object under ``prefix_uri`` (all pages)."""
    bucket, prefix = _split_s3(prefix_uri)
    sizes: dict[str, int] = {}
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        sizes.update({f"s3://{bucket}/{o['Key']}": int(o["Size"])
                      for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return sizes
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def check_manifest(s3: Any, location: str) -> dict[str, int]:
    """Before the COPY: the published version at ``location`` has its COPY manifest, the
    manifest names only Parquet files of that version, and each exists with the size
    the manifest gives. Returns the entries (``url -> bytes``); raises
    :class:`InvalidLoadRequest` saying what is wrong."""
    from botocore.exceptions import ClientError

    from glue_jobs.publish import ManifestMismatch, manifest_entries, manifest_uri

    uri = manifest_uri(location)
    bucket, key = _split_s3(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        raise InvalidLoadRequest(f"no COPY manifest {uri} for the published version "
                                 f"{location}: rerun the transform for that day") from None
    try:
        entries = manifest_entries(body, location)
    except ManifestMismatch as exc:
        raise InvalidLoadRequest(str(exc)) from None
    sizes = _object_sizes(s3, location)
    for url, size in entries.items():
        if url not in sizes:
            raise InvalidLoadRequest(f"{uri} names {url}, which does not exist")
        if sizes[url] != size:
            raise InvalidLoadRequest(f"{uri} gives {url} {size} bytes; it has {sizes[url]}")
    return entries


def result_summary(result: LoadResult) -> dict[str, Any]:
    """JSON-ready summary of a load (for job logs and the state machine's output)."""
    out = asdict(result)
    for key in ("started_at", "finished_at"):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    return out


class BulkImportClients(Protocol):
    """What the load reaches the outside world through (built after the arguments are
    valid)."""

    def catalog(self) -> Any:
        """A Glue catalog client: where the day's published partition is."""

    def s3(self) -> Any:
        """An S3 client: the published version's COPY manifest and its files."""

    def warehouse(self, options: BulkImportOptions) -> WarehousePort:
        """The warehouse adapter for these options."""


def _lake_of(table_uri: str) -> str:
    """The lake bucket's URI: the ``run_outcomes`` records sit beside the table."""
    return "s3://" + table_uri.removeprefix("s3://").partition("/")[0]


def _loaded(p_date: str, result: LoadResult) -> dict[str, Any]:
    """One date's result after its load committed (:func:`load_dates`' shape)."""
    summary = result_summary(result)
    summary["load_status"] = summary.pop("status", None)
    return {**summary, "p_date": p_date, "status": "SUCCEEDED"}


def _not_loaded(p_date: str, exc: Exception) -> dict[str, Any]:
    return {"p_date": p_date, "status": "FAILED", "error": type(exc).__name__,
            "cause": str(exc)}


def main(args: Mapping[str, str], clients: BulkImportClients) -> dict[str, Any]:
    """The bulk import for ``getResolvedOptions``-style ``args`` (names without ``--``);
    returns the load's summary. One body for Glue and local. With ``--run_key`` (the
    nightly state machine's execution name) the day's outcome is recorded in
    ``run_outcomes`` under it, a failed load too, before the failure is raised."""
    options = options_from_resolved(args)
    run_key = args.get("run_key")
    if run_key:
        try:
            outcome_key(options.p_date, run_key, LOAD)
        except InvalidOutcome as exc:
            raise InvalidLoadRequest(str(exc)) from None
    started = datetime.now(UTC)
    s3 = clients.s3()

    def record(outcome: dict[str, Any]) -> None:
        if run_key:
            record_load_outcomes(s3, _lake_of(args["table_uri"]), run_key, [outcome],
                                 started_at=started, job_run_id=args.get("JOB_RUN_ID"))

    with failure_recorded(record, lambda exc: _not_loaded(options.p_date, exc),
                          options.p_date):
        source = published_source(clients.catalog(), options.p_date)
        check_manifest(s3, source)
        result = run_bulk_import(clients.warehouse(options), options.p_date, source,
                                 replace=options.replace)
    record(_loaded(options.p_date, result))
    return result_summary(result)


# ------------------------------------------------------------------ a backfill chunk


class DatesNotLoaded(RuntimeError):
    """Some dates of a chunk were not loaded (the others were, each committed on its own).

    The message names every such date and why, so the job run's ``ErrorMessage`` (what
    Step Functions shows as the chunk's cause) says which dates to look at; ``results``
    holds every date's outcome."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        failed = [r for r in results if r["status"] != "SUCCEEDED"]
        super().__init__(f"{len(failed)} of {len(results)} date(s) not loaded: " + "; ".join(
            f"{r['p_date']}: {r.get('cause') or r.get('error')}" for r in failed))
        self.results = results


def load_dates(warehouse: WarehousePort, catalog: Any, p_dates: list[str], run_key: str, *,
               replace: bool = False, s3: Any = None) -> list[dict[str, Any]]:
    """Load each date the transform published under ``run_key``, each in its own
    transaction (one ``audit.load_log`` row per date), in order; a date not published by
    this chunk's transform (a DQ breach, a transform failure), whose COPY manifest does
    not match it (:func:`check_manifest`, with ``s3``) or whose load fails is reported
    and the next one loaded anyway.

    Returns one dict per date: ``p_date``, ``status`` and the load's summary
    (:func:`result_summary`) or ``error`` + ``cause``.
    """
    warehouse.ensure_schema()
    out: list[dict[str, Any]] = []
    for p_date in p_dates:
        expected = date_run_id(run_key, p_date)
        try:
            source = published_source(catalog, p_date)
            if f"/{expected}/" not in source:
                raise InvalidLoadRequest(
                    f"the transform of run {run_key} did not publish {p_date} (published: "
                    f"{source}); see its data-quality results")
            if s3 is not None:
                check_manifest(s3, source)
            result = run_bulk_import(warehouse, p_date, source, replace=replace,
                                     ensure_schema=False)
        except Exception as exc:  # the next date is loaded anyway
            out.append(_not_loaded(p_date, exc))
            continue
        out.append(_loaded(p_date, result))
    return out


def main_dates(args: Mapping[str, str], clients: BulkImportClients) -> dict[str, Any]:
    """The bulk import of a backfill chunk; raises :class:`DatesNotLoaded` (the job run
    fails, naming the dates) when any date was not loaded, after loading all the others."""
    _require(args, RANGE_JOB_OPTIONS)
    try:
        days = [d.isoformat() for d in parse_p_dates(args["p_dates"])]
    except InvalidChunkArguments as exc:
        raise InvalidLoadRequest(str(exc)) from None
    partition_uri(args["table_uri"], days[0])  # the table root is an s3:// URI
    options = BulkImportOptions(
        p_date=days[0], source_uri=args["table_uri"],
        redshift=RedshiftSettings(secret_id=args["secret_id"], iam_role_arn=args["iam_role_arn"]),
        replace=_flag(args.get("replace")))
    started = datetime.now(UTC)
    s3 = clients.s3()
    results = load_dates(clients.warehouse(options), clients.catalog(), days, args["run_key"],
                         replace=options.replace, s3=s3)
    record_load_outcomes(s3, _lake_of(args["table_uri"]), args["run_key"], results,
                         started_at=started, job_run_id=args.get("JOB_RUN_ID"))
    if any(r["status"] != "SUCCEEDED" for r in results):
        raise DatesNotLoaded(results)
    return {"run_key": args["run_key"], "days": results,
            "rows_staged": sum(int(r.get("rows_staged") or 0) for r in results)}
