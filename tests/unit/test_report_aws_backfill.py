"""The report on AWS for a backfill: a ``udp-backfill`` execution's history (the Step
Functions API shape, checked against botocore's model) as one record per chunk with one
result per date, read by the local report builder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.run_outcomes import LOAD, TRANSFORM, outcome_record
from local_aws.aws_model import require_operation, validate_response
from udp_cli.report import build_report, render_report
from udp_cli.report.aws import chunk_records_from_sfn, records_from_sfn
from udp_cli.report.local import expand_chunks, run_summary

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
EXECUTION = "bf-2026-11"
ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:udp-backfill"
DATES = [f"2026-11-0{d}" for d in range(1, 8)]
GLUE = "glue"
BREACH_DATE = "2026-11-05"
NOT_LOADED = (f"DatesNotLoaded: 1 of 3 date(s) not loaded: {BREACH_DATE}: the transform of run "
              f"{EXECUTION}-c1 did not publish {BREACH_DATE} (published: s3://lake/transform/"
              f"users/_versions/{BREACH_DATE}/old/p_date={BREACH_DATE}/); see its "
              "data-quality results")

Step = tuple[float, str, dict[str, Any]]


def _state(t: float, kind: str, name: str, output: Any = None) -> list[Step]:
    exited: dict[str, Any] = {"name": name}
    if output is not None:
        exited["output"] = json.dumps(output)
    return [(t, f"{kind}StateEntered", {"stateEnteredEventDetails": {"name": name,
                                                                     "input": "{}"}}),
            (t, f"{kind}StateExited", {"stateExitedEventDetails": exited})]


def _task(t: float, name: str, resource: str, *, seconds: float = 1, output: Any = None,
          error: str | None = None, cause: Any = None, rtype: str = GLUE) -> list[Step]:
    """A Task state: entered, scheduled, started, then succeeded or failed (and caught)."""
    ids = {"resourceType": rtype, "resource": resource}
    end: Step
    if error is None:
        end = (t + seconds, "TaskSucceeded",
               {"taskSucceededEventDetails": {**ids, "output": json.dumps(output or {})}})
    else:
        end = (t + seconds, "TaskFailed", {"taskFailedEventDetails": {
            **ids, "error": error,
            "cause": cause if isinstance(cause, str) else json.dumps(cause)}})
    return [(t, "TaskStateEntered", {"stateEnteredEventDetails": {"name": name}}),
            (t, "TaskScheduled", {"taskScheduledEventDetails": {
                **ids, "region": "eu-west-1", "parameters": "{}"}}),
            (t, "TaskStarted", {"taskStartedEventDetails": ids}),
            end,
            (t + seconds, "TaskStateExited", {"stateExitedEventDetails": {"name": name}})]


def _lease_map(t: float, name: str, task: str, resource: str, dates: list[str]) -> list[Step]:
    """A nested Map (MaxConcurrency 1) with one DynamoDB task per date."""
    steps: list[Step] = [(t, "MapStateEntered", {"stateEnteredEventDetails": {"name": name}}),
                         (t, "MapStateStarted", {"mapStateStartedEventDetails": {
                             "length": len(dates)}})]
    for i, _ in enumerate(dates):
        it = {"name": name, "index": i}
        steps += [(t, "MapIterationStarted", {"mapIterationStartedEventDetails": it}),
                  *_task(t, task, resource, seconds=0, rtype="dynamodb"),
                  (t, "MapIterationSucceeded", {"mapIterationSucceededEventDetails": it})]
    return [*steps, (t, "MapStateSucceeded", {}),
            (t, "MapStateExited", {"stateExitedEventDetails": {"name": name}})]


def _job_run(run_id: str, state: str, message: str | None = None) -> dict[str, Any]:
    run = {"Id": run_id, "JobName": "udp-x", "JobRunState": state, "Attempt": 0}
    return {**run, "ErrorMessage": message} if message else run


def _chunk(t: float, index: int, dates: list[str], outcome: str, key: str | None = None
           ) -> tuple[list[Step], dict[str, Any]]:
    """One chunk's steps from ``t``: ``ok``, ``load`` (a date not loaded) or ``crawl``;
    ``key`` is its run key (``<execution>-c<index>`` unless given)."""
    key = key or f"{EXECUTION}-c{index}"
    steps = [*_state(t, "Pass", "PrepareChunkLeases"), *_state(t, "Choice",
                                                              "IsChunkBoundBeyondTimeout"),
             *_state(t, "Pass", "LeaseEndsWithChunkBound"),
             *_lease_map(t + 1, "AcquireChunkLeases", "AcquireDateLease", "putItem", dates)]
    if outcome == "crawl":
        steps += _task(t + 2, "StartRawCrawler", "startCrawler", rtype="aws-sdk:glue",
                       error="Glue.EntityNotFoundException", cause="crawler udp-raw not found")
        failed: dict[str, Any] = {"dates": dates, "run_key": key, "status": "FAILED",
                                  "error": "Glue.EntityNotFoundException",
                                  "cause": "crawler udp-raw not found"}
        t += 3
    else:
        steps += [*_task(t + 2, "StartRawCrawler", "startCrawler", rtype="aws-sdk:glue"),
                  *_state(t + 3, "Wait", "WaitForRawCrawler"),
                  *_task(t + 33, "GetRawCrawler", "getCrawler", rtype="aws-sdk:glue"),
                  *_state(t + 34, "Choice", "IsRawCrawlerReady"),
                  *_state(t + 34, "Choice", "CheckRawCrawlStatus"),
                  *_task(t + 35, "RunTransformJob", "startJobRun.sync", seconds=300,
                         output=_job_run(f"jr_t{index}", "SUCCEEDED")),
                  *_task(t + 336, "StartTransformCrawler", "startCrawler", rtype="aws-sdk:glue"),
                  *_state(t + 337, "Wait", "WaitForTransformCrawler"),
                  *_task(t + 367, "GetTransformCrawler", "getCrawler", rtype="aws-sdk:glue"),
                  *_state(t + 368, "Choice", "IsTransformCrawlerReady"),
                  *_state(t + 368, "Choice", "CheckTransformCrawlStatus")]
        t += 369
        if outcome == "ok":
            result = {"dates": dates, "run_key": key, "status": "SUCCEEDED"}
            steps += [*_task(t, "RunBulkImport", "startJobRun.sync", seconds=120,
                             output=_job_run(f"jr_l{index}", "SUCCEEDED")),
                      *_state(t + 121, "Choice", "DidTheTransformFail"),
                      *_lease_map(t + 121, "ReleaseChunkLeases", "ReleaseLeaseOfDate",
                                  "deleteItem", dates),
                      *_state(t + 122, "Pass", "ChunkSucceeded", result)]
            return steps, result
        load_run = _job_run(f"jr_l{index}", "FAILED", NOT_LOADED)
        steps += _task(t, "RunBulkImport", "startJobRun.sync", seconds=120,
                       error="States.TaskFailed", cause=load_run)
        failed = {"dates": dates, "run_key": key, "status": "FAILED",
                  "error": "States.TaskFailed", "cause": json.dumps(load_run)}
        t += 121
    steps += [*_state(t, "Pass", "ChunkFailed"),
              *_task(t, "NotifyChunkFailure", "publish", rtype="sns"),
              *_lease_map(t + 1, "ReleaseChunkLeasesAfterFailure",
                          "ReleaseLeaseOfDateAfterFailure", "deleteItem", dates),
              *_state(t + 2, "Pass", "ChunkResultFailed", failed)]
    return steps, failed


def _backfill_history() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A 7-date backfill, chunks of 3, two chunks at once (their events interleaved):
    c0 succeeds, c1's load names one date not loaded, c2 (after c0) fails its crawl."""
    plan = [(1.0, 0, DATES[0:3], "ok"), (1.5, 1, DATES[3:6], "load")]
    c0, r0 = _chunk(*plan[0])
    c1, r1 = _chunk(*plan[1])
    c0_end = c0[-1][0] + 1
    c2, r2 = _chunk(c0_end + 1, 2, DATES[6:7], "crawl")
    return backfill_execution([(c0, r0), (c1, r1), (c2, r2)], DATES, 3)


