"""``udp``: the pipeline's command line (local runtime by default).

Every user mistake (bad date, unknown table, missing state folder) ends with one
line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts.dates import previous_day
from local_aws.paths import DEFAULT_STATE_DIR

__all__ = ["UserError", "main"]

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


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


def _stack(state_dir: Path) -> Any:
    from local_aws.cloud import LocalCloud

    return LocalCloud(state_dir)


# ----------------------------------------------------------------------------- commands

def _api_options(args: argparse.Namespace) -> Any:
    from local_aws.user_api import ApiOptions

    spec = f"malformed={args.malformed_rate}" + (f",{args.faults}" if args.faults else "")
    try:
        return ApiOptions.parse(spec)
    except ValueError as exc:
        raise UserError(f"--faults/--malformed-rate: {exc}") from None


def _ingest(state_dir: Path, day: str, args: argparse.Namespace) -> dict[str, int]:
    from local_aws.scheduler import DayPlan, simulate_days

    try:
        plan = DayPlan(date.fromisoformat(day), args.invocations, args.pages, args.page_size)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    options = _api_options(args)
    if not 0.0 <= args.firehose_failure_rate < 1.0:
        raise UserError("--firehose-failure-rate must be in [0, 1)")
    def progress(i: int, s: Any) -> None:
        err_console.print(f"  invocation {i + 1}/{plan.invocations}: {s.pages_fetched} "
                          f"pages, {s.records_valid} valid, {s.records_rejected} "
                          f"quarantined, {s.pages_failed} pages failed")
    stack = _stack(state_dir)
    [result] = simulate_days([plan], stack.s3, stack.delivery_stream(), stack.cfg.errors_bucket,
                             options=options, progress=progress,
                             firehose_failure_rate=args.firehose_failure_rate)
    stack.close()
    return {"fetched": result.total("records_seen"), "valid": result.total("records_valid"),
            "quarantined": result.total("records_rejected"),
            "undeliverable": result.total("records_undeliverable"),
            "pages failed": result.total("pages_failed")}


def _replay(state_dir: Path, path: Path, arrival: date | None) -> dict[str, int]:
    from ingest_lambda.replay import ReplayError, StreamedReplay
    from local_aws.scheduler import replay_pages

    try:
        source = StreamedReplay(path)  # every page checked before anything is written
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    stack = _stack(state_dir)
    summary = replay_pages(source, stack.s3, stack.delivery_stream(),
                           stack.cfg.errors_bucket, arrival=arrival)
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
    counts = _ingest(args.state_dir, day, args)
    console.print(f"ingested {day}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _run(stack: Any, day: str) -> Any:
    result = stack.run_pipeline(day)
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
    with _stack(args.state_dir) as stack:
        result = _run(stack, day)
        if result.status == "SUCCEEDED":
            console.print(f"run {result.run_id} for {day} SUCCEEDED")
            for stage, seconds in stack.stage_seconds.items():
                console.print(f"  {stage:<32} {seconds:6.2f} s")
    return 0 if result.status == "SUCCEEDED" else 1


def _format_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str,
                          ensure_ascii=False, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    raise UserError(f"unknown format {fmt}")


def cmd_query(args: argparse.Namespace) -> int:
    from local_aws.athena import QueryError

    _existing_state(args.state_dir)
    stack = _stack(args.state_dir)
    try:
        result = stack.athena().query(args.sql)
    except QueryError as exc:
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
    from local_aws.warehouse import WarehouseQueryError, open_psql, run_warehouse_sql

    _existing_state(args.state_dir)
    if args.action == "psql":
        return open_psql(args.state_dir, [a for a in args.rest if a != "--"])
    try:
        result = run_warehouse_sql(args.state_dir, args.statement)
    except WarehouseQueryError as exc:
        raise UserError(str(exc)) from None
    _print_rows(result.columns, result.rows, args.format)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from local_aws.paths import LocalPaths
    from local_aws.stepfunctions.history import HistoryStore
    from udp_cli.services import cleanup_lines, running_lines

    _existing_state(args.state_dir)
    if args.clean:
        for line in cleanup_lines(args.state_dir):
            console.print(line, markup=False, soft_wrap=True)
        return 0
    history = HistoryStore(LocalPaths(args.state_dir).runs)
    if args.run_id:
        try:
            run = history.get_run(args.run_id)
        except (KeyError, ValueError, FileNotFoundError):
            raise UserError(f"no run {args.run_id!r}; `udp status` lists them") from None
        table = Table("time", "event", "state", "detail")
        for ev in run.events:
            detail = ev.get("error") or ev.get("cause") or ""
            table.add_row(*(escape(x) for x in (
                str(ev.get("timestamp", ""))[11:23], str(ev.get("type", "")),
                str(ev.get("state", "") or ""), str(detail)[:90])))
        console.print(escape(f"run {run.run_id} ({run.label}): {run.status}"))
        console.print(table)
        if run.status != "SUCCEEDED" and run.failed_state:
            console.print(f"failed in {run.failed_state}: {run.error}: {run.cause}",
                          markup=False)
        return 0
    running = running_lines(args.state_dir)
    for line in running or ["nothing running"]:
        console.print(f"running: {line}", markup=False, soft_wrap=True)
    runs = history.list_runs()
    if not runs:
        console.print("no runs yet: `udp run --date D` starts one")
        return 0
    table = Table("run id", "date", "status", "seconds", "failed state", "cause")
    for rec in runs:
        table.add_row(*(escape(x) for x in (
            rec.run_id, str(rec.label or ""), rec.status, f"{rec.duration_seconds or 0:.1f}",
            str(rec.failed_state or ""), str(rec.cause or "")[:60])))
    console.print(table)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from contracts.dates import p_date_range
    from contracts.pipeline import PipelineConfig
    from local_aws.backfill_runner import make_run_one, run_backfill
    from orchestration.backfill import (
        BackfillError,
        DateRangeError,
        DateResult,
        check_concurrency,
    )

    try:
        dates = p_date_range(args.date_from, args.date_to)
        limit = PipelineConfig().max_concurrent_runs
        concurrency = check_concurrency(args.concurrency or limit, limit)
    except (DateRangeError, BackfillError) as exc:
        raise UserError(str(exc)) from None
    _existing_state(args.state_dir)
    progress_bar = Progress("[progress.description]{task.description}", BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=err_console)
    with _stack(args.state_dir) as stack, progress_bar as bar:
        task = bar.add_task(f"backfill {dates[0]}..{dates[-1]}", total=len(dates))

        def progress(result: DateResult, done: int, total: int) -> None:
            bar.update(task, completed=done,
                       description=f"{result.p_date} {result.status.lower()}")
        try:
            results = run_backfill(dates, make_run_one(stack.executor()),
                                   concurrency=concurrency, force=args.force,
                                   history=stack.history, progress=progress,
                                   max_concurrent_runs=limit)
        except BackfillError as exc:
            raise UserError(str(exc)) from None
    table = Table("date", "status", "seconds", "run id", "failed state", "error")
    for r in results:
        table.add_row(*(escape(x) for x in (r.p_date, r.status, f"{r.seconds:.1f}",
                                             r.run_id or "", r.failed_state or "",
                                             (r.error or "")[:50])))
    console.print(table)
    failed = [r for r in results if r.status not in ("SUCCEEDED", "SKIPPED")]
    done = sum(r.status == "SUCCEEDED" for r in results)
    skipped = sum(r.status == "SKIPPED" for r in results)
    console.print(f"{done} succeeded, {len(failed)} failed, {skipped} skipped "
                  "(already succeeded; --force reruns them)")
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    day = _p_date(args.date) if args.date else previous_day(datetime.now(UTC))
    state_dir: Path = _usable_state(args.state_dir)
    console.print(f"[bold]udp demo[/bold] — one day ({day}) through every stage, locally, "
                  f"state in {state_dir}/")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    counts = _ingest(state_dir, day, args)
    timings["ingest (Lambda x Firehose)"] = time.perf_counter() - t0
    with _stack(state_dir) as stack:
        result = _run(stack, day)
        if result.status != "SUCCEEDED":
            return 1
        crawl_names = {stack.cfg.raw_crawler: "raw crawl", stack.cfg.transform_crawler:
                       "transform crawl", stack.cfg.transform_job: "transform (PySpark)",
                       stack.cfg.load_job: "warehouse load (PostgreSQL)"}
        for key, seconds in stack.stage_seconds.items():
            name = key.split(" ", 1)[1]
            timings[crawl_names.get(name, key)] = seconds
        transform = stack.job_outputs.get(stack.cfg.transform_job, {})
        load = stack.job_outputs.get(stack.cfg.load_job, {})
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
    return 0


# ----------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="udp", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="local state folder (default: %(default)s; env UDP_STATE_DIR)")
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
    ingest_opts(p, 4, 3, 100)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("run", help="run the nightly state machine for one day")
    p.add_argument("--date", required=True, help="p_date to process, YYYY-MM-DD")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="ingest generated data for a day, run it, summarise")
    p.add_argument("--date", help="day to simulate (default: yesterday, UTC)")
    ingest_opts(p, 4, 3, 250)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("query", help="Athena (Trino) SQL over the catalog's tables, on DuckDB")
    p.add_argument("sql")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("backfill", help="run the state machine over a date range, resumable")
    p.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", required=True, help="last day, YYYY-MM-DD")
    p.add_argument("--concurrency", type=int, default=0,
                   help="days at once (default and maximum: the Glue jobs' MaxConcurrentRuns)")
    p.add_argument("--force", action="store_true", help="rerun days that already succeeded")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("warehouse", help="the local warehouse (PostgreSQL standing in for "
                       "Redshift): a psql shell or one SQL statement")
    wh = p.add_subparsers(dest="action", required=True)
    q = wh.add_parser("psql", help="interactive psql on the local warehouse")
    q.add_argument("rest", nargs=argparse.REMAINDER, help="extra psql arguments")
    q.set_defaults(func=cmd_warehouse)
    q = wh.add_parser("sql", help="run one statement, print its rows")
    q.add_argument("statement")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.set_defaults(func=cmd_warehouse)

    p = sub.add_parser("status", help="list pipeline runs, or one run's history")
    p.add_argument("run_id", nargs="?")
    p.add_argument("--clean", action="store_true",
                   help="clean what killed runs left (servers, scratch, leases) and say what")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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


if __name__ == "__main__":
    sys.exit(main())
