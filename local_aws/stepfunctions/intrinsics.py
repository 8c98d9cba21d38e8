"""The ``States.*`` intrinsic functions: parser, load-time checks and implementations.

Sources (cited by the conformance suite, tests/unit/test_stepfunctions_conformance_*.py):
AWS, "Intrinsic functions for JSONPath states in Step Functions"
(https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html) and the
Amazon States Language specification, "Intrinsic Functions"
(https://states-language.net/spec.html#appendix-b).

Failures that depend on the data raise ``States.Runtime`` (what AWS reports when a payload
template cannot be evaluated); behaviour AWS does not document exactly raises
``Local.UnsupportedFeature`` (never catchable) rather than a guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from local_aws.stepfunctions.errors import runtime_error, unsupported
from local_aws.stepfunctions.jsonpath import get_path

# Escaped braces inside intrinsic string literals survive as these sentinels until the end.
_LBRACE, _RBRACE = "\x00", "\x01"
_INTRINSIC_PATH = re.compile(r"\$\$?(?:\.[A-Za-z_][A-Za-z0-9_\-]*|\[\d+\])*")
_ESCAPABLE = {"'": "'", "{": _LBRACE, "}": _RBRACE, "\\": "\\"}
"""The reserved characters of intrinsic strings, escaped with a backslash (AWS: "Reserved
characters in intrinsic functions": ' { } \\). Any other backslash sequence is refused."""

MAX_CALLS_PER_FIELD = 10
"""AWS: "You can nest up to 10 intrinsic functions within a field"."""
MAX_STRING_CHARS = 10_000
"""States.Base64Encode / Base64Decode / Hash: input limited to 10,000 characters (AWS)."""
MAX_RANGE_ITEMS = 1000
"""States.ArrayRange: "The new array can contain up to 1000 items" (AWS)."""
HASH_ALGORITHMS: dict[str, str] = {
    "MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512",
}
"""States.Hash algorithms AWS documents; anything else is an error."""
_INT32 = (-(2**31), 2**31 - 1)
"""States.MathAdd: AWS documents values in the range -2147483648 to 2147483647."""


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


_Node = _Lit | _PathArg | _Call


class IntrinsicParser:
    """Parse one intrinsic invocation; ``ValueError`` naming the problem if it is not valid."""

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
        m = re.compile(r"States\.[A-Za-z0-9]+").match(self.text, self.pos)
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
        args: list[_Node] = []
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

    def arg(self) -> _Node:
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
        m = re.compile(r"-?\d+(\.\d+)?|true|false").match(self.text, self.pos)
        if m is None:
            raise self.error("expected a string, number, boolean, path or intrinsic")
        self.pos = m.end()
        return _Lit(json.loads(m.group(0)))

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in _ESCAPABLE:
                    raise self.error(f"illegal escape '\\{nxt}' (only \\' \\{{ \\}} \\\\ exist)")
                out.append(_ESCAPABLE[nxt])
                self.pos += 2
                continue
            if ch == "'":
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated string")


# --------------------------------------------------------------------------- load-time checks

_ARITY: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None), "States.StringToJson": (1, 1), "States.JsonToString": (1, 1),
    "States.Array": (0, None), "States.ArrayPartition": (2, 2), "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3), "States.ArrayGetItem": (2, 2), "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1), "States.Base64Encode": (1, 1), "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2), "States.JsonMerge": (3, 3), "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2), "States.UUID": (0, 0),
}

STRING_INTRINSICS = frozenset({"States.Format", "States.JsonToString", "States.ArrayGetItem",
                               "States.Base64Encode", "States.Base64Decode", "States.Hash",
                               "States.UUID"})
"""The intrinsics AWS allows in a Fail state's ErrorPath / CausePath ("Fail workflow state")."""


def _calls(node: _Node) -> Iterator[_Call]:
    if isinstance(node, _Call):
        yield node
        for arg in node.args:
            yield from _calls(arg)


def intrinsic_paths(node: _Node) -> Iterator[str]:
    """Every JSONPath an intrinsic invocation reads (for the context-object checks)."""
    if isinstance(node, _PathArg):
        yield node.path
    elif isinstance(node, _Call):
        for arg in node.args:
            yield from intrinsic_paths(arg)


def _check_format_template(template: str) -> int:
    """Number of ``{}`` in a literal States.Format template; ValueError on a lone brace."""
    stripped = template.replace("{}", "")
    if "{" in stripped or "}" in stripped:
        raise ValueError(f"States.Format template {_unescape(template)!r} has an unescaped "
                         "'{' or '}' that is not part of '{}' (escape it as \\{ or \\})")
    return template.count("{}")


