"""The deployed definition (state_machine.asl.json) run by the local executor against
small fakes of Glue, the SNS twin and the file-backed run history (the range backfill,
backfill.asl.json, is tests/functional/test_backfill_range.py)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from local_aws.dynamodb.table import LocalDynamoDb
from local_aws.sns.client import LocalSns
from local_aws.stepfunctions import (
    AslExecutor,
    TaskError,
    TaskRegistry,
    load_definition,
    placeholders,
    sdk_task,
    substitute_placeholders,
)
from local_aws.stepfunctions.history import HistoryStore, RunNotFoundError
from orchestration.backfill import BACKFILL_DEFINITION, DEFAULT_MAX_CONCURRENT_RUNS
from orchestration.erasure import ERASURE_DEFINITION, ERASURE_PLACEHOLDERS
from orchestration.schedules import p_date_for

ORCH = Path(__file__).resolve().parents[2] / "orchestration"
DEFINITION = ORCH / "state_machine.asl.json"
TOPIC = "arn:aws:sns:us-east-1:000000000000:udp-pipeline-alerts"
NAMES = {"RawCrawlerName": "raw-crawler", "TransformCrawlerName": "transform-crawler",
         "TransformJobName": "transform-job", "LoadJobName": "load-job", "AlertTopicArn": TOPIC,
         "LeaseTableName": "date-leases"}
START_CRAWLER = "arn:aws:states:::aws-sdk:glue:startCrawler"
GET_CRAWLER = "arn:aws:states:::aws-sdk:glue:getCrawler"
JOB_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
DDB = "arn:aws:states:::dynamodb:"


class FakeGlue:
    """Crawlers go RUNNING -> READY after ``polls`` getCrawler calls; jobs succeed unless
    a fault is queued. Thread-safe, and keyed by p_date so backfills can inject per day."""

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls
        self.lock = threading.Lock()
        self.crawls: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.start_faults: dict[str, list[str]] = {}
        self.crawl_outcome: dict[str, tuple[str, str]] = {}
        self.job_faults: dict[tuple[str, str], list[TaskError]] = {}

    def start_crawler(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        with self.lock:
            self.calls.append(("startCrawler", name))
            faults = self.start_faults.get(name, [])
            if faults:
                error = faults.pop(0)
                if error == "Glue.CrawlerRunningException":
                    self._begin(name)
                raise TaskError(error, f"crawler {name}: {error}")
            self._begin(name)
        return {}

    def _begin(self, name: str) -> None:
        self.crawls[name] = {"State": "RUNNING", "polls": 0}

    def get_crawler(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        with self.lock:
            self.calls.append(("getCrawler", name))
            crawl = self.crawls[name]
            crawl["polls"] += 1
            crawler: dict[str, Any] = {"Name": name, "State": "RUNNING"}
            if crawl["polls"] >= self.polls:
                status, message = self.crawl_outcome.get(name, ("SUCCEEDED", ""))
                crawler = {"Name": name, "State": "READY",
                           "LastCrawl": {"Status": status, "ErrorMessage": message,
                                         "LogGroup": "/aws-glue/crawlers"}}
        return {"Crawler": crawler}

    def job_sync(self, params: dict[str, Any]) -> dict[str, Any]:
        job, p_date = params["JobName"], params["Arguments"]["--p_date"]
        with self.lock:
            self.calls.append((job, p_date))
            faults = self.job_faults.get((job, p_date), [])
            if faults:
                raise faults.pop(0)
        return {"Id": f"jr_{job}_{p_date}", "JobName": job, "JobRunState": "SUCCEEDED"}

    def job_calls(self, job: str) -> list[str]:
        return [p for j, p in self.calls if j == job]


@pytest.fixture
def definition() -> dict[str, Any]:
    return substitute_placeholders(load_definition(DEFINITION), NAMES)


@pytest.fixture
def glue() -> FakeGlue:
    return FakeGlue()


@pytest.fixture
def sns(tmp_path: Path) -> LocalSns:
    return LocalSns(tmp_path / "alerts")


@pytest.fixture
def history(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "runs")


def registry(glue: FakeGlue, sns: LocalSns,
             leases: LocalDynamoDb | None = None) -> TaskRegistry:
    # the date leases live next to the alerts unless a test shares one table
    leases = leases or LocalDynamoDb(sns.root.parent / "dynamodb", {"date-leases": "p_date"})
    return TaskRegistry({
        START_CRAWLER: glue.start_crawler,
        GET_CRAWLER: glue.get_crawler,
        JOB_SYNC: glue.job_sync,
        SNS_PUBLISH: lambda p: sns.publish(**p),
        DDB + "putItem": sdk_task(leases.put_item),
        DDB + "getItem": sdk_task(leases.get_item),
        DDB + "deleteItem": sdk_task(leases.delete_item),
    })


@pytest.fixture
def executor(definition: dict[str, Any], glue: FakeGlue, sns: LocalSns,
             history: HistoryStore) -> AslExecutor:
    return AslExecutor(definition, registry(glue, sns), history=history, name="udp-pipeline")


def event_types(history: HistoryStore, run_id: str, kind: str) -> list[str | None]:
    return [e["state"] for e in history.get_run(run_id).events if e["type"] == kind]


# --------------------------------------------------------------------------- the file


def test_definition_file_is_json_with_only_the_deploy_placeholders() -> None:
    # GIVEN the file the infrastructure deploys
    raw = load_definition(DEFINITION)
    # WHEN its placeholders are listed THEN they are exactly the deploy-time names
    assert placeholders(raw) == set(NAMES)
    # (the range backfill runs the same jobs and crawlers and takes the same date leases)
    assert placeholders(load_definition(BACKFILL_DEFINITION)) == set(NAMES)
    # (the erasure runs its own job, takes the same leases and reads from the lake)
    assert placeholders(load_definition(ERASURE_DEFINITION)) == ERASURE_PLACEHOLDERS


def test_backfill_map_concurrency_does_not_exceed_glue_max_concurrent_runs() -> None:
    # GIVEN the backfill Map WHEN its MaxConcurrency is read THEN it respects the Glue limit
    mc = load_definition(BACKFILL_DEFINITION)["States"]["RunEachChunk"]["MaxConcurrency"]
    assert 1 <= mc <= DEFAULT_MAX_CONCURRENT_RUNS


def _asl_validator() -> str | None:
    venv_bin = ORCH.parent / ".venv" / "asl-validator" / "node_modules" / ".bin" / "asl-validator"
    return str(venv_bin) if venv_bin.exists() else shutil.which("asl-validator")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: asl-validator "
                    "(npm registry) cannot run; the Python structural checks still apply")
@pytest.mark.parametrize("path", [DEFINITION, BACKFILL_DEFINITION, ERASURE_DEFINITION],
                         ids=lambda p: p.name)
def test_aws_asl_validator_accepts_the_definitions(path: Path) -> None:
    # GIVEN the AWS asl-validator from the npm registry (installed by `make test`)
    validator = _asl_validator()
    assert validator, ("asl-validator missing: npm install --prefix .venv/asl-validator "
                       "asl-validator@4.0.0")
    # WHEN it checks the file as committed (placeholders are quoted strings)
    proc = subprocess.run([validator, "--json-path", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    # THEN it is valid
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- one date


def test_happy_path_runs_every_stage_in_order_and_records_history(
    executor: AslExecutor, glue: FakeGlue, history: HistoryStore, sns: LocalSns
) -> None:
    # GIVEN crawlers that need two polls and jobs that succeed
    # WHEN the pipeline runs for one date
    result = executor.run({"p_date": "2024-05-01"}, label="2024-05-01")
    # THEN it succeeds, the stages ran in order with --p_date, and no alert was sent
    assert result.status == "SUCCEEDED", result.cause
    order = [c for c in glue.calls if c[0] in ("startCrawler", "transform-job", "load-job")]
    assert order == [("startCrawler", "raw-crawler"), ("transform-job", "2024-05-01"),
                     ("startCrawler", "transform-crawler"), ("load-job", "2024-05-01")]
    assert result.output["load_job"] == {"JobRunId": "jr_load-job_2024-05-01",
                                         "JobRunState": "SUCCEEDED"}
    assert sns.messages() == []
    # AND the history lists the run with its state-by-state events
    [stored] = history.list_runs()
    assert (stored.run_id, stored.status, stored.p_date) == (result.run_id, "SUCCEEDED",
                                                             "2024-05-01")
    assert event_types(history, result.run_id, "StateEntered").count("WaitForRawCrawler") == 2
    assert stored.duration_seconds is not None


def test_crawler_ending_failed_alerts_and_fails_the_run_with_the_cause(
    executor: AslExecutor, glue: FakeGlue, history: HistoryStore, sns: LocalSns
) -> None:
    # GIVEN a raw crawl that ends FAILED
    glue.crawl_outcome["raw-crawler"] = ("FAILED", "Internal service error")
    # WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-02"}, label="2024-05-02")
    # THEN the run failed, nothing downstream ran, and one alert names date, stage and cause
    assert result.status == "FAILED"
    assert result.error == "Crawler.LastCrawlNotSucceeded"
    assert "raw-crawler last crawl FAILED" in (result.cause or "")
    assert glue.job_calls("transform-job") == []
    [alert] = sns.messages(TOPIC)
    assert alert["Subject"] == "udp pipeline FAILED for p_date 2024-05-02"
    assert "p_date=2024-05-02" in alert["Message"]
    assert "stage raw crawl" in alert["Message"]
    assert "Internal service error" in alert["Message"]
    # AND the history shows the failed run with its cause
    stored = history.get_run(result.run_id)
    assert (stored.status, stored.cause) == ("FAILED", result.cause)


def test_transient_throttling_is_retried_then_succeeds(
    executor: AslExecutor, glue: FakeGlue, history: HistoryStore, sns: LocalSns
) -> None:
    # GIVEN a throttled raw crawler start and a transform job hitting ConcurrentRunsExceeded
    glue.start_faults["raw-crawler"] = ["Glue.ThrottlingException"] * 2
    glue.job_faults[("transform-job", "2024-05-03")] = [
        TaskError("Glue.ConcurrentRunsExceededException", "max concurrent runs exceeded")]
    # WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-03"})
    # THEN it succeeded after retries, without any alert
    assert result.status == "SUCCEEDED", result.cause
    retried = event_types(history, result.run_id, "RetryScheduled")
    assert retried == ["StartRawCrawler", "StartRawCrawler", "RunTransformJob"]
    assert glue.job_calls("transform-job") == ["2024-05-03", "2024-05-03"]
    assert sns.messages() == []


def test_transform_dq_breach_is_not_retried_and_the_alert_names_the_rule(
    executor: AslExecutor, glue: FakeGlue, sns: LocalSns
) -> None:
    # GIVEN a transform job failing its data-quality gate
    glue.job_faults[("transform-job", "2024-05-04")] = [TaskError(
        "States.TaskFailed", "DataQualityRuleFailed: rule 'login_uuid_not_null' failed "
        "(12 of 500 rows)")]
    # WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-04"})
    # THEN the job ran once, the run failed, and the alert names the rule
    assert glue.job_calls("transform-job") == ["2024-05-04"]
    assert (result.status, result.failed_state) == ("FAILED", "RunTransformJob")
    [alert] = sns.messages()
    assert "stage transform job" in alert["Message"]
    assert "login_uuid_not_null" in alert["Message"]


def test_crawler_already_running_is_treated_as_started(
    executor: AslExecutor, glue: FakeGlue, history: HistoryStore
) -> None:
    # GIVEN a raw crawler that another execution already started
    glue.start_faults["raw-crawler"] = ["Glue.CrawlerRunningException"]
    # WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-05"})
    # THEN it polled that crawl instead of failing or restarting it, and went on
    assert result.status == "SUCCEEDED", result.cause
    assert glue.calls.count(("startCrawler", "raw-crawler")) == 1
    caught = [e for e in history.get_run(result.run_id).events if e["type"] == "CatchTaken"]
    assert [(e["state"], e["next"]) for e in caught] == [("StartRawCrawler", "WaitForRawCrawler")]


def test_transform_crawler_already_running_waits_and_starts_its_own_crawl(
    executor: AslExecutor, glue: FakeGlue
) -> None:
    # GIVEN a transform crawler busy with another date's crawl
    glue.start_faults["transform-crawler"] = ["Glue.CrawlerRunningException"]
    # WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-06"})
    # THEN it retried the start (so this date's partition gets crawled) and succeeded
    assert result.status == "SUCCEEDED", result.cause
    assert glue.calls.count(("startCrawler", "transform-crawler")) == 2


def test_load_failure_is_retried_once_then_alerts(
    executor: AslExecutor, glue: FakeGlue, sns: LocalSns
) -> None:
    # GIVEN a bulk import that fails twice
    glue.job_faults[("load-job", "2024-05-07")] = [
        TaskError("States.TaskFailed", "connection reset"),
        TaskError("States.TaskFailed", "connection reset again")]
    # WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-07"})
    # THEN the idempotent load was tried twice, then the run failed with an alert
    assert glue.job_calls("load-job") == ["2024-05-07", "2024-05-07"]
    assert result.status == "FAILED"
    assert "stage bulk import" in sns.messages()[0]["Message"]


@pytest.mark.parametrize("scheduled", ["2024-03-01T02:00:00Z", "2025-01-01T00:30:00Z"])
def test_scheduled_time_input_runs_yesterday(executor: AslExecutor, glue: FakeGlue,
                                             scheduled: str) -> None:
    # GIVEN the nightly schedule's input (Scheduler's scheduled-time context attribute)
    # WHEN the pipeline runs
    result = executor.run({"scheduled_time": scheduled})
    # THEN the jobs got the previous UTC day, the same rule schedules.p_date_for states
    assert result.status == "SUCCEEDED", result.cause
    assert glue.job_calls("transform-job") == [p_date_for(scheduled)]


def test_input_without_a_date_fails_clearly(executor: AslExecutor) -> None:
    # GIVEN an empty input WHEN run THEN it fails naming what is needed
    result = executor.run({})
    assert (result.error, result.failed_state) == ("InvalidInput", "InvalidInput")
    assert "p_date" in (result.cause or "")


def test_unknown_run_id_is_a_clear_error(history: HistoryStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        history.get_run("nope")
