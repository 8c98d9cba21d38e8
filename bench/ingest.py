"""Ingest throughput and memory, measured side by side in one run.

Prints records per CPU-second (``time.process_time`` of this process, so other load on
a shared machine does not count) for:

* the ingest path of one Lambda invocation: HTTP fetch over loopback -> JSON decode ->
  validate against the contract -> scrub secrets -> NDJSON records batched for
  PutRecordBatch (a null Firehose that only counts bytes);
* the floor: what the Lambda must do at the very least with the same page bodies: an
  ``orjson`` parse of each page plus one NDJSON line (``orjson.dumps`` + newline) per
  record: no validation, no scrubbing, no HTTP. The Lambda never writes Parquet (the
  Firehose conversion does), so Parquet is no part of its floor;

and the peak RSS of a 100k-record invocation against a 20k-record one (memory must be
flat in the number of pages: pages are streamed, not accumulated).

The API twin answers from a separate process, so ``time.process_time`` counts only the
Lambda's CPU (an in-process server thread would bill the API's socket writes to it).

Targets (issues 3 and 19): >= 20k records/s on one core and >= 50% of the floor.
Run: ``.venv/bin/python bench/ingest.py`` (about a minute; page bodies cached in .bench/).
"""

from __future__ import annotations

import argparse
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

from bench._figures import add_record_flag, measured_now, record  # noqa: E402
from ingest_lambda.api_client import ApiClient  # noqa: E402
from ingest_lambda.core import IngestPorts, IngestRequest, run_ingest  # noqa: E402
from ingest_lambda.delivery import FirehoseSender  # noqa: E402
from local_aws.facade import ApiOptions, generate_page  # noqa: E402

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


def serve_forever(pages: int) -> None:
    """The API: the cached page bodies over loopback HTTP, in this (separate) process.
    Prints the base URL on stdout, then serves until stdin closes."""
    bodies = page_bodies(pages)

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
    print(f"http://127.0.0.1:{server.server_address[1]}/api/", flush=True)
    sys.stdin.read()
    server.shutdown()


def serve(pages: int) -> tuple[subprocess.Popen[str], str]:
    """Start the API process (so its CPU is not billed to the Lambda); returns its URL."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(pages)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


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


def floor_run(bodies: list[bytes]) -> tuple[int, float]:
    """The Lambda's floor: ``orjson`` parse of each page + one NDJSON line per record."""
    n, cpu = 0, 0.0
    for body in bodies:
        t0 = time.process_time()
        lines = [orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)
                 for r in orjson.loads(body)["results"]]
        cpu += time.process_time() - t0
        n += len(lines)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_record_flag(parser)
    args = parser.parse_args(argv)
    bodies = page_bodies(PAGES)
    server, url = serve(PAGES)
    ingest_once(url, 2)  # warm up imports and sockets

    rounds = 3
    ours, floor = [], []
    for _ in range(rounds):  # interleaved, so drifting machine load hits both alike
        ours.append(ingest_once(url, PAGES))
        floor.append(floor_run(bodies))
    rss_small, rss_big = child_rss(url, 4), child_rss(url, PAGES)
    assert server.stdin is not None
    server.stdin.close()
    server.wait()
    ours_rps = max(n / cpu for n, cpu in ours)
    floor_rps = max(n / cpu for n, cpu in floor)
    print(f"records per invocation            {ours[0][0]:>10,}")
    print(f"ingest path  (fetch->validate->scrub->batch) {ours_rps:>10,.0f} records/CPU-s")
    print(f"floor (orjson page parse + NDJSON lines)     {floor_rps:>10,.0f} records/CPU-s")
    ratio = ours_rps / floor_rps
    print(f"ratio ingest/floor                           {ratio:>10.2f}   (target >= 0.50)")
    print(f"peak RSS, 20k-record invocation (4 pages)    {rss_small / 1024:>10.1f} MiB")
    print(f"peak RSS, 100k-record invocation (20 pages)  {rss_big / 1024:>10.1f} MiB")
    growth = rss_big / rss_small
    print(f"RSS ratio 20 pages / 4 pages                 {growth:>10.2f}   (flat: <= 1.25)")
    ok = ours_rps >= 20_000 and ratio >= 0.5 and growth <= 1.25
    print("targets met" if ok else "TARGETS MISSED")
    if args.record:
        record([measured_now("bench/ingest.py",
                         "ingest path ÷ the Lambda's floor, records per CPU-second",
                         f"{ours_rps / 1000:.1f}k ÷ {floor_rps / 1000:.1f}k = {ratio:.2f}",
                         "≥ 0.5", ratio >= 0.5),
                measured_now("bench/ingest.py", "peak RSS, 20 pages ÷ 4 pages", f"{growth:.2f}",
                         "≤ 1.25", growth <= 1.25)])
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve_forever(int(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
