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
from local_aws.firehose.delivery import DeliveryStreamConfig, LocalFirehose
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore
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


def _flush_one_batch(tmp_path: Path, datas: list[bytes]) -> tuple[Any, list[dict[str, Any]]]:
    """Put ``datas`` in one call, close, and read back (Parquet table, error entries)."""
    s3 = LocalS3(LocalObjectStore(tmp_path))
    hose = LocalFirehose(s3, [DeliveryStreamConfig("s", "lake")], clock=lambda: T0)
    hose.put_record_batch(DeliveryStreamName="s", Records=[{"Data": d} for d in datas])
    hose.close()
    files = parquet_files(tmp_path)
    table = pq.read_table(files).drop_columns(["p_date"]) if files else None
    errors = [json.loads(line) for f in (tmp_path / "lake/errors").rglob("*") if f.is_file()
              for line in f.read_text().splitlines()]
    return table, errors


def test_bulk_conversion_writes_what_record_by_record_conversion_writes(
        tmp_path: Path, sample_page: dict[str, Any]) -> None:
    from contracts.user_record import records_to_arrow

    # GIVEN what the ingest Lambda sends: validated records with metadata, one per line
    datas = [record(sample_page, i) for i in range(40)]
    # WHEN the twin converts them (in one pass of Arrow's JSON reader)
    table, errors = _flush_one_batch(tmp_path, datas)
    # THEN the Parquet rows equal the record-at-a-time conversion of the same JSON
    expected = records_to_arrow([json.loads(d) for d in datas])
    assert errors == []
    assert table is not None and table.to_pylist() == expected.to_pylist()


def test_a_batch_with_unconvertible_records_still_writes_the_others(
        tmp_path: Path, sample_page: dict[str, Any]) -> None:
    # GIVEN good records mixed with records the conversion must refuse: not JSON, not an
    # object, a timestamp outside the contract's 1900..2100, a string for an int, and
    # two objects in one record; and one it accepts although Arrow's reader would not
    # (3.0 for an int)
    good = [record(sample_page, i) for i in range(6)]
    base = json.loads(good[0])
    old = {**base, "dob": {**base["dob"], "date": "1850-01-01T00:00:00.000000Z"}}
    float_int = {**base, "source_page": 3.0}
    bad = [b"not json\n", b"[1, 2]\n", json.dumps(old).encode(),
           json.dumps({**base, "source_page": "three"}).encode(),
           good[1].rstrip(b"\n") + b"\n" + good[2]]
    lax = [json.dumps(float_int).encode()]
    # WHEN they arrive in one call and the buffer is flushed
    table, errors = _flush_one_batch(tmp_path, good[:3] + bad + lax + good[3:])
    # THEN every refusable record is under the error prefix, the rest in Parquet
    assert len(errors) == len(bad)
    assert {e["errorCode"] for e in errors} == {"DataFormatConversion.InvalidSchema"}
    assert table is not None and table.num_rows == len(good) + len(lax)
    assert sorted(table.column("batch_id").to_pylist()) == \
        sorted([f"b{i}" for i in range(6)] + ["b0"])


def test_a_timestamp_outside_the_contract_is_refused_even_when_arrow_reads_it(
        tmp_path: Path, sample_page: dict[str, Any]) -> None:
    # GIVEN good records and one whose birth date Arrow parses but the contract refuses
    good = [record(sample_page, i) for i in range(3)]
    base = json.loads(good[0])
    old = {**base, "registered": {**base["registered"], "date": "2100-01-01T00:00:00Z"}}
    # WHEN they are converted together
    table, errors = _flush_one_batch(tmp_path, [*good, json.dumps(old).encode()])
    # THEN that one record is under the error prefix and the others are written
    assert len(errors) == 1 and "2100" in errors[0]["errorMessage"]
    assert table is not None and table.num_rows == 3
