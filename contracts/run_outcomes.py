"""Each day's outcome of a job run, kept in the lake, and the per-date rows made from it.

The transform and the bulk import each write, for every day they were given, one small
Parquet object of the ``run_outcomes`` table (:data:`contracts.tables.RUN_OUTCOMES`):
status, error name and cause, row counts, times. A backfill chunk's jobs write under
the chunk's run key, a nightly run's under the execution's name. Its key is the run key,
the stage and the day::

    s3://<lake>/transform/run_outcomes/p_date=D/<run key>.<stage>.parquet

so a retry or a redrive of the same run rewrites the same object and never adds a
second row, and a ``PutObject`` is all-or-nothing: no reader sees half an object.

:func:`date_rows` turns those records, with what the execution itself says (its status,
failed state, error and cause, for days no job got to), into one row per day: the rows
``udp status``, ``udp status RUN``, the run report and the AWS report show. Read them
with :class:`OutcomeStore` through any boto3-shaped S3 client: the local S3 twin, or
boto3's on AWS.

No pyarrow at import time (the ingest Lambda image has none); the codec imports it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from contracts.erasure_store import read_body
from contracts.locations import partition_folder, table_uri
from contracts.tables import PARTITION_KEY, RUN_OUTCOMES

__all__ = ["LOAD", "STAGES", "TRANSFORM", "InvalidOutcome", "OutcomeStore", "date_rows",
           "decode", "encode", "outcome_key", "outcome_record"]

TRANSFORM, LOAD = "transform", "load"
STAGES = (TRANSFORM, LOAD)
STAGE_STATES = {TRANSFORM: "RunTransformJob", LOAD: "RunBulkImport"}
"""The state that runs each stage, in the nightly and the backfill chunk definitions
(``orchestration/state_machine.asl.json``, ``orchestration/backfill.asl.json``)."""
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MAX = {f.name: f.max_len for f in RUN_OUTCOMES.fields if f.max_len}


class InvalidOutcome(ValueError):
    """A record the ``run_outcomes`` contract does not allow (message says why)."""


def _safe(name: str, value: str) -> str:
    if not isinstance(value, str) or not _SAFE.fullmatch(value) or ".." in value:
        raise InvalidOutcome(f"invalid {name} {value!r}: use letters, digits, '_', '-', '.'")
    return value


def outcome_key(p_date: str, run_key: str, stage: str) -> str:
    """The object key of one record, under the lake bucket."""
    if stage not in STAGES:
        raise InvalidOutcome(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    return (f"{RUN_OUTCOMES.prefix}/{partition_folder(p_date)}"
            f"{_safe('run key', run_key)}.{stage}.parquet")


def _short(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def outcome_record(*, p_date: str, run_key: str, stage: str, status: str,
                   finished_at: datetime, started_at: datetime | None = None,
                   stage_run_id: str | None = None, job_run_id: str | None = None,
                   error: str | None = None, cause: str | None = None,
                   rows_read: int | None = None, rows_written: int | None = None,
                   dq_passed: bool | None = None) -> dict[str, Any]:
    """One ``run_outcomes`` row (``p_date`` included), text cut to the contract's limits."""
    outcome_key(p_date, run_key, stage)  # names checked before anything is written
    if status not in ("SUCCEEDED", "FAILED"):
        raise InvalidOutcome(f"status must be SUCCEEDED or FAILED, got {status!r}")
    began, ended = _when(started_at), _when(finished_at)
    return {
        "run_key": run_key, "stage": stage, "status": status,
        "stage_run_id": _short(stage_run_id, _MAX["stage_run_id"]),
        "job_run_id": _short(job_run_id, _MAX["job_run_id"]),
        "error": _short(error, _MAX["error"]), "cause": _short(cause, _MAX["cause"]),
        "rows_read": _count(rows_read), "rows_written": _count(rows_written),
        "dq_passed": dq_passed, "started_at": began, "finished_at": ended,
        "seconds": (round((ended - began).total_seconds(), 3)
                    if began is not None and ended is not None else None),
        PARTITION_KEY: p_date,
    }


