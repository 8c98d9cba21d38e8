"""What a user waits for at the command line, against local Spark's own start-up.

Three wall times, each a fresh process started from here (one process tree, the same
machine and minute), side by side:

* (a) the floor: a bare local Spark in a new Python process: the project's
  ``local_spark()``, one ``range(10).count()``, stop.
* (b) ``udp run --date D`` of a default day (1,200 users: 4 invocations x 3 pages x
  100), cold: a new ``udp`` process on a state folder where D is ingested, not yet run.
* (c) ``udp backfill --from A --to B`` of 30 default days, the same way.

It prints (b)/(a) and (c)/(a): targets <= 1.5 and <= 3, judged on the median wall
times, each command a new process on a state folder no earlier command warmed: that is
what a user waits for after typing the command, so start-up, imports and engine
start-up count in full. CPU seconds cannot stand in for it, as the JVM's are not in
them and the command's threads overlap. Next to each wall time, the CPU seconds of
the processes the command waited for (``RUSAGE_CHILDREN``: the Python processes and
PostgreSQL; Spark's JVM, which PySpark does not wait for, is left out), a hint of the
command's own work where a loaded machine stretches the wall times. The
ingest that sets up each state folder runs before the clocks start and is not counted.

    .venv/bin/python bench/cli_latency.py                 # (a), (b), (c) once each
    .venv/bin/python bench/cli_latency.py --repeat 3      # interleaved, medians
    .venv/bin/python bench/cli_latency.py --days 7        # a shorter backfill for (c)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._figures import add_record_flag, measured_now, record  # noqa: E402
from bench._machine import machine_line  # noqa: E402
from bench.backfill import days_from, ingest  # noqa: E402

FIRST = date(2025, 3, 1)
FLOOR = ("from local_aws.glue.spark_session import local_spark\n"
         "spark = local_spark()\n"
         "spark.range(10).count()\n"
         "spark.stop()\n")


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _udp() -> list[str]:
    """The ``udp`` console script of this interpreter's environment, as a user runs it."""
    script = Path(sys.executable).with_name("udp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "udp_cli.cli"]


def timed(argv: list[str], log: Path) -> Timing:
    """Wall and CPU seconds (of the processes waited for) of one fresh process run to its
    end; its output goes to ``log``. A failing command stops the bench."""
    cpu, wall = _children_cpu(), time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                               env={**os.environ, "COLUMNS": "100"})
    timing = Timing(time.perf_counter() - wall, _children_cpu() - cpu)
    if code != 0:
        sys.exit(f"{' '.join(argv)} exited {code}; its output:\n{log.read_text()[-3000:]}")
    return timing


def floor(work: Path) -> Timing:
    return timed([sys.executable, "-c", FLOOR], work / "floor.log")


def cold_udp(base: Path, work: Path, name: str, args: list[str]) -> Timing:
    """``udp ARGS`` in a fresh process on a copy of the state folder ``base`` (removed
    after), as a user types it."""
    state = work / name
    # cp -a keeps owners and modes: the local warehouse's data folder belongs to the
    # embedded PostgreSQL's own user, which refuses a folder owned by anyone else
    subprocess.run(["cp", "-a", str(base), str(state)], check=True)
    try:
        return timed([*_udp(), "--state-dir", str(state), *args], work / f"{name}.log")
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _line(label: str, timings: list[Timing]) -> str:
    wall = statistics.median(t.wall_s for t in timings)
    cpu = statistics.median(t.cpu_s for t in timings)
    spread = (f"  (runs: {', '.join(f'{t.wall_s:.1f}' for t in timings)})"
              if len(timings) > 1 else "")
    return f"{label:<44} wall {wall:6.1f} s  CPU {cpu:6.1f} s{spread}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="dates of the backfill (c)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of (a), (b), (c), interleaved; medians are printed")
    parser.add_argument("--work-dir", type=Path, help="keep the state folders and logs here")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    print(machine_line("wall times include the neighbours"))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="udp-bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    days = days_from(FIRST, args.days)
    day = days_from(FIRST, args.days + 1)[-1]  # its own state folder, one more date
    try:
        print(f"ingesting {day} and {args.days} default days (1,200 users each) ...",
              flush=True)
        took = ingest(work / "base-run", [day], 4, 3, 100)
        took += ingest(work / "base-backfill", days, 4, 3, 100)
        print(f"  ingest took {took:.1f} s (not counted)", flush=True)
        a: list[Timing] = []
        b: list[Timing] = []
        c: list[Timing] = []
        for i in range(args.repeat):
            a.append(floor(work))
            print(_line("(a) bare local Spark, range(10).count()", a[-1:]), flush=True)
            b.append(cold_udp(work / "base-run", work, f"run-{i}", ["run", "--date", day]))
            print(_line(f"(b) udp run --date {day}", b[-1:]), flush=True)
            c.append(cold_udp(work / "base-backfill", work, f"backfill-{i}",
                              ["backfill", "--from", days[0], "--to", days[-1]]))
            print(_line(f"(c) udp backfill of {args.days} days", c[-1:]), flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for label, timings in (("(a) floor", a), ("(b) udp run", b), ("(c) udp backfill", c)):
        print(_line(label, timings))
    floor_s = statistics.median(t.wall_s for t in a)
    figures = []
    for label, timings, target, what in (
            ("(b) / (a)", b, 1.5, "`udp run` of a default day ÷ bare local Spark, as typed"),
            ("(c) / (a)", c, 3.0,
             f"`udp backfill` of {args.days} days ÷ bare local Spark, as typed")):
        wall = statistics.median(t.wall_s for t in timings)
        ratio = wall / floor_s
        print(f"{label} = {ratio:.2f} wall (target <= {target}: "
              f"{'met' if ratio <= target else 'NOT met'})")
        figures.append(measured_now("bench/cli_latency.py", what,
                                    f"{wall:.1f} s ÷ {floor_s:.1f} s = {ratio:.2f}",
                                    f"≤ {target:g}", ratio <= target, headline=True))
    if args.record:
        record(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
