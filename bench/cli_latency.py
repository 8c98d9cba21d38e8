"""What a user waits for at the command line, against local Spark's own start-up.

Wall times, each a fresh process started from here (one process tree, the same machine
and minute), side by side:

* (a) the floor: a bare local Spark in a new Python process: the project's
  ``local_spark()``, one ``range(10).count()``, stop.
* (b) ``udp run --date D`` of a default day (1,200 users: 4 invocations x 3 pages x
  100), as typed: a new ``udp`` process on a state folder where D is ingested, not yet
  run. Twice: **cold**, with no warm local Glue service running for the folder (the
  command starts it: the first command after a while), then **warm**, on another
  ingested day, with the service the cold command left (``local_aws.glue.warm``).
* (c) ``udp backfill --from A --to B`` of 30 default days, the same way: cold, then warm
  on 30 other days of the same folder.

It prints (b)/(a) and (c)/(a) for both. The targets, <= 1.5 and <= 3, are judged on the
warm figures' medians: that is what a user iterating on the pipeline waits for, command
after command (the service stays up for 15 idle minutes). The cold figure is printed
beside it: what the first command of a sitting costs, the JVM's start included. Either
way start-up, imports and the warehouse's start count in full; CPU seconds cannot stand
in for wall time, as the JVM's are not in them and the command's threads overlap. Next
to each wall time, the CPU seconds of the processes the command waited for
(``RUSAGE_CHILDREN``: the Python processes and PostgreSQL; Spark's JVM and the Glue
service, which no command waits for, are left out), a hint of the command's own work
where a loaded machine stretches the wall times. The ingest that sets up each state
folder runs before the clocks start and is not counted; each folder's service is
stopped after its two commands.

    .venv/bin/python bench/cli_latency.py                 # each figure once
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


def udp(state: Path, work: Path, name: str, args: list[str]) -> Timing:
    """``udp ARGS`` in a fresh process on the state folder ``state``, as a user types it."""
    return timed([*_udp(), "--state-dir", str(state), *args], work / f"{name}.log")


def state_copy(base: Path, state: Path) -> Path:
    """A copy of the state folder ``base``, no service running for it."""
    # cp -a keeps owners and modes: the local warehouse's data folder belongs to the
    # embedded PostgreSQL's own user, which refuses a folder owned by anyone else
    subprocess.run(["cp", "-a", str(base), str(state)], check=True)
    return state


def cold_udp(base: Path, work: Path, name: str, args: list[str]) -> Timing:
    """``udp ARGS`` in a fresh process on a copy of the state folder ``base`` (no service
    running for it; the copy is removed after, its service stopped)."""
    state = state_copy(base, work / name)
    try:
        return udp(state, work, name, args)
    finally:
        done_with(state)


def done_with(state: Path) -> None:
    """Stop the state folder's Glue service (and what else runs for it), remove it."""
    subprocess.run([*_udp(), "--state-dir", str(state), "status", "--clean"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
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
    days = days_from(FIRST, 2 * args.days)  # cold, then warm
    cold_days, warm_days = days[:args.days], days[args.days:]
    run_days = days_from(FIRST, 2 * args.days + 2)[-2:]  # their own folder: two dates
    rows: dict[str, list[Timing]] = {key: [] for key in
                                     ("a", "b cold", "b warm", "c cold", "c warm")}
    labels = {"a": "(a) bare local Spark, range(10).count()",
              "b cold": "(b) udp run --date D, service cold", "b warm":
              "(b) udp run --date D, service warm",
              "c cold": f"(c) udp backfill of {args.days} days, cold",
              "c warm": f"(c) udp backfill of {args.days} days, warm"}
    try:
        print(f"ingesting {len(run_days)} and {len(days)} default days (1,200 users each)"
              " ...", flush=True)
        took = ingest(work / "base-run", run_days, 4, 3, 100)
        took += ingest(work / "base-backfill", days, 4, 3, 100)
        print(f"  ingest took {took:.1f} s (not counted)", flush=True)

        def measure(key: str, timing: Timing) -> None:
            rows[key].append(timing)
            print(_line(labels[key], [timing]), flush=True)

        for i in range(args.repeat):
            measure("a", floor(work))
            state = state_copy(work / "base-run", work / f"run-{i}")
            try:
                for key, day in zip(("b cold", "b warm"), run_days, strict=True):
                    measure(key, udp(state, work, f"{key}-{i}".replace(" ", "-"),
                                     ["run", "--date", day]))
            finally:
                done_with(state)
            state = state_copy(work / "base-backfill", work / f"backfill-{i}")
            try:
                for key, span in (("c cold", cold_days), ("c warm", warm_days)):
                    measure(key, udp(state, work, f"{key}-{i}".replace(" ", "-"),
                                     ["backfill", "--from", span[0], "--to", span[-1]]))
            finally:
                done_with(state)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for key, timings in rows.items():
        print(_line(labels[key], timings))
    floor_s = statistics.median(t.wall_s for t in rows["a"])
    figures = []
    for key, target, what in (
            ("b", 1.5, "`udp run` of a default day ÷ bare local Spark, as typed"),
            ("c", 3.0, f"`udp backfill` of {args.days} days ÷ bare local Spark, as typed")):
        walls = {mode: statistics.median(t.wall_s for t in rows[f"{key} {mode}"])
                 for mode in ("warm", "cold")}
        ratio = walls["warm"] / floor_s
        cold = walls["cold"] / floor_s
        print(f"({key}) / (a) = {ratio:.2f} warm (target <= {target}: "
              f"{'met' if ratio <= target else 'NOT met'}); {cold:.2f} cold (first command)")
        figures.append(measured_now("bench/cli_latency.py", f"{what}, service warm",
                                    f"{walls['warm']:.1f} s ÷ {floor_s:.1f} s = {ratio:.2f}",
                                    f"≤ {target:g}", ratio <= target, headline=True))
        figures.append(measured_now("bench/cli_latency.py",
                                    f"{what}, first command (Glue service cold)",
                                    f"{walls['cold']:.1f} s ÷ {floor_s:.1f} s = {cold:.2f}",
                                    "—", None))
    if args.record:
        record(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
