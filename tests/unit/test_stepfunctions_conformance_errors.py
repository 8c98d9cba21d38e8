"""Conformance: Fail states, Retry and Catch, error names.

Sources: ASL spec "Errors", "Retrying after error", "Fallback states"
(https://states-language.net/spec.html#errors) and AWS, "Handling errors in Step Functions
workflows" (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html,
ERRORS below), "Fail workflow state" (.../state-fail.html, FAIL below).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from local_aws.stepfunctions import TaskError
from tests.unit.asl_conformance import ECHO, machine, refused, run


class Failing:
    """A task raising ``errors[i]`` on call i, then returning {"ok": True}."""

    def __init__(self, *errors: str) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self, _: Any) -> Any:
        self.calls += 1
        if self.calls <= len(self.errors):
            raise TaskError(self.errors[self.calls - 1], f"call {self.calls}")
        return {"ok": True}


def task(retry: list[dict[str, Any]] | None = None,
         catch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": ECHO, "End": True}
    if retry is not None:
        state["Retry"] = retry
    if catch is not None:
        state["Catch"] = catch
    states: dict[str, Any] = {"T": state}
    for target in sorted({c["Next"] for c in catch or []}):  # only reachable fallbacks
        states[target] = {"Type": "Pass", "Result": target.lower(), "End": True}
    return machine(states)


# --------------------------------------------------------------------------- Fail


def test_fail_without_error_or_cause_reports_neither() -> None:
    # FAIL: Error and Cause are optional; nothing is invented when they are absent
    result = run(machine({"F": {"Type": "Fail"}}))
    assert (result.status, result.error, result.cause, result.failed_state) == (
        "FAILED", None, None, "F")


def test_fail_with_cause_only() -> None:
    result = run(machine({"F": {"Type": "Fail", "Cause": "why"}}))
    assert (result.error, result.cause) == (None, "why")


def test_fail_error_path_and_cause_path_select_strings() -> None:
    # FAIL: ErrorPath/CausePath are reference paths that "must select a field that contains a
    # string value", or one of the string intrinsics
    d = machine({"F": {"Type": "Fail", "ErrorPath": "$.e",
                       "CausePath": "States.Format('day {}', $.d)"}})
    assert (run(d, {"e": "E1", "d": "2024-01-01"}).error,
            run(d, {"e": "E1", "d": "x"}).cause) == ("E1", "day x")
    assert run(d, {"e": {"not": "a string"}, "d": 1}).error == "States.Runtime"


def test_fail_field_rules_are_checked_at_load() -> None:
    # FAIL: "You can specify either Error or ErrorPath, but not both" (same for Cause);
    # CausePath intrinsics are limited to those returning a string
    refused(machine({"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}), "exclusive")
    refused(machine({"F": {"Type": "Fail", "CausePath": "States.Array($.a)"}}),
            "States.Array does not return a string")
    refused(machine({"F": {"Type": "Fail", "Error": "E", "Next": "F"}}), "Next")


def test_fail_without_error_inside_a_map_is_refused() -> None:
    # how a Map's catchers match an iteration failure that has no error name is not
    # documented: refused at load, naming the state
    d = machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "F", "States": {"F": {"Type": "Fail", "Cause": "c"}}}}})
    refused(d, "state 'F'", "Fail without Error inside a Map")


def test_a_map_iteration_failure_is_the_map_state_failure() -> None:
    # ASL spec "Map State": if any iteration fails, the Map state fails with that error and
    # its Catch applies
    d = machine({"M": {"Type": "Map", "ItemsPath": "$.xs", "Next": "Done", "ItemProcessor": {
        "StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "ItemBad", "Cause": "c"}}},
        "Catch": [{"ErrorEquals": ["ItemBad"], "ResultPath": "$.err", "Next": "Done"}]},
        "Done": {"Type": "Succeed"}})
    assert run(d, {"xs": [1, 2]}).output == {"xs": [1, 2],
                                             "err": {"Error": "ItemBad", "Cause": "c"}}


# --------------------------------------------------------------------------- Retry


def test_retrier_order_first_match_wins() -> None:
    # Spec "Retrying after error": retriers are evaluated in order; the first whose
    # ErrorEquals matches is used
    t = Failing("A", "A")
    slept: list[float] = []
    d = task([{"ErrorEquals": ["A"], "IntervalSeconds": 3, "MaxAttempts": 2},
              {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 7}])
    assert run(d, handlers={ECHO: t}, sleep=slept.append, wait_scale=1.0).status == "SUCCEEDED"
    assert slept == [3.0, 6.0]


def test_max_attempts_zero_never_retries() -> None:
    # Spec: "A MaxAttempts value of zero is permitted and indicates that the error should never
    # be retried"
    t = Failing("A")
    assert run(task([{"ErrorEquals": ["A"], "MaxAttempts": 0}]), handlers={ECHO: t}).error == "A"
    assert t.calls == 1


def test_each_retrier_counts_its_own_attempts() -> None:
    # Spec: each retrier keeps its own count; A, B, A, B with one attempt each: the third
    # failure (A again) has exhausted A's retrier and is not passed to the next one
    t = Failing("A", "B", "A")
    d = task([{"ErrorEquals": ["A"], "MaxAttempts": 1}, {"ErrorEquals": ["B"], "MaxAttempts": 1}])
    assert (run(d, handlers={ECHO: t}).error, t.calls) == ("A", 3)


def test_backoff_rate_and_max_delay_seconds() -> None:
    # ERRORS, retrier fields: the interval grows by BackoffRate per attempt, capped by
    # MaxDelaySeconds
    slept: list[float] = []
    d = task([{"ErrorEquals": ["A"], "IntervalSeconds": 2, "BackoffRate": 3,
               "MaxDelaySeconds": 10, "MaxAttempts": 4}])
    run(d, handlers={ECHO: Failing("A", "A", "A", "A", "A")}, sleep=slept.append,
        wait_scale=1.0)
    assert slept == [2.0, 6.0, 10.0, 10.0]


@pytest.mark.parametrize(("field", "value"), [
    ("IntervalSeconds", 0), ("IntervalSeconds", 1.5), ("MaxAttempts", -1),
    ("MaxDelaySeconds", 0), ("BackoffRate", 0.5), ("JitterStrategy", "HALF"),
    ("IntervalSeconds", 100_000_000),
])
def test_retrier_field_bounds_are_checked_at_load(field: str, value: Any) -> None:
    # ERRORS, retrier fields: IntervalSeconds and MaxDelaySeconds are positive integers,
    # MaxAttempts a non-negative integer, BackoffRate >= 1.0, JitterStrategy FULL or NONE
    refused(task([{"ErrorEquals": ["A"], field: value}]), "state 'T'", field)


# --------------------------------------------------------------------------- Catch and matching


def test_catchers_are_evaluated_in_order() -> None:
    # Spec "Fallback states": the first catcher whose ErrorEquals matches is taken
    d = task(catch=[{"ErrorEquals": ["A", "B"], "Next": "C1"},
                    {"ErrorEquals": ["States.ALL"], "Next": "C2"}])
    assert run(d, handlers={ECHO: Failing("B")}).output == "c1"
    assert run(d, handlers={ECHO: Failing("Z")}).output == "c2"


def test_retry_happens_before_catch() -> None:
    # Spec: when a state has both, retriers are tried first; the catcher sees the error that
    # remains when retries are used up
    t = Failing("A", "A")
    d = task([{"ErrorEquals": ["A"], "MaxAttempts": 1}],
             [{"ErrorEquals": ["A"], "Next": "C1"}])
    assert (run(d, handlers={ECHO: t}).output, t.calls) == ("c1", 2)


def test_catch_result_path_gets_error_and_cause() -> None:
    # Spec "Fallback states": the error output is {"Error": ..., "Cause": ...}, placed by the
    # catcher's ResultPath (default $)
    d = task(catch=[{"ErrorEquals": ["A"], "ResultPath": "$.err", "Next": "C1"}])
    d["States"]["C1"] = {"Type": "Pass", "End": True}
    assert run(d, {"k": 1}, handlers={ECHO: Failing("A")}).output == {
        "k": 1, "err": {"Error": "A", "Cause": "call 1"}}


def test_states_task_failed_matches_task_errors_but_not_timeout() -> None:
    # ERRORS "States.TaskFailed": matches any task error except States.Timeout
    d = task(catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "C1"}])
    assert run(d, handlers={ECHO: Failing("Custom.Error")}).output == "c1"
    assert run(d, handlers={ECHO: Failing("States.Timeout")}).error == "States.Timeout"


def test_states_all_does_not_catch_runtime_errors() -> None:
    # ERRORS "States.ALL": cannot catch States.Runtime (nor States.DataLimitExceeded)
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "Parameters": {"v.$": "$.missing"},
                       "End": True, "Retry": [{"ErrorEquals": ["States.ALL"]}],
                       "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
                 "C": {"Type": "Succeed"}})
    assert run(d, {}).error == "States.Runtime"


def test_task_timeout_is_states_timeout() -> None:
    # Spec "Task State": TimeoutSeconds exceeded fails the state with States.Timeout
    release = threading.Event()
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "TimeoutSeconds": 1, "End": True}})
    try:
        result = run(d, handlers={ECHO: lambda p: release.wait(30)})
    finally:
        release.set()
    assert result.error == "States.Timeout"


def test_task_timeout_caught_has_an_empty_cause() -> None:
    # AWS-recorded executions: a Task's TimeoutSeconds failure reaches a Catch's ResultPath
    # as {"Error": "States.Timeout", "Cause": ""}
    release = threading.Event()
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "TimeoutSeconds": 1, "Next": "S",
                       "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.err",
                                  "Next": "S"}]},
                 "S": {"Type": "Succeed"}})
    try:
        result = run(d, {}, handlers={ECHO: lambda p: release.wait(30)})
    finally:
        release.set()
    assert result.status == "SUCCEEDED"
    assert result.output["err"] == {"Error": "States.Timeout", "Cause": ""}


@pytest.mark.parametrize(("retry", "needle"), [
    # Spec: States.ALL "MUST appear alone in its ErrorEquals array and MUST appear in the
    # last retrier/catcher"
    ([{"ErrorEquals": ["States.ALL", "A"]}], "States.ALL must appear alone"),
    ([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["A"]}], "last entry"),
    # ERRORS: error names starting with "States." are reserved for the predefined ones
    ([{"ErrorEquals": ["States.Made.Up"]}], "not a predefined error name"),
    # naming States.Runtime / States.DataLimitExceeded explicitly: undocumented, refused
    ([{"ErrorEquals": ["States.DataLimitExceeded"]}], "States.DataLimitExceeded"),
    ([{"ErrorEquals": ["States.Runtime"]}], "States.Runtime"),
    ([{"ErrorEquals": []}], "non-empty list"),
])
def test_error_name_rules_are_checked_at_load(retry: list[dict[str, Any]], needle: str) -> None:
    refused(task(retry), "state 'T'", needle)
    catch = [{**r, "Next": "C1"} for r in retry]
    refused(task(catch=catch), "state 'T'", needle)


def test_predefined_error_names_are_accepted() -> None:
    # ERRORS lists the predefined names a retrier or catcher may use
    names = ["States.Timeout", "States.TaskFailed", "States.Permissions",
             "States.ResultPathMatchFailure", "States.NoChoiceMatched",
             "States.HeartbeatTimeout", "States.IntrinsicFailure"]
    d = task([{"ErrorEquals": names}])
    assert run(d).status == "SUCCEEDED"


def test_choice_without_match_and_default_fails_with_no_choice_matched() -> None:
    # Spec "Choice State": no match and no Default -> States.NoChoiceMatched
    d = machine({"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.x", "NumericEquals": 1, "Next": "S"}]}, "S": {"Type": "Succeed"}})
    assert run(d, {"x": 2}).error == "States.NoChoiceMatched"


def test_the_local_transition_limit_cannot_be_caught() -> None:
    # AWS stops a runaway execution at 25,000 history events (QUOTAS "Execution history");
    # the local safety net is likewise terminal: a Map's catcher must not loop on it
    d = machine({"M": {"Type": "Map", "Next": "S", "ItemProcessor": {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
        "Z": {"Type": "Succeed"}}},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}]}, "S": {"Type": "Succeed"}})
    d["States"]["M"]["ItemProcessor"]["States"]["B"] = {"Type": "Choice", "Choices": [
        {"Variable": "$.stop", "IsPresent": True, "Next": "Z"}], "Default": "A"}
    assert run(d, [{}], max_transitions=20).error == "States.ExecutionLimitExceeded"


# --------------------------------------------------------------------------- execution timeout
# ASL spec, "Top-level fields": TimeoutSeconds is "the maximum number of seconds an execution
# of the state machine can run. If it runs longer than the specified time, then the
# execution fails with a States.Timeout Error name". AWS shows such an execution as
# TIMED_OUT, and no state's Catch takes it (the execution itself is over).


def test_an_execution_past_its_timeout_ends_timed_out_and_no_catch_takes_it() -> None:
    import time

    def slow(_: Any) -> Any:
        time.sleep(1.2)
        return {}

    definition = machine({
        "Slow": {"Type": "Task", "Resource": ECHO, "Next": "After",
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
        "After": {"Type": "Pass", "End": True},
        "Caught": {"Type": "Pass", "End": True}}, start="Slow", TimeoutSeconds=1)
    result = run(definition, handlers={ECHO: slow})
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert result.failed_state == "After"  # ended at the first transition past the limit


def test_an_execution_within_its_timeout_is_unaffected() -> None:
    result = run(machine({"P": {"Type": "Pass", "End": True}}, TimeoutSeconds=60))
    assert result.status == "SUCCEEDED"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "60", True, 31_536_001])
def test_a_timeout_outside_one_second_to_one_year_is_refused(bad: Any) -> None:
    refused(machine({"P": {"Type": "Pass", "End": True}}, TimeoutSeconds=bad),
            "TimeoutSeconds")
