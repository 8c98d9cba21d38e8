"""The register's store against S3's own shapes (moto), and the transform's Spark filter
against the pure rule on the same records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from contracts.erasure import ErasureRegister, drop_erased, hash_prefix
from contracts.erasure_store import S3RegisterStore
from contracts.user_record import records_to_arrow, validate_record
from glue_jobs.erasure import S3RegisterWriter
from glue_jobs.transforms import filter_erased
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore
from local_aws.user_api.server import generate_user

T0 = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture()
def moto_s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="udp-lake",
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_the_store_round_trips_through_s3_and_reads_absent_as_empty(moto_s3: Any) -> None:
    store = S3RegisterStore.at(moto_s3, "s3://udp-lake/_erasure/register.json")
    # GIVEN no register yet: nobody is erased
    assert not store.exists() and store.load().entries == ()
    # WHEN one is saved
    reg = ErasureRegister.new().requested(["u-1"], T0)
    S3RegisterWriter(moto_s3, "udp-lake").update(lambda _: reg)
    # THEN S3 holds it as JSON and it loads back equal
    body = moto_s3.get_object(Bucket="udp-lake", Key="_erasure/register.json")["Body"].read()
    assert json.loads(body)["salt"] == reg.salt
    assert store.load() == reg


def test_the_local_twin_answers_as_s3_does(tmp_path: Any) -> None:
    s3 = LocalS3(LocalObjectStore(tmp_path))
    store = S3RegisterStore(s3, "udp-lake")
    assert store.load().entries == ()
    reg = ErasureRegister.new().requested(["u-1"], T0)
    S3RegisterWriter(s3, "udp-lake").update(lambda _: reg)
    assert store.load() == reg


def _two_requests_at_once(s3: Any) -> ErasureRegister:
    """Request A reads the register; before A writes, request B reads and writes it."""
    a, b = S3RegisterWriter(s3, "udp-lake"), S3RegisterWriter(s3, "udp-lake")
    b.update(lambda r: r.requested(["u-0"], T0))  # a register exists: A's write is IfMatch
    raced: list[bool] = []

    def change_a(reg: ErasureRegister) -> ErasureRegister:
        if not raced:
            raced.append(True)
            b.update(lambda r: r.requested(["u-b"], T0))
        return reg.requested(["u-a"], T0)

    a.update(change_a)
    return S3RegisterStore(s3, "udp-lake").load()


def test_two_requests_at_once_keep_both_ids_on_s3(moto_s3: Any) -> None:
    reg = _two_requests_at_once(moto_s3)
    assert all(reg.contains(u) for u in ("u-0", "u-a", "u-b")) and len(reg.entries) == 3


def test_two_requests_at_once_keep_both_ids_on_the_twin(tmp_path: Any) -> None:
    reg = _two_requests_at_once(LocalS3(LocalObjectStore(tmp_path)))
    assert all(reg.contains(u) for u in ("u-0", "u-a", "u-b")) and len(reg.entries) == 3


def test_the_twin_refuses_a_stale_conditional_put_as_s3_does(tmp_path: Any) -> None:
    s3 = LocalS3(LocalObjectStore(tmp_path))
    etag = s3.put_object(Bucket="b", Key="k", Body=b"one")["ETag"]
    assert s3.get_object(Bucket="b", Key="k")["ETag"] == etag
    s3.put_object(Bucket="b", Key="k", Body=b"two", IfMatch=etag)
    for condition in ({"IfMatch": etag}, {"IfNoneMatch": "*"}):
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket="b", Key="k", Body=b"three", **condition)
        assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket="b", Key="k")["Body"].read() == b"two"
    # a delete leaves nothing listed, and deleting again answers the same
    s3.delete_object(Bucket="b", Key="k")
    s3.delete_object(Bucket="b", Key="k")
    assert s3.list_objects_v2(Bucket="b")["KeyCount"] == 0


def test_the_spark_filter_drops_exactly_what_the_pure_rule_drops(spark: Any,
                                                                 tmp_path: Any) -> None:
    # GIVEN raw records of 8 users (one with its id padded by spaces), 3 erased
    records = [validate_record(generate_user("f", 1, i)) for i in range(8)]
    assert all(isinstance(r, dict) for r in records)
    records[5]["login"]["uuid"] = f"  {records[5]['login']['uuid']}  "  # type: ignore[index]
    gone = [records[i]["login"]["uuid"].strip() for i in (1, 5, 6)]  # type: ignore[index]
    reg = ErasureRegister.new().requested(gone, T0)
    for r in records:
        r.update(batch_id="b", fetched_at=T0, source_page=1, source_seed="f")  # type: ignore[union-attr]
    pq.write_table(records_to_arrow(records), tmp_path / "raw.parquet")  # type: ignore[arg-type]
    raw_df = spark.read.parquet(str(tmp_path / "raw.parquet"))
    # WHEN the transform's filter runs
    kept_df = raw_df.transform(filter_erased(reg.hashes, hash_prefix(reg.salt)))
    # THEN it keeps the same users, in any order, as drop_erased
    kept, dropped = drop_erased(records, reg.hashes, reg.salt)
    assert dropped == 3
    got = sorted(r["uuid"] for r in kept_df.select("login.uuid").collect())
    assert got == sorted(r["login"]["uuid"] for r in kept)  # type: ignore[index]
    assert raw_df.transform(filter_erased(frozenset(), "")).count() == 8
