"""The push path on its local twins: HTTP gateway -> handler -> Kinesis (moto server) ->
Firehose twin (raw Parquet under p_date) and consumer -> DynamoDB (moto server) -> GET."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.user_record import raw_arrow_schema
from local_aws.push.stack import PushSettings, PushStack, start_push_stack
from local_aws.user_api.server import generate_user
from push_api.client import get_user, push_file, push_records
from push_api.model import to_user_row
from tests.functional.push_helpers import CrashingConsumer, ThrottlingKinesis

SECRETS = ("password", "salt", "md5", "sha1", "sha256")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushStack]:
    handle = start_push_stack(tmp_path_factory.mktemp("push"))
    yield handle
    handle.stop()


def raw_table(state_dir: Path) -> pa.Table:
    files = sorted((state_dir / "s3" / "udp-lake" / "raw" / "user_data").rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else \
        raw_arrow_schema().empty_table()


def dynamo_items(stack: PushStack) -> list[dict[str, Any]]:
    client = stack.client("dynamodb")
    return client.scan(TableName=stack.settings.users_table)["Items"]


def http(stack: PushStack, method: str, path: str, body: bytes | None = None,
         key: str | None = "default") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-api-key"] = stack.api_key if key == "default" else key
    req = urllib.request.Request(stack.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_pushed_users_reach_the_lake_and_dynamodb_and_get_answers_minimised(
        stack: PushStack, tmp_path: Path) -> None:
    # GIVEN an NDJSON file of 120 users (secrets included) and one broken record
    users = [generate_user("e2e", 1, i) for i in range(120)]
    lines = [json.dumps(u) for u in users] + [json.dumps({"login": {"uuid": "x"}, "dob": 3})]
    path = tmp_path / "users.ndjson"
    path.write_text("\n".join(lines) + "\n")
    # WHEN a partner pushes the file and the stream readers catch up
    summary = push_file(stack.url, str(path), stack.api_key)
    stack.drain()
    # THEN 120 were accepted and the broken one was rejected with its line's index
    assert summary.accepted == 120 and summary.errors == [] and summary.requests == 1
    assert [(r["index"], r["code"]) for r in summary.rejected] == [(120, "bad_type")]
    # AND the Firehose twin wrote them as raw Parquet under today's p_date, raw contract,
    # no secret anywhere
    today = datetime.now(UTC).date().isoformat()
    folder = stack.state_dir / "s3" / "udp-lake" / "raw" / "user_data" / f"p_date={today}"
    assert list(folder.glob("udp-user-push-*.parquet"))
    table = raw_table(stack.state_dir)
    assert table.schema.equals(raw_arrow_schema())
    pushed = {u["login"]["uuid"] for u in users}
    uuids = [lg["uuid"] for lg in table.column("login").to_pylist()]
    assert pushed <= set(uuids)
    for login in table.column("login").to_pylist():
        assert not set(SECRETS) & set(login)
    # AND DynamoDB holds each user once, and GET answers the users columns, minimised
    assert pushed <= {i["user_id"]["S"] for i in dynamo_items(stack)}
    for user in users[:10]:
        status, row = get_user(stack.url, user["login"]["uuid"], stack.api_key)
        assert status == 200
        assert row["email_domain"] == user["email"].split("@")[1]
        assert row["phone_masked"].endswith(user["phone"][-2:])
        assert row["phone_masked"].count("*") == sum(c.isdigit() for c in user["phone"]) - 2
        text = json.dumps(row)
        assert user["email"] not in text and user["location"]["street"]["name"] not in text
        assert user["login"]["password"] not in text
        # the same row the model function makes from the stored raw record
        stored = next(r for r in table.to_pylist() if r["login"]["uuid"] == row["user_id"])
        assert to_user_row(stored, stack.settings.email_hash_salt) == row


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"{not json", 400, "invalid_json"),
    (b'"just text"', 400, "wrong_shape"),
    (b'{"results": 5}', 400, "wrong_shape"),
    (json.dumps([{"login": {"uuid": f"u{i}"}} for i in range(501)]).encode(), 400,
     "too_many_records"),
    (b"[" + b" " * (6 * 1024 * 1024) + b"]", 413, "body_too_large"),
    (b"[" + b" " * (11 * 1024 * 1024) + b"]", 413, None),  # API Gateway's own 10 MB limit
    (json.dumps([{"login": {"uuid": "ok"}, "email": ["not", "text"]}]).encode(), 422, None),
])
def test_bad_input_gets_a_4xx_and_nothing_reaches_the_stream(
        stack: PushStack, body: bytes, status: int, reason: str | None) -> None:
    stack.drain()
    before = stack.poller.records_read
    # WHEN the body is posted
    got, answer = http(stack, "POST", "/users", body)
    # THEN a 4xx says why, and the stream stays as it was
    assert got == status
    if reason:
        assert answer["error"] == reason and answer["detail"]
    stack.drain()
    assert stack.poller.records_read == before


def test_push_reads_stdin_and_names_an_unreadable_file(
        stack: PushStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import io

    from push_api.client import PushClientError

    user = generate_user("stdin", 1, 0)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(user) + "\n"))
    assert push_file(stack.url, "-", stack.api_key).accepted == 1
    with pytest.raises(PushClientError, match="cannot read"):
        push_file(stack.url, str(tmp_path / "missing.json"), stack.api_key)
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(PushClientError, match="no record"):
        push_file(stack.url, str(tmp_path / "empty.json"), stack.api_key)


def test_the_gateway_wants_the_api_key(stack: PushStack) -> None:
    assert http(stack, "GET", "/users/abc", key=None) == (403, {"message": "Forbidden"})
    assert http(stack, "GET", "/users/abc", key="wrong")[0] == 403
    assert http(stack, "GET", "/nothing-here")[0] == 403  # API Gateway: no such resource
    assert http(stack, "GET", "/users/abc")[0] == 404
    assert http(stack, "GET", "/users/" + "x" * 40)[0] == 400
    assert http(stack, "GET", "/users/a%20b")[0] == 400  # decoded: a space is malformed


def test_usage_plan_throttling_answers_429(tmp_path: Path) -> None:
    with start_push_stack(tmp_path, PushSettings(rate_limit=0.001, burst_limit=2)) as stack:
        codes = [http(stack, "GET", "/users/abc")[0] for _ in range(3)]
    assert codes == [404, 404, 429]


def test_kinesis_throttling_and_consumer_crashes_lose_and_double_nothing(
        tmp_path: Path) -> None:
    # GIVEN Kinesis refusing 30% of the entries of every PutRecords, and a consumer whose
    # first three invocations crash
    crashing: list[CrashingConsumer] = []

    def crash(consumer: Any) -> Any:
        crashing.append(CrashingConsumer(consumer, crashes=3))
        return crashing[0]

    users = [generate_user("faults", 1, i) for i in range(300)]
    with start_push_stack(tmp_path, consumer_wrapper=crash,
                          kinesis_wrapper=lambda c: ThrottlingKinesis(c, 0.3)) as stack:
        # WHEN 300 users are pushed and the readers catch up
        summary = push_records(stack.url, users, stack.api_key)
        stack.drain()
        items = dynamo_items(stack)
        on_failure = list(stack.on_failure)
        errors = stack.invoker.function_errors
    # THEN every user is in DynamoDB, none went to the on-failure destination
    assert summary.accepted == 300 and summary.undelivered == []
    assert {i["user_id"]["S"] for i in items} == {u["login"]["uuid"] for u in users}
    assert on_failure == [] and errors == 3
    # AND the raw layer holds each user exactly once (no retry wrote a record twice)
    uuids = [lg["uuid"] for lg in raw_table(tmp_path).column("login").to_pylist()]
    assert sorted(uuids) == sorted(u["login"]["uuid"] for u in users)


def test_a_poison_record_goes_to_the_on_failure_destination_and_the_rest_is_stored(
        tmp_path: Path) -> None:
    with start_push_stack(tmp_path, PushSettings(max_retry_attempts=2)) as stack:
        # GIVEN a record another producer wrote that is not a user, then good users
        kinesis = stack.client("kinesis")
        kinesis.put_record(StreamName=stack.settings.stream_name, PartitionKey="same",
                           Data=b"\xff\xfe not json")
        users = [generate_user("poison", 1, i) for i in range(20)]
        push_records(stack.url, users, stack.api_key)
        stack.drain()
        items = dynamo_items(stack)
        on_failure = list(stack.on_failure)
    # THEN the good users are stored, and the destination names the poison record's batch
    assert {u["login"]["uuid"] for u in users} <= {i["user_id"]["S"] for i in items}
    assert len(on_failure) == 1
    info = on_failure[0]["KinesisBatchInfo"]
    assert info["batchSize"] >= 1 and info["streamArn"].endswith("/udp-user-push")
    assert on_failure[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert (tmp_path / "push" / "on-failure.jsonl").read_text().count("\n") == 1
    # AND the Firehose twin put the poison record under the error prefix, not in raw
    errors = list((tmp_path / "s3" / "udp-lake" / "errors").rglob("*"))
    assert any(p.is_file() for p in errors)


def test_dynamodb_survives_a_restart_of_the_stack(tmp_path: Path) -> None:
    user = generate_user("restart", 1, 0)
    with start_push_stack(tmp_path) as stack:
        push_records(stack.url, [user], stack.api_key)
        stack.drain()
        key = stack.api_key
    with start_push_stack(tmp_path) as stack:
        assert stack.api_key == key
        status, row = get_user(stack.url, user["login"]["uuid"], key)
    assert status == 200 and row["user_id"] == user["login"]["uuid"]
