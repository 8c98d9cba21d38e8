"""One run per p_date: the deployed definition's lease (AcquireDateLease ... release on every
exit path), run by the local executor against fake Glue and the DynamoDB twin."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from local_aws.dynamodb.table import LocalDynamoDb
from local_aws.sns.client import LocalSns
from local_aws.stepfunctions import AslExecutor, TaskError, load_definition, substitute_placeholders
from local_aws.stepfunctions.history import HistoryStore
from tests.functional.test_state_machine_local import DEFINITION, NAMES, FakeGlue, registry

TABLE = NAMES["LeaseTableName"]
KEY = {"TableName": TABLE, "Key": {"p_date": {"S": "2024-05-01"}}}


@pytest.fixture
def leases(tmp_path: Path) -> LocalDynamoDb:
    return LocalDynamoDb(tmp_path / "dynamodb", {TABLE: "p_date"})


def make_executor(tmp_path: Path, glue: FakeGlue, leases: LocalDynamoDb) -> AslExecutor:
    return AslExecutor(substitute_placeholders(load_definition(DEFINITION), NAMES),
                       registry(glue, LocalSns(tmp_path / "alerts"), leases),
                       history=HistoryStore(tmp_path / "runs"), name="udp-pipeline")


def held_by(leases: LocalDynamoDb, holder: str, expires_at: str = "99999999999999") -> None:
    leases.put_item(**{"TableName": TABLE, "Item": {
        "p_date": {"S": "2024-05-01"}, "holder": {"S": holder},
        "started_at": {"S": "2024-05-02T01:00:00Z"}, "expires_at": {"N": expires_at}}})


def test_the_lease_is_released_after_success_and_after_a_failure(
        tmp_path: Path, leases: LocalDynamoDb) -> None:
    # GIVEN one good day and one whose load keeps failing
    glue = FakeGlue()
    glue.job_faults[("load-job", "2024-05-02")] = [TaskError("States.TaskFailed", "boom")] * 2
    executor = make_executor(tmp_path, glue, leases)
    # WHEN both run
    good = executor.run({"p_date": "2024-05-01"}, label="2024-05-01")
    bad = executor.run({"p_date": "2024-05-02"}, label="2024-05-02")
    # THEN each held its date while running and neither leaves a lease behind
    assert (good.status, bad.status) == ("SUCCEEDED", "FAILED")
    assert bad.error == "States.TaskFailed"  # the failure is the load's, not the lease's
    assert leases.live_items(TABLE) == []


def test_a_second_run_of_a_held_date_is_refused_naming_the_holder_and_touches_nothing(
        tmp_path: Path, leases: LocalDynamoDb) -> None:
    # GIVEN the date held by another, live execution
    held_by(leases, "arn:aws:states:us-east-1:1:execution:udp-pipeline:nightly-1")
    glue = FakeGlue()
    # WHEN a manual rerun of the same date starts
    result = make_executor(tmp_path, glue, leases).run({"p_date": "2024-05-01"})
    # THEN it fails as DateLeased, naming the holder and its start, before any Glue call
    assert (result.status, result.error) == ("FAILED", "DateLeased")
    assert "execution:udp-pipeline:nightly-1" in str(result.cause)
    assert "2024-05-02T01:00:00Z" in str(result.cause)
    assert glue.calls == []
    # AND the holder's lease is still there (a refusal never releases someone else's)
    assert [i["holder"]["S"] for i in leases.live_items(TABLE)] == [
        "arn:aws:states:us-east-1:1:execution:udp-pipeline:nightly-1"]


def test_an_expired_lease_is_taken_over(tmp_path: Path, leases: LocalDynamoDb) -> None:
    # GIVEN a lease whose holder timed out long ago (expires_at in 1970)
    held_by(leases, "timed-out-execution", expires_at="1000")
    glue = FakeGlue()
    # WHEN the date is run again
    result = make_executor(tmp_path, glue, leases).run({"p_date": "2024-05-01"})
    # THEN it takes the date, runs it and releases it
    assert result.status == "SUCCEEDED", result.cause
    assert leases.live_items(TABLE) == []


def test_scheduled_and_manual_runs_of_one_date_at_once_run_it_once(
        tmp_path: Path, leases: LocalDynamoDb) -> None:
    # GIVEN a transform that blocks until released, so the first run holds the date
    glue = FakeGlue()
    entered, release = threading.Event(), threading.Event()
    job_sync = glue.job_sync

    def slow_job(params: dict[str, Any]) -> Any:
        entered.set()
        release.wait(30)
        return job_sync(params)

    executor = make_executor(tmp_path, glue, leases)
    executor.tasks.register("arn:aws:states:::glue:startJobRun.sync", slow_job)
    results: list[Any] = []
    nightly = threading.Thread(target=lambda: results.append(
        executor.run({"scheduled_time": "2024-05-02T02:00:00Z"})))
    nightly.start()
    assert entered.wait(30)
    # WHEN a manual rerun of that date starts while the nightly is in its transform
    manual = executor.run({"p_date": "2024-05-01"})
    release.set()
    nightly.join(30)
    # THEN the manual run was refused and the nightly finished the day alone
    assert manual.error == "DateLeased"
    assert results[0].status == "SUCCEEDED"
    assert [p for j, p in glue.calls if j == "transform-job"] == ["2024-05-01"]
    assert leases.live_items(TABLE) == []
