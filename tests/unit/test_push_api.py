"""The push API's handlers with API Gateway / Kinesis events and in-memory ports."""

from __future__ import annotations

import base64
import copy
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_aws.push.stack import TokenBucket, _route, kinesis_event, rest_proxy_event
from local_aws.user_api.server import generate_user
from push_api.api import PushPorts, create_app
from push_api.client import read_records
from push_api.consumer import PoisonRecord, create_consumer, row_from_data
from push_api.model import (
    coordinate,
    email_domain,
    email_hash,
    mask_phone,
    tz_offset_minutes,
    valid_user_id,
)
from push_api.records import MAX_BODY_BYTES, PushRejected, parse_body
from push_api.store import LATEST_WINS, from_item, to_item
from push_api.stream import KinesisSender, chunk_entries

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SECRETS = ("password", "salt", "md5", "sha1", "sha256")


@dataclass
class FakeKinesis:
    """put_records that records every accepted entry; ``fail`` decides per entry."""

    fail: Any = None  # (attempt, partition key) -> error code or None
    written: list[tuple[str, bytes]] = field(default_factory=list)
    calls: int = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        answers = []
        for r in Records:
            code = self.fail(self.calls, r["PartitionKey"]) if self.fail else None
            if code:
                answers.append({"ErrorCode": code, "ErrorMessage": "Rate exceeded for shard"})
            else:
                self.written.append((r["PartitionKey"], r["Data"]))
                answers.append({"SequenceNumber": str(len(self.written)), "ShardId": "s-0"})
        return {"FailedRecordCount": sum("ErrorCode" in a for a in answers), "Records": answers}


