"""Run a backfill on the local twins, in range mode: one chunk execution per N dates.

The plan (ranges, chunk sizes, concurrency limits, per-date results) is
:mod:`orchestration.backfill`'s; this is the local execution of it, what ``udp backfill``
calls. Resume: dates whose last result is SUCCEEDED are skipped unless ``force``, so a
rerun starts at the first unfinished date; the dates left are cut into chunks of
``chunk_size`` and each chunk runs the ``ItemProcessor`` of ``backfill.asl.json`` (one
raw crawl, one transform run, one transform crawl, one bulk-import run), at most
``concurrency`` chunks at once (never more than the Glue jobs' ``MaxConcurrentRuns``).
A failed chunk, or a failed date inside one, never stops the others.

Each chunk is one execution in the run history; :func:`date_results` turns it and what
its jobs wrote to the lake's ``run_outcomes`` into one result per date (status, counts,
DQ; :mod:`contracts.run_outcomes`), which is also written into the run record
(``RunRecord.dates``) for ``udp status``, resume and the report.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import Any

from contracts.run_outcomes import date_rows
from local_aws.stepfunctions import AslExecutor
from local_aws.stepfunctions.history import HistoryStore, RunRecord
from orchestration.backfill import (
    DEFAULT_CHUNK_DAYS,
    DEFAULT_MAX_CONCURRENT_RUNS,
    DateResult,
    ProgressCallback,
    check_concurrency,
    check_dates,
    chunks,
)

__all__ = ["ChunkRunner", "OutcomeReader", "date_results", "pending_dates", "run_backfill",
           "run_chunk", "to_date_result"]

ChunkRunner = Callable[[list[str]], list[DateResult]]
"""Runs one chunk of dates and returns one :class:`DateResult` per date, in order."""
OutcomeReader = Callable[[str, list[str]], list[dict[str, Any]]]
"""``(run_key, dates)`` -> the ``run_outcomes`` records the chunk's jobs wrote."""


def pending_dates(dates: Iterable[str], history: HistoryStore, *, force: bool,
                  name: str | None = None) -> tuple[list[str], list[str]]:
    """Split ``dates`` into (to run, to skip): skip those whose last result SUCCEEDED
    (a nightly run of the date, or the date inside a backfill chunk)."""
    to_run, skipped = _resume_split(dates, history, force=force, name=name)
    return to_run, [p_date for p_date, _ in skipped]


def _resume_split(dates: Iterable[str], history: HistoryStore, *, force: bool,
                  name: str | None) -> tuple[list[str], list[tuple[str, RunRecord]]]:
    """:func:`pending_dates`, keeping each skipped date's last run (every lookup reads
    the whole run history, so the caller must not look it up a second time)."""
    to_run: list[str] = []
    skipped: list[tuple[str, RunRecord]] = []
    for p_date in dates:
        last = None if force else history.last_run(p_date, name=name)
        if last is not None and last.status_of(p_date) == "SUCCEEDED":
            skipped.append((p_date, last))
        else:
            to_run.append(p_date)
    return to_run, skipped


def run_backfill(
    dates: list[str],
    run_chunk: ChunkRunner,
    *,
    concurrency: int,
    force: bool,
    history: HistoryStore,
    chunk_size: int = DEFAULT_CHUNK_DAYS,
    progress: ProgressCallback | None = None,
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS,
    name: str | None = None,
) -> list[DateResult]:
    """Run the dates not yet SUCCEEDED (all of them with ``force``), ``chunk_size`` at a
    time, ``concurrency`` chunks at once.

    Parameters
    ----------
    dates
        ``YYYY-MM-DD`` strings, each at most once.
    run_chunk
        Runs one chunk (see :meth:`local_aws.cloud.LocalCloud.run_backfill_chunk`).
    concurrency
        Chunks at once; 1 ≤ concurrency ≤ ``max_concurrent_runs`` (each chunk holds one
        Glue job run at a time).
    force
        Rerun dates whose last result succeeded.
    history
        Where previous results are looked up (resume).
    chunk_size
        Dates per chunk (the last one may be shorter).
    progress
        Called as ``progress(result, done, total)`` after every date, skipped ones too.
    max_concurrent_runs
        The Glue jobs' ``MaxConcurrentRuns``.
    name
        Only consider previous runs of this state machine name when resuming.

    Returns
    -------
    list[DateResult]
        One per date, in the order of ``dates``.
    """
    check_concurrency(concurrency, max_concurrent_runs)
    checked = check_dates(dates)
    to_run, skipped = _resume_split(checked, history, force=force, name=name)
    planned = chunks(to_run, chunk_size)
    total = len(checked)
    results: dict[str, DateResult] = {}
    done = 0

    def report(result: DateResult) -> None:
        nonlocal done
        results[result.p_date] = result
        done += 1
        if progress is not None:
            progress(result, done, total)

    for p_date, last in skipped:
        report(DateResult(p_date, "SKIPPED", run_id=last.run_id))

    def one(chunk: list[str]) -> list[DateResult]:
        began = time.perf_counter()
        try:
            return run_chunk(chunk)
        except Exception as exc:  # one broken chunk must not stop the others
            seconds = time.perf_counter() - began
            return [DateResult(d, "FAILED", error=type(exc).__name__, cause=str(exc),
                               seconds=seconds, chunk=f"{chunk[0]}..{chunk[-1]}")
                    for d in chunk]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one, c) for c in planned]
        for future in as_completed(futures):
            for result in future.result():
                report(result)
    return [results[d] for d in checked]


