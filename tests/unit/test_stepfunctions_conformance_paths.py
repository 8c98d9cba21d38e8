"""Conformance: the context object, paths, payload templates and the payload size limit."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from local_aws.stepfunctions import AslExecutor, TaskError, TaskRegistry
from tests.unit.asl_conformance import (
    ARN_PREFIX,
    ECHO,
    RUN_ID,
    machine,
    pass_params,
    refused,
    run,
    value_of,
)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# --------------------------------------------------------------------------- context object


def test_context_execution_fields() -> None:
    # Context object: Execution.Id is the execution ARN
    # "arn:aws:states:<region>:<account>:execution:<stateMachineName>:<executionName>",
    # Name the execution name, StartTime ISO 8601, Input the execution input,
    # RedriveCount 0 until redriven (https://docs.aws.amazon.com/step-functions/latest/dg/
    # input-output-contextobject.html, "Context object format")
    # GIVEN a Pass reading each Execution field
    d = pass_params({"id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name",
                     "start.$": "$$.Execution.StartTime", "input.$": "$$.Execution.Input",
                     "deep.$": "$$.Execution.Input.a.b", "redrive.$": "$$.Execution.RedriveCount"})
    # WHEN it runs as execution run-1 of state machine sm
    out = run(d, {"a": {"b": 7}}).output
    # THEN each field has AWS's shape
    assert out["id"] == f"{ARN_PREFIX}:execution:sm:{RUN_ID}"
    assert out["name"] == RUN_ID
    assert ISO_MS.match(out["start"])
    assert (out["input"], out["deep"], out["redrive"]) == ({"a": {"b": 7}}, 7, 0)


def test_context_state_machine_fields() -> None:
    # Context object: StateMachine.Id is the state machine ARN, StateMachine.Name its name
    # (CONTEXT, "Context object format")
    out = run(pass_params({"sm.$": "$$.StateMachine"})).output
    assert out["sm"] == {"Id": f"{ARN_PREFIX}:stateMachine:sm", "Name": "sm"}


def test_context_state_fields_name_entered_time_retry_count() -> None:
    # Context object: State.Name, State.EnteredTime (ISO 8601), State.RetryCount
    # (CONTEXT, "Context object format")
    out = run(pass_params({"s.$": "$$.State"})).output["s"]
    assert out["Name"] == "P" and out["RetryCount"] == 0 and ISO_MS.match(out["EnteredTime"])


def test_retry_count_in_parameters_counts_the_retries() -> None:
    # Context object: State.RetryCount is the number of retries of the current state, so the
    # Parameters a retried Task sends carry it (CONTEXT; ASL spec "Retrying after error")
    seen: list[int] = []

    def task(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params["retry"])
        if len(seen) < 3:
            raise TaskError("Boom")
        return {}

    d = machine({"T": {"Type": "Task", "Resource": ECHO, "End": True,
                       "Parameters": {"retry.$": "$$.State.RetryCount"},
                       "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 5}]}})
    # WHEN the task fails twice then succeeds THEN each attempt saw 0, 1, 2
    assert run(d, handlers={ECHO: task}).status == "SUCCEEDED"
    assert seen == [0, 1, 2]


def test_map_item_index_and_value_in_item_selector() -> None:
    # Context object for Map states: $$.Map.Item.Index (0-based) and $$.Map.Item.Value in
    # ItemSelector (CONTEXT, "Context object data for Map states")
    d = machine({"M": {"Type": "Map", "ItemsPath": "$.xs", "End": True,
                       "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value",
                                        "item.$": "$$.Map.Item"},
                       "ItemProcessor": {"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}}})
    out = run(d, {"xs": ["a", {"k": 1}]}).output
    assert out == [{"i": 0, "v": "a", "item": {"Index": 0, "Value": "a"}},
                   {"i": 1, "v": {"k": 1}, "item": {"Index": 1, "Value": {"k": 1}}}]


def test_context_fields_the_executor_cannot_fill_are_refused_at_load() -> None:
    # Context object: RoleArn, RedriveTime and Task.Token exist on AWS (CONTEXT); locally
    # there is no role, redrive or callback token, so a definition reading them is refused,
    # as is the whole $$ / $$.Execution object that would lack RoleArn
    for path in ("$$.Execution.RoleArn", "$$.Execution.RedriveTime", "$$.Task.Token", "$$",
                 "$$.Execution", "$$.Nope"):
        refused(pass_params({"v.$": path}), "state 'P'", path)


def test_map_context_outside_a_map_item_selector_is_refused() -> None:
    # Context object data for Map states is available in ItemSelector (CONTEXT, "Context
    # object data for Map states"); elsewhere it does not exist
    refused(pass_params({"v.$": "$$.Map.Item.Value"}), "state 'P'", "$$.Map")
    inner = machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "In", "States": {"In": {"Type": "Pass", "End": True,
                                           "Parameters": {"v.$": "$$.Map.Item.Index"}}}}}})
    refused(inner, "state 'In'", "$$.Map")


def test_context_paths_inside_intrinsics_are_checked_too() -> None:
    # Intrinsic arguments are paths like any other (INTRINSICS; CONTEXT)
    refused(pass_params({"v.$": "States.Format('{}', $$.Execution.RoleArn)"}), "RoleArn")
    assert value_of("States.Format('{}', $$.Execution.Name)") == RUN_ID


# --------------------------------------------------------------------------- paths


def test_input_path_null_gives_an_empty_object() -> None:
    # "If InputPath is null, ... the input is discarded and the state receives {}"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html)
    d = machine({"P": {"Type": "Pass", "InputPath": None, "End": True}})
    assert run(d, {"a": 1}).output == {}


def test_output_path_null_gives_an_empty_object() -> None:
    # ASL spec "Filters": an OutputPath of null sends {} to the next state
    d = machine({"P": {"Type": "Pass", "OutputPath": None, "End": True}})
    assert run(d, {"a": 1}).output == {}


def test_result_path_null_discards_the_result_and_keeps_the_input() -> None:
    # "Use ResultPath: null to discard the result and keep the original input"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html)
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "ResultPath": None, "End": True,
                       "Parameters": {"x": 1}}})
    assert run(d, {"keep": True}).output == {"keep": True}


def test_result_path_creates_missing_objects_and_replaces_existing_values() -> None:
    # ResultPath: "If the path does not exist, it is created" and an existing node at the
    # path is overwritten (RESULTPATH; ASL spec "Using ResultPath")
    d = machine({"P": {"Type": "Pass", "Result": 5, "ResultPath": "$.a.b.c", "Next": "Q"},
                 "Q": {"Type": "Pass", "Result": "new", "ResultPath": "$.keep", "End": True}})
    assert run(d, {"keep": "old", "a": {"x": 1}}).output == {
        "keep": "new", "a": {"x": 1, "b": {"c": 5}}}


def test_result_path_into_a_non_object_fails_with_result_path_match_failure() -> None:
    # ASL spec "Errors": States.ResultPathMatchFailure when a ResultPath cannot be applied
    d = machine({"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": True}})
    result = run(d, {"a": "scalar"})
    assert (result.error, result.failed_state) == ("States.ResultPathMatchFailure", "P")


def test_result_path_into_the_context_or_an_array_element_is_refused() -> None:
    # ResultPath is a Reference Path into the state input (ASL spec "Reference Paths");
    # writing into array elements is not documented, so it is refused locally
    for path in ("$$.Execution.Id", "$.list[0]"):
        refused(machine({"P": {"Type": "Pass", "Result": 1, "ResultPath": path, "End": True}}),
                "ResultPath", path)


def test_parameters_missing_path_fails_the_execution_with_states_runtime() -> None:
    # A ".$" path that selects nothing fails the execution with States.Runtime, which no
    # catcher can handle (ERRORS "States.Runtime"; spec "Errors" names
    # States.ParameterPathFailure, but AWS reports States.Runtime - see the docs page)
    d = machine({"P": {"Type": "Pass", "Parameters": {"v.$": "$.missing"}, "End": True,
                       "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
                 "C": {"Type": "Succeed"}})
    refused(d, "Catch")  # Pass cannot have Catch: the spec allows it on Task/Parallel/Map
    result = run(machine({"P": {"Type": "Pass", "Parameters": {"v.$": "$.missing"},
                                "End": True}}))
    assert (result.error, result.failed_state) == ("States.Runtime", "P")


def test_parameters_build_nested_objects_and_arrays() -> None:
    # Payload templates: ".$" keys anywhere in nested objects (not inside arrays' objects is
    # not a restriction: arrays of objects are walked too) (ASL spec "Payload Template")
    d = pass_params({"outer": {"in.$": "$.a", "list": [{"x.$": "$.b"}, 3]}})
    assert run(d, {"a": 1, "b": 2}).output == {"outer": {"in": 1, "list": [{"x": 2}, 3]}}


def test_result_selector_applies_to_the_task_result_then_result_path() -> None:
    # Order of processing: Parameters -> task -> ResultSelector -> ResultPath -> OutputPath
    # (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-example.html)
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "Parameters": {"r": {"k": 9}},
                       "ResultSelector": {"k.$": "$.r.k"}, "ResultPath": "$.sel",
                       "OutputPath": "$.sel", "End": True}})
    assert run(d, {"in": 1}).output == {"k": 9}


def test_bracket_and_index_path_forms() -> None:
    # JSONPath forms the executor accepts: $.a.b, $.a[0], $['key with space'] (ASL spec
    # "Paths"); anything else (.., *, filters) is refused at load
    assert value_of("$['odd key'][1]", {"odd key": [0, "x"]}) == "x"
    for bad in ("$..a", "$.a[*]", "$.a[?(@.b)]", "a.b"):
        refused(pass_params({"v.$": bad}), "state 'P'")


def test_dollar_key_and_plain_key_for_the_same_field_is_refused() -> None:
    # Payload template: "a" and "a.$" would both produce field "a" (ASL spec "Payload
    # Template": a field name is produced once); refused rather than picking one
    refused(pass_params({"a": 1, "a.$": "$.x"}), "'a'", "'a.$'")


# --------------------------------------------------------------------------- payload size


BIG = "x" * (256 * 1024)


def test_state_output_over_256_kib_fails_with_data_limit_exceeded() -> None:
    # Quotas: "Maximum input or output size for a task, state, or execution: 256 KiB of data
    # as a UTF-8 encoded string" (https://docs.aws.amazon.com/step-functions/latest/dg/
    # service-quotas.html); ERRORS: States.DataLimitExceeded "When the output of a state is
    # larger than payload size quota"
    d = machine({"P": {"Type": "Pass", "Result": BIG, "End": True}})
    result = run(d)
    assert (result.error, result.failed_state) == ("States.DataLimitExceeded", "P")


def test_task_result_over_256_kib_is_terminal_even_with_states_all() -> None:
    # ERRORS: "When the output of a connector is larger than payload size quota"; it is "a
    # terminal error that can't be caught by the States.ALL error type"
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "End": True,
                       "Retry": [{"ErrorEquals": ["States.ALL"]}],
                       "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
                 "C": {"Type": "Succeed"}})
    calls: list[Any] = []

    def big(params: Any) -> str:
        calls.append(params)
        return BIG

    result = run(d, handlers={ECHO: big})
    assert (result.status, result.error, len(calls)) == ("FAILED", "States.DataLimitExceeded", 1)


def test_input_after_parameters_over_256_kib_fails_before_the_task_runs() -> None:
    # ERRORS: "When, after Parameters processing, the input of a state is larger than the
    # payload size quota"
    calls: list[Any] = []
    d = machine({"T": {"Type": "Task", "Resource": ECHO, "End": True,
                       "Parameters": {"a.$": "$.half", "b.$": "$.half"}}})
    half = "y" * (128 * 1024)
    result = run(d, {"half": half}, handlers={ECHO: calls.append})
    assert result.error == "States.DataLimitExceeded" and calls == []


def test_payload_limit_counts_utf8_bytes_not_characters() -> None:
    # Quotas: the limit is on "a UTF-8 encoded string": 100,000 three-byte characters are
    # 300,000 bytes, over the limit, though only 100,000 characters
    d = machine({"P": {"Type": "Pass", "Result": "€" * 100_000, "End": True}})
    assert run(d).error == "States.DataLimitExceeded"
    ok = machine({"P": {"Type": "Pass", "Result": "x" * 200_000, "End": True}})
    assert run(ok).status == "SUCCEEDED"


def test_execution_input_over_256_kib_is_rejected_before_any_execution() -> None:
    # Quotas apply to the execution input: StartExecution refuses it (no execution exists)
    d = machine({"S": {"Type": "Succeed"}})
    executor = AslExecutor(d, TaskRegistry({}))
    with pytest.raises(ValueError, match="256 KiB"):
        executor.run({"big": BIG})


def test_map_runs_items_concurrently_up_to_max_concurrency() -> None:
    # Inline Map: MaxConcurrency bounds parallel iterations; results keep item order
    # (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html)
    lock, active, peak = threading.Lock(), [0], [0]
    gate = threading.Barrier(3, timeout=10)

    def task(params: Any) -> Any:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        gate.wait()
        with lock:
            active[0] -= 1
        return params

    d = machine({"M": {"Type": "Map", "MaxConcurrency": 3, "End": True, "ItemProcessor": {
        "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ECHO, "End": True}}}}})
    result = run(d, [1, 2, 3, 4, 5, 6], handlers={ECHO: task})
    assert result.output == [1, 2, 3, 4, 5, 6] and peak[0] == 3
