"""``udp report``: a self-contained HTML run report (inline SVG charts, works offline).

Pure core: :mod:`~udp_cli.report.model` (typed input), :mod:`~udp_cli.report.charts`
(Vega-Lite specs → SVG), :mod:`~udp_cli.report.html` (model → one HTML page). Adapter:
:mod:`~udp_cli.report.local` (a local state folder → model).
"""

from udp_cli.report.html import render_report
from udp_cli.report.local import (
    ReportInputError,
    build_report,
    default_report_path,
    report_to_file,
    write_report,
)
from udp_cli.report.model import DayTrend, DqResult, Funnel, Report, RunSummary, Stage

__all__ = ["DayTrend", "DqResult", "Funnel", "Report", "ReportInputError", "RunSummary",
           "Stage", "build_report", "default_report_path", "render_report", "report_to_file",
           "write_report"]
