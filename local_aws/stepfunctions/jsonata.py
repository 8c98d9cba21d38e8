"""The JSONata subset of ``QueryLanguage: JSONata`` states."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from local_aws.stepfunctions.errors import StatesError, unsupported
from orchestration.definition import walk_strings

# --------------------------------------------------------------------------- JSONata subset

_JSONATA_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<var>\$[A-Za-z_]\w*)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>[.,:()\[\]{}+\-*&]))"
)


def _iso_to_millis(text: Any) -> int:
    if not isinstance(text, str):
        raise StatesError("States.QueryEvaluationError", "$toMillis expects a string")
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StatesError(
            "States.QueryEvaluationError", f"$toMillis: not an ISO 8601 timestamp: {text!r}"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


_PICTURE = {
    "[Y0001]": "%Y", "[M01]": "%m", "[D01]": "%d", "[H01]": "%H", "[m01]": "%M", "[s01]": "%S",
}


def _picture_to_strftime(picture: str) -> str:
    out, pos = "", 0
    while pos < len(picture):
        if picture[pos] == "[":
            end = picture.find("]", pos)
            marker = picture[pos : end + 1]
            if end < 0 or marker not in _PICTURE:
                bad = marker or picture[pos:]
                raise ValueError(f"$fromMillis picture component {bad!r} is not supported")
            out += _PICTURE[marker]
            pos = end + 1
        else:
            out += picture[pos].replace("%", "%%")
            pos += 1
    return out


def _from_millis(ms: Any, picture: Any = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01]Z") -> str:
    if not isinstance(ms, int | float) or not isinstance(picture, str):
        raise StatesError("States.QueryEvaluationError", "$fromMillis(number, picture)")
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime(_picture_to_strftime(picture))


JSONATA_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "$toMillis": _iso_to_millis,
    "$fromMillis": _from_millis,
    "$string": lambda v: _jsonata_string(v),
}
"""The JSONata functions the local executor implements (others are refused)."""

_JNode = tuple[Any, ...]


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return False


def _jsonata_string(value: Any) -> str:
    """JSONata's cast to string (``$string``, ``&``) where it is unambiguous.

    Integral numbers print without a fraction (JSONata uses JavaScript numbers: 2.0 is
    "2"); other non-integers are rounded by JSONata to 15 significant digits, which is
    not reproduced, so they stop the run rather than print differently.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if _has_float(value):
        raise unsupported(f"JSONata string of the non-integer number(s) in {value!r}")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class JsonataParser:
    """Recursive descent over a tiny JSONata subset: literals, ``$states`` paths,
    objects, arrays, ``+ - * &`` and calls to :data:`JSONATA_FUNCTIONS`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _JSONATA_TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"JSONata {text!r}: unsupported syntax near {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"JSONata {self.text!r}: expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> _JNode:
        node = self.expr()
        if self.peek()[0] != "eof":
            raise ValueError(f"JSONata {self.text!r}: unexpected {self.peek()[1]!r}")
        return node

    def expr(self) -> _JNode:
        node = self.term()
        while self.peek()[1] in ("+", "-", "&"):
            op = self.take()[1]
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> _JNode:
        node = self.primary()
        while self.peek()[1] == "*":
            self.take()
            node = ("bin", "*", node, self.primary())
        return node

    def primary(self) -> _JNode:
        kind, value = self.take()
        if kind == "num":
            return ("lit", json.loads(value))
        if kind == "str":
            if "\\" in value:
                raise ValueError(f"JSONata {self.text!r}: escape sequences in string literals "
                                 "are not supported by the local executor")
            return ("lit", value[1:-1])
        if kind == "op" and value == "(":
            node = self.expr()
            self.take(")")
            return node
        if kind == "op" and value == "{":
            items: list[tuple[str, _JNode]] = []
            while self.peek()[1] != "}":
                key_kind, key = self.take()
                if key_kind != "str":
                    raise ValueError(f"JSONata {self.text!r}: object keys must be strings")
                self.take(":")
                items.append((key[1:-1], self.expr()))
                if self.peek()[1] == ",":
                    self.take()
            self.take("}")
            return ("obj", tuple(items))
        if kind == "op" and value == "[":
            elems: list[_JNode] = []
            while self.peek()[1] != "]":
                elems.append(self.expr())
                if self.peek()[1] == ",":
                    self.take()
            self.take("]")
            return ("arr", tuple(elems))
        if kind == "var" and value == "$states":
            steps: list[str] = []
            while self.peek()[1] == ".":
                self.take()
                name_kind, name = self.take()
                if name_kind != "name":
                    raise ValueError(f"JSONata {self.text!r}: expected a field name after '.'")
                steps.append(name)
            if not steps or steps[0] not in ("input", "context"):
                raise ValueError(f"JSONata {self.text!r}: only $states.input / $states.context")
            return ("path", tuple(steps))
        if kind == "var":
            if value not in JSONATA_FUNCTIONS:
                raise ValueError(f"JSONata function {value} is not supported by the local executor")
            self.take("(")
            args: list[_JNode] = []
            while self.peek()[1] != ")":
                args.append(self.expr())
                if self.peek()[1] == ",":
                    self.take()
            self.take(")")
            if value == "$fromMillis" and len(args) > 1 and args[1][0] == "lit":
                _picture_to_strftime(args[1][1])
            return ("call", value, tuple(args))
        raise ValueError(f"JSONata {self.text!r}: unexpected {value!r}")


def _eval_jsonata(node: _JNode, states: Mapping[str, Any]) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "obj":
        return {k: _eval_jsonata(v, states) for k, v in node[1]}
    if tag == "arr":
        return [_eval_jsonata(v, states) for v in node[1]]
    if tag == "path":
        cur: Any = states
        for step in node[1]:
            if not isinstance(cur, dict) or step not in cur:
                # JSONata yields "undefined" (or maps over arrays) here; how a state's Output
                # treats undefined is not reproduced locally
                raise unsupported(f"JSONata $states.{'.'.join(node[1])} is undefined or "
                                  "steps through an array")
            cur = cur[step]
        return cur
    if tag == "call":
        return JSONATA_FUNCTIONS[node[1]](*[_eval_jsonata(a, states) for a in node[2]])
    op, left, right = node[1], _eval_jsonata(node[2], states), _eval_jsonata(node[3], states)
    if op == "&":
        return _jsonata_string(left) + _jsonata_string(right)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
        raise StatesError("States.QueryEvaluationError", f"operator {op} needs numbers")
    return left + right if op == "+" else left - right if op == "-" else left * right


def jsonata_templates(value: Any) -> Iterator[str]:
    for text in walk_strings(value):
        if text.startswith("{%") and text.endswith("%}"):
            yield text[2:-2]


def eval_jsonata_template(value: Any, states: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return _eval_jsonata(JsonataParser(value[2:-2]).parse(), states)
    if isinstance(value, dict):
        return {k: eval_jsonata_template(v, states) for k, v in value.items()}
    if isinstance(value, list):
        return [eval_jsonata_template(v, states) for v in value]
    return value




def jsonata_paths(node: _JNode) -> Iterator[tuple[str, ...]]:
    """Every ``$states.<...>`` path a parsed JSONata expression reads."""
    tag = node[0]
    if tag == "path":
        yield node[1]
    elif tag == "obj":
        for _, value in node[1]:
            yield from jsonata_paths(value)
    elif tag == "arr":
        for value in node[1]:
            yield from jsonata_paths(value)
    elif tag == "call":
        for arg in node[2]:
            yield from jsonata_paths(arg)
    elif tag == "bin":
        yield from jsonata_paths(node[2])
        yield from jsonata_paths(node[3])
