"""Backfill planning: which dates, how many at once, what each one reports. Pure.

One per-date unit of work (``state_machine.asl.json`` for one ``p_date``), run two ways:

* ``backfill.asl.json`` on AWS: a Map state (``MaxConcurrency`` ≤ the Glue jobs'
  ``MaxConcurrentRuns``) whose iterations start the single-date state machine with
  ``states:startExecution.sync:2`` and catch its failure into a per-date result.
* ``local_aws.backfill_runner.run_backfill`` locally (``udp backfill``): resume, bounded
  concurrency, a progress callback, one :class:`DateResult` per date.

Both refuse the same ranges and concurrencies, checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts import dates
from contracts.pipeline import PipelineConfig

__all__ = [
    "BACKFILL_DEFINITION",
    "DEFAULT_MAX_CONCURRENT_RUNS",
    "MAX_RANGE_DAYS",
    "START_EXECUTION_SYNC",
    "BackfillError",
    "DateRangeError",
    "DateResult",
    "ProgressCallback",
    "check_concurrency",
    "check_dates",
]

BACKFILL_DEFINITION = Path(__file__).with_name("backfill.asl.json")
START_EXECUTION_SYNC = "arn:aws:states:::states:startExecution.sync:2"
DEFAULT_MAX_CONCURRENT_RUNS = PipelineConfig().max_concurrent_runs
"""Glue ``ExecutionProperty.MaxConcurrentRuns`` of the transform and load jobs."""
MAX_RANGE_DAYS = dates.MAX_RANGE_DAYS


DateRangeError = dates.InvalidDate
"""A malformed date or an unacceptable range (one error type for every date check)."""


class BackfillError(ValueError):
    """Backfill arguments that cannot be honoured (e.g. concurrency above the Glue limit)."""


@dataclass(frozen=True)
class DateResult:
    """Outcome of one date: ``SUCCEEDED``, ``FAILED`` or ``SKIPPED`` (already succeeded)."""

    p_date: str
    status: str
    run_id: str | None = None
    failed_state: str | None = None
    error: str | None = None
    cause: str | None = None
    seconds: float = 0.0


ProgressCallback = Callable[[DateResult, int, int], None]


def check_concurrency(concurrency: int, max_concurrent_runs: int) -> int:
    """``concurrency`` if 1 ≤ it ≤ ``max_concurrent_runs``; :class:`BackfillError` otherwise.

    Call it before starting anything (e.g. before a progress bar) so a bad
    ``--concurrency`` is a one-line refusal.
    """
    if max_concurrent_runs < 1:
        raise BackfillError(f"max_concurrent_runs must be >= 1, got {max_concurrent_runs}")
    if not 1 <= concurrency <= max_concurrent_runs:
        raise BackfillError(
            f"concurrency must be between 1 and the Glue jobs' MaxConcurrentRuns "
            f"({max_concurrent_runs}), got {concurrency}"
        )
    return concurrency


def check_dates(p_dates: list[str]) -> list[str]:
    """Each date valid and listed once, as canonical text; :class:`DateRangeError` otherwise."""
    checked = [dates.check_p_date(d) for d in p_dates]
    duplicates = sorted({d for d in checked if checked.count(d) > 1})
    if duplicates:
        raise DateRangeError(f"date(s) listed twice: {', '.join(duplicates)}")
    return checked


