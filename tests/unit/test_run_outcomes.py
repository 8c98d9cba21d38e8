"""The ``run_outcomes`` records and the per-date rows made from them: names, limits and
the Parquet codec from the contract, one object per run, stage and day (a rewrite never
adds a row), and each date's status from the first stage that failed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from contracts.run_outcomes import (
    LOAD,
    TRANSFORM,
    InvalidOutcome,
    OutcomeStore,
    date_rows,
    decode,
    encode,
    outcome_key,
    outcome_record,
)
from contracts.tables import RUN_OUTCOMES, TABLES
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
KEY = "20261101T020000-1a2b3c4d"
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


def _record(p_date: str, stage: str, status: str = "SUCCEEDED", **extra: Any) -> dict[str, Any]:
    return outcome_record(p_date=p_date, run_key=KEY, stage=stage, status=status,
                          started_at=T0, finished_at=T0 + timedelta(seconds=4), **extra)


def test_the_table_is_a_contract_like_the_others() -> None:
    # THEN run_outcomes is listed with the other tables, keyed by run and stage
    assert TABLES["run_outcomes"] is RUN_OUTCOMES
    assert RUN_OUTCOMES.database == TABLES["dq_results"].database
    assert RUN_OUTCOMES.key == ("run_key", "stage")
    # AND its Parquet columns are the contract's
    assert RUN_OUTCOMES.arrow_schema().names == RUN_OUTCOMES.column_names


def test_one_key_per_run_stage_and_day() -> None:
    assert outcome_key("2026-11-01", KEY, TRANSFORM) == (
        f"transform/run_outcomes/p_date=2026-11-01/{KEY}.transform.parquet")
    assert outcome_key("2026-11-01", KEY, LOAD) != outcome_key("2026-11-01", KEY, TRANSFORM)
    # AND a name that could leave the folder, or an unknown stage, is refused
    for run_key, stage in (("../x", LOAD), ("a/b", LOAD), (KEY, "crawl")):
        with pytest.raises(InvalidOutcome):
            outcome_key("2026-11-01", run_key, stage)


def test_a_record_is_cut_to_the_contracts_limits_and_times_its_stage() -> None:
    # GIVEN a cause longer than the column allows
    record = _record(DAYS[0], TRANSFORM, "FAILED", error="DQBreach", cause="x" * 5000)
    # THEN it is cut to the contract's max length, and the seconds are the stage's
    [cause] = [f for f in RUN_OUTCOMES.fields if f.name == "cause"]
    assert cause.max_len is not None and len(record["cause"]) == cause.max_len
    assert record["seconds"] == 4.0
    # AND a status other than SUCCEEDED or FAILED is refused
    with pytest.raises(InvalidOutcome, match="status"):
        _record(DAYS[0], LOAD, "MAYBE")


def test_parquet_round_trip_keeps_every_column() -> None:
    # GIVEN a record WHEN encoded and decoded
    record = _record(DAYS[1], LOAD, rows_read=7, rows_written=6, stage_run_id="l-1")
    body = encode(record)
    # THEN the file has the contract's schema and the row comes back as written
    import io

    assert pq.read_schema(io.BytesIO(body)).names == RUN_OUTCOMES.column_names
    [back] = decode(body, DAYS[1])
    assert back == record


def test_a_rewrite_of_the_same_run_stage_and_day_replaces_it(tmp_path: Path) -> None:
    # GIVEN the store over the S3 twin
    s3 = LocalS3(LocalObjectStore(tmp_path))
    store = OutcomeStore(s3, "s3://udp-lake")
    # WHEN the load of one day is recorded, then recorded again (a retried job run)
    store.write(_record(DAYS[0], LOAD, "FAILED", error="OperationalError"))
    store.write(_record(DAYS[0], LOAD, rows_read=5))
    store.write(_record(DAYS[0], TRANSFORM, rows_written=5))
    # THEN the day holds one object per stage, and the load's is the last one written
    listing = s3.list_objects_v2(Bucket="udp-lake", Prefix="transform/run_outcomes/")
    assert len(listing["Contents"]) == 2
    records = store.read(KEY, DAYS)
    assert sorted((r["p_date"], r["stage"], r["status"]) for r in records) == [
        (DAYS[0], LOAD, "SUCCEEDED"), (DAYS[0], TRANSFORM, "SUCCEEDED")]
    # AND a day nobody wrote is simply absent
    assert store.read(KEY, [DAYS[2]]) == []


def test_each_date_fails_in_the_first_stage_that_says_so() -> None:
    # GIVEN a chunk: day 1 loaded, day 2 breached in the transform (so not loaded),
    # day 3 transformed but its load failed
    records = [_record(DAYS[0], TRANSFORM, rows_written=5, dq_passed=True,
                       stage_run_id=f"{KEY}-20261101"),
               _record(DAYS[0], LOAD, rows_read=5, rows_written=5),
               _record(DAYS[1], TRANSFORM, "FAILED", error="DQBreach", cause="users.row count",
                       dq_passed=False),
               _record(DAYS[1], LOAD, "FAILED", error="InvalidLoadRequest", cause="not published"),
               _record(DAYS[2], TRANSFORM, rows_written=3, dq_passed=True),
               _record(DAYS[2], LOAD, "FAILED", error="OperationalError", cause="reset"),
               {**_record(DAYS[0], LOAD, "FAILED"), "run_key": "another-run"}]
    # WHEN turned into rows, the chunk itself failed (its load job failed)
    rows = date_rows(DAYS, KEY, records, status="FAILED", failed_state="RunBulkImport",
                     error="States.TaskFailed", cause="{}", seconds=12.3456)
    # THEN one row per date, in order, each with its own status, state, error and counts
    assert [(r["p_date"], r["status"], r.get("failed_state"), r.get("error")) for r in rows] == [
        (DAYS[0], "SUCCEEDED", None, None),
        (DAYS[1], "FAILED", "RunTransformJob", "DQBreach"),
        (DAYS[2], "FAILED", "RunBulkImport", "OperationalError")]
    assert (rows[0]["users"], rows[0]["loaded"], rows[0]["dq_passed"]) == (5, 5, True)
    assert rows[0]["transform"]["run_id"] == f"{KEY}-20261101"
    assert rows[0]["load"]["rows_staged"] == 5 and rows[0]["load"]["rows_merged"] == 5
    assert rows[1]["cause"] == "users.row count" and rows[1]["dq_passed"] is False
    assert {r["chunk"] for r in rows} == {"2026-11-01..2026-11-03"}
    assert {r["seconds"] for r in rows} == {12.346}


def test_dates_no_job_reached_take_the_chunks_own_result() -> None:
    # GIVEN no records at all (the raw crawl failed before any job ran)
    failed = date_rows(DAYS[:2], KEY, [], status="FAILED", failed_state="StartRawCrawler",
                       error="Glue.EntityNotFoundException", cause="no crawler")
    # THEN every date failed where the chunk did
    assert {(r["status"], r["failed_state"], r["error"]) for r in failed} == {
        ("FAILED", "StartRawCrawler", "Glue.EntityNotFoundException")}
    # AND a chunk still running, or one that succeeded, says so for each date
    assert {r["status"] for r in date_rows(DAYS, KEY, [], status="RUNNING")} == {"RUNNING"}
    assert {r["status"] for r in date_rows(DAYS, KEY, [], status="SUCCEEDED")} == {"SUCCEEDED"}
    # AND a failed chunk that gave no error names the chunk
    [row] = date_rows(DAYS[:1], KEY, [], status="FAILED")
    assert (row["failed_state"], row["error"]) == ("chunk", "Backfill.ChunkFailed")