def encode(record: Mapping[str, Any]) -> bytes:
    """One record as a Parquet file of the contract's columns (``p_date`` is the folder)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = RUN_OUTCOMES.arrow_schema()
    table = pa.Table.from_pylist([{k: record.get(k) for k in schema.names}], schema=schema)
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def decode(body: bytes, p_date: str) -> list[dict[str, Any]]:
    """The rows of one record file, each with its ``p_date``."""
    import pyarrow.parquet as pq

    return [{**row, PARTITION_KEY: p_date} for row in pq.read_table(io.BytesIO(body)).to_pylist()]


class OutcomeStore:
    """The ``run_outcomes`` records of the lake at ``lake_uri``, through an S3 client."""

    def __init__(self, s3: Any, lake_uri: str) -> None:
        bucket, _, _ = lake_uri.removeprefix("s3://").partition("/")
        self.s3, self.bucket, self.lake_uri = s3, bucket, lake_uri

    def partition_uri(self, p_date: str) -> str:
        """The folder of one day's records (its catalog partition's location)."""
        return table_uri(self.lake_uri, RUN_OUTCOMES) + partition_folder(p_date)

    def write(self, record: Mapping[str, Any]) -> str:
        """Put one record (replacing the same run key, stage and day); returns its key."""
        key = outcome_key(str(record[PARTITION_KEY]), str(record["run_key"]),
                          str(record["stage"]))
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=encode(record))
        return key

    def read(self, run_key: str, dates: Iterable[str]) -> list[dict[str, Any]]:
        """Every record of ``run_key`` for ``dates`` (a stage that wrote none is absent)."""
        out: list[dict[str, Any]] = []
        for p_date in dates:
            for stage in STAGES:
                try:
                    answer = self.s3.get_object(Bucket=self.bucket,
                                                Key=outcome_key(p_date, run_key, stage))
                except Exception as exc:  # botocore ClientError, not imported here
                    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                    if code in ("NoSuchKey", "404"):
                        continue
                    raise
                out.extend(decode(read_body(answer["Body"]), p_date))
        return out

    __call__ = read


# ------------------------------------------------------------------ the per-date rows

_TRANSFORM_VIEW = {"stage_run_id": "run_id", "job_run_id": "job_run_id", "status": "status",
                   "rows_read": "rows_read", "rows_written": "rows_written",
                   "dq_passed": "dq_passed", "error": "error", "cause": "cause",
                   "started_at": "started_at", "finished_at": "finished_at",
                   "seconds": "seconds"}
_LOAD_VIEW = {**_TRANSFORM_VIEW, "stage_run_id": "load_id", "rows_read": "rows_staged",
              "rows_written": "rows_merged"}
_LOAD_VIEW.pop("dq_passed")


def _view(record: Mapping[str, Any] | None, names: Mapping[str, str]) -> dict[str, Any]:
    """A record as the row's ``transform``/``load`` part, in the names the report reads
    (``run_id`` finds a transform's ``dq_results`` rows, ``rows_staged`` is the load's)."""
    if not record:
        return {}
    out = {}
    for column, name in names.items():
        value = record.get(column)
        if value is None:
            continue
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def date_rows(dates: Sequence[str], run_key: str, records: Iterable[Mapping[str, Any]], *,
              status: str, failed_state: str | None = None, error: str | None = None,
              cause: str | None = None, seconds: float = 0.0) -> list[dict[str, Any]]:
    """One JSON-ready row per day of run ``run_key`` (a backfill chunk, or a nightly
    execution and its one day), in ``dates`` order.

    ``records`` are the run's ``run_outcomes`` rows (:meth:`OutcomeStore.read`); the
    keyword arguments are the execution's own facts: its status (``SUCCEEDED``,
    ``FAILED``, ``RUNNING``, ...), the state it failed in, its error and cause, and its
    seconds. A day SUCCEEDED when its load did. Otherwise it FAILED in the first stage
    whose record says so (``RunTransformJob``: a DQ breach, ``RunBulkImport``); a day no
    stage failed takes the execution's status and, failed, the execution's failure (a
    lease, a crawl, a job that died before writing).
    """
    mine: dict[tuple[str, str], Mapping[str, Any]] = {}
    for record in records:
        if record.get("run_key") == run_key:
            mine[(str(record[PARTITION_KEY]), str(record["stage"]))] = record
    label = f"{dates[0]}..{dates[-1]}" if dates else ""
    rows = []
    for p_date in dates:
        t, ld = mine.get((p_date, TRANSFORM)), mine.get((p_date, LOAD))
        transform, load = _view(t, _TRANSFORM_VIEW), _view(ld, _LOAD_VIEW)
        row: dict[str, Any] = {"p_date": p_date, "chunk": label, "seconds": round(seconds, 3),
                               "users": transform.get("rows_written"),
                               "loaded": load.get("rows_staged"),
                               "dq_passed": transform.get("dq_passed"),
                               "transform": transform, "load": load}
        failed = next(((stage, r) for stage, r in ((TRANSFORM, t), (LOAD, ld))
                       if r is not None and r.get("status") == "FAILED"), None)
        if ld is not None and ld.get("status") == "SUCCEEDED":
            row.update(status="SUCCEEDED")
        elif failed is not None:
            stage, record = failed
            row.update(status="FAILED", failed_state=STAGE_STATES[stage],
                       error=record.get("error"), cause=record.get("cause"))
        elif status in ("SUCCEEDED", "RUNNING"):
            row.update(status=status)
        else:
            row.update(status="FAILED" if status == "FAILED" else status,
                       failed_state=failed_state or "chunk",
                       error=error or "Backfill.ChunkFailed",
                       cause=cause or "the chunk stopped before this date was loaded")
        rows.append(row)
    return rows
