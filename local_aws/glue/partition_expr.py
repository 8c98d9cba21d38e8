"""Parser and evaluator for Glue ``GetPartitions`` ``Expression`` strings.

Grammar (case-insensitive keywords, precedence low → high: ``OR``, ``AND``, ``NOT``)::

    expr      := and_expr ("OR" and_expr)*
    and_expr  := not_expr ("AND" not_expr)*
    not_expr  := "NOT" not_expr | "(" expr ")" | predicate
    predicate := key op literal | literal op key
               | key ["NOT"] "IN" "(" literal ("," literal)* ")"
               | key ["NOT"] "BETWEEN" literal "AND" literal
               | key ["NOT"] "LIKE" 'pattern'
               | key "IS" ["NOT"] "NULL"
    op        := "=" | "<>" | "!=" | "<" | "<=" | ">" | ">="
    literal   := 'single quoted' ('' escapes a quote) | [+-] number

Comparison follows the partition key's declared type, as Glue does: string-typed keys
(``string``, ``char``, ``varchar``) compare as strings, integral keys (``tinyint``,
``smallint``, ``int``, ``bigint``, ``long``) numerically, ``decimal`` as decimals,
``date`` and ``timestamp`` as points in time. Literals are cast to the key's type;
a literal that does not fit (``p_hour = 'x'`` on an int key) is an invalid expression.

:func:`compile_expression` returns a predicate over a partition's ``Values`` list.
Problems in the expression raise :class:`ExpressionError`; a stored partition value
that cannot be read as its key's type raises :class:`PartitionValueError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "And",
    "Between",
    "Compare",
    "ExpressionError",
    "InList",
    "IsNull",
    "Like",
    "Literal",
    "Node",
    "Not",
    "Or",
    "PartitionValueError",
    "compile_expression",
    "parse",
    "referenced_keys",
]


class ExpressionError(ValueError):
    """The expression is malformed or does not fit the table's partition keys."""


class PartitionValueError(ValueError):
    """A stored partition value cannot be read as its key's declared type."""


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Literal:
    text: str
    is_string: bool


@dataclass(frozen=True)
class Compare:
    key: str
    op: str  # one of = <> < <= > >=  ("!=" is normalised to "<>")
    value: Literal


@dataclass(frozen=True)
class InList:
    key: str
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    key: str
    low: Literal
    high: Literal
    negated: bool = False


@dataclass(frozen=True)
class Like:
    key: str
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    key: str
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | InList | Between | Like | IsNull | And | Or | Not

# ------------------------------------------------------------------------ tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.$]*|`[^`]+`|"[^"]+")
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),+-])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL"}
_FLIP = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class _Tok:
    kind: str  # string | number | ident | kw | op | punct | end
    text: str
    pos: int


