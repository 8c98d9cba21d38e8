"""``udp backfill`` whose only failures are date-lease refusals: the per-date table, then
one line naming the leased dates and their holder, exit 75 (as ``udp run``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestration.backfill import DateResult
from tests.unit.test_cli_ops import DAYS, FakeStack, udp
from udp_cli.backfill_busy import leased_refusal
from udp_cli.cli import EXIT_DATE_BUSY
from udp_cli.report.synthetic import write_synthetic_state

HOLDER = "arn:aws:states:us-east-1:1:execution:udp-pipeline:nightly-7"


def leased_cause(day: str) -> str:
    """The cause range mode's DateLeased state writes (orchestration/backfill.asl.json)."""
    return (f"p_date {day} is already being run by {HOLDER} (started 2026-11-05T01:00:00Z); "
            "wait for it to finish, then rerun the backfill to resume")


class LeaseStack(FakeStack):
    """A chunk holding a leased date is refused whole (each date DateLeased, naming the
    held one); a chunk holding a ``broken`` date fails as a task error."""

    def __init__(self, state_dir: Path, leased: str, broken: str | None = None) -> None:
        super().__init__(state_dir)
        self.leased, self.broken = leased, broken
        self.cfg = SimpleNamespace(lease_table="udp-date-leases")
        self.dynamodb = SimpleNamespace(writer=self.writer)

    def writer(self, table: str, key: str) -> dict[str, Any] | None:
        return {"pid": 4242, "host": "laptop"} if key == self.leased else None

    def run_backfill_chunk(self, dates: list[str], *, replace: bool | None = None,
                           executor: object = None) -> list[object]:
        self.chunks.append((list(dates), replace))
        if self.leased in dates:
            return [DateResult(d, "FAILED", failed_state="AcquireChunkLeases",
                               error="DateLeased", cause=leased_cause(self.leased))
                    for d in dates]
        if self.broken in dates:
            return [DateResult(d, "FAILED", run_id=f"fake-{d}", failed_state="RunTransform",
                               error="States.TaskFailed", cause="boom") for d in dates]
        return [DateResult(d, "SUCCEEDED", run_id=f"fake-{d}") for d in dates]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    # days 01 and 03 succeeded before, 02 failed, 04 never ran
    root = tmp_path / "state"
    write_synthetic_state(root, DAYS, users_per_day=50)
    return root


def test_a_backfill_refused_only_by_a_lease_exits_75_naming_the_held_date(
        state: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN 2026-11-04 held by a nightly run; the backfill's one chunk holds 02 and 04
    stack = LeaseStack(state, leased="2026-11-04")
    monkeypatch.setattr("udp_cli.cli._stack", lambda _state, _args=None: stack)
    # WHEN the range is backfilled
    code = udp(state, "backfill", "--from", "2026-11-01", "--to", "2026-11-04",
               "--concurrency", "1")
    # THEN it exits 75 (busy, try again), as `udp run` does for a leased date
    out, err = capsys.readouterr()
    assert code == EXIT_DATE_BUSY
    # AND the per-date table was printed first, the chunk's two dates refused in it
    assert out.count("│ FAILED ") == 2 and out.count("│ SKIPPED ") == 2
    assert "0 succeeded, 2 failed, 2 skipped" in out
    # AND one line names the held date, its holder and the holding process; no traceback
    refusals = [line for line in err.splitlines() if line.startswith("udp: refused: ")]
    assert refusals == [
        "udp: refused: 2 dates not run: another run holds 2026-11-04 (held by "
        f"{HOLDER}, started 2026-11-05T01:00:00Z; pid 4242 on laptop); wait for it to "
        "finish, then rerun the backfill to resume"]
    assert "Traceback" not in err


def test_a_backfill_with_other_failures_keeps_exit_1(
        state: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN 04 leased elsewhere AND 02 failing in its transform (chunks of one date)
    stack = LeaseStack(state, leased="2026-11-04", broken="2026-11-02")
    monkeypatch.setattr("udp_cli.cli._stack", lambda _state, _args=None: stack)
    # WHEN backfilled
    code = udp(state, "backfill", "--from", "2026-11-01", "--to", "2026-11-04",
               "--chunk", "1", "--concurrency", "1")
    # THEN a real failure is not hidden behind "busy": exit 1, no refusal line
    out, err = capsys.readouterr()
    assert code == 1
    assert "udp: refused" not in err
    assert "2 failed" in out


def test_no_failure_is_no_refusal() -> None:
    # GIVEN a backfill whose dates succeeded or were skipped; THEN nothing is busy
    results = [DateResult("2026-11-01", "SUCCEEDED"), DateResult("2026-11-02", "SKIPPED")]
    assert leased_refusal(results) is None


def test_each_held_date_is_named_once_and_an_unreadable_cause_names_the_date() -> None:
    # GIVEN two refused chunks: one naming its held date, one whose cause says nothing
    results = [DateResult(d, "FAILED", error="DateLeased", cause=leased_cause("2026-11-02"))
               for d in ("2026-11-01", "2026-11-02")]
    results.append(DateResult("2026-11-09", "FAILED", error="DateLeased", cause=None))
    # WHEN turned into the refusal without a local lease table
    line = leased_refusal(results)
    # THEN each held date is named once, with the holder when the cause gives it
    assert line == (f"3 dates not run: another run holds 2026-11-02 (held by {HOLDER}, "
                    "started 2026-11-05T01:00:00Z), 2026-11-09; wait for it to finish, "
                    "then rerun the backfill to resume")
