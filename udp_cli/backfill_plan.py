"""``udp backfill --dry-run``: what a backfill would do to each date, without doing it.

The same resume rule as the run itself (``local_aws.backfill_runner.pending_dates``): a
date whose last run SUCCEEDED is skipped unless ``--force``; ``--replace`` reruns every
date as a reload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["PlannedDate", "plan_backfill"]

RUN, SKIP, RERUN, REPLACE = "run", "skip", "rerun", "replace"


@dataclass(frozen=True)
class PlannedDate:
    p_date: str
    action: str
    """``run`` (never succeeded), ``skip`` (already succeeded), ``rerun`` (succeeded,
    ``--force``: merged again) or ``replace`` (reloaded: the day's rows deleted first)."""
    last_status: str | None = None
    last_run_id: str | None = None

    def row(self) -> tuple[str, str, str, str]:
        return (self.p_date, self.action, self.last_status or "", self.last_run_id or "")


def plan_backfill(dates: Iterable[str], history: Any, *, force: bool = False,
                  replace: bool = False, name: str | None = None) -> list[PlannedDate]:
    """One :class:`PlannedDate` per date, in order, from the run ``history`` (anything with
    ``last_run(p_date, name=...)`` returning a ``RunRecord``-like record: ``status_of`` /
    ``run_id``). A date's status is its own result, as the resume rule reads it: inside a
    backfill chunk that succeeded, a date whose DQ gate failed is FAILED, so it would run."""
    plan = []
    for p_date in dates:
        last = history.last_run(p_date, name=name)
        status = None if last is None else last.status_of(p_date)
        run_id = getattr(last, "run_id", None)
        if replace:
            action = REPLACE
        elif status == "SUCCEEDED":
            action = RERUN if force else SKIP
        else:
            action = RUN
        plan.append(PlannedDate(p_date, action, status, run_id))
    return plan
