"""Push path throughput and lookup latency on loopback, side by side in one run.

Starts the local push stack of a local cloud (moto server for Kinesis and DynamoDB, the
local API Gateway, the stream poller) and prints:

* accepted records/s for batched ``POST /users`` from N concurrent clients, through the
  HTTP gateway and calling the same handler directly (same ports, same moto), and the
  ratio of the two (target >= 0.5: the gateway twin may cost at most half);
* ``GET /users/{id}`` latency p50 / p99 with N concurrent clients, and the same ratio
  (requests/s over HTTP / direct);
* the consumer's records/s into DynamoDB (Kinesis events of 100 records, conditional
  writes to moto).

Wall-clock numbers (the stack is I/O across threads); run on an idle machine for
stable figures. Run: ``.venv/bin/python bench/push.py [--clients 4] [--batch 100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # no log line per request

from bench._figures import add_record_flag, measured_now, record  # noqa: E402
from ingest_lambda.core import S3ErrorSink  # noqa: E402
from local_aws.facade import (  # noqa: E402
    generate_user,
    kinesis_event,
    local_cloud,
    rest_proxy_event,
)
from push_api.api import PushPorts, create_app  # noqa: E402
from push_api.consumer import create_consumer  # noqa: E402
from push_api.store import DynamoUserStore  # noqa: E402
from push_api.stream import KinesisSender  # noqa: E402


def run_clients(clients: int, work: list[list[Any]], fn: Callable[[Any], float]
                ) -> tuple[float, list[float]]:
    """Each client thread runs ``fn`` over its share; (wall seconds, per-call seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(items: list[Any]) -> None:
        mine = [fn(item) for item in items]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(work[i],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies


def http_call(url: str, key: str, method: str, path: str, body: bytes | None) -> float:
    req = urllib.request.Request(url + path, data=body, method=method,
                                 headers={"x-api-key": key, "Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        exc.read()
        if exc.code >= 500:
            raise
    return time.perf_counter() - t0


def direct_handlers(stack: Any, clients: int) -> list[Any]:
    """One handler instance per client, as Lambda gives each concurrent call its own."""
    s = stack.settings
    out = []
    for _ in range(clients):
        ports = PushPorts(sender=KinesisSender(stack.client("kinesis"), s.stream_name),
                          users=DynamoUserStore(stack.client("dynamodb"), s.users_table),
                          errors=S3ErrorSink(stack.firehose.s3, s.errors_bucket, prefix="push"))
        out.append(create_app(ports).resolve)
    return out


def bench_post(stack: Any, clients: int, batch: int, requests: int
               ) -> tuple[float, float]:
    """(records/s over HTTP, records/s direct) for ``requests`` POSTs per client."""
    bodies = [[json.dumps([generate_user(f"bench-{mode}-{c}", r, i) for i in range(batch)]
                          ).encode() for r in range(requests)]
              for mode in ("http", "direct") for c in range(clients)]
    http_work, direct_work = bodies[:clients], bodies[clients:]
    wall_http, _ = run_clients(clients, http_work, lambda b: http_call(
        stack.url, stack.api_key, "POST", "/users", b))
    stack.drain(120)
    handlers = direct_handlers(stack, clients)
    work = [[(handlers[c], b) for b in direct_work[c]] for c in range(clients)]

    def direct(item: tuple[Any, bytes]) -> float:
        handler, body = item
        t0 = time.perf_counter()
        answer = handler(rest_proxy_event("POST", "/users", body=body), None)
        assert answer["statusCode"] == 200, answer
        return time.perf_counter() - t0

    wall_direct, _ = run_clients(clients, work, direct)
    stack.drain(120)
    total = clients * requests * batch
    return total / wall_http, total / wall_direct


def bench_get(stack: Any, clients: int, ids: list[str], per_client: int
              ) -> tuple[list[float], float, float]:
    """(HTTP latencies, requests/s over HTTP, requests/s direct)."""
    work = [[ids[(c * per_client + i) % len(ids)] for i in range(per_client)]
            for c in range(clients)]
    wall_http, lat = run_clients(clients, work, lambda uid: http_call(
        stack.url, stack.api_key, "GET", f"/users/{uid}", None))
    handlers = direct_handlers(stack, clients)

    def direct(item: tuple[Any, str]) -> float:
        handler, uid = item
        t0 = time.perf_counter()
        answer = handler(rest_proxy_event("GET", f"/users/{uid}", resource="/users/{user_id}",
                                          path_parameters={"user_id": uid}), None)
        assert answer["statusCode"] == 200, answer
        return time.perf_counter() - t0

    wall_direct, _ = run_clients(clients, [[(handlers[c], u) for u in work[c]]
                                           for c in range(clients)], direct)
    n = clients * per_client
    return lat, n / wall_http, n / wall_direct


def bench_consumer(stack: Any, records: int) -> float:
    """Consumer records/s into a fresh DynamoDB table (every write lands)."""
    dynamodb = stack.client("dynamodb")
    dynamodb.create_table(TableName="bench-users", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "user_id",
                                                 "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}])
    consume = create_consumer(DynamoUserStore(dynamodb, "bench-users"), "salt")
    datas, keys = [], []
    for i in range(records):
        user = generate_user("bench-consumer", 1, i)
        for secret in ("password", "salt", "md5", "sha1", "sha256"):
            user["login"].pop(secret)
        user.update(fetched_at="2026-11-30T10:00:00.000000Z", batch_id="b",
                    source_page=None, source_seed="push")
        datas.append(json.dumps(user).encode() + b"\n")
        keys.append(user["login"]["uuid"])
    events = [kinesis_event([{"PartitionKey": keys[s + j], "SequenceNumber": str(s + j),
                              "Data": d} for j, d in enumerate(datas[s:s + 100])],
                            "shardId-0", "arn")
              for s in range(0, records, 100)]
    t0 = time.perf_counter()
    for event in events:
        assert consume(event, None)["batchItemFailures"] == []
    return records / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="users per POST")
    parser.add_argument("--requests", type=int, default=10, help="POSTs per client")
    parser.add_argument("--gets", type=int, default=100, help="GETs per client")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, local_cloud(Path(tmp)) as cloud:
        stack = cloud.start_push()  # local_aws.push.stack.PushStack
        # warm-up: imports, sockets, one handler per gateway thread
        run_clients(args.clients, [[b"[]"]] * args.clients, lambda b: http_call(
            stack.url, stack.api_key, "POST", "/users", b))
        http_rps, direct_rps = bench_post(stack, args.clients, args.batch, args.requests)
        items = stack.client("dynamodb").scan(TableName=stack.settings.users_table,
                                              Limit=500)["Items"]
        ids = [i["user_id"]["S"] for i in items]
        lat, get_http, get_direct = bench_get(stack, args.clients, ids, args.gets)
        consumer_rps = bench_consumer(stack, 2000)
    post_ratio, get_ratio = http_rps / direct_rps, get_http / get_direct
    print(f"clients {args.clients}, {args.batch} users per POST, "
          f"{args.requests} POSTs and {args.gets} GETs per client (loopback, moto server)")
    print(f"POST accepted records/s  HTTP {http_rps:>9,.0f}   direct {direct_rps:>9,.0f}"
          f"   ratio {post_ratio:.2f} (target >= 0.50)")
    print(f"GET  requests/s          HTTP {get_http:>9,.0f}   direct {get_direct:>9,.0f}"
          f"   ratio {get_ratio:.2f} (target >= 0.50)")
    print(f"GET  latency over HTTP   p50 {statistics.median(lat) * 1000:6.1f} ms"
          f"   p99 {pct(lat, 0.99) * 1000:6.1f} ms")
    print(f"consumer into DynamoDB   {consumer_rps:>9,.0f} records/s (batches of 100)")
    ok = post_ratio >= 0.5 and get_ratio >= 0.5
    print("targets met" if ok else "TARGETS MISSED")
    if args.record:
        record([measured_now("bench/push.py",
                         f"POST over HTTP ÷ handlers called directly ({args.clients} clients)",
                         f"{post_ratio:.2f}", "≥ 0.5", post_ratio >= 0.5),
                measured_now("bench/push.py",
                         f"GET over HTTP ÷ handlers called directly ({args.clients} clients)",
                         f"{get_ratio:.2f}", "≥ 0.5", get_ratio >= 0.5)])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
