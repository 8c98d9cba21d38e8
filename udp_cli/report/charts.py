"""Charts of the report: Vega-Lite specs built from the model, drawn to inline SVG.

The specs are plain dicts (pure, testable without a renderer). :func:`render_svg` turns
one into SVG text with vl-convert, which embeds Vega and Vega-Lite in a native library:
no browser, no JavaScript in the page, no network. Each SVG gets its own id prefix so
the clip paths of several charts inlined into one page cannot collide.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from udp_cli.report.model import DayTrend, Funnel, RunSummary

__all__ = ["STATUS_COLORS", "VEGA_LITE_VERSION", "funnel_spec", "gantt_spec", "render_svg",
           "trend_spec"]

VEGA_LITE_VERSION = "5.21"
"""Pinned so a vl-convert upgrade cannot silently change the drawing grammar."""

STATUS_COLORS: dict[str, str] = {
    "SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "CAUGHT": "#ef6c00", "RUNNING": "#1565c0",
    "ABORTED": "#6a1b9a", "TIMED_OUT": "#ad1457", "MISSING": "#9e9e9e",
}
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
_CONFIG: dict[str, Any] = {
    "font": _FONT, "view": {"stroke": None}, "background": None,
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "gridColor": "#eee"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom",
               "labelLimit": 320, "columns": 3},
}


def _base(width: int, height: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"config": _CONFIG, "width": width}
    if height is not None:
        spec["height"] = height
    return spec


def _status_scale(statuses: Sequence[str]) -> dict[str, Any]:
    domain = sorted(set(statuses))
    return {"domain": domain, "range": [STATUS_COLORS.get(s, "#607d8b") for s in domain]}


def gantt_spec(run: RunSummary, *, width: int = 640) -> dict[str, Any]:
    """A timeline of ``run``'s stages: one bar per stage from its start to its end
    (seconds since the run started), coloured by outcome, retries and errors labelled."""
    end_of_run = run.end or max((s.end or s.start for s in run.stages), default=run.start)
    rows: list[dict[str, Any]] = []
    for order, stage in enumerate(run.stages):
        begin = (stage.start - run.start).total_seconds()
        finish = ((stage.end or end_of_run) - run.start).total_seconds()
        marks = []
        if stage.retries:
            marks.append(f"{stage.retries} retr{'y' if stage.retries == 1 else 'ies'}")
        if stage.errors:
            marks.append(stage.errors[-1])
        label = f"{finish - begin:.1f}s" + (" · " + ", ".join(marks) if marks else "")
        rows.append({"stage": stage.name, "order": order, "start": round(begin, 3),
                     "end": round(finish, 3), "status": stage.status, "label": label})
    encoding_y = {"field": "stage", "type": "nominal", "title": None,
                  "sort": {"field": "order", "order": "ascending"}}
    statuses = [str(r["status"]) for r in rows]
    return {
        **_base(width, max(40, 18 * len(rows))),
        "data": {"values": rows},
        "layer": [
            {"mark": {"type": "bar", "height": 12, "cornerRadius": 2},
             "encoding": {
                 "y": encoding_y,
                 "x": {"field": "start", "type": "quantitative",
                       "title": "seconds since the run started",
                       "axis": {"labelOverlap": "greedy", "tickCount": 10}},
                 "x2": {"field": "end"},
                 "color": {"field": "status", "type": "nominal", "title": "stage",
                           "scale": _status_scale(statuses)}}},
            # A tick at each start keeps zero-length stages (Choice, Pass) visible.
            {"mark": {"type": "tick", "thickness": 2, "size": 12},
             "encoding": {"y": encoding_y, "x": {"field": "start", "type": "quantitative"},
                          "color": {"field": "status", "type": "nominal", "legend": None}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10,
                      "color": "#333"},
             "encoding": {"y": encoding_y, "x": {"field": "end", "type": "quantitative"},
                          "text": {"field": "label"}}},
        ],
    }


def funnel_spec(funnel: Funnel, *, width: int = 520) -> dict[str, Any]:
    """Horizontal bars fetched → quarantined (stacked by reason) → raw rows → users →
    loaded, each labelled with its count; steps the run never reached are left out."""
    rows: list[dict[str, Any]] = []

    def add(step: str, part: str, value: int | None, order: int) -> None:
        if value is not None:
            rows.append({"step": step, "part": part, "records": value, "order": order})

    add("fetched", "records", funnel.fetched, 0)
    for reason, count in sorted(funnel.quarantined.items(), key=lambda kv: (-kv[1], kv[0])):
        add("quarantined", f"quarantined: {reason}", count, 1)
    if funnel.fetched is not None and not funnel.quarantined:
        add("quarantined", "quarantined: none", 0, 1)
    add("raw rows", "records", funnel.raw_rows, 2)
    add("users", "records", funnel.users, 3)
    add("loaded", "records", funnel.loaded, 4)
    y = {"field": "step", "type": "nominal", "title": None,
         "sort": ["fetched", "quarantined", "raw rows", "users", "loaded"]}
    return {
        **_base(width, max(40, 24 * len({r["step"] for r in rows}))),
        "data": {"values": rows},
        "layer": [
            {"mark": {"type": "bar", "height": 16},
             "encoding": {
                 "y": y,
                 "x": {"aggregate": "sum", "field": "records", "type": "quantitative",
                       "title": "records", "stack": "zero"},
                 "color": {"field": "part", "type": "nominal", "title": None,
                           "scale": {"scheme": "tableau10"}}}},
            {"transform": [{"aggregate": [{"op": "sum", "field": "records", "as": "total"}],
                            "groupby": ["step"]}],
             "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10,
                      "color": "#333"},
             "encoding": {"y": y, "x": {"field": "total", "type": "quantitative"},
                          "text": {"field": "total", "type": "quantitative",
                                   "format": ","}}},
        ],
    }


_TRENDS: tuple[tuple[str, str, str], ...] = (
    ("users", "users per day", ",d"),
    ("quarantine_rate", "quarantine rate", ".1%"),
    ("run_seconds", "run duration (s)", ".1f"),
    ("load_seconds", "bulk import (s)", ".1f"),
)


def trend_spec(days: Sequence[DayTrend], *, width: int = 300) -> dict[str, Any]:
    """Four small line charts over ``days``: users/day, quarantine rate, run duration and
    load time; a day without a value leaves a gap-free line through the days that have one."""
    rows = [{"p_date": d.p_date, "users": d.users, "quarantine_rate": d.quarantine_rate,
             "run_seconds": d.run_seconds, "load_seconds": d.load_seconds} for d in days]
    panels = []
    for fld, title, fmt in _TRENDS:
        x = {"field": "p_date", "type": "ordinal", "title": None,
             "axis": {"labelAngle": -45, "labelOverlap": "greedy"}}
        y = {"field": fld, "type": "quantitative", "title": None, "axis": {"format": fmt}}
        panels.append({
            "title": {"text": title, "fontSize": 12, "anchor": "start"},
            "width": width, "height": 110,
            "transform": [{"filter": f"isValid(datum['{fld}'])"}],
            "layer": [{"mark": {"type": "line", "color": "#1565c0"},
                       "encoding": {"x": x, "y": y}},
                      {"mark": {"type": "point", "filled": True, "size": 25,
                                "color": "#1565c0"},
                       "encoding": {"x": x, "y": y}}],
        })
    return {"config": _CONFIG, "data": {"values": rows}, "concat": panels, "columns": 2}


_ID = re.compile(r'\bid="([^"]+)"')


def warm_renderer() -> None:
    """Start vl-convert's JavaScript engine now: its first drawing takes seconds, the
    next ones milliseconds. It holds the GIL while it works, so call it (in a thread)
    when this process only waits, as ``udp run`` does while the JVM starts."""
    render_svg({"data": {"values": [{"x": 0}]}, "mark": "point",
                "encoding": {"x": {"field": "x", "type": "quantitative"}}}, id_prefix="warm")


def render_svg(spec: dict[str, Any], *, id_prefix: str) -> str:
    """Draw ``spec`` to SVG text; ids (clip paths) are prefixed with ``id_prefix``.

    A spec drawn before in this process is not drawn again: a backfill's report holds one
    stage timeline per date, the same for every date of a chunk, and each drawing costs
    about a tenth of a second."""
    svg = _drawn(json.dumps(spec, sort_keys=True))
    for old in set(_ID.findall(svg)):
        new = f"{id_prefix}-{old}"
        svg = (svg.replace(f'id="{old}"', f'id="{new}"')
                  .replace(f"url(#{old})", f"url(#{new})")
                  .replace(f'href="#{old}"', f'href="#{new}"'))
    return svg


@functools.lru_cache(maxsize=256)
def _drawn(spec_json: str) -> str:
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(json.loads(spec_json), vl_version=VEGA_LITE_VERSION)
    return svg
