"""One self-contained HTML page from a :class:`~udp_cli.report.model.Report`.

The page has inline CSS and inline SVG charts only: no script, no font, no image or
stylesheet from anywhere else, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from html import escape
from typing import Any

from udp_cli.report.charts import STATUS_COLORS, funnel_spec, gantt_spec, render_svg, trend_spec
from udp_cli.report.model import DqResult, Funnel, Report, RunSummary

__all__ = ["render_report"]

SvgRenderer = Callable[[dict[str, Any], str], str]

_CSS = """
:root{--ok:#2e7d32;--bad:#c62828;--warn:#ef6c00;--muted:#666}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;
 margin:0 auto;max-width:1100px;padding:16px 24px;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 6px;
 border-top:1px solid #ddd;padding-top:14px}h3{font-size:14px;margin:14px 0 4px}
.muted{color:var(--muted)}table{border-collapse:collapse;margin:6px 0}
td,th{border-bottom:1px solid #eee;padding:3px 10px 3px 0;text-align:left;
 vertical-align:top}th{font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 8px;border-radius:9px;color:#fff;font-size:12px}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}
.calendar{display:grid;grid-template-columns:repeat(7,minmax(0,1fr));gap:4px;max-width:640px}
.calendar a,.calendar span{display:block;padding:6px;border-radius:4px;color:#fff;
 text-decoration:none;font-size:12px}
.error{background:#fdecea;border-left:3px solid var(--bad);padding:6px 10px;
 white-space:pre-wrap;word-break:break-word}
figure.chart{margin:6px 0}figure.chart svg{max-width:100%;height:auto}
.summary span{margin-right:18px}
"""


def _badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#607d8b")
    return f'<span class="badge" style="background:{color}">{escape(status)}</span>'


def _fmt_time(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def _fmt_int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _fmt_observed(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]],
           numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chart(svg: str, name: str) -> str:
    return f'<figure class="chart" data-chart="{escape(name)}">{svg}</figure>'


def _calendar(report: Report) -> str:
    if not report.calendar:
        return ""
    cells = []
    for p_date, status in report.calendar:
        color = STATUS_COLORS.get(status, "#607d8b")
        text = f"{escape(p_date)}<br>{escape(status.lower())}"
        run = report.latest_run(p_date)
        if run is None:
            cells.append(f'<span style="background:{color}" title="no run">{text}</span>')
        else:
            cells.append(f'<a href="#{run.anchor}" style="background:{color}" '
                         f'title="{escape(run.run_id)}">{text}</a>')
    return ("<h2 id=\"calendar\">Dates by status</h2><p class=\"muted\">Each date's latest run; "
            "click a date for its run.</p>" f'<div class="calendar">{"".join(cells)}</div>')


def _overview(report: Report) -> str:
    rows = [[f'<a href="#{r.anchor}">{escape(r.run_id)}</a>', escape(r.p_date), _badge(r.status),
             _fmt_seconds(r.seconds), str(r.retries), escape(r.failed_state or "")]
            for r in report.runs]
    return ("<h2 id=\"runs\">Runs</h2>"
            + _table(["run", "p_date", "status", "duration", "retries", "failed state"], rows,
                     frozenset({3, 4})))


def _funnel_table(f: Funnel) -> str:
    rows = [["fetched", _fmt_int(f.fetched)]]
    rows += [[f"quarantined: {escape(reason)}", _fmt_int(n)]
             for reason, n in sorted(f.quarantined.items(), key=lambda kv: (-kv[1], kv[0]))]
    rate = f.quarantine_rate
    rows.append(["quarantined, total", _fmt_int(f.quarantined_total)
                 + ("" if rate is None else f" ({rate:.1%})")])
    rows += [["raw rows", _fmt_int(f.raw_rows)], ["users", _fmt_int(f.users)],
             ["loaded", _fmt_int(f.loaded)]]
    return _table(["step", "records"], rows, frozenset({1}))


def _dq_table(results: tuple[DqResult, ...]) -> str:
    if not results:
        return '<p class="muted">No data-quality results recorded for this run.</p>'
    failed = sum(not r.passed for r in results)
    rows = [[escape(r.table), escape(r.rule), _fmt_observed(r.observed), escape(r.allowed),
             '<span class="pass">pass</span>' if r.passed else '<span class="fail">FAIL</span>',
             escape(r.message)] for r in results]
    head = (f'<p>{len(results) - failed} of {len(results)} rules passed'
            + (f', <span class="fail">{failed} failed</span>' if failed else "") + ".</p>")
    return head + _table(["table", "rule", "observed", "threshold", "result", "detail"], rows,
                         frozenset({2}))


def _run_section(run: RunSummary, draw: SvgRenderer) -> str:
    parts = [f'<h2 id="{run.anchor}">Run {escape(run.run_id)} · {escape(run.p_date)} '
             f"{_badge(run.status)}</h2>",
             f'<p class="summary"><span>started {_fmt_time(run.start)}</span>'
             f"<span>ended {_fmt_time(run.end)}</span>"
             f"<span>duration {_fmt_seconds(run.seconds)}</span>"
             f"<span>retries {run.retries}</span>"
             f"<span>bulk import {_fmt_seconds(run.load_seconds)}</span></p>"]
    if run.error or run.cause:
        where = f"failed in {run.failed_state}: " if run.failed_state else ""
        parts.append(f'<div class="error">{escape(where + (run.error or ""))}'
                     f"{escape(': ' + run.cause if run.cause else '')}</div>")
    if run.stages:
        parts.append("<h3>Stage timeline</h3>")
        parts.append(_chart(draw(gantt_spec(run), f"{run.anchor}-gantt"), "gantt"))
        rows = [[escape(s.name), _fmt_seconds((s.start - run.start).total_seconds()),
                 _fmt_seconds(s.seconds), _badge(s.status), str(s.retries),
                 escape("; ".join(s.errors))] for s in run.stages]
        parts.append(_table(["stage", "starts at", "took", "status", "retries", "errors"],
                            rows, frozenset({1, 2, 4})))
    counts = run.funnel
    if counts is not None and (counts.quarantined or any(
            v is not None for v in (counts.fetched, counts.raw_rows, counts.users,
                                    counts.loaded))):
        parts.append("<h3>Record funnel</h3>")
        parts.append(_chart(draw(funnel_spec(counts), f"{run.anchor}-funnel"), "funnel"))
        parts.append(_funnel_table(counts))
    else:
        parts.append('<h3>Record funnel</h3><p class="muted">No record counts were recorded '
                     "for this day.</p>")
    parts.append("<h3>Data-quality rules</h3>")
    parts.append(_dq_table(run.dq))
    return f'<section class="run">{"".join(parts)}</section>'


def _default_draw(spec: dict[str, Any], id_prefix: str) -> str:
    return render_svg(spec, id_prefix=id_prefix)


def render_report(report: Report, *, draw: SvgRenderer = _default_draw) -> str:
    """The report as one HTML document (text).

    ``draw`` turns a Vega-Lite spec into SVG (default: vl-convert); tests of the page
    structure may pass a cheaper one.
    """
    ok = sum(r.status == "SUCCEEDED" for r in report.runs)
    head = (f"<h1>{escape(report.title)}</h1>"
            f'<p class="muted">generated {_fmt_time(report.generated_at)} · '
            f"{len(report.runs)} run(s), {ok} succeeded, {len(report.runs) - ok} not · "
            f"{sum(r.retries for r in report.runs)} retries</p>")
    notes = "".join(f'<p class="muted">{escape(n)}</p>' for n in report.notes)
    trend = ""
    if len(report.trend) > 0:
        trend = (f"<h2 id=\"trends\">Last {len(report.trend)} day(s)</h2>"
                 + _chart(draw(trend_spec(report.trend), "trend"), "trends"))
    body = (head + notes + _calendar(report) + trend + _overview(report)
            + "".join(_run_section(r, draw) for r in report.runs))
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{escape(report.title)}</title><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>\n")
