"""The same report on AWS: a Step Functions execution as the local run record shape.

Pure translation, no SDK call: give it what ``DescribeExecution`` and
``GetExecutionHistory`` (all pages, oldest first) returned, as boto3 dicts, and an
``outcomes`` reader of the lake's ``run_outcomes``, and pass each record the result
holds per date (:func:`udp_cli.report.local.expand_chunks`) to
:func:`udp_cli.report.local.run_summary` with the day's ``dq_results`` rows from
Athena. docs/operate/report.md shows the calls and the mapping.

Differences from the local executor's events that this smooths over (HistoryEvent,
Step Functions API reference): state events are typed by state kind
(``TaskStateEntered``, ``WaitStateEntered``, ``ChoiceStateExited`` ...) and carry the
state's name in ``stateEnteredEventDetails`` / ``stateExitedEventDetails``; task events
(``TaskScheduled``, ``TaskFailed``, ``TaskSucceeded``) carry no state name, so they
belong to the state entered last (our machines run one state at a time); a retry is
visible only as another ``TaskScheduled`` after a ``TaskFailed`` in the same state, and
a caught error as a ``TaskFailed`` followed by the state's exit.

A ``udp-backfill`` execution (``orchestration/backfill.asl.json``) is one Map over
chunks, up to ``MaxConcurrency`` of them at once, so its history interleaves the
chunks' events. :func:`records_from_sfn` gives one record per chunk, as the local
runner stores it (label ``first..last``, a ``dates`` list with one result per date):
each event is given to its chunk by following ``previousEventId`` back to the
``MapIterationStarted`` of ``RunEachChunk`` that carries the chunk's index.

What the execution does not hold, each date's outcome, the jobs write to the lake
(``run_outcomes``, :mod:`contracts.run_outcomes`): the ``startJobRun.sync`` task returns
only the Glue ``JobRun``. :func:`record_from_sfn` (a nightly execution, its records
under the execution's name) and :func:`chunk_records_from_sfn` (each chunk's, under its
run key) read those records through an S3 client and turn them, with the execution's
own result, into the per-date rows the local runs make from the same records
(``contracts.run_outcomes.date_rows``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from contracts.run_outcomes import date_rows
from orchestration.backfill import CHUNK_STATE, chunks

__all__ = ["OutcomeReader", "chunk_records_from_sfn", "events_from_sfn_history",
           "is_backfill_execution", "record_from_sfn", "records_from_sfn"]

OutcomeReader = Callable[[str, list[str]], list[dict[str, Any]]]
"""``(run_key, dates)`` -> the ``run_outcomes`` records of that run (a nightly
execution's name, a chunk's run key)."""


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def events_from_sfn_history(history: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``GetExecutionHistory`` events as the local executor's event list."""
    out: list[dict[str, Any]] = []
    current: str | None = None
    last_task: str | None = None  # "failed" / "succeeded" of the state's latest task
    for ev in history:
        kind = str(ev.get("type", ""))
        when = _iso(ev.get("timestamp"))
        if kind.endswith("StateEntered"):
            current = str(ev.get("stateEnteredEventDetails", {}).get("name"))
            last_task = None
            out.append({"timestamp": when, "type": "StateEntered", "state": current})
            if kind == "WaitStateEntered":
                out.append({"timestamp": when, "type": "WaitStarted", "state": current})
            if kind == "MapStateEntered":
                out.append({"timestamp": when, "type": "MapStarted", "state": current})
        elif kind.endswith("StateExited"):
            name = str(ev.get("stateExitedEventDetails", {}).get("name"))
            if last_task == "failed":
                out.append({"timestamp": when, "type": "CatchTaken", "state": name,
                            "error": out[-1].get("error")})
            out.append({"timestamp": when, "type": "StateExited", "state": name,
                        "output": _json(ev.get("stateExitedEventDetails", {}).get("output"))})
            current, last_task = None, None
        elif kind == "TaskScheduled":
            if last_task == "failed":
                out.append({"timestamp": when, "type": "RetryScheduled", "state": current,
                            "error": _last_error(out, current)})
            details = _details(ev)
            out.append({"timestamp": when, "type": "TaskScheduled", "state": current,
                        "resource": f"{details.get('resourceType')}:{details.get('resource')}"})
            last_task = "scheduled"
        elif kind in ("TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed"):
            details = _details(ev)
            out.append({"timestamp": when, "type": "TaskFailed", "state": current,
                        "error": details.get("error") or kind, "cause": details.get("cause")})
            last_task = "failed"
        elif kind == "TaskSucceeded":
            details = _details(ev)
            out.append({"timestamp": when, "type": "TaskSucceeded", "state": current,
                        "output": _json(details.get("output"))})
            last_task = "succeeded"
        elif kind in ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            details = _details(ev)
            if current is not None and last_task in ("scheduled", "failed"):
                out.append({"timestamp": when, "type": "StateFailed", "state": current,
                            "error": details.get("error") or kind})
            out.append({"timestamp": when, "type": kind, "state": None,
                        "error": details.get("error"), "cause": details.get("cause")})
        elif kind in ("ExecutionStarted", "ExecutionSucceeded"):
            out.append({"timestamp": when, "type": kind, "state": None})
    return out


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's one ``...EventDetails`` member (``{}`` if it has none)."""
    return next((dict(v) for k, v in event.items()
                 if k.endswith("EventDetails") and isinstance(v, Mapping)), {})


