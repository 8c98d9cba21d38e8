"""One run-result model for the nightly run too: ``udp run`` of a good day and of a day
that breaches its data-quality gate, through the nightly state machine on the local
twins with the real jobs (PySpark, PostgreSQL). Each job writes its day's
``run_outcomes`` record under the execution's name; ``udp status RUN``, the run report
and the AWS report (the execution in Step Functions' shape, the records read from S3:
moto, holding the objects the jobs wrote) all show the day's row made from them.

The breach is real: the bad day has no raw data, so its ``users.row count`` rule fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts.run_outcomes import OutcomeStore
from contracts.tables import RUN_OUTCOMES
from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
from tests.e2e.test_run_outcomes_e2e import _objects
from udp_cli.cli import main
from udp_cli.report.aws import record_from_sfn
from udp_cli.report.local import build_report

pytestmark = pytest.mark.slow

GOOD, BAD = "2026-04-02", "2026-04-03"
USERS = 5


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, Any, Any]]:
    """One nightly run of GOOD and one of BAD (no raw data), in one state folder."""
    state = tmp_path_factory.mktemp("udp-nightly-outcomes")
    stack = LocalCloud(state, wait_scale=0.002)
    try:
        simulate_days([DayPlan(date.fromisoformat(GOOD), 1, 1, USERS)], stack)
        good, bad = stack.run_pipeline(GOOD), stack.run_pipeline(BAD)
        assert (good.status, bad.status) == ("SUCCEEDED", "FAILED"), (good.cause, bad.cause)
        yield stack, good, bad
    finally:
        stack.close()


def _keys(p_date: str, run_key: str, *stages: str) -> set[str]:
    return {f"{RUN_OUTCOMES.prefix}/p_date={p_date}/{run_key}.{s}.parquet" for s in stages}


def test_a_nightly_run_writes_one_transform_and_one_load_record(
        nightly: tuple[LocalCloud, Any, Any]) -> None:
    stack, good, bad = nightly
    # THEN the good day has one record per stage under the execution's name, the
    # breached day only its transform's (its load never ran)
    assert set(_objects(stack)) == (_keys(GOOD, good.run_id, "transform", "load")
                                    | _keys(BAD, bad.run_id, "transform"))
    records = OutcomeStore(stack.s3, stack.cfg.lake_uri).read(good.run_id, [GOOD])
    assert sorted((r["stage"], r["status"], r["rows_written"]) for r in records) == [
        ("load", "SUCCEEDED", USERS), ("transform", "SUCCEEDED", USERS)]
    # AND the run record holds the day's row made from them
    [row] = stack.history.get_run(good.run_id).dates or []
    assert (row["p_date"], row["status"], row["users"], row["loaded"], row["dq_passed"]) == (
        GOOD, "SUCCEEDED", USERS, USERS, True)


def test_a_nightly_dq_breach_is_recorded_and_udp_status_shows_it(
        nightly: tuple[LocalCloud, Any, Any], capsys: pytest.CaptureFixture[str]) -> None:
    stack, _, bad = nightly
    # THEN the transform recorded the breach before the job failed
    [record] = OutcomeStore(stack.s3, stack.cfg.lake_uri).read(bad.run_id, [BAD])
    assert (record["stage"], record["status"], record["error"], record["dq_passed"]) == (
        "transform", "FAILED", "DQBreach", False)
    assert "users.row count" in record["cause"]
    # AND the run's row is the record's failure, not the execution's
    [row] = stack.history.get_run(bad.run_id).dates or []
    assert (row["status"], row["failed_state"], row["error"], row["cause"]) == (
        "FAILED", "RunTransformJob", "DQBreach", record["cause"])
    # WHEN `udp status RUN` prints the run
    capsys.readouterr()
    assert main(["--state-dir", str(stack.paths.state_dir), "status", bad.run_id]) == 0
    out = capsys.readouterr().out
    # THEN its date's row says FAILED in the transform with a DQ breach, and its cause
    line = next(x for x in out.splitlines() if x.strip("│ ").startswith(BAD))
    assert all(word in line for word in ("FAILED", "breach", "RunTransformJob")), out
    assert "users.row count" in out


def test_the_report_shows_the_rows_of_the_nightly_runs(
        nightly: tuple[LocalCloud, Any, Any]) -> None:
    stack, good, bad = nightly
    state = Path(stack.paths.state_dir)
    # WHEN the report of each run is built from the state folder
    [ok] = build_report(state, run_id=good.run_id).runs
    [failed] = build_report(state, run_id=bad.run_id).runs
    # THEN the good day's funnel is its records' counts, the bad day's failure the breach
    assert ok.funnel is not None and (ok.funnel.users, ok.funnel.loaded) == (USERS, USERS)
    assert [d.passed for d in ok.dq] and all(d.passed for d in ok.dq)
    assert (failed.status, failed.failed_state, failed.error) == (
        "FAILED", "RunTransformJob", "DQBreach")
    assert any(not d.passed for d in failed.dq)  # its own dq_results rows, by run id


def _execution(stack: LocalCloud, run: Any, p_date: str) -> tuple[dict[str, Any],
                                                                   list[dict[str, Any]]]:
    """The nightly run as ``DescribeExecution`` and ``GetExecutionHistory`` give it:
    the transform task, then the load (good) or the caught transform failure (bad)."""
    record = stack.history.get_run(run.run_id)
    start = datetime.fromisoformat(record.started_at.replace("Z", "+00:00"))
    stop = datetime.fromisoformat(str(record.stopped_at).replace("Z", "+00:00"))
    glue = {"resourceType": "glue", "resource": "startJobRun.sync"}
    events: list[dict[str, Any]] = [{"type": "ExecutionStarted"}]
    events += [{"type": "TaskStateEntered",
                "stateEnteredEventDetails": {"name": "RunTransformJob"}},
               {"type": "TaskScheduled", "taskScheduledEventDetails": glue}]
    if run.status == "SUCCEEDED":
        events += [{"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": "{}"}},
                   {"type": "TaskStateExited",
                    "stateExitedEventDetails": {"name": "RunTransformJob"}},
                   {"type": "TaskStateEntered",
                    "stateEnteredEventDetails": {"name": "RunBulkImport"}},
                   {"type": "TaskScheduled", "taskScheduledEventDetails": glue},
                   {"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": "{}"}},
                   {"type": "TaskStateExited",
                    "stateExitedEventDetails": {"name": "RunBulkImport"}},
                   {"type": "ExecutionSucceeded"}]
    else:
        events += [{"type": "TaskFailed", "taskFailedEventDetails": {
                       "error": "States.TaskFailed", "cause": "{}"}},
                   {"type": "TaskStateExited",
                    "stateExitedEventDetails": {"name": "RunTransformJob"}},
                   {"type": "FailStateEntered",
                    "stateEnteredEventDetails": {"name": "PipelineFailed"}},
                   {"type": "ExecutionFailed", "executionFailedEventDetails": {
                       "error": run.error, "cause": run.cause}}]
    step = (stop - start) / len(events)
    for i, ev in enumerate(events):
        ev.update(id=i + 1, previousEventId=i, timestamp=start + step * i)
    execution = {"name": run.run_id, "status": run.status, "startDate": start,
                 "stopDate": stop, "input": json.dumps({"p_date": p_date}),
                 **({"error": run.error, "cause": run.cause} if run.error else {})}
    return execution, events


def test_the_aws_report_and_the_local_run_give_the_same_row(
        nightly: tuple[LocalCloud, Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    stack, good, bad = nightly
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    # GIVEN the records the jobs wrote, in S3 (moto)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=stack.cfg.lake_bucket)
        for key, body in _objects(stack).items():
            s3.put_object(Bucket=stack.cfg.lake_bucket, Key=key, Body=body)
        for run, p_date in ((good, GOOD), (bad, BAD)):
            # WHEN the execution is read the AWS way
            execution, events = _execution(stack, run, p_date)
            record = record_from_sfn(execution, events,
                                     outcomes=OutcomeStore(s3, stack.cfg.lake_uri))
            # THEN its date's row is the one the local run recorded, but the wall seconds
            local = stack.history.get_run(run.run_id).dates or []
            assert [{k: v for k, v in r.items() if k != "seconds"} for r in record["dates"]] \
                == [{k: v for k, v in r.items() if k != "seconds"} for r in local]


def test_a_retry_of_the_same_execution_rewrites_its_records_and_adds_none(
        nightly: tuple[LocalCloud, Any, Any]) -> None:
    stack, good, _ = nightly  # last: it rewrites the good day's records
    before = _objects(stack)
    # WHEN the day's jobs run again under the same execution (a task retry, a redrive)
    for job, extra in ((stack.cfg.transform_job, {}),
                       (stack.cfg.load_job, {"--replace": "false"})):
        run = stack.jobs.start_job_run_sync(JobName=job, Arguments={
            "--p_date": GOOD, "--run_key": good.run_id, **extra})
        assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    # THEN the same objects, both of the good day rewritten
    after = _objects(stack)
    assert sorted(after) == sorted(before)
    assert all(after[k] != before[k] for k in _keys(GOOD, good.run_id, "transform", "load"))
    # AND Athena finds one row per stage of the run through the catalog
    answer = stack.athena().query(
        f"select stage, status from run_outcomes where run_key = '{good.run_id}' order by 1")
    assert answer.rows == [("load", "SUCCEEDED"), ("transform", "SUCCEEDED")]
