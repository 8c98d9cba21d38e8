"""JSONPath and reference paths: InputPath, OutputPath, ResultPath and path look-ups."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from local_aws.stepfunctions.errors import StatesError, runtime_error

# --------------------------------------------------------------------------- JSONPath subset

_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['([^']*)'\]")

PathStep = str | int


def parse_path(path: str) -> tuple[bool, tuple[PathStep, ...]]:
    """Parse ``$...`` or ``$$...`` into (is_context, steps); ValueError if unsupported."""
    if path.startswith("$$"):
        is_context, rest = True, path[2:]
    elif path.startswith("$"):
        is_context, rest = False, path[1:]
    else:
        raise ValueError(f"path {path!r} must start with '$'")
    steps: list[PathStep] = []
    pos = 0
    while pos < len(rest):
        m = _PATH_STEP.match(rest, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r} (near {rest[pos:]!r})")
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) is not None:
            steps.append(int(m.group(2)))
        else:
            steps.append(m.group(3))
        pos = m.end()
    return is_context, tuple(steps)


def get_path(data: Any, path: str, context: Mapping[str, Any]) -> Any:
    try:
        is_context, steps = parse_path(path)
    except ValueError as exc:
        raise runtime_error(str(exc)) from None
    node: Any = context if is_context else data
    for step in steps:
        in_list = isinstance(step, int) and isinstance(node, list) and step < len(node)
        in_dict = isinstance(step, str) and isinstance(node, dict) and step in node
        if in_list or in_dict:
            node = node[step]
        else:
            raise runtime_error(f"JSONPath {path!r} could not be found in the input")
    return node


def is_present(data: Any, path: str, context: Mapping[str, Any]) -> bool:
    try:
        get_path(data, path, context)
    except StatesError:
        return False
    return True


def apply_result_path(state_input: Any, result_path: Any, result: Any) -> Any:
    if result_path is None:
        return state_input
    if result_path == "$":
        return result
    _, steps = parse_path(result_path)
    out = copy.deepcopy(state_input)
    if not isinstance(out, dict):
        raise StatesError(
            "States.ResultPathMatchFailure", f"cannot apply ResultPath {result_path!r}"
        )
    node = out
    for step in steps[:-1]:
        if not isinstance(step, str):
            raise StatesError("States.ResultPathMatchFailure", f"ResultPath {result_path!r}")
        nxt = node.setdefault(step, {})
        if not isinstance(nxt, dict):
            raise StatesError(
                "States.ResultPathMatchFailure",
                f"ResultPath {result_path!r}: {step!r} is not an object",
            )
        node = nxt
    last = steps[-1]
    if not isinstance(last, str):
        raise StatesError("States.ResultPathMatchFailure", f"ResultPath {result_path!r}")
    node[last] = result
    return out




def select_path(data: Any, path: Any, ctx: Mapping[str, Any]) -> Any:
    """InputPath / OutputPath: ``null`` selects ``{}``, ``$`` everything, else the path."""
    if path is None:
        return {}
    return data if path == "$" else get_path(data, path, ctx)