def _last_error(events: list[dict[str, Any]], state: str | None) -> Any:
    for ev in reversed(events):
        if ev.get("state") == state and ev.get("type") == "TaskFailed":
            return ev.get("error")
    return None


def _day_from_history(events: list[dict[str, Any]]) -> str | None:
    """The ``p_date`` of the first state output that names one (a scheduled nightly run
    gets its day from ``DerivePDateFromSchedule``, not from its input)."""
    for ev in events:
        output = ev.get("output") if ev.get("type") == "StateExited" else None
        if isinstance(output, Mapping) and isinstance(output.get("p_date"), str):
            return str(output["p_date"])
    return None


def record_from_sfn(execution: Mapping[str, Any], history: Iterable[Mapping[str, Any]], *,
                    outcomes: OutcomeReader | None = None) -> dict[str, Any]:
    """A ``DescribeExecution`` answer and its history as a local run record (dict), with
    its date's row in ``dates`` (:func:`contracts.run_outcomes.date_rows`) when its input
    names the day (or, for a scheduled run, its history does): made from
    ``outcomes(name, [day])``, the records the execution's jobs
    wrote under its name; without a reader the day takes the execution's own result."""
    events = events_from_sfn_history(history)
    failed = next((e for e in reversed(events) if e["type"] in ("StateFailed", "CatchTaken")),
                  None)
    run_input = _json(execution.get("input")) or {}
    name = str(execution.get("name") or "")
    status = str(execution.get("status"))
    failed_state = failed["state"] if failed else None
    started, stopped = execution.get("startDate"), execution.get("stopDate")
    p_date = run_input.get("p_date") if isinstance(run_input, dict) else None
    if p_date is None:  # a scheduled run: the day its first states derived
        p_date = _day_from_history(events)
    rows = None
    if isinstance(p_date, str):
        seconds = (stopped - started).total_seconds() if (
            isinstance(started, datetime) and isinstance(stopped, datetime)) else 0.0
        rows = date_rows([p_date], name, outcomes(name, [p_date]) if outcomes else (),
                         status=status, failed_state=failed_state,
                         error=execution.get("error"), cause=execution.get("cause"),
                         seconds=seconds)
    return {"run_id": execution.get("name"), "name": execution.get("stateMachineArn"),
            "label": p_date, "status": execution.get("status"), "started_at": _iso(started),
            "stopped_at": (_iso(stopped) if stopped else None),
            "input": run_input, "output": _json(execution.get("output")),
            "failed_state": failed_state,
            "error": execution.get("error"), "cause": execution.get("cause"),
            "events": events, "dates": rows}


