"""The report's input: plain, typed data with no I/O behind it.

Everything the HTML shows is computed from a :class:`Report`; adapters (the local state
folder today, Step Functions + Athena on AWS) only have to fill these dataclasses in.
Timestamps are timezone-aware ``datetime``; ``p_date`` is ISO text (``YYYY-MM-DD``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["DayTrend", "DqResult", "Funnel", "Report", "RunSummary", "Stage"]


@dataclass(frozen=True)
class Stage:
    """One step of a run as the timeline draws it (a state of the state machine)."""

    name: str
    start: datetime
    end: datetime | None
    status: str
    """``SUCCEEDED``, ``FAILED``, ``CAUGHT`` (failed, handled by a Catch) or ``RUNNING``."""
    retries: int = 0
    errors: tuple[str, ...] = ()

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Funnel:
    """Where one day's records went, stage by stage."""

    p_date: str
    fetched: int | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    """Quarantined records by reason code (``bad_type``, ``missing``, ...)."""
    raw_rows: int | None = None
    users: int | None = None
    loaded: int | None = None

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def quarantine_rate(self) -> float | None:
        """Share of fetched records quarantined (``None`` when nothing was fetched)."""
        if not self.fetched:
            return None
        return self.quarantined_total / self.fetched


@dataclass(frozen=True)
class DqResult:
    """One data-quality rule's verdict (a ``dq_results`` row)."""

    table: str
    rule: str
    rule_type: str
    passed: bool
    observed: float | None
    allowed: str
    message: str = ""


@dataclass(frozen=True)
class RunSummary:
    """One execution of the nightly state machine for one ``p_date``."""

    run_id: str
    p_date: str
    status: str
    start: datetime
    end: datetime | None
    stages: tuple[Stage, ...] = ()
    failed_state: str | None = None
    error: str | None = None
    cause: str | None = None
    funnel: Funnel | None = None
    dq: tuple[DqResult, ...] = ()
    load_seconds: float | None = None
    """Wall-clock seconds of the bulk import: its stage's (the audit row's times without one)."""

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()

    @property
    def retries(self) -> int:
        return sum(s.retries for s in self.stages)

    @property
    def anchor(self) -> str:
        """The in-page id of this run's section."""
        return "run-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in self.run_id)


@dataclass(frozen=True)
class DayTrend:
    """One day of the trend lines (the day's last run)."""

    p_date: str
    users: int | None = None
    quarantine_rate: float | None = None
    run_seconds: float | None = None
    load_seconds: float | None = None


@dataclass(frozen=True)
class Report:
    """Everything one report shows.

    ``runs`` are the runs the report is about (one run, every run of one date, or every
    run of a range), oldest first. ``calendar`` maps each date of a range to the status of
    its latest run (``MISSING`` when it has none); it is empty for a one-run report.
    ``trend`` is the last N days up to the report's last date, oldest first.
    """

    title: str
    generated_at: datetime
    runs: tuple[RunSummary, ...]
    trend: tuple[DayTrend, ...] = ()
    calendar: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    def latest_run(self, p_date: str) -> RunSummary | None:
        """The last-started run of ``p_date`` among :attr:`runs`."""
        same = [r for r in self.runs if r.p_date == p_date]
        return max(same, key=lambda r: (r.start, r.run_id)) if same else None
