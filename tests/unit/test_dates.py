"""Run dates are validated before any predicate or SQL exists."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.dates import InvalidDate, date_range, parse_p_date, partition_predicate


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "26-11-22", "2026/11/22",
                                  "2026-11-22'; drop table x; --", "", "2026-11-2", " 2026-11-22"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(InvalidDate):
        parse_p_date(text)


def test_predicates_for_one_day_a_range_and_a_set() -> None:
    d = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]
    assert partition_predicate(d[2:]) == "p_date = '2026-11-22'"
    assert partition_predicate(d) == "p_date BETWEEN '2026-11-20' AND '2026-11-22'"
    assert partition_predicate([d[0], d[2]]) == "p_date IN ('2026-11-20', '2026-11-22')"


def test_predicate_refuses_text() -> None:
    with pytest.raises(TypeError):
        partition_predicate(["2026-11-22"])  # type: ignore[list-item]


def test_date_range_bounds() -> None:
    assert len(date_range("2026-01-01", "2026-12-31")) == 365
    with pytest.raises(InvalidDate, match="before its start"):
        date_range("2026-11-22", "2026-11-21")
    with pytest.raises(InvalidDate, match="limit"):
        date_range("2020-01-01", "2026-01-01")


@given(st.text(max_size=12))
def test_any_text_is_a_date_or_refused(text: str) -> None:
    try:
        day = parse_p_date(text)
    except InvalidDate:
        return
    assert day.isoformat() == text
