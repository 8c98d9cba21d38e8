"""One run-result model: a backfill chunk with one good date and one that breaches its
data-quality gate, run by the real jobs on the local twins (PySpark, PostgreSQL), gives
the same per-date rows whether read as the local runner reads them (the S3 twin) or as
the AWS report reads them (a ``udp-backfill`` history in Step Functions' shape, the
records from S3: moto, holding the objects the jobs wrote). A retried job run of the
same run key rewrites its records and adds none.

The breach is real: the bad date has no raw data, so its ``users.row_count`` rule fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts.run_outcomes import OutcomeStore, date_rows
from contracts.tables import RUN_OUTCOMES
from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
from tests.unit.test_report_aws_backfill import _chunk, backfill_execution
from udp_cli.report.aws import chunk_records_from_sfn
from udp_cli.report.local import build_report

pytestmark = pytest.mark.slow

GOOD, BAD = "2026-03-02", "2026-03-03"
USERS = 5


@pytest.fixture(scope="module")
def chunk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, str]]:
    """The chunk [GOOD, BAD] run once through the chunk definition; BAD has no raw data."""
    state = tmp_path_factory.mktemp("udp-outcomes")
    stack = LocalCloud(state, wait_scale=0.002)
    try:
        simulate_days([DayPlan(date.fromisoformat(GOOD), 1, 1, USERS)], stack)
        good, bad = stack.run_backfill_chunk([GOOD, BAD])
        assert (good.status, bad.status) == ("SUCCEEDED", "FAILED")
        yield stack, str(good.run_id)
    finally:
        stack.close()


def _objects(stack: LocalCloud) -> dict[str, bytes]:
    """Every ``run_outcomes`` object in the S3 twin, by key."""
    bucket = stack.cfg.lake_bucket
    listing = stack.s3.list_objects_v2(Bucket=bucket, Prefix=f"{RUN_OUTCOMES.prefix}/")
    return {o["Key"]: stack.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in listing.get("Contents", [])}


def _without_seconds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows but the chunk's wall seconds (the AWS history is a constructed clock)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_the_local_rows_and_the_aws_report_rows_are_the_same(
        chunk: tuple[LocalCloud, str], monkeypatch: pytest.MonkeyPatch) -> None:
    stack, run_key = chunk
    # GIVEN the rows the local runner recorded for the chunk (read through the S3 twin)
    local = stack.history.get_run(run_key).dates or []
    # THEN the good date loaded its users; the bad one failed in the transform's DQ gate
    by_date = {r["p_date"]: r for r in local}
    assert (by_date[GOOD]["status"], by_date[GOOD]["users"], by_date[GOOD]["loaded"],
            by_date[GOOD]["dq_passed"]) == ("SUCCEEDED", USERS, USERS, True)
    assert (by_date[BAD]["status"], by_date[BAD]["failed_state"], by_date[BAD]["error"],
            by_date[BAD]["dq_passed"]) == ("FAILED", "RunTransformJob", "DQBreach", False)
    assert "users.row count" in by_date[BAD]["cause"]
    # WHEN the same chunk is read the AWS way: its execution history as Step Functions
    # keeps it (the load named the bad date not loaded) and the records from S3
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    steps, result = _chunk(1.0, 0, [GOOD, BAD], "load", key=run_key)
    execution, events = backfill_execution([(steps, result)], [GOOD, BAD], 7)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=stack.cfg.lake_bucket)
        for key, body in _objects(stack).items():
            s3.put_object(Bucket=stack.cfg.lake_bucket, Key=key, Body=body)
        [record] = chunk_records_from_sfn(
            execution, events, outcomes=OutcomeStore(s3, stack.cfg.lake_uri))
    # THEN the per-date rows are identical
    assert record["run_id"] == run_key
    assert _without_seconds(record["dates"]) == _without_seconds(local)


def test_a_retried_job_run_rewrites_its_records_and_adds_none(
        chunk: tuple[LocalCloud, str]) -> None:
    stack, run_key = chunk
    before = _objects(stack)
    rows_before = stack.history.get_run(run_key).dates or []
    # WHEN the chunk's load runs again under the same run key (a retry, a redrive)
    run = stack.jobs.start_job_run_sync(JobName=stack.cfg.load_job, Arguments={
        "--p_dates": json.dumps([GOOD, BAD]), "--run_key": run_key, "--replace": "true"})
    assert run["JobRunState"] == "FAILED"  # the bad date is still not published
    # THEN the same objects, one per date and stage, and the load's were rewritten
    after = _objects(stack)
    assert sorted(after) == sorted(before) and len(after) == 4
    assert any(after[k] != before[k] for k in after if k.endswith(".load.parquet"))
    # AND Athena finds one row per date and stage through the catalog
    answer = stack.athena().query(
        f"select p_date, stage, status from run_outcomes where run_key = '{run_key}' "
        "order by 1, 2")
    assert answer.rows == [(GOOD, "load", "SUCCEEDED"), (GOOD, "transform", "SUCCEEDED"),
                           (BAD, "load", "FAILED"), (BAD, "transform", "FAILED")]
    # AND the per-date rows made from them are still one per date, with the same results
    again = date_rows([GOOD, BAD], run_key,
                      OutcomeStore(stack.s3, stack.cfg.lake_uri).read(run_key, [GOOD, BAD]),
                      status="FAILED")
    assert [(r["p_date"], r["status"], r.get("error"), r["users"], r["loaded"])
            for r in again] == [(r["p_date"], r["status"], r.get("error"), r["users"],
                                 r["loaded"]) for r in rows_before]


def test_the_report_shows_one_row_per_date_of_the_chunk(chunk: tuple[LocalCloud, str]) -> None:
    stack, run_key = chunk
    # WHEN the range report is built from the state folder
    report = build_report(stack.paths.state_dir, date_from=GOOD, date_to=BAD)
    # THEN one row per date, each with its own status, the good one's funnel counted
    assert sorted((r.p_date, r.status) for r in report.runs) == [(GOOD, "SUCCEEDED"),
                                                                 (BAD, "FAILED")]
    good = next(r for r in report.runs if r.p_date == GOOD)
    assert good.run_id == run_key and good.funnel is not None
    assert (good.funnel.users, good.funnel.loaded) == (USERS, USERS)
