"""The run report's pure core: events → stages, a stored run → summary, model → HTML."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.run_outcomes import LOAD, TRANSFORM, date_rows, outcome_record
from udp_cli.report import ReportInputError, build_report, render_report
from udp_cli.report.charts import funnel_spec, gantt_spec, render_svg, trend_spec
from udp_cli.report.local import (
    LOAD_STATE,
    expand_chunks,
    run_summary,
    stages_from_events,
    trend_from_runs,
)
from udp_cli.report.model import DayTrend, DqResult, Funnel, Report, RunSummary, Stage
from udp_cli.report.synthetic import SyntheticDay, write_synthetic_state

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _ev(t: float, kind: str, state: str | None, **details: Any) -> dict[str, Any]:
    return {"timestamp": _at(t), "type": kind, "state": state, **details}


RETRIED_THEN_CAUGHT = [
    _ev(0, "ExecutionStarted", None),
    _ev(0, "StateEntered", "ResolvePDate"), _ev(0, "StateExited", "ResolvePDate"),
    # a polling loop: Wait entered twice is one stage from first entry to last exit
    _ev(1, "StateEntered", "WaitForRawCrawler"), _ev(1, "WaitStarted", "WaitForRawCrawler"),
    _ev(31, "StateExited", "WaitForRawCrawler"),
    _ev(32, "StateEntered", "WaitForRawCrawler"), _ev(32, "WaitStarted", "WaitForRawCrawler"),
    _ev(62, "StateExited", "WaitForRawCrawler"),
    _ev(63, "StateEntered", "RunBulkImport"), _ev(63, "TaskScheduled", "RunBulkImport"),
    _ev(70, "TaskFailed", "RunBulkImport", error="Glue.ConcurrentRunsExceededException"),
    _ev(70, "RetryScheduled", "RunBulkImport", error="Glue.ConcurrentRunsExceededException"),
    _ev(130, "TaskScheduled", "RunBulkImport"),
    _ev(140, "TaskFailed", "RunBulkImport", error="States.TaskFailed"),
    _ev(140, "CatchTaken", "RunBulkImport", error="States.TaskFailed"),
    _ev(141, "StateEntered", "LoadFailed"), _ev(141, "StateExited", "LoadFailed"),
]


def test_stages_keep_work_states_merge_loops_and_count_retries() -> None:
    # GIVEN a run that polled a crawler twice, retried the load once, then failed it
    # WHEN its events become stages
    stages = stages_from_events(RETRIED_THEN_CAUGHT, run_status="FAILED")
    # THEN Choice/Pass states are gone, the loop is one stage, the retry and errors are kept
    assert [s.name for s in stages] == ["WaitForRawCrawler", "RunBulkImport"]
    wait, load = stages
    assert wait.seconds == 61 and wait.status == "SUCCEEDED"
    assert (load.status, load.retries, load.seconds) == ("CAUGHT", 1, 77)
    assert load.errors == ("Glue.ConcurrentRunsExceededException", "States.TaskFailed")


def test_a_stage_left_open_by_a_stopped_run_is_failed() -> None:
    # GIVEN an aborted run whose last state never exited
    events = [_ev(0, "StateEntered", "RunTransformJob"), _ev(0, "TaskScheduled",
                                                             "RunTransformJob")]
    # THEN the stage is failed when the run stopped, running while the run runs
    assert stages_from_events(events, run_status="ABORTED")[0].status == "FAILED"
    assert stages_from_events(events, run_status="RUNNING")[0].status == "RUNNING"


def _record(events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"run_id": "r-1", "label": "2026-11-01", "status": "SUCCEEDED",
            "started_at": _at(0), "stopped_at": _at(300), "events": events, **extra}


JOB_EVENTS = [
    _ev(10, "TaskSucceeded", "RunTransformJob", output={"Output": {
        "run_id": "jr_t", "rows_read": 2900, "rows_written": 2100,
        "dq": [{"table_name": "users", "rule": "from output", "rule_type": "NotNull",
                "passed": True, "observed": 0.0, "allowed": "0"}]}}),
    _ev(20, "TaskSucceeded", "RunBulkImport", output={"Output": {
        "load_id": "l-1", "rows_staged": 2100, "started_at": _at(15),
        "finished_at": _at(17.5)}}),
]
"""What the local Glue twin returns as each job run's ``Output``: not a source of the
report (Glue on AWS returns none); the jobs' ``run_outcomes`` records are."""


