"""``udp``: the pipeline's command line (local runtime by default).

Every user mistake (bad date, unknown table, missing state folder) ends with one
line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from contracts.dates import previous_day
from local_aws.facade import DEFAULT_STATE_DIR, LocalPaths
from orchestration.backfill import DEFAULT_CHUNK_DAYS
from udp_cli.errors import UserError, console, err_console
from udp_cli.output import FORMATS
from udp_cli.run_tables import backfill_results, chunk_dates, run_events, run_list

log = logging.getLogger("udp_cli")

__all__ = ["UserError", "main"]


class DateBusy(Exception):
    """Another run holds the date's lease; printed as one line, exit code 75 (EX_TEMPFAIL:
    nothing was touched, try again once the holder is done)."""


EXIT_DATE_BUSY = 75


def _p_date(text: str) -> str:
    from contracts.dates import InvalidDate, check_p_date

    try:
        return check_p_date(text)
    except InvalidDate as exc:
        raise UserError(str(exc)) from None


def _existing_state(state_dir: Path) -> Path:
    if state_dir.exists() and not state_dir.is_dir():
        raise UserError(f"--state-dir {state_dir} is a file, not a folder")
    if not state_dir.is_dir():
        raise UserError(f"state folder {state_dir} does not exist: run `udp demo` or "
                        "`udp ingest --date D` first, or pass --state-dir")
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise UserError(f"state folder {state_dir} is not writable by you")
    return state_dir


def _usable_state(state_dir: Path) -> Path:
    """A state folder that exists and is writable, or can be created (ingest, demo)."""
    if state_dir.exists():
        return _existing_state(state_dir)
    parent = next((p for p in state_dir.absolute().parents if p.exists()), Path("/"))
    if not parent.is_dir():
        raise UserError(f"--state-dir {state_dir}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--state-dir {state_dir} cannot be created: {parent} is not "
                        "writable by you")
    return state_dir


def _need_java() -> None:
    """Refuse, in one line naming what to install, before a command that runs Spark."""
    from local_aws.facade import java_missing

    missing = java_missing()
    if missing is not None:
        raise UserError(missing)


def _stack(state_dir: Path, args: argparse.Namespace | None = None) -> Any:
    """The local cloud of ``state_dir``; for a command that runs Glue jobs (``args``
    given), with the warm local Glue service unless ``--no-warm`` or the environment
    turns it off."""
    from local_aws.facade import glue_service_wanted, local_cloud

    if args is None:
        return local_cloud(state_dir)
    try:
        warm = glue_service_wanted(no_warm=args.no_warm)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return local_cloud(state_dir, glue_service=warm)


def _start_engines(stack: Any) -> None:
    """Spark, the warehouse and the report's chart renderer start in the background
    while the run's first states go: the JVM's start-up is the floor of a local run, and
    what else is started beside it costs the user no wait."""
    import threading

    from udp_cli.report.charts import warm_renderer

    stack.start_engines()
    threading.Thread(target=_quietly, args=(warm_renderer,), name="start-charts",
                     daemon=True).start()


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # the report draws again and says what failed
        log.debug("starting %s ahead of the report failed", fn.__name__, exc_info=True)


# ----------------------------------------------------------------------------- commands

def _api_options(args: argparse.Namespace) -> Any:
    from local_aws.facade import api_options

    spec = f"malformed={args.malformed_rate}" + (f",{args.faults}" if args.faults else "")
    try:
        return api_options(spec)
    except ValueError as exc:
        raise UserError(f"--faults/--malformed-rate: {exc}") from None


def _ingest_options(args: argparse.Namespace) -> Any:
    """The API twin's options of ``udp ingest``/``demo``, with the Firehose fault rate checked."""
    options = _api_options(args)
    if not 0.0 <= args.firehose_failure_rate < 1.0:
        raise UserError("--firehose-failure-rate must be in [0, 1)")
    return options


def _ingest_counts(result: Any) -> dict[str, int]:
    """What ``udp ingest`` prints of a simulated day, by label."""
    return {"fetched": result.total("records_seen"), "valid": result.total("records_valid"),
            "quarantined": result.total("records_rejected"),
            "undeliverable": result.total("records_undeliverable"),
            "pages failed": result.total("pages_failed")}


