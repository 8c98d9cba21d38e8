"""What a definition must satisfy when it is loaded: structure, and only implemented features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local_aws.stepfunctions.choice import string_matches_regex
from local_aws.stepfunctions.intrinsics import (
    STRING_INTRINSICS,
    check_intrinsic,
    intrinsic_paths,
)
from local_aws.stepfunctions.jsonata import JsonataParser, jsonata_paths, jsonata_templates
from local_aws.stepfunctions.jsonpath import parse_path
from orchestration.definition import AslDefinitionError

# --------------------------------------------------------------------------- validation

_IO = {"InputPath", "OutputPath"}
_FLOW = {"Type", "Comment", "Next", "End", "QueryLanguage"}
_FIELDS: dict[str, set[str]] = {
    "Task": _FLOW | _IO | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry",
                           "Catch", "TimeoutSeconds"},
    "Pass": _FLOW | _IO | {"Result", "ResultPath", "Parameters"},
    "Choice": {"Type", "Comment", "QueryLanguage", "Choices", "Default"} | _IO,
    "Wait": _FLOW | _IO | {"Seconds", "SecondsPath"},
    "Map": _FLOW | _IO | {"ItemsPath", "ItemSelector", "Parameters", "ItemProcessor", "Iterator",
                          "MaxConcurrency", "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Succeed": {"Type", "Comment", "QueryLanguage"} | _IO,
    "Fail": {"Type", "Comment", "QueryLanguage", "Error", "Cause", "ErrorPath", "CausePath"},
}
_JSONATA_FIELDS: dict[str, set[str]] = {"Pass": {"Type", "Comment", "QueryLanguage", "Output",
                                                 "Next", "End"}}
_TOP_FIELDS = {"StartAt", "States", "Comment", "Version", "QueryLanguage", "TimeoutSeconds"}
_MAX_EXECUTION_SECONDS = 31_536_000  # Standard workflows run at most one year
_PROCESSOR_FIELDS = {"StartAt", "States", "Comment", "ProcessorConfig"}
_RETRY_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                 "MaxDelaySeconds", "JitterStrategy", "Comment"}
_CATCH_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment"}
_OPERATORS = {
    f"{kind}{cmp}{suffix}"
    for kind, cmps in (
        ("String", ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")),
        ("Numeric", ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")),
        ("Boolean", ("Equals",)),
    )
    for cmp in cmps
    for suffix in ("", "Path")
} | {"StringMatches", "IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean"}


MAX_STATE_NAME = 80
"""ASL spec, "States": a state name's length must be at most 80 Unicode characters."""
_RETRY_MAX = {"IntervalSeconds": 99_999_999, "MaxAttempts": 99_999_999,
              "MaxDelaySeconds": 31_622_400}
"""Upper bounds AWS documents for the Retry fields ("Handling errors ... Retrier fields")."""
KNOWN_STATES_ERRORS = frozenset({
    "States.ALL", "States.HeartbeatTimeout", "States.Timeout", "States.TaskFailed",
    "States.Permissions", "States.ResultPathMatchFailure", "States.ParameterPathFailure",
    "States.QueryEvaluationError", "States.BranchFailed", "States.NoChoiceMatched",
    "States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed", "States.ResultWriterFailed",
})
"""Predefined error names a retrier/catcher may list (ASL spec appendix A, AWS "Error
names"). ``States.Runtime`` and ``States.DataLimitExceeded`` are deliberately absent:
``States.ALL`` cannot catch them and whether naming them explicitly does is not documented,
so a definition naming them is refused."""

# The context object (AWS, "Accessing execution data from the Context object"): the leaves
# the local executor fills exactly. RoleArn (no role locally), RedriveTime (no redrive) and
# Task.Token (no callback tasks) are refused, and so is $$ / $$.Execution as a whole, which
# would lack RoleArn.
_CONTEXT_LEAVES: frozenset[tuple[str, ...]] = frozenset({
    ("Execution", "Id"), ("Execution", "Name"), ("Execution", "StartTime"),
    ("Execution", "Input"), ("Execution", "RedriveCount"),
    ("State",), ("State", "Name"), ("State", "EnteredTime"), ("State", "RetryCount"),
    ("StateMachine",), ("StateMachine", "Id"), ("StateMachine", "Name"),
})
_MAP_CONTEXT: frozenset[tuple[str, ...]] = frozenset({
    ("Map",), ("Map", "Item"), ("Map", "Item", "Index"), ("Map", "Item", "Value"),
})


