"""Build a :class:`Report` from what a local state folder already records.

Sources, all written by the pipeline itself (nothing extra is logged for the report):

* run history (``<state>/runs/<run_id>.json``, the executor's event list per run): the
  stage timeline, retries, failures, and each date's row (``dates``): what the jobs
  wrote to the lake's ``run_outcomes`` (the transform's row counts and run id, the bulk
  import's rows and times), made into rows by :func:`contracts.run_outcomes.date_rows`
  for a nightly run and a backfill chunk alike;
* the ingest error output (``s3://<errors>/ingest/p_date=D/*.jsonl``): quarantined
  records with their reason code;
* the raw partition's Parquet footers: rows that reached the lake;
* the ``dq_results`` Parquet partition: each rule's observed value and threshold.

The pure part (events → stages, a stored run → :class:`RunSummary`) takes plain dicts, so
the same functions serve a run history fetched from Step Functions (see docs/operate/report.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from udp_cli.report.model import DayTrend, DqResult, Funnel, Report, RunSummary, Stage

__all__ = ["LocalSources", "ReportInputError", "build_report", "default_report_path",
           "expand_chunks",
           "report_to_file", "run_summary", "stages_from_events", "trend_from_runs",
           "with_notes", "write_report"]

_WORK_EVENTS = frozenset({"TaskScheduled", "WaitStarted", "MapStarted"})
LOAD_STATE = "RunBulkImport"
"""The state that runs the bulk import, in the nightly and the backfill definitions."""


class ReportInputError(ValueError):
    """The report cannot be made from what was asked (no such run, no run that day, ...)."""


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class _Acc:
    name: str
    start: datetime
    end: datetime | None = None
    status: str | None = None
    retries: int = 0
    work: bool = False
    errors: tuple[str, ...] = ()


def stages_from_events(events: Iterable[Mapping[str, Any]], *,
                       run_status: str) -> tuple[Stage, ...]:
    """The stages of a run from its event list (local executor or Step Functions shape).

    A stage is a state that did work (a Task, Wait or Map) or failed; Choice and Pass
    states are left out. A state entered several times (a polling loop) is one stage
    from its first entry to its last exit. Stages are ordered by first entry.
    """
    acc: dict[str, _Acc] = {}
    for ev in events:
        name = ev.get("state")
        kind = ev.get("type")
        when = _ts(ev.get("timestamp"))
        if not name or when is None:
            continue
        a = acc.get(name)
        if a is None:
            a = acc[name] = _Acc(name=str(name), start=when)
        if kind == "StateExited":
            a.end = when
            if a.status is None or a.status == "RUNNING":
                a.status = "SUCCEEDED"
        elif kind == "StateEntered":
            a.status = "RUNNING" if a.status is None else a.status
        elif kind in _WORK_EVENTS:
            a.work = True
        elif kind == "RetryScheduled":
            a.retries += 1
        elif kind == "TaskFailed":
            a.errors = (*a.errors, str(ev.get("error") or "error"))
        elif kind in ("StateFailed", "CatchTaken"):
            error = str(ev.get("error") or "error")
            if not a.errors or a.errors[-1] != error:
                a.errors = (*a.errors, error)
            a.status = "FAILED" if kind == "StateFailed" else "CAUGHT"
            a.end = when
    stages = []
    for a in acc.values():
        if not (a.work or a.errors or a.retries):
            continue
        status = a.status or "RUNNING"
        if status == "RUNNING" and run_status != "RUNNING":
            status = "FAILED"  # the run stopped (aborted, timed out) inside this state
        stages.append(Stage(a.name, a.start, a.end, status, a.retries, a.errors))
    return tuple(sorted(stages, key=lambda s: s.start))


def _dq_result(row: Mapping[str, Any]) -> DqResult:
    observed = row.get("observed")
    return DqResult(table=str(row.get("table_name", "")), rule=str(row.get("rule", "")),
                    rule_type=str(row.get("rule_type", "")), passed=bool(row.get("passed")),
                    observed=None if observed is None else float(observed),
                    allowed=str(row.get("allowed") or ""), message=str(row.get("message") or ""))


def run_summary(record: Mapping[str, Any], *, quarantined: Mapping[str, int] | None = None,
                raw_rows: int | None = None,
                dq_rows: Sequence[Mapping[str, Any]] = ()) -> RunSummary:
    """One stored run of one date (``RunRecord.to_json()`` shape, a run with per-date
    rows cut by :func:`expand_chunks`) as the report's :class:`RunSummary`.

    ``quarantined`` (reason → count) and ``raw_rows`` describe the run's day as ingested;
    ``dq_rows`` are ``dq_results`` rows of the day. The transform's and the bulk
    import's counts are the date's row's (``date_row``: its ``run_outcomes`` records,
    the same locally and on AWS). The rows of this run's transform are chosen by the
    transform's ``run_id`` when the row has one, else by ``evaluated_at`` within the
    run's start and stop.
    """
    status = str(record.get("status", "UNKNOWN"))
    events = list(record.get("events") or [])
    start = _ts(record.get("started_at"))
    if start is None:
        raise ReportInputError(f"run {record.get('run_id')!r} has no start time")
    end = _ts(record.get("stopped_at"))
    p_date = record.get("label") or (record.get("input") or {}).get("p_date") or "?"
    day = record.get("date_row")
    transform: Mapping[str, Any] = {}
    load: Mapping[str, Any] = {}
    if isinstance(day, Mapping):  # the date's row (see expand_chunks)
        transform, load = day.get("transform") or {}, day.get("load") or {}
    fetched = None
    if raw_rows is not None or quarantined:
        fetched = (raw_rows or 0) + sum((quarantined or {}).values())
    funnel = Funnel(p_date=str(p_date), fetched=fetched, quarantined=dict(quarantined or {}),
                    raw_rows=transform.get("rows_read", raw_rows),
                    users=transform.get("rows_written"), loaded=load.get("rows_staged"))
    dq = tuple(_dq_result(r) for r in _dq_of_run(dq_rows, transform.get("run_id"), start, end))
    stages = stages_from_events(events, run_status=status)
    return RunSummary(run_id=str(record.get("run_id")), p_date=str(p_date), status=status,
                      start=start, end=end, stages=stages,
                      failed_state=record.get("failed_state"), error=record.get("error"),
                      cause=record.get("cause"), funnel=funnel, dq=dq,
                      load_seconds=_load_seconds(stages, load))


def _load_seconds(stages: Sequence[Stage], load: Mapping[str, Any]) -> float | None:
    """The bulk import's wall seconds: its stage's, as the stage table shows them
    (for a backfill date, its chunk's load), else from the load's own ``started_at`` /
    ``finished_at`` (an audit row's times, which leave out the job's start-up and
    connection: a fraction of what the run waited)."""
    stage = next((s for s in stages if s.name == LOAD_STATE and s.seconds is not None), None)
    if stage is not None:
        return stage.seconds
    load_start, load_end = _ts(load.get("started_at")), _ts(load.get("finished_at"))
    if load_start is None or load_end is None:
        return None
    return (load_end - load_start).total_seconds()


def _dq_of_run(rows: Sequence[Mapping[str, Any]], job_run_id: Any, start: datetime,
               end: datetime | None) -> list[Mapping[str, Any]]:
    if job_run_id:
        return [r for r in rows if r.get("run_id") == job_run_id]
    stop = end or datetime.max.replace(tzinfo=UTC)
    out = []
    for r in rows:
        at = r.get("evaluated_at")
        at = _ts(at) if isinstance(at, str) else at
        if isinstance(at, datetime):
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            if start <= at <= stop:
                out.append(r)
    return out


def trend_from_runs(runs: Sequence[RunSummary], last_day: str, days: int) -> tuple[DayTrend, ...]:
    """``days`` days ending at ``last_day``, each from that date's latest run (dates
    without a run are left out, so a line joins the days that have data)."""
    latest: dict[str, RunSummary] = {}
    for r in sorted(runs, key=lambda r: (r.start, r.run_id)):
        latest[r.p_date] = r
    end = date.fromisoformat(last_day)
    out = []
    for i in range(days - 1, -1, -1):
        d = (end - timedelta(days=i)).isoformat()
        run = latest.get(d)
        if run is None:
            continue
        funnel = run.funnel
        out.append(DayTrend(p_date=d, users=funnel.users if funnel else None,
                            quarantine_rate=funnel.quarantine_rate if funnel else None,
                            run_seconds=run.seconds, load_seconds=run.load_seconds))
    return tuple(out)


# ----------------------------------------------------------------- local state folder


@dataclass(frozen=True)
class LocalSources:
    """Where the local twins keep what the report reads, under one state folder."""

    state_dir: Path

    def _s3(self) -> Path:
        from local_aws.facade import LocalPaths

        return LocalPaths(self.state_dir).s3

    def _config(self) -> Any:
        from contracts.pipeline import PipelineConfig

        return PipelineConfig()

    def run_records(self) -> list[dict[str, Any]]:
        """Every stored run as its JSON dict, oldest first (orphans settled to ABORTED)."""
        from local_aws.facade import HistoryStore, LocalPaths

        store = HistoryStore(LocalPaths(self.state_dir).runs)
        return [r.to_json() for r in store.list_runs()]

    def quarantined(self, p_date: str) -> dict[str, int]:
        """Quarantined records of ``p_date`` by reason code."""
        folder = self._s3() / self._config().errors_bucket / "ingest" / f"p_date={p_date}"
        counts: dict[str, int] = {}
        for path in sorted(folder.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    entry = {"reason": {"code": "unreadable"}}
                reason = entry.get("reason") or {}
                code = str(reason.get("code") or "unknown")
                # a page refused whole (another API version) counts its records
                results = (entry.get("record") or {}).get("results") \
                    if isinstance(entry.get("record"), dict) else None
                n = len(results) if isinstance(results, list) else 1
                counts[code] = counts.get(code, 0) + n
        return counts

    def raw_rows(self, p_date: str) -> int | None:
        """Rows in the raw partition of ``p_date`` (from Parquet footers), if any."""
        import pyarrow.parquet as pq

        from contracts.tables import RAW

        folder = self._s3() / self._config().lake_bucket / RAW.prefix / f"p_date={p_date}"
        files = sorted(folder.glob("*.parquet"))
        if not files:
            return None
        return sum(pq.read_metadata(f).num_rows for f in files)

    def dq_rows(self, p_date: str) -> list[dict[str, Any]]:
        """The ``dq_results`` rows of ``p_date`` (every run's)."""
        import pyarrow.parquet as pq

        from contracts.tables import DQ_RESULTS

        folder = (self._s3() / self._config().lake_bucket / DQ_RESULTS.prefix
                  / f"p_date={p_date}")
        rows: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.parquet")):
            rows.extend(pq.read_table(path).to_pylist())
        return rows


def _summaries(sources: LocalSources, records: Sequence[Mapping[str, Any]]) -> list[RunSummary]:
    per_day: dict[str, tuple[dict[str, int], int | None, list[dict[str, Any]]]] = {}
    out = []
    for rec in records:
        p_date = str(rec.get("label") or (rec.get("input") or {}).get("p_date") or "")
        if p_date not in per_day:
            per_day[p_date] = ((sources.quarantined(p_date), sources.raw_rows(p_date),
                                sources.dq_rows(p_date)) if p_date else ({}, None, []))
        quarantined, raw, dq = per_day[p_date]
        out.append(run_summary(rec, quarantined=quarantined, raw_rows=raw, dq_rows=dq))
    return out


def expand_chunks(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each run with per-date rows (``dates``: a backfill chunk's, a nightly run's one)
    as one record per date, so the report shows a row per date: the run's id, times and
    events, the date's own status, error and stage records (in ``date_row``). A run
    without them (one that stopped before they were recorded) passes through."""
    out: list[dict[str, Any]] = []
    for rec in records:
        rows = rec.get("dates")
        if not isinstance(rows, list) or not rows:
            out.append(dict(rec))
            continue
        for row in rows:
            out.append({**rec, "label": row.get("p_date"), "status": row.get("status"),
                        "failed_state": row.get("failed_state"), "error": row.get("error"),
                        "cause": row.get("cause"), "dates": None, "date_row": row})
    return out


def _is_pipeline_run(record: Mapping[str, Any]) -> bool:
    return bool(record.get("label") or (record.get("input") or {}).get("p_date"))


def build_report(state_dir: Path | str, *, run_id: str | None = None, p_date: str | None = None,
                 date_from: str | None = None, date_to: str | None = None,
                 trend_days: int = 30, now: datetime | None = None) -> Report:
    """The report for one run (``run_id``), one date (every run of ``p_date``), or a
    range (``date_from``..``date_to`` inclusive, with a calendar of dates by status).

    Raises :class:`ReportInputError` (one line, for the CLI's exit code 2) for a bad
    selection or when nothing was recorded for it.
    """
    chosen = [run_id is not None, p_date is not None, date_from is not None or date_to is not None]
    if sum(chosen) != 1:
        raise ReportInputError("choose exactly one of: a run id, a date, or a range --from/--to")
    if chosen[2] and (date_from is None or date_to is None):
        raise ReportInputError("a range needs both --from and --to")
    if trend_days < 1:
        raise ReportInputError(f"trend days must be at least 1, got {trend_days}")
    sources = LocalSources(Path(state_dir))
    records = [r for r in expand_chunks(sources.run_records()) if _is_pipeline_run(r)]
    calendar: tuple[tuple[str, str], ...] = ()
    if run_id is not None:
        picked = [r for r in records if r.get("run_id") == run_id]
        if not picked:
            raise ReportInputError(f"no run {run_id!r} in {state_dir}; `udp status` lists them")
        title = f"Run {run_id}"
    elif p_date is not None:
        day = _iso_day(p_date)
        picked = [r for r in records if _day_of(r) == day]
        if not picked:
            raise ReportInputError(f"no runs for {day} in {state_dir}; `udp run --date {day}` "
                                   "starts one")
        title = f"Runs for {day}"
    else:
        first, last = _iso_day(str(date_from)), _iso_day(str(date_to))
        if first > last:
            raise ReportInputError(f"--from {first} is after --to {last}")
        picked = [r for r in records if first <= _day_of(r) <= last]
        if not picked:
            raise ReportInputError(f"no runs between {first} and {last} in {state_dir}")
        title = f"Runs for {first} to {last}"
    runs = _summaries(sources, picked)
    last_day = max(r.p_date for r in runs)
    window_start = (date.fromisoformat(last_day) - timedelta(days=trend_days - 1)).isoformat()
    window = [r for r in records if window_start <= _day_of(r) <= last_day]
    picked_ids = {r.run_id for r in runs}
    others = [r for r in window if r.get("run_id") not in picked_ids]
    trend_runs = runs + _summaries(sources, others)
    if date_from is not None and date_to is not None:
        calendar = _calendar(runs, _iso_day(date_from), _iso_day(date_to))
    from local_aws.facade import erasure_line

    erased = erasure_line(Path(state_dir))
    return Report(title=title, generated_at=now or datetime.now(UTC), runs=tuple(runs),
                  trend=trend_from_runs(trend_runs, last_day, trend_days), calendar=calendar,
                  notes=(erased,) if erased else ())


def _calendar(runs: Sequence[RunSummary], first: str, last: str) -> tuple[tuple[str, str], ...]:
    latest: dict[str, RunSummary] = {}
    for r in sorted(runs, key=lambda r: (r.start, r.run_id)):
        latest[r.p_date] = r
    out = []
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    while day <= end:
        run = latest.get(day.isoformat())
        out.append((day.isoformat(), run.status if run else "MISSING"))
        day += timedelta(days=1)
    return tuple(out)


def _day_of(record: Mapping[str, Any]) -> str:
    return str(record.get("label") or (record.get("input") or {}).get("p_date") or "")


def _iso_day(text: str) -> str:
    from contracts.dates import InvalidDate, parse_p_date

    try:
        return parse_p_date(text).isoformat()
    except InvalidDate as exc:
        raise ReportInputError(str(exc)) from None


def default_report_path(state_dir: Path | str, report: Report) -> Path:
    """``<state>/reports/<slug of the title>.html`` (run ids keep their case)."""
    title = report.title[:1].lower() + report.title[1:]
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in title)
    return Path(state_dir) / "reports" / f"{'-'.join(p for p in slug.split('-') if p)}.html"


def write_report(report: Report, path: Path) -> Path:
    """Render ``report`` and write it to ``path`` (parents created); returns ``path``."""
    from udp_cli.report.html import render_report

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(report), encoding="utf-8")
    tmp.replace(path)
    return path


def report_to_file(state_dir: Path | str, *, out: Path | None = None, run_id: str | None = None,
                   p_date: str | None = None, date_from: str | None = None,
                   date_to: str | None = None, trend_days: int = 30) -> Path:
    """Build the report for one selection (as :func:`build_report`) and write it to
    ``out`` (default :func:`default_report_path`); returns the file's path."""
    report = build_report(state_dir, run_id=run_id, p_date=p_date, date_from=date_from,
                          date_to=date_to, trend_days=trend_days)
    return write_report(report, out or default_report_path(state_dir, report))


def with_notes(report: Report, *notes: str) -> Report:
    """``report`` with ``notes`` appended (shown under the title)."""
    return replace(report, notes=(*report.notes, *notes))
