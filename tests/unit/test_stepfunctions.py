"""Unit tests of the local ASL interpreter (pure: fake task callables, no I/O)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from local_aws.stepfunctions import (
    AslDefinitionError,
    AslExecutor,
    PlaceholderError,
    RunResult,
    TaskError,
    TaskRegistry,
    placeholders,
    substitute_placeholders,
    validate_definition,
)

ECHO = "arn:aws:states:::lambda:invoke"


def machine(states: dict[str, Any], start: str | None = None) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states}


def run(definition: dict[str, Any], data: Any, handlers: dict[str, Any] | None = None,
        **kwargs: Any) -> RunResult:
    registry = TaskRegistry(handlers or {ECHO: lambda p: p})
    return AslExecutor(definition, registry, **kwargs).run(data)


class Flaky:
    """A task failing with ``error`` for the first ``failures`` calls, then echoing."""

    def __init__(self, error: str, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise TaskError(self.error, f"call {self.calls} failed")
        return {"ok": True, "calls": self.calls}


# --------------------------------------------------------------------------- paths / Pass


def test_pass_result_path_output_path_and_input_path() -> None:
    # GIVEN a Pass that reads a sub-object, stores a fixed result under $.r, outputs $.r
    d = machine({"P": {"Type": "Pass", "InputPath": "$.in", "Result": {"x": 1},
                       "ResultPath": "$.r", "OutputPath": "$.r", "End": True}})
    # WHEN it runs
    result = run(d, {"in": {"a": 1}, "other": 2})
    # THEN ResultPath applied to the raw input, OutputPath selects the result
    assert result.status == "SUCCEEDED"
    assert result.output == {"x": 1}


def test_parameters_dollar_keys_paths_arrays_and_intrinsics() -> None:
    # GIVEN Parameters with paths, an array index, the context object and intrinsics
    d = machine({"P": {"Type": "Pass", "Parameters": {
        "day.$": "$.p_date",
        "first.$": "$.items[0]",
        "quoted.$": "$['odd key']",
        "exec.$": "$$.Execution.Id",
        "msg.$": "States.Format('day {} has {} items, \\{literal\\}', $.p_date, $.n)",
        "arr.$": "States.Array($.n, 'x', States.ArrayLength($.items))",
        "json.$": "States.JsonToString($.obj)",
        "back.$": "States.StringToJson('{\"k\": [1, 2]}')",
        "sum.$": "States.MathAdd($.n, 5)",
        "static": {"nested": True},
    }, "End": True}})
    # WHEN it runs with a known run id
    registry = TaskRegistry({})
    result = AslExecutor(d, registry).run(
        {"p_date": "2024-01-02", "items": ["a", "b"], "n": 3, "odd key": 7, "obj": {"a": [1]}},
        run_id="run-1",
    )
    # THEN every value is resolved as Step Functions would
    assert result.output == {
        "day": "2024-01-02", "first": "a", "quoted": 7,
        # $$.Execution.Id is the execution ARN on AWS (see the conformance suite)
        "exec": "arn:aws:states:us-east-1:000000000000:execution:state-machine:run-1",
        "msg": "day 2024-01-02 has 3 items, {literal}",
        "arr": [3, "x", 2], "json": '{"a":[1]}', "back": {"k": [1, 2]}, "sum": 8,
        "static": {"nested": True},
    }


def test_result_path_null_keeps_input_and_missing_path_fails_with_runtime_error() -> None:
    # GIVEN a task whose result is discarded, then a Pass reading a missing field
    d = machine({
        "T": {"Type": "Task", "Resource": ECHO, "ResultPath": None, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"v.$": "$.missing"}, "End": True},
    })
    # WHEN it runs
    result = run(d, {"a": 1})
    # THEN the Parameters path failure is an uncatchable States.Runtime in state P
    assert result.status == "FAILED"
    assert (result.error, result.failed_state) == ("States.Runtime", "P")
    assert "$.missing" in (result.cause or "")


def test_task_result_selector_and_result_path() -> None:
    # GIVEN a task returning a Glue-like response, trimmed by ResultSelector
    d = machine({"T": {"Type": "Task", "Resource": ECHO,
                       "Parameters": {"Id": "jr_1", "JobRunState": "SUCCEEDED", "Noise": 1},
                       "ResultSelector": {"run.$": "$.Id", "state.$": "$.JobRunState"},
                       "ResultPath": "$.job", "End": True}})
    # WHEN it runs
    result = run(d, {"p_date": "2024-01-01"})
    # THEN only the selected fields land under $.job, the input is kept
    assert result.output == {"p_date": "2024-01-01", "job": {"run": "jr_1", "state": "SUCCEEDED"}}


# --------------------------------------------------------------------------- Choice

CHOICE_CASES = [
    ({"Variable": "$.s", "StringEquals": "READY"}, {"s": "READY"}, True),
    ({"Variable": "$.s", "StringEquals": "READY"}, {"s": "RUNNING"}, False),
    ({"Variable": "$.s", "StringEqualsPath": "$.t"}, {"s": "a", "t": "a"}, True),
    ({"Variable": "$.s", "StringMatches": "log-*.txt"}, {"s": "log-1.txt"}, True),
    ({"Variable": "$.n", "NumericLessThan": 3}, {"n": 2}, True),
    ({"Variable": "$.n", "NumericGreaterThanEquals": 3}, {"n": 2}, False),
    ({"Variable": "$.n", "NumericEquals": 3}, {"n": "3"}, False),  # type mismatch is false
    ({"Variable": "$.n", "NumericLessThanPath": "$.m"}, {"n": 1, "m": 2}, True),
    ({"Variable": "$.b", "BooleanEquals": True}, {"b": True}, True),
    ({"Variable": "$.x", "IsPresent": False}, {}, True),
    ({"Variable": "$.x", "IsNull": True}, {"x": None}, True),
    ({"Variable": "$.x", "IsString": True}, {"x": 1}, False),
    ({"And": [{"Variable": "$.n", "NumericGreaterThan": 1},
              {"Variable": "$.n", "NumericLessThan": 5}]}, {"n": 3}, True),
    ({"Or": [{"Variable": "$.n", "NumericEquals": 1},
             {"Variable": "$.n", "NumericEquals": 2}]}, {"n": 3}, False),
    ({"Not": {"Variable": "$.s", "StringEquals": "FAILED"}}, {"s": "SUCCEEDED"}, True),
]


@pytest.mark.parametrize(("rule", "data", "expected"), CHOICE_CASES)
def test_choice_rules(rule: dict[str, Any], data: dict[str, Any], expected: bool) -> None:
    # GIVEN a Choice routing to Yes when the rule matches, else Default No
    d = machine({
        "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": "yes", "End": True},
        "No": {"Type": "Pass", "Result": "no", "End": True},
    })
    # WHEN it runs
    result = run(d, data)
    # THEN the branch matches the rule's truth value
    assert result.output == ("yes" if expected else "no")


def test_choice_without_match_or_default_fails() -> None:
    # GIVEN a Choice with no Default
    d = machine({"C": {"Type": "Choice",
                       "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "S"}]},
                 "S": {"Type": "Succeed"}})
    # WHEN nothing matches
    result = run(d, {"n": 2})
    # THEN the execution fails with States.NoChoiceMatched
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


# --------------------------------------------------------------------------- Wait


def test_wait_seconds_and_seconds_path_are_scaled() -> None:
    # GIVEN two Waits (fixed and from the input), a recording sleep and scale 0.5
    d = machine({"W1": {"Type": "Wait", "Seconds": 30, "Next": "W2"},
                 "W2": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}})
    slept: list[float] = []
    # WHEN it runs
    result = run(d, {"delay": 4}, sleep=slept.append, wait_scale=0.5)
    # THEN each wait sleeps its seconds times the scale, input passes through
    assert slept == [15.0, 2.0]
    assert result.output == {"delay": 4}


def test_wait_scale_zero_does_not_sleep() -> None:
    # GIVEN a long Wait and scale 0
    d = machine({"W": {"Type": "Wait", "Seconds": 3600, "End": True}})
    slept: list[float] = []
    # WHEN it runs
    run(d, {}, sleep=slept.append, wait_scale=0.0)
    # THEN nothing sleeps
    assert slept == []


# --------------------------------------------------------------------------- Retry / Catch


def retrying_task(retry: list[dict[str, Any]], catch: list[dict[str, Any]] | None = None
                  ) -> dict[str, Any]:
    task: dict[str, Any] = {"Type": "Task", "Resource": ECHO, "Retry": retry, "End": True}
    states: dict[str, Any] = {"T": task}
    if catch is not None:
        task["Catch"] = catch
        states["Handled"] = {"Type": "Pass", "End": True}
    return machine(states, "T")


def test_retry_backoff_capped_by_max_delay_then_success() -> None:
    # GIVEN a task throttled 3 times, Retry interval 2 s, backoff 3, capped at 10 s
    d = retrying_task([{"ErrorEquals": ["Glue.ThrottlingException"], "IntervalSeconds": 2,
                        "BackoffRate": 3, "MaxAttempts": 5, "MaxDelaySeconds": 10}])
    flaky = Flaky("Glue.ThrottlingException", failures=3)
    slept: list[float] = []
    # WHEN it runs at real scale with a recording sleep
    result = run(d, {}, {ECHO: flaky}, sleep=slept.append, wait_scale=1.0)
    # THEN it waited 2, 6, then 10 (cap) seconds and succeeded on the 4th call
    assert slept == [2.0, 6.0, 10.0]
    assert result.status == "SUCCEEDED" and flaky.calls == 4


def test_retry_defaults_are_three_attempts_interval_one_backoff_two() -> None:
    # GIVEN a retrier with only ErrorEquals and a task that always fails
    d = retrying_task([{"ErrorEquals": ["States.ALL"]}])
    flaky = Flaky("Boom", failures=99)
    slept: list[float] = []
    # WHEN it runs
    result = run(d, {}, {ECHO: flaky}, sleep=slept.append, wait_scale=1.0)
    # THEN 1 + 3 attempts were made with 1, 2, 4 s between them
    assert slept == [1.0, 2.0, 4.0]
    assert flaky.calls == 4
    assert (result.status, result.error, result.failed_state) == ("FAILED", "Boom", "T")


def test_jitter_full_stays_within_the_computed_backoff() -> None:
    # GIVEN FULL jitter and a seeded random source
    d = retrying_task([{"ErrorEquals": ["E"], "IntervalSeconds": 8, "MaxAttempts": 2,
                        "BackoffRate": 2, "JitterStrategy": "FULL"}])
    slept: list[float] = []
    # WHEN it runs
    run(d, {}, {ECHO: Flaky("E", 2)}, sleep=slept.append, wait_scale=1.0, rng=random.Random(7))
    # THEN each delay is a draw in [0, backoff]
    assert len(slept) == 2
    assert 0 <= slept[0] <= 8 and 0 <= slept[1] <= 16


def test_exhausted_retrier_does_not_fall_through_and_catch_takes_over() -> None:
    # GIVEN a specific retrier (1 attempt) before a generous one, and a catcher
    d = retrying_task(
        [{"ErrorEquals": ["E"], "MaxAttempts": 1, "IntervalSeconds": 1},
         {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5, "IntervalSeconds": 1}],
        [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}],
    )
    flaky = Flaky("E", failures=99)
    # WHEN it runs
    result = run(d, {"keep": 1}, {ECHO: flaky})
    # THEN only the first retrier was used (2 calls), the catcher put the error under $.error
    assert flaky.calls == 2
    assert result.status == "SUCCEEDED"
    assert result.output == {"keep": 1, "error": {"Error": "E", "Cause": "call 2 failed"}}


def test_states_task_failed_matches_any_task_error_but_not_timeout() -> None:
    # GIVEN a Retry on States.TaskFailed only
    d = retrying_task([{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}])
    # WHEN a task fails with a service-specific error, and another with States.Timeout
    named = Flaky("Glue.EntityNotFoundException", failures=1)
    timeout = Flaky("States.Timeout", failures=1)
    ok = run(d, {}, {ECHO: named})
    failed = run(d, {}, {ECHO: timeout})
    # THEN the wildcard retried the former but not the timeout
    assert ok.status == "SUCCEEDED" and named.calls == 2
    assert failed.error == "States.Timeout" and timeout.calls == 1


def test_catch_order_and_default_result_path_replaces_input() -> None:
    # GIVEN two catchers; the first matches the error by name
    d = machine({
        "T": {"Type": "Task", "Resource": ECHO, "End": True, "Catch": [
            {"ErrorEquals": ["Glue.CrawlerRunningException"], "Next": "Running"},
            {"ErrorEquals": ["States.ALL"], "Next": "Other"}]},
        "Running": {"Type": "Pass", "End": True},
        "Other": {"Type": "Fail", "Error": "X"},
    })
    # WHEN the task raises CrawlerRunningException
    result = run(d, {"a": 1}, {ECHO: Flaky("Glue.CrawlerRunningException", 9)})
    # THEN the named catcher won and, without ResultPath, the error object is the output
    assert result.output == {"Error": "Glue.CrawlerRunningException", "Cause": "call 1 failed"}


def test_unexpected_exception_in_a_handler_becomes_task_failed() -> None:
    # GIVEN a handler with a bug
    def broken(_: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError("division by zero")

    d = machine({"T": {"Type": "Task", "Resource": ECHO, "End": True}})
    # WHEN it runs
    result = run(d, {}, {ECHO: broken})
    # THEN the run fails readably instead of crashing the executor
    assert result.error == "States.TaskFailed"
    assert result.cause == "ZeroDivisionError: division by zero"


def test_fail_state_error_and_cause_paths_and_failed_state_after_catch() -> None:
    # GIVEN a task whose failure is caught, then a Fail reading Error/Cause from the data
    d = machine({
        "T": {"Type": "Task", "Resource": ECHO, "End": True,
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "F"}]},
        "F": {"Type": "Fail", "ErrorPath": "$.error.Error",
              "CausePath": "States.Format('p_date {}: {}', $.p_date, $.error.Cause)"},
    })
    # WHEN the task fails
    result = run(d, {"p_date": "2024-05-01"}, {ECHO: Flaky("Glue.X", 1)})
    # THEN the Fail reports the data's error, and the failed state is the one that failed
    assert (result.error, result.cause) == ("Glue.X", "p_date 2024-05-01: call 1 failed")
    assert result.failed_state == "T"


def test_runaway_poll_loop_is_stopped() -> None:
    # GIVEN a poll loop whose exit condition never becomes true
    d = machine({
        "W": {"Type": "Wait", "Seconds": 1, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True,
                                             "Next": "Done"}], "Default": "W"},
        "Done": {"Type": "Succeed"},
    })
    # WHEN it runs with a small transition budget
    result = run(d, {}, max_transitions=50)
    # THEN it fails with a clear error instead of hanging
    assert result.error == "States.ExecutionLimitExceeded"


# --------------------------------------------------------------------------- Map


def test_map_item_selector_context_result_path_and_real_concurrency() -> None:
    # GIVEN a Map of 4 items, MaxConcurrency 2, whose task blocks until 2 run together
    barrier = threading.Barrier(2, timeout=10)
    active, peak, lock = [0], [0], threading.Lock()

    def task(params: dict[str, Any]) -> dict[str, Any]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        barrier.wait()
        with lock:
            active[0] -= 1
        return {"doubled": params["value"] * 2, "index": params["index"]}

    d = machine({"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index",
                         "tag.$": "$.tag"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": ECHO, "End": True}}},
        "ResultPath": "$.out", "End": True}})
    # WHEN it runs
    result = run(d, {"items": [1, 2, 3, 4], "tag": "t"}, {ECHO: task})
    # THEN results keep item order, and exactly two iterations overlapped at most
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["out"] == [{"doubled": v * 2, "index": i}
                                    for i, v in enumerate([1, 2, 3, 4])]
    assert peak[0] == 2


def test_map_failure_is_catchable_on_the_map_state() -> None:
    # GIVEN a legacy Iterator Map whose second item fails
    def task(params: dict[str, Any]) -> Any:
        if params == 2:
            raise TaskError("Boom", "item 2")
        return params

    d = machine({
        "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
              "Iterator": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ECHO,
                                                            "End": True}}},
              "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.err", "Next": "Done"}],
              "ResultPath": "$.r", "Next": "Done"},
        "Done": {"Type": "Pass", "End": True}})
    # WHEN it runs
    result = run(d, {"items": [1, 2, 3]}, {ECHO: task})
    # THEN the Map failed with the iteration's error and the Map's catcher handled it
    assert result.status == "SUCCEEDED"
    assert result.output == {"items": [1, 2, 3], "err": {"Error": "Boom", "Cause": "item 2"}}


# --------------------------------------------------------------------------- refusals

REFUSALS = [
    ({"P": {"Type": "Parallel", "Branches": [], "End": True}}, "state type 'Parallel'"),
    ({"T": {"Type": "Task", "Resource": ECHO, "HeartbeatSeconds": 5, "End": True}},
     "HeartbeatSeconds"),
    ({"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.t", "TimestampEquals": "2024-01-01T00:00:00Z", "Next": "S"}]},
      "S": {"Type": "Succeed"}}, "TimestampEquals"),
    ({"P": {"Type": "Pass", "Parameters": {"h.$": "States.MathRandom(1, 9)"}, "End": True}},
     "States.MathRandom"),
    ({"P": {"Type": "Pass", "Next": "Nowhere"}}, "Next 'Nowhere' is not a state"),
    ({"P": {"Type": "Pass", "End": True}, "Orphan": {"Type": "Succeed"}}, "unreachable"),
    ({"T": {"Type": "Task", "Resource": ECHO, "End": True, "Retry": [
        {"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}}, "States.ALL must appear"),
    ({"W": {"Type": "Wait", "Timestamp": "2024-01-01T00:00:00Z", "End": True}}, "Timestamp"),
    ({"T": {"Type": "Task", "QueryLanguage": "JSONata", "Resource": ECHO, "End": True}},
     "JSONata is only supported on Pass"),
    ({"P": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $now() %}", "End": True}},
     "$now is not supported"),
    ({"P": {"Type": "Pass", "InputPath": "$..deep", "End": True}}, "unsupported JSONPath"),
    ({"P": {"Type": "Pass", "Next": "P", "End": True}}, "exactly one of Next or End"),
]


@pytest.mark.parametrize(("states", "message"), REFUSALS)
def test_unsupported_or_invalid_definitions_are_refused_up_front(
    states: dict[str, Any], message: str
) -> None:
    # GIVEN a definition using something not implemented (or structurally broken)
    d = machine(states)
    # WHEN an executor is built THEN it refuses with a message naming the problem
    with pytest.raises(AslDefinitionError, match=message.replace("$", r"\$").replace("(", r"\(")):
        AslExecutor(d, TaskRegistry({ECHO: lambda p: p}))


def test_unknown_top_level_field_and_missing_handler_are_refused() -> None:
    # GIVEN a top-level field the executor does not know (TimeoutSeconds is supported
    # now: see the execution-timeout conformance tests), and a Task without a handler
    with_unknown = {**machine({"S": {"Type": "Succeed"}}), "Variables": {}}
    task = machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::x:y", "End": True}})
    # WHEN validated / built THEN both are refused by name
    with pytest.raises(AslDefinitionError, match="Variables"):
        validate_definition(with_unknown)
    with pytest.raises(AslDefinitionError, match=r"arn:aws:states:::x:y \(state 'T'\)"):
        AslExecutor(task, TaskRegistry({}))


# --------------------------------------------------------------------------- JSONata + placeholders


@pytest.mark.parametrize(("scheduled", "expected"), [
    ("2024-03-01T02:00:00Z", "2024-02-29"),
    ("2025-01-01T00:30:00Z", "2024-12-31"),
    ("2024-07-15T01:00:00+02:00", "2024-07-13"),
])
def test_jsonata_pass_derives_yesterday_from_a_timestamp(scheduled: str, expected: str) -> None:
    # GIVEN the JSONata Pass pattern the pipeline uses to turn scheduled_time into p_date
    d = machine({"D": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True, "Output":
                       "{% {'p_date': $fromMillis($toMillis($states.input.t) - 86400000, "
                       "'[Y0001]-[M01]-[D01]'), 'tag': 'a' & 'b'} %}"}})
    # WHEN it runs
    result = run(d, {"t": scheduled})
    # THEN p_date is the UTC day before the timestamp
    assert result.output == {"p_date": expected, "tag": "ab"}


def test_placeholders_substitute_and_report_missing_names() -> None:
    # GIVEN a definition with quoted placeholders
    d = machine({"T": {"Type": "Task", "Resource": ECHO,
                       "Parameters": {"Name": "${Crawler}", "Topic": "arn:${Region}:x"},
                       "End": True}})
    # WHEN substituted THEN values land in place and the original is untouched
    assert placeholders(d) == {"Crawler", "Region"}
    out = substitute_placeholders(d, {"Crawler": "c1", "Region": "eu-west-1"})
    assert out["States"]["T"]["Parameters"] == {"Name": "c1", "Topic": "arn:eu-west-1:x"}
    assert d["States"]["T"]["Parameters"]["Name"] == "${Crawler}"
    # AND a missing value is named
    with pytest.raises(PlaceholderError, match="Region"):
        substitute_placeholders(d, {"Crawler": "c1"})
