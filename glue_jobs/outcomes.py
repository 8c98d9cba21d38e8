"""The jobs' record of each day they were given: one ``run_outcomes`` object per day.

The transform and the bulk import call these once they know every day's result (a
backfill chunk's days, a nightly run's one, a failed day too), beside what they publish
(the transform's ``dq_results``): the record is what ``udp status`` and both reports
read (``contracts.run_outcomes``), so a day's outcome lives in the lake, not in what a
job run returns (Glue keeps no job result). The
transform also registers the table and each day's partition (it may change the
transform database's catalog; the load's role may not), so Athena finds the load's
records too: the load writes into a day the transform of the same run registered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from contracts.run_outcomes import LOAD, TRANSFORM, OutcomeStore, outcome_record
from contracts.tables import RUN_OUTCOMES
from glue_jobs.publish import ensure_partition, ensure_table, table_uri

__all__ = ["failure_recorded", "record_load_outcomes", "record_transform_outcomes"]

log = logging.getLogger(__name__)


@contextmanager
def failure_recorded(record: Callable[[dict[str, Any]], object],
                     failed: Callable[[Exception], dict[str, Any]],
                     p_date: object) -> Iterator[None]:
    """Let the block's failure be raised after ``record(failed(exc))`` has recorded it (a
    nightly job's day, a failure too). A record that cannot be written is a warning: the
    job's own failure is the one to report."""
    try:
        yield
    except Exception as exc:
        try:
            record(failed(exc))
        except Exception:
            log.warning("the outcome of %s could not be recorded", p_date, exc_info=True)
        raise


def record_transform_outcomes(s3: Any, catalog: Any, lake_uri: str, run_key: str,
                              days: Sequence[Mapping[str, Any]], *, started_at: datetime,
                              job_run_id: str | None = None) -> list[str]:
    """Write one record per day of ``days`` (``transform_chunk``'s results); returns
    the keys written. Every day shares the pass's start; each ends now."""
    store = OutcomeStore(s3, lake_uri)
    finished = datetime.now(UTC)
    records = [outcome_record(
        p_date=str(d["p_date"]), run_key=run_key, stage=TRANSFORM, status=str(d["status"]),
        started_at=started_at, finished_at=finished, stage_run_id=d.get("run_id"),
        job_run_id=job_run_id, error=d.get("error"), cause=d.get("cause"),
        rows_read=d.get("rows_read"), rows_written=d.get("rows_written"),
        dq_passed=d.get("dq_passed")) for d in days]
    ensure_table(catalog, RUN_OUTCOMES, table_uri(lake_uri, RUN_OUTCOMES))
    keys = []
    for record in records:
        ensure_partition(catalog, RUN_OUTCOMES, record["p_date"],
                         store.partition_uri(record["p_date"]))
        keys.append(store.write(record))
    return keys


def _merged(result: Mapping[str, Any]) -> int | None:
    if result.get("rows_inserted") is None and result.get("rows_updated") is None:
        return None
    return int(result.get("rows_inserted") or 0) + int(result.get("rows_updated") or 0)


def record_load_outcomes(s3: Any, lake_uri: str, run_key: str,
                         results: Sequence[Mapping[str, Any]], *,
                         started_at: datetime, job_run_id: str | None = None) -> list[str]:
    """Write one record per day of ``results`` (``load_dates``'s); returns the keys.
    A loaded day keeps its own transaction's times, a failed one the job's start."""
    store = OutcomeStore(s3, lake_uri)
    keys = []
    for r in results:
        keys.append(store.write(outcome_record(
            p_date=str(r["p_date"]), run_key=run_key, stage=LOAD, status=str(r["status"]),
            started_at=r.get("started_at") or started_at,
            finished_at=r.get("finished_at") or datetime.now(UTC),
            stage_run_id=r.get("load_id"), job_run_id=job_run_id, error=r.get("error"),
            cause=r.get("cause"), rows_read=r.get("rows_staged"),
            rows_written=_merged(r))))
    return keys
