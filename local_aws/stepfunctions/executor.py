"""The interpreter: runs a validated definition, Task resources mapped to Python callables."""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from local_aws import runlog
from local_aws.stepfunctions.choice import rule_matches
from local_aws.stepfunctions.errors import (
    StatesError,
    TaskError,
    TaskHandler,
    execution_timed_out,
    runtime_error,
)
from local_aws.stepfunctions.history import HistoryStore
from local_aws.stepfunctions.integrations import error_name
from local_aws.stepfunctions.intrinsics import IntrinsicParser, eval_intrinsic
from local_aws.stepfunctions.jsonata import eval_jsonata_template
from local_aws.stepfunctions.jsonpath import apply_result_path, get_path, select_path
from local_aws.stepfunctions.payload import (
    MAX_PAYLOAD_BYTES,
    check_payload_size,
    payload_bytes,
    render_payload,
)
from local_aws.stepfunctions.results import RunResult, now_iso
from local_aws.stepfunctions.validation import validate_definition
from orchestration.definition import AslDefinitionError, DefinitionSource, definition_digest

log = logging.getLogger(__name__)

_LOGGED_DETAILS = ("resource", "error", "cause", "attempt", "delay_seconds", "next",
                   "map_index", "length")
"""Event details worth a log line; payloads (input/output/parameters) stay in the history."""

# --------------------------------------------------------------------------- registry


class TaskRegistry:
    """Maps a Task ``Resource`` ARN to the Python callable that implements it locally."""

    def __init__(self, handlers: Mapping[str, TaskHandler] | None = None) -> None:
        self._handlers: dict[str, TaskHandler] = dict(handlers or {})

    def register(self, resource: str, handler: TaskHandler) -> None:
        """Register (or replace) the handler for ``resource``."""
        self._handlers[resource] = handler

    def __contains__(self, resource: object) -> bool:
        return resource in self._handlers

    def get(self, resource: str) -> TaskHandler:
        """The handler for ``resource``; KeyError if none is registered."""
        return self._handlers[resource]

    def resources(self) -> list[str]:
        """Every registered resource ARN, sorted."""
        return sorted(self._handlers)


