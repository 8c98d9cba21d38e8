"""Local twins of the push path: API Gateway (REST), Kinesis, DynamoDB and the two readers
of the stream (Firehose with the stream as source, the consumer's event source mapping).

- Kinesis and DynamoDB are moto in server mode on 127.0.0.1: the AWS-side code
  (``push_api``) talks to them with the same boto3 calls, only ``endpoint_url`` differs.
- ``LocalGateway`` is a ThreadingHTTPServer that checks ``x-api-key`` and a usage
  plan's rate/burst as API Gateway would (403 / 429), refuses bodies over API Gateway's
  10 MB (413), turns each request into a REST proxy event and calls the Lambda handler.
  A handler instance serves one request at a time, as a Lambda execution environment
  does; concurrent requests get more instances, kept warm for the next ones.
- ``StreamPoller`` reads every shard (GetShardIterator / GetRecords) and hands each
  batch to the Firehose twin (same raw table, same ``p_date`` prefix as the pull path)
  and to the consumer as Lambda's Kinesis event, with the event source mapping's
  semantics: ReportBatchItemFailures (retry from the lowest failed sequence number),
  BisectBatchOnFunctionError, MaximumRetryAttempts, then the on-failure destination (a
  JSON-lines file with Lambda's ``KinesisBatchInfo`` record).

``start_push_stack(state_dir)`` starts all of it and returns a :class:`PushStack`.
A record the API reports accepted is in ``<state_dir>/push/stream.log`` (fsync'd)
before the answer leaves (:mod:`local_aws.push.log`); each checkpoint writes
Firehose's buffer and a DynamoDB snapshot (``users.jsonl``) and marks its records
consumed. ``stop()`` (Ctrl-C, SIGTERM) refuses new records, reads the stream to its
end and checkpoints; a start after a crash restores the snapshot and replays what no
checkpoint finished. The raw Parquet the Firehose twin writes stays in the lake like
the pull path's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from contracts.erasure_store import S3RegisterStore
from contracts.tables import RAW
from ingest_lambda.core import S3ErrorSink
from local_aws.firehose.delivery import DeliveryStreamConfig, LocalFirehose
from local_aws.push.endpoint import API_KEY_FILE, ENDPOINT_FILE, write_push_endpoint
from local_aws.push.log import DurableKinesis, StreamLog
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore
from push_api.api import PushPorts, create_app
from push_api.consumer import create_consumer
from push_api.store import DynamoUserStore
from push_api.stream import KinesisSender

__all__ = ["API_GATEWAY_MAX_BODY", "ConsumerInvoker", "LocalGateway", "MotoEmulator",
           "PushSettings", "PushStack", "StreamPoller", "TokenBucket", "kinesis_event",
           "rest_proxy_event", "start_push_stack"]

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # REST API payload quota (10 MB)
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# ------------------------------------------------------------------ events as Lambda gets them

@dataclass
class FakeContext:
    """The parts of a LambdaContext that Powertools reads."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def rest_proxy_event(method: str, path: str, *, headers: dict[str, str] | None = None,
                     body: bytes | None = None, resource: str | None = None,
                     path_parameters: dict[str, str] | None = None,
                     query: dict[str, str] | None = None, api_key_id: str | None = None,
                     stage: str = "local", request_id: str | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """An API Gateway REST proxy-integration event (payload format 1.0)."""
    headers = dict(headers or {})
    at = now or datetime.now(UTC)
    text: str | None = None
    is_b64 = False
    if body is not None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode("ascii"), True
    rid = request_id or str(uuid.uuid4())
    return {
        "resource": resource or path, "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path, "httpMethod": method, "path": f"/{stage}{path}",
            "stage": stage, "requestId": rid, "accountId": ACCOUNT, "apiId": "local",
            "protocol": "HTTP/1.1", "requestTimeEpoch": int(at.timestamp() * 1000),
            "requestTime": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "identity": {"apiKeyId": api_key_id, "sourceIp": "127.0.0.1",
                         "userAgent": headers.get("User-Agent", "")},
        },
        "body": text, "isBase64Encoded": is_b64,
    }