def check_intrinsic(text: str) -> _Call:
    """Parse and check an intrinsic at load time: known function, arity, literal arguments.

    Raises ``ValueError`` with the reason; the caller adds the state and field.
    """
    call = IntrinsicParser(text).parse()
    calls = list(_calls(call))
    if len(calls) > MAX_CALLS_PER_FIELD:
        raise ValueError(f"{len(calls)} intrinsic functions in one field; AWS allows at most "
                         f"{MAX_CALLS_PER_FIELD}")
    for c in calls:
        low, high = _ARITY[c.name]
        if len(c.args) < low or (high is not None and len(c.args) > high):
            want = f"{low}" if low == high else f"{low}+" if high is None else f"{low}-{high}"
            raise ValueError(f"{c.name} takes {want} argument(s), got {len(c.args)}")
        first = c.args[0] if c.args else None
        if c.name == "States.Format":
            if not (isinstance(first, _Lit) and isinstance(first.value, str)):
                raise ValueError("States.Format: the template must be a string literal")
            holes = _check_format_template(first.value)
            if holes != len(c.args) - 1:
                raise ValueError(f"States.Format: template has {holes} '{{}}' but "
                                 f"{len(c.args) - 1} argument(s)")
        if c.name == "States.Hash" and isinstance(c.args[1], _Lit) and (
                c.args[1].value not in HASH_ALGORITHMS):
            raise ValueError(f"States.Hash algorithm {c.args[1].value!r} is not one of "
                             f"{sorted(HASH_ALGORITHMS)}")
        if c.name == "States.JsonMerge" and isinstance(c.args[2], _Lit) and (
                c.args[2].value is not False):
            raise ValueError("States.JsonMerge: only shallow merging exists; the third "
                             "argument must be false")
    return call


# --------------------------------------------------------------------------- helpers


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_LBRACE, "{").replace(_RBRACE, "}")
    return value


