"""Explicit run dates and the push-down predicate built from them (never from raw text)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from contracts.tables import PARTITION_KEY

__all__ = ["InvalidDate", "date_range", "parse_p_date", "partition_predicate"]

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