def _progress_bar() -> Any:
    """The bar of long commands (``ingest --users``, ``backfill``), drawn on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err_console)


def _ingest(state_dir: Path, day: str, args: argparse.Namespace) -> dict[str, int]:
    from local_aws.facade import day_plan, simulate_days

    try:
        plan = day_plan(date.fromisoformat(day), args.invocations, args.pages, args.page_size)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    options = _ingest_options(args)
    def progress(i: int, s: Any) -> None:
        err_console.print(f"  invocation {i + 1}/{plan.invocations}: {s.pages_fetched} "
                          f"pages, {s.records_valid} valid, {s.records_rejected} "
                          f"quarantined, {s.pages_failed} pages failed")
    from local_aws.facade import bind

    stack = _stack(state_dir)
    try:  # a failed or interrupted day must not leave the stack's threads behind
        with bind(p_date=day, stage="ingest"):  # no run yet: logged to <state>/logs/udp.jsonl
            [result] = simulate_days([plan], stack, options=options, progress=progress,
                                     firehose_failure_rate=args.firehose_failure_rate)
    finally:
        stack.close()
    return _ingest_counts(result)


def _ingest_users(state_dir: Path, day: str, users: int,
                  args: argparse.Namespace) -> dict[str, int]:
    """``udp ingest --users N``: a day of N users through the twins, with a progress bar."""
    from local_aws.facade import ingest_users

    if users < 1:
        raise UserError(f"--users must be at least 1, got {users}")
    options = _ingest_options(args)
    bar = _progress_bar()
    stack = _stack(state_dir)
    try:
        with bar:
            task = bar.add_task(f"ingest {day}", total=users)

            def progress(fetched: int, planned: int) -> None:
                bar.update(task, completed=fetched, total=planned)
            result = ingest_users(date.fromisoformat(day), users, stack,
                                  options=options, progress=progress,
                                  firehose_failure_rate=args.firehose_failure_rate)
    finally:
        stack.close()
    return _ingest_counts(result)


def _replay(state_dir: Path, path: Path, arrival: date | None) -> dict[str, int]:
    from ingest_lambda.replay import ReplayError, StreamedReplay
    from local_aws.facade import replay_pages

    try:
        source = StreamedReplay(path)  # every page checked before anything is written
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    stack = _stack(state_dir)
    try:  # a failed or interrupted replay must not leave the stack's threads behind
        summary = replay_pages(source, stack, arrival=arrival)
    finally:
        stack.close()
    return {"pages": summary.pages_fetched, "fetched": summary.records_seen,
            "valid": summary.records_valid, "quarantined": summary.records_rejected}


def cmd_ingest(args: argparse.Namespace) -> int:
    if args.replay:
        # --date D with --replay: the captured pages arrive on D (a backfill of captured
        # payloads lands in its own day, not today's); without it they arrive now
        arrival = date.fromisoformat(_p_date(args.date)) if args.date else None
        _usable_state(args.state_dir)
        counts = _replay(args.state_dir, args.replay, arrival)
        where = f" into {arrival}" if arrival else ""
        console.print(f"replayed {args.replay}{where}: "
                      + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0
    if not args.date:
        raise UserError("give --date D (simulate a day) or --replay FILE")
    day = _p_date(args.date)
    _usable_state(args.state_dir)
    counts = (_ingest_users(args.state_dir, day, args.users, args) if args.users is not None
              else _ingest(args.state_dir, day, args))
    console.print(f"ingested {day}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _run(stack: Any, day: str, *, replace: bool = False) -> Any:
    result = stack.run_pipeline(day, replace=replace)
    if result.error == "DateLeased":  # refused before touching anything: one line
        writer = stack.dynamodb.writer(stack.cfg.lease_table, day)
        where = f" (pid {writer['pid']} on {writer['host']})" if writer else ""
        raise DateBusy(f"{result.cause}{where}")
    if result.status != "SUCCEEDED":
        err_console.print(f"run {result.run_id} for {day} FAILED in state "
                          f"{result.failed_state}: {result.error}: {result.cause}")
    return result


def cmd_run(args: argparse.Namespace) -> int:
    day = _p_date(args.date)
    _existing_state(args.state_dir)
    _need_java()
    with _stack(args.state_dir, args) as stack:
        _start_engines(stack)
        result = _run(stack, day, replace=args.replace)
        if result.status == "SUCCEEDED":
            console.print(f"run {result.run_id} for {day} SUCCEEDED"
                          + (" (replaced the day in the warehouse)" if args.replace else ""))
            for stage, seconds in stack.stage_seconds.items():
                console.print(f"  {stage:<32} {seconds:6.2f} s")
    _print_log_path(args.state_dir, result.run_id)
    _auto_report(args.state_dir, run_id=result.run_id, p_date=day)
    return 0 if result.status == "SUCCEEDED" else 1


def _print_log_path(state_dir: Path, run_id: str) -> None:
    from local_aws.facade import run_log_path

    path = run_log_path(LocalPaths(state_dir).logs, run_id)
    if path.is_file():
        console.print(f"log: {path}", markup=False, highlight=False)


def _auto_report(state_dir: Path, *, run_id: str | None = None, p_date: str | None = None,
                 date_from: str | None = None, date_to: str | None = None) -> Path | None:
    """Write the report after a run/backfill and print its path; a report that cannot be
    made is a warning, never a failed run. Logged in the run's log (``stage`` report)."""
    from local_aws.facade import bind
    from udp_cli.report import ReportInputError, report_to_file

    with bind(run_id=run_id, p_date=p_date, stage="report"):
        try:
            path = report_to_file(state_dir, run_id=run_id, date_from=date_from,
                                  date_to=date_to)
        except (ReportInputError, OSError, ValueError) as exc:
            err_console.print(f"udp: warning: no report written: {exc}", markup=False)
            log.warning("report not written: %s", exc)
            return None
        console.print(f"report: {path}", markup=False, highlight=False)
        log.info("report written to %s", path)
    return path