def kinesis_event(records: list[dict[str, Any]], shard_id: str, stream_arn: str
                  ) -> dict[str, Any]:
    """GetRecords records -> the event Lambda's Kinesis event source mapping sends."""
    out = []
    for r in records:
        arrival = r.get("ApproximateArrivalTimestamp")
        out.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
                        "sequenceNumber": r["SequenceNumber"],
                        "data": base64.b64encode(r["Data"]).decode("ascii"),
                        "approximateArrivalTimestamp":
                            arrival.timestamp() if isinstance(arrival, datetime) else time.time()},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": f"{shard_id}:{r['SequenceNumber']}", "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/udp-push-consumer",
            "awsRegion": REGION, "eventSourceARN": stream_arn,
        })
    return {"Records": out}


# ------------------------------------------------------------------ moto in server mode

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoEmulator:
    """moto's ThreadedMotoServer on 127.0.0.1 and a boto3 session that reaches it.

    moto keeps its state per process, keyed by account: every emulator gets its own
    random account id (sent as moto's ``x-moto-account-id`` header), so two stacks in one
    process (tests) never see each other's streams and tables.
    """

    def __init__(self, port: int | None = None) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request else
        self.port = port or free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.account_id = f"{secrets.randbelow(10**12):012d}"

    def _tag_account(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.account_id

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        ).client(service, endpoint_url=self.endpoint_url,
                 config=Config(retries={"max_attempts": 2, "mode": "standard"},
                               max_pool_connections=32))
        client.meta.events.register("before-sign", self._tag_account)
        return client

    def stop(self) -> None:
        self._server.stop()


# ------------------------------------------------------------------ API Gateway