# ------------------------------------------------------------------ backfill executions

_ITERATION_ENDS = {"MapIterationSucceeded": "SUCCEEDED", "MapIterationFailed": "FAILED",
                   "MapIterationAborted": "ABORTED"}
def is_backfill_execution(execution: Mapping[str, Any],
                          history: Sequence[Mapping[str, Any]] = ()) -> bool:
    """A ``udp-backfill`` execution: its input is ``orchestration.backfill.aws_input``'s
    (``dates`` + ``chunk_size``) or its history iterates the chunk Map."""
    run_input = _json(execution.get("input"))
    if (isinstance(run_input, Mapping) and isinstance(run_input.get("dates"), list)
            and "chunk_size" in run_input):
        return True
    return any(_iteration(ev)[0] == CHUNK_STATE for ev in history
               if ev.get("type") == "MapIterationStarted")


def _iteration(event: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """(Map name, index) of a ``MapIteration*`` event (``MapIterationEventDetails``)."""
    details = _details(event)
    index = details.get("index")
    return details.get("name"), (int(index) if index is not None else None)


def _events_by_chunk(history: Sequence[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    """The chunk Map's events per iteration index, in history order.

    An event belongs to the chunk whose ``MapIterationStarted`` (of ``RunEachChunk``) its
    ``previousEventId`` chain reaches; the chain of the Map's own events and of
    everything outside it reaches no such event. Iteration end events carry the index
    themselves. Nested Maps (the lease Maps) stay inside their chunk.
    """
    by_id = {ev["id"]: ev for ev in history if ev.get("id") is not None}
    owner: dict[Any, int | None] = {}

    def chunk_of(event: Mapping[str, Any]) -> int | None:
        seen: list[Any] = []
        found: int | None = None
        current: Mapping[str, Any] | None = event
        while current is not None:
            ev_id = current.get("id")
            if ev_id in owner:
                found = owner[ev_id]
                break
            seen.append(ev_id)
            kind = current.get("type")
            name, index = (_iteration(current) if str(kind).startswith("MapIteration")
                           else (None, None))
            if name == CHUNK_STATE and (kind == "MapIterationStarted" or current is event):
                found = index
                break
            if name == CHUNK_STATE:  # walked back past another iteration's end
                break
            if (kind == "MapStateEntered" and
                    current.get("stateEnteredEventDetails", {}).get("name") == CHUNK_STATE):
                break  # the chunk Map's own start: outside every chunk
            current = by_id.get(current.get("previousEventId"))
        for ev_id in seen:
            owner[ev_id] = found
        return found

    groups: dict[int, list[Mapping[str, Any]]] = {}
    for ev in history:
        index = chunk_of(ev)
        if index is not None:
            groups.setdefault(index, []).append(ev)
    return groups


def _failed_chunk_state(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The chunk state whose failure led to ``ChunkFailed``: the state exited just
    before it was entered (``TransformErrorIsTheError`` stands for the transform)."""
    previous = None
    for ev in events:
        if ev.get("type") == "StateEntered" and ev.get("state") == "ChunkFailed":
            return "RunTransformJob" if previous == "TransformErrorIsTheError" else previous
        if ev.get("type") == "StateExited":
            previous = ev.get("state")
    return None


def _chunk_result(events: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for ev in reversed(events):
        if (ev.get("type") == "StateExited"
                and ev.get("state") in ("ChunkSucceeded", "ChunkResultFailed")
                and isinstance(ev.get("output"), Mapping)):
            return ev["output"]
    return None


def chunk_records_from_sfn(execution: Mapping[str, Any], history: Iterable[Mapping[str, Any]],
                           *, outcomes: OutcomeReader | None = None) -> list[dict[str, Any]]:
    """A ``udp-backfill`` execution as one local run record per chunk (index order),
    each with its per-date ``dates`` list (:func:`contracts.run_outcomes.date_rows`).

    The chunk's dates and result come from the execution output (``$.results[i]``),
    else from the chunk's own ``ChunkSucceeded``/``ChunkResultFailed`` exit, else from
    the input cut as ``States.ArrayPartition`` cuts it (a chunk not yet finished).
    ``outcomes(run_key, dates)`` reads what the chunk's jobs wrote to ``run_outcomes``
    (``OutcomeStore(boto3.client("s3"), lake_uri)``); without it every date takes the
    chunk's own status.
    """
    raw = list(history)
    name = str(execution.get("name") or "")
    run_input = _json(execution.get("input"))
    run_input = run_input if isinstance(run_input, Mapping) else {}
    output = _json(execution.get("output"))
    results = output.get("results") if isinstance(output, Mapping) else None
    planned: list[list[str]] = []
    if isinstance(run_input.get("dates"), list) and run_input.get("chunk_size"):
        planned = chunks([str(d) for d in run_input["dates"]], int(run_input["chunk_size"]))
    groups = _events_by_chunk(raw)
    count = max([len(planned), len(results or []), *(i + 1 for i in groups)])
    records = []
    for index in range(count):
        chunk_raw = groups.get(index, [])
        events = events_from_sfn_history(chunk_raw)
        result = (results[index] if isinstance(results, list) and index < len(results)
                  and isinstance(results[index], Mapping) else _chunk_result(events))
        dates = [str(d) for d in ((result or {}).get("dates")
                                  or (planned[index] if index < len(planned) else []))]
        if not dates:
            continue
        run_key = str((result or {}).get("run_key") or f"{name}-c{index}")
        own = [ev for ev in chunk_raw if str(ev.get("type")).startswith("MapIteration")
               and _iteration(ev)[0] == CHUNK_STATE]  # not the lease Maps' iterations
        start = next((ev for ev in own if ev.get("type") == "MapIterationStarted"), None)
        end = next((ev for ev in own if ev.get("type") in _ITERATION_ENDS), None)
        status = str((result or {}).get("status") or (
            _ITERATION_ENDS[str(end["type"])] if end is not None else
            "RUNNING" if execution.get("status") == "RUNNING" else execution.get("status")))
        started = start["timestamp"] if start else execution.get("startDate")
        stopped = end["timestamp"] if end else (
            execution.get("stopDate") if status != "RUNNING" else None)
        seconds = (stopped - started).total_seconds() if (
            isinstance(started, datetime) and isinstance(stopped, datetime)) else 0.0
        error, cause = (result or {}).get("error"), (result or {}).get("cause")
        failed_state = None if status == "SUCCEEDED" else _failed_chunk_state(events)
        rows = date_rows(dates, run_key, outcomes(run_key, dates) if outcomes else (),
                         status=status, failed_state=failed_state, error=error, cause=cause,
                         seconds=seconds)
        records.append({
            "run_id": run_key, "name": execution.get("stateMachineArn"),
            "label": f"{dates[0]}..{dates[-1]}", "status": status,
            "started_at": _iso(started), "stopped_at": _iso(stopped) if stopped else None,
            "input": {"dates": dates, "replace": run_input.get("replace", False),
                      "run_key": run_key},
            "output": dict(result) if result else None, "failed_state": failed_state,
            "error": error, "cause": cause, "events": events, "dates": rows})
    return records


def records_from_sfn(execution: Mapping[str, Any], history: Iterable[Mapping[str, Any]], *,
                     outcomes: OutcomeReader | None = None) -> list[dict[str, Any]]:
    """Any execution as local run records: one per chunk for a backfill
    (:func:`chunk_records_from_sfn`), else the one :func:`record_from_sfn` gives."""
    raw = list(history)
    if is_backfill_execution(execution, raw):
        return chunk_records_from_sfn(execution, raw, outcomes=outcomes)
    return [record_from_sfn(execution, raw, outcomes=outcomes)]
