"""Choice state rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from local_aws.stepfunctions.jsonpath import get_path, is_present

# --------------------------------------------------------------------------- choice rules


def string_matches_regex(pattern: str) -> str:
    """The regex of a StringMatches pattern: ``*`` matches any run of characters, ``\\*`` a
    literal asterisk, ``\\\\`` a literal backslash; no other character is special
    (ASL spec, "Choice Rules", StringMatches). ``ValueError`` on any other escape."""
    out, pos = [], 0
    while pos < len(pattern):
        ch = pattern[pos]
        if ch == "\\":
            nxt = pattern[pos + 1 : pos + 2]
            if nxt not in ("*", "\\"):
                raise ValueError(f"StringMatches {pattern!r}: illegal escape '\\{nxt}' "
                                 "(only \\* and \\\\ exist)")
            out.append(re.escape(nxt))
            pos += 2
            continue
        out.append(".*" if ch == "*" else re.escape(ch))
        pos += 1
    return "".join(out)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op.startswith("String"):
        if not isinstance(left, str) or not isinstance(right, str):
            return False
        if op == "StringMatches":
            return re.fullmatch(string_matches_regex(right), left, flags=re.DOTALL) is not None
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


def rule_matches(rule: Mapping[str, Any], data: Any, ctx: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(rule_matches(r, data, ctx) for r in rule["And"])
    if "Or" in rule:
        return any(rule_matches(r, data, ctx) for r in rule["Or"])
    if "Not" in rule:
        return not rule_matches(rule["Not"], data, ctx)
    variable = rule["Variable"]
    op = next(k for k in rule if k not in ("Variable", "Next", "Comment"))
    expected = rule[op]
    if op == "IsPresent":
        return is_present(data, variable, ctx) == expected
    value = get_path(data, variable, ctx)
    checks = {
        "IsNull": lambda: value is None,
        "IsString": lambda: isinstance(value, str),
        "IsNumeric": lambda: isinstance(value, int | float) and not isinstance(value, bool),
        "IsBoolean": lambda: isinstance(value, bool),
    }
    if op in checks:
        return bool(checks[op]()) == expected
    if op.endswith("Path"):
        op, expected = op.removesuffix("Path"), get_path(data, expected, ctx)
    return _compare(op, value, expected)