def _outcomes(run_key: str = "r-1", p_date: str = "2026-11-01") -> list[dict[str, Any]]:
    """The records a nightly run's transform (2900 rows read, 2100 users) and bulk
    import (2100 rows, from 15 s to 17.5 s) write."""
    return [outcome_record(p_date=p_date, run_key=run_key, stage=TRANSFORM,
                           status="SUCCEEDED", started_at=T0 + timedelta(seconds=5),
                           finished_at=T0 + timedelta(seconds=10), stage_run_id="jr_t",
                           rows_read=2900, rows_written=2100, dq_passed=True),
            outcome_record(p_date=p_date, run_key=run_key, stage=LOAD, status="SUCCEEDED",
                           started_at=T0 + timedelta(seconds=15),
                           finished_at=T0 + timedelta(seconds=17.5), stage_run_id="l-1",
                           rows_read=2100, rows_written=2100)]


def _with_row(record: dict[str, Any], outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """``record`` as the report reads it: its date's row made from ``outcomes``."""
    rows = date_rows([record["label"]], record["run_id"], outcomes, status=record["status"])
    [one] = expand_chunks([{**record, "dates": rows}])
    return one


def test_run_summary_takes_counts_from_its_date_row_and_dq_rows_of_its_own_job() -> None:
    # GIVEN a stored run with its date's row, and the day's dq rows of two transform runs
    dq_rows = [{"run_id": "jr_other", "table_name": "users", "rule": "old", "passed": False},
               {"run_id": "jr_t", "table_name": "users", "rule": "row count >= 1",
                "rule_type": "RowCountAtLeast", "passed": True, "observed": 2100.0,
                "allowed": ">= 1"}]
    # WHEN it is summarised
    run = run_summary(_with_row(_record(JOB_EVENTS), _outcomes()),
                      quarantined={"bad_type": 60, "missing": 40}, raw_rows=2900,
                      dq_rows=dq_rows)
    # THEN the funnel, the load time and this job's DQ rows are there
    assert run.funnel == Funnel("2026-11-01", fetched=3000,
                                quarantined={"bad_type": 60, "missing": 40}, raw_rows=2900,
                                users=2100, loaded=2100)
    assert run.funnel.quarantine_rate == pytest.approx(100 / 3000)
    assert run.load_seconds == 2.5 and run.seconds == 300
    assert [d.rule for d in run.dq] == ["row count >= 1"]


def test_a_failed_run_finds_its_dq_rows_by_time_and_reads_no_job_output() -> None:
    # GIVEN a failed run with no date row, and dq rows inside and outside its window
    inside = {"run_id": "x", "rule": "breach", "passed": False, "evaluated_at": T0
              + timedelta(seconds=100)}
    outside = {"run_id": "y", "rule": "later", "passed": True, "evaluated_at": T0
               + timedelta(hours=5)}
    failed = _record([], status="FAILED")
    # THEN only the rows evaluated during the run are its own
    assert [d.rule for d in run_summary(failed, dq_rows=[inside, outside]).dq] == ["breach"]
    # AND what a job run returned is not read: no date row, no counts and no DQ rows
    bare = run_summary(_record(JOB_EVENTS))
    assert bare.dq == () and bare.funnel is not None
    assert (bare.funnel.raw_rows, bare.funnel.users, bare.funnel.loaded) == (None, None, None)


def _run(run_id: str, p_date: str, status: str = "SUCCEEDED", *, cause: str | None = None,
         users: int = 2000) -> RunSummary:
    start = datetime.fromisoformat(p_date).replace(tzinfo=UTC) + timedelta(days=1)
    return RunSummary(run_id=run_id, p_date=p_date, status=status, start=start,
                      end=start + timedelta(seconds=300), cause=cause,
                      error="States.TaskFailed" if cause else None,
                      stages=(Stage("RunTransformJob", start, start + timedelta(seconds=200),
                                    status, 1 if cause else 0),),
                      funnel=Funnel(p_date, 3000, {"bad_type": 30}, 2970, users, users),
                      dq=(DqResult("users", "row count >= 1", "RowCountAtLeast", True,
                                   float(users), ">= 1"),), load_seconds=2.0)


def _fake_draw(spec: dict[str, Any], prefix: str) -> str:
    return f'<svg id="{prefix}" data-rows="{len(json.dumps(spec))}"></svg>'


def test_html_escapes_what_runs_recorded_and_loads_nothing_from_outside() -> None:
    # GIVEN a failed run whose cause contains markup
    report = Report("Runs <test>", T0, runs=(_run("r-1", "2026-11-01", "FAILED",
                                                 cause="<script>alert(1)</script>"),))
    # WHEN rendered
    page = render_report(report, draw=_fake_draw)
    # THEN the markup is text, and the page has no script and no external reference
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Runs &lt;test&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "default-src 'none'" in page  # the page's own CSP forbids any fetch


def test_calendar_links_each_date_to_its_latest_run_and_marks_missing_days() -> None:
    # GIVEN a failed run then a successful rerun on day 1, and nothing on day 2
    first = _run("r-1", "2026-11-01", "FAILED", cause="boom")
    rerun = _run("r-2", "2026-11-01")
    rerun = RunSummary(**{**rerun.__dict__, "start": first.start + timedelta(hours=6)})
    report = Report("range", T0, runs=(first, rerun),
                    calendar=(("2026-11-01", "SUCCEEDED"), ("2026-11-02", "MISSING")))
    page = render_report(report, draw=_fake_draw)
    # THEN day 1 links to the rerun's section, day 2 is not a link, both sections exist
    cal = page[page.index('class="calendar"'):]
    cal = cal[:cal.index("</div>")]
    assert f'href="#{rerun.anchor}"' in cal and f'href="#{first.anchor}"' not in cal
    assert '<span style="background:#9e9e9e" title="no run">2026-11-02' in cal
    assert f'id="{first.anchor}"' in page and f'id="{rerun.anchor}"' in page


def test_specs_carry_the_model_values() -> None:
    run = _run("r-1", "2026-11-01", "FAILED", cause="boom")
    # THEN the gantt has one bar per stage with its retry labelled
    rows = gantt_spec(run)["data"]["values"]
    assert rows == [{"stage": "RunTransformJob", "order": 0, "start": 0.0, "end": 200.0,
                     "status": "FAILED", "label": "200.0s · 1 retry"}]
    # AND the funnel has every step, the quarantine split by reason
    funnel_rows = funnel_spec(run.funnel)["data"]["values"]  # type: ignore[arg-type]
    assert [(r["step"], r["part"], r["records"]) for r in funnel_rows] == [
        ("fetched", "records", 3000), ("quarantined", "quarantined: bad_type", 30),
        ("raw rows", "records", 2970), ("users", "records", 2000), ("loaded", "records", 2000)]
    # AND the trend has four panels over the same days
    spec = trend_spec([DayTrend("2026-11-01", 2000, 0.01, 300.0, 2.0)])
    assert len(spec["concat"]) == 4 and spec["data"]["values"][0]["users"] == 2000


def test_trend_takes_each_days_latest_run_within_the_window() -> None:
    runs = [_run("a", "2026-10-01", users=1), _run("b", "2026-11-01", users=2),
            _run("c", "2026-11-03", users=3)]
    trend = trend_from_runs(runs, "2026-11-03", days=7)
    assert [(d.p_date, d.users) for d in trend] == [("2026-11-01", 2), ("2026-11-03", 3)]


def test_svg_ids_are_prefixed_so_charts_on_one_page_do_not_share_clip_paths() -> None:
    # GIVEN a chart with a clipped mark (Vega writes a clipPath with an id) drawn twice
    spec = gantt_spec(_run("r-1", "2026-11-01"))
    spec["layer"][0]["mark"]["clip"] = True
    a, b = render_svg(spec, id_prefix="a"), render_svg(spec, id_prefix="b")
    # THEN every id and reference is prefixed and the two sets are disjoint
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and all(i.startswith("a-") for i in ids_a) and not ids_a & ids_b
    assert all(ref.startswith("a-") for ref in re.findall(r"url\(#([^)]+)\)", a))
    assert "<path" in a and "RunTransformJob" in a


def test_a_chart_drawn_again_is_not_redrawn_and_keeps_its_own_ids() -> None:
    # GIVEN a chart drawn once
    from udp_cli.report import charts

    spec = gantt_spec(_run("r-memo", "2026-11-02"))
    spec["layer"][0]["mark"]["clip"] = True
    first = render_svg(spec, id_prefix="one")
    drawn = charts._drawn.cache_info().misses
    # WHEN the same spec (as a new dict) is drawn for another place on the page
    again = render_svg(json.loads(json.dumps(spec)), id_prefix="two")
    # THEN vl-convert did not draw it again, and it got its own ids
    assert charts._drawn.cache_info().misses == drawn
    assert again == first.replace('"one-', '"two-').replace("#one-", "#two-")
    assert again != first


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("state")
    write_synthetic_state(root, [SyntheticDay("2026-11-01", "retry"),
                                 SyntheticDay("2026-11-02", "fail_then_rerun"),
                                 SyntheticDay("2026-11-04", "fail")])
    return root


def test_build_report_for_a_range_has_a_calendar_and_every_run(state: Path) -> None:
    report = build_report(state, date_from="2026-11-01", date_to="2026-11-04")
    assert report.calendar == (("2026-11-01", "SUCCEEDED"), ("2026-11-02", "SUCCEEDED"),
                               ("2026-11-03", "MISSING"), ("2026-11-04", "FAILED"))
    assert [r.status for r in report.runs] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"]
    assert report.runs[0].retries == 1
    failed = report.runs[1]
    assert failed.failed_state == "RunTransformJob"
    assert [d.passed for d in failed.dq].count(False) == 1  # the breach, its own rows
    assert failed.stages[-1].name == "NotifyFailure"


def test_build_report_for_one_run_and_one_date(state: Path) -> None:
    everything = build_report(state, date_from="2026-11-01", date_to="2026-11-04")
    one = build_report(state, run_id=everything.runs[2].run_id, trend_days=3)
    assert [r.run_id for r in one.runs] == [everything.runs[2].run_id] and not one.calendar
    assert [d.p_date for d in one.trend] == ["2026-11-01", "2026-11-02"]
    day = build_report(state, p_date="2026-11-02")
    assert [r.status for r in day.runs] == ["FAILED", "SUCCEEDED"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"p_date": "2026-11-03"}, "no runs for 2026-11-03"),
    ({"run_id": "nope"}, "no run 'nope'"),
    ({"p_date": "2026-11-01", "run_id": "x"}, "exactly one"),
    ({"date_from": "2026-11-01"}, "both --from and --to"),
    ({"date_from": "2026-11-04", "date_to": "2026-11-01"}, "after"),
    ({"p_date": "20261101"}, "invalid date"),
    ({"p_date": "2026-11-01", "trend_days": 0}, "at least 1"),
])
def test_bad_selections_are_one_line_user_errors(state: Path, kwargs: dict[str, Any],
                                                 message: str) -> None:
    with pytest.raises(ReportInputError, match=re.escape(message)) as err:
        build_report(state, **kwargs)
    assert "\n" not in str(err.value)