def _check_context(where: str, fieldname: str, path: str, *, map_item: bool) -> None:
    is_context, steps = parse_path(path)
    if not is_context:
        return
    names = tuple(s for s in steps if isinstance(s, str))
    for depth in range(len(steps), 0, -1):
        head = tuple(steps[:depth])
        if head in _CONTEXT_LEAVES or (map_item and head in _MAP_CONTEXT):
            open_ended = head in {("Execution", "Input"), ("Map", "Item", "Value")}
            if depth == len(steps) or open_ended:
                return
    if names[:1] == ("Map",) and not map_item:
        raise AslDefinitionError(
            f"{where}: {fieldname}: {path!r}: the Map context ($$.Map) exists only in a Map "
            "state's ItemSelector (or legacy Parameters)")
    raise AslDefinitionError(
        f"{where}: {fieldname}: context object path {path!r} is not supported by the local "
        "executor (it provides $$.Execution.Id/Name/StartTime/Input/RedriveCount, "
        "$$.State.*, $$.StateMachine.*, and $$.Map.Item.* in a Map's ItemSelector)")


def _check_path(where: str, fieldname: str, value: Any, *, nullable: bool = False,
                map_item: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise AslDefinitionError(f"{where}: {fieldname} must be a path string")
    try:
        parse_path(value)
    except ValueError as exc:
        raise AslDefinitionError(f"{where}: {fieldname}: {exc}") from None
    _check_context(where, fieldname, value, map_item=map_item)


def _check_result_path(where: str, fieldname: str, value: Any) -> None:
    """ResultPath (state or catcher): null, or a reference path into the state input."""
    _check_path(where, fieldname, value, nullable=True)
    if value is None:
        return
    is_context, steps = parse_path(value)
    if is_context:
        raise AslDefinitionError(f"{where}: {fieldname} {value!r} cannot write to the context "
                                 "object")
    if any(isinstance(s, int) for s in steps):
        raise AslDefinitionError(
            f"{where}: {fieldname} {value!r}: writing into an array element is not supported "
            "by the local executor (AWS's behaviour is not documented)")


def _check_intrinsic(where: str, fieldname: str, text: str, *, map_item: bool,
                     allowed: frozenset[str] | None = None) -> None:
    try:
        call = check_intrinsic(text)
    except ValueError as exc:
        raise AslDefinitionError(f"{where}: {fieldname}: {exc}") from None
    if allowed is not None and call.name not in allowed:
        raise AslDefinitionError(
            f"{where}: {fieldname}: {call.name} does not return a string; AWS allows only "
            f"{sorted(allowed)} here")
    for path in intrinsic_paths(call):
        _check_context(where, fieldname, path, map_item=map_item)


def _check_payload_template(where: str, template: Any, *, map_item: bool = False) -> None:
    """Validate ``.$`` keys of a Parameters / ResultSelector / ItemSelector template."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                if key[:-2] in template:
                    raise AslDefinitionError(f"{where}: both {key[:-2]!r} and {key!r} are set")
                if not isinstance(value, str):
                    raise AslDefinitionError(f"{where}: {key!r} must be a path or intrinsic")
                if value.startswith("States."):
                    _check_intrinsic(where, repr(key), value, map_item=map_item)
                else:
                    _check_path(where, repr(key), value, map_item=map_item)
            else:
                _check_payload_template(where, value, map_item=map_item)
    elif isinstance(template, list):
        for item in template:
            _check_payload_template(where, item, map_item=map_item)


def _check_rule(where: str, rule: Any, states: Mapping[str, Any], *, top: bool) -> None:
    if not isinstance(rule, dict):
        raise AslDefinitionError(f"{where}: a choice rule must be an object")
    keys = set(rule) - {"Comment"}
    if top:
        if rule.get("Next") not in states:
            raise AslDefinitionError(
                f"{where}: choice rule Next {rule.get('Next')!r} is not a state"
            )
        keys.discard("Next")
    elif "Next" in rule:
        raise AslDefinitionError(f"{where}: a nested choice rule must not have Next")
    for combinator in ("And", "Or"):
        if combinator in keys:
            operands = rule[combinator]
            if keys != {combinator} or not isinstance(operands, list) or not operands:
                raise AslDefinitionError(f"{where}: {combinator} must be a non-empty list alone")
            for sub in rule[combinator]:
                _check_rule(where, sub, states, top=False)
            return
    if "Not" in keys:
        if keys != {"Not"}:
            raise AslDefinitionError(f"{where}: Not must stand alone in its rule")
        _check_rule(where, rule["Not"], states, top=False)
        return
    ops = keys - {"Variable"}
    unknown = ops - _OPERATORS
    if unknown:
        raise AslDefinitionError(
            f"{where}: choice operator(s) not supported by the local executor: {sorted(unknown)}"
        )
    if "Variable" not in keys or len(ops) != 1:
        raise AslDefinitionError(f"{where}: a choice rule needs Variable and exactly one operator")
    _check_path(where, "Variable", rule["Variable"])
    op = next(iter(ops))
    if op.endswith("Path"):
        _check_path(where, op, rule[op])
    elif op == "StringMatches":
        if not isinstance(rule[op], str):
            raise AslDefinitionError(f"{where}: StringMatches needs a string pattern")
        try:
            string_matches_regex(rule[op])
        except ValueError as exc:
            raise AslDefinitionError(f"{where}: {exc}") from None


def _check_catchers(where: str, name: str, entries: Any, allowed: set[str],
                    states: Mapping[str, Any] | None) -> None:
    if not isinstance(entries, list):
        raise AslDefinitionError(f"{where}: {name} must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise AslDefinitionError(f"{where}: {name}[{i}] must be an object")
        unknown = set(entry) - allowed
        if unknown:
            raise AslDefinitionError(
                f"{where}: {name}[{i}] field(s) not supported by the local executor: "
                f"{sorted(unknown)}"
            )
        errors = entry.get("ErrorEquals")
        if not (isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors)):
            raise AslDefinitionError(f"{where}: {name}[{i}].ErrorEquals must be a non-empty list")
        if "States.ALL" in errors and (len(errors) != 1 or i != len(entries) - 1):
            raise AslDefinitionError(
                f"{where}: {name}[{i}]: States.ALL must appear alone and in the last entry"
            )
        for error in errors:
            if error in ("States.Runtime", "States.DataLimitExceeded"):
                raise AslDefinitionError(
                    f"{where}: {name}[{i}] names {error}: AWS documents it as not caught by "
                    "States.ALL but not whether naming it works; the local executor refuses it")
            if error.startswith("States.") and error not in KNOWN_STATES_ERRORS:
                raise AslDefinitionError(
                    f"{where}: {name}[{i}]: {error!r} is not a predefined error name (names "
                    "starting with 'States.' are reserved)")
        if states is not None:
            if entry.get("Next") not in states:
                raise AslDefinitionError(
                    f"{where}: {name}[{i}].Next {entry.get('Next')!r} is not a state"
                )
            if "ResultPath" in entry:
                _check_result_path(where, "Catch ResultPath", entry["ResultPath"])
        else:
            if entry.get("JitterStrategy", "NONE") not in ("NONE", "FULL"):
                raise AslDefinitionError(f"{where}: JitterStrategy must be NONE or FULL")
            for num, low in (("IntervalSeconds", 1), ("MaxAttempts", 0), ("MaxDelaySeconds", 1)):
                value = entry.get(num, low)
                if (not isinstance(value, int) or isinstance(value, bool)
                        or not low <= value <= _RETRY_MAX[num]):
                    raise AslDefinitionError(f"{where}: {name}[{i}].{num} must be an integer "
                                             f"in {low}..{_RETRY_MAX[num]}")
            rate = entry.get("BackoffRate", 2.0)
            if not isinstance(rate, int | float) or rate < 1:
                raise AslDefinitionError(f"{where}: {name}[{i}].BackoffRate must be >= 1")


def _check_state(machine_where: str, name: str, state: Any, states: Mapping[str, Any],
                 top_language: str, *, in_map: bool = False) -> list[str]:
    """Validate one state; return the names it can transition to."""
    where = f"{machine_where}state {name!r}"
    if not isinstance(state, dict):
        raise AslDefinitionError(f"{where}: must be an object")
    stype = state.get("Type")
    if stype not in _FIELDS:
        raise AslDefinitionError(
            f"{where}: state type {stype!r} is not supported by the local executor"
        )
    language = state.get("QueryLanguage", top_language)
    if language == "JSONata":
        allowed = _JSONATA_FIELDS.get(stype)
        if allowed is None:
            raise AslDefinitionError(
                f"{where}: QueryLanguage JSONata is only supported on Pass states locally"
            )
        for text in jsonata_templates(state.get("Output")):
            try:
                tree = JsonataParser(text).parse()
            except ValueError as exc:
                raise AslDefinitionError(f"{where}: {exc}") from None
            for steps in jsonata_paths(tree):
                if steps[0] == "context":  # $states.context is the same context object
                    _check_context(where, "Output", "$$" + "".join(f".{s}" for s in steps[1:]),
                                   map_item=False)
    elif language == "JSONPath":
        allowed = _FIELDS[stype]
    else:
        raise AslDefinitionError(f"{where}: unknown QueryLanguage {language!r}")
    unknown = set(state) - allowed
    if unknown:
        raise AslDefinitionError(
            f"{where}: field(s) not supported by the local executor: {sorted(unknown)}"
        )
    targets: list[str] = []
    if stype in ("Task", "Pass", "Wait", "Map"):
        if ("Next" in state) == bool(state.get("End")):
            raise AslDefinitionError(f"{where}: needs exactly one of Next or End: true")
        if "Next" in state:
            if state["Next"] not in states:
                raise AslDefinitionError(f"{where}: Next {state['Next']!r} is not a state")
            targets.append(state["Next"])
    for path_field in ("InputPath", "OutputPath"):
        if path_field in state:
            _check_path(where, path_field, state[path_field], nullable=True)
    if "ResultPath" in state:
        _check_result_path(where, "ResultPath", state["ResultPath"])
    for template in ("Parameters", "ResultSelector", "ItemSelector"):
        if template in state:
            _check_payload_template(f"{where} {template}", state[template],
                                    map_item=stype == "Map" and template != "ResultSelector")
    if stype == "Pass" and "Result" in state and "Parameters" in state:
        raise AslDefinitionError(
            f"{where}: Result and Parameters together (Result would replace what Parameters "
            "builds; refused rather than guessed)")
    if "Retry" in state:
        _check_catchers(where, "Retry", state["Retry"], _RETRY_FIELDS, None)
    if "Catch" in state:
        _check_catchers(where, "Catch", state["Catch"], _CATCH_FIELDS, states)
        targets.extend(c["Next"] for c in state["Catch"])
    if stype == "Task" and not isinstance(state.get("Resource"), str):
        raise AslDefinitionError(f"{where}: Resource must be a string")
    if stype == "Task" and "TimeoutSeconds" in state and (
        not isinstance(state["TimeoutSeconds"], int) or state["TimeoutSeconds"] <= 0
    ):
        raise AslDefinitionError(f"{where}: TimeoutSeconds must be a positive integer")
    if stype == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise AslDefinitionError(f"{where}: Choices must be a non-empty list")
        for rule in choices:
            _check_rule(where, rule, states, top=True)
            targets.append(rule["Next"])
        if "Default" in state:
            if state["Default"] not in states:
                raise AslDefinitionError(f"{where}: Default {state['Default']!r} is not a state")
            targets.append(state["Default"])
    if stype == "Wait":
        if ("Seconds" in state) == ("SecondsPath" in state):
            raise AslDefinitionError(f"{where}: needs exactly one of Seconds or SecondsPath")
        seconds = state.get("Seconds", 0)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not (
                0 <= seconds <= 99_999_999):  # AWS, "Wait workflow state"
            raise AslDefinitionError(f"{where}: Seconds must be an integer in 0..99999999")
        if "SecondsPath" in state:
            _check_path(where, "SecondsPath", state["SecondsPath"])
    if stype == "Fail":
        for a, b in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if a in state and b in state:
                raise AslDefinitionError(f"{where}: {a} and {b} are exclusive")
        for path_field in ("ErrorPath", "CausePath"):
            value = state.get(path_field)
            if isinstance(value, str) and value.startswith("States."):
                _check_intrinsic(where, path_field, value, map_item=False,
                                 allowed=STRING_INTRINSICS)
            elif path_field in state:
                _check_path(where, path_field, value)
        for text_field in ("Error", "Cause"):
            if text_field in state and not isinstance(state[text_field], str):
                raise AslDefinitionError(f"{where}: {text_field} must be a string")
        if in_map and "Error" not in state and "ErrorPath" not in state:
            raise AslDefinitionError(
                f"{where}: a Fail without Error inside a Map: how the Map's Retry/Catch match "
                "an error with no name is not documented; give it an Error")
    if stype == "Map":
        if "ItemsPath" in state:
            _check_path(where, "ItemsPath", state["ItemsPath"])
        if "ItemSelector" in state and "Parameters" in state:
            raise AslDefinitionError(f"{where}: use ItemSelector or Parameters, not both")
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if ("ItemProcessor" in state) == ("Iterator" in state) or not isinstance(processor, dict):
            raise AslDefinitionError(f"{where}: needs exactly one of ItemProcessor or Iterator")
        unknown = set(processor) - _PROCESSOR_FIELDS
        if unknown:
            raise AslDefinitionError(
                f"{where}: ItemProcessor field(s) not supported locally: {sorted(unknown)}"
            )
        config = processor.get("ProcessorConfig", {})
        if config not in ({}, {"Mode": "INLINE"}):
            raise AslDefinitionError(f"{where}: only the INLINE Map mode is supported locally")
        mc = state.get("MaxConcurrency", 0)
        if not isinstance(mc, int) or mc < 0:
            raise AslDefinitionError(f"{where}: MaxConcurrency must be an integer >= 0")
        _check_machine(processor, f"{where} ItemProcessor: ", language, in_map=True)
    return targets


def _check_machine(machine: Mapping[str, Any], where: str, language: str, *,
                   in_map: bool = False) -> None:
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        raise AslDefinitionError(f"{where}States must be a non-empty object")
    start = machine.get("StartAt")
    if start not in states:
        raise AslDefinitionError(f"{where}StartAt {start!r} is not a state")
    edges = {name: _check_state(where, name, st, states, language, in_map=in_map)
             for name, st in states.items()}
    if not any(st.get("Type") in ("Succeed", "Fail") or st.get("End") for st in states.values()):
        raise AslDefinitionError(f"{where}no terminal state (Succeed, Fail or End: true)")
    seen, todo = set(), [start]
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(edges[cur])
    unreachable = sorted(set(states) - seen)
    if unreachable:
        raise AslDefinitionError(f"{where}state(s) unreachable from StartAt: {unreachable}")


def validate_definition(definition: Mapping[str, Any]) -> None:
    """Check structure and that every feature used is implemented locally.

    Raises :class:`AslDefinitionError` with a message naming the state and field.
    Checks: known state types and fields, every Next/Default/Catch target exists,
    every state reachable, a terminal state exists, Retry/Catch ``States.ALL`` alone
    and last, paths and intrinsics parse, choice operators known.
    """
    if not isinstance(definition, Mapping):
        raise AslDefinitionError("a definition must be a JSON object")
    unknown = set(definition) - _TOP_FIELDS
    if unknown:
        raise AslDefinitionError(
            f"top-level field(s) not supported by the local executor: {sorted(unknown)}"
        )
    timeout = definition.get("TimeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)
                                or not 0 < timeout <= _MAX_EXECUTION_SECONDS):
        raise AslDefinitionError(
            f"top-level TimeoutSeconds must be an integer from 1 to {_MAX_EXECUTION_SECONDS}"
            f" (a Standard workflow's one-year limit), got {timeout!r}")
    language = definition.get("QueryLanguage", "JSONPath")
    if language != "JSONPath":
        raise AslDefinitionError(
            f"top-level QueryLanguage {language!r}: only JSONPath is supported"
        )
    _check_state_names(definition)
    _check_machine(definition, "", "JSONPath")


def _all_state_names(machine: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    states = machine.get("States")
    if not isinstance(states, dict):
        return names
    for name, state in states.items():
        names.append(name)
        if isinstance(state, dict):
            processor = state.get("ItemProcessor", state.get("Iterator"))
            if isinstance(processor, dict):
                names.extend(_all_state_names(processor))
    return names


def _check_state_names(definition: Mapping[str, Any]) -> None:
    """ASL spec, "States": names are unique across the whole machine (Map processors
    included) and at most 80 characters."""
    seen: set[str] = set()
    for name in _all_state_names(definition):
        if len(name) > MAX_STATE_NAME:
            raise AslDefinitionError(f"state name {name[:20]!r}... is {len(name)} characters; "
                                     f"the limit is {MAX_STATE_NAME}")
        if name in seen:
            raise AslDefinitionError(f"state name {name!r} is used twice (names must be "
                                     "unique across the whole definition, Map states included)")
        seen.add(name)


