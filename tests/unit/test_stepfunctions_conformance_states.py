"""Conformance: Choice rules, Wait, Map and Succeed/Pass data flow.

Sources: ASL spec "Choice State", "Wait State", "Map State", "Pass State"
(https://states-language.net/spec.html) and AWS's state pages
(https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html, state-wait.html,
state-map-inline.html, state-pass.html).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.asl_conformance import ECHO, machine, refused, run


def choose(rule: dict[str, Any], data: Any) -> str:
    """Which branch a single-rule Choice takes for ``data`` ("yes" or "no")."""
    d = machine({"C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
                 "Yes": {"Type": "Pass", "Result": "yes", "End": True},
                 "No": {"Type": "Pass", "Result": "no", "End": True}})
    result = run(d, data)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return str(result.output)


@pytest.mark.parametrize(("rule", "data", "expected"), [
    # Spec "Choice Rules": comparison operators compare the Variable with the value
    ({"Variable": "$.s", "StringEquals": "a"}, {"s": "a"}, "yes"),
    ({"Variable": "$.s", "StringLessThan": "b"}, {"s": "a"}, "yes"),
    ({"Variable": "$.s", "StringGreaterThanEquals": "b"}, {"s": "a"}, "no"),
    ({"Variable": "$.n", "NumericEquals": 1}, {"n": 1.0}, "yes"),
    ({"Variable": "$.n", "NumericLessThanEquals": 2}, {"n": 2}, "yes"),
    ({"Variable": "$.n", "NumericGreaterThan": 2}, {"n": 2}, "no"),
    ({"Variable": "$.b", "BooleanEquals": False}, {"b": False}, "yes"),
    # a value of the wrong type does not match (it is not an error)
    ({"Variable": "$.n", "NumericEquals": 1}, {"n": "1"}, "no"),
    ({"Variable": "$.s", "StringEquals": "true"}, {"s": True}, "no"),
    ({"Variable": "$.b", "BooleanEquals": True}, {"b": 1}, "no"),
    # ...Path variants compare with another path's value
    ({"Variable": "$.a", "NumericEqualsPath": "$.b"}, {"a": 3, "b": 3}, "yes"),
    ({"Variable": "$.a", "StringEqualsPath": "$$.Execution.Name"}, {"a": "run-1"}, "yes"),
    # type tests and presence
    ({"Variable": "$.x", "IsPresent": False}, {}, "yes"),
    ({"Variable": "$.x", "IsNull": True}, {"x": None}, "yes"),
    ({"Variable": "$.x", "IsNumeric": True}, {"x": True}, "no"),
    ({"Variable": "$.x", "IsString": False}, {"x": 1}, "yes"),
    ({"Variable": "$.x", "IsBoolean": True}, {"x": False}, "yes"),
    # And / Or / Not
    ({"And": [{"Variable": "$.a", "NumericGreaterThan": 0},
              {"Not": {"Variable": "$.b", "IsPresent": True}}]}, {"a": 1}, "yes"),
    ({"Or": [{"Variable": "$.a", "StringEquals": "x"},
             {"Variable": "$.a", "StringEquals": "y"}]}, {"a": "z"}, "no"),
])
def test_choice_rules(rule: dict[str, Any], data: Any, expected: str) -> None:
    assert choose(rule, data) == expected


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    # Spec "StringMatches": "*" matches zero or more characters; foo*.log matches foo23.log,
    # *.log matches zebra.log, foo*.* matches foobar.zebra; no other character is special
    ("foo*.log", "foo23.log", "yes"), ("*.log", "zebra.log", "yes"),
    ("foo*.*", "foobar.zebra", "yes"), ("foo*.log", "foo.txt", "no"),
    ("a.c", "abc", "no"), ("a?c", "abc", "no"),
    # \* is a literal asterisk, \\ a literal backslash
    ("a\\*c", "a*c", "yes"), ("a\\*c", "abc", "no"), ("a\\\\c", "a\\c", "yes"),
])
def test_string_matches(pattern: str, value: str, expected: str) -> None:
    assert choose({"Variable": "$.s", "StringMatches": pattern}, {"s": value}) == expected


def test_string_matches_illegal_escape_is_refused() -> None:
    d = machine({"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.s", "StringMatches": "a\\nb", "Next": "S"}]}, "S": {"Type": "Succeed"}})
    refused(d, "state 'C'", "illegal escape")


def test_choice_on_a_missing_variable_fails_with_states_runtime() -> None:
    # a comparison on a path that selects nothing is a runtime error (use IsPresent first)
    d = machine({"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.x", "StringEquals": "a", "Next": "S"}], "Default": "S"},
        "S": {"Type": "Succeed"}})
    assert run(d, {}).error == "States.Runtime"


def test_choice_and_succeed_apply_input_and_output_path() -> None:
    # Spec "Choice State" / "Succeed State": InputPath and OutputPath apply; the Choice does
    # not change its input otherwise
    d = machine({"C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.v",
                       "Choices": [{"Variable": "$.v", "IsPresent": True, "Next": "S"}]},
                 "S": {"Type": "Succeed", "InputPath": "$.k"}})
    assert run(d, {"in": {"v": {"k": 5}}}).output == 5


# --------------------------------------------------------------------------- Wait


def test_wait_seconds_path_must_select_a_non_negative_integer() -> None:
    # AWS "Wait workflow state": SecondsPath selects an integer number of seconds
    d = machine({"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}})
    slept: list[float] = []
    assert run(d, {"s": 3}, sleep=slept.append, wait_scale=1.0).output == {"s": 3}
    assert slept == [3.0]
    for bad in (1.5, -1, "3", True):
        assert run(d, {"s": bad}).error == "States.Runtime"


# --------------------------------------------------------------------------- Map


def test_map_defaults_items_path_is_the_input_and_empty_array_gives_empty_result() -> None:
    # Spec "Map State": ItemsPath defaults to "$"; each item is the iteration input when
    # there is no ItemSelector; the result is the array of iteration outputs
    d = machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$"},
                                         "End": True}}}}})
    assert run(d, [1, "a"]).output == [{"x": 1}, {"x": "a"}]
    assert run(d, []).output == []


def test_map_items_path_must_select_an_array() -> None:
    d = machine({"M": {"Type": "Map", "ItemsPath": "$.xs", "End": True, "ItemProcessor": {
        "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}}})
    assert run(d, {"xs": {"not": "array"}}).error == "States.Runtime"


def test_map_legacy_iterator_and_parameters_and_result_selector() -> None:
    # AWS "Map state": Iterator/Parameters are the legacy names of ItemProcessor/ItemSelector;
    # ResultSelector applies to the array of results
    d = machine({"M": {"Type": "Map", "ItemsPath": "$.xs", "End": True,
                       "Parameters": {"v.$": "$$.Map.Item.Value"},
                       "Iterator": {"StartAt": "T", "States": {"T": {
                           "Type": "Task", "Resource": ECHO, "End": True}}},
                       "ResultSelector": {"n.$": "States.ArrayLength($)", "all.$": "$"}}})
    assert run(d, {"xs": [7, 8]}).output == {"n": 2, "all": [{"v": 7}, {"v": 8}]}


def test_pass_result_and_result_path() -> None:
    # AWS "Pass workflow state": Result is the state's result, placed by ResultPath
    d = machine({"P": {"Type": "Pass", "Result": {"r": 1}, "ResultPath": "$.out", "End": True}})
    assert run(d, {"in": 0}).output == {"in": 0, "out": {"r": 1}}