def _sfn(t: float, kind: str, **details: Any) -> dict[str, Any]:
    return {"timestamp": T0 + timedelta(seconds=t), "type": kind, **details}


def test_a_step_functions_history_reads_like_a_local_run() -> None:
    # GIVEN GetExecutionHistory events (boto3 shape) of a run whose transform was retried
    # once, then caught and reported, and its DescribeExecution answer
    from udp_cli.report.aws import record_from_sfn

    glue = {"resourceType": "glue", "resource": "startJobRun.sync"}
    history = [
        _sfn(0, "ExecutionStarted"),
        _sfn(1, "WaitStateEntered", stateEnteredEventDetails={"name": "WaitForRawCrawler"}),
        _sfn(31, "WaitStateExited", stateExitedEventDetails={"name": "WaitForRawCrawler"}),
        _sfn(32, "TaskStateEntered", stateEnteredEventDetails={"name": "RunTransformJob"}),
        _sfn(32, "TaskScheduled", taskScheduledEventDetails=glue),
        _sfn(40, "TaskFailed", taskFailedEventDetails={
            "error": "Glue.ConcurrentRunsExceededException"}),
        _sfn(100, "TaskScheduled", taskScheduledEventDetails=glue),
        _sfn(300, "TaskFailed", taskFailedEventDetails={"error": "States.TaskFailed"}),
        _sfn(300, "TaskStateExited", stateExitedEventDetails={"name": "RunTransformJob"}),
        _sfn(301, "TaskStateEntered", stateEnteredEventDetails={"name": "NotifyFailure"}),
        _sfn(301, "TaskScheduled", taskScheduledEventDetails={"resourceType": "sns",
                                                              "resource": "publish"}),
        _sfn(302, "TaskSucceeded", taskSucceededEventDetails={"output": '{"MessageId": "m"}'}),
        _sfn(302, "TaskStateExited", stateExitedEventDetails={"name": "NotifyFailure"}),
        _sfn(303, "FailStateEntered", stateEnteredEventDetails={"name": "PipelineFailed"}),
        _sfn(303, "ExecutionFailed", executionFailedEventDetails={"error": "States.TaskFailed"}),
    ]
    execution = {"name": "exec-1", "status": "FAILED", "startDate": T0,
                 "stopDate": T0 + timedelta(seconds=303), "input": '{"p_date": "2026-11-01"}'}
    # WHEN it becomes a local record and a summary
    run = run_summary(record_from_sfn(execution, history))
    # THEN the stages, the retry, the caught failure and the date are as the local run's
    assert (run.run_id, run.p_date, run.status, run.seconds) == ("exec-1", "2026-11-01",
                                                                 "FAILED", 303)
    assert [(s.name, s.status, s.retries) for s in run.stages] == [
        ("WaitForRawCrawler", "SUCCEEDED", 0), ("RunTransformJob", "CAUGHT", 1),
        ("NotifyFailure", "SUCCEEDED", 0)]
    assert run.stages[1].errors == ("Glue.ConcurrentRunsExceededException", "States.TaskFailed")
    assert run.failed_state == "RunTransformJob"


