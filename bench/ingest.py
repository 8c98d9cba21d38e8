"""Ingest throughput and memory, measured side by side in one run.

Prints records per CPU-second (``time.process_time`` of this process, so other load on
a shared machine does not count) for:

* the ingest path of one Lambda invocation: HTTP fetch over loopback -> JSON decode ->
  validate against the contract -> scrub secrets -> NDJSON records batched for
  PutRecordBatch (a null Firehose that only counts bytes);
* the floor: bare JSON parse (orjson, as the ingest path) of the same page bodies +
  Parquet write of the same records with the raw schema (no validation, no scrubbing);

and the peak RSS of a 100k-record invocation against a 20k-record one (memory must be
flat in the number of pages: pages are streamed, not accumulated).

Targets (issue 3): >= 20k records/s on one core and >= 50% of the floor.
Run: ``.venv/bin/python bench/ingest.py`` (about a minute; page bodies cached in .bench/).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from contracts.user_record import records_to_arrow  # noqa: E402
from ingest_lambda.api_client import ApiClient  # noqa: E402
from ingest_lambda.core import IngestPorts, IngestRequest, run_ingest  # noqa: E402
from ingest_lambda.delivery import FirehoseSender  # noqa: E402
from local_aws.user_api import ApiOptions, generate_page  # noqa: E402

CACHE = ROOT / ".bench" / "ingest"
PAGE_SIZE = 5000
PAGES = 20  # 100k records


def page_bodies(pages: int) -> list[bytes]:
    """Pre-rendered API responses (the API twin's generation cost is not ours)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for p in range(1, pages + 1):
        path = CACHE / f"page-{PAGE_SIZE}-{p}.json"
        if not path.exists():
            page = generate_page("bench", p, PAGE_SIZE, ApiOptions(malformed_rate=0.01))
            path.write_bytes(json.dumps(page).encode())
        out.append(path.read_bytes())
    return out


class NullFirehose:
    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0

    def put_record_batch(self, *, DeliveryStreamName: str,
                         Records: list[dict[str, bytes]]) -> dict[str, Any]:
        self.records += len(Records)
        self.bytes += sum(len(r["Data"]) for r in Records)
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"}] * len(Records)}


class NullErrors:
    def __init__(self) -> None:
        self.count = 0

    def write(self, p_date: str, batch_id: str, entries: list[dict[str, Any]]) -> None:
        self.count += len(entries)


def serve(bodies: list[bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            page = int(parse_qs(urlparse(self.path).query)["page"][0])
            body = bodies[(page - 1) % len(bodies)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/api/"


def ingest_once(url: str, pages: int) -> tuple[int, float]:
    hose = NullFirehose()
    ports = IngestPorts(api=ApiClient(url), sender=FirehoseSender(hose, "bench"),
                        errors=NullErrors(), clock=lambda: datetime.now(UTC))
    t0 = time.process_time()
    summary = run_ingest(IngestRequest(seed="bench", pages=pages, page_size=PAGE_SIZE), ports,
                         "bench")
    cpu = time.process_time() - t0
    assert hose.records == summary.records_valid
    return summary.records_seen, cpu


def floor_run(bodies: list[bytes], cleans: list[list[dict[str, Any]]]) -> tuple[int, float]:
    """Bare ``json.loads`` of each page + Parquet write of its records (already in contract
    shape, prepared outside the timer): no validation, no scrubbing."""
    n, cpu = 0, 0.0
    for body, clean in zip(bodies, cleans, strict=True):
        t0 = time.process_time()
        n += len(orjson.loads(body)["results"])  # the same parser the ingest path uses
        pq.write_table(records_to_arrow(clean), io.BytesIO(), compression="snappy")
        cpu += time.process_time() - t0
    return n, cpu


def peak_rss_kib() -> int:
    """This process's peak RSS. ``VmHWM`` rather than ``ru_maxrss``: Linux carries the
    parent's high-water mark across fork+exec into ``ru_maxrss``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_rss(url: str, pages: int) -> int:
    """Peak RSS (KiB) of a fresh process running one invocation of ``pages`` pages
    (the API server stays in this process, so only the Lambda's memory is measured)."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.ingest as b; "
            f"b.ingest_once({url!r}, {pages}); "
            "print(b.peak_rss_kib())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    from contracts.user_record import to_json_ready, validate_record

    bodies = page_bodies(PAGES)
    server, url = serve(bodies)
    ingest_once(url, 2)  # warm up imports and sockets

    # floor input: the same records, valid and in contract shape (outside the timers)
    meta = {"batch_id": "b", "fetched_at": "2026-11-22T00:00:00.000000Z", "source_page": 1,
            "source_seed": "s"}
    cleans = [[{**to_json_ready(c), **meta}
               for c in map(validate_record, json.loads(body)["results"])
               if isinstance(c, dict)] for body in bodies]

    rounds = 3
    ours = [ingest_once(url, PAGES) for _ in range(rounds)]
    floor = [floor_run(bodies, cleans) for _ in range(rounds)]
    rss_small, rss_big = child_rss(url, 4), child_rss(url, PAGES)
    server.shutdown()
    ours_rps = max(n / cpu for n, cpu in ours)
    floor_rps = max(n / cpu for n, cpu in floor)
    print(f"records per invocation            {ours[0][0]:>10,}")
    print(f"ingest path  (fetch->validate->scrub->batch) {ours_rps:>10,.0f} records/CPU-s")
    print(f"floor (bare json parse + parquet write)      {floor_rps:>10,.0f} records/CPU-s")
    ratio = ours_rps / floor_rps
    print(f"ratio ingest/floor                           {ratio:>10.2f}   (target >= 0.50)")
    print(f"peak RSS, 20k-record invocation (4 pages)    {rss_small / 1024:>10.1f} MiB")
    print(f"peak RSS, 100k-record invocation (20 pages)  {rss_big / 1024:>10.1f} MiB")
    growth = rss_big / rss_small
    print(f"RSS ratio 20 pages / 4 pages                 {growth:>10.2f}   (flat: <= 1.25)")
    ok = ours_rps >= 20_000 and ratio >= 0.5 and growth <= 1.25
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
