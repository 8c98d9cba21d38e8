"""The report reads what the real local executor records (not only our synthetic copy):
the deployed definition run against the fake Glue of the state-machine tests, its history
written by the real HistoryStore, then a report built from that state folder."""

from __future__ import annotations

from pathlib import Path

from local_aws.sns.client import LocalSns
from local_aws.stepfunctions import (
    AslExecutor,
    HistoryStore,
    TaskError,
    load_definition,
    substitute_placeholders,
)
from tests.functional.test_state_machine_local import DEFINITION, NAMES, FakeGlue, registry
from udp_cli.report import build_report, render_report


def test_a_retried_then_failed_load_and_a_good_day_as_the_executor_recorded_them(
        tmp_path: Path) -> None:
    # GIVEN the real executor with history in <state>/runs: one good day, and one whose
    # load fails twice (retried once, then caught and alerted)
    glue = FakeGlue()
    glue.job_faults[("load-job", "2024-05-02")] = [
        TaskError("States.TaskFailed", "connection reset"),
        TaskError("States.TaskFailed", "connection reset again")]
    executor = AslExecutor(substitute_placeholders(load_definition(DEFINITION), NAMES),
                           registry(glue, LocalSns(tmp_path / "alerts")),
                           history=HistoryStore(tmp_path / "runs"), name="udp-pipeline")
    good = executor.run({"p_date": "2024-05-01"}, label="2024-05-01")
    bad = executor.run({"p_date": "2024-05-02"}, label="2024-05-02")
    assert (good.status, bad.status) == ("SUCCEEDED", "FAILED")
    # WHEN a report is built for the two days
    report = build_report(tmp_path, date_from="2024-05-01", date_to="2024-05-02")
    # THEN each run's stages are the work states in order, the polling loop is one stage
    ok_run, failed_run = report.runs
    # (the date's lease is taken first and released last: one run per date)
    assert [s.name for s in ok_run.stages] == [
        "AcquireDateLease", "StartRawCrawler", "WaitForRawCrawler", "GetRawCrawler",
        "RunTransformJob",
        "StartTransformCrawler", "WaitForTransformCrawler", "GetTransformCrawler",
        "RunBulkImport", "ReleaseDateLease"]
    assert all(s.status == "SUCCEEDED" for s in ok_run.stages)
    # AND the failed day shows the retry, the caught error, the alert and the cause
    load = next(s for s in failed_run.stages if s.name == "RunBulkImport")
    assert (load.status, load.retries, load.errors) == (
        "CAUGHT", 1, ("States.TaskFailed", "States.TaskFailed"))
    assert [s.name for s in failed_run.stages[-2:]] == ["NotifyFailure",
                                                         "ReleaseDateLeaseAfterFailure"]
    assert failed_run.status == "FAILED" and failed_run.retries == 1
    assert report.calendar == (("2024-05-01", "SUCCEEDED"), ("2024-05-02", "FAILED"))
    # AND the page renders both runs; these fakes ingest nothing, so no empty funnel chart
    page = render_report(report)
    assert page.count('data-chart="gantt"') == 2 and "connection reset again" in page
    assert 'data-chart="funnel"' not in page and "No record counts" in page