def test_a_scheduled_execution_reads_its_day_from_the_state_that_derives_it() -> None:
    # GIVEN a nightly execution started by the schedule (its input has no p_date), whose
    # first state derived the day, and the run_outcomes record its transform wrote
    from contracts.run_outcomes import TRANSFORM, outcome_record
    from udp_cli.report.aws import record_from_sfn

    history = [
        _sfn(0, "ExecutionStarted"),
        _sfn(0, "PassStateEntered", stateEnteredEventDetails={"name": "DerivePDateFromSchedule"}),
        _sfn(0, "PassStateExited", stateExitedEventDetails={
            "name": "DerivePDateFromSchedule",
            "output": '{"p_date": "2026-11-01", "scheduled_time": "2026-11-02T02:00:00Z"}'}),
        _sfn(60, "ExecutionSucceeded"),
    ]
    execution = {"name": "sched-1", "status": "SUCCEEDED", "startDate": T0,
                 "stopDate": T0 + timedelta(seconds=60),
                 "input": '{"scheduled_time": "2026-11-02T02:00:00Z"}'}
    record = outcome_record(p_date="2026-11-01", run_key="sched-1", stage=TRANSFORM,
                            status="SUCCEEDED", started_at=T0, finished_at=T0,
                            rows_read=1200, rows_written=1100)
    asked: list[tuple[str, list[str]]] = []

    def outcomes(name: str, days: list[str]) -> list[dict[str, Any]]:
        asked.append((name, days))
        return [record]
    # WHEN it becomes a local record
    got = record_from_sfn(execution, history, outcomes=outcomes)
    # THEN its day and its date row come from the history and the job's record
    assert asked == [("sched-1", ["2026-11-01"])]
    assert got["label"] == "2026-11-01"
    assert [(r["p_date"], r["status"], r["users"]) for r in got["dates"]] == [
        ("2026-11-01", "SUCCEEDED", 1100)]


