"""A backfill chunk's job arguments, shared by the transform and the bulk import. Pure.

A chunk passes both jobs ``--p_dates`` (its dates) and ``--run_key`` (one id per chunk,
set by the state machine): the transform publishes day D under :func:`date_run_id`, and
the bulk import loads D only if D's published partition carries that id. This module
imports neither Spark nor a warehouse driver: the bulk import is a Python-shell job.
"""

from __future__ import annotations

import json
from datetime import date

from contracts.dates import parse_p_date
from glue_jobs.publish import validate_run_id

__all__ = ["InvalidChunkArguments", "date_run_id", "parse_p_dates"]


class InvalidChunkArguments(ValueError):
    """``--p_dates`` does not list dates."""


def parse_p_dates(text: str) -> tuple[date, ...]:
    """``--p_dates``: a JSON array of ``YYYY-MM-DD`` (what ``States.JsonToString`` makes of
    a list) or the same dates comma-separated; each at most once, at least one."""
    stripped = text.strip()
    try:
        items = json.loads(stripped) if stripped.startswith("[") else stripped.split(",")
    except json.JSONDecodeError as exc:
        raise InvalidChunkArguments(f"--p_dates is not a JSON array: {exc}") from None
    if not isinstance(items, list) or not items or items == [""]:
        raise InvalidChunkArguments("--p_dates must list at least one date")
    days = tuple(parse_p_date(str(item).strip()) for item in items)
    if len(set(days)) != len(days):
        raise InvalidChunkArguments("--p_dates lists a date twice")
    return days


def date_run_id(run_key: str, day: date | str) -> str:
    """The run id under which chunk ``run_key`` publishes ``day`` (``<run_key>-YYYYMMDD``)."""
    d = day if isinstance(day, date) else parse_p_date(day)
    return validate_run_id(f"{run_key}-{d:%Y%m%d}")