def _tokenize(expression: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if m is None:
            raise ExpressionError(_msg(expression, f"unexpected character {expression[pos]!r}",
                                       pos))
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ident" and text.upper() in _KEYWORDS:
            toks.append(_Tok("kw", text.upper(), pos))
        elif kind == "ident" and text[0] in "`\"":
            toks.append(_Tok("ident", text[1:-1], pos))
        elif kind != "ws":
            toks.append(_Tok(kind, text, pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(expression)))
    return toks


def _msg(expression: str, problem: str, pos: int) -> str:
    return f"Unsupported expression '{expression}': {problem} at position {pos}"


# ------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.toks = _tokenize(expression)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _fail(self, expected: str) -> ExpressionError:
        found = "end of expression" if self.tok.kind == "end" else repr(self.tok.text)
        return ExpressionError(_msg(self.expression, f"expected {expected}, found {found}",
                                    self.tok.pos))

    def _take(self, kind: str, text: str | None = None) -> _Tok | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def _expect(self, kind: str, text: str, expected: str) -> None:
        if self._take(kind, text) is None:
            raise self._fail(expected)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExpressionError(f"Unsupported expression '{self.expression}': it is empty")
        node = self._or()
        if self.tok.kind != "end":
            raise self._fail("AND, OR or end of expression")
        return node

    def _or(self) -> Node:
        items = [self._and()]
        while self._take("kw", "OR"):
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._not()]
        while self._take("kw", "AND"):
            items.append(self._not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _not(self) -> Node:
        if self._take("kw", "NOT"):
            return Not(self._not())
        if self._take("punct", "("):
            node = self._or()
            self._expect("punct", ")", "')'")
            return node
        return self._predicate()

    def _literal(self) -> Literal | None:
        tok = self.tok
        if tok.kind == "string":
            self.i += 1
            return Literal(tok.text[1:-1].replace("''", "'"), True)
        sign = ""
        if tok.kind == "punct" and tok.text in "+-" and self.toks[self.i + 1].kind == "number":
            sign = "-" if tok.text == "-" else ""
            self.i += 1
            tok = self.tok
        if tok.kind == "number":
            self.i += 1
            return Literal(sign + tok.text, False)
        return None

    def _need_literal(self) -> Literal:
        lit = self._literal()
        if lit is None:
            raise self._fail("a literal ('text' or a number)")
        return lit

    def _predicate(self) -> Node:
        ident = self._take("ident")
        if ident is None:
            lit = self._literal()
            if lit is None:
                raise self._fail("a partition key, NOT or '('")
            op = self._take("op")
            if op is None:
                raise self._fail("a comparison operator")
            key = self._take("ident")
            if key is None:
                raise self._fail("a partition key")
            norm = "<>" if op.text == "!=" else op.text
            return Compare(key.text, _FLIP[norm], lit)
        key_name = ident.text
        op = self._take("op")
        if op is not None:
            return Compare(key_name, "<>" if op.text == "!=" else op.text, self._need_literal())
        if self._take("kw", "IS"):
            negated = self._take("kw", "NOT") is not None
            self._expect("kw", "NULL", "NULL")
            return IsNull(key_name, negated)
        negated = self._take("kw", "NOT") is not None
        if self._take("kw", "IN"):
            self._expect("punct", "(", "'(' after IN")
            values = [self._need_literal()]
            while self._take("punct", ","):
                values.append(self._need_literal())
            self._expect("punct", ")", "',' or ')'")
            return InList(key_name, tuple(values), negated)
        if self._take("kw", "BETWEEN"):
            low = self._need_literal()
            self._expect("kw", "AND", "AND in BETWEEN ... AND ...")
            return Between(key_name, low, self._need_literal(), negated)
        if self._take("kw", "LIKE"):
            tok = self._take("string")
            if tok is None:
                raise self._fail("a quoted pattern after LIKE")
            return Like(key_name, tok.text[1:-1].replace("''", "'"), negated)
        raise self._fail("an operator (=, <>, <, <=, >, >=, IN, BETWEEN, LIKE, IS)"
                         if not negated else "IN, BETWEEN or LIKE after NOT")


def parse(expression: str) -> Node:
    """Parse a Glue partition expression into an AST (no type checks)."""
    return _Parser(expression).parse()


def referenced_keys(node: Node) -> set[str]:
    """Names of the partition keys an expression mentions."""
    if isinstance(node, And | Or):
        return set().union(*(referenced_keys(n) for n in node.items))
    if isinstance(node, Not):
        return referenced_keys(node.item)
    return {node.key}


# ----------------------------------------------------------------------- typing

_INTEGRAL = {"tinyint", "smallint", "int", "integer", "bigint", "long"}
_STRINGS = {"string", "char", "varchar"}
_TS = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?$")

Caster = Callable[[str], Any]


def _base(type_name: str) -> str:
    return type_name.strip().lower().split("(", 1)[0].strip()


def _cast_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an integer") from None


def _cast_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a decimal") from None


def _cast_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"'{text}' is not a date (yyyy-MM-dd)") from None


def _cast_timestamp(text: str) -> tuple[datetime, int]:
    m = _TS.match(text)
    try:
        if m is None:
            raise ValueError
        return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"), int((m.group(2) or "0")
                                                                        .ljust(9, "0"))
    except ValueError:
        raise ValueError(f"'{text}' is not a timestamp (yyyy-MM-dd HH:mm:ss[.fffffffff])") \
            from None


