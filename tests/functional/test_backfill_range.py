"""Range backfills (backfill.asl.json) on the local executor against a fake Glue that
understands chunks: resume, per-date results, a failure costing one chunk (or one date),
the AWS Map over ``States.ArrayPartition``, and the history/report views of a chunk."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.dates import p_date_range
from contracts.pipeline import PipelineConfig
from contracts.run_outcomes import LOAD, TRANSFORM, OutcomeStore, outcome_record
from glue_jobs.chunk import date_run_id
from local_aws.backfill_runner import date_results, pending_dates, run_backfill, run_chunk
from local_aws.dynamodb.table import LocalDynamoDb
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore
from local_aws.sns.client import LocalSns
from local_aws.stepfunctions import AslExecutor, TaskError, TaskRegistry, sdk_task
from local_aws.stepfunctions.history import HistoryStore
from orchestration.backfill import (
    CHUNK_STATE,
    BackfillError,
    DateResult,
    aws_input,
    chunks,
    load_backfill_definition,
)
from tests.functional.test_state_machine_local import (
    GET_CRAWLER,
    JOB_SYNC,
    NAMES,
    SNS_PUBLISH,
    START_CRAWLER,
    FakeGlue,
)
from udp_cli.report.local import expand_chunks

DDB_PUT = "arn:aws:states:::dynamodb:putItem"
DDB_GET = "arn:aws:states:::dynamodb:getItem"
DDB_DELETE = "arn:aws:states:::dynamodb:deleteItem"


class ChunkGlue(FakeGlue):
    """Jobs take ``--p_dates`` + ``--run_key``: the transform reports a date listed in
    ``breach`` as a DQ failure (and still succeeds), the load fails naming the dates it
    did not load, like ``glue_jobs.bulk_import.main_dates``. Each job writes every date's
    ``run_outcomes`` record to the S3 twin, as the real jobs do; the runner reads them
    there (``outcomes``)."""

    def __init__(self, s3_root: Path) -> None:
        super().__init__(polls=1)
        self.outcomes = OutcomeStore(LocalS3(LocalObjectStore(s3_root)),
                                     PipelineConfig().lake_uri)
        self.breach: set[str] = set()
        self.load_crash: set[str] = set()
        self.outputs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.runs: list[tuple[str, list[str]]] = []
        self.replace_args: list[str] = []
        self._out_lock = threading.Lock()

    def job_sync(self, params: dict[str, Any]) -> dict[str, Any]:
        job, args = params["JobName"], params["Arguments"]
        days, key = json.loads(args["--p_dates"]), args["--run_key"]
        with self._out_lock:
            self.runs.append((job, days))
        if job == "load-job" and set(days) & self.load_crash:
            raise TaskError("States.TaskFailed", json.dumps({"JobRunState": "FAILED",
                                                             "ErrorMessage": "node lost"}))
        if job == "transform-job":
            out = [{"p_date": d, "run_id": date_run_id(key, d), "rows_written": 5,
                    "dq_passed": d not in self.breach,
                    "status": "FAILED" if d in self.breach else "SUCCEEDED",
                    **({"error": "DQBreach", "cause": "users.row_count"}
                       if d in self.breach else {})} for d in days]
            self._keep(key, "transform", out)
            self._record(key, TRANSFORM, out)
        else:
            self.replace_args.append(args["--replace"])
            published = {r["p_date"] for r in self.outputs[key]["transform"]
                         if r["status"] == "SUCCEEDED"}
            out = [{"p_date": d, "status": "SUCCEEDED", "rows_staged": 5} if d in published
                   else {"p_date": d, "status": "FAILED", "error": "InvalidLoadRequest",
                         "cause": "not published"} for d in days]
            self._keep(key, "load", out)
            self._record(key, LOAD, out)
            if len(published) < len(days):
                raise TaskError("States.TaskFailed", json.dumps(
                    {"JobRunState": "FAILED", "ErrorMessage": "DatesNotLoaded"}))
        return {"Id": f"jr_{job}_{key}", "JobName": job, "JobRunState": "SUCCEEDED"}

    def _record(self, key: str, stage: str, out: list[dict[str, Any]]) -> None:
        for d in out:
            self.outcomes.write(outcome_record(
                p_date=d["p_date"], run_key=key, stage=stage, status=d["status"],
                finished_at=datetime.now(UTC), stage_run_id=d.get("run_id"),
                error=d.get("error"), cause=d.get("cause"),
                rows_read=d.get("rows_staged"),
                rows_written=d.get("rows_written", d.get("rows_staged")),
                dq_passed=d.get("dq_passed")))

    def _keep(self, key: str, job: str, out: list[dict[str, Any]]) -> None:
        with self._out_lock:
            self.outputs.setdefault(key, {})[job] = out

    def dates_run(self, job: str) -> list[str]:
        return sorted(d for j, days in self.runs if j == job for d in days)


@pytest.fixture
def glue(tmp_path: Path) -> ChunkGlue:
    return ChunkGlue(tmp_path / "s3")


@pytest.fixture
def sns(tmp_path: Path) -> LocalSns:
    return LocalSns(tmp_path / "alerts")


@pytest.fixture
def history(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "runs")


LEASES = PipelineConfig().lease_table
"""The lease table the chunk definition names (PipelineConfig's, as the local stack)."""


def _leases(sns: LocalSns) -> LocalDynamoDb:
    # the date leases live next to the alerts: one table per test
    return LocalDynamoDb(sns.root.parent / "dynamodb", {LEASES: "p_date"})


def _hold(leases: LocalDynamoDb, p_date: str, holder: str, started_at: str) -> None:
    """``p_date``'s lease taken by ``holder`` (another, live execution), never expiring."""
    leases.put_item(**{"TableName": LEASES, "Item": {
        "p_date": {"S": p_date}, "holder": {"S": holder},
        "started_at": {"S": started_at}, "expires_at": {"N": "99999999999999"}}})


def _registry(glue: ChunkGlue, sns: LocalSns) -> TaskRegistry:
    leases = _leases(sns)
    return TaskRegistry({START_CRAWLER: glue.start_crawler, GET_CRAWLER: glue.get_crawler,
                         JOB_SYNC: glue.job_sync, SNS_PUBLISH: lambda p: sns.publish(**p),
                         DDB_PUT: sdk_task(leases.put_item),
                         DDB_GET: sdk_task(leases.get_item),
                         DDB_DELETE: sdk_task(leases.delete_item)})


def _full_definition() -> Any:
    from orchestration.definition import LoadedDefinition, substitute_placeholders

    loaded = load_backfill_definition(PipelineConfig())
    return LoadedDefinition(substitute_placeholders(dict(loaded), {}), loaded.source)


def _chunk_executor(glue: ChunkGlue, sns: LocalSns, history: HistoryStore) -> AslExecutor:
    from orchestration.backfill import chunk_definition

    # the fake's names are the test's; the local stack uses PipelineConfig's
    definition = json.loads(json.dumps(chunk_definition(PipelineConfig())))
    text = json.dumps(definition)
    cfg = PipelineConfig()
    for ours, name in ((cfg.raw_crawler, NAMES["RawCrawlerName"]),
                       (cfg.transform_crawler, NAMES["TransformCrawlerName"]),
                       (cfg.transform_job, NAMES["TransformJobName"]),
                       (cfg.load_job, NAMES["LoadJobName"])):
        text = text.replace(f'"{ours}"', f'"{name}"')
    return AslExecutor(json.loads(text), _registry(glue, sns), history=history,
                       name="udp-backfill")


def _runner(glue: ChunkGlue, sns: LocalSns, history: HistoryStore) -> Any:
    executor = _chunk_executor(glue, sns, history)

    def run(dates: list[str]) -> list[DateResult]:
        return run_chunk(executor, dates, glue.outcomes, history)
    return run


# --------------------------------------------------------------------------- the plan


def test_chunks_cut_in_order_like_array_partition() -> None:
    # GIVEN ten dates WHEN cut in chunks of 4 THEN 4, 4, 2, in order
    days = p_date_range("2024-01-01", "2024-01-10")
    assert [len(c) for c in chunks(days, 4)] == [4, 4, 2]
    assert [d for c in chunks(days, 4) for d in c] == days
    # AND a chunk size outside 1..31 is refused
    for bad in (0, 32):
        with pytest.raises(BackfillError, match="chunk size"):
            chunks(days, bad)


def test_aws_input_is_the_dates_and_the_chunk_size() -> None:
    assert aws_input(["2024-01-01", "2024-01-02"], 7) == {
        "dates": ["2024-01-01", "2024-01-02"], "chunk_size": 7}
    assert aws_input(["2024-01-01"], 3, replace=True)["replace"] is True


# --------------------------------------------------------------------------- local runner


def test_30_days_one_dq_breach_finishes_the_others_and_rerun_does_only_it(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    # GIVEN 30 dates, one of which breaches the data-quality gate
    days = p_date_range("2024-04-01", "2024-04-30")
    glue.breach = {"2024-04-17"}
    seen: list[tuple[str, int, int]] = []

    def progress(result: DateResult, done: int, total: int) -> None:
        seen.append((result.p_date, done, total))

    # WHEN backfilled in chunks of 7, two at a time
    results = run_backfill(days, _runner(glue, sns, history), concurrency=2, force=False,
                           history=history, chunk_size=7, progress=progress)
    # THEN 5 chunks ran: one transform and one load run each
    assert len([j for j, _ in glue.runs if j == "transform-job"]) == 5
    assert len([j for j, _ in glue.runs if j == "load-job"]) == 5
    # AND 29 dates succeeded, the breach is reported against the transform, per date
    by_status = {r.p_date: r.status for r in results}
    assert [r.p_date for r in results] == days
    assert [d for d, s in by_status.items() if s != "SUCCEEDED"] == ["2024-04-17"]
    failed = next(r for r in results if r.status == "FAILED")
    assert (failed.failed_state, failed.error, failed.dq_passed) == (
        "RunTransformJob", "DQBreach", False)
    assert {r.loaded for r in results if r.status == "SUCCEEDED"} == {5}
    assert sorted(d for d, _, _ in seen) == days and seen[-1][1:] == (30, 30)
    # AND one alert went out, for the chunk holding the date
    [alert] = sns.messages()
    assert alert["Subject"] == "udp backfill FAILED for p_dates 2024-04-15 to 2024-04-21"
    # WHEN rerun without force, with the data fixed
    glue.breach.clear()
    glue.runs.clear()
    again = run_backfill(days, _runner(glue, sns, history), concurrency=2, force=False,
                         history=history, chunk_size=7)
    # THEN only that date ran (one chunk of one date), and succeeded
    assert glue.runs == [("transform-job", ["2024-04-17"]), ("load-job", ["2024-04-17"])]
    assert {r.status for r in again if r.p_date != "2024-04-17"} == {"SKIPPED"}
    assert next(r for r in again if r.p_date == "2024-04-17").status == "SUCCEEDED"


def test_a_crashed_load_costs_its_chunk_only_and_the_rerun_redoes_that_chunk(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    # GIVEN a load that dies for the chunk holding 2024-05-09
    days = p_date_range("2024-05-01", "2024-05-14")
    glue.load_crash = {"2024-05-09"}
    # WHEN backfilled in chunks of 7
    results = run_backfill(days, _runner(glue, sns, history), concurrency=1, force=False,
                           history=history, chunk_size=7)
    # THEN the first chunk succeeded, the second failed as a whole, at the load
    assert {r.p_date for r in results if r.status == "SUCCEEDED"} == set(days[:7])
    assert {(r.status, r.failed_state) for r in results[7:]} == {("FAILED", "RunBulkImport")}
    # WHEN rerun THEN only the second chunk's dates run
    glue.load_crash.clear()
    glue.runs.clear()
    again = run_backfill(days, _runner(glue, sns, history), concurrency=1, force=False,
                         history=history, chunk_size=7)
    assert glue.dates_run("transform-job") == days[7:]
    assert [r.status for r in again] == ["SKIPPED"] * 7 + ["SUCCEEDED"] * 7


def test_force_reruns_everything_and_a_crashing_chunk_runner_fails_only_its_dates(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    days = p_date_range("2024-06-01", "2024-06-04")
    run = _runner(glue, sns, history)
    run_backfill(days, run, concurrency=1, force=False, history=history, chunk_size=2)
    glue.runs.clear()
    # GIVEN every date succeeded WHEN backfilled with force THEN all ran again
    run_backfill(days, run, concurrency=1, force=True, history=history, chunk_size=2)
    assert glue.dates_run("transform-job") == days

    # GIVEN a chunk runner that crashes on the first chunk
    def crashing(dates: list[str]) -> list[DateResult]:
        if dates[0] == days[0]:
            raise RuntimeError("worker died")
        return run(dates)

    results = run_backfill(days, crashing, concurrency=2, force=True, history=history,
                           chunk_size=2)
    # THEN its dates failed with the cause, the other chunk succeeded
    assert [r.status for r in results] == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert results[0].cause == "worker died"


def test_concurrency_above_glue_max_concurrent_runs_is_refused(history: HistoryStore) -> None:
    with pytest.raises(BackfillError, match="MaxConcurrentRuns"):
        run_backfill(["2024-01-01"], lambda d: pytest.fail("must not run"), concurrency=3,
                     force=False, history=history, max_concurrent_runs=2)


def test_the_replace_field_flows_to_the_load(glue: ChunkGlue, sns: LocalSns,
                                             history: HistoryStore) -> None:
    # GIVEN a chunk run with replace WHEN it runs THEN the load gets --replace true
    executor = _chunk_executor(glue, sns, history)
    run_chunk(executor, ["2024-02-01"], glue.outcomes, history,
              replace=True)
    assert glue.replace_args == ["true"]


def test_a_chunk_with_a_date_leased_elsewhere_is_refused_and_the_other_chunk_runs(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    # GIVEN 2024-07-03 held by a live nightly run of another execution
    nightly = "arn:aws:states:us-east-1:1:execution:udp-pipeline:nightly-7"
    leases = _leases(sns)
    _hold(leases, "2024-07-03", nightly, "2024-07-04T01:00:00Z")
    days = p_date_range("2024-07-01", "2024-07-04")
    # WHEN backfilled in chunks of 2 (the second chunk holds the leased date)
    results = run_backfill(days, _runner(glue, sns, history), concurrency=1, force=False,
                           history=history, chunk_size=2)
    # THEN the first chunk ran and succeeded
    assert [r.status for r in results[:2]] == ["SUCCEEDED", "SUCCEEDED"]
    # AND the second chunk failed as DateLeased, naming the date and its holder, having
    # started no Glue job for its dates
    refused = results[2:]
    assert {(r.status, r.error, r.failed_state) for r in refused} == {
        ("FAILED", "DateLeased", "AcquireChunkLeases")}
    assert all("2024-07-03" in str(r.cause) and nightly in str(r.cause) for r in refused)
    assert glue.dates_run("transform-job") == days[:2]
    # AND the first chunk's leases are released, the holder's lease is untouched
    assert [(i["p_date"]["S"], i["holder"]["S"]) for i in leases.live_items(LEASES)] == [
        ("2024-07-03", nightly)]


def test_a_refused_chunk_releases_the_leases_it_already_took(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    # GIVEN the LAST date of a chunk held by another run (the chunk takes the first two)
    nightly = "arn:aws:states:us-east-1:1:execution:udp-pipeline:manual-3"
    leases = _leases(sns)
    _hold(leases, "2024-09-03", nightly, "2024-09-04T09:00:00Z")
    days = ["2024-09-01", "2024-09-02", "2024-09-03"]
    # WHEN the chunk runs
    results = _runner(glue, sns, history)(days)
    # THEN it is refused naming the holder, no job ran, no alert went out (the holder
    # owns the day, as for a refused nightly)
    assert {(r.status, r.error) for r in results} == {("FAILED", "DateLeased")}
    assert nightly in str(results[0].cause) and glue.runs == []
    assert sns.messages() == []
    # AND the leases it took on 09-01 and 09-02 are gone; only the holder's remains
    assert [(i["p_date"]["S"], i["holder"]["S"]) for i in leases.live_items(LEASES)] == [
        ("2024-09-03", nightly)]
    # AND a chunk that succeeds leaves no lease behind once the holder is done
    leases.delete_item(**{"TableName": LEASES, "Key": {"p_date": {"S": "2024-09-03"}}})
    again = _runner(glue, sns, history)(days)
    assert {r.status for r in again} == {"SUCCEEDED"}
    assert leases.live_items(LEASES) == []


def test_a_chunk_lease_expires_six_hours_after_the_chunk_starts_within_the_timeout(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    # GIVEN a lease table that records what each put wrote
    leases = _leases(sns)
    puts: list[dict[str, Any]] = []

    def put(params: dict[str, Any]) -> dict[str, Any]:
        puts.append(params["Item"])
        return leases.put_item(**params)

    executor = AslExecutor(_chunk_executor(glue, sns, history).definition, TaskRegistry({
        START_CRAWLER: glue.start_crawler, GET_CRAWLER: glue.get_crawler,
        JOB_SYNC: glue.job_sync, SNS_PUBLISH: lambda p: sns.publish(**p), DDB_PUT: put,
        DDB_GET: sdk_task(leases.get_item), DDB_DELETE: sdk_task(leases.delete_item)}),
        history=history, name="udp-backfill")
    # WHEN a chunk of two dates runs
    [first, _] = run_chunk(executor, ["2024-10-01", "2024-10-02"], glue.outcomes, history)
    # THEN each date's lease was held by the chunk's execution, expiring 6 h after it began
    assert first.status == "SUCCEEDED"
    assert [i["p_date"]["S"] for i in puts] == ["2024-10-01", "2024-10-02"]
    started = datetime.fromisoformat(puts[0]["started_at"]["S"].replace("Z", "+00:00"))
    for item in puts:
        assert item["holder"]["S"].endswith(first.run_id)
        held_for = int(item["expires_at"]["N"]) / 1000 - started.timestamp()
        assert 6 * 3600 <= held_for < 6 * 3600 + 60
    # AND the expiry cap in the definition is the execution's own TimeoutSeconds
    full = load_backfill_definition(PipelineConfig())
    prepare = full["States"][CHUNK_STATE]["ItemProcessor"]["States"]["PrepareChunkLeases"]
    assert f"+ {full['TimeoutSeconds'] * 1000}" in prepare["Output"]


# --------------------------------------------------------------------------- views


def test_history_and_report_show_a_chunk_per_date(glue: ChunkGlue, sns: LocalSns,
                                                  history: HistoryStore) -> None:
    # GIVEN one chunk of three dates, the middle one breaching
    glue.breach = {"2024-03-02"}
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    [first, *_] = _runner(glue, sns, history)(days)
    record = history.get_run(first.run_id)
    # THEN the run covers each date, with each date's own status
    assert [history.last_run(d).run_id for d in days] == [first.run_id] * 3  # type: ignore[union-attr]
    assert [record.status_of(d) for d in days] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert record.p_date is None and record.label == "2024-03-01..2024-03-03"
    # AND the report's records are one per date, with the date's job outputs
    rows = expand_chunks([record.to_json()])
    assert [(r["label"], r["status"]) for r in rows] == [
        ("2024-03-01", "SUCCEEDED"), ("2024-03-02", "FAILED"), ("2024-03-03", "SUCCEEDED")]
    assert rows[0]["date_row"]["load"]["rows_staged"] == 5
    # AND resume would run only the failed date
    assert pending_dates(days, history, force=False) == (["2024-03-02"], [days[0], days[2]])


def test_a_chunk_stopped_before_any_job_names_the_chunk_failure() -> None:
    # GIVEN a chunk whose raw crawl failed (no job output at all)
    run = {"status": "SUCCEEDED", "output": {"status": "FAILED", "error": "Glue.Boom",
                                             "cause": "crawler"}}
    # WHEN turned into per-date results THEN each date carries the chunk's error
    rows = date_results(["2024-01-01", "2024-01-02"], run, [], "k")
    assert {(r["status"], r["error"]) for r in rows} == {("FAILED", "Glue.Boom")}


# --------------------------------------------------------------------------- the AWS way


def test_the_whole_definition_maps_over_array_partition_chunks(
    glue: ChunkGlue, sns: LocalSns, history: HistoryStore,
) -> None:
    # GIVEN the deployed backfill definition (Map over States.ArrayPartition)
    text = json.dumps(_full_definition())
    cfg = PipelineConfig()
    for ours, name in ((cfg.raw_crawler, NAMES["RawCrawlerName"]),
                       (cfg.transform_crawler, NAMES["TransformCrawlerName"]),
                       (cfg.transform_job, NAMES["TransformJobName"]),
                       (cfg.load_job, NAMES["LoadJobName"])):
        text = text.replace(f'"{ours}"', f'"{name}"')
    parent = AslExecutor(json.loads(text), _registry(glue, sns), history=history,
                         name="udp-backfill")
    glue.breach = {"2024-08-04"}
    days = p_date_range("2024-08-01", "2024-08-05")
    # WHEN it runs on the input the README documents, without replace
    result = parent.run(aws_input(days, 2))
    # THEN three chunks ran, each with one transform and one load run
    assert result.status == "SUCCEEDED", result.cause
    assert [(r["dates"], r["status"]) for r in result.output["results"]] == [
        (days[0:2], "SUCCEEDED"), (days[2:4], "FAILED"), (days[4:], "SUCCEEDED")]
    assert sorted(days for j, days in glue.runs if j == "transform-job") == [
        days[0:2], days[2:4], days[4:]]
    # AND each chunk had its own run key; replace defaulted to false
    keys = {r["run_key"] for r in result.output["results"]}
    assert len(keys) == 3 and set(glue.replace_args) == {"false"}
    assert CHUNK_STATE in json.loads(text)["States"]


def test_udp_status_lists_a_chunk_with_a_row_per_date(
    glue: ChunkGlue, sns: LocalSns, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from local_aws.paths import LocalPaths
    from udp_cli import cli

    # GIVEN a state folder whose history holds one chunk, its middle date breached
    history = HistoryStore(LocalPaths(tmp_path).runs)
    glue.breach = {"2024-09-02"}
    [first, *_] = _runner(glue, sns, history)(["2024-09-01", "2024-09-02", "2024-09-03"])
    monkeypatch.setattr(cli.console, "width", 240)
    # WHEN `udp status` lists the runs
    assert cli.main(["--state-dir", str(tmp_path), "status"]) == 0
    out = capsys.readouterr().out
    # THEN the chunk shows how many dates succeeded, and a row per date under it
    assert "2024-09-01..2024-09-03" in out and "FAILED (2/3 dates)" in out
    lines = [line for line in out.splitlines() if "2024-09-02" in line and "RunTransformJob"
             in line]
    assert len(lines) == 1 and "FAILED" in lines[0]
    # AND `udp status RUN` adds the per-date table with counts and the DQ verdict
    assert cli.main(["--state-dir", str(tmp_path), "status", first.run_id]) == 0
    out = capsys.readouterr().out
    assert "breach" in out and "passed" in out
