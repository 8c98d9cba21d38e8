"""The run tables of ``udp backfill``, ``udp status`` and ``udp status RUN``, fitted to
the terminal's width (:mod:`udp_cli.fit`): dates, statuses and state names are never
cut. When even the compact style is too wide, a table drops the columns that matter
least and says what they held in lines under it.

Each function returns what to print, in order (tables and plain lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from orchestration.backfill import DateResult
from udp_cli.fit import Col, fitted

__all__ = ["backfill_results", "chunk_dates", "run_events", "run_list"]

_DATE, _STATUS, _STATE = Col("date"), Col("status"), Col("failed state")
_NOTE = 300
"""Characters of a cause kept in a line under a table (a cell keeps fewer)."""


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


def _lines(lines: Sequence[str]) -> list[RenderableType]:
    """``lines`` under a table, each wrapped at the terminal's width (a plain line is
    not: the consoles soft-wrap)."""
    if not lines:
        return []
    grid = Table.grid()
    grid.add_column(overflow="fold")
    for line in lines:
        grid.add_row(Text(line))
    return [grid]


def backfill_results(results: Sequence[DateResult], width: int) -> list[RenderableType]:
    """``udp backfill``'s per-date table. Narrow: the chunk's run id and seconds leave
    the table for one line per run under it."""
    full = [_DATE, _STATUS, Col("users", "minor", 5, "right"), Col("loaded", "minor", 6, "right"),
            Col("chunk s", "minor", 5, "right"), Col("run id"), _STATE,
            Col("error", "text", 10)]
    rows = [(r.p_date, r.status, _blank(r.users), _blank(r.loaded), f"{r.seconds:.1f}",
             r.run_id or "", r.failed_state or "", (r.error or "")[:50]) for r in results]
    narrow = [c for c in full if c.header not in ("chunk s", "run id")]
    narrow_rows = [row[:4] + row[6:] for row in rows]
    layout, table = fitted([(full, rows), (narrow, narrow_rows)], width)
    if layout == 0:
        return [table]
    runs: dict[str, list[DateResult]] = {}
    for r in results:
        runs.setdefault(r.run_id or "", []).append(r)
    lines = []
    for run_id, dated in runs.items():
        if not run_id:
            continue
        days = sorted(r.p_date for r in dated)
        span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
        seconds = max(r.seconds for r in dated)
        lines.append(f"run {run_id}: {span}" + (f" in {seconds:.1f} s" if seconds else ""))
    return [table, *_lines(lines)]


def _rows_under(rec: Any) -> Sequence[dict[str, Any]]:
    """The per-date rows listed under a run: a backfill chunk's. A run of the one date
    it is labelled with (a nightly run) is that date's row itself."""
    rows = rec.dates or []
    return [] if [row.get("p_date") for row in rows] == [rec.label] else rows


def _run_status(rec: Any) -> str:
    """A run's status; for a backfill chunk, how many of its dates succeeded."""
    rows = _rows_under(rec)
    if not rows:
        return str(rec.status)
    ok = sum(row.get("status") == "SUCCEEDED" for row in rows)
    return "SUCCEEDED" if ok == len(rows) else f"FAILED ({ok}/{len(rows)} dates)"


def run_list(runs: Sequence[Any], width: int) -> list[RenderableType]:
    """``udp status``: one row per run (``RunRecord``), a backfill chunk's dates under
    it. Narrow: the causes leave the table for one line per failed run or date."""
    # a run id folds at most once: "20261207T031800-" over its random part
    full = [Col("run id", "minor", 16), Col("date"), _STATUS,
            Col("seconds", "minor", 7, "right"), _STATE, Col("cause", "text", 24)]
    rows: list[tuple[str, ...]] = []
    causes: list[str] = []
    for rec in runs:
        label = str(rec.label or "")
        cause = str(rec.cause or "")
        rows.append((rec.run_id, label, _run_status(rec), f"{rec.duration_seconds or 0:.1f}",
                     str(rec.failed_state or ""), cause[:60]))
        if cause:
            causes.append(f"{rec.run_id}: {cause[:_NOTE]}")
        for row in _rows_under(rec):  # a backfill chunk: one row per date under it
            cause = str(row.get("cause") or "")
            rows.append(("", f"  {row.get('p_date')}", str(row.get("status")), "",
                         str(row.get("failed_state") or ""), cause[:60]))
            if cause:
                causes.append(f"{rec.run_id} {row.get('p_date')}: {cause[:_NOTE]}")
    # narrower: a chunk's "first..last" may wrap after the "..", keeping each date whole
    split = [(r[0], r[1].replace("..", ".. "), *r[2:]) for r in rows]
    layout, table = fitted([(full, rows), (full, split), (full[:-1], [r[:-1] for r in split])],
                           width)
    return [table] if layout < 2 else [table, *_lines(causes)]


def run_events(run: Any, width: int) -> list[RenderableType]:
    """``udp status RUN``'s event table. Narrow: without the time column."""
    full = [Col("time", "minor", 8), Col("event"), Col("state"), Col("detail", "text", 10)]
    rows = [(str(ev.get("timestamp", ""))[11:23], str(ev.get("type", "")),
             str(ev.get("state", "") or ""), str(ev.get("error") or ev.get("cause") or "")[:90])
            for ev in run.events]
    _, table = fitted([(full, rows), (full[1:], [r[1:] for r in rows])], width)
    return [table]


def chunk_dates(rows: Sequence[dict[str, Any]], width: int) -> list[RenderableType]:
    """A run's per-date results (``udp status RUN``): a backfill chunk's dates, a nightly
    run's one. Narrow: the causes leave the table for one line per date under it."""
    full = [_DATE, _STATUS, Col("users", "minor", 5, "right"), Col("loaded", "minor", 6, "right"),
            Col("DQ", "minor", 6), _STATE, Col("cause", "text", 24)]
    table_rows: list[tuple[str, ...]] = []
    causes = []
    for row in rows:
        dq = row.get("dq_passed")
        cause = str(row.get("cause") or "")
        table_rows.append((str(row.get("p_date")), str(row.get("status")),
                           _blank(row.get("users")), _blank(row.get("loaded")),
                           "" if dq is None else ("passed" if dq else "breach"),
                           str(row.get("failed_state") or ""), cause[:70]))
        if cause:
            causes.append(f"{row.get('p_date')}: {cause[:_NOTE]}")
    layout, table = fitted([(full, table_rows), (full[:-1], [r[:-1] for r in table_rows])],
                           width)
    return [table] if layout == 0 else [table, *_lines(causes)]
