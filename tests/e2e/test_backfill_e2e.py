"""``udp backfill`` in range mode over ingested days on the local twins: one date fails
its data-quality gate, the others finish, and a rerun runs only that date.

Small days (one invocation, one page of five users each) go through the real crawlers,
the PySpark transform (one run per chunk), the transform crawler and the PostgreSQL
bulk import (one run per chunk, one audited transaction per date), driven by the
chunk of the deployed ``backfill.asl.json``, in chunks of 7, two chunks at a time.

The failure is real, not injected into the job twin: the bad date has no raw data, so
its ``users.row_count`` rule breaches and only that date is not published. The issue
asks for 30 days; CI runs :data:`N_DAYS` = 14 by default (two chunks, the same
properties) and ``UDP_BACKFILL_E2E_DAYS=30`` runs the full month.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_aws.cloud import LocalCloud
from local_aws.paths import LocalPaths
from local_aws.scheduler.ingest import DayPlan, simulate_days
from local_aws.stepfunctions.history import HistoryStore
from orchestration.state_machine import placeholder_values
from udp_cli import cli
from udp_cli.report.local import build_report

pytestmark = pytest.mark.slow

N_DAYS = int(os.environ.get("UDP_BACKFILL_E2E_DAYS", "14"))
FIRST = date(2026, 2, 1)
DAYS = [(FIRST + timedelta(days=i)).isoformat() for i in range(N_DAYS)]
BAD = DAYS[N_DAYS // 2]
USERS_PER_DAY = 5


def ingest(state: Path, days: list[str]) -> None:
    stack = LocalCloud(state)
    simulate_days([DayPlan(date.fromisoformat(day), 1, 1, USERS_PER_DAY) for day in days],
                  stack)
    stack.close()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``N_DAYS`` days, five users each, except :data:`BAD`, which has no raw data."""
    state = tmp_path_factory.mktemp("udp-backfill")
    ingest(state, [d for d in DAYS if d != BAD])
    return state


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cli.console, "width", 240)
    yield


def table_rows(out: str) -> dict[str, list[str]]:
    """``udp backfill``'s per-date table: date -> the row's cells."""
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] in DAYS:
            rows[cells[0]] = cells
    return rows


def test_range_backfill_finishes_the_other_days_reports_the_failed_one_and_resumes_it(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    wide_console: None,
) -> None:
    history = HistoryStore(LocalPaths(state_dir).runs)
    stacks: list[LocalCloud] = []

    def fast_stack(path: Path, _args: Any = None) -> Any:
        stack = LocalCloud(path, wait_scale=0.002)
        stacks.append(stack)
        return stack

    monkeypatch.setattr(cli, "_stack", fast_stack)
    # WHEN the days are backfilled in chunks of 7, two chunks at a time
    code = cli.main(["--state-dir", str(state_dir), "backfill", "--from", DAYS[0],
                     "--to", DAYS[-1], "--chunk", "7", "--concurrency", "2"])
    out = capsys.readouterr().out
    # THEN it reports the failure (exit 1): all others succeeded, the one failed
    assert code == 1
    assert f"{N_DAYS - 1} succeeded, 1 failed, 0 skipped" in out
    rows = table_rows(out)
    assert sorted(rows) == DAYS
    assert {d: r[1] for d, r in rows.items() if r[1] != "SUCCEEDED"} == {BAD: "FAILED"}
    assert "RunTransformJob" in rows[BAD]
    # AND one execution per chunk, each with one transform and one load run
    [stack] = stacks
    chunk_runs = [r for r in history.list_runs() if r.dates]
    assert len(chunk_runs) == -(-N_DAYS // 7)
    jobs = [run["JobName"] for run in stack.jobs.runs]
    assert jobs.count(stack.cfg.transform_job) == len(chunk_runs)
    assert jobs.count(stack.cfg.load_job) == len(chunk_runs)
    # AND the history has each date's own result, the failed one carrying the rule
    last = {d: history.last_run(d) for d in DAYS}
    assert {d for d, r in last.items() if r is not None and r.status_of(d) == "SUCCEEDED"} == (
        set(DAYS) - {BAD})
    bad_run = last[BAD]
    assert bad_run is not None
    [bad_row] = [row for row in bad_run.dates or [] if row["p_date"] == BAD]
    assert "users.row count" in bad_row["cause"] and bad_row["dq_passed"] is False
    # AND every other day is in the warehouse, committed on its own
    with stack.warehouse.connect() as conn:
        loaded = dict(conn.execute("select p_date::text, count(*) from analytics.users "
                                   "group by 1").fetchall())
        audited = conn.execute("select count(distinct p_date) from audit.load_log").fetchone()[0]
    stack.close()
    assert loaded == {d: USERS_PER_DAY for d in DAYS if d != BAD}
    assert audited == N_DAYS - 1
    # AND one alert went out, for the chunk holding the date, naming it
    alerts = stack.sns.messages(placeholder_values(stack.cfg)["AlertTopicArn"])
    assert len(alerts) == 1 and BAD in alerts[0]["Message"]
    # AND the report has a row per date of the chunks, the bad one FAILED
    report = build_report(state_dir, date_from=DAYS[0], date_to=DAYS[-1])
    assert dict(report.calendar)[BAD] == "FAILED"
    assert {r.p_date for r in report.runs} == set(DAYS)
    good = next(r for r in report.runs if r.p_date == DAYS[0])
    assert good.funnel is not None and good.funnel.loaded == USERS_PER_DAY
    runs_before = {r.run_id for r in history.list_runs()}

    # WHEN the missing day is ingested and the range backfilled again without --force
    ingest(state_dir, [BAD])
    monkeypatch.undo()
    monkeypatch.setattr(cli.console, "width", 240)
    code = cli.main(["--state-dir", str(state_dir), "backfill", "--from", DAYS[0],
                     "--to", DAYS[-1], "--chunk", "7"])
    out = capsys.readouterr().out
    # THEN only the failed day ran, in one chunk, and succeeded; the others were skipped
    assert code == 0, out
    assert f"1 succeeded, 0 failed, {N_DAYS - 1} skipped" in out
    new_runs = [r for r in history.list_runs() if r.run_id not in runs_before]
    assert [(r.chunk_dates, r.status_of(BAD)) for r in new_runs] == [([BAD], "SUCCEEDED")]
    rows = table_rows(out)
    assert {d: r[1] for d, r in rows.items() if r[1] != "SKIPPED"} == {BAD: "SUCCEEDED"}
