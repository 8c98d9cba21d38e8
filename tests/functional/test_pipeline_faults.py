"""The deployed state machine under injected faults, on the real local twins.

One small ingested day in a tmp state folder; the run goes through the real crawler
twin, the Glue jobs twin (real PySpark transform, real PostgreSQL bulk import), the
SNS twin and the file-backed history, then is read back through ``udp status``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from contracts.pipeline import PipelineConfig
from local_aws.backfill_runner import pending_dates
from local_aws.cloud import LocalCloud
from local_aws.glue.jobs import JobFailed, LocalGlueJobs
from local_aws.paths import LocalPaths
from local_aws.scheduler.ingest import DayPlan, simulate_days
from local_aws.stepfunctions import definition_digest, placeholders, render_definition
from local_aws.stepfunctions.history import ABORTED, HistoryStore, RunRecord
from orchestration.state_machine import (
    DEFINITION_PATH,
    PLACEHOLDER_NAMES,
    definition_sha256,
    placeholder_values,
    render_pipeline_definition,
)
from udp_cli import cli

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-03-14"
TOPIC = placeholder_values(PipelineConfig())["AlertTopicArn"]
DQ_MESSAGE = "DQ breach: rule users.row_count: 0 rows (minimum 1)"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder holding one tiny ingested day (20 users)."""
    state = tmp_path_factory.mktemp("udp-faults")
    stack = LocalCloud(state)
    simulate_days([DayPlan(date.fromisoformat(DAY), 1, 1, 20)], stack)
    stack.close()
    return state


