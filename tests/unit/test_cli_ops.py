"""``udp report``, ``tables``, ``describe``, ``status --format``, ``backfill --dry-run``
and the refusals (one line, exit 2) on a synthetic state folder: no Spark, no warehouse."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.dictionary import all_tables, find_table
from contracts.tables import USERS
from local_aws.glue.catalog import LocalGlueCatalog
from udp_cli.cli import main
from udp_cli.report.synthetic import SyntheticDay, write_synthetic_state

DAYS = [SyntheticDay("2026-11-01", "ok"), SyntheticDay("2026-11-02", "fail"),
        SyntheticDay("2026-11-03", "fail_then_rerun")]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ops") / "state"
    write_synthetic_state(root, DAYS, users_per_day=300)
    return root


def udp(state: Path, *argv: str) -> int:
    return main(["--state-dir", str(state), *argv])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("udp: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


# ----------------------------------------------------------------------------- refusals

@pytest.mark.parametrize(("argv", "says"), [
    (["report", "--date", "2026-11-20"], "no runs for 2026-11-20"),
    (["report", "--run", "20990101T000000-nope"], "no run"),
    (["report", "--date", "2026-02-30"], "2026-02-30"),
    (["report", "--from", "2026-11-03", "--to", "2026-11-01"], "after"),
    (["report", "--from", "2026-12-01", "--to", "2026-12-05"], "no runs between"),
    (["report"], "exactly one of"),
    (["report", "--date", "2026-11-01", "--run", "x"], "exactly one of"),
    (["report", "--from", "2026-11-01"], "--from and --to go together"),
    (["backfill", "--from", "2026-11-01", "--to", "2026-11-03", "--dry-run", "--replace"],
     "--replace cannot be combined with --dry-run"),
    (["describe", "no_such_table"], "unknown table 'no_such_table'"),
    (["status", "no-such-run"], "no run"),
])
def test_bad_input_is_one_line_and_exit_2(state: Path, argv: list[str], says: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a state folder with three days of runs WHEN the command is given bad input
    before = snapshot(state)
    # THEN it exits 2 with one line naming the problem, and writes nothing
    assert udp(state, *argv) == 2
    assert says in one_error_line(capsys)
    assert snapshot(state) == before


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=20).filter(lambda s: not s.startswith("-")))
def test_any_malformed_report_date_is_one_line(state: Path, text: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN any text that is not a day with runs WHEN `udp report --date TEXT` runs
    code = udp(state, "report", "--date", text)
    # THEN it is refused with one line (no day in the synthetic state matches garbage)
    assert code == 2
    one_error_line(capsys)


# ----------------------------------------------------------------------------- report

def test_report_for_a_range_writes_one_html_file_and_prints_its_path(
        state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN three days of runs WHEN a report for the range is asked, to a chosen file
    out = tmp_path / "range.html"
    assert udp(state, "report", "--from", "2026-11-01", "--to", "2026-11-03",
               "--out", str(out)) == 0
    # THEN the path is printed and the file is a self-contained page listing every run
    assert capsys.readouterr().out.strip() == f"report: {out}"
    html = out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "<script src=" not in html and "http://" not in html.replace(
        "http://www.w3.org", "")
    runs = json.loads(_status_json(state, capsys))
    assert all(r["run_id"] in html for r in runs)


def test_report_for_a_day_and_a_run_default_under_the_state_folder(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = json.loads(_status_json(state, capsys))
    day3 = [r for r in runs if r["p_date"] == "2026-11-03"]
    assert len(day3) == 2  # failed, then rerun
    # WHEN a report is asked for the day, then for its first run
    assert udp(state, "report", "--date", "2026-11-03") == 0
    day_path = Path(capsys.readouterr().out.strip().removeprefix("report: "))
    assert udp(state, "report", "--run", day3[0]["run_id"]) == 0
    run_path = Path(capsys.readouterr().out.strip().removeprefix("report: "))
    # THEN both are under <state>/reports/ and the day's names both its runs
    assert day_path.parent == run_path.parent == state / "reports"
    day_html = day_path.read_text(encoding="utf-8")
    assert all(r["run_id"] in day_html for r in day3)


# ----------------------------------------------------------------------------- status

def _status_json(state: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert udp(state, "status", "--format", "json") == 0
    return capsys.readouterr().out


def test_status_formats_agree_and_csv_ends_lines_with_lf(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the runs as JSON and as CSV
    runs = json.loads(_status_json(state, capsys))
    assert udp(state, "status", "--format", "csv") == 0
    text = capsys.readouterr().out
    # THEN CSV lines end with LF only, and both list the same runs with the same fields
    assert "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in runs]
    assert [r["status"] for r in rows] == [r["status"] for r in runs]
    assert {r["p_date"] for r in runs} == {d.p_date for d in DAYS}
    assert {"FAILED", "SUCCEEDED"} <= {r["status"] for r in runs}


def test_status_of_one_run_as_json_and_csv(state: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    failed = next(r for r in json.loads(_status_json(state, capsys))
                  if r["status"] == "FAILED")
    # WHEN one run is shown as JSON THEN it has its events and where it failed
    assert udp(state, "status", failed["run_id"], "--format", "json") == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["run_id"] == failed["run_id"] and detail["failed_state"]
    assert detail["events"][0]["type"] == "ExecutionStarted"
    # AND as CSV one row per event, LF line endings
    assert udp(state, "status", failed["run_id"], "--format", "csv") == 0
    text = capsys.readouterr().out
    assert "\r" not in text
    assert len(list(csv.DictReader(io.StringIO(text)))) == len(detail["events"])


# ----------------------------------------------------------------------------- backfill plan

def test_backfill_dry_run_lists_run_skip_and_writes_nothing(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN day 1 succeeded, day 2 failed, day 3 failed then succeeded, day 4 never ran
    before = snapshot(state)
    # WHEN a dry run over the four days is asked
    assert udp(state, "backfill", "--from", "2026-11-01", "--to", "2026-11-04",
               "--dry-run") == 0
    out = capsys.readouterr().out
    # THEN each date says what would happen, and nothing was written
    would = {line.split()[1]: line.split()[3] for line in out.splitlines()
             if line.startswith("│ 2026-")}
    assert would == {"2026-11-01": "skip", "2026-11-02": "run", "2026-11-03": "skip",
                     "2026-11-04": "run"}
    assert "would run 2, rerun 0, skip 2" in " ".join(out.split())
    assert snapshot(state) == before
    # AND with --force the succeeded days would be rerun
    assert udp(state, "backfill", "--from", "2026-11-01", "--to", "2026-11-04",
               "--dry-run", "--force") == 0
    assert "would run 2, rerun 2, skip 0" in " ".join(capsys.readouterr().out.split())


# ----------------------------------------------------------------------------- catalog

def test_tables_lists_every_contract_table_as_csv(state: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert udp(state, "tables", "--format", "csv") == 0
    text = capsys.readouterr().out
    assert "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["database"], r["table"]) for r in rows] == [
        (t.database, t.name) for t in all_tables()]


def test_describe_needs_no_state_folder_for_the_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN no state folder at all WHEN users is described
    assert udp(tmp_path / "none", "describe", "users") == 0
    out = capsys.readouterr().out
    # THEN its columns and the "no partitions yet" line are printed
    for column in find_table("users").columns:
        assert column.name in out
    assert "not in the local catalog" in out


def test_describe_counts_partitions_from_the_catalog_or_the_footers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a catalog with two users partitions: one with recordCount, one without
    state = tmp_path / "state"
    catalog = LocalGlueCatalog(state / "catalog")
    info = find_table("users")
    catalog.create_database(DatabaseInput={"Name": info.database})
    catalog.create_table(DatabaseName=info.database, TableInput={
        "Name": info.name, "PartitionKeys": [{"Name": "p_date", "Type": "string"}],
        "StorageDescriptor": {"Location": f"s3://lake/{info.prefix}/", "Columns": []}})
    folder = state / "s3" / "lake" / info.prefix / "p_date=2026-11-02"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": ["a", "b", "c"]}), folder / "part-0.parquet")
    pq.write_table(pa.table({"user_id": ["d", "e"]}), folder / "part-1.parquet")
    for day, params in (("2026-11-01", {"recordCount": "42", "objectCount": "1"}),
                        ("2026-11-02", {})):
        catalog.create_partition(DatabaseName=info.database, TableName=info.name,
                                 PartitionInput={"Values": [day], "Parameters": params,
                                                 "StorageDescriptor": {
                                                     "Location": f"s3://lake/{info.prefix}/"
                                                                 f"p_date={day}/"}})
    # WHEN it is described as JSON
    assert udp(state, "describe", USERS.name, "--format", "json") == 0
    described = json.loads(capsys.readouterr().out)
    # THEN the columns are the contract's and each partition has its count and its source
    assert [c["column"] for c in described["columns"]] == [c.name for c in info.columns]
    parts = {p["p_date"]: (p["records"], p["files"], p["count from"])
             for p in described["partitions"]}
    assert parts == {"2026-11-01": (42, 1, "catalog"), "2026-11-02": (5, 2, "footers")}


# ----------------------------------------------------------------------------- backfill --replace

class RecordingExecutor:
    """Stands in for the local state machine: records each execution input."""

    def __init__(self) -> None:
        self.inputs: list[dict[str, object]] = []

    def run(self, execution_input: dict[str, object], *, label: str | None = None) -> Any:
        from local_aws.stepfunctions.results import RunResult, now_iso

        self.inputs.append(execution_input)
        return RunResult(f"run-{label}", "udp-pipeline", "SUCCEEDED", now_iso(), now_iso())


class FakeStack:
    def __init__(self, state_dir: Path) -> None:
        from local_aws.stepfunctions.history import HistoryStore

        self.history = HistoryStore(state_dir / "runs")
        self.recorder = RecordingExecutor()
        self.chunks: list[tuple[list[str], bool | None]] = []

    def start_engines(self) -> None:
        """No engine to start: the recording executor runs nothing."""

    def executor(self) -> RecordingExecutor:
        return self.recorder

    def chunk_executor(self) -> RecordingExecutor:
        return self.recorder

    def run_backfill_chunk(self, dates: list[str], *, replace: bool | None = None,
                           executor: object = None) -> list[object]:
        """A backfill chunk, as the range-mode runner starts it: recorded, then succeeded."""
        from orchestration.backfill import DateResult

        self.chunks.append((list(dates), replace))
        return [DateResult(d, "SUCCEEDED", run_id=f"fake-{d}") for d in dates]

    def __enter__(self) -> FakeStack:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


ALL_DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]


@pytest.mark.parametrize(("flags", "expected"), [
    ([], [(["2026-11-02", "2026-11-04"], None)]),   # 01 and 03 already succeeded: skipped
    (["--replace"], [(ALL_DAYS, True)]),             # every day, each load a reload
])
def test_backfill_replace_reruns_every_date_with_replace_in_its_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flags: list[str], expected: list[tuple[list[str], bool | None]]) -> None:
    # GIVEN days 01 and 03 succeeded before, 02 failed, 04 never ran
    state = tmp_path / "state"
    write_synthetic_state(state, DAYS, users_per_day=100)
    stack = FakeStack(state)
    monkeypatch.setattr("udp_cli.cli._stack", lambda _state, _args=None: stack)
    # WHEN backfilled in range mode (one chunk holds the four days)
    assert udp(state, "backfill", "--from", "2026-11-01", "--to", "2026-11-04",
               "--concurrency", "1", *flags) == 0
    # THEN without --replace only the unfinished days ran; with it every day ran, the
    # chunk's loads told to replace
    assert stack.chunks == expected
    assert "report: " in capsys.readouterr().out
