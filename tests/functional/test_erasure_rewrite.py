"""The erasure's object rewrites against S3's own shapes (moto, a versioned bucket)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from contracts.erasure import ErasureRegister
from contracts.user_record import records_to_arrow, validate_record
from glue_jobs.erasure import ObjectRewriter, lines_without, parquet_without, partition_day
from local_aws.user_api.server import generate_user

T0 = datetime(2026, 11, 22, tzinfo=UTC)
KEY = "raw/user_data/p_date=2026-11-22/udp-user-data-1-x"


def raw_body(n: int) -> tuple[bytes, list[str]]:
    records: list[dict[str, Any]] = []
    for i in range(n):
        r = validate_record(generate_user("r", 1, i))
        assert isinstance(r, dict)
        r.update(batch_id="b", fetched_at=T0, source_page=1, source_seed="r")
        records.append(r)
    out = pa.BufferOutputStream()
    pq.write_table(records_to_arrow(records), out, compression="snappy")
    return out.getvalue().to_pybytes(), [r["login"]["uuid"] for r in records]


@pytest.fixture()
def s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="udp-lake",
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        client.put_bucket_versioning(Bucket="udp-lake",
                                     VersioningConfiguration={"Status": "Enabled"})
        yield client


def test_a_raw_object_loses_only_the_erased_rows_and_its_old_versions(s3: Any) -> None:
    # GIVEN a raw object of 5 users written twice (two versions), 2 users erased
    body, ids = raw_body(5)
    s3.put_object(Bucket="udp-lake", Key=KEY, Body=body)
    s3.put_object(Bucket="udp-lake", Key=KEY, Body=body)
    reg = ErasureRegister.new().requested([ids[1], ids[3]], T0)
    # WHEN it is rewritten
    count = ObjectRewriter(s3).rewrite("udp-lake", KEY, lambda b: parquet_without(b, reg))
    # THEN the current object holds the 3 others, in the raw schema, and no old version is left
    assert (count.rows_removed, count.objects_rewritten, count.versions_deleted) == (2, 1, 2)
    now = s3.get_object(Bucket="udp-lake", Key=KEY)["Body"].read()
    table = pq.read_table(pa.BufferReader(now))
    assert table.schema == pq.read_table(pa.BufferReader(body)).schema
    assert sorted(r["uuid"] for r in table.column("login").to_pylist()) == sorted(
        ids[i] for i in (0, 2, 4))
    versions = s3.list_object_versions(Bucket="udp-lake", Prefix=KEY)
    assert len(versions["Versions"]) == 1 and not versions.get("DeleteMarkers")
    assert not [u for u in (ids[1], ids[3]) if u.encode() in now]


def test_an_object_of_only_erased_rows_is_gone_with_every_version(s3: Any) -> None:
    body, ids = raw_body(2)
    s3.put_object(Bucket="udp-lake", Key=KEY, Body=body)
    reg = ErasureRegister.new().requested(ids, T0)
    count = ObjectRewriter(s3).rewrite("udp-lake", KEY, lambda b: parquet_without(b, reg))
    assert count.rows_removed == 2
    versions = s3.list_object_versions(Bucket="udp-lake", Prefix=KEY)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


def test_an_object_without_them_is_left_as_it_is(s3: Any) -> None:
    body, _ = raw_body(3)
    s3.put_object(Bucket="udp-lake", Key=KEY, Body=body)
    reg = ErasureRegister.new().requested(["someone-else"], T0)
    count = ObjectRewriter(s3).rewrite("udp-lake", KEY, lambda b: parquet_without(b, reg))
    assert (count.objects_scanned, count.objects_rewritten, count.rows_removed) == (1, 0, 0)
    assert len(s3.list_object_versions(Bucket="udp-lake", Prefix=KEY)["Versions"]) == 1


def test_quarantine_lines_holding_an_id_anywhere_go() -> None:
    body = b'{"record": {"login": {"uuid": "u-1"}}}\n{"record": "broken u-2 text"}\n{"x": 1}\n'
    assert lines_without(body, ["u-1", "u-2"]) == (b'{"x": 1}\n', 2)
    assert lines_without(body, ["u-3"]) == (body, 0)
    assert lines_without(b'{"a": "u-1"}\n', ["u-1"]) == (None, 1)


def test_partition_day_reads_the_hive_folder() -> None:
    assert partition_day(KEY, "raw/user_data/") == "2026-11-22"
    assert partition_day("raw/user_data/_staging/x", "raw/user_data/") is None


def test_a_deleted_version_folder_leaves_no_version_behind(s3: Any) -> None:
    # GIVEN a superseded transform version deleted as the transform deletes a folder
    # (plain deletes on a versioned bucket: delete markers over the old bytes), and the
    # version now published
    old = "transform/users/_versions/2026-11-22/run-a/p_date=2026-11-22/part-0.parquet"
    new = "transform/users/_versions/2026-11-22/run-b/p_date=2026-11-22/part-0.parquet"
    body, _ = raw_body(2)
    for key in (old, new):
        s3.put_object(Bucket="udp-lake", Key=key, Body=body)
    s3.delete_object(Bucket="udp-lake", Key=old)
    rewriter = ObjectRewriter(s3)
    prefix = "transform/users/_versions/2026-11-22/"
    assert [k for k, _v in rewriter.versions("udp-lake", prefix)] == [old]
    # WHEN the day's versions root is purged
    deleted = rewriter.purge_prefix("udp-lake", prefix)
    # THEN the old bytes and the marker are gone, the published object is untouched
    assert deleted == 2
    listing = s3.list_object_versions(Bucket="udp-lake", Prefix=prefix)
    assert [v["Key"] for v in listing["Versions"]] == [new]
    assert not listing.get("DeleteMarkers")
    assert rewriter.versions("udp-lake", prefix) == []


def test_a_raw_day_never_published_is_found_only_when_it_holds_an_id(s3: Any) -> None:
    from glue_jobs.erasure_job import unpublished_raw_days

    # GIVEN three raw days: one published, two never transformed, one of which holds
    body, ids = raw_body(3)
    other, _ = raw_body(0)
    for day, payload in (("2026-11-20", body), ("2026-11-21", body), ("2026-11-22", other)):
        s3.put_object(Bucket="udp-lake", Key=f"raw/user_data/p_date={day}/obj", Body=payload)
    s3.put_object(Bucket="udp-lake", Body=b"x", Key=(
        "transform/users/_versions/2026-11-20/r1/p_date=2026-11-20/part-0.parquet"))
    # WHEN the days holding ids[1] and never published are asked for
    days = unpublished_raw_days(ObjectRewriter(s3), "udp-lake", [ids[1]])
    # THEN only the unpublished day that holds the user is found
    assert days == ["2026-11-21"]