def _caster(type_name: str, key: str) -> Caster:
    base = _base(type_name)
    if base in _STRINGS:
        return str
    if base in _INTEGRAL:
        return _cast_int
    if base == "decimal":
        return _cast_decimal
    if base == "date":
        return _cast_date
    if base == "timestamp":
        return _cast_timestamp
    raise ExpressionError(f"Unsupported partition key type '{type_name}' of key '{key}' "
                          "(supported: string, char, varchar, date, timestamp, tinyint, "
                          "smallint, int, bigint, long, decimal)")


# -------------------------------------------------------------------- evaluation

Predicate = Callable[[Sequence[str]], bool]
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


class _Binder:
    def __init__(self, expression: str, keys: Sequence[Mapping[str, str]]) -> None:
        self.expression = expression
        self.index = {k["Name"].lower(): (i, k.get("Type", "string")) for i, k in
                      enumerate(keys)}

    def key(self, name: str) -> tuple[int, str, Caster]:
        found = self.index.get(name.lower())
        if found is None:
            known = ", ".join(self.index) or "none (the table is not partitioned)"
            raise ExpressionError(f"Invalid partition expression '{self.expression}': '{name}' "
                                  f"is not a partition key (partition keys: {known})")
        return found[0], found[1], _caster(found[1], name)

    def lit(self, lit: Literal, name: str, cast: Caster) -> Any:
        try:
            return cast(lit.text)
        except ValueError as e:
            raise ExpressionError(f"Invalid partition expression '{self.expression}': literal "
                                  f"for key '{name}': {e}") from None

    def bind(self, node: Node) -> Predicate:
        if isinstance(node, And):
            parts = [self.bind(n) for n in node.items]
            return lambda v: all(p(v) for p in parts)
        if isinstance(node, Or):
            parts = [self.bind(n) for n in node.items]
            return lambda v: any(p(v) for p in parts)
        if isinstance(node, Not):
            inner = self.bind(node.item)
            return lambda v: not inner(v)
        idx, type_name, cast = self.key(node.key)
        value = _value_reader(idx, node.key, cast)
        if isinstance(node, Compare):
            rhs, op = self.lit(node.value, node.key, cast), _OPS[node.op]
            return lambda v: op(value(v), rhs)
        if isinstance(node, InList):
            options = [self.lit(x, node.key, cast) for x in node.values]
            neg = node.negated
            return lambda v: (value(v) in options) != neg
        if isinstance(node, Between):
            lo, hi = self.lit(node.low, node.key, cast), self.lit(node.high, node.key, cast)
            neg = node.negated
            return lambda v: (lo <= value(v) <= hi) != neg
        if isinstance(node, Like):
            base = _base(type_name)
            if base not in _STRINGS:
                kind = "Integral" if base in _INTEGRAL else base.capitalize()
                raise ExpressionError(f"{kind} data type doesn't support operation 'LIKE' "
                                      f"(key '{node.key}' in '{self.expression}')")
            rx, neg = _like_regex(node.pattern), node.negated
            return lambda v: (rx.fullmatch(value(v)) is not None) != neg
        # IS [NOT] NULL: partition values are never null in the catalog
        neg = node.negated
        return lambda v: neg


def _value_reader(idx: int, name: str, cast: Caster) -> Callable[[Sequence[str]], Any]:
    def read(values: Sequence[str]) -> Any:
        if idx >= len(values):
            raise PartitionValueError(f"partition {list(values)} has no value for key '{name}'")
        try:
            return cast(values[idx])
        except ValueError as e:
            raise PartitionValueError(f"partition value of key '{name}': {e}") from None
    return read


def compile_expression(expression: str | None,
                       partition_keys: Sequence[Mapping[str, str]]) -> Predicate:
    """Predicate over a partition's ``Values`` for ``expression`` on these keys.

    ``None`` or a blank expression selects every partition (as Glue does). Raises
    :class:`ExpressionError` for a malformed expression, an unknown key, an
    unsupported key type or a literal that does not fit its key's type.
    """
    if expression is None or not expression.strip():
        return lambda values: True
    return _Binder(expression, partition_keys).bind(parse(expression))