def date_results(dates: Sequence[str], run: Mapping[str, Any],
                 outcomes: Iterable[Mapping[str, Any]], run_key: str, *,
                 seconds: float = 0.0) -> list[dict[str, Any]]:
    """One JSON-ready result per date of a chunk execution
    (:func:`contracts.run_outcomes.date_rows`).

    ``run`` is the chunk's run (``status``, ``output``, ``error``, ``cause``,
    ``failed_state``: a :class:`RunResult` as a dict): the chunk's own result in its
    output (``status``, ``error``, ``cause``) wins over the execution's, which catches
    the chunk's failures and succeeds. ``outcomes`` are the jobs' ``run_outcomes``
    records of ``run_key``.
    """
    output = run.get("output") if isinstance(run.get("output"), Mapping) else {}
    output = output or {}
    return date_rows(dates, run_key, outcomes,
                     status=str(output.get("status") or run.get("status") or "FAILED"),
                     failed_state=run.get("failed_state"),
                     error=output.get("error") or run.get("error"),
                     cause=output.get("cause") or run.get("cause"), seconds=seconds)


def to_date_result(row: Mapping[str, Any], run_id: str) -> DateResult:
    """A :func:`date_results` row as the planner's :class:`DateResult`."""
    return DateResult(str(row["p_date"]), str(row["status"]), run_id=run_id,
                      failed_state=row.get("failed_state"), error=row.get("error"),
                      cause=row.get("cause"), seconds=float(row.get("seconds") or 0.0),
                      users=row.get("users"), loaded=row.get("loaded"),
                      dq_passed=row.get("dq_passed"), chunk=row.get("chunk"))


def run_chunk(executor: AslExecutor, dates: list[str], outcomes: OutcomeReader,
              history: HistoryStore, *, replace: bool | None = None) -> list[DateResult]:
    """Run one chunk execution (``executor`` runs the chunk definition) and record its
    per-date results in the run history; one :class:`DateResult` per date, in order.

    The chunk input is what the AWS Map's ``ItemSelector`` builds: the dates, ``replace``
    (``false`` unless given) and a fresh ``run_key`` (also the execution's run id).
    ``outcomes(run_key, dates)`` reads what the chunk's jobs wrote to ``run_outcomes``
    (:class:`contracts.run_outcomes.OutcomeStore` over the S3 twin).
    """
    run_key = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    chunk_input: dict[str, Any] = {"dates": list(dates), "replace": bool(replace),
                                   "run_key": run_key}
    began = time.perf_counter()
    run = executor.run(chunk_input, run_id=run_key, label=f"{dates[0]}..{dates[-1]}")
    facts = dict(run.__dict__)
    if facts.get("failed_state") is None:  # the chunk caught its failure: where?
        # (catches inside the lease Maps, e.g. releasing a date another run holds, carry
        # a map_index: the chunk's failure is the last catch at its own level)
        caught = [e.get("state") for e in history.get_run(run.run_id).events
                  if e.get("type") == "CatchTaken" and e.get("state") != "NotifyChunkFailure"
                  and e.get("map_index") is None]
        facts["failed_state"] = caught[-1] if caught else None
    rows = date_results(dates, facts, outcomes(run_key, dates), run_key,
                        seconds=time.perf_counter() - began)
    history.record_dates(run.run_id, rows)
    return [to_date_result(r, run.run_id) for r in rows]
