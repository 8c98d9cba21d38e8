"""Bench: does the run report stay cheap as history grows?

Writes a synthetic state folder (run history with retries and a failed-then-rerun day,
ingest errors, raw and dq_results partitions), then builds and renders the report for
1 day and for a 30-day range, side by side: CPU seconds (this process, every thread:
vl-convert draws on its own threads) per day of history (target < 1 s/day) and the HTML
size (target < 5 MB). The chart engine's one-time start-up is measured apart.

Run: ``.venv/bin/python bench/report.py [--days 30] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._figures import add_record_flag, measured_now, record  # noqa: E402
from udp_cli.report import build_report, render_report  # noqa: E402
from udp_cli.report.charts import render_svg  # noqa: E402
from udp_cli.report.synthetic import SyntheticDay, write_synthetic_state  # noqa: E402

__all__ = ["main"]

TARGET_CPU_PER_DAY = 1.0
TARGET_HTML_BYTES = 5 * 1024 * 1024
FIRST = date(2026, 10, 1)


def _days(n: int) -> list[SyntheticDay]:
    outcomes = {3: "retry", 12: "fail_then_rerun", 20: "retry", 25: "fail"}
    return [SyntheticDay((FIRST + timedelta(days=i)).isoformat(), outcomes.get(i, "ok"))
            for i in range(n)]


def _measure(state: Path, days: int, repeats: int) -> tuple[float, float, float, int]:
    """Median CPU seconds of building the model, of rendering it, wall seconds, bytes."""
    last = (FIRST + timedelta(days=days - 1)).isoformat()
    build, render, wall, size = [], [], [], 0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        report = build_report(state, date_from=FIRST.isoformat(), date_to=last,
                              trend_days=days)
        c1 = time.process_time()
        html = render_report(report)
        c2, w1 = time.process_time(), time.perf_counter()
        build.append(c1 - c0)
        render.append(c2 - c1)
        wall.append(w1 - w0)
        size = len(html.encode("utf-8"))
    return (statistics.median(build), statistics.median(render), statistics.median(wall),
            size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    add_record_flag(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="udp-bench-report-") as tmp:
        one, many = Path(tmp) / "one", Path(tmp) / "many"
        write_synthetic_state(one, _days(1))
        write_synthetic_state(many, _days(args.days))
        c0 = time.process_time()
        render_svg({"mark": "point", "data": {"values": [{"a": 1}]},
                    "encoding": {"x": {"field": "a", "type": "quantitative"}}},
                   id_prefix="warm")
        startup = time.process_time() - c0
        rows = [(1, *_measure(one, 1, args.repeats)),
                (args.days, *_measure(many, args.days, args.repeats))]
    print(f"chart engine start-up (once per process): {startup:.2f} s CPU")
    print("history   build CPU s   render CPU s   CPU s/day   wall s   HTML KB")
    for days, build, render, wall, size in rows:
        print(f"{days:4d} day{'s' if days > 1 else ' '} {build:12.2f} {render:14.2f} "
              f"{(build + render) / days:11.3f} {wall:8.2f} {size / 1024:9.0f}")
    per_day = (rows[1][1] + rows[1][2]) / args.days
    size = rows[1][4]
    ok = per_day < TARGET_CPU_PER_DAY and size < TARGET_HTML_BYTES
    print(f"{args.days}-day report: {per_day:.3f} CPU s/day (target < {TARGET_CPU_PER_DAY}), "
          f"{size / 1024 / 1024:.2f} MB (target < {TARGET_HTML_BYTES // 1024 // 1024} MB): "
          f"{'OK' if ok else 'MISSED'}")
    if args.record:
        record([measured_now("bench/report.py",
                         f"{args.days}-day run report: CPU per day of history; HTML size",
                         f"{per_day:.2f} s/day; {size / 1024 / 1024:.2f} MB",
                         f"< {TARGET_CPU_PER_DAY} s/day, < {TARGET_HTML_BYTES // 1024 // 1024} MB",
                         ok)])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