class TokenBucket:
    """A usage plan's throttle: ``rate`` requests/s steady, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    if method == "POST" and path == "/users":
        return "/users", {}
    if method == "GET" and path.startswith("/users/") and path.count("/") == 2:
        user_id = unquote(path[len("/users/"):])
        return ("/users/{user_id}", {"user_id": user_id}) if user_id else None
    return None


class LocalGateway:
    """API Gateway (REST, proxy integration, API key required) on 127.0.0.1."""

    def __init__(self, handler_factory: Callable[[], Handler], api_key: str, *,
                 throttle: TokenBucket | None = None, port: int = 0,
                 max_body: int = API_GATEWAY_MAX_BODY) -> None:
        self.api_key = api_key
        self.throttle = throttle
        self.max_body = max_body
        pool: list[Handler] = []  # warm "execution environments", one per concurrent call
        pool_lock = threading.Lock()

        def run(event: dict[str, Any]) -> dict[str, Any]:
            with pool_lock:
                handler = pool.pop() if pool else None
            if handler is None:
                handler = handler_factory()
            try:
                return handler(event, FakeContext("udp-push-api"))
            finally:
                with pool_lock:
                    pool.append(handler)

        gateway = self

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _message(self, status: int, message: str) -> None:
                self._answer(status, json.dumps({"message": message}).encode(),
                             {"Content-Type": "application/json"})

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > gateway.max_body:
                    while length > 0:  # read it away so the client sees the answer
                        length -= len(self.rfile.read(min(length, 1 << 20)) or b"x" * length)
                    self.close_connection = True
                    self._message(413, "Request Entity Too Large")
                    return
                body = self.rfile.read(length) if length else None
                path = urlsplit(self.path).path
                routed = _route(self.command, path)
                if routed is None:
                    self._message(403, "Missing Authentication Token")  # API Gateway's answer
                    return
                if self.headers.get("x-api-key") != gateway.api_key:
                    self._message(403, "Forbidden")
                    return
                if gateway.throttle is not None and not gateway.throttle.take():
                    self._message(429, "Too Many Requests")
                    return
                resource, params = routed
                event = rest_proxy_event(self.command, path, headers=dict(self.headers.items()),
                                         body=body, resource=resource, path_parameters=params,
                                         api_key_id="local-key")
                try:
                    result = run(event)
                except Exception:  # what API Gateway answers when the integration fails
                    self._message(502, "Internal server error")
                    return
                raw = result.get("body") or ""
                data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
                headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
                self._answer(int(result.get("statusCode", 200)), data, headers)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Request)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="udp-push-gateway")
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ event source mapping

@dataclass
class ConsumerInvoker:
    """Lambda's Kinesis event source mapping around one consumer handler."""

    consumer: Handler
    stream_arn: str
    max_retry_attempts: int = 3
    bisect_on_error: bool = True
    on_failure: Callable[[dict[str, Any]], None] = lambda _: None
    sleep: Callable[[float], None] = time.sleep
    invocations: int = 0
    function_errors: int = 0

    def deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        self._deliver(shard_id, records, self.max_retry_attempts)

    def _invoke(self, shard_id: str, records: list[dict[str, Any]]) -> list[str] | None:
        """Failed sequence numbers, [] for success, None for a function error."""
        self.invocations += 1
        try:
            answer = self.consumer(kinesis_event(records, shard_id, self.stream_arn),
                                   FakeContext("udp-push-consumer"))
        except Exception:
            self.function_errors += 1
            return None
        return [f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])]

    def _deliver(self, shard_id: str, records: list[dict[str, Any]], attempts_left: int) -> None:
        pending = records
        while pending:
            failed = self._invoke(shard_id, pending)
            if failed == []:
                return
            if failed is None and self.bisect_on_error and len(pending) > 1:
                half = len(pending) // 2
                self._deliver(shard_id, pending[:half], attempts_left)
                self._deliver(shard_id, pending[half:], attempts_left)
                return
            if attempts_left <= 0:
                self._give_up(shard_id, pending)
                return
            attempts_left -= 1
            if failed:  # checkpoint: retry from the lowest failed sequence number
                lowest = min(failed, key=int)
                seqs = [r["SequenceNumber"] for r in pending]
                pending = pending[seqs.index(lowest):] if lowest in seqs else pending
            self.sleep(0.01)

    def _give_up(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """What the on-failure destination receives: where the batch is, not its data."""
        self.on_failure({
            "requestContext": {"requestId": str(uuid.uuid4()),
                               "condition": "RetryAttemptsExhausted",
                               "approximateInvokeCount": self.max_retry_attempts + 1},
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id, "streamArn": self.stream_arn, "batchSize": len(records),
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"]}})


class StreamPoller:
    """Reads every shard and feeds the Firehose twin and the consumer.

    ``durable`` (the API's :class:`DurableKinesis`) names the spool records each batch
    carries; every ``flush_every_s``, on ``drain()`` and on ``stop()`` ``checkpoint``
    gets the ids consumed since the last one (it writes Firehose's buffer). Without a
    ``checkpoint`` the poller just flushes Firehose."""

    def __init__(self, kinesis: Any, stream_name: str, firehose: LocalFirehose,
                 delivery_stream: str, invoker: ConsumerInvoker, *, batch_size: int = 100,
                 idle_sleep_s: float = 0.05, flush_every_s: float = 5.0,
                 durable: DurableKinesis | None = None,
                 checkpoint: Callable[[list[str]], None] | None = None) -> None:
        self.kinesis, self.stream = kinesis, stream_name
        self.firehose, self.delivery_stream = firehose, delivery_stream
        self.invoker = invoker
        self.durable = durable
        self._checkpoint = checkpoint
        self._consumed: list[str] = []
        self._flush_lock = threading.Lock()
        self.batch_size, self.idle_sleep_s, self.flush_every_s = (
            batch_size, idle_sleep_s, flush_every_s)
        self.records_read = 0
        self._empty_passes = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._iterators: dict[str, str] = {}
        self._last_flush = time.monotonic()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name="udp-push-poller")
        self._thread.start()

    def _shards(self) -> list[str]:
        shards = self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        return [s["ShardId"] for s in shards]

    def _iterator(self, shard_id: str) -> str:
        if shard_id not in self._iterators:
            self._iterators[shard_id] = self.kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard_id,
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return self._iterators[shard_id]

    def _to_firehose(self, records: list[dict[str, Any]]) -> None:
        pending = [{"Data": r["Data"]} for r in records]
        for _ in range(10):
            answer = self.firehose.put_record_batch(DeliveryStreamName=self.delivery_stream,
                                                    Records=pending)
            if not answer["FailedPutCount"]:
                return
            pending = [p for p, a in zip(pending, answer["RequestResponses"], strict=True)
                       if a.get("ErrorCode")]
            time.sleep(0.01)
        self.errors.append(f"firehose refused {len(pending)} records")

    def poll_once(self) -> int:
        """One pass over every shard; the number of records read."""
        read = 0
        for shard_id in self._shards():
            answer = self.kinesis.get_records(ShardIterator=self._iterator(shard_id),
                                              Limit=self.batch_size)
            self._iterators[shard_id] = answer["NextShardIterator"]
            records = answer["Records"]
            if records:
                with self._flush_lock:  # a checkpoint covers whole batches only
                    self._to_firehose(records)
                    self.invoker.deliver(shard_id, records)
                    if self.durable is not None:
                        self._consumed.extend(self.durable.record_ids(shard_id, records))
                read += len(records)
        self.records_read += read
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()
        return read

    def flush(self) -> None:
        """Write Firehose's buffer and checkpoint what has been consumed."""
        with self._flush_lock:
            consumed, self._consumed = self._consumed, []
            if self._checkpoint is not None:
                self._checkpoint(consumed)
            else:
                self.firehose.flush()
            self._last_flush = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                read = self.poll_once()
            except Exception as exc:  # keep polling; the error is visible on the handle
                self.errors.append(f"{type(exc).__name__}: {exc}")
                read = 0
                self._stop.wait(0.2)
            if not read:
                with self._cond:
                    self._empty_passes += 1
                    self._cond.notify_all()
                self._stop.wait(self.idle_sleep_s)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until everything on the stream now has been read, then flush Firehose."""
        with self._cond:
            start = self._empty_passes
            if not self._cond.wait_for(lambda: self._empty_passes >= start + 2,
                                       timeout=timeout_s):
                raise TimeoutError(f"stream not drained in {timeout_s}s")
        self.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()


# ------------------------------------------------------------------ the whole push stack

@dataclass(frozen=True)
class PushSettings:
    stream_name: str = "udp-user-push"
    shards: int = 2
    users_table: str = "udp-users"
    delivery_stream: str = "udp-user-push"  # Firehose with the stream as its source
    lake_bucket: str = "udp-lake"
    errors_bucket: str = "udp-errors"
    email_hash_salt: str = field(default="local-not-secret-salt", repr=False)
    rate_limit: float = 1000.0  # usage plan: requests/s
    burst_limit: int = 2000
    batch_size: int = 100  # event source mapping BatchSize
    max_retry_attempts: int = 3
    flush_every_s: float = 5.0


@dataclass
class PushStack:
    """Handle on a running push stack: ``url``, ``api_key``, ``drain()``, ``stop()``."""

    url: str
    api_key: str
    endpoint_url: str
    settings: PushSettings
    state_dir: Path
    moto: MotoEmulator
    gateway: LocalGateway
    poller: StreamPoller
    invoker: ConsumerInvoker
    firehose: LocalFirehose
    on_failure: list[dict[str, Any]]
    log: StreamLog
    durable: DurableKinesis
    replayed: int = 0
    _stopped: bool = False

    def client(self, service: str) -> Any:
        return self.moto.client(service)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Let the stream readers catch up and Firehose write its buffer (tests, demos)."""
        self.poller.drain(timeout_s)

    def stop(self) -> None:
        """Stop serving, let Firehose write its buffer, save DynamoDB (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.gateway.stop()
        self.durable.close()  # a request still running gets 502: nothing accepted is lost
        with contextlib.suppress(TimeoutError):  # what is left stays spooled for the next start
            self.poller.drain()
        self.poller.stop()
        _save_users(self.moto.client("dynamodb"), self.settings.users_table,
                    _push_dir(self.state_dir) / "users.jsonl")
        self.log.compact()
        self.moto.stop()
        endpoint = _push_dir(self.state_dir) / ENDPOINT_FILE
        with contextlib.suppress(OSError, ValueError):  # only our own record, not a newer one
            if json.loads(endpoint.read_text()).get("url") == self.url:
                endpoint.unlink()

    def __enter__(self) -> PushStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _push_dir(state_dir: Path) -> Path:
    path = Path(state_dir) / "push"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _api_key(state_dir: Path, given: str | None) -> str:
    """The gateway's API key: given, else the one saved under the state folder, else new."""
    path = _push_dir(state_dir) / API_KEY_FILE
    if given:
        return given
    if path.is_file():
        return path.read_text().strip()
    key = secrets.token_urlsafe(30)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _scan(client: Any, table: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _save_users(client: Any, table: str, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        for item in _scan(client, table):
            fh.write(json.dumps(item) + "\n")
    tmp.replace(path)


def _create_resources(moto: MotoEmulator, s: PushSettings, snapshot: Path) -> str:
    kinesis, dynamodb = moto.client("kinesis"), moto.client("dynamodb")
    kinesis.create_stream(StreamName=s.stream_name, ShardCount=s.shards)
    arn = kinesis.describe_stream_summary(
        StreamName=s.stream_name)["StreamDescriptionSummary"]["StreamARN"]
    dynamodb.create_table(TableName=s.users_table, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "user_id",
                                                 "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}])
    if snapshot.is_file():
        for line in snapshot.read_text().splitlines():
            if line.strip():
                dynamodb.put_item(TableName=s.users_table, Item=json.loads(line))
    return str(arn)


def _static_root(prefix: str) -> str:
    """The part of a Firehose prefix before its first ``!{...}`` expression."""
    return prefix.split("!{", 1)[0]


def _undo_unfinished(log: StreamLog, s3: Any, cfg: DeliveryStreamConfig) -> None:
    """Delete the objects of checkpoints that never finished; their records replay."""
    for token in log.unfinished_tokens():
        for root in {_static_root(cfg.prefix), _static_root(cfg.error_prefix)}:
            for obj in s3.list_objects_v2(Bucket=cfg.bucket, Prefix=root)["Contents"]:
                if token in obj["Key"]:
                    s3.delete_object(Bucket=cfg.bucket, Key=obj["Key"])
        log.abandon(token)


def start_push_stack(state_dir: Path, settings: PushSettings | None = None, *,
                     api_key: str | None = None, port: int = 0, s3: Any = None,
                     make_firehose: Callable[[DeliveryStreamConfig], LocalFirehose] | None = None,
                     consumer_wrapper: Callable[[Handler], Handler] | None = None,
                     kinesis_wrapper: Callable[[Any], Any] | None = None) -> PushStack:
    """Start moto (Kinesis + DynamoDB), the gateway, the stream poller; return the handle.

    ``s3`` is the lake/errors S3 twin (default: a ``LocalS3`` over ``<state_dir>/s3``,
    the folder ``LocalCloud`` uses); ``make_firehose`` makes the delivery stream's
    Firehose twin (``LocalCloud.firehose``; default: one over ``s3``).
    ``consumer_wrapper`` / ``kinesis_wrapper`` wrap the
    consumer handler / the API's Kinesis client (fault injection in tests).
    Writes ``<state_dir>/push/endpoint.json`` (url, pid) and ``api-key`` for the CLI
    (:mod:`local_aws.push.endpoint`).
    """
    s = settings or PushSettings()
    state_dir = Path(state_dir)
    push_dir = _push_dir(state_dir)
    key = _api_key(state_dir, api_key)
    lake_s3 = s3 or LocalS3(LocalObjectStore(state_dir / "s3"))
    moto = MotoEmulator()
    poller: StreamPoller | None = None
    try:
        snapshot = push_dir / "users.jsonl"
        stream_arn = _create_resources(moto, s, snapshot)
        log = StreamLog(push_dir)
        api_kinesis = moto.client("kinesis")
        durable = DurableKinesis(kinesis_wrapper(api_kinesis) if kinesis_wrapper
                                 else api_kinesis, log)

        def api_handler() -> Handler:
            ports = PushPorts(
                sender=KinesisSender(durable, s.stream_name),
                users=DynamoUserStore(moto.client("dynamodb"), s.users_table),
                errors=S3ErrorSink(lake_s3, s.errors_bucket, prefix="push"),
                erasures=S3RegisterStore(lake_s3, s.lake_bucket))
            return create_app(ports).resolve

        consumer = create_consumer(DynamoUserStore(moto.client("dynamodb"), s.users_table),
                                   s.email_hash_salt)
        if consumer_wrapper is not None:
            consumer = consumer_wrapper(consumer)
        on_failure: list[dict[str, Any]] = []
        failure_log = push_dir / "on-failure.jsonl"

        def to_destination(record: dict[str, Any]) -> None:
            on_failure.append(record)
            with failure_log.open("a") as fh:
                fh.write(json.dumps(record) + "\n")

        invoker = ConsumerInvoker(consumer, stream_arn,
                                  max_retry_attempts=s.max_retry_attempts,
                                  on_failure=to_destination)
        # the buffer is written by checkpoints only (never by size or age on its own), so
        # every raw object belongs to exactly one checkpoint
        delivery = DeliveryStreamConfig(
            name=s.delivery_stream, bucket=s.lake_bucket,
            prefix=f"{RAW.prefix}/p_date=!{{timestamp:yyyy-MM-dd}}/",
            size_mb=1 << 20, interval_s=1 << 30)
        firehose = (make_firehose or (lambda d: LocalFirehose(lake_s3, [d])))(delivery)
        dynamodb = moto.client("dynamodb")

        def checkpoint(ids: list[str]) -> None:
            if not ids:
                firehose.flush()
                return
            token = uuid.uuid4().hex
            log.begin(token, ids)
            firehose.flush(object_id=token)
            _save_users(dynamodb, s.users_table, snapshot)
            log.done(token)

        _undo_unfinished(log, lake_s3, delivery)
        replayed = durable.replay(s.stream_name, log.pending())
        poller = StreamPoller(moto.client("kinesis"), s.stream_name, firehose,
                              s.delivery_stream, invoker, batch_size=s.batch_size,
                              flush_every_s=s.flush_every_s, durable=durable,
                              checkpoint=checkpoint)
        gateway = LocalGateway(api_handler, key, port=port,
                               throttle=TokenBucket(s.rate_limit, s.burst_limit))
    except BaseException:
        if poller is not None:
            poller.stop()
        moto.stop()
        raise
    write_push_endpoint(state_dir, gateway.url)
    return PushStack(url=gateway.url, api_key=key, endpoint_url=moto.endpoint_url,
                     settings=s, state_dir=state_dir, moto=moto, gateway=gateway,
                     poller=poller, invoker=invoker, firehose=firehose, on_failure=on_failure,
                     log=log, durable=durable, replayed=replayed)
