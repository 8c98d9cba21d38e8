"""A local Amazon States Language (ASL) executor.

It runs the very ``.asl.json`` file that Step Functions runs in production, with every
Task ``Resource`` mapped to a Python callable through a :class:`TaskRegistry`. It
implements the subset of ASL this project uses and **refuses anything else up front**
(an unknown state type, field, Choice operator, intrinsic or JSONata function), so a
definition is never half-understood.

Supported: Task, Pass, Choice, Wait (Seconds / SecondsPath, scaled by ``wait_scale``),
Map (inline; ItemsPath, ItemSelector / Parameters, ItemProcessor / Iterator,
MaxConcurrency with real threads), Succeed, Fail (Error / Cause / ErrorPath / CausePath);
InputPath, Parameters with ``.$`` keys, ResultSelector, ResultPath (incl. ``null``),
OutputPath; the JSONPath subset ``$``, ``$.a.b``, ``$.a[0]``, ``$['a b']`` and the
``$$`` context object; the intrinsics in :data:`INTRINSICS`; Retry (ErrorEquals,
IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy) and Catch
(ErrorEquals, Next, ResultPath); a Pass state in ``QueryLanguage: JSONata`` whose
``Output`` uses the small JSONata subset in :data:`JSONATA_FUNCTIONS`.

Error semantics follow the Step Functions documentation: ``States.ALL`` matches every
error except ``States.Runtime`` / ``States.DataLimitExceeded``; in a Task state
``States.TaskFailed`` matches every error except ``States.Timeout``; a matching retrier
whose attempts are used up does not fall through to a later retrier.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestration.history import HistoryStore

__all__ = [
    "INTRINSICS",
    "JSONATA_FUNCTIONS",
    "AslDefinitionError",
    "AslExecutor",
    "DefinitionSource",
    "LoadedDefinition",
    "PlaceholderError",
    "RunResult",
    "TaskError",
    "TaskHandler",
    "TaskRegistry",
    "definition_digest",
    "load_definition",
    "load_definition_file",
    "placeholders",
    "render_definition",
    "substitute_placeholders",
    "validate_definition",
]

TaskHandler = Callable[[dict[str, Any]], Any]
"""A local Task implementation: receives the state's effective Parameters, returns the result."""


# --------------------------------------------------------------------------- errors


class AslDefinitionError(ValueError):
    """The definition is malformed or uses a feature this executor does not implement."""


class PlaceholderError(ValueError):
    """A ``${Name}`` placeholder has no value (or a value is not a string)."""


class TaskError(Exception):
    """Raised by a Task handler to report a named Step Functions error.

    Parameters
    ----------
    error
        The error name the definition's Retry/Catch match on, e.g.
        ``"Glue.CrawlerRunningException"`` or ``"States.TaskFailed"``.
    cause
        A human-readable cause, recorded in the history and the alert.
    """

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


_UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})


class _StatesError(Exception):
    """An error travelling through the state machine (internal)."""

    def __init__(self, error: str, cause: str, *, state: str | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.state = state
        self.from_task = False

    @property
    def catchable(self) -> bool:
        return self.error not in _UNCATCHABLE


def _runtime(message: str) -> _StatesError:
    return _StatesError("States.Runtime", message)


# --------------------------------------------------------------------------- placeholders

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item)


def placeholders(definition: Any) -> set[str]:
    """Names of every ``${Name}`` placeholder in a definition."""
    return {m.group(1) for s in _walk_strings(definition) for m in _PLACEHOLDER.finditer(s)}


