"""Backfill throughput: range mode against one execution per date, measured in one run.

The targets, printed side by side from the same process and machine:

* 30 default days (1,200 users each: 4 invocations x 3 pages x 100): the wall time of
  range mode (``udp backfill``: chunks of 7, one transform and one load run per chunk)
  divided by the wall time of one nightly execution per date (what ``udp backfill``
  did before: ``state_machine.asl.json`` per date, 2 at a time). Target <= 0.25.
* 365 small days (5 users each) in range mode: absolute wall time. Target <= 3 min
  on 2 cores.

Both modes start from a copy of the same ingested state folder, with Spark and the
local warehouse already started (their start-up is paid once per process either way).
Next to each wall time it prints the CPU seconds of this process and of its children
(the Spark JVM, PostgreSQL): on a shared, loaded machine wall time also measures the
neighbours, CPU time mostly does not.

    .venv/bin/python bench/backfill.py                  # both parts (tens of minutes)
    .venv/bin/python bench/backfill.py --skip-year      # only the 30-day comparison
    .venv/bin/python bench/backfill.py --year-days 60   # a shorter "year"
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench._figures import Figure, add_record_flag, measured_now, record  # noqa: E402
from bench._machine import machine_line  # noqa: E402
from local_aws.facade import (  # noqa: E402
    DayPlan,
    LocalCloud,
    run_backfill,
    simulate_days,
    stop_spark,
)
from orchestration.backfill import DEFAULT_CHUNK_DAYS, DateResult  # noqa: E402

FIRST = date(2025, 1, 1)


@dataclass(frozen=True)
class Measure:
    label: str
    dates: int
    succeeded: int
    wall_s: float
    cpu_s: float

    def line(self) -> str:
        return (f"{self.label:<44} {self.dates:>4} dates  {self.succeeded:>4} ok  "
                f"wall {self.wall_s:7.1f} s  CPU {self.cpu_s:7.1f} s  "
                f"({self.wall_s / max(1, self.dates):.2f} s/date)")


def _cpu_seconds() -> float:
    """CPU of this process and every live or finished child (Spark's JVM, PostgreSQL)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:4])  # user, system, children_user, children_system
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


@contextmanager
def measured() -> Iterator[list[float]]:
    out: list[float] = []
    wall, cpu = time.perf_counter(), _cpu_seconds()
    yield out
    out += [time.perf_counter() - wall, _cpu_seconds() - cpu]


def days_from(first: date, n: int) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def ingest(state: Path, days: list[str], invocations: int, pages: int, page_size: int) -> float:
    t0 = time.perf_counter()
    with LocalCloud(state) as stack:
        simulate_days([DayPlan(date.fromisoformat(d), invocations, pages, page_size)
                       for d in days], stack)
    return time.perf_counter() - t0


def warm(stack: LocalCloud) -> None:
    """Start Spark and the warehouse before the clock starts (both modes pay them once)."""
    stack.spark.range(1).count()
    with stack.warehouse.connect() as conn:
        conn.execute("select 1")


def per_date(state: Path, days: list[str], concurrency: int = 2) -> Measure:
    """The old ``udp backfill``: one nightly execution per date, ``concurrency`` at once."""
    with LocalCloud(state, wait_scale=0.002) as stack:
        warm(stack)
        with measured() as m, ThreadPoolExecutor(concurrency) as pool:
            runs = list(pool.map(stack.run_pipeline, days))
    ok = sum(r.status == "SUCCEEDED" for r in runs)
    return Measure("one execution per date (before)", len(days), ok, *m)


def range_mode(state: Path, days: list[str], chunk: int = DEFAULT_CHUNK_DAYS,
               concurrency: int = 2, label: str = "range mode") -> Measure:
    """``udp backfill --chunk N``: one chunk execution per N dates."""
    with LocalCloud(state, wait_scale=0.002) as stack:
        warm(stack)
        executor = stack.chunk_executor()

        def run_chunk(c: list[str]) -> list[DateResult]:
            return list(stack.run_backfill_chunk(c, executor=executor))
        with measured() as m:
            results = run_backfill(days, run_chunk, concurrency=concurrency, force=False,
                                   history=stack.history, chunk_size=chunk)
    ok = sum(r.status == "SUCCEEDED" for r in results)
    return Measure(f"{label} (chunks of {chunk}, {concurrency} at once)", len(days), ok, *m)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def month(work: Path, n: int, chunk: int) -> tuple[Measure, Measure]:
    base = work / "month"
    days = days_from(FIRST, n)
    print(f"ingesting {n} default days (1,200 users each) ...", flush=True)
    print(f"  ingest took {ingest(base, days, 4, 3, 100):.1f} s (not counted)", flush=True)
    before = per_date(_copy(base, work / "month-per-date"), days)
    print(before.line(), flush=True)
    after = range_mode(_copy(base, work / "month-range"), days, chunk)
    print(after.line(), flush=True)
    return before, after


def year(work: Path, n: int, chunk: int) -> Measure:
    base = work / "year"
    days = days_from(FIRST, n)
    print(f"ingesting {n} small days (5 users each) ...", flush=True)
    print(f"  ingest took {ingest(base, days, 1, 1, 5):.1f} s (not counted)", flush=True)
    result = range_mode(base, days, chunk, label="range mode, small days")
    print(result.line(), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month-days", type=int, default=30)
    parser.add_argument("--year-days", type=int, default=365)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK_DAYS)
    parser.add_argument("--year-chunk", type=int, default=31)
    parser.add_argument("--skip-month", action="store_true")
    parser.add_argument("--skip-year", action="store_true")
    parser.add_argument("--work-dir", type=Path, help="keep the state folders here")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    print(machine_line("wall times include the neighbours; CPU times mostly do not"))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="udp-bench-backfill-"))
    run: list[Callable[[], Any]] = []
    results: dict[str, Any] = {}
    if not args.skip_month:
        run.append(lambda: results.__setitem__("month", month(work, args.month_days,
                                                               args.chunk)))
    if not args.skip_year:
        run.append(lambda: results.__setitem__("year", year(work, args.year_days,
                                                             args.year_chunk)))
    try:
        for step in run:
            step()
    finally:
        stop_spark()  # its event log lives in the state folder removed below
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    figures: list[Figure] = []
    if "month" in results:
        before, after = results["month"]
        ratio = after.wall_s / before.wall_s
        cpu_ratio = after.cpu_s / max(before.cpu_s, 1e-9)
        print(f"{args.month_days} default days: range / per date = {ratio:.2f} wall "
              f"(target <= 0.25: {'met' if ratio <= 0.25 else 'NOT met'}), "
              f"{cpu_ratio:.2f} CPU")
        figures.append(measured_now(
            "bench/backfill.py",
            f"{args.month_days} default days: range mode ÷ one execution per date, wall",
            f"{after.wall_s:.1f} s ÷ {before.wall_s:.1f} s = {ratio:.2f}", "≤ 0.25",
            ratio <= 0.25))
    if "year" in results:
        y = results["year"]
        print(f"{args.year_days} small days in range mode: {y.wall_s / 60:.1f} min wall, "
              f"{y.cpu_s / 60:.1f} min CPU (target <= 3 min wall on 2 cores: "
              f"{'met' if y.wall_s <= 180 else 'NOT met'})")
        figures.append(measured_now("bench/backfill.py",
                                f"{args.year_days} small days in range mode, wall",
                                f"{y.wall_s / 60:.1f} min", "≤ 3 min", y.wall_s <= 180))
    if args.record and figures:
        record(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