@pytest.fixture(scope="module")
def stack(state_dir: Path) -> Iterator[LocalCloud]:
    # Waits and retry intervals scaled down 1000x: a 30 s poll takes 30 ms.
    with LocalCloud(state_dir, wait_scale=0.001) as local:
        yield local


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").jobs.clear_faults()


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``udp`` tables print on one line each, as in a wide terminal."""
    monkeypatch.setattr(cli.console, "width", 240)


def udp(*args: str) -> int:
    return cli.main(list(args))


def alerts_for(stack: LocalCloud, day: str) -> list[dict[str, Any]]:
    return [m for m in stack.sns.messages(TOPIC) if f"p_date={day}" in m["Message"]]


def events(stack: LocalCloud, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in stack.history.get_run(run_id).events if e["type"] == kind]


def job_runs(stack: LocalCloud, job: str, run_count_before: int) -> list[dict[str, Any]]:
    return [r for r in stack.jobs.runs[run_count_before:] if r["JobName"] == job]


# --------------------------------------------------------------------------- fault (a)


def test_raw_crawl_ending_failed_alerts_and_fails_the_run_with_the_cause(
    stack: LocalCloud, state_dir: Path, capsys: pytest.CaptureFixture[str],
    wide_console: None,
) -> None:
    # GIVEN a raw crawl that will end FAILED
    cfg = stack.cfg
    stack.crawlers.inject_failure(cfg.raw_crawler, "S3 listing timed out (injected)")
    alerts_before, runs_before = len(stack.sns.messages(TOPIC)), len(stack.jobs.runs)
    # WHEN the state machine runs for the day
    result = stack.run_pipeline(DAY)
    # THEN the run FAILED with a cause naming the crawler, its status and its message
    assert result.status == "FAILED"
    assert result.error == "Crawler.LastCrawlNotSucceeded"
    assert f"crawler {cfg.raw_crawler} last crawl FAILED" in (result.cause or "")
    assert "S3 listing timed out (injected)" in (result.cause or "")
    # AND the Catch path ran: no Glue job started, one readable alert was published
    assert stack.jobs.runs[runs_before:] == []
    new_alerts = stack.sns.messages(TOPIC)[alerts_before:]
    assert len(new_alerts) == 1
    alert = new_alerts[0]
    assert alert["Subject"] == f"udp pipeline FAILED for p_date {DAY}"
    assert f"p_date={DAY} failed in stage raw crawl" in alert["Message"]
    assert "S3 listing timed out (injected)" in alert["Message"]
    # AND the history holds the failed run with the cause, which `udp status` lists
    stored = stack.history.get_run(result.run_id)
    assert (stored.status, stored.cause) == ("FAILED", result.cause)
    assert udp("--state-dir", str(state_dir), "status") == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if result.run_id in ln]
    assert DAY in line and "FAILED" in line and "raw crawl" in line


# --------------------------------------------------------------------------- fault (b)


def test_transient_glue_errors_are_retried_then_the_run_succeeds(stack: LocalCloud) -> None:
    # GIVEN StartJobRun throttled twice for the transform, and the bulk import refused
    # once with ConcurrentRunsExceeded (the backfill hazard)
    cfg = stack.cfg
    stack.jobs.inject_error(cfg.transform_job, "ThrottlingException", times=2)
    stack.jobs.inject_error(cfg.load_job, "ConcurrentRunsExceededException", times=1)
    alerts_before, runs_before = len(stack.sns.messages(TOPIC)), len(stack.jobs.runs)
    rejected_before = len(stack.jobs.rejected)
    # WHEN the state machine runs for the day
    result = stack.run_pipeline(DAY)
    # THEN it succeeded after exactly those retries, each job ran once, no alert went out
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    retries = [(e["state"], e["error"]) for e in events(stack, result.run_id, "RetryScheduled")]
    assert retries == [("RunTransformJob", "Glue.ThrottlingException"),
                       ("RunTransformJob", "Glue.ThrottlingException"),
                       ("RunBulkImport", "Glue.ConcurrentRunsExceededException")]
    assert [r["Code"] for r in stack.jobs.rejected[rejected_before:]] == [
        "ThrottlingException", "ThrottlingException", "ConcurrentRunsExceededException"]
    for job, extra in ((cfg.transform_job, {}), (cfg.load_job, {"--replace": "false"})):
        [run] = job_runs(stack, job, runs_before)
        assert (run["JobRunState"], run["Arguments"]) == (
            "SUCCEEDED", {"--p_date": DAY, **extra, "--run_key": result.run_id})
    with stack.warehouse.connect() as conn:
        loaded = conn.execute("select count(*) from analytics.users where p_date = %s",
                              (DAY,)).fetchone()
    assert loaded == (20,)
    assert len(stack.sns.messages(TOPIC)) == alerts_before


# --------------------------------------------------------------------------- fault (c)


def test_transform_dq_breach_is_not_retried_and_the_alert_names_the_rule(
    stack: LocalCloud, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a transform job whose data-quality gate fails (stands in for the issue-5 gate:
    # the job raises with the rule in its message, the run ends FAILED)
    cfg = stack.cfg
    calls: list[dict[str, str]] = []

    def breaching_transform(args: dict[str, str]) -> dict[str, Any]:
        calls.append(args)
        raise JobFailed(DQ_MESSAGE)

    monkeypatch.setitem(stack.jobs.jobs, cfg.transform_job, breaching_transform)
    alerts_before, runs_before = len(stack.sns.messages(TOPIC)), len(stack.jobs.runs)
    # WHEN the state machine runs for the day
    result = stack.run_pipeline(DAY)
    # THEN the job ran once (a breach is deterministic: no retry) and nothing downstream ran
    assert calls == [{"--p_date": DAY, "--run_key": result.run_id}]
    assert events(stack, result.run_id, "RetryScheduled") == []
    assert [r["JobName"] for r in stack.jobs.runs[runs_before:]] == [cfg.transform_job]
    # AND the run failed in the transform with the rule in its cause
    assert (result.status, result.failed_state, result.error) == (
        "FAILED", "RunTransformJob", "States.TaskFailed")
    assert "users.row_count" in (result.cause or "")
    # AND the alert names the date, the stage and the rule
    new_alerts = stack.sns.messages(TOPIC)[alerts_before:]
    assert len(new_alerts) == 1
    message = new_alerts[0]["Message"]
    assert f"p_date={DAY} failed in stage transform job" in message
    assert "DQ breach: rule users.row_count: 0 rows (minimum 1)" in message


# --------------------------------------------------------------------------- udp status


def test_udp_status_run_id_shows_the_state_by_state_history_and_the_cause(
    stack: LocalCloud, state_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], wide_console: None,
) -> None:
    # GIVEN a run that failed in the transform job
    stack.jobs.inject_run_failure(stack.cfg.transform_job, DQ_MESSAGE)
    result = stack.run_pipeline(DAY)
    assert result.status == "FAILED"
    capsys.readouterr()
    # WHEN `udp status RUN_ID` shows it
    assert udp("--state-dir", str(state_dir), "status", result.run_id) == 0
    out = capsys.readouterr().out
    # THEN the header gives the date and status, the table walks the states in order ...
    assert f"run {result.run_id} ({DAY}): FAILED" in out
    visited = [s for s in ("StartRawCrawler", "GetRawCrawler", "RunTransformJob",
                           "TransformFailed", "NotifyFailure", "PipelineFailed")
               if s in out]
    assert visited == ["StartRawCrawler", "GetRawCrawler", "RunTransformJob",
                       "TransformFailed", "NotifyFailure", "PipelineFailed"]
    assert out.index("StartRawCrawler") < out.index("RunTransformJob") < out.index(
        "NotifyFailure")
    assert "StartTransformCrawler" not in out
    # ... and the last line names the failed state and the rule
    flat = " ".join(out.split())
    assert "failed in RunTransformJob: States.TaskFailed:" in flat
    assert "users.row_count" in flat


def test_udp_status_for_an_unknown_run_is_a_one_line_error(
    state_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN no such run WHEN asked for it THEN exit 2 with one line naming it
    assert udp("--state-dir", str(state_dir), "status", "no-such-run") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["udp: error: no run 'no-such-run'; `udp status` lists them"]


# --------------------------------------------------------------------------- same file


def test_the_run_records_the_sha256_of_the_very_file_the_infrastructure_deploys(
    stack: LocalCloud,
) -> None:
    # GIVEN a run on the local twins (any outcome)
    stack.crawlers.inject_failure(stack.cfg.raw_crawler, "short run")
    result = stack.run_pipeline(DAY)
    stored = stack.history.get_run(result.run_id)
    file_bytes = DEFINITION_PATH.read_bytes()
    # THEN the history names the file's bytes, unchanged ...
    assert stored.definition_sha256 == hashlib.sha256(file_bytes).hexdigest()
    assert stored.definition_sha256 == definition_sha256()
    # ... and what ran is that file with only its placeholders substituted
    values = placeholder_values(stack.cfg)
    rendered = render_definition(file_bytes.decode("utf-8"), values)
    assert stored.executed_sha256 == definition_digest(json.loads(rendered))
    assert rendered == render_pipeline_definition(stack.cfg)


def test_substitution_changes_nothing_but_the_deploy_placeholders() -> None:
    # GIVEN the committed file and the deploy-time names
    text = DEFINITION_PATH.read_text(encoding="utf-8")
    values = placeholder_values(PipelineConfig(), account="123456789012", region="eu-west-1")
    # WHEN substituted as Step Functions' DefinitionSubstitutions would
    rendered = render_definition(text, values)
    # THEN the placeholders are exactly the documented ones, and between them the
    # rendered text is the file's text character for character
    assert placeholders(json.loads(text)) == PLACEHOLDER_NAMES == set(values)
    pieces = re.split(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)
    literals, names = pieces[0::2], pieces[1::2]
    pattern = "(.+?)".join(re.escape(lit) for lit in literals)
    match = re.fullmatch(pattern, rendered, flags=re.DOTALL)
    assert match is not None
    assert list(match.groups()) == [values[n] for n in names]
    assert "arn:aws:sns:eu-west-1:123456789012:udp-pipeline-alerts" in match.groups()


# --------------------------------------------------------------------------- killed runs

_HANGING_RUN = """
import sys, time
from pathlib import Path
from local_aws.stepfunctions import AslExecutor, TaskRegistry
from contracts.pipeline import PipelineConfig
from local_aws.stepfunctions.history import HistoryStore
from orchestration.state_machine import load_pipeline_definition

