"""Local ingest at volume: are the twins fast enough that the Lambda code is what we wait for?

Ingests a day of N users (default 100,000) through the local twins exactly as
``udp ingest --users N`` does (the API twin over loopback HTTP, the Lambda path, the
Firehose twin writing Parquet into the S3 twin) and prints, from the same run:

* the wall time of the whole day;
* the Lambda path's own CPU time for those records: the ingest thread's CPU
  (``time.thread_time``; the API twin serves from its own threads) less the CPU the
  Firehose twin spent inside its calls on that thread;
* their ratio, target <= 2 (the twins must not dominate the Lambda path's own cost).

``--e2e`` also runs the nightly state machine for the day on the local stack (crawl,
PySpark transform, load into the local warehouse) and prints the end-to-end wall time
(target for 1M users: <= 3 min). It takes minutes, so it is a flag:
``.venv/bin/python bench/ingest_volume.py --users 1000000 --e2e``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._figures import Figure, add_record_flag, measured_now, record  # noqa: E402
from local_aws.facade import (  # noqa: E402
    ApiOptions,
    LocalCloud,
    ingest_users,
    stop_spark,
)

DAY = date(2026, 11, 23)


class TwinClock:
    """Thread CPU spent inside the Firehose twin's methods (bench-only instrumentation)."""

    def __init__(self) -> None:
        self.cpu = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu += time.thread_time() - t0
        return timed


class TimedTwins:
    """The twins ``ingest_users`` takes, from ``cloud``: each Firehose twin the cloud makes
    has its calls timed by ``clock`` (the same twin, its methods wrapped on the instance)."""

    def __init__(self, cloud: Any, clock: TwinClock) -> None:
        self.cfg, self.s3 = cloud.cfg, cloud.s3
        self._cloud, self._clock = cloud, clock

    def firehose(self, *args: Any, **kwargs: Any) -> Any:
        stream = self._cloud.firehose(*args, **kwargs)
        for name in ("put_record_batch", "flush", "close"):
            setattr(stream, name, self._clock.wrap(getattr(stream, name)))
        return stream


def ingest_day(stack: LocalCloud, users: int) -> dict[str, float]:
    twin = TwinClock()
    last = [0.0]

    def progress(done: int, planned: int) -> None:
        if time.perf_counter() - last[0] > 2:
            last[0] = time.perf_counter()
            print(f"  {done:>10,} / {planned:,} records", file=sys.stderr)

    twins = TimedTwins(stack, twin)
    wall0, cpu0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    result = ingest_users(DAY, users, twins,
                          options=ApiOptions(malformed_rate=0.02), progress=progress)
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    proc = time.process_time() - proc0
    api_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"api_cpu": api_cpu.ru_utime + api_cpu.ru_stime,
            "fetched": result.total("records_seen"), "valid": result.total("records_valid"),
            "wall": wall, "lambda_cpu": cpu - twin.cpu, "firehose_cpu": twin.cpu,
            "process_cpu": proc}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--e2e", action="store_true",
                        help="also run the nightly pipeline for the day (minutes)")
    parser.add_argument("--keep", type=Path, help="state folder to use and keep")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    state = args.keep or Path(tempfile.mkdtemp(prefix="udp-bench-volume-"))
    try:
        with LocalCloud(state) as stack:
            m = ingest_day(stack, args.users)
            ratio = m["wall"] / m["lambda_cpu"]
            print(f"users asked / fetched / valid     {args.users:>12,} {m['fetched']:>12,.0f} "
                  f"{m['valid']:>12,.0f}")
            print(f"ingest wall time                  {m['wall']:>12.2f} s")
            print(f"Lambda path CPU (same records)    {m['lambda_cpu']:>12.2f} s   "
                  f"({m['fetched'] / m['lambda_cpu']:,.0f} records/CPU-s)")
            print(f"Firehose twin CPU (ingest thread) {m['firehose_cpu']:>12.2f} s")
            print(f"this process CPU (Lambda+Firehose){m['process_cpu']:>12.2f} s")
            print(f"API twin CPU (its own process)    {m['api_cpu']:>12.2f} s")
            print(f"load average when done (2 cores?) {os.getloadavg()[0]:>12.2f}   "
                  f"({os.cpu_count()} CPUs)")
            print(f"ratio wall / Lambda CPU           {ratio:>12.2f}   (target <= 2)")
            # The ingest process and the API process run side by side: on two otherwise
            # idle cores the day cannot take less than the busier one's CPU time. An
            # estimate for when the wall ratio above is inflated by other load.
            critical = max(m["process_cpu"], m["api_cpu"])
            print(f"  busier process CPU / Lambda CPU {critical / m['lambda_cpu']:>12.2f}   "
                  "(the ratio's floor on 2 idle cores)")
            ok = ratio <= 2
            figures.append(measured_now(
                "bench/ingest_volume.py",
                f"{args.users:,}-user day through the twins: wall ÷ Lambda path CPU",
                f"{ratio:.2f}", "≤ 2", ok))
            if args.e2e:
                t0 = time.perf_counter()
                run = stack.run_pipeline(DAY.isoformat())
                nightly = time.perf_counter() - t0
                total = m["wall"] + nightly
                print(f"nightly run ({run.status})      {nightly:>12.2f} s")
                for stage, seconds in stack.stage_seconds.items():
                    print(f"  {stage:<32} {seconds:8.2f} s")
                print(f"end to end (ingest + nightly)     {total:>12.2f} s   (target <= 180)")
                ok = ok and run.status == "SUCCEEDED" and total <= 180
                figures.append(measured_now(
                    "bench/ingest_volume.py",
                    f"{args.users:,}-user day, ingest + nightly run, wall",
                    f"{total:.1f} s ({run.status})", "≤ 180 s",
                    run.status == "SUCCEEDED" and total <= 180))
    finally:
        stop_spark()  # its event log lives in the state folder removed below
        if args.keep is None:
            shutil.rmtree(state, ignore_errors=True)
    print("targets met" if ok else "TARGETS MISSED")
    if args.record and figures:
        record(figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