def test_bulk_import_seconds_are_the_load_stages_own() -> None:
    # GIVEN a run whose load stage took 1.4 s while the load's output times lie 0 s apart
    load_events = [
        _ev(63, "StateEntered", LOAD_STATE), _ev(63, "TaskScheduled", LOAD_STATE),
        _ev(64.4, "TaskSucceeded", LOAD_STATE, output={"Output": {
            "load_id": "l-1", "rows_staged": 2100, "started_at": _at(64.3),
            "finished_at": _at(64.3)}}),
        _ev(64.4, "StateExited", LOAD_STATE)]
    # WHEN it is summarised, and the report drawn with its trend
    run = run_summary(_record(load_events))
    trend = trend_from_runs([run], "2026-11-01", 30)
    html = render_report(Report("r", T0, (run,), trend=trend))
    # THEN the header and the trend give the stage's 1.4 s, as the stage table does
    assert run.load_seconds == pytest.approx(1.4)
    assert [d.load_seconds for d in trend] == [pytest.approx(1.4)]
    assert "bulk import 1.4 s" in html
    # AND that state is the load in both definitions the runs execute
    for name in ("state_machine.asl.json", "backfill.asl.json"):
        text = (Path(__file__).parents[2] / "orchestration" / name).read_text()
        assert f'"{LOAD_STATE}"' in text and "bulk" in text.lower()


