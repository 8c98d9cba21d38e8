"""Firehose twin: buffering hints, catalog schema, faults, and replay through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from contracts.schema import arrow_schema_from_glue
from contracts.tables import RAW
from contracts.user_record import to_json_ready, validate_record
from ingest_lambda.core import split_page
from ingest_lambda.delivery import MAX_RECORD_BYTES
from local_aws.firehose import DeliveryStreamConfig, LocalFirehose
from local_aws.objectstore import LocalObjectStore
from local_aws.s3 import LocalS3
from udp_cli.cli import main

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def record(sample: dict[str, Any], i: int) -> bytes:
    clean = validate_record(sample["results"][i % 4])
    assert isinstance(clean, dict)
    meta = {"batch_id": f"b{i}", "fetched_at": T0, "source_page": 1, "source_seed": "s",
            "not_in_schema": "dropped"}
    return (json.dumps(to_json_ready({**clean, **meta})) + "\n").encode()


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def test_buffer_flushes_on_interval_size_and_close(tmp_path: Path,
                                                   sample_page: dict[str, Any]) -> None:
    now = [T0]
    s3 = LocalS3(LocalObjectStore(tmp_path))
    schema = arrow_schema_from_glue(RAW.glue_columns())  # the catalog table's schema
    cfg = DeliveryStreamConfig("s", "lake", interval_s=60, size_mb=1, schema=schema)
    hose = LocalFirehose(s3, [cfg], clock=lambda: now[0])
    # GIVEN records arriving within the interval: nothing is written yet
    hose.put_record_batch(DeliveryStreamName="s", Records=[{"Data": record(sample_page, 0)}])
    assert parquet_files(tmp_path) == []
    # WHEN the interval passes, the next put flushes the buffer
    now[0] += timedelta(seconds=61)
    hose.put_record_batch(DeliveryStreamName="s", Records=[{"Data": record(sample_page, 1)}])
    assert len(parquet_files(tmp_path)) == 1
    # WHEN more than SizeInMBs arrive, it flushes without waiting
    big = [{"Data": record(sample_page, i)} for i in range(2, 500)]
    for _ in range(2):
        hose.put_record_batch(DeliveryStreamName="s", Records=big)
    assert len(parquet_files(tmp_path)) >= 2
    # AND close() flushes the rest; fields not in the schema are dropped
    hose.close()
    table = pq.read_table(parquet_files(tmp_path))
    assert table.num_rows == 2 + 2 * 498
    assert "not_in_schema" not in table.column_names
    assert [c for c in table.column_names if c != "p_date"] == schema.names  # p_date: folder


def test_injected_failures_are_reported_per_record(tmp_path: Path,
                                                   sample_page: dict[str, Any]) -> None:
    s3 = LocalS3(LocalObjectStore(tmp_path))
    hose = LocalFirehose(s3, [DeliveryStreamConfig("s", "lake")], clock=lambda: T0,
                         failure_rate=0.5)
    resp = hose.put_record_batch(DeliveryStreamName="s",
                                 Records=[{"Data": record(sample_page, i)} for i in range(100)])
    failed = [a for a in resp["RequestResponses"] if "ErrorCode" in a]
    assert resp["FailedPutCount"] == len(failed) and 20 < len(failed) < 80
    hose.close()
    assert pq.read_table(parquet_files(tmp_path)).num_rows == 100 - len(failed)


def test_oversized_records_are_quarantined_not_sent(sample_page: dict[str, Any]) -> None:
    page = json.loads(json.dumps(sample_page))
    page["results"][0]["location"]["city"] = "x" * (MAX_RECORD_BYTES + 1)
    good, bad = split_page(page, {"batch_id": "b", "fetched_at": T0, "source_page": 1,
                                  "source_seed": "s"})
    assert len(good) == 3
    assert [e["reason"]["code"] for e in bad] == ["record_too_large"]


def test_replay_ingests_saved_pages_as_if_fetched(tmp_path: Path,
                                                  sample_page: dict[str, Any]) -> None:
    saved = tmp_path / "pages.json"
    saved.write_text(json.dumps([sample_page, {"results": "broken"}]))
    assert main(["--state-dir", str(tmp_path / "s"), "ingest", "--replay", str(saved)]) == 0
    files = parquet_files(tmp_path / "s/s3/udp-lake/raw/user_data")
    table = pq.read_table(files)
    assert table.num_rows == 4
    assert set(table.column("source_seed").to_pylist()) == {"a1b2c3d4e5f60718"}
    errors = list((tmp_path / "s/s3/udp-errors").rglob("*.jsonl"))
    assert "page_malformed" in errors[0].read_text()
