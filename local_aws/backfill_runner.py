"""Run a backfill on the local twins: the single-date state machine over many dates.

The plan (ranges, concurrency limits, per-date results) is
:mod:`orchestration.backfill`'s; this is the local execution of it, what ``udp backfill``
calls: resume (dates whose last run SUCCEEDED are skipped unless ``force``), bounded
concurrency that never exceeds the Glue jobs' ``MaxConcurrentRuns``, a progress
callback, one result per date; one failed date never stops the others.
:func:`child_execution_handler` lets the local executor run ``backfill.asl.json`` (the
AWS way) too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from local_aws.stepfunctions import AslExecutor, RunResult, TaskError, TaskHandler
from local_aws.stepfunctions.history import HistoryStore
from orchestration.backfill import (
    DEFAULT_MAX_CONCURRENT_RUNS,
    DateResult,
    ProgressCallback,
    check_concurrency,
    check_dates,
)

__all__ = ["child_execution_handler", "make_run_one", "pending_dates", "run_backfill"]


def pending_dates(dates: Iterable[str], history: HistoryStore, *, force: bool,
                  name: str | None = None) -> tuple[list[str], list[str]]:
    """Split ``dates`` into (to run, to skip): skip those whose last run SUCCEEDED."""
    to_run: list[str] = []
    skipped: list[str] = []
    for p_date in dates:
        last = None if force else history.last_run(p_date, name=name)
        (skipped if last is not None and last.status == "SUCCEEDED" else to_run).append(p_date)
    return to_run, skipped


def run_backfill(
    dates: list[str],
    run_one: Callable[[str], RunResult],
    *,
    concurrency: int,
    force: bool,
    history: HistoryStore,
    progress: ProgressCallback | None = None,
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS,
    name: str | None = None,
) -> list[DateResult]:
    """Run ``run_one`` for each date not yet SUCCEEDED (all of them with ``force``).

    Parameters
    ----------
    dates
        ``YYYY-MM-DD`` strings, each at most once.
    run_one
        Runs the single-date state machine for a date (see :func:`make_run_one`).
    concurrency
        Dates run at once; 1 ≤ concurrency ≤ ``max_concurrent_runs``.
    force
        Rerun dates whose last run succeeded.
    history
        Where previous runs are looked up (resume).
    progress
        Called as ``progress(result, done, total)`` after every date, skipped ones too.
    max_concurrent_runs
        The Glue jobs' ``MaxConcurrentRuns``; more concurrent dates would only be
        rejected by Glue with ``ConcurrentRunsExceededException``.
    name
        Only consider previous runs of this state machine name when resuming.

    Returns
    -------
    list[DateResult]
        One per date, in the order of ``dates``.
    """
    check_concurrency(concurrency, max_concurrent_runs)
    checked = check_dates(dates)
    to_run, skipped = pending_dates(checked, history, force=force, name=name)
    total = len(checked)
    results: dict[str, DateResult] = {}
    done = 0

    def report(result: DateResult) -> None:
        nonlocal done
        results[result.p_date] = result
        done += 1
        if progress is not None:
            progress(result, done, total)

    for p_date in skipped:
        last = history.last_run(p_date, name=name)
        report(DateResult(p_date, "SKIPPED", run_id=last.run_id if last else None))

    def one(p_date: str) -> DateResult:
        began = time.perf_counter()
        try:
            run = run_one(p_date)
        except Exception as exc:  # one broken date must not stop the others
            return DateResult(p_date, "FAILED", error=type(exc).__name__, cause=str(exc),
                              seconds=time.perf_counter() - began)
        return DateResult(p_date, run.status, run_id=run.run_id, failed_state=run.failed_state,
                          error=run.error, cause=run.cause, seconds=time.perf_counter() - began)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one, d) for d in to_run]
        for future in as_completed(futures):
            report(future.result())
    return [results[d] for d in checked]


def make_run_one(executor: AslExecutor) -> Callable[[str], RunResult]:
    """``run_one`` for :func:`run_backfill`: one execution with input ``{"p_date": d}``."""

    def run_one(p_date: str) -> RunResult:
        return executor.run({"p_date": p_date}, label=p_date)

    return run_one


def child_execution_handler(executor: AslExecutor) -> TaskHandler:
    """Local ``states:startExecution.sync:2``: run ``executor`` and wait, like Step Functions.

    Succeeds with ``{"ExecutionArn", "Status", "Output"}``; a failed child raises
    ``States.TaskFailed`` whose cause is the child's description as JSON.
    """

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        child_input = params.get("Input", {})
        if isinstance(child_input, str):
            child_input = json.loads(child_input)
        label = child_input.get("p_date") if isinstance(child_input, dict) else None
        run = executor.run(child_input, label=label)
        if not run.succeeded:
            raise TaskError("States.TaskFailed", json.dumps({
                "ExecutionArn": run.run_id, "Status": run.status, "Error": run.error,
                "Cause": run.cause, "FailedState": run.failed_state,
            }))
        return {"ExecutionArn": run.run_id, "Status": run.status, "Output": run.output}

    return handler
