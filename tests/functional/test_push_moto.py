"""The push path's boto3 adapters against moto (botocore validates every call)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from ingest_lambda.core import S3ErrorSink
from local_aws.push.stack import kinesis_event, rest_proxy_event
from local_aws.user_api.server import generate_user
from push_api.api import PushPorts, create_app
from push_api.consumer import create_consumer, row_from_data
from push_api.store import DynamoUserStore
from push_api.stream import KinesisSender
from tests.functional.push_helpers import ThrottlingKinesis

STREAM, TABLE = "udp-user-push", "udp-users"


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        kinesis, dynamodb, s3 = (boto3.client(s) for s in ("kinesis", "dynamodb", "s3"))
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "user_id",
                                                     "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}])
        s3.create_bucket(Bucket="errors")
        yield {"kinesis": kinesis, "dynamodb": dynamodb, "s3": s3}


def read_stream(kinesis: Any) -> list[dict[str, Any]]:
    out = []
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        answer = kinesis.get_records(ShardIterator=it, Limit=10000)
        out += [{**r, "ShardId": shard["ShardId"]} for r in answer["Records"]]
    return out


def post(ports: PushPorts, body: Any) -> tuple[int, dict[str, Any]]:
    event = rest_proxy_event("POST", "/users", body=json.dumps(body).encode(),
                             request_id="req-moto")
    answer = create_app(ports).resolve(event, None)  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"])


def test_throttled_put_records_land_once_each_on_the_real_stream(aws: dict[str, Any]) -> None:
    # GIVEN a Kinesis client that refuses 40% of the entries of every call
    throttled = ThrottlingKinesis(aws["kinesis"], rate=0.4)
    ports = PushPorts(sender=KinesisSender(throttled, STREAM, max_attempts=20,
                                           sleep=lambda _: None),
                      users=DynamoUserStore(aws["dynamodb"], TABLE),
                      errors=S3ErrorSink(aws["s3"], "errors", prefix="push"))
    batch = [generate_user("t", 1, i) for i in range(200)]
    # WHEN 200 users are pushed
    status, answer = post(ports, batch)
    # THEN all were accepted after retries, and the stream holds each exactly once
    assert status == 200 and answer["accepted"] == 200
    assert throttled.refused > 50
    records = read_stream(aws["kinesis"])
    assert sorted(r["PartitionKey"] for r in records) == sorted(
        u["login"]["uuid"] for u in batch)
    assert {json.loads(r["Data"])["login"]["uuid"] for r in records} == {
        r["PartitionKey"] for r in records}


def test_rejected_records_are_quarantined_in_s3_without_secrets(aws: dict[str, Any]) -> None:
    ports = PushPorts(sender=KinesisSender(aws["kinesis"], STREAM),
                      users=DynamoUserStore(aws["dynamodb"], TABLE),
                      errors=S3ErrorSink(aws["s3"], "errors", prefix="push"))
    bad = generate_user("q", 1, 0)
    bad["dob"]["date"] = "not a date"
    status, answer = post(ports, [bad])
    assert status == 422 and answer["rejected"][0]["code"] == "bad_timestamp"
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket="errors")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("push/p_date=")
    body = aws["s3"].get_object(Bucket="errors", Key=keys[0])["Body"].read().decode()
    entry = json.loads(body)
    assert entry["reason"]["code"] == "bad_timestamp" and entry["index"] == 0
    assert bad["login"]["password"] not in body and "password" not in entry["record"]["login"]
    assert read_stream(aws["kinesis"]) == []


def test_consumer_reads_real_stream_records_into_dynamodb(aws: dict[str, Any]) -> None:
    # GIVEN pushed users on the stream
    ports = PushPorts(sender=KinesisSender(aws["kinesis"], STREAM),
                      users=DynamoUserStore(aws["dynamodb"], TABLE),
                      errors=S3ErrorSink(aws["s3"], "errors"))
    batch = [generate_user("c", 1, i) for i in range(30)]
    assert post(ports, batch)[0] == 200
    consume = create_consumer(DynamoUserStore(aws["dynamodb"], TABLE), "salt")
    # WHEN each shard's records come to the consumer as Lambda's event
    by_shard: dict[str, list[dict[str, Any]]] = {}
    for r in read_stream(aws["kinesis"]):
        by_shard.setdefault(r["ShardId"], []).append(r)
    for shard, records in by_shard.items():
        assert consume(kinesis_event(records, shard, "arn:stream"), None) == {
            "batchItemFailures": []}
    # THEN GET answers each user with the users columns only
    for u in batch:
        status, row = _get(ports, u["login"]["uuid"])
        assert status == 200
        assert row["email_domain"] == u["email"].split("@")[1]
        assert u["email"] not in json.dumps(row) and u["phone"] not in json.dumps(row)


def _get(ports: PushPorts, user_id: str) -> tuple[int, dict[str, Any]]:
    event = rest_proxy_event("GET", f"/users/{user_id}", resource="/users/{user_id}",
                             path_parameters={"user_id": user_id})
    answer = create_app(ports).resolve(event, None)  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"])


def _version(user: dict[str, Any], n: int, batch: str) -> bytes:
    clean = {**user, "login": {"uuid": user["login"]["uuid"]}, "gender": f"v{n}",
             "fetched_at": f"2026-11-30T10:00:{n:02d}.000000Z", "batch_id": batch}
    return json.dumps(clean).encode()


USERS = [generate_user("h", 1, i) for i in range(3)]
# every (user, version, batch) a client could push: version n is fetched at second n; the
# same fetched_at in two batches is decided by batch id, as the transform decides it
VERSIONS = [(u, n, b) for u in range(3) for n in range(4) for b in ("b1", "b2")]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=st.lists(st.sampled_from(VERSIONS), min_size=1, max_size=25),
       batch_size=st.integers(1, 6))
def test_any_order_with_duplicates_leaves_the_latest_version(
        aws: dict[str, Any], deliveries: list[tuple[int, int, str]], batch_size: int) -> None:
    # GIVEN an empty table
    dynamodb = aws["dynamodb"]
    for item in dynamodb.scan(TableName=TABLE)["Items"]:
        dynamodb.delete_item(TableName=TABLE, Key={"user_id": item["user_id"]})
    consume = create_consumer(DynamoUserStore(dynamodb, TABLE), "salt")
    # WHEN the versions arrive in this order, replays included, in batches
    datas = [_version(USERS[u], n, b) for u, n, b in deliveries]
    for start in range(0, len(datas), batch_size):
        chunk = [{"PartitionKey": USERS[deliveries[start + i][0]]["login"]["uuid"],
                  "SequenceNumber": str(start + i), "Data": d}
                 for i, d in enumerate(datas[start:start + batch_size])]
        assert consume(kinesis_event(chunk, "shardId-0", "arn"), None)["batchItemFailures"] == []
    # THEN each user holds its greatest (fetched_at, batch_id)
    for u in {u for u, _, _ in deliveries}:
        n, b = max((n, b) for uu, n, b in deliveries if uu == u)
        item = dynamodb.get_item(TableName=TABLE, Key={"user_id": {"S": USERS[u]["login"]["uuid"]}})
        assert item["Item"]["gender"] == {"S": f"v{n}"}
        assert item["Item"]["batch_id"] == {"S": b}


def test_a_replay_does_not_move_a_record_backwards(aws: dict[str, Any]) -> None:
    store = DynamoUserStore(aws["dynamodb"], TABLE)
    u = USERS[0]
    new = row_from_data(_version(u, 5, "b"), "s")
    old = row_from_data(_version(u, 1, "b"), "s")
    assert store.put_latest(new) is True
    assert store.put_latest(old) is False
    assert store.put_latest(new) is False  # the same version again changes nothing
    assert store.lookup(u["login"]["uuid"]) == new
