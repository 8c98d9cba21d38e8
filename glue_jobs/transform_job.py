"""The nightly transform job: one ``p_date`` of raw users -> the ``users`` model partition."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from contracts.tables import RAW, USERS
from glue_jobs.dates import parse_p_date, partition_predicate
from glue_jobs.runtime import JobRuntime
from glue_jobs.transforms import dedupe_latest_by_user, to_users

__all__ = ["TransformResult", "run_transform"]


@dataclass(frozen=True)
class TransformResult:
    p_date: str
    predicate: str
    rows_read: int
    rows_written: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_transform(runtime: JobRuntime, p_date: str, users_location: str,
                  salt: str) -> TransformResult:
    """Read only ``p_date``'s raw partition, dedupe, model, overwrite that partition."""
    day = parse_p_date(p_date)  # refuses bad text before any predicate exists
    predicate = partition_predicate([day])
    raw_df = runtime.read_partitions(RAW, predicate).cache()
    users_df = raw_df.transform(dedupe_latest_by_user).transform(to_users(salt)).cache()
    rows_read, rows_written = raw_df.count(), users_df.count()
    runtime.write_partition(users_df, USERS, users_location, day.isoformat())
    raw_df.unpersist()
    users_df.unpersist()
    return TransformResult(day.isoformat(), predicate, rows_read, rows_written)