def format_value(value: Any) -> str:
    """A value as text: strings as they are, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_int(fn: str, value: Any) -> int:
    """An integer argument: AWS rounds a non-integer number to the nearest integer.

    An exact .5 is refused: AWS does not document which way a tie rounds.
    """
    if not _is_number(value):
        raise runtime_error(f"{fn}: {format_value(value)} is not a number")
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        raise runtime_error(f"{fn}: {value} is not a finite number")
    if value - math.floor(value) == 0.5:
        raise unsupported(f"{fn}: {value} is halfway between two integers; AWS rounds "
                          "non-integers to the nearest integer but does not document ties")
    return round(value)


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values (true is not 1, 1 equals 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _require_list(fn: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise runtime_error(f"{fn}: {format_value(value)} is not an array")
    return value


def _require_str(fn: str, value: Any, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise runtime_error(f"{fn}: {format_value(value)} is not a string")
    if limit is not None and len(value) > limit:
        raise runtime_error(f"{fn}: input is {len(value)} characters; the limit is {limit}")
    return value


# --------------------------------------------------------------------------- functions


def _format(template: Any, *args: Any) -> str:
    if not isinstance(template, str):
        raise runtime_error("States.Format: the template must be a string")
    pieces = template.split("{}")  # escaped braces are still sentinels here
    out = _unescape(pieces[0])
    for arg, piece in zip(args, pieces[1:], strict=True):
        if isinstance(arg, dict | list):
            raise unsupported("States.Format with an object or array argument (AWS does not "
                              "document how it is rendered)")
        if isinstance(arg, float) and ("e" in repr(arg) or "inf" in repr(arg)):
            raise unsupported(f"States.Format with the number {arg!r} (exponent notation)")
        out += format_value(arg) + _unescape(piece)
    return out


def _string_to_json(text: Any) -> Any:
    # AWS answers null for an empty or all-blank string rather than failing the state
    if not _require_str("States.StringToJson", text).strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise runtime_error(f"States.StringToJson: not a JSON string ({exc})") from None


def _array_partition(array: Any, size: Any) -> list[list[Any]]:
    items = _require_list("States.ArrayPartition", array)
    chunk = _to_int("States.ArrayPartition", size)
    if chunk < 1:
        raise runtime_error("States.ArrayPartition: the chunk size must be a positive integer")
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


def _array_contains(array: Any, value: Any) -> bool:
    return any(_json_equal(item, value) for item in _require_list("States.ArrayContains", array))


def _array_range(first: Any, last: Any, step: Any) -> list[int]:
    start, stop, by = (_to_int("States.ArrayRange", v) for v in (first, last, step))
    if by == 0:
        raise runtime_error("States.ArrayRange: the step must not be 0")
    if (stop - start) * by < 0:
        raise unsupported("States.ArrayRange whose step points away from the last value "
                          "(AWS does not document the result)")
    count = (stop - start) // by + 1
    if count > MAX_RANGE_ITEMS:
        raise runtime_error(f"States.ArrayRange: {count} items; the limit is {MAX_RANGE_ITEMS}")
    return list(range(start, stop + (1 if by > 0 else -1), by))


def _array_get_item(array: Any, index: Any) -> Any:
    items = _require_list("States.ArrayGetItem", array)
    if not (isinstance(index, int) and not isinstance(index, bool)) or not (
            0 <= index < len(items)):
        raise runtime_error(f"States.ArrayGetItem: index {format_value(index)} is not a valid "
                            f"index of an array of {len(items)} item(s)")
    return items[index]


def _array_unique(array: Any) -> list[Any]:
    out: list[Any] = []
    for item in _require_list("States.ArrayUnique", array):
        if not any(_json_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _base64_encode(text: Any) -> str:
    raw = _require_str("States.Base64Encode", text, limit=MAX_STRING_CHARS).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _base64_decode(text: Any) -> str:
    encoded = _require_str("States.Base64Decode", text, limit=MAX_STRING_CHARS)
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise runtime_error(f"States.Base64Decode: not base64 of UTF-8 text ({exc})") from None


def _hash(data: Any, algorithm: Any) -> str:
    if not isinstance(data, str):
        raise unsupported("States.Hash of a non-string value (AWS does not document how it "
                          "is serialized before hashing)")
    text = _require_str("States.Hash", data, limit=MAX_STRING_CHARS)
    if algorithm not in HASH_ALGORITHMS:
        raise runtime_error(f"States.Hash: algorithm {format_value(algorithm)} is not one of "
                            f"{sorted(HASH_ALGORITHMS)}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def _json_merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    if deep is not False:
        raise runtime_error("States.JsonMerge: only shallow merging (false) is supported")
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise runtime_error("States.JsonMerge: both arguments must be JSON objects")
    return {**left, **right}


def _math_add(a: Any, b: Any) -> int:
    x, y = _to_int("States.MathAdd", a), _to_int("States.MathAdd", b)
    total = x + y
    for value in (x, y, total):
        if not _INT32[0] <= value <= _INT32[1]:
            raise runtime_error(f"States.MathAdd: {value} is outside -2147483648..2147483647")
    return total


def _string_split(text: Any, sep: Any) -> list[str]:
    value = _require_str("States.StringSplit", text)
    chars = _require_str("States.StringSplit", sep)
    if chars == "":
        raise unsupported("States.StringSplit with an empty separator")
    # AWS's example: "This.is+a,test=string" split on ".+,=" gives the five words, i.e.
    # every character of the separator string splits.
    pieces = re.split("|".join(map(re.escape, chars)), value)
    if any(p == "" for p in pieces):
        raise unsupported("States.StringSplit producing an empty piece (leading, trailing or "
                          "adjacent separators, or an empty string): AWS does not document it")
    return pieces


INTRINSICS: dict[str, Callable[..., Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": lambda value: json.dumps(value, separators=(",", ":"),
                                                    ensure_ascii=False),
    "States.Array": lambda *values: list(values),
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": lambda array: len(_require_list("States.ArrayLength", array)),
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
"""The intrinsic functions the local executor implements (others, e.g. States.MathRandom,
are refused at load)."""


def eval_intrinsic(node: _Node, data: Any, ctx: Mapping[str, Any]) -> Any:
    """Evaluate a parsed intrinsic against the state's input and the context object."""
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _PathArg):
        return get_path(data, node.path, ctx)
    # Escaped braces of string literals stay sentinels only in a States.Format template,
    # where they must not read as placeholders; every other literal is plain text here,
    # and values read from the data are never touched.
    args = [_literal_text(a) if isinstance(a, _Lit) and not (
                node.name == "States.Format" and i == 0) else eval_intrinsic(a, data, ctx)
            for i, a in enumerate(node.args)]
    return INTRINSICS[node.name](*args)


def _literal_text(node: _Lit) -> Any:
    return _unescape(node.value)
