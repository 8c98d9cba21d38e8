"""The ``States.*`` intrinsic functions: parser and implementations."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local_aws.stepfunctions.errors import runtime_error
from local_aws.stepfunctions.paths import get_path

# --------------------------------------------------------------------------- intrinsics

# Escaped braces inside intrinsic string literals survive as these sentinels until the end.
_LBRACE, _RBRACE = "\x00", "\x01"
_INTRINSIC_PATH = re.compile(r"\$\$?(?:\.[A-Za-z_][A-Za-z0-9_\-]*|\[\d+\])*")


@dataclass(frozen=True)
class _Lit:
    value: Any


@dataclass(frozen=True)
class _PathArg:
    path: str


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Lit | _PathArg | _Call, ...]


class IntrinsicParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"intrinsic {self.text!r}: {message} at offset {self.pos}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def parse(self) -> _Call:
        call = self.call()
        self.skip_ws()
        if self.pos != len(self.text):
            raise self.error("unexpected trailing text")
        return call

    def call(self) -> _Call:
        m = re.compile(r"States\.[A-Za-z]+").match(self.text, self.pos)
        if m is None:
            raise self.error("expected States.<Function>(")
        name = m.group(0)
        if name not in INTRINSICS:
            raise ValueError(f"intrinsic function {name} is not supported by the local executor")
        self.pos = m.end()
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.error("expected '('")
        self.pos += 1
        args: list[_Lit | _PathArg | _Call] = []
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
            return _Call(name, ())
        while True:
            self.skip_ws()
            args.append(self.arg())
            self.skip_ws()
            ch = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == ")":
                return _Call(name, tuple(args))
            if ch != ",":
                raise self.error("expected ',' or ')'")

    def arg(self) -> _Lit | _PathArg | _Call:
        ch = self.text[self.pos : self.pos + 1]
        if ch == "'":
            return _Lit(self.string())
        if ch == "$":
            m = _INTRINSIC_PATH.match(self.text, self.pos)
            assert m is not None
            self.pos = m.end()
            return _PathArg(m.group(0))
        if self.text.startswith("States.", self.pos):
            return self.call()
        m = re.compile(r"-?\d+(\.\d+)?|true|false|null").match(self.text, self.pos)
        if m is None:
            raise self.error("expected a string, number, path or intrinsic")
        self.pos = m.end()
        return _Lit(json.loads(m.group(0)))

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append({"{": _LBRACE, "}": _RBRACE}.get(nxt, nxt))
                self.pos += 2
                continue
            if ch == "'":
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated string")


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_LBRACE, "{").replace(_RBRACE, "}")
    return value


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return _unescape(value)
    return json.dumps(value, separators=(",", ":"))


def _intrinsic_format(template: Any, *args: Any) -> str:
    if not isinstance(template, str):
        raise runtime_error("States.Format: the template must be a string")
    pieces = template.split("{}")
    if len(pieces) - 1 != len(args):
        raise runtime_error(
            f"States.Format: template has {len(pieces) - 1} placeholder(s) "
            f"but {len(args)} argument(s)"
        )
    out = pieces[0]
    for arg, piece in zip(args, pieces[1:], strict=True):
        out += format_value(arg) + piece
    return _unescape(out)


def _intrinsic_string_to_json(text: Any) -> Any:
    try:
        return json.loads(_unescape(text))
    except (TypeError, json.JSONDecodeError) as exc:
        raise runtime_error(f"States.StringToJson: not a JSON string ({exc})") from None


def _intrinsic_array_get_item(array: Any, index: Any) -> Any:
    if not isinstance(array, list) or not isinstance(index, int) or not 0 <= index < len(array):
        raise runtime_error("States.ArrayGetItem: index out of range")
    return array[index]


def _intrinsic_math_add(a: Any, b: Any) -> Any:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        raise runtime_error("States.MathAdd: arguments must be integers")
    return a + b


def _intrinsic_string_split(text: Any, sep: Any) -> list[str]:
    if not isinstance(text, str) or not isinstance(sep, str):
        raise runtime_error("States.StringSplit: arguments must be strings")
    return [p for p in re.split("|".join(map(re.escape, _unescape(sep))), _unescape(text)) if p]


INTRINSICS: dict[str, Callable[..., Any]] = {
    "States.Format": _intrinsic_format,
    "States.StringToJson": _intrinsic_string_to_json,
    "States.JsonToString": lambda value: json.dumps(value, separators=(",", ":")),
    "States.Array": lambda *values: list(values),
    "States.ArrayLength": lambda array: len(array) if isinstance(array, list) else 0,
    "States.ArrayGetItem": _intrinsic_array_get_item,
    "States.MathAdd": _intrinsic_math_add,
    "States.StringSplit": _intrinsic_string_split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
"""The intrinsic functions the local executor implements (others are refused)."""


def eval_intrinsic(node: _Lit | _PathArg | _Call, data: Any, ctx: Mapping[str, Any]) -> Any:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _PathArg):
        return get_path(data, node.path, ctx)
    args = [eval_intrinsic(a, data, ctx) for a in node.args]
    try:
        result = INTRINSICS[node.name](*args)
    except TypeError as exc:
        raise runtime_error(f"{node.name}: {exc}") from None
    return _unescape(result) if node.name != "States.Format" else result