marker = Path(sys.argv[2])

def hang(params):
    marker.write_text("crawler started")
    time.sleep(600)

def unused(params):
    raise AssertionError("not reached")

registry = TaskRegistry({
    "arn:aws:states:::aws-sdk:glue:startCrawler": hang,
    "arn:aws:states:::aws-sdk:glue:getCrawler": unused,
    "arn:aws:states:::glue:startJobRun.sync": unused,
    "arn:aws:states:::sns:publish": unused,
    "arn:aws:states:::dynamodb:putItem": lambda params: {},  # the date lease: granted
    "arn:aws:states:::dynamodb:getItem": unused,
    "arn:aws:states:::dynamodb:deleteItem": unused,
})
executor = AslExecutor(load_pipeline_definition(PipelineConfig()), registry,
                       history=HistoryStore(sys.argv[1]), name="udp-pipeline")
executor.run({"p_date": sys.argv[3]}, label=sys.argv[3])
"""


def test_a_run_whose_process_was_killed_is_reported_aborted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wide_console: None,
) -> None:
    # GIVEN a pipeline run in another process, stuck in its first Task
    runs, marker, day = LocalPaths(tmp_path).runs, tmp_path / "started", "2026-03-15"
    proc = subprocess.Popen([sys.executable, "-c", _HANGING_RUN, str(runs), str(marker), day],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the run's process ended early"
            assert time.monotonic() < deadline, "the run never reached its first Task"
            time.sleep(0.05)
        # WHILE it is alive it is RUNNING
        history = HistoryStore(runs)
        [running] = history.list_runs()
        assert (running.status, running.pid) == ("RUNNING", proc.pid)
        # WHEN its process is killed
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    # THEN readers report it ABORTED, where it stopped and why, and write that down
    [aborted] = history.list_runs()
    assert (aborted.status, aborted.failed_state) == (ABORTED, "StartRawCrawler")
    assert f"pid {proc.pid}" in (aborted.cause or "") and aborted.stopped_at is not None
    on_disk = RunRecord.from_json(json.loads((runs / f"{aborted.run_id}.json").read_text()))
    assert on_disk.status == ABORTED
    # AND `udp status` shows it, and a backfill would run that date again
    assert udp("--state-dir", str(tmp_path), "status") == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if aborted.run_id in ln]
    assert "ABORTED" in line and "StartRawCrawler" in line
    assert pending_dates([day], history, force=False) == ([day], [])


# --------------------------------------------------------------------------- Glue twin


def _echo(args: dict[str, str]) -> dict[str, Any]:
    return {"p_date": args.get("--p_date")}


def test_glue_twin_faults_apply_only_when_and_as_often_as_asked() -> None:
    # GIVEN a fault limited to one date and two calls, and a run failure for another date
    jobs = LocalGlueJobs({"t": _echo})
    jobs.inject_error("t", "ThrottlingException", times=2,
                      when=lambda a: a["--p_date"] == "2026-01-02")
    jobs.inject_run_failure("t", "DQ breach: rule r", times=None,
                            when=lambda a: a["--p_date"] == "2026-01-03")

    def start(day: str) -> dict[str, Any]:
        return jobs.start_job_run_sync(JobName="t", Arguments={"--p_date": day})

    # WHEN / THEN other dates are untouched
    assert start("2026-01-01")["JobRunState"] == "SUCCEEDED"
    # AND the throttled date is refused twice with the Glue error, then runs
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            start("2026-01-02")
        assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert start("2026-01-02")["Output"] == {"p_date": "2026-01-02"}
    # AND the failing date's runs end FAILED every time with the message
    for _ in range(2):
        run = start("2026-01-03")
        assert (run["JobRunState"], run["ErrorMessage"]) == ("FAILED",
                                                             "JobFailed: DQ breach: rule r")
    assert [r["Code"] for r in jobs.rejected] == ["ThrottlingException"] * 2


def test_glue_twin_refuses_faults_for_unknown_jobs_and_bad_counts() -> None:
    jobs = LocalGlueJobs({"t": _echo})
    with pytest.raises(ValueError, match="unknown job 'typo'"):
        jobs.inject_error("typo")
    with pytest.raises(ValueError, match="times must be >= 1"):
        jobs.inject_run_failure("t", "x", times=0)


def test_glue_twin_enforces_max_concurrent_runs() -> None:
    # GIVEN a job limited to one concurrent run, with one run in progress
    import threading

    entered, release = threading.Event(), threading.Event()

    def slow(args: dict[str, str]) -> dict[str, Any]:
        entered.set()
        release.wait(30)
        return {}

    jobs = LocalGlueJobs({"t": slow}, max_concurrent_runs=1)
    first = threading.Thread(target=jobs.start_job_run_sync, kwargs={"JobName": "t"})
    first.start()
    assert entered.wait(30)
    # WHEN a second run is started THEN Glue's ConcurrentRunsExceededException
    try:
        with pytest.raises(ClientError) as info:
            jobs.start_job_run_sync(JobName="t")
        assert info.value.response["Error"]["Code"] == "ConcurrentRunsExceededException"
    finally:
        release.set()
        first.join(30)
    # AND once the first ended, a new run starts
    assert jobs.start_job_run_sync(JobName="t")["JobRunState"] == "SUCCEEDED"


# --------------------------------------------------------------------------- backfill CLI


def test_backfill_concurrency_above_glue_max_concurrent_runs_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the Glue jobs' MaxConcurrentRuns
    limit = PipelineConfig().max_concurrent_runs
    # WHEN a backfill asks for more
    code = udp("--state-dir", str(tmp_path), "backfill", "--from", "2026-01-01",
               "--to", "2026-01-30", "--concurrency", str(limit + 1))
    # THEN it is refused before anything runs: exit 2, one line naming the limit
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2
    assert err == [f"udp: error: concurrency must be between 1 and the Glue jobs' "
                   f"MaxConcurrentRuns ({limit}), got {limit + 1}"]
    assert HistoryStore(LocalPaths(tmp_path).runs).list_runs() == []
