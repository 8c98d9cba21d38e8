"""Conformance: what a definition must satisfy when it is loaded.

AWS validates a definition when the state machine is created (CreateStateMachine returns
InvalidDefinition). The local executor checks the same rules when it loads a definition,
and additionally refuses every feature it does not implement exactly, with a message that
names the state and the feature. Sources: ASL spec (https://states-language.net/spec.html,
SPEC below), AWS state pages (https://docs.aws.amazon.com/step-functions/latest/dg/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts.pipeline import PipelineConfig
from local_aws.stepfunctions import (
    AslDefinitionError,
    load_definition,
    load_definition_file,
    validate_definition,
)
from orchestration.backfill import load_backfill_definition
from orchestration.erasure import load_erasure_definition
from orchestration.state_machine import load_pipeline_definition
from tests.unit.asl_conformance import ECHO, machine, refused, run

SUCCEED = {"Type": "Succeed"}


def test_the_deployed_definitions_pass_every_check() -> None:
    # The files Step Functions runs must load locally with nothing refused
    validate_definition(load_pipeline_definition(PipelineConfig()))
    validate_definition(load_backfill_definition(PipelineConfig()))
    validate_definition(load_erasure_definition(PipelineConfig()))


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize(("states", "needles"), [
    # SPEC "States": Task/Pass/Wait/Map need exactly one of Next or "End": true
    ({"P": {"Type": "Pass"}}, ("state 'P'", "exactly one of Next or End")),
    ({"P": {"Type": "Pass", "Next": "S", "End": True}, "S": SUCCEED},
     ("state 'P'", "exactly one of Next or End")),
    # SPEC "Transitions": Next must name a state of the same machine
    ({"P": {"Type": "Pass", "Next": "Nowhere"}}, ("state 'P'", "'Nowhere' is not a state")),
    # SPEC "Top-level fields" / "States": every state reachable from StartAt (AWS rejects
    # unreachable states as MISSING_TRANSITION_TARGET / unreachable)
    ({"P": {"Type": "Pass", "End": True}, "Orphan": SUCCEED}, ("unreachable", "Orphan")),
    # SPEC "Terminal states": a machine needs a terminal state
    ({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
     ("no terminal state",)),
    # SPEC "Choice State": choice rules name their Next; nested rules must not
    ({"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True}]}, "S": SUCCEED},
     ("state 'C'", "Next None is not a state")),
    ({"C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "IsPresent": True,
                                                   "Next": "S"}, "Next": "S"}]}, "S": SUCCEED},
     ("state 'C'", "nested choice rule must not have Next")),
    ({"C": {"Type": "Choice", "Choices": [], "Default": "S"}, "S": SUCCEED},
     ("state 'C'", "Choices must be a non-empty list")),
    ({"C": {"Type": "Choice", "Next": "S", "Choices": [
        {"Variable": "$.a", "IsPresent": True, "Next": "S"}]}, "S": SUCCEED},
     ("state 'C'", "'Next'")),
    ({"C": {"Type": "Choice", "Default": "Gone", "Choices": [
        {"Variable": "$.a", "IsPresent": True, "Next": "S"}]}, "S": SUCCEED},
     ("state 'C'", "Default 'Gone'")),
    # SPEC "Wait State": exactly one of Seconds / SecondsPath (Timestamp* refused locally)
    ({"W": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}},
     ("state 'W'", "exactly one of Seconds or SecondsPath")),
    ({"W": {"Type": "Wait", "Seconds": -1, "End": True}}, ("state 'W'", "Seconds")),
    ({"W": {"Type": "Wait", "Seconds": 1.5, "End": True}}, ("state 'W'", "Seconds")),
    ({"W": {"Type": "Wait", "Seconds": 100_000_000, "End": True}}, ("state 'W'", "Seconds")),
    ({"W": {"Type": "Wait", "Timestamp": "2024-01-01T00:00:00Z", "End": True}},
     ("state 'W'", "Timestamp")),
    # SPEC "Pass State": Pass has no ResultSelector, Retry or Catch
    ({"P": {"Type": "Pass", "ResultSelector": {}, "End": True}}, ("state 'P'", "ResultSelector")),
    ({"P": {"Type": "Pass", "Retry": [], "End": True}}, ("state 'P'", "Retry")),
    # Result and Parameters together: which wins is not documented - refused
    ({"P": {"Type": "Pass", "Result": 1, "Parameters": {}, "End": True}},
     ("state 'P'", "Result and Parameters")),
    # SPEC "Task State": Resource is required; TimeoutSeconds a positive integer
    ({"T": {"Type": "Task", "End": True}}, ("state 'T'", "Resource")),
    ({"T": {"Type": "Task", "Resource": ECHO, "TimeoutSeconds": 0, "End": True}},
     ("state 'T'", "TimeoutSeconds")),
    # Task features the local executor does not implement: refused by name
    ({"T": {"Type": "Task", "Resource": ECHO, "HeartbeatSeconds": 5, "End": True}},
     ("state 'T'", "HeartbeatSeconds")),
    ({"T": {"Type": "Task", "Resource": ECHO, "TimeoutSecondsPath": "$.t", "End": True}},
     ("state 'T'", "TimeoutSecondsPath")),
    ({"T": {"Type": "Task", "Resource": ECHO, "Credentials": {}, "End": True}},
     ("state 'T'", "Credentials")),
    ({"T": {"Type": "Task", "Resource": ECHO, "Assign": {"x": 1}, "End": True}},
     ("state 'T'", "Assign")),
    # Map: ItemSelector or legacy Parameters, not both; INLINE mode only locally
    ({"M": {"Type": "Map", "ItemSelector": {}, "Parameters": {}, "End": True,
            "ItemProcessor": {"StartAt": "S", "States": {"S": SUCCEED}}}},
     ("state 'M'", "ItemSelector or Parameters")),
    ({"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "S", "States": {"S": SUCCEED}}}}, ("state 'M'", "INLINE")),
    ({"M": {"Type": "Map", "MaxConcurrency": -1, "End": True,
            "ItemProcessor": {"StartAt": "S", "States": {"S": SUCCEED}}}},
     ("state 'M'", "MaxConcurrency")),
    ({"M": {"Type": "Map", "ItemReader": {}, "End": True,
            "ItemProcessor": {"StartAt": "S", "States": {"S": SUCCEED}}}},
     ("state 'M'", "ItemReader")),
    # State types the local executor does not implement
    ({"P": {"Type": "Parallel", "Branches": [], "End": True}}, ("state 'P'", "'Parallel'")),
    ({"X": {"Type": "Nope", "End": True}}, ("state 'X'", "'Nope'")),
    # Choice operators not implemented locally
    ({"C": {"Type": "Choice", "Choices": [{"Variable": "$.t", "Next": "S",
                                           "TimestampEquals": "2024-01-01T00:00:00Z"}]},
      "S": SUCCEED}, ("state 'C'", "TimestampEquals")),
])
def test_structural_rules_and_unimplemented_fields_are_refused(
        states: dict[str, Any], needles: tuple[str, ...]) -> None:
    refused(machine(states), *needles)


def test_start_at_must_name_a_state() -> None:
    # SPEC "Top-level fields": StartAt MUST exactly match one of the state names
    refused({"StartAt": "Nope", "States": {"S": SUCCEED}}, "StartAt 'Nope'")


def test_state_names_are_unique_across_the_whole_definition() -> None:
    # SPEC "States": state names must be unique within the whole state machine, including
    # the states of a Map's ItemProcessor
    d = machine({"M": {"Type": "Map", "Next": "S", "ItemProcessor": {
        "StartAt": "S", "States": {"S": SUCCEED}}}, "S": SUCCEED})
    refused(d, "'S' is used twice")


def test_state_names_are_at_most_80_characters() -> None:
    # SPEC "States": a state name's length MUST be less than or equal to 80 characters
    assert run(machine({"N" * 80: SUCCEED})).status == "SUCCEEDED"
    refused(machine({"N" * 81: SUCCEED}), "81 characters")


def test_duplicate_json_keys_are_rejected(tmp_path: Path) -> None:
    # A JSON parser keeps the last of two equal keys silently; the definition AWS receives
    # has two states (or fields) with one name, which it rejects. The local loader does too.
    text = ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true},'
            ' "A": {"Type": "Succeed"}}}')
    path = tmp_path / "dup.asl.json"
    path.write_text(text, encoding="utf-8")
    for load in (lambda: load_definition(path), lambda: load_definition_file(path, {})):
        with pytest.raises(AslDefinitionError, match="duplicate key 'A'"):
            load()


def test_unknown_top_level_fields_are_refused() -> None:
    # SPEC "Top-level fields": StartAt, States, Comment, Version, TimeoutSeconds,
    # QueryLanguage (TimeoutSeconds: see the execution-timeout tests); anything else, such
    # as JSONata's top-level Variables support, is refused by name
    validate_definition({**machine({"S": SUCCEED}), "Version": "1.0", "Comment": "c",
                         "TimeoutSeconds": 60})
    with pytest.raises(AslDefinitionError, match="Variables"):
        validate_definition({**machine({"S": SUCCEED}), "Variables": {}})


# --------------------------------------------------------------------------- query languages


def test_jsonpath_states_cannot_use_jsonata_fields() -> None:
    # AWS, "Transforming data with JSONata": Arguments/Output/Assign belong to JSONata
    # states; JSONPath states use Parameters/ResultSelector/ResultPath/OutputPath
    refused(machine({"T": {"Type": "Task", "Resource": ECHO, "Arguments": {}, "End": True}}),
            "state 'T'", "Arguments")
    refused(machine({"P": {"Type": "Pass", "Output": {}, "End": True}}), "state 'P'", "Output")


def test_jsonata_states_cannot_use_jsonpath_fields() -> None:
    # AWS, "Transforming data with JSONata": in a JSONata state Parameters, InputPath,
    # ResultPath, OutputPath, ResultSelector are not allowed
    for bad in ("Parameters", "InputPath", "ResultPath", "OutputPath"):
        d = machine({"P": {"Type": "Pass", "QueryLanguage": "JSONata", bad: "$", "End": True}})
        refused(d, "state 'P'", bad)


def test_jsonata_is_limited_locally_to_pass_states_and_a_subset() -> None:
    # the local executor implements JSONata only on Pass (Output) with a small function set
    refused(machine({"T": {"Type": "Task", "QueryLanguage": "JSONata", "Resource": ECHO,
                           "End": True}}), "state 'T'", "JSONata is only supported on Pass")
    refused(machine({"P": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True,
                           "Output": "{% $uppercase('a') %}"}}), "$uppercase")
    refused(machine({"P": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True,
                           "Output": "{% $states.context.Execution.RoleArn %}"}}), "RoleArn")
    refused(machine({"S": SUCCEED}, QueryLanguage="JSONata"), "QueryLanguage")
    refused(machine({"P": {"Type": "Pass", "QueryLanguage": "XPath", "End": True}}), "XPath")


def test_jsonata_pass_output_and_default() -> None:
    # AWS, "Transforming data with JSONata": Output evaluates {% %} expressions over
    # $states.input / $states.context; without Output a Pass passes its input through
    d = machine({"A": {"Type": "Pass", "QueryLanguage": "JSONata", "Next": "B",
                       "Output": {"n.$ignored": 1, "sum": "{% $states.input.a + 2 %}",
                                  "who": "{% $states.context.Execution.Name %}"}},
                 "B": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True}})
    assert run(d, {"a": 1}).output == {"n.$ignored": 1, "sum": 3, "who": "run-1"}


def jsonata_pass(output: str) -> dict[str, Any]:
    return machine({"P": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True,
                          "Output": output}})


def test_jsonata_string_casts_follow_javascript_numbers() -> None:
    # JSONata (https://docs.jsonata.org/string-functions#string, "&" operator): numbers are
    # JavaScript doubles, so 2.0 prints "2"; other non-integers are rounded to 15 significant
    # digits by JSONata, which the executor does not reproduce: the run stops instead
    out = run(jsonata_pass("{% $states.input.n & '|' & $string($states.input.b) %}"),
              {"n": 2.0, "b": True}).output
    assert out == "2|true"
    result = run(jsonata_pass("{% 'x' & $states.input.f %}"), {"f": 0.1})
    assert result.error == "Local.UnsupportedFeature"


def test_jsonata_undefined_values_are_not_guessed() -> None:
    # JSONata yields "undefined" for a missing field and maps paths over arrays; how an
    # Output treats undefined is not reproduced, so the run stops with the feature named
    for data in ({}, {"a": [{"b": 1}]}):
        result = run(jsonata_pass("{% $states.input.a.b %}"), data)
        assert (result.error, result.failed_state) == ("Local.UnsupportedFeature", "P")


def test_jsonata_string_escapes_are_refused_at_load() -> None:
    # JSONata string literals take JSON-style escapes; the local subset does not parse them
    refused(jsonata_pass("{% 'a\\nb' %}"), "state 'P'", "escape sequences")
