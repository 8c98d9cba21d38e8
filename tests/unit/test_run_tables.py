"""The run tables at 80 columns: every date, status and state name whole, nothing wider
than the terminal (udp_cli.run_tables, udp_cli.fit)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import pytest
from rich.console import Console

from local_aws.stepfunctions.history import RunRecord
from orchestration.backfill import DateResult
from udp_cli.fit import Col, fit_table
from udp_cli.run_tables import backfill_results, chunk_dates, run_events, run_list

DAYS = [(date(2026, 9, 1) + timedelta(days=i)).isoformat() for i in range(30)]
# the longest names of states that can fail a run or a date (Task and Fail states)
LONG_STATES = ["TransformCrawlDidNotSucceed", "ReleaseChunkLeasesAfterFailure"]
LONGEST_STATE = "LeaseOfDateLeftToExpireAfterFailure"  # the longest of any state
CAUSE = ("users: row count 3 is below the minimum 10; user_locations: row count 3 is "
         "below the minimum 10")


def _render(renderables: list[Any], width: int) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, soft_wrap=True)
    for item in renderables:
        console.print(item)
    return out.getvalue().splitlines()


def _assert_whole(lines: list[str], words: set[str], width: int) -> None:
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert not any("…" in line for line in lines)
    missing = {w for w in words if not any(w in line for line in lines)}
    assert not missing, f"{sorted(missing)} not whole in:\n" + "\n".join(lines)


def _results() -> list[DateResult]:
    out = []
    for i, day in enumerate(DAYS):
        run_id = f"20261207T0318{i // 7:02d}-abcdef{i // 7:02d}"
        if i % 9 == 4:
            out.append(DateResult(day, "FAILED", run_id, LONG_STATES[i % 2], "DQBreach", CAUSE,
                                  seconds=26.4, users=None, loaded=None, dq_passed=False))
        elif i % 11 == 0:
            out.append(DateResult(day, "SKIPPED", run_id="20261206T101010-0000aaaa"))
        else:
            out.append(DateResult(day, "SUCCEEDED", run_id, seconds=7.2, users=1179,
                                  loaded=1179, dq_passed=True))
    return out


def _record(run_id: str, label: str, status: str, **kw: Any) -> RunRecord:
    return RunRecord(run_id=run_id, name="udp-backfill", label=label, status=status,
                     started_at="2026-12-07T03:18:00.000Z",
                     stopped_at="2026-12-07T03:18:26.400Z", **kw)


def _chunk_rows() -> list[dict[str, Any]]:
    return [{"p_date": r.p_date, "status": r.status, "users": r.users, "loaded": r.loaded,
             "dq_passed": r.dq_passed, "failed_state": r.failed_state, "cause": r.cause}
            for r in _results()[:14]]


@pytest.mark.parametrize("width", [80, 100, 200])
def test_backfill_table_shows_dates_statuses_and_states_whole(width: int) -> None:
    # GIVEN 30 dates with successes, skips and failures in the longest state names
    results = _results()
    # WHEN the table is printed at that width
    lines = _render(backfill_results(results, width), width)
    # THEN every date, status and failed state is on a line whole, and so is every run id
    # (in the table, or in the line per run under it)
    words = {*DAYS, "SUCCEEDED", "FAILED", "SKIPPED", *LONG_STATES,
             *(r.run_id for r in results if r.run_id)}
    _assert_whole(lines, words, width)


def test_backfill_table_keeps_run_ids_in_its_rows_when_wide() -> None:
    results = _results()
    lines = _render(backfill_results(results, 200), 200)
    assert not any(line.startswith("run ") for line in lines)
    row = next(line for line in lines if DAYS[1] in line)
    assert results[1].run_id is not None and results[1].run_id in row


@pytest.mark.parametrize("width", [80, 120])
def test_status_list_shows_dates_statuses_and_states_whole(width: int) -> None:
    # GIVEN a single-date run that failed in a long state and a backfill chunk of 14 dates
    runs = [_record("20261207T031800-0123abcd", "2026-08-31", "FAILED",
                    failed_state=LONG_STATES[0], error="States.TaskFailed", cause=CAUSE),
            _record("20261207T031900-4567cdef", f"{DAYS[0]}..{DAYS[13]}", "SUCCEEDED",
                    dates=_chunk_rows())]
    # WHEN `udp status` prints them
    lines = _render(run_list(runs, width), width)
    # THEN the dates (the chunk's two ends too), statuses and states are whole
    _assert_whole(lines, {"2026-08-31", *DAYS[:14], "SUCCEEDED", "FAILED", "SKIPPED",
                          "(10/14", *LONG_STATES, "20261207T031800-", "0123abcd"}, width)


@pytest.mark.parametrize("width", [80, 120])
def test_status_of_one_run_shows_events_states_and_dates_whole(width: int) -> None:
    # GIVEN a chunk run whose events name the longest states
    events = [{"timestamp": "2026-12-07T03:18:00.123Z", "type": kind, "state": state,
               "error": "States.TaskFailed" if kind.endswith("Failed") else None}
              for kind, state in [("ExecutionStarted", None),
                                  ("MapIterationSucceeded", "RunEachChunk"),
                                  ("TaskFailed", LONG_STATES[1]),
                                  ("TaskStateEntered", LONGEST_STATE),
                                  ("TaskStateEntered", LONG_STATES[0])]]
    run = _record("20261207T031900-4567cdef", f"{DAYS[0]}..{DAYS[13]}", "SUCCEEDED",
                  events=events, dates=_chunk_rows())
    # WHEN `udp status RUN` prints its tables
    lines = _render(run_events(run, width) + chunk_dates(run.dates or [], width), width)
    # THEN event names, state names, dates and statuses are whole
    _assert_whole(lines, {"MapIterationSucceeded", "ExecutionStarted", "RunEachChunk",
                          LONGEST_STATE, *LONG_STATES, *DAYS[:14], "SUCCEEDED", "FAILED",
                          "SKIPPED", "breach", "passed"}, width)


def test_fit_table_refuses_a_key_column_it_would_have_to_break() -> None:
    # a key cell longer than the room is never cut: the caller must choose another layout
    cols = [Col("state"), Col("detail", "text", 10)]
    assert fit_table(cols, [("x" * 60, "why")], 60) is None
    assert fit_table(cols, [("x" * 40, "why")], 60) is not None
