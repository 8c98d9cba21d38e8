"""The benchmark figures page, written by the bench scripts themselves.

Each script under ``bench/`` run with ``--record`` stores its headline figures in
``docs/reference/figures.json`` (one entry per bench, figure and runtime; a new run
replaces the entry it measured again) and renders from that file:

* ``docs/reference/benchmark-figures.md``: every figure with its date and machine line;
* the block between ``<!-- figures -->`` and ``<!-- /figures -->`` in ``README.md``: the
  figures marked ``headline``, one row per figure, one column per runtime.

No figure is copied by hand: ``tests/unit/test_bench_figures.py`` renders the JSON and fails
when either page differs from it. ``python -m bench._figures`` re-renders both after a
merge of two ``figures.json`` edits.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES_JSON = ROOT / "docs" / "reference" / "figures.json"
FIGURES_PAGE = ROOT / "docs" / "reference" / "benchmark-figures.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- figures -->", "<!-- /figures -->"


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` as printed (``15.5 s ÷ 4.4 s = 3.54``), ``met`` the
    verdict against ``target`` (None where the bench has no target)."""

    bench: str
    figure: str
    runtime: str
    value: str
    target: str
    met: bool | None
    date: str
    machine: str
    headline: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return self.bench, self.figure, self.runtime


def runtime_label() -> str:
    """``Python 3.13 / PySpark 4.1.1`` for the interpreter running the bench."""
    from importlib.metadata import PackageNotFoundError, version

    py = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    try:
        return f"{py} / PySpark {version('pyspark')}"
    except PackageNotFoundError:
        return py


def measured_now(bench: str, figure: str, value: str, target: str, met: bool | None, *,
             headline: bool = False) -> Figure:
    """A figure measured now, by this interpreter, on this machine."""
    from datetime import UTC, datetime

    from bench._machine import machine_state

    return Figure(bench, figure, runtime_label(), value, target, met,
                  datetime.now(UTC).date().isoformat(), machine_state(), headline)


def load(path: Path = FIGURES_JSON) -> list[Figure]:
    if not path.exists():
        return []
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return [Figure(**row) for row in doc["figures"]]


def merge(old: list[Figure], new: list[Figure]) -> list[Figure]:
    """``old`` with each figure of ``new`` replacing the one of the same key, in a stable
    order (bench, then the order each bench records its figures)."""
    replaced = {f.key: f for f in new}
    kept = [replaced.pop(f.key, f) for f in old]
    return kept + [f for f in new if f.key in replaced]


def _verdict(f: Figure) -> str:
    if f.met is None or not f.target:
        return f.target
    return f"{f.target} {'✔' if f.met else '✘'}"


def render_page(figures: list[Figure]) -> str:
    lines = [
        "# Benchmark figures",
        "",
        "[← benchmarks](benchmarks.md) · [← docs index](../README.md)",
        "",
        "Written by the bench scripts (`python bench/<name>.py --record`) from",
        "[figures.json](figures.json); do not edit by hand. Each figure is a ratio or a",
        "time measured side by side in one run on the machine its line names (the machines",
        "are shared 2-core boxes: read a figure with the load it ran under).",
        "",
    ]
    by_bench: dict[str, list[Figure]] = {}
    for f in figures:
        by_bench.setdefault(f.bench, []).append(f)
    for bench, rows in by_bench.items():
        lines += [f"## `{bench}`", "", "| figure | runtime | measured | target | date, machine |",
                  "|---|---|---|---|---|"]
        lines += [f"| {f.figure} | {f.runtime} | {f.value} | {_verdict(f)} | {f.date}, "
                  f"{f.machine} |" for f in rows]
        lines.append("")
    return "\n".join(lines)


def render_readme_block(figures: list[Figure]) -> str:
    heads = [f for f in figures if f.headline]
    runtimes = sorted({f.runtime for f in heads})
    rows: dict[tuple[str, str], dict[str, Figure]] = {}
    for f in heads:
        rows.setdefault((f.bench, f.figure), {})[f.runtime] = f
    dates = sorted({f.date for f in heads})
    span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "—"
    lines = [
        BEGIN,
        f"Measured side by side on shared 2-core machines, {span}, written by the bench",
        "scripts ([all figures](docs/reference/benchmark-figures.md), method and analysis in",
        "[benchmarks](docs/reference/benchmarks.md)):",
        "",
        "| bench | figure | " + " | ".join(runtimes) + " | target |",
        "|---|---|" + "---|" * len(runtimes) + "---|",
    ]
    for (bench, figure), cells in rows.items():
        shown = [cells[r].value if r in cells else "" for r in runtimes]
        newest = cells[max(cells)]  # the verdict of the newest runtime measured
        lines.append(f"| `{bench}` | {figure} | " + " | ".join(shown)
                     + f" | {_verdict(newest)} |")
    lines.append(END)
    return "\n".join(lines)


def with_block(text: str, block: str) -> str:
    """``text`` with its figures block replaced by ``block``."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"README.md has no {BEGIN} … {END} block")
    return text[:start] + block + text[stop + len(END):]


def write(figures: list[Figure], json_path: Path = FIGURES_JSON, page: Path = FIGURES_PAGE,
          readme: Path = README) -> None:
    doc = {"figures": [asdict(f) for f in figures]}
    json_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    page.write_text(render_page(figures), encoding="utf-8")
    readme.write_text(with_block(readme.read_text(encoding="utf-8"),
                                 render_readme_block(figures)), encoding="utf-8")


def record(new: list[Figure], json_path: Path = FIGURES_JSON, page: Path = FIGURES_PAGE,
           readme: Path = README) -> None:
    """Store ``new`` (replacing the same figures measured before) and re-render the pages."""
    write(merge(load(json_path), new), json_path, page, readme)
    print(f"recorded {len(new)} figure(s) in {json_path.name}; rendered {page.name} and "
          f"{readme.name}")


def add_record_flag(parser: Any) -> None:
    """``--record``: store the run's headline figures (see this module)."""
    parser.add_argument("--record", action="store_true",
                        help="store this run's figures in docs/reference/figures.json and "
                             "re-render the figures page and the README's table")


if __name__ == "__main__":
    write(load())