def _format_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    from udp_cli.output import format_rows

    try:
        return format_rows(columns, rows, fmt)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_query(args: argparse.Namespace) -> int:
    from local_aws.facade import TwinQueryError, athena_query

    _existing_state(args.state_dir)
    stack = _stack(args.state_dir)
    try:
        result = athena_query(stack, args.sql)
    except TwinQueryError as exc:
        raise UserError(str(exc)) from None
    _print_rows(result.columns, result.rows, args.format)
    return 0


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "table":
        table = Table(*columns)
        for row in rows:
            table.add_row(*(escape("NULL" if v is None else str(v)) for v in row))
        console.print(table)
    else:
        print(_format_rows(columns, rows, fmt))


def cmd_warehouse(args: argparse.Namespace) -> int:
    from local_aws.facade import TwinQueryError, open_psql, warehouse_sql

    _existing_state(args.state_dir)
    if args.action == "psql":
        return open_psql(args.state_dir, [a for a in args.rest if a != "--"])
    try:
        result = warehouse_sql(args.state_dir, args.statement)
    except TwinQueryError as exc:
        raise UserError(str(exc)) from None
    _print_rows(result.columns, result.rows, args.format)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from local_aws.facade import HistoryStore, run_log_path
    from udp_cli.services import cleanup_lines, running_lines

    _existing_state(args.state_dir)
    if args.clean:
        for line in cleanup_lines(args.state_dir):
            console.print(line, markup=False, soft_wrap=True)
        return 0
    paths = LocalPaths(args.state_dir)
    history = HistoryStore(paths.runs)
    if args.run_id:
        try:
            run = history.get_run(args.run_id)
        except (KeyError, ValueError, FileNotFoundError):
            raise UserError(f"no run {args.run_id!r}; `udp status` lists them") from None
        log_file = run_log_path(paths.logs, run.run_id)
        log_text = str(log_file) if log_file.is_file() else ""
        if args.format != "table":
            print(_run_detail(run, log_text, args.format))
            return 0
        console.print(escape(f"run {run.run_id} ({run.label}): {run.status}"))
        _print_all(run_events(run, console.width))
        if run.dates:
            _print_all(chunk_dates(run.dates, console.width))
        if run.status != "SUCCEEDED" and run.failed_state:
            console.print(f"failed in {run.failed_state}: {run.error}: {run.cause}",
                          markup=False)
        console.print(f"log: {log_text or '(none: run before structured logs)'}",
                      markup=False, highlight=False)
        return 0
    runs = history.list_runs()
    if args.format == "table":  # csv/json stay machine-readable: runs only
        for line in running_lines(args.state_dir) or ["nothing running"]:
            console.print(f"running: {line}", markup=False, soft_wrap=True)
        from local_aws.facade import erasure_line

        erased = erasure_line(args.state_dir)
        if erased:
            console.print(erased, markup=False, soft_wrap=True)
    if args.format != "table":
        columns = ["run_id", "p_date", "status", "started_at", "stopped_at", "seconds",
                   "failed_state", "error", "cause", "log_file"]
        rows = [(r.run_id, r.p_date or "", r.status, r.started_at, r.stopped_at or "",
                 round(r.duration_seconds or 0.0, 3), r.failed_state or "", r.error or "",
                 r.cause or "", _existing(run_log_path(paths.logs, r.run_id))) for r in runs]
        print(_format_rows(columns, rows, args.format))
        return 0
    if not runs:
        console.print("no runs yet: `udp run --date D` starts one")
        return 0
    _print_all(run_list(runs, console.width))
    return 0