def substitute_placeholders(definition: Any, values: Mapping[str, str]) -> Any:
    """Return a copy of ``definition`` with every ``${Name}`` replaced from ``values``.

    Raises :class:`PlaceholderError` naming every placeholder that has no value.
    """
    missing = sorted(placeholders(definition) - set(values))
    if missing:
        raise PlaceholderError(f"no value for placeholder(s): {', '.join(missing)}")
    for key, val in values.items():
        if not isinstance(val, str):
            raise PlaceholderError(f"placeholder {key} must be a string, got {type(val).__name__}")

    def sub(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return sub(value)
        if isinstance(value, dict):
            return {sub(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(definition)


def load_definition(path: Path | str) -> dict[str, Any]:
    """Read an ``.asl.json`` file; a clear :class:`AslDefinitionError` if it is not JSON."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AslDefinitionError(f"state machine definition not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise AslDefinitionError(f"{p} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AslDefinitionError(f"{p}: a definition must be a JSON object")
    return data


_JSON_UNSAFE = re.compile(r'["\\\x00-\x1f]')


def render_definition(text: str, values: Mapping[str, str]) -> str:
    """Replace every ``${Name}`` in the definition *text* from ``values``.

    This is what Step Functions' ``DefinitionSubstitutions`` (CloudFormation / CDK)
    does to the deployed file: a textual replacement, nothing else changes. Values
    must be strings that need no JSON escaping (resource names and ARNs), so the text
    stays valid JSON and the result equals :func:`substitute_placeholders` on the
    parsed file. Raises :class:`PlaceholderError` naming missing or unsafe values.
    """
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise PlaceholderError(f"no value for placeholder(s): {', '.join(missing)}")
    for key, val in values.items():
        if not isinstance(val, str):
            raise PlaceholderError(f"placeholder {key} must be a string, got {type(val).__name__}")
        if _JSON_UNSAFE.search(val):
            raise PlaceholderError(f"placeholder {key}: value {val!r} would need JSON escaping")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


@dataclass(frozen=True)
class DefinitionSource:
    """The file a definition was read from and the sha256 of its bytes (pre-substitution)."""

    path: str
    sha256: str


class LoadedDefinition(dict[str, Any]):
    """A parsed, substituted definition that remembers its :class:`DefinitionSource`.

    :class:`AslExecutor` records ``source.sha256`` in every run's history, so a run can
    be traced to the exact bytes of the file it executed.
    """

    def __init__(self, data: Mapping[str, Any], source: DefinitionSource) -> None:
        super().__init__(data)
        self.source = source


def load_definition_file(path: Path | str, values: Mapping[str, str]) -> LoadedDefinition:
    """Read an ``.asl.json`` file, substitute placeholders in its text, parse it.

    The bytes read are hashed before anything else touches them; the returned
    definition carries that hash (:class:`LoadedDefinition`).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise AslDefinitionError(f"state machine definition not found: {p}") from None
    try:
        data = json.loads(render_definition(raw.decode("utf-8"), values))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AslDefinitionError(f"{p} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AslDefinitionError(f"{p}: a definition must be a JSON object")
    return LoadedDefinition(data, DefinitionSource(str(p), hashlib.sha256(raw).hexdigest()))


def definition_digest(definition: Mapping[str, Any]) -> str:
    """sha256 of a parsed definition in canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- JSONPath subset

_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['([^']*)'\]")

PathStep = str | int


def _parse_path(path: str) -> tuple[bool, tuple[PathStep, ...]]:
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


def _get(data: Any, path: str, context: Mapping[str, Any]) -> Any:
    try:
        is_context, steps = _parse_path(path)
    except ValueError as exc:
        raise _runtime(str(exc)) from None
    node: Any = context if is_context else data
    for step in steps:
        in_list = isinstance(step, int) and isinstance(node, list) and step < len(node)
        in_dict = isinstance(step, str) and isinstance(node, dict) and step in node
        if in_list or in_dict:
            node = node[step]
        else:
            raise _runtime(f"JSONPath {path!r} could not be found in the input")
    return node


def _is_present(data: Any, path: str, context: Mapping[str, Any]) -> bool:
    try:
        _get(data, path, context)
    except _StatesError:
        return False
    return True


def _apply_result_path(state_input: Any, result_path: Any, result: Any) -> Any:
    if result_path is None:
        return state_input
    if result_path == "$":
        return result
    _, steps = _parse_path(result_path)
    out = copy.deepcopy(state_input)
    if not isinstance(out, dict):
        raise _StatesError(
            "States.ResultPathMatchFailure", f"cannot apply ResultPath {result_path!r}"
        )
    node = out
    for step in steps[:-1]:
        if not isinstance(step, str):
            raise _StatesError("States.ResultPathMatchFailure", f"ResultPath {result_path!r}")
        nxt = node.setdefault(step, {})
        if not isinstance(nxt, dict):
            raise _StatesError(
                "States.ResultPathMatchFailure",
                f"ResultPath {result_path!r}: {step!r} is not an object",
            )
        node = nxt
    last = steps[-1]
    if not isinstance(last, str):
        raise _StatesError("States.ResultPathMatchFailure", f"ResultPath {result_path!r}")
    node[last] = result
    return out


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


class _IntrinsicParser:
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


def _fmt_arg(value: Any) -> str:
    if isinstance(value, str):
        return _unescape(value)
    return json.dumps(value, separators=(",", ":"))


def _intrinsic_format(template: Any, *args: Any) -> str:
    if not isinstance(template, str):
        raise _runtime("States.Format: the template must be a string")
    pieces = template.split("{}")
    if len(pieces) - 1 != len(args):
        raise _runtime(
            f"States.Format: template has {len(pieces) - 1} placeholder(s) "
            f"but {len(args)} argument(s)"
        )
    out = pieces[0]
    for arg, piece in zip(args, pieces[1:], strict=True):
        out += _fmt_arg(arg) + piece
    return _unescape(out)


def _intrinsic_string_to_json(text: Any) -> Any:
    try:
        return json.loads(_unescape(text))
    except (TypeError, json.JSONDecodeError) as exc:
        raise _runtime(f"States.StringToJson: not a JSON string ({exc})") from None


def _intrinsic_array_get_item(array: Any, index: Any) -> Any:
    if not isinstance(array, list) or not isinstance(index, int) or not 0 <= index < len(array):
        raise _runtime("States.ArrayGetItem: index out of range")
    return array[index]


def _intrinsic_math_add(a: Any, b: Any) -> Any:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        raise _runtime("States.MathAdd: arguments must be integers")
    return a + b


def _intrinsic_string_split(text: Any, sep: Any) -> list[str]:
    if not isinstance(text, str) or not isinstance(sep, str):
        raise _runtime("States.StringSplit: arguments must be strings")
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


def _eval_intrinsic(node: _Lit | _PathArg | _Call, data: Any, ctx: Mapping[str, Any]) -> Any:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _PathArg):
        return _get(data, node.path, ctx)
    args = [_eval_intrinsic(a, data, ctx) for a in node.args]
    try:
        result = INTRINSICS[node.name](*args)
    except TypeError as exc:
        raise _runtime(f"{node.name}: {exc}") from None
    return _unescape(result) if node.name != "States.Format" else result


# --------------------------------------------------------------------------- JSONata subset

_JSONATA_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<var>\$[A-Za-z_]\w*)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>[.,:()\[\]{}+\-*&]))"
)


def _iso_to_millis(text: Any) -> int:
    if not isinstance(text, str):
        raise _StatesError("States.QueryEvaluationError", "$toMillis expects a string")
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _StatesError(
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
        raise _StatesError("States.QueryEvaluationError", "$fromMillis(number, picture)")
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime(_picture_to_strftime(picture))


JSONATA_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "$toMillis": _iso_to_millis,
    "$fromMillis": _from_millis,
    "$string": lambda v: v if isinstance(v, str) else json.dumps(v, separators=(",", ":")),
}
"""The JSONata functions the local executor implements (others are refused)."""

_JNode = tuple[Any, ...]


class _JsonataParser:
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
                raise _StatesError(
                    "States.QueryEvaluationError", f"$states.{'.'.join(node[1])} is undefined"
                )
            cur = cur[step]
        return cur
    if tag == "call":
        return JSONATA_FUNCTIONS[node[1]](*[_eval_jsonata(a, states) for a in node[2]])
    op, left, right = node[1], _eval_jsonata(node[2], states), _eval_jsonata(node[3], states)
    if op == "&":
        return _fmt_arg(left) + _fmt_arg(right)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
        raise _StatesError("States.QueryEvaluationError", f"operator {op} needs numbers")
    return left + right if op == "+" else left - right if op == "-" else left * right


def _jsonata_templates(value: Any) -> Iterator[str]:
    for text in _walk_strings(value):
        if text.startswith("{%") and text.endswith("%}"):
            yield text[2:-2]


def _eval_jsonata_template(value: Any, states: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return _eval_jsonata(_JsonataParser(value[2:-2]).parse(), states)
    if isinstance(value, dict):
        return {k: _eval_jsonata_template(v, states) for k, v in value.items()}
    if isinstance(value, list):
        return [_eval_jsonata_template(v, states) for v in value]
    return value


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
_TOP_FIELDS = {"StartAt", "States", "Comment", "Version", "QueryLanguage"}
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


def _check_path(where: str, fieldname: str, value: Any, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise AslDefinitionError(f"{where}: {fieldname} must be a path string")
    try:
        _parse_path(value)
    except ValueError as exc:
        raise AslDefinitionError(f"{where}: {fieldname}: {exc}") from None


def _check_payload_template(where: str, template: Any) -> None:
    """Validate ``.$`` keys of a Parameters / ResultSelector / ItemSelector template."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise AslDefinitionError(f"{where}: {key!r} must be a path or intrinsic")
                try:
                    if value.startswith("States."):
                        _IntrinsicParser(value).parse()
                    else:
                        _parse_path(value)
                except ValueError as exc:
                    raise AslDefinitionError(f"{where}: {key!r}: {exc}") from None
            else:
                _check_payload_template(where, value)
    elif isinstance(template, list):
        for item in template:
            _check_payload_template(where, item)


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
        if states is not None:
            if entry.get("Next") not in states:
                raise AslDefinitionError(
                    f"{where}: {name}[{i}].Next {entry.get('Next')!r} is not a state"
                )
            if "ResultPath" in entry:
                _check_path(where, "Catch ResultPath", entry["ResultPath"], nullable=True)
        else:
            if entry.get("JitterStrategy", "NONE") not in ("NONE", "FULL"):
                raise AslDefinitionError(f"{where}: JitterStrategy must be NONE or FULL")
            for num in ("IntervalSeconds", "MaxAttempts", "MaxDelaySeconds"):
                if num in entry and (not isinstance(entry[num], int) or entry[num] < 0):
                    raise AslDefinitionError(f"{where}: {name}[{i}].{num} must be an integer >= 0")
            rate = entry.get("BackoffRate", 2.0)
            if not isinstance(rate, int | float) or rate < 1:
                raise AslDefinitionError(f"{where}: {name}[{i}].BackoffRate must be >= 1")


def _check_state(machine_where: str, name: str, state: Any, states: Mapping[str, Any],
                 top_language: str) -> list[str]:
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
        for text in _jsonata_templates(state.get("Output")):
            try:
                _JsonataParser(text).parse()
            except ValueError as exc:
                raise AslDefinitionError(f"{where}: {exc}") from None
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
        _check_path(where, "ResultPath", state["ResultPath"], nullable=True)
    for template in ("Parameters", "ResultSelector", "ItemSelector"):
        if template in state:
            _check_payload_template(f"{where} {template}", state[template])
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
        if "Seconds" in state and (not isinstance(state["Seconds"], int) or state["Seconds"] < 0):
            raise AslDefinitionError(f"{where}: Seconds must be an integer >= 0")
        if "SecondsPath" in state:
            _check_path(where, "SecondsPath", state["SecondsPath"])
    if stype == "Fail":
        for a, b in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if a in state and b in state:
                raise AslDefinitionError(f"{where}: {a} and {b} are exclusive")
        for path_field in ("ErrorPath", "CausePath"):
            value = state.get(path_field)
            if isinstance(value, str) and value.startswith("States."):
                try:
                    _IntrinsicParser(value).parse()
                except ValueError as exc:
                    raise AslDefinitionError(f"{where}: {path_field}: {exc}") from None
            elif path_field in state:
                _check_path(where, path_field, value)
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
        _check_machine(processor, f"{where} ItemProcessor: ", language)
    return targets


def _check_machine(machine: Mapping[str, Any], where: str, language: str) -> None:
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        raise AslDefinitionError(f"{where}States must be a non-empty object")
    start = machine.get("StartAt")
    if start not in states:
        raise AslDefinitionError(f"{where}StartAt {start!r} is not a state")
    edges = {name: _check_state(where, name, st, states, language) for name, st in states.items()}
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
    language = definition.get("QueryLanguage", "JSONPath")
    if language != "JSONPath":
        raise AslDefinitionError(
            f"top-level QueryLanguage {language!r}: only JSONPath is supported"
        )
    _check_machine(definition, "", "JSONPath")


# --------------------------------------------------------------------------- registry


class TaskRegistry:
    """Maps a Task ``Resource`` ARN to the Python callable that implements it locally."""

    def __init__(self, handlers: Mapping[str, TaskHandler] | None = None) -> None:
        self._handlers: dict[str, TaskHandler] = dict(handlers or {})

    def register(self, resource: str, handler: TaskHandler) -> None:
        """Register (or replace) the handler for ``resource``."""
        self._handlers[resource] = handler

    def __contains__(self, resource: object) -> bool:
        return resource in self._handlers

    def get(self, resource: str) -> TaskHandler:
        """The handler for ``resource``; KeyError if none is registered."""
        return self._handlers[resource]

    def resources(self) -> list[str]:
        """Every registered resource ARN, sorted."""
        return sorted(self._handlers)


def _task_resources(machine: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for name, state in machine["States"].items():
        if state.get("Type") == "Task":
            yield name, state["Resource"]
        if state.get("Type") == "Map":
            yield from _task_resources(state.get("ItemProcessor", state.get("Iterator", {})))


# --------------------------------------------------------------------------- choice rules


def _compare(op: str, left: Any, right: Any) -> bool:
    if op.startswith("String"):
        if not isinstance(left, str) or not isinstance(right, str):
            return False
        if op == "StringMatches":
            pattern = "".join(".*" if c == "*" else re.escape(c) for c in right)
            return re.fullmatch(pattern, left, flags=re.DOTALL) is not None
    elif op.startswith("Numeric"):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
            return False
    elif op.startswith("Boolean"):
        if not isinstance(left, bool) or not isinstance(right, bool):
            return False
        return bool(left == right)
    kind = op.removeprefix("String").removeprefix("Numeric")
    return {
        "Equals": left == right,
        "LessThan": left < right,
        "GreaterThan": left > right,
        "LessThanEquals": left <= right,
        "GreaterThanEquals": left >= right,
    }[kind]


def _rule_matches(rule: Mapping[str, Any], data: Any, ctx: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(_rule_matches(r, data, ctx) for r in rule["And"])
    if "Or" in rule:
        return any(_rule_matches(r, data, ctx) for r in rule["Or"])
    if "Not" in rule:
        return not _rule_matches(rule["Not"], data, ctx)
    variable = rule["Variable"]
    op = next(k for k in rule if k not in ("Variable", "Next", "Comment"))
    expected = rule[op]
    if op == "IsPresent":
        return _is_present(data, variable, ctx) == expected
    value = _get(data, variable, ctx)
    checks = {
        "IsNull": lambda: value is None,
        "IsString": lambda: isinstance(value, str),
        "IsNumeric": lambda: isinstance(value, int | float) and not isinstance(value, bool),
        "IsBoolean": lambda: isinstance(value, bool),
    }
    if op in checks:
        return bool(checks[op]()) == expected
    if op.endswith("Path"):
        op, expected = op.removesuffix("Path"), _get(data, expected, ctx)
    return _compare(op, value, expected)


# --------------------------------------------------------------------------- executor


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RunResult:
    """The outcome of one execution (``status`` is ``SUCCEEDED`` or ``FAILED``)."""

    run_id: str
    name: str
    status: str
    started_at: str
    stopped_at: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass
class _Execution:
    run_id: str
    name: str
    started_at: str
    input: Any
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    transitions: int = 0

    def event(self, kind: str, state: str | None = None, **details: Any) -> None:
        with self.lock:
            self.events.append({"timestamp": _now(), "type": kind, "state": state, **details})


class AslExecutor:
    """Run an ASL definition locally.

    Parameters
    ----------
    definition
        The parsed definition, placeholders already substituted.
    tasks
        Maps every Task ``Resource`` used to a callable; checked up front.
    wait_scale
        Multiplier on Wait seconds and Retry intervals (0 = do not sleep).
    history
        Where runs are persisted (optional).
    sleep, rng
        Injectable clock and random source (JitterStrategy FULL).
    max_transitions
        Safety net against endless poll loops; the run fails with
        ``States.ExecutionLimitExceeded`` beyond it.
    name
        The state machine name recorded in the history.
    source
        The file the definition came from (defaults to ``definition.source`` of a
        :class:`LoadedDefinition`); its sha256 is recorded with every run, next to the
        digest of the definition as executed.
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        tasks: TaskRegistry,
        *,
        wait_scale: float = 0.0,
        history: HistoryStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_transitions: int = 10_000,
        name: str = "state-machine",
        source: DefinitionSource | None = None,
    ) -> None:
        validate_definition(definition)
        missing = [(s, r) for s, r in _task_resources(definition) if r not in tasks]
        if missing:
            listing = ", ".join(f"{r} (state {s!r})" for s, r in missing)
            raise AslDefinitionError(f"no local handler registered for Task resource(s): {listing}")
        if wait_scale < 0:
            raise ValueError("wait_scale must be >= 0")
        self.definition = definition
        self.source: DefinitionSource | None = source or getattr(definition, "source", None)
        self.executed_sha256 = definition_digest(definition)
        self.tasks = tasks
        self.wait_scale = wait_scale
        self.history = history
        self.name = name
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._max_transitions = max_transitions

    # -- public -----------------------------------------------------------------

    def run(self, execution_input: Any, *, run_id: str | None = None,
            label: str | None = None) -> RunResult:
        """Run to completion; never raises for a failed execution (see ``RunResult``).

        ``label`` (e.g. the ``p_date``) is stored in the history for listing.
        """
        run_id = run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        ex = _Execution(run_id=run_id, name=self.name, started_at=_now(), input=execution_input)
        if self.history is not None:
            self.history.start(run_id, self.name, label, execution_input, ex.started_at,
                               definition_sha256=self.source.sha256 if self.source else None,
                               executed_sha256=self.executed_sha256)
        ex.event("ExecutionStarted", input=execution_input)
        context = {"Execution": {"Id": run_id, "Name": run_id, "StartTime": ex.started_at,
                                 "Input": execution_input},
                   "StateMachine": {"Id": self.name, "Name": self.name}}
        try:
            output = self._run_machine(ex, self.definition, copy.deepcopy(execution_input),
                                       context, depth=0)
        except _StatesError as err:
            ex.event("ExecutionFailed", err.state, error=err.error, cause=err.cause)
            result = RunResult(run_id, self.name, "FAILED", ex.started_at, _now(),
                               error=err.error, cause=err.cause, failed_state=err.state)
        else:
            ex.event("ExecutionSucceeded", output=output)
            result = RunResult(run_id, self.name, "SUCCEEDED", ex.started_at, _now(), output=output)
        if self.history is not None:
            self.history.finish(result, ex.events)
        return result

    # -- machine loop -------------------------------------------------------------

    def _checkpoint(self, ex: _Execution, depth: int) -> None:
        if self.history is not None and depth == 0:
            with ex.lock:
                events = list(ex.events)
            self.history.checkpoint(ex.run_id, events)

    def _run_machine(self, ex: _Execution, machine: Mapping[str, Any], data: Any,
                     context: dict[str, Any], *, depth: int, map_index: int | None = None) -> Any:
        current: str = machine["StartAt"]
        caught_from: str | None = None
        tag = {} if map_index is None else {"map_index": map_index}
        while True:
            with ex.lock:
                ex.transitions += 1
                over = ex.transitions > self._max_transitions
            if over:
                raise _StatesError("States.ExecutionLimitExceeded",
                                   f"more than {self._max_transitions} state transitions",
                                   state=current)
            state = machine["States"][current]
            ctx = {**context, "State": {"Name": current, "EnteredTime": _now(), "RetryCount": 0}}
            ex.event("StateEntered", current, input=data, **tag)
            self._checkpoint(ex, depth)  # a killed run shows the state it was in
            try:
                output, nxt = self._run_state(ex, current, state, data, ctx, depth)
            except _StatesError as err:
                err.state = err.state or current
                if state["Type"] == "Fail":
                    err.state = caught_from or current
                    raise
                catcher = self._find_catcher(state, err)
                if catcher is None:
                    ex.event("StateFailed", current, error=err.error, cause=err.cause, **tag)
                    raise
                ex.event("CatchTaken", current, error=err.error, cause=err.cause,
                         next=catcher["Next"], **tag)
                caught_from = current
                data = _apply_result_path(data, catcher.get("ResultPath", "$"),
                                          {"Error": err.error, "Cause": err.cause})
                current = catcher["Next"]
                self._checkpoint(ex, depth)
                continue
            ex.event("StateExited", current, output=output, **tag)
            self._checkpoint(ex, depth)
            if nxt is None:
                return output
            data, current = output, nxt

    @staticmethod
    def _matches(names: list[str], err: _StatesError) -> bool:
        if not err.catchable:
            return False
        if "States.ALL" in names or err.error in names:
            return True
        return err.from_task and "States.TaskFailed" in names and err.error != "States.Timeout"

    def _find_catcher(self, state: Mapping[str, Any], err: _StatesError) -> dict[str, Any] | None:
        for catcher in state.get("Catch", []):
            if self._matches(catcher["ErrorEquals"], err):
                return dict(catcher)
        return None

    # -- states -------------------------------------------------------------------

    def _run_state(self, ex: _Execution, name: str, state: Mapping[str, Any], raw: Any,
                   ctx: dict[str, Any], depth: int) -> tuple[Any, str | None]:
        stype = state["Type"]
        nxt: str | None = state.get("Next")
        if state.get("QueryLanguage") == "JSONata":
            out = _eval_jsonata_template(state.get("Output", "{% $states.input %}"),
                                         {"input": raw, "context": ctx})
            return out, nxt
        data = self._select(raw, state.get("InputPath", "$"), ctx)
        if stype == "Choice":
            for rule in state["Choices"]:
                if _rule_matches(rule, data, ctx):
                    return self._select(data, state.get("OutputPath", "$"), ctx), rule["Next"]
            if "Default" not in state:
                raise _StatesError("States.NoChoiceMatched", f"no choice rule matched in {name!r}")
            return self._select(data, state.get("OutputPath", "$"), ctx), state["Default"]
        if stype == "Succeed":
            return self._select(data, state.get("OutputPath", "$"), ctx), None
        if stype == "Fail":
            error = self._fail_field(state, "Error", raw, ctx)
            cause = self._fail_field(state, "Cause", raw, ctx)
            raise _StatesError(error or "States.Fail", cause or "", state=name)
        if stype == "Wait":
            seconds = state.get("Seconds")
            if seconds is None:
                seconds = _get(data, state["SecondsPath"], ctx)
                if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                    raise _runtime(f"SecondsPath in {name!r} must be a number >= 0")
            ex.event("WaitStarted", name, seconds=seconds)
            if seconds * self.wait_scale > 0:
                self._sleep(seconds * self.wait_scale)
            return self._select(data, state.get("OutputPath", "$"), ctx), nxt
        if stype == "Pass":
            if "Parameters" in state:
                result = self._payload(state["Parameters"], data, ctx)
            else:
                result = copy.deepcopy(state["Result"]) if "Result" in state else data
            out = _apply_result_path(raw, state.get("ResultPath", "$"), result)
            return self._select(out, state.get("OutputPath", "$"), ctx), nxt
        # Task and Map: Parameters -> action (with Retry) -> ResultSelector -> ResultPath
        if stype == "Task":
            params = self._payload(state.get("Parameters", data), data, ctx)

            def action() -> Any:
                return self._invoke_task(ex, name, state, params)
        else:
            def action() -> Any:
                return self._run_map(ex, name, state, data, ctx, depth)
        result = self._with_retry(ex, name, state, action, ctx)
        if "ResultSelector" in state:
            result = self._payload(state["ResultSelector"], result, ctx)
        out = _apply_result_path(raw, state.get("ResultPath", "$"), result)
        return self._select(out, state.get("OutputPath", "$"), ctx), nxt

    @staticmethod
    def _select(data: Any, path: Any, ctx: Mapping[str, Any]) -> Any:
        if path is None:
            return {}
        return data if path == "$" else _get(data, path, ctx)

    def _payload(self, template: Any, data: Any, ctx: Mapping[str, Any]) -> Any:
        if isinstance(template, dict):
            out: dict[str, Any] = {}
            for key, value in template.items():
                if key.endswith(".$"):
                    if value.startswith("States."):
                        out[key[:-2]] = _eval_intrinsic(_IntrinsicParser(value).parse(), data, ctx)
                    else:
                        out[key[:-2]] = copy.deepcopy(_get(data, value, ctx))
                else:
                    out[key] = self._payload(value, data, ctx)
            return out
        if isinstance(template, list):
            return [self._payload(v, data, ctx) for v in template]
        return copy.deepcopy(template)

    @staticmethod
    def _fail_field(state: Mapping[str, Any], which: str, data: Any,
                    ctx: Mapping[str, Any]) -> str | None:
        if which in state:
            return str(state[which])
        path = state.get(f"{which}Path")
        if path is None:
            return None
        value = (_eval_intrinsic(_IntrinsicParser(path).parse(), data, ctx)
                 if path.startswith("States.") else _get(data, path, ctx))
        return value if isinstance(value, str) else json.dumps(value)

    def _invoke_task(self, ex: _Execution, name: str, state: Mapping[str, Any],
                     params: Any) -> Any:
        resource = state["Resource"]
        handler = self.tasks.get(resource)
        ex.event("TaskScheduled", name, resource=resource, parameters=params)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["result"] = handler(copy.deepcopy(params))
            except TaskError as exc:
                outcome["error"] = (exc.error, exc.cause)
            except Exception as exc:  # a bug in a handler still fails the task, readably
                outcome["error"] = ("States.TaskFailed", f"{type(exc).__name__}: {exc}")

        timeout = state.get("TimeoutSeconds")
        if timeout is None:
            call()
        else:
            worker = threading.Thread(target=call, daemon=True)
            worker.start()
            worker.join(timeout)
            if worker.is_alive():
                outcome = {"error": ("States.Timeout", f"task ran longer than {timeout}s")}
        if "error" in outcome:
            error, cause = outcome["error"]
            ex.event("TaskFailed", name, resource=resource, error=error, cause=cause)
            err = _StatesError(error, cause, state=name)
            err.from_task = True
            raise err
        ex.event("TaskSucceeded", name, resource=resource, output=outcome["result"])
        return outcome["result"]

    def _retry_delay(self, retrier: Mapping[str, Any], attempt: int) -> float:
        delay = float(retrier.get("IntervalSeconds", 1)) * float(
            retrier.get("BackoffRate", 2.0)) ** attempt
        if "MaxDelaySeconds" in retrier:
            delay = min(delay, float(retrier["MaxDelaySeconds"]))
        if retrier.get("JitterStrategy") == "FULL":
            delay = self._rng.uniform(0, delay)
        return delay

    def _with_retry(self, ex: _Execution, name: str, state: Mapping[str, Any],
                    action: Callable[[], Any], ctx: dict[str, Any]) -> Any:
        retriers = state.get("Retry", [])
        attempts = [0] * len(retriers)
        while True:
            try:
                return action()
            except _StatesError as err:
                idx = next((i for i, r in enumerate(retriers)
                            if self._matches(r["ErrorEquals"], err)), None)
                if idx is None or attempts[idx] >= retriers[idx].get("MaxAttempts", 3):
                    raise
                delay = self._retry_delay(retriers[idx], attempts[idx])
                attempts[idx] += 1
                ctx["State"]["RetryCount"] = ctx["State"]["RetryCount"] + 1
                ex.event("RetryScheduled", name, error=err.error, attempt=attempts[idx],
                         delay_seconds=round(delay, 3))
                if delay * self.wait_scale > 0:
                    self._sleep(delay * self.wait_scale)

    def _run_map(self, ex: _Execution, name: str, state: Mapping[str, Any], data: Any,
                 ctx: dict[str, Any], depth: int) -> list[Any]:
        items = _get(data, state.get("ItemsPath", "$"), ctx)
        if not isinstance(items, list):
            raise _runtime(f"Map {name!r}: ItemsPath must select an array")
        selector = state.get("ItemSelector", state.get("Parameters"))
        processor = state.get("ItemProcessor", state.get("Iterator"))
        inputs = []
        for index, item in enumerate(items):
            item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
            item_input = item if selector is None else self._payload(selector, data, item_ctx)
            inputs.append((index, item_input))
        limit = state.get("MaxConcurrency", 0) or max(len(items), 1)
        results: list[Any] = [None] * len(items)
        failures: list[tuple[int, _StatesError]] = []
        stop = threading.Event()
        ex.event("MapStarted", name, length=len(items), max_concurrency=limit)

        def one(index: int, item_input: Any) -> None:
            if stop.is_set():
                return
            ex.event("MapIterationStarted", name, map_index=index)
            try:
                results[index] = self._run_machine(ex, processor, item_input, ctx,
                                                   depth=depth + 1, map_index=index)
            except _StatesError as err:
                stop.set()
                with ex.lock:
                    failures.append((index, err))
                ex.event("MapIterationFailed", name, map_index=index, error=err.error)
            else:
                ex.event("MapIterationSucceeded", name, map_index=index)

        with ThreadPoolExecutor(max_workers=min(limit, max(len(items), 1))) as pool:
            for fut in [pool.submit(one, i, v) for i, v in inputs]:
                fut.result()
        if failures:
            _, err = failures[0]
            raise _StatesError(err.error, err.cause, state=name)
        ex.event("MapSucceeded", name)
        return results
