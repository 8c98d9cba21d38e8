"""A backfill chunk's job arguments (``glue_jobs.chunk``): what both jobs accept."""

from __future__ import annotations

import importlib
import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.dates import InvalidDate
from glue_jobs.chunk import InvalidChunkArguments, date_run_id, parse_p_dates
from glue_jobs.publish import InvalidRunId

DAYS = st.lists(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
                min_size=1, max_size=40, unique=True)


@given(DAYS)
def test_json_and_comma_lists_give_the_same_dates(days: list[date]) -> None:
    # GIVEN dates as States.JsonToString writes them, and comma-separated
    iso = [d.isoformat() for d in days]
    # THEN both forms parse to the dates, in order
    assert parse_p_dates(json.dumps(iso, separators=(",", ":"))) == tuple(days)
    assert parse_p_dates(",".join(iso)) == tuple(days)


@pytest.mark.parametrize(("text", "error"), [
    ("", InvalidChunkArguments), ("[]", InvalidChunkArguments),
    ("[\"2024-01-01\",", InvalidChunkArguments), ("{\"a\": 1}", InvalidDate),
    ("2024-01-01,2024-01-01", InvalidChunkArguments), ("2024-02-30", InvalidDate),
])
def test_bad_lists_are_refused(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_p_dates(text)


@given(st.text(max_size=30))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    # GIVEN arbitrary text WHEN parsed THEN dates, or one of the two documented errors
    try:
        days = parse_p_dates(text)
    except (InvalidChunkArguments, InvalidDate):
        return
    assert days and len(set(days)) == len(days)


def test_run_ids_are_per_date_and_refuse_unsafe_keys() -> None:
    day = date(2024, 3, 9)
    assert date_run_id("exec-1-c0", day) == "exec-1-c0-20240309"
    assert date_run_id("k", day + timedelta(days=1)) == "k-20240310"
    with pytest.raises(InvalidRunId):
        date_run_id("../escape", day)


@pytest.mark.parametrize("module", ["glue_jobs.transform_job", "glue_jobs.bulk_import"])
def test_the_jobs_export_only_their_own_functions(module: str) -> None:
    # GIVEN a job module that uses glue_jobs.chunk's helpers
    mod = importlib.import_module(module)
    # THEN its __all__ names only what it defines: the chunk helpers have one home
    borrowed = [name for name in mod.__all__
                if getattr(getattr(mod, name), "__module__", module) != module]
    assert borrowed == []