def _print_all(renderables: Sequence[Any]) -> None:
    for item in renderables:
        console.print(item)


def _existing(path: Path) -> str:
    return str(path) if path.is_file() else ""


def _run_detail(run: Any, log_file: str, fmt: str) -> str:
    """One run's history as JSON (the run and its events) or CSV (one row per event)."""
    if fmt == "json":
        return json.dumps({"run_id": run.run_id, "p_date": run.p_date, "status": run.status,
                           "started_at": run.started_at, "stopped_at": run.stopped_at,
                           "failed_state": run.failed_state, "error": run.error,
                           "cause": run.cause, "log_file": log_file or None,
                           "events": [{k: ev.get(k) for k in ("timestamp", "type", "state",
                                                              "error", "cause")}
                                      for ev in run.events]},
                          default=str, ensure_ascii=False, indent=1)
    rows = [(run.run_id, str(ev.get("timestamp", "")), str(ev.get("type", "")),
             str(ev.get("state") or ""), str(ev.get("error") or ""),
             str(ev.get("cause") or "")) for ev in run.events]
    return _format_rows(["run_id", "timestamp", "event", "state", "error", "cause"], rows, fmt)


def cmd_backfill(args: argparse.Namespace) -> int:
    from contracts.dates import p_date_range
    from contracts.pipeline import PipelineConfig
    from local_aws.facade import run_backfill
    from orchestration.backfill import (
        BackfillError,
        DateRangeError,
        DateResult,
        check_chunk_size,
        check_concurrency,
    )
    from udp_cli.backfill_busy import leased_refusal

    if args.replace and args.dry_run:
        raise UserError("--replace cannot be combined with --dry-run: --dry-run alone lists "
                        "the dates; with --replace every one of them would be reloaded")
    try:
        dates = p_date_range(args.date_from, args.date_to)
        limit = PipelineConfig().max_concurrent_runs
        concurrency = check_concurrency(args.concurrency or limit, limit)
        chunk_size = check_chunk_size(args.chunk)
    except (DateRangeError, BackfillError) as exc:
        raise UserError(str(exc)) from None
    _existing_state(args.state_dir)
    if args.dry_run:
        return _backfill_dry_run(args.state_dir, dates, force=args.force)
    _need_java()
    with _stack(args.state_dir, args) as stack, _progress_bar() as bar:
        _start_engines(stack)
        task = bar.add_task(f"backfill {dates[0]}..{dates[-1]}", total=len(dates))

        def progress(result: DateResult, done: int, total: int) -> None:
            bar.update(task, completed=done,
                       description=f"{result.p_date} {result.status.lower()}")
        chunk_executor = stack.chunk_executor()
        replace = True if args.replace else None

        def run_chunk(chunk: list[str]) -> list[DateResult]:
            return list(stack.run_backfill_chunk(chunk, executor=chunk_executor,
                                                 replace=replace))
        try:
            results = run_backfill(dates, run_chunk, concurrency=concurrency,
                                   force=args.force or args.replace, history=stack.history,
                                   chunk_size=chunk_size, progress=progress,
                                   max_concurrent_runs=limit)
        except BackfillError as exc:
            raise UserError(str(exc)) from None
        # only lease refusals: busy, not broken (exit 75 as `udp run`), said after the table
        busy = leased_refusal(results, lambda day: stack.dynamodb.writer(
            stack.cfg.lease_table, day))
    _print_all(backfill_results(results, console.width))
    failed = [r for r in results if r.status not in ("SUCCEEDED", "SKIPPED")]
    done = sum(r.status == "SUCCEEDED" for r in results)
    skipped = sum(r.status == "SKIPPED" for r in results)
    console.print(f"{done} succeeded, {len(failed)} failed, {skipped} skipped "
                  "(already succeeded; --force reruns them)")
    _auto_report(args.state_dir, date_from=dates[0], date_to=dates[-1])
    if busy is not None:
        raise DateBusy(busy)
    return 1 if failed else 0


