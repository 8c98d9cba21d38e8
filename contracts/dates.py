"""Run dates (``p_date``), in one place: parsing, ranges, "the day before" and the
partition predicate built from them (never from raw text).

The CLI, the backfill planner, the schedules, the Glue jobs and the bulk import all
validate dates here, so they accept and refuse exactly the same text with one message.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from contracts.tables import PARTITION_KEY

__all__ = ["MAX_RANGE_DAYS", "InvalidDate", "check_p_date", "date_range", "p_date_range",
           "parse_p_date", "partition_predicate", "previous_day"]

MAX_RANGE_DAYS = 366


class InvalidDate(ValueError):
    """A run date that is not a real calendar date in YYYY-MM-DD form."""


def parse_p_date(text: str) -> date:
    """``'2026-11-22'`` -> date; anything else (other formats, impossible days) is refused."""
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise InvalidDate(f"invalid date {text!r}: expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidDate(f"invalid date {text!r}: {exc}") from None


def check_p_date(text: str) -> str:
    """Validate ``YYYY-MM-DD`` strictly and return it; :class:`InvalidDate` otherwise."""
    return parse_p_date(text).isoformat()


def previous_day(moment: datetime) -> str:
    """The UTC calendar day before ``moment`` (an aware datetime), as ``YYYY-MM-DD``:
    the day a nightly run at ``moment`` processes."""
    if moment.tzinfo is None:
        raise InvalidDate(f"{moment.isoformat()} has no UTC offset")
    return (moment.astimezone(UTC).date() - timedelta(days=1)).isoformat()


def p_date_range(start: str, end: str, *, max_days: int = MAX_RANGE_DAYS) -> list[str]:
    """Every date from ``start`` to ``end`` inclusive, as ``YYYY-MM-DD`` strings."""
    return [d.isoformat() for d in date_range(start, end, max_days)]


def date_range(start: str, end: str, max_days: int = MAX_RANGE_DAYS) -> list[date]:
    first, last = parse_p_date(start), parse_p_date(end)
    if last < first:
        raise InvalidDate(f"range end {end} is before its start {start}")
    days = (last - first).days + 1
    if days > max_days:
        raise InvalidDate(f"range of {days} days is longer than the {max_days}-day limit")
    return [first + timedelta(days=i) for i in range(days)]


def partition_predicate(days: list[date]) -> str:
    """Glue/Spark partition predicate for validated dates, e.g. ``p_date = '2026-11-22'``."""
    if not days:
        raise InvalidDate("no dates given")
    if not all(isinstance(d, date) for d in days):
        raise TypeError("partition_predicate takes datetime.date values, not text")
    if len(days) == 1:
        return f"{PARTITION_KEY} = '{days[0].isoformat()}'"
    contiguous = all((b - a).days == 1 for a, b in itertools.pairwise(days))
    if contiguous:
        return f"{PARTITION_KEY} BETWEEN '{days[0].isoformat()}' AND '{days[-1].isoformat()}'"
    return f"{PARTITION_KEY} IN (" + ", ".join(f"'{d.isoformat()}'" for d in days) + ")"
