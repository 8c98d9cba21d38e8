"""CSV as other CLI tools write it (LF), the backfill plan, and the structured run logs."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local_aws import runlog
from local_aws.stepfunctions import AslExecutor, TaskRegistry
from udp_cli.backfill_plan import plan_backfill
from udp_cli.output import format_rows

cells = st.one_of(st.none(), st.integers(), st.text(max_size=12))


@given(rows=st.lists(st.tuples(cells, cells), max_size=6))
def test_csv_has_lf_line_ends_and_reads_back(rows: list[tuple[Any, Any]]) -> None:
    # GIVEN any rows (text with commas, quotes, newlines, NULLs) WHEN written as CSV
    text = format_rows(["a", "b"], rows, "csv")
    # THEN record separators are LF (never CRLF) and a CSV reader gets the same cells back
    assert not text.endswith("\n")
    expected = [["a", "b"], *[["" if v is None else str(v) for v in r] for r in rows]]
    assert list(csv.reader(io.StringIO(text + "\n"))) == expected
    unquoted = [r for r in rows if all("\r" not in str(v) for v in r)]
    if unquoted == rows:
        assert "\r" not in text


def test_json_rows_are_objects_and_unknown_formats_are_refused() -> None:
    assert json.loads(format_rows(["n", "s"], [(1, "x")], "json")) == [{"n": 1, "s": "x"}]
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        format_rows(["n"], [], "xml")


class FakeHistory:
    def __init__(self, last: dict[str, tuple[str, str]]) -> None:
        self.last = last

    def last_run(self, p_date: str, *, name: str | None = None) -> Any:
        found = self.last.get(p_date)
        if found is None:
            return None
        from local_aws.stepfunctions.history import RunRecord

        status, run_id = found
        return RunRecord(run_id=run_id, name="udp-pipeline", label=p_date, status=status,
                         started_at="2026-01-01T00:00:00+00:00")


def test_backfill_plan_reads_a_dates_own_result_inside_a_chunk() -> None:
    # GIVEN a backfill chunk that succeeded but whose second date failed its DQ gate
    from local_aws.stepfunctions.history import RunRecord

    chunk = RunRecord(run_id="c1", name="udp-backfill", label="2026-01-01..2026-01-02",
                      status="SUCCEEDED", started_at="2026-01-01T00:00:00+00:00",
                      dates=[{"p_date": "2026-01-01", "status": "SUCCEEDED"},
                             {"p_date": "2026-01-02", "status": "FAILED"}])
    history = type("H", (), {"last_run": lambda self, d, name=None: chunk})()
    # WHEN planned THEN the failed date would run again, as the backfill itself does
    plan = plan_backfill(["2026-01-01", "2026-01-02"], history)
    assert [(p.action, p.last_status) for p in plan] == [("skip", "SUCCEEDED"),
                                                          ("run", "FAILED")]


@pytest.mark.parametrize(("force", "replace", "expected"), [
    (False, False, ["skip", "run", "run"]),
    (True, False, ["rerun", "run", "run"]),
    (False, True, ["replace", "replace", "replace"]),
])
def test_backfill_plan(force: bool, replace: bool, expected: list[str]) -> None:
    # GIVEN day 1 succeeded, day 2 failed, day 3 never ran
    history = FakeHistory({"2026-01-01": ("SUCCEEDED", "r1"), "2026-01-02": ("FAILED", "r2")})
    # WHEN planned THEN each action follows the resume rule
    plan = plan_backfill(["2026-01-01", "2026-01-02", "2026-01-03"], history, force=force,
                         replace=replace)
    assert [p.action for p in plan] == expected
    assert plan[0].row() == ("2026-01-01", expected[0], "SUCCEEDED", "r1")
    assert plan[2].row() == ("2026-01-03", expected[2], "", "")


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_run_gets_its_own_file_with_the_context_on_every_line(tmp_path: Path) -> None:
    # GIVEN the run log handler installed and two runs logging from two threads at once
    logger = logging.getLogger("tests.runlog")
    barrier = threading.Barrier(2)

    def one(run_id: str, p_date: str) -> None:
        with runlog.bind(run_id=run_id, p_date=p_date):
            barrier.wait()
            for stage in ("A", "B"):
                with runlog.bind(stage=stage):
                    logger.info("working on %s", stage, extra={"rows": 3})

    with runlog.install(tmp_path / "logs"):
        threads = [threading.Thread(target=one, args=(f"run-{i}", f"2026-01-0{i}"))
                   for i in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        logger.info("no run bound")
    # THEN each run's file holds only its lines, each with run_id, p_date and stage
    for i in (1, 2):
        lines = read_lines(tmp_path / "logs" / f"run-{i}.jsonl")
        assert [(x["run_id"], x["p_date"], x["stage"]) for x in lines] == [
            (f"run-{i}", f"2026-01-0{i}", "A"), (f"run-{i}", f"2026-01-0{i}", "B")]
        assert all(x["level"] == "INFO" and x["rows"] == 3 for x in lines)
    # AND a line outside any run goes to udp.jsonl with the fields present and null
    [other] = read_lines(tmp_path / "logs" / "udp.jsonl")
    assert (other["run_id"], other["p_date"], other["stage"]) == (None, None, None)
    # AND the handler is gone after the block
    assert not any(isinstance(h, runlog.RunLogHandler) for h in logging.getLogger().handlers)


def test_bind_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown log context"), runlog.bind(user="x"):
        pass


def test_the_executor_and_its_tasks_log_into_the_runs_file(tmp_path: Path) -> None:
    # GIVEN a machine whose Task logs through the standard library (as the Glue jobs do)
    task_log = logging.getLogger("tests.task")

    def work(params: dict[str, Any]) -> dict[str, Any]:
        task_log.info("task ran")
        return params

    definition = {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "TimeoutSeconds": 30, "Next": "Done"},
        "Done": {"Type": "Succeed"}}}
    executor = AslExecutor(definition, TaskRegistry({"arn:aws:states:::lambda:invoke": work}))
    # WHEN it runs with the log handler installed
    with runlog.install(tmp_path / "logs"):
        result = executor.run({"p_date": "2026-01-05"}, label="2026-01-05")
    # THEN the run's file has the executor's events and the task's own line, in context
    lines = read_lines(tmp_path / "logs" / f"{result.run_id}.jsonl")
    assert {x["run_id"] for x in lines} == {result.run_id}
    assert {x["p_date"] for x in lines} == {"2026-01-05"}
    task_lines = [x for x in lines if x["logger"] == "tests.task"]
    assert [(x["message"], x["stage"]) for x in task_lines] == [("task ran", "Work")]
    events = [x.get("event") for x in lines]
    assert events[0] == "ExecutionStarted" and events[-1] == "ExecutionSucceeded"