def _backfill_dry_run(state_dir: Path, dates: list[str], *, force: bool) -> int:
    """Print what ``udp backfill`` would do to each date; read only (no run, no log)."""
    from local_aws.facade import HistoryStore
    from udp_cli.backfill_plan import plan_backfill

    plan = plan_backfill(dates, HistoryStore(LocalPaths(state_dir).runs), force=force)
    table = Table("date", "would", "last status", "last run id",
                  title="dry run: nothing is started or written")
    for item in plan:
        table.add_row(*(escape(x) for x in item.row()))
    console.print(table)
    counts = {a: sum(p.action == a for p in plan) for a in ("run", "rerun", "skip")}
    console.print(f"would run {counts['run']}, rerun {counts['rerun']}, skip {counts['skip']} "
                  "(already succeeded; --force reruns them, --replace reloads every date)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    day = _p_date(args.date) if args.date else previous_day(datetime.now(UTC))
    state_dir: Path = _usable_state(args.state_dir)
    _need_java()
    console.print(f"[bold]udp demo[/bold] — one day ({day}) through every stage, locally, "
                  f"state in {state_dir}/")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    counts = _ingest(state_dir, day, args)
    timings["ingest (Lambda x Firehose)"] = time.perf_counter() - t0
    with _stack(state_dir, args) as stack:
        result = _run(stack, day)
        if result.status != "SUCCEEDED":
            return 1
        crawl_names = {stack.cfg.raw_crawler: "raw crawl", stack.cfg.transform_crawler:
                       "transform crawl", stack.cfg.transform_job: "transform (PySpark)",
                       stack.cfg.load_job: "bulk import (PostgreSQL)"}
        for key, seconds in stack.stage_seconds.items():
            name = key.split(" ", 1)[1]
            timings[crawl_names.get(name, key)] = seconds
        # the day's row, from what its jobs wrote to run_outcomes (as `udp status RUN`)
        row: dict[str, Any] = next(iter(stack.history.get_run(result.run_id).dates or ()), {})
        transform, load = row.get("transform") or {}, row.get("load") or {}
        users_q = stack.athena().query(
            f"select count(*) from users where p_date = '{day}'").rows[0][0]
        partitions = len(stack.catalog.get_partitions(
            DatabaseName=stack.cfg.raw_database, TableName="user_data")["Partitions"])
        with stack.warehouse.connect() as conn:
            wh_rows = conn.execute("select count(*) from analytics.users where p_date = %s",
                                   (day,)).fetchone()[0]
    table = Table("measure", "value", title=f"pipeline summary for {day}")
    for label, value in [
        ("records fetched", counts["fetched"]),
        ("records quarantined (with reason)", counts["quarantined"]),
        ("raw partitions in catalog", partitions),
        ("raw rows read by transform", transform.get("rows_read")),
        ("users transformed (deduplicated)", transform.get("rows_written")),
        ("rows loaded into warehouse", load.get("rows_staged")),
        ("users in warehouse for the day", wh_rows),
        ("users via `udp query` (Athena twin)", users_q),
    ]:
        table.add_row(label, str(value))
    for label, seconds in timings.items():
        table.add_row(f"seconds: {label}", f"{seconds:.2f}")
    console.print(table)
    console.print(f"try: udp query \"select country, count(*) as users from users "
                  f"where p_date = '{day}' group by 1 order by 2 desc\"")
    _print_log_path(state_dir, result.run_id)
    _auto_report(state_dir, run_id=result.run_id, p_date=day)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from udp_cli.report import ReportInputError, report_to_file

    chosen = [name for name, value in (("--run", args.run), ("--date", args.date),
                                       ("--from/--to", args.date_from or args.date_to))
              if value]
    if len(chosen) != 1:
        raise UserError("give exactly one of --run ID, --date D or --from A --to B"
                        + (f" (got {', '.join(chosen)})" if chosen else ""))
    if bool(args.date_from) != bool(args.date_to):
        raise UserError("--from and --to go together")
    if args.trend_days < 1:
        raise UserError("--trend-days must be at least 1")
    _existing_state(args.state_dir)
    try:
        path = report_to_file(args.state_dir, out=args.out, run_id=args.run,
                              p_date=args.date, date_from=args.date_from,
                              date_to=args.date_to, trend_days=args.trend_days)
    except ReportInputError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc}") from None
    console.print(f"report: {path}", markup=False, highlight=False)
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    from contracts.dictionary import all_tables, table_rows

    columns = ["database", "table", "partition keys", "key", "description"]
    _print_rows(columns, [tuple(r) for r in table_rows(all_tables())], args.format)
    if args.format == "table":
        console.print("udp describe TABLE shows columns and partitions; "
                      "docs/analyse/data-dictionary.md has them all", markup=False)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from contracts.dictionary import UnknownTableError, column_rows, find_table
    from local_aws.facade import glue_catalog, object_store
    from udp_cli.catalog_view import catalog_partitions, partitions_with_counts

    try:
        info = find_table(args.table)
    except UnknownTableError as exc:
        raise UserError(str(exc)) from None
    paths = LocalPaths(args.state_dir)
    parts: list[Any] | None = None
    rows: list[Any] = []
    if paths.catalog.is_dir():
        parts = catalog_partitions(glue_catalog(args.state_dir), info)
        if parts is not None:
            rows = partitions_with_counts(parts, object_store(args.state_dir).path)
    col_names = ["column", "type", "null?", "comment"]
    part_names = ["p_date", "records", "files", "location", "count from"]
    if args.format == "json":
        print(json.dumps({"database": info.database, "table": info.name,
                          "description": info.description, "key": list(info.key),
                          "columns": [dict(zip(col_names, r, strict=True))
                                      for r in column_rows(info)],
                          "partitions": [dict(zip(part_names, r, strict=True)) for r in rows]},
                         ensure_ascii=False, indent=1))
        return 0
    if args.format == "csv":
        print(_format_rows(col_names, [tuple(r) for r in column_rows(info)], "csv"))
        return 0
    console.print(f"{info.qualified_name}: {info.description}", markup=False)
    console.print(f"key: {', '.join(info.key) or '-'}", markup=False)
    _print_rows(col_names, [tuple(r) for r in column_rows(info)], "table")
    if parts is None:
        console.print(f"no partitions: {info.qualified_name} is not in the local catalog "
                      f"under {args.state_dir} yet (run a day first)", markup=False)
    else:
        _print_rows(part_names, [tuple("" if v is None else v for v in r) for r in rows],
                    "table")
    return 0