@dataclass
class MemoryUsers:
    """UserStore with the same latest-wins rule as the DynamoDB condition."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def put_latest(self, row: dict[str, Any]) -> bool:
        old = self.rows.get(row["user_id"])
        if old and (old["fetched_at"], old["batch_id"]) >= (row["fetched_at"], row["batch_id"]):
            return False
        self.rows[row["user_id"]] = row
        return True

    def lookup(self, user_id: str) -> dict[str, Any] | None:
        return self.rows.get(user_id)


@dataclass
class MemoryErrors:
    written: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)

    def write(self, p_date: str, batch_id: str, entries: list[dict[str, Any]]) -> None:
        self.written.append((p_date, batch_id, entries))


@pytest.fixture()
def ports() -> PushPorts:
    return PushPorts(sender=KinesisSender(FakeKinesis(), "s", sleep=lambda _: None),
                     users=MemoryUsers(), errors=MemoryErrors(), clock=lambda: NOW)


def call(ports: PushPorts, method: str, path: str, body: Any = None,
         raw: bytes | None = None, b64: bool = False) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    event = rest_proxy_event(method, path, body=data, request_id="req-1", now=NOW)
    if b64 and data is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
    answer = create_app(ports).resolve(event, None)  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"])


def users(n: int, seed: str = "u") -> list[dict[str, Any]]:
    return [generate_user(seed, 1, i) for i in range(n)]


def written(ports: PushPorts) -> list[tuple[str, bytes]]:
    client = ports.sender.client
    assert isinstance(client, FakeKinesis)
    return client.written


# ------------------------------------------------------------------ POST /users

def test_a_batch_is_validated_scrubbed_and_put_keyed_by_user_id(ports: PushPorts) -> None:
    # GIVEN three users with secrets and one without a uuid
    batch = [*users(3), {"login": {"password": "x"}}]
    # WHEN they are pushed
    status, answer = call(ports, "POST", "/users", batch)
    # THEN three are accepted, the fourth is rejected with its index and reason
    assert status == 200
    assert answer["accepted"] == 3 and answer["received"] == 4
    assert answer["rejected"] == [{"index": 3, "code": "missing_required",
                                   "path": "login.uuid", "detail": "login.uuid is required"}]
    assert answer["secrets_dropped"] == 3
    # AND the stream got the three, keyed by login.uuid, with the ingest metadata, no secret
    out = written(ports)
    assert [k for k, _ in out] == [u["login"]["uuid"] for u in batch[:3]]
    for _, data in out:
        record = json.loads(data)
        assert data.endswith(b"\n")
        assert not set(SECRETS) & set(record["login"])
        assert record["batch_id"] == "req-1"
        assert record["fetched_at"] == "2026-11-30T10:00:00.000000Z"
        assert record["source_seed"] == "push"
    # AND the rejected record was quarantined (secrets scrubbed) under the day's p_date
    assert isinstance(ports.errors, MemoryErrors)
    (p_date, batch_id, entries), = ports.errors.written
    assert (p_date, batch_id) == ("2026-11-30", "req-1")
    assert entries[0]["record"] == {"login": {}} and entries[0]["index"] == 3


@pytest.mark.parametrize("shape", ["object", "array", "page", "base64"])
def test_one_user_an_array_or_a_randomuser_page_are_accepted(ports: PushPorts,
                                                             shape: str) -> None:
    one = users(2)
    body: Any = {"object": one[0], "array": one, "page": {"results": one, "info": {}},
                 "base64": one}[shape]
    status, answer = call(ports, "POST", "/users", body, b64=shape == "base64")
    assert status == 200
    assert answer["accepted"] == (1 if shape == "object" else 2)


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (b"", 400, "empty_body"),
    (b"   ", 400, "empty_body"),
    (b"42", 400, "wrong_shape"),
    (b'"a user"', 400, "wrong_shape"),
    (b"null", 400, "wrong_shape"),
    (b'{"results": {"login": {}}}', 400, "wrong_shape"),
    (b"[]", 400, "empty_batch"),
    (json.dumps([{"login": {"uuid": f"u{i}"}} for i in range(501)]).encode(), 400,
     "too_many_records"),
    (b"[" + b" " * MAX_BODY_BYTES + b"]", 413, "body_too_large"),
])
def test_unusable_requests_get_a_4xx_with_a_reason_and_nothing_reaches_the_stream(
        ports: PushPorts, raw: bytes, status: int, code: str) -> None:
    # WHEN an unusable body is posted
    got, answer = call(ports, "POST", "/users", raw=raw)
    # THEN the status and reason say why, and the stream saw nothing
    assert (got, answer["error"]) == (status, code)
    assert answer["detail"]
    assert written(ports) == []


def test_a_batch_with_no_valid_record_is_422_and_nothing_reaches_the_stream(
        ports: PushPorts) -> None:
    # (the first carries what a user must, so its over-long id is what is reported)
    bad = [{"login": {"uuid": "a" * 37}, "name": {}, "gender": "f", "nat": "CH"}, [1, 2],
           {"login": {"uuid": "ok"}, "dob": "x"}]
    status, answer = call(ports, "POST", "/users", bad)
    assert status == 422 and answer["accepted"] == 0
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [
        (0, "bad_user_id"), (1, "bad_type"), (2, "bad_type")]
    assert written(ports) == []


def test_500_records_are_one_request(ports: PushPorts) -> None:
    status, answer = call(ports, "POST", "/users", users(500))
    assert status == 200 and answer["accepted"] == 500


def test_throttled_records_are_retried_until_written_once_each(ports: PushPorts) -> None:
    # GIVEN Kinesis refusing every other record on the first two calls
    fake = FakeKinesis(fail=lambda call_no, key: "ProvisionedThroughputExceededException"
                       if call_no <= 2 and hash(key) % 2 else None)
    ports.sender = KinesisSender(fake, "s", sleep=lambda _: None)
    batch = users(50)
    # WHEN pushed
    status, answer = call(ports, "POST", "/users", batch)
    # THEN every record is on the stream exactly once
    assert status == 200 and answer["accepted"] == 50
    assert sorted(k for k, _ in fake.written) == sorted(u["login"]["uuid"] for u in batch)
    assert fake.calls >= 2


def test_records_kinesis_keeps_refusing_are_reported_undelivered_with_503(
        ports: PushPorts) -> None:
    # GIVEN one user Kinesis always refuses
    batch = users(5)
    victim = batch[2]["login"]["uuid"]
    fake = FakeKinesis(fail=lambda _, key: "InternalFailure" if key == victim else None)
    ports.sender = KinesisSender(fake, "s", sleep=lambda _: None, max_attempts=3)
    # WHEN pushed
    status, answer = call(ports, "POST", "/users", batch)
    # THEN the four others are on the stream once, and the client is told to resend index 2
    assert status == 503 and answer["accepted"] == 4
    assert [u["index"] for u in answer["undelivered"]] == [2]
    assert "InternalFailure" in answer["undelivered"][0]["detail"]
    assert len(fake.written) == 4 and fake.calls == 3


def test_sender_backoff_is_full_jitter_capped() -> None:
    delays: list[float] = []
    fake = FakeKinesis(fail=lambda _, __: "ProvisionedThroughputExceededException")
    sender = KinesisSender(fake, "s", max_attempts=8, base_delay_s=0.1, max_delay_s=0.5,
                           sleep=delays.append, rng=random.Random(3))
    outcome = sender.put([("k", b"x")])
    assert list(outcome.failed) == [0]
    assert len(delays) == 7
    assert all(0 <= d <= min(0.5, 0.1 * 2 ** (i + 1)) for i, d in enumerate(delays))


def test_chunks_respect_500_records_and_5_mib() -> None:
    small = [("k", b"x")] * 1001
    assert [len(c) for c in chunk_entries(small)] == [500, 500, 1]
    big = [("k", b"x" * (2 * 1024 * 1024))] * 5
    assert [len(c) for c in chunk_entries(big)] == [2, 2, 1]


# ------------------------------------------------------------------ GET /users/{id}

def test_get_returns_the_stored_row_404_unknown_400_malformed(ports: PushPorts) -> None:
    assert isinstance(ports.users, MemoryUsers)
    ports.users.rows["u-1"] = {"user_id": "u-1", "email_hash": "ab"}
    assert call(ports, "GET", "/users/u-1") == (200, {"user_id": "u-1", "email_hash": "ab"})
    status, answer = call(ports, "GET", "/users/u-2")
    assert (status, answer["error"]) == (404, "not_found")
    status, answer = call(ports, "GET", "/users/" + "x" * 37)
    assert (status, answer["error"]) == (400, "malformed_id")


def test_unknown_routes_are_404(ports: PushPorts) -> None:
    status, _ = call(ports, "DELETE", "/users/u-1")
    assert status == 404


@pytest.mark.parametrize(("user_id", "ok"), [
    ("5b0c3a7e-9d1f-4e8a-b2c4-7f6e5d4c3b2a", True), ("u1", True), ("", False),
    ("a b", False), ("a\u00a0b", False), ("x" * 37, False), ("tab\there", False)])
def test_user_id_rule(user_id: str, ok: bool) -> None:
    assert valid_user_id(user_id) is ok


# ------------------------------------------------------------------ minimisation

@pytest.mark.parametrize(("phone", "masked"), [
    ("(272) 790-0888", "(***) ***-**88"), ("0121 555 42", "**** *** 42"), ("7", "7"),
    ("  \u00a0", None), (None, None), ("٣٤٥-12", "٣٤٥-12")])
def test_mask_phone_keeps_the_last_two_ascii_digits(phone: str | None,
                                                    masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_email_is_reduced_to_domain_and_salted_hash() -> None:
    assert email_domain(" Ines.F@Example.COM ") == "example.com"
    assert email_domain("no-at-sign") is None
    import hashlib
    assert email_hash(" Ines.F@Example.COM", "s") == hashlib.sha256(
        b"sines.f@example.com").hexdigest()
    assert email_hash("", "s") is None


@pytest.mark.parametrize(("offset", "minutes"), [
    ("+5:30", 330), ("-3:00", -180), ("0:00", 0), (" +10:00 ", 600), ("5", None),
    ("+5:3", None), (None, None)])
def test_tz_offset(offset: str | None, minutes: int | None) -> None:
    assert tz_offset_minutes(offset) == minutes


@pytest.mark.parametrize(("text", "value"), [
    ("41.5454", 41.5454), (" -8.42 ", -8.42), ("91", None), ("nan", None), ("1_0", None),
    ("", None), ("1e1", 10.0)])
def test_coordinate(text: str, value: float | None) -> None:
    assert coordinate(text, 90.0) == value


# ------------------------------------------------------------------ DynamoDB items

def test_items_round_trip_and_never_hold_a_column_outside_users() -> None:
    row = row_from_data(_stream_data(generate_user("r", 1, 0)), "salt")
    item = to_item(row)
    assert from_item(item) == row
    assert from_item({**item, "password": {"S": "x"}}) == row
    assert "fetched_at = :f AND batch_id < :b" in LATEST_WINS


# ------------------------------------------------------------------ consumer

def _stream_data(user: dict[str, Any], fetched: str = "2026-11-30T10:00:00.000000Z",
                 batch: str = "b1") -> bytes:
    clean = copy.deepcopy(user)
    for key in SECRETS:
        clean["login"].pop(key, None)
    return json.dumps({**clean, "fetched_at": fetched, "batch_id": batch,
                       "source_page": None, "source_seed": "push"}).encode() + b"\n"


def _records(datas: list[bytes]) -> list[dict[str, Any]]:
    return [{"PartitionKey": "k", "SequenceNumber": str(100 + i), "Data": d}
            for i, d in enumerate(datas)]


def test_consumer_stores_rows_and_reports_poison_records_item_by_item() -> None:
    # GIVEN a batch with two good records around a poison one
    store = MemoryUsers()
    u1, u2 = users(2)
    event = kinesis_event(_records([_stream_data(u1), b"\x00not json", _stream_data(u2)]),
                          "shardId-0", "arn:aws:kinesis:us-east-1:1:stream/s")
    # WHEN the consumer runs
    answer = create_consumer(store, "salt")(event, None)
    # THEN only the poison record is reported, by sequence number; the good ones are stored
    assert answer == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert set(store.rows) == {u1["login"]["uuid"], u2["login"]["uuid"]}
    row = store.rows[u1["login"]["uuid"]]
    assert row["email_domain"] == u1["email"].split("@")[1]
    assert "email" not in row and "phone" not in row and "password" not in row


@pytest.mark.parametrize("data", [b"[1]", b"{}", b'{"login": {"uuid": "u"}}',
                                  _stream_data({"login": {"uuid": "u"}}, fetched="yesterday")])
def test_poison_records_are_named(data: bytes) -> None:
    with pytest.raises(PoisonRecord):
        row_from_data(data, "s")


def test_consumer_keeps_the_latest_version_whatever_the_order() -> None:
    store = MemoryUsers()
    u = users(1)[0]
    versions = [_stream_data({**u, "gender": g}, fetched=f"2026-11-30T10:00:0{i}.000000Z")
                for i, g in enumerate(("female", "male", "other"))]
    consume = create_consumer(store, "salt")
    for data in (versions[2], versions[0], versions[1], versions[2]):
        consume(kinesis_event(_records([data]), "shardId-0", "arn"), None)
    assert store.rows[u["login"]["uuid"]]["gender"] == "other"


# ------------------------------------------------------------------ gateway pieces

def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5
    assert [bucket.take(), bucket.take()] == [True, False]


def test_routes_of_the_rest_api() -> None:
    assert _route("POST", "/users") == ("/users", {})
    assert _route("GET", "/users/a%20b") == ("/users/{user_id}", {"user_id": "a b"})
    assert _route("GET", "/users/") is None
    assert _route("GET", "/users/a/b") is None


def test_client_reads_json_arrays_pages_objects_and_ndjson() -> None:
    assert read_records('[{"a": 1}, {"b": 2}]') == [{"a": 1}, {"b": 2}]
    assert read_records('{"results": [{"a": 1}], "info": {}}') == [{"a": 1}]
    assert read_records('{"a": 1}') == [{"a": 1}]
    assert read_records('{"a": 1}\n\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError, match="line 2"):
        read_records('{"a": 1}\n{oops\n')


def test_parse_body_limits_are_what_docs_say() -> None:
    with pytest.raises(PushRejected) as info:
        parse_body(b"x" * (MAX_BODY_BYTES + 1))
    assert info.value.status == 413


def test_client_signs_for_iam_auth_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from push_api.client import _signed_headers

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    headers = _signed_headers("POST", "https://abc.execute-api.eu-west-1.amazonaws.com/v1/users",
                              b"[]", {"x-api-key": "k"}, "eu-west-1")
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["x-api-key"] == "k" and "X-Amz-Date" in headers


def test_consumer_writes_users_in_parallel_but_one_user_never_twice_at_once() -> None:
    import threading

    # GIVEN a store that notes how many writes of each user run at the same time, and
    # that lets user A's write finish only once user B's has started
    started_b = threading.Event()
    lock = threading.Lock()
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    a, b = users(2)

    class Store(MemoryUsers):
        def put_latest(self, row: dict[str, Any]) -> bool:
            uid = row["user_id"]
            with lock:
                in_flight[uid] = in_flight.get(uid, 0) + 1
                peak[uid] = max(peak.get(uid, 0), in_flight[uid])
            if uid == b["login"]["uuid"]:
                started_b.set()
            else:
                assert started_b.wait(10), "users were not written in parallel"
            try:
                with lock:
                    return super().put_latest(row)
            finally:
                with lock:
                    in_flight[uid] -= 1

    store = Store()
    datas = [_stream_data(a, fetched=f"2026-11-30T10:00:0{i}.000000Z") for i in range(3)]
    records = [{"PartitionKey": a["login"]["uuid"], "SequenceNumber": str(i), "Data": d}
               for i, d in enumerate(datas)]
    records.append({"PartitionKey": b["login"]["uuid"], "SequenceNumber": "9",
                    "Data": _stream_data(b)})
    # WHEN one batch holds three versions of A and one of B
    answer = create_consumer(store, "salt")(kinesis_event(records, "s-0", "arn"), None)
    # THEN all landed, A's writes one at a time, and the latest A is stored
    assert answer == {"batchItemFailures": []}
    assert peak[a["login"]["uuid"]] == 1
    assert store.rows[a["login"]["uuid"]]["fetched_at"] == "2026-11-30T10:00:02.000000Z"

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
_USERISH = st.fixed_dictionaries({"login": st.fixed_dictionaries(
    {"uuid": st.text(max_size=40) | st.integers(), "password": st.text(max_size=4)})},
    optional={"dob": _JSON, "email": _JSON, "location": _JSON, "gender": _JSON})


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_JSON | st.lists(_USERISH | _JSON, max_size=6))
def test_any_json_gets_a_clear_answer_and_only_valid_records_reach_the_stream(
        body: Any) -> None:
    # GIVEN fresh in-memory ports
    ports = PushPorts(sender=KinesisSender(FakeKinesis(), "s", sleep=lambda _: None),
                      users=MemoryUsers(), errors=MemoryErrors(), clock=lambda: NOW)
    # WHEN any JSON document is posted
    status, answer = call(ports, "POST", "/users", body)
    # THEN the answer is a 2xx/4xx with a reason, never a crash
    assert status in (200, 400, 422)
    if status == 400:
        assert answer["error"] and answer["detail"]
    else:
        assert answer["accepted"] + len(answer["rejected"]) == answer["received"]
    # AND everything on the stream is a storable record without a secret
    for key, data in written(ports):
        row = row_from_data(data, "salt")
        assert row["user_id"] == key
        assert not set(SECRETS) & set(json.loads(data)["login"])