def _task_resources(machine: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for name, state in machine["States"].items():
        if state.get("Type") == "Task":
            yield name, state["Resource"]
        if state.get("Type") == "Map":
            yield from _task_resources(state.get("ItemProcessor", state.get("Iterator", {})))




@dataclass
class _Execution:
    run_id: str
    name: str
    started_at: str
    input: Any
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    transitions: int = 0
    deadline: float | None = None  # time.monotonic() at which TimeoutSeconds runs out

    def event(self, kind: str, state: str | None = None, **details: Any) -> None:
        with self.lock:
            self.events.append({"timestamp": now_iso(), "type": kind, "state": state, **details})
        extra = {k: details[k] for k in _LOGGED_DETAILS if details.get(k) is not None}
        level = logging.WARNING if kind.endswith(("Failed", "TimedOut")) else logging.INFO
        log.log(level, "%s %s", kind, state or self.name,
                extra={"event": kind, **({"stage": state} if state else {}), **extra})


class AslExecutor:
    """Run an ASL definition locally.

    Parameters
    ----------
    definition
        The parsed definition, placeholders already substituted.
    tasks
        Maps every Task ``Resource`` used to a callable; checked up front.
    wait_scale
        Multiplier on Wait seconds and Retry intervals (0 = do not sleep).
    history
        Where runs are persisted (optional).
    sleep, rng
        Injectable clock and random source (JitterStrategy FULL).
    max_transitions
        Safety net against endless poll loops; the run fails with
        ``States.ExecutionLimitExceeded`` beyond it.
    name
        The state machine name recorded in the history.
    account, region
        Used to build the ARNs in the context object (``$$.Execution.Id``,
        ``$$.StateMachine.Id``), as Step Functions does.
    source
        The file the definition came from (defaults to ``definition.source`` of a
        :class:`LoadedDefinition`); its sha256 is recorded with every run, next to the
        digest of the definition as executed.
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        tasks: TaskRegistry,
        *,
        wait_scale: float = 0.0,
        history: HistoryStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_transitions: int = 10_000,
        name: str = "state-machine",
        source: DefinitionSource | None = None,
        account: str = "000000000000",
        region: str = "us-east-1",
    ) -> None:
        validate_definition(definition)
        missing = [(s, r) for s, r in _task_resources(definition) if r not in tasks]
        if missing:
            listing = ", ".join(f"{r} (state {s!r})" for s, r in missing)
            raise AslDefinitionError(f"no local handler registered for Task resource(s): {listing}")
        if wait_scale < 0:
            raise ValueError("wait_scale must be >= 0")
        self.definition = definition
        self.source: DefinitionSource | None = source or getattr(definition, "source", None)
        self.executed_sha256 = definition_digest(definition)
        self.tasks = tasks
        self.wait_scale = wait_scale
        self.history = history
        self.name = name
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._max_transitions = max_transitions
        self.state_machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        self._execution_arn_prefix = f"arn:aws:states:{region}:{account}:execution:{name}:"

    # -- public -----------------------------------------------------------------

    def run(self, execution_input: Any, *, run_id: str | None = None,
            label: str | None = None) -> RunResult:
        """Run to completion; never raises for a failed execution (see ``RunResult``).

        ``label`` (e.g. the ``p_date``) is stored in the history for listing.
        """
        run_id = run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        size = payload_bytes(execution_input)
        if size > MAX_PAYLOAD_BYTES:  # StartExecution refuses it: there is no execution
            raise ValueError(f"execution input is {size} bytes; Step Functions accepts at "
                             f"most {MAX_PAYLOAD_BYTES} (256 KiB)")
        ex = _Execution(run_id=run_id, name=self.name, started_at=now_iso(), input=execution_input)
        p_date = label or (execution_input.get("p_date")
                           if isinstance(execution_input, dict) else None)
        with runlog.bind(run_id=run_id, p_date=p_date, stage=None):
            return self._execute(ex, execution_input, label)

    def _execute(self, ex: _Execution, execution_input: Any, label: str | None) -> RunResult:
        run_id = ex.run_id
        timeout = self.definition.get("TimeoutSeconds")
        if timeout is not None:
            ex.deadline = time.monotonic() + timeout
        if self.history is not None:
            self.history.start(run_id, self.name, label, execution_input, ex.started_at,
                               definition_sha256=self.source.sha256 if self.source else None,
                               executed_sha256=self.executed_sha256)
        ex.event("ExecutionStarted", input=execution_input)
        # AWS, "Accessing execution data from the Context object": Execution.Id is the
        # execution ARN, StateMachine.Id the state machine ARN, RedriveCount 0 until redriven.
        context = {"Execution": {"Id": self._execution_arn_prefix + run_id, "Name": run_id,
                                 "StartTime": ex.started_at, "Input": execution_input,
                                 "RedriveCount": 0},
                   "StateMachine": {"Id": self.state_machine_arn, "Name": self.name}}
        try:
            output = self._run_machine(ex, self.definition, copy.deepcopy(execution_input),
                                       context, depth=0)
        except StatesError as err:
            status = "TIMED_OUT" if err.execution_timeout else "FAILED"
            ex.event("ExecutionTimedOut" if err.execution_timeout else "ExecutionFailed",
                     err.state, error=err.error, cause=err.cause)
            result = RunResult(run_id, self.name, status, ex.started_at, now_iso(),
                               error=err.error, cause=err.cause, failed_state=err.state)
        else:
            ex.event("ExecutionSucceeded", output=output)
            result = RunResult(run_id, self.name, "SUCCEEDED", ex.started_at, now_iso(),
                               output=output)
        if self.history is not None:
            self.history.finish(result, ex.events)
        return result

    # -- machine loop -------------------------------------------------------------

    def _checkpoint(self, ex: _Execution, depth: int) -> None:
        if self.history is not None and depth == 0:
            with ex.lock:
                events = list(ex.events)
            self.history.checkpoint(ex.run_id, events)

    def _run_machine(self, ex: _Execution, machine: Mapping[str, Any], data: Any,
                     context: dict[str, Any], *, depth: int, map_index: int | None = None) -> Any:
        current: str = machine["StartAt"]
        caught_from: str | None = None
        tag = {} if map_index is None else {"map_index": map_index}
        while True:
            with ex.lock:
                ex.transitions += 1
                over = ex.transitions > self._max_transitions
            if over:
                raise StatesError("States.ExecutionLimitExceeded",
                                   f"more than {self._max_transitions} state transitions",
                                   state=current)
            # checked at each transition: a Task still running when the time runs out
            # ends the execution when it returns (AWS stops it at once; same outcome)
            if ex.deadline is not None and time.monotonic() > ex.deadline:
                raise execution_timed_out(self.definition["TimeoutSeconds"], current)
            state = machine["States"][current]
            ctx = {**context, "State": {"Name": current, "EnteredTime": now_iso(), "RetryCount": 0}}
            ex.event("StateEntered", current, input=data, **tag)
            self._checkpoint(ex, depth)  # a killed run shows the state it was in
            try:
                output, nxt = self._run_state(ex, current, state, data, ctx, depth)
            except StatesError as err:
                err.state = err.state or current
                if state["Type"] == "Fail":
                    err.state = caught_from or current
                    raise
                catcher = self._find_catcher(state, err)
                if catcher is None:
                    ex.event("StateFailed", current, error=err.error, cause=err.cause, **tag)
                    raise
                ex.event("CatchTaken", current, error=err.error, cause=err.cause,
                         next=catcher["Next"], **tag)
                caught_from = current
                data = apply_result_path(data, catcher.get("ResultPath", "$"),
                                          {"Error": err.error, "Cause": err.cause})
                current = catcher["Next"]
                self._checkpoint(ex, depth)
                continue
            try:
                check_payload_size(output, f"the output of {current!r}")
            except StatesError as err:
                err.state = current
                ex.event("StateFailed", current, error=err.error, cause=err.cause, **tag)
                raise
            ex.event("StateExited", current, output=output, **tag)
            self._checkpoint(ex, depth)
            if nxt is None:
                return output
            data, current = output, nxt

    @staticmethod
    def _matches(names: list[str], err: StatesError) -> bool:
        if not err.catchable:
            return False
        if "States.ALL" in names or err.error in names:
            return True
        return err.from_task and "States.TaskFailed" in names and err.error != "States.Timeout"

    def _find_catcher(self, state: Mapping[str, Any], err: StatesError) -> dict[str, Any] | None:
        for catcher in state.get("Catch", []):
            if self._matches(catcher["ErrorEquals"], err):
                return dict(catcher)
        return None

    # -- states -------------------------------------------------------------------

    def _run_state(self, ex: _Execution, name: str, state: Mapping[str, Any], raw: Any,
                   ctx: dict[str, Any], depth: int) -> tuple[Any, str | None]:
        stype = state["Type"]
        nxt: str | None = state.get("Next")
        if state.get("QueryLanguage") == "JSONata":
            out = eval_jsonata_template(state.get("Output", "{% $states.input %}"),
                                         {"input": raw, "context": ctx})
            return out, nxt
        data = select_path(raw, state.get("InputPath", "$"), ctx)
        if stype == "Choice":
            for rule in state["Choices"]:
                if rule_matches(rule, data, ctx):
                    return select_path(data, state.get("OutputPath", "$"), ctx), rule["Next"]
            if "Default" not in state:
                raise StatesError("States.NoChoiceMatched", f"no choice rule matched in {name!r}")
            return select_path(data, state.get("OutputPath", "$"), ctx), state["Default"]
        if stype == "Succeed":
            return select_path(data, state.get("OutputPath", "$"), ctx), None
        if stype == "Fail":
            # AWS, "Fail workflow state": Error and Cause are optional; without them the
            # execution fails with no error name / cause (nothing is invented).
            error = self._fail_field(state, "Error", raw, ctx)
            cause = self._fail_field(state, "Cause", raw, ctx)
            raise StatesError(error, cause, state=name)
        if stype == "Wait":
            seconds = state.get("Seconds")
            if seconds is None:
                seconds = get_path(data, state["SecondsPath"], ctx)
                # AWS, "Wait workflow state": the path must select a non-negative integer
                if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
                    raise runtime_error(f"SecondsPath in {name!r} must select an integer >= 0, "
                                        f"got {seconds!r}")
            ex.event("WaitStarted", name, seconds=seconds)
            if seconds * self.wait_scale > 0:
                self._sleep(seconds * self.wait_scale)
            return select_path(data, state.get("OutputPath", "$"), ctx), nxt
        if stype == "Pass":
            if "Parameters" in state:
                result = render_payload(state["Parameters"], data, ctx)
            else:
                result = copy.deepcopy(state["Result"]) if "Result" in state else data
            out = apply_result_path(raw, state.get("ResultPath", "$"), result)
            return select_path(out, state.get("OutputPath", "$"), ctx), nxt
        # Task and Map: Parameters -> action (with Retry) -> ResultSelector -> ResultPath
        if stype == "Task":
            def action() -> Any:
                # evaluated per attempt: $$.State.RetryCount counts the retries so far
                params = render_payload(state.get("Parameters", data), data, ctx)
                check_payload_size(params, f"the input of {name!r} after Parameters")
                result = self._invoke_task(ex, name, state, params)
                check_payload_size(result, f"the result of the task in {name!r}")
                return result
        else:
            def action() -> Any:
                return self._run_map(ex, name, state, data, ctx, depth)
        result = self._with_retry(ex, name, state, action, ctx)
        if "ResultSelector" in state:
            result = render_payload(state["ResultSelector"], result, ctx)
        out = apply_result_path(raw, state.get("ResultPath", "$"), result)
        return select_path(out, state.get("OutputPath", "$"), ctx), nxt

    @staticmethod
    def _fail_field(state: Mapping[str, Any], which: str, data: Any,
                    ctx: Mapping[str, Any]) -> str | None:
        if which in state:
            return str(state[which])
        path = state.get(f"{which}Path")
        if path is None:
            return None
        value = (eval_intrinsic(IntrinsicParser(path).parse(), data, ctx)
                 if path.startswith("States.") else get_path(data, path, ctx))
        if not isinstance(value, str):  # "must select a field that contains a string value"
            raise runtime_error(f"{which}Path {path!r} selected {json.dumps(value)}, "
                                "not a string")
        return value

    def _invoke_task(self, ex: _Execution, name: str, state: Mapping[str, Any],
                     params: Any) -> Any:
        resource = state["Resource"]
        handler = self.tasks.get(resource)
        ex.event("TaskScheduled", name, resource=resource, parameters=params)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                with runlog.bind(stage=name):
                    outcome["result"] = handler(copy.deepcopy(params))
            except TaskError as exc:
                outcome["error"] = (exc.error, exc.cause)
            except ClientError as exc:  # the service's answer, named as Step Functions names it
                outcome["error"] = error_name(resource, exc)
            except Exception as exc:  # a bug in a handler still fails the task, readably
                outcome["error"] = ("States.TaskFailed", f"{type(exc).__name__}: {exc}")

        timeout = state.get("TimeoutSeconds")
        if timeout is None:
            call()
        else:
            # the worker thread keeps this run's log context (run_id, p_date)
            worker = threading.Thread(target=contextvars.copy_context().run, args=(call,),
                                      daemon=True)
            worker.start()
            worker.join(timeout)
            if worker.is_alive():
                # AWS records a Task's TimeoutSeconds failure with an empty Cause
                outcome = {"error": ("States.Timeout", "")}
        if "error" in outcome:
            error, cause = outcome["error"]
            ex.event("TaskFailed", name, resource=resource, error=error, cause=cause)
            err = StatesError(error, cause, state=name)
            err.from_task = True
            raise err
        ex.event("TaskSucceeded", name, resource=resource, output=outcome["result"])
        return outcome["result"]

    def _retry_delay(self, retrier: Mapping[str, Any], attempt: int) -> float:
        delay = float(retrier.get("IntervalSeconds", 1)) * float(
            retrier.get("BackoffRate", 2.0)) ** attempt
        if "MaxDelaySeconds" in retrier:
            delay = min(delay, float(retrier["MaxDelaySeconds"]))
        if retrier.get("JitterStrategy") == "FULL":
            delay = self._rng.uniform(0, delay)
        return delay

    def _with_retry(self, ex: _Execution, name: str, state: Mapping[str, Any],
                    action: Callable[[], Any], ctx: dict[str, Any]) -> Any:
        retriers = state.get("Retry", [])
        attempts = [0] * len(retriers)
        while True:
            try:
                return action()
            except StatesError as err:
                idx = next((i for i, r in enumerate(retriers)
                            if self._matches(r["ErrorEquals"], err)), None)
                if idx is None or attempts[idx] >= retriers[idx].get("MaxAttempts", 3):
                    raise
                delay = self._retry_delay(retriers[idx], attempts[idx])
                attempts[idx] += 1
                ctx["State"]["RetryCount"] = ctx["State"]["RetryCount"] + 1
                ex.event("RetryScheduled", name, error=err.error, attempt=attempts[idx],
                         delay_seconds=round(delay, 3))
                if delay * self.wait_scale > 0:
                    self._sleep(delay * self.wait_scale)

    def _run_map(self, ex: _Execution, name: str, state: Mapping[str, Any], data: Any,
                 ctx: dict[str, Any], depth: int) -> list[Any]:
        items = get_path(data, state.get("ItemsPath", "$"), ctx)
        if not isinstance(items, list):
            raise runtime_error(f"Map {name!r}: ItemsPath must select an array")
        selector = state.get("ItemSelector", state.get("Parameters"))
        processor = state.get("ItemProcessor", state.get("Iterator"))
        inputs = []
        for index, item in enumerate(items):
            item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
            item_input = item if selector is None else render_payload(selector, data, item_ctx)
            inputs.append((index, item_input))
        limit = state.get("MaxConcurrency", 0) or max(len(items), 1)
        results: list[Any] = [None] * len(items)
        failures: list[tuple[int, StatesError]] = []
        stop = threading.Event()
        ex.event("MapStarted", name, length=len(items), max_concurrency=limit)

        def one(index: int, item_input: Any) -> None:
            if stop.is_set():
                return
            ex.event("MapIterationStarted", name, map_index=index)
            try:
                results[index] = self._run_machine(ex, processor, item_input, ctx,
                                                   depth=depth + 1, map_index=index)
            except StatesError as err:
                stop.set()
                with ex.lock:
                    failures.append((index, err))
                ex.event("MapIterationFailed", name, map_index=index, error=err.error)
            else:
                ex.event("MapIterationSucceeded", name, map_index=index)

        with ThreadPoolExecutor(max_workers=min(limit, max(len(items), 1))) as pool:
            for fut in [pool.submit(contextvars.copy_context().run, one, i, v)
                        for i, v in inputs]:
                fut.result()
        if failures:
            _, err = failures[0]
            raise StatesError(err.error, err.cause, state=name)
        ex.event("MapSucceeded", name)
        return results