def _run_logs(args: argparse.Namespace) -> Any:
    """Structured JSON logs under ``<state>/logs/`` for the commands that run something
    (the console output stays as it is); read-only commands write nothing."""
    from contextlib import nullcontext

    from local_aws.facade import install

    writes = args.command in ("ingest", "run", "demo") or (
        args.command == "backfill" and not args.dry_run)
    return install(LocalPaths(args.state_dir).logs) if writes else nullcontext()


# ----------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="udp", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="local state folder (default: %(default)s; env UDP_STATE_DIR)")
    parser.add_argument("--no-warm", action="store_true",
                        help="run Glue jobs in this process, not in the warm local Glue "
                             "service kept between commands (env UDP_GLUE_SERVICE=off)")
    sub = parser.add_subparsers(dest="command", required=True)

    def ingest_opts(p: argparse.ArgumentParser, invocations: int, pages: int,
                    page_size: int) -> None:
        p.add_argument("--invocations", type=int, default=invocations,
                       help="scheduled Lambda invocations in the day (default %(default)s)")
        p.add_argument("--pages", type=int, default=pages,
                       help="API pages per invocation (default %(default)s)")
        p.add_argument("--page-size", type=int, default=page_size,
                       help="users per page (default %(default)s)")
        p.add_argument("--malformed-rate", type=float, default=0.02,
                       help="share of records the API twin corrupts (default %(default)s)")
        p.add_argument("--faults", default="",
                       help="API faults, e.g. error=0.3,throttle=0.1,slow=0.05,latency=0.2")
        p.add_argument("--firehose-failure-rate", type=float, default=0.0,
                       help="share of records the Firehose twin fails per call (retried)")

    p = sub.add_parser("ingest", help="simulate one day of scheduled ingest invocations")
    p.add_argument("--date", help="ingestion day, YYYY-MM-DD (UTC)")
    p.add_argument("--replay", type=Path,
                   help="ingest saved API pages (a page object, a list, or one per line) "
                        "instead; with --date they arrive on that day")
    p.add_argument("--users", type=int,
                   help="a day of N users (e.g. 1000000), with a progress bar; replaces "
                        "--invocations/--pages/--page-size")
    ingest_opts(p, 4, 3, 100)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("run", help="run the nightly state machine for one day")
    p.add_argument("--date", required=True, help="p_date to process, YYYY-MM-DD")
    p.add_argument("--replace", action="store_true",
                   help="reload the day: the bulk import deletes its warehouse rows first "
                        "(after a transform fix); the audit log says replace")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="ingest generated data for a day, run it, summarise")
    p.add_argument("--date", help="day to simulate (default: yesterday, UTC)")
    ingest_opts(p, 4, 3, 250)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("query", help="Athena (Trino) SQL over the catalog's tables, on DuckDB")
    p.add_argument("sql")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("backfill", help="backfill a date range in chunks (one transform and "
                       "one load run per chunk, each date committed on its own), resumable")
    p.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", required=True, help="last day, YYYY-MM-DD")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK_DAYS,
                   help="dates per chunk: one Glue run each for the transform and the load "
                        "(default %(default)s; a failure costs at most one chunk)")
    p.add_argument("--concurrency", type=int, default=0,
                   help="chunks at once (default and maximum: the Glue jobs' "
                        "MaxConcurrentRuns)")
    p.add_argument("--force", action="store_true", help="rerun days that already succeeded")
    p.add_argument("--replace", action="store_true",
                   help="reload every day (implies --force; rows of each day deleted first)")
    p.add_argument("--dry-run", action="store_true",
                   help="print which dates would run, be skipped or rerun; start nothing")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("report", help="write the HTML run report (offline, one file) for a "
                       "run, a day or a date range")
    p.add_argument("--run", help="one run id (`udp status` lists them)")
    p.add_argument("--date", help="every run of one p_date, YYYY-MM-DD")
    p.add_argument("--from", dest="date_from", help="first day of a range, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", help="last day of a range, YYYY-MM-DD")
    p.add_argument("--out", type=Path, help="output file (default: <state>/reports/...)")
    p.add_argument("--trend-days", type=int, default=30,
                   help="days of history in the trend charts (default %(default)s)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("tables", help="list the pipeline's tables (the data dictionary)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("describe", help="one table: columns, types, comments, partitions "
                       "with row counts")
    p.add_argument("table", help="table name, e.g. users or udp_transformed.users")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="csv prints the columns only; json has columns and partitions")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("warehouse", help="the local warehouse (PostgreSQL standing in for "
                       "Redshift): a psql shell or one SQL statement")
    wh = p.add_subparsers(dest="action", required=True)
    q = wh.add_parser("psql", help="interactive psql on the local warehouse")
    q.add_argument("rest", nargs=argparse.REMAINDER, help="extra psql arguments")
    q.set_defaults(func=cmd_warehouse)
    q = wh.add_parser("sql", help="run one statement, print its rows")
    q.add_argument("statement")
    q.add_argument("--format", choices=FORMATS, default="table")
    q.set_defaults(func=cmd_warehouse)

    p = sub.add_parser("status", help="list pipeline runs, or one run's history (and its "
                       "log file)")
    p.add_argument("run_id", nargs="?")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--clean", action="store_true",
                   help="clean what killed runs left (servers, scratch, leases) and say what")
    p.set_defaults(func=cmd_status)

    from udp_cli.push_commands import add_push_commands  # serve, push, get (docs/reference/push.md)

    add_push_commands(sub)
    from udp_cli.erase_commands import add_erase_commands  # docs/operate/erasure.md

    add_erase_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _run_logs(args):
            return int(args.func(args))
    except UserError as exc:
        print(f"udp: error: {exc}", file=sys.stderr)  # one line, never wrapped
        return 2
    except DateBusy as exc:
        print(f"udp: refused: {exc}", file=sys.stderr)
        return EXIT_DATE_BUSY
    except PermissionError as exc:  # e.g. a state folder another user owns, as root or not
        print(f"udp: error: permission denied: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("udp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `udp status --format csv | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