def test_a_nightly_execution_on_aws_takes_its_counts_from_its_run_outcomes() -> None:
    # GIVEN a nightly execution (Glue on AWS returns no job output) and the records its
    # jobs wrote under its name
    from udp_cli.report.aws import records_from_sfn

    execution = {"name": "r-1", "status": "SUCCEEDED", "startDate": T0,
                 "stopDate": T0 + timedelta(seconds=300), "input": '{"p_date": "2026-11-01"}'}
    asked: list[tuple[str, list[str]]] = []

    def outcomes(run_key: str, dates: list[str]) -> list[dict[str, Any]]:
        asked.append((run_key, dates))
        return _outcomes(run_key)

    # WHEN it becomes the report's record of its date and is summarised
    [record] = records_from_sfn(execution, [], outcomes=outcomes)
    [one] = expand_chunks([record])
    run = run_summary(one, raw_rows=2900)
    # THEN the records were read under the execution's name, and the funnel and the load
    # time are theirs (no load stage in the history: the record's own times)
    assert asked == [("r-1", ["2026-11-01"])]
    assert run.funnel is not None
    assert (run.funnel.raw_rows, run.funnel.users, run.funnel.loaded) == (2900, 2100, 2100)
    assert (run.status, run.load_seconds) == ("SUCCEEDED", 2.5)
    # AND the row is the one a local run makes from the same records
    local = date_rows(["2026-11-01"], "r-1", _outcomes(), status="SUCCEEDED", seconds=300)
    assert record["dates"] == local


def test_report_to_file_writes_one_page_under_the_state_folder(state: Path) -> None:
    # WHEN the report of one date is written with the default path
    from udp_cli.report import report_to_file

    path = report_to_file(state, p_date="2026-11-01", trend_days=2)
    # THEN it is an HTML page under <state>/reports/ naming the date, with its charts
    assert path == state / "reports" / "runs-for-2026-11-01.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