def backfill_execution(planned: list[tuple[list[Step], dict[str, Any]]], dates: list[str],
                       chunk_size: int, name: str = EXECUTION
                       ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``DescribeExecution`` and ``GetExecutionHistory`` (all pages) of a ``udp-backfill``
    execution ``name`` over ``dates`` whose chunks ran ``planned`` (:func:`_chunk`'s steps
    and result each), their events interleaved by time."""
    merged: list[tuple[float, int, int, str, dict[str, Any]]] = []
    for chunk, (steps, _) in enumerate(planned):
        it = {"name": "RunEachChunk", "index": chunk}
        first, final = steps[0][0], steps[-1][0]
        full = [(first, "MapIterationStarted", {"mapIterationStartedEventDetails": it}), *steps,
                (final, "MapIterationSucceeded", {"mapIterationSucceededEventDetails": it})]
        merged += [(t, chunk, n, kind, d) for n, (t, kind, d) in enumerate(full)]
    merged.sort(key=lambda m: (m[0], m[1], m[2]))  # by time: c0 and c1 interleave
    results = [result for _, result in planned]
    run_input = {"dates": dates, "chunk_size": chunk_size}
    output = {**run_input, "replace": False, "results": results}
    head = [(0.0, "ExecutionStarted", {"executionStartedEventDetails": {
                "input": json.dumps(run_input), "roleArn": "arn:r"}}),
            *_state(0, "Choice", "HasReplace"), *_state(0, "Pass", "ReplaceDefaultsToFalse"),
            *_state(0, "Pass", "SplitIntoChunks"),
            (0.5, "MapStateEntered", {"stateEnteredEventDetails": {"name": "RunEachChunk"}}),
            (0.5, "MapStateStarted", {"mapStateStartedEventDetails": {
                "length": len(planned)}})]
    events: list[dict[str, Any]] = []

    def add(t: float, kind: str, details: dict[str, Any], previous: int | None) -> int:
        event = {"id": len(events) + 1, "timestamp": T0 + timedelta(seconds=t), "type": kind,
                 **details}
        if previous is not None:
            event["previousEventId"] = previous
        events.append(event)
        return len(events)

    last = None
    for at, kind, details in head:
        last = add(at, kind, details, last)
    map_started = last
    chain: dict[int, int | None] = {}  # each chunk's events chain through previousEventId
    for at, chunk, _, kind, details in merged:
        previous = chain.get(chunk, map_started)
        chain[chunk] = add(at, kind, details, previous)
    end = max(m[0] for m in merged) + 1
    last = add(end, "MapStateSucceeded", {}, chain[len(planned) - 1])
    last = add(end, "MapStateExited", {"stateExitedEventDetails": {
        "name": "RunEachChunk", "output": json.dumps(output)}}, last)
    last = add(end, "SucceedStateEntered", {"stateEnteredEventDetails": {
        "name": "BackfillDone"}}, last)
    add(end, "ExecutionSucceeded", {"executionSucceededEventDetails": {
        "output": json.dumps(output)}}, last)
    execution = {"executionArn": f"{ARN}:{name}".replace(":stateMachine:", ":execution:"),
                 "stateMachineArn": ARN, "name": name, "status": "SUCCEEDED",
                 "startDate": T0, "stopDate": T0 + timedelta(seconds=end),
                 "input": json.dumps(run_input),
                 "output": json.dumps(output)}
    return execution, events


def _pages(events: list[dict[str, Any]], size: int = 100) -> Iterator[dict[str, Any]]:
    for i in range(0, len(events), size):
        yield {"events": events[i:i + size]}


DQ_ROWS = [
    {"run_id": f"{EXECUTION}-c1-20261105", "table_name": "users", "rule": "user_id unique",
     "rule_type": "Unique", "passed": False, "observed": 3.0, "allowed": "0",
     "message": "3 duplicate user_id", "run_status": "breach"},
    {"run_id": f"{EXECUTION}-c1-20261104", "table_name": "users", "rule": "user_id unique",
     "rule_type": "Unique", "passed": True, "observed": 0.0, "allowed": "0",
     "message": "", "run_status": "published"},
]


BREACH_CAUSE = "data-quality rules failed: users.user_id unique (observed 3, allowed 0)"


def _outcomes_of_the_backfill() -> list[dict[str, Any]]:
    """What the jobs wrote to ``run_outcomes``: c0 and c1 ran both jobs (c1's transform
    failed the breach date, so its load did not load it); c2 stopped before any job."""
    out = []
    for index, dates in ((0, DATES[0:3]), (1, DATES[3:6])):
        key = f"{EXECUTION}-c{index}"
        for d in dates:
            breach = d == BREACH_DATE
            out.append(outcome_record(
                p_date=d, run_key=key, stage=TRANSFORM,
                status="FAILED" if breach else "SUCCEEDED", finished_at=T0,
                stage_run_id=f"{key}-{d.replace('-', '')}", job_run_id=f"jr_t{index}",
                error="DQBreach" if breach else None, cause=BREACH_CAUSE if breach else None,
                rows_read=5, rows_written=None if breach else 5, dq_passed=not breach))
            out.append(outcome_record(
                p_date=d, run_key=key, stage=LOAD, status="FAILED" if breach else "SUCCEEDED",
                finished_at=T0, job_run_id=f"jr_l{index}",
                error="InvalidLoadRequest" if breach else None,
                cause=NOT_LOADED if breach else None, rows_read=None if breach else 5,
                rows_written=None if breach else 5))
    return out


OUTCOMES = _outcomes_of_the_backfill()


def outcomes(run_key: str, dates: list[str]) -> list[dict[str, Any]]:
    """The reader the AWS report is given (an ``OutcomeStore`` over S3 in production)."""
    return [r for r in OUTCOMES if r["run_key"] == run_key and r["p_date"] in dates]


def test_the_fixture_is_what_step_functions_answers() -> None:
    # GIVEN the constructed backfill history and execution
    execution, events = _backfill_history()
    # THEN every page is a valid GetExecutionHistory answer and the execution a valid
    # DescribeExecution answer (botocore's model: event types, details members, required)
    for page in _pages(events):
        validate_response(require_operation("stepfunctions", "get_execution_history"), page)
    validate_response(require_operation("stepfunctions", "describe_execution"), execution)
    # AND the two first chunks really interleave
    kinds = [(e["type"], e.get("mapIterationStartedEventDetails", {}).get("index"))
             for e in events]
    assert kinds.index(("MapIterationStarted", 1)) < [e["type"] for e in events].index(
        "MapIterationSucceeded")


def test_a_backfill_execution_gives_one_record_per_chunk_with_per_date_results() -> None:
    # GIVEN the history (as pages come back, concatenated) and DescribeExecution answer
    execution, events = _backfill_history()
    history = [e for page in _pages(events) for e in page["events"]]
    # WHEN translated, with the chunks' run_outcomes records read from the lake
    records = records_from_sfn(execution, history, outcomes=outcomes)
    # THEN one record per chunk, named by its run key and labelled first..last
    assert [(r["run_id"], r["label"], r["status"]) for r in records] == [
        (f"{EXECUTION}-c0", "2026-11-01..2026-11-03", "SUCCEEDED"),
        (f"{EXECUTION}-c1", "2026-11-04..2026-11-06", "FAILED"),
        (f"{EXECUTION}-c2", "2026-11-07..2026-11-07", "FAILED")]
    # AND each chunk's events are its own, though c0 and c1 ran at the same time
    c0, c1, c2 = records
    states = [{e["state"] for e in r["events"] if e.get("state")} for r in records]
    assert "ChunkSucceeded" in states[0] and "ChunkFailed" not in states[0]
    assert "ChunkFailed" in states[1] and "ChunkSucceeded" not in states[1]
    assert "RunTransformJob" not in states[2]
    assert sum(e["type"] == "TaskFailed" for e in c0["events"]) == 0
    # AND the per-date rows: all of c0 loaded; in c1 the breach date failed in the
    # transform (its record says so), the others loaded; c2's date failed at the crawl
    rows = {d["p_date"]: d for r in records for d in r["dates"]}
    assert [rows[d]["status"] for d in DATES] == ["SUCCEEDED"] * 4 + ["FAILED", "SUCCEEDED",
                                                                     "FAILED"]
    assert (rows[BREACH_DATE]["failed_state"], rows[BREACH_DATE]["error"],
            rows[BREACH_DATE]["dq_passed"]) == ("RunTransformJob", "DQBreach", False)
    assert rows[BREACH_DATE]["cause"] == BREACH_CAUSE
    assert rows["2026-11-04"]["dq_passed"] is True
    assert (rows["2026-11-07"]["failed_state"], rows["2026-11-07"]["error"]) == (
        "StartRawCrawler", "Glue.EntityNotFoundException")
    assert c2["failed_state"] == "StartRawCrawler" and c1["failed_state"] == "RunBulkImport"
    # AND the transform's per-date run id (how dq_results rows are found), the job run
    # ids and the counts, all from the records
    ok = rows["2026-11-02"]
    assert (ok["transform"]["run_id"], ok["transform"]["job_run_id"]) == (
        f"{EXECUTION}-c0-20261102", "jr_t0")
    assert (ok["load"]["job_run_id"], ok["users"], ok["loaded"]) == ("jr_l0", 5, 5)
    assert rows["2026-11-07"]["transform"] == {} and rows["2026-11-07"]["users"] is None
    assert rows["2026-11-02"]["seconds"] == (c0["dates"][0]["seconds"]) > 400


def test_the_local_report_builder_shows_a_row_per_date_of_an_aws_backfill(
        tmp_path: Path) -> None:
    # GIVEN the chunk records of the AWS backfill stored as the local run history stores them
    execution, events = _backfill_history()
    runs = tmp_path / "runs"
    runs.mkdir()
    for record in chunk_records_from_sfn(execution, events, outcomes=outcomes):
        (runs / f"{record['run_id']}.json").write_text(json.dumps(record), encoding="utf-8")
    # WHEN the range report is built and rendered
    report = build_report(tmp_path, date_from="2026-11-01", date_to="2026-11-08",
                          trend_days=8)
    page = render_report(report)
    # THEN one run row per date, the calendar coloured per date, the 8th MISSING
    assert sorted(r.p_date for r in report.runs) == DATES
    assert dict(report.calendar) == {**{d: "SUCCEEDED" for d in DATES},
                                     BREACH_DATE: "FAILED", "2026-11-07": "FAILED",
                                     "2026-11-08": "MISSING"}
    breach = next(r for r in report.runs if r.p_date == BREACH_DATE)
    assert (breach.run_id, breach.failed_state, breach.error) == (
        f"{EXECUTION}-c1", "RunTransformJob", "DQBreach")
    assert "RunBulkImport" in [s.name for s in breach.stages]
    for day in DATES:
        assert day in page
    # AND a date's DQ rules are found by its chunk-date run id among the day's rows
    one = next(r for r in expand_chunks(chunk_records_from_sfn(execution, events,
                                                               outcomes=outcomes))
               if r["label"] == BREACH_DATE)
    summary = run_summary(one, dq_rows=DQ_ROWS)
    assert [(q.rule, q.passed) for q in summary.dq] == [("user_id unique", False)]


def test_a_backfill_still_running_shows_its_planned_chunks() -> None:
    # GIVEN only the first events of the backfill (c0 and c1 under way, c2 not started)
    execution, events = _backfill_history()
    cut = [e["type"] for e in events].index("TaskStateEntered") + 1
    running = {**execution, "status": "RUNNING", "output": None, "stopDate": None}
    # WHEN translated
    records = records_from_sfn(running, events[:cut])
    # THEN every chunk of the input is there, each date RUNNING
    assert [r["label"] for r in records] == ["2026-11-01..2026-11-03",
                                             "2026-11-04..2026-11-06", "2026-11-07..2026-11-07"]
    assert {d["status"] for r in records for d in r["dates"]} == {"RUNNING"}


def test_a_nightly_execution_stays_one_record() -> None:
    # GIVEN a nightly execution (input p_date)
    execution = {"name": "n-1", "status": "SUCCEEDED", "startDate": T0,
                 "stopDate": T0 + timedelta(seconds=5), "input": '{"p_date": "2026-11-01"}'}
    history = [{"id": 1, "timestamp": T0, "type": "ExecutionStarted"}]
    # THEN records_from_sfn gives the one record record_from_sfn gives
    assert [(r["run_id"], r["label"]) for r in records_from_sfn(execution, history)] == [
        ("n-1", "2026-11-01")]


def test_without_records_every_date_takes_its_chunks_status() -> None:
    # GIVEN the backfill, read with no outcome reader (records not reachable)
    execution, events = _backfill_history()
    # WHEN translated
    rows = {d["p_date"]: d for r in records_from_sfn(execution, events) for d in r["dates"]}
    # THEN a chunk that succeeded says so for every date; a failed chunk fails every date
    # in the state it failed in, with its error
    assert {rows[d]["status"] for d in DATES[0:3]} == {"SUCCEEDED"}
    assert {(rows[d]["status"], rows[d]["failed_state"], rows[d]["error"])
            for d in DATES[3:6]} == {("FAILED", "RunBulkImport", "States.TaskFailed")}
