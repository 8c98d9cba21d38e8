"""The same report on AWS: a Step Functions execution as the local run record shape.

Pure translation, no SDK call: give it what ``DescribeExecution`` and
``GetExecutionHistory`` (all pages, oldest first) returned, as boto3 dicts, and pass
the result to :func:`udp_cli.report.local.run_summary` with the day's ``dq_results``
rows from Athena. docs/report.md shows the calls and the mapping.

Differences from the local executor's events that this smooths over (HistoryEvent,
Step Functions API reference): state events are typed by state kind
(``TaskStateEntered``, ``WaitStateEntered``, ``ChoiceStateExited`` ...) and carry the
state's name in ``stateEnteredEventDetails`` / ``stateExitedEventDetails``; task events
(``TaskScheduled``, ``TaskFailed``, ``TaskSucceeded``) carry no state name, so they
belong to the state entered last (our machines run one state at a time); a retry is
visible only as another ``TaskScheduled`` after a ``TaskFailed`` in the same state, and
a caught error as a ``TaskFailed`` followed by the state's exit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["events_from_sfn_history", "record_from_sfn"]


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


def record_from_sfn(execution: Mapping[str, Any],
                    history: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``DescribeExecution`` answer and its history as a local run record (dict)."""
    events = events_from_sfn_history(history)
    failed = next((e for e in reversed(events) if e["type"] in ("StateFailed", "CatchTaken")),
                  None)
    run_input = _json(execution.get("input")) or {}
    return {"run_id": execution.get("name"), "name": execution.get("stateMachineArn"),
            "label": run_input.get("p_date") if isinstance(run_input, dict) else None,
            "status": execution.get("status"), "started_at": _iso(execution.get("startDate")),
            "stopped_at": (_iso(execution["stopDate"]) if execution.get("stopDate") else None),
            "input": run_input, "output": _json(execution.get("output")),
            "failed_state": failed["state"] if failed else None,
            "error": execution.get("error"), "cause": execution.get("cause"),
            "events": events}
