"""Unit tests of the Glue partition Expression parser/evaluator (pure, no catalog)."""

from __future__ import annotations

import pytest

from local_aws.glue.partition_expr import (
    And,
    Compare,
    ExpressionError,
    Literal,
    Not,
    Or,
    PartitionValueError,
    compile_expression,
    parse,
    referenced_keys,
)

KEYS = [{"Name": "p_date", "Type": "string"}, {"Name": "p_hour", "Type": "int"}]
PARTS = [[d, h] for d in ("2024-01-01", "2024-01-02", "2024-01-10") for h in ("2", "9", "10")]


def select(expression: str, keys: list[dict[str, str]] = KEYS,
           parts: list[list[str]] = PARTS) -> list[list[str]]:
    keep = compile_expression(expression, keys)
    return [p for p in parts if keep(p)]


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    # GIVEN an expression mixing OR, AND and NOT without parentheses
    node = parse("a = 1 OR NOT b = 2 AND c = 3")
    # WHEN parsed
    # THEN it groups as a = 1 OR ((NOT b = 2) AND c = 3)
    assert node == Or((Compare("a", "=", Literal("1", False)),
                       And((Not(Compare("b", "=", Literal("2", False))),
                            Compare("c", "=", Literal("3", False))))))


def test_integral_keys_compare_numerically_string_keys_as_strings() -> None:
    # GIVEN hours 2, 9, 10 (as strings "10" < "9", as numbers 9 < 10)
    # WHEN filtering an int key and a string key with the same looking literal
    by_int = select("p_hour > 9 AND p_date = '2024-01-01'")
    string_keys = [{"Name": "p_date", "Type": "string"}, {"Name": "p_hour", "Type": "string"}]
    by_str = select("p_hour > '9' AND p_date = '2024-01-01'", string_keys)
    # THEN the int key compares numerically and the string key lexically
    assert by_int == [["2024-01-01", "10"]]
    assert by_str == []


def test_not_and_bang_equals_and_literal_on_the_left() -> None:
    # GIVEN equivalent spellings of "not the 2nd"
    # WHEN each is evaluated
    results = [select(e) for e in ("NOT p_date = '2024-01-02'", "p_date != '2024-01-02'",
                                   "p_date <> '2024-01-02'", "NOT (p_date = '2024-01-02')")]
    # THEN they agree and exclude exactly the 2nd
    assert all(r == results[0] for r in results)
    assert {p[0] for p in results[0]} == {"2024-01-01", "2024-01-10"}
    # AND a literal on the left flips the comparison
    assert select("'2024-01-02' < p_date") == select("p_date > '2024-01-02'")


def test_between_in_like_and_their_negations() -> None:
    # GIVEN the partitions
    # WHEN using BETWEEN, IN and LIKE (and NOT ...)
    # THEN they select as SQL does (inclusive bounds, % and _ wildcards)
    assert {p[1] for p in select("p_hour BETWEEN 2 AND 9")} == {"2", "9"}
    assert select("p_hour BETWEEN 9 AND 2") == []
    assert {p[1] for p in select("p_hour NOT BETWEEN 2 AND 9")} == {"10"}
    assert {p[0] for p in select("p_date IN ('2024-01-02', '2024-01-10')")} == \
        {"2024-01-02", "2024-01-10"}
    assert {p[0] for p in select("p_date NOT IN ('2024-01-02')")} == {"2024-01-01", "2024-01-10"}
    assert {p[0] for p in select("p_date LIKE '2024-01-0_'")} == {"2024-01-01", "2024-01-02"}
    assert {p[0] for p in select("p_date NOT LIKE '%0'")} == {"2024-01-01", "2024-01-02"}
    assert select("p_date LIKE '2024.01%'") == []  # regex characters are literal


def test_keywords_are_case_insensitive_and_quotes_escape() -> None:
    # GIVEN lower-case keywords and a quoted key name
    parts = [["it's"], ["its"]]
    keys = [{"Name": "p_date", "Type": "string"}]
    # WHEN evaluated
    # THEN keywords work in any case and '' is a quote inside a literal
    assert select("p_date in ('it''s') or `p_date` between 'a' and 'b'", keys, parts) == [["it's"]]


def test_blank_expression_selects_everything() -> None:
    # GIVEN no expression or a blank one
    # WHEN evaluated
    # THEN every partition is selected (Glue treats blank as no filter)
    assert select("   ") == PARTS
    assert [p for p in PARTS if compile_expression(None, KEYS)(p)] == PARTS


def test_date_decimal_and_timestamp_keys_compare_as_their_type() -> None:
    # GIVEN keys typed date, decimal and timestamp
    keys = [{"Name": "d", "Type": "date"}, {"Name": "n", "Type": "decimal(10,2)"},
            {"Name": "t", "Type": "timestamp"}]
    parts = [["2024-01-02", "10.5", "2024-01-01 00:00:00"],
             ["2024-01-10", "9.75", "2024-01-01 00:00:00.5"]]
    # WHEN compared with literals
    # THEN the comparison is by value, not by text
    assert select("d > '2024-01-09'", keys, parts) == [parts[1]]
    assert select("n > 10", keys, parts) == [parts[0]]
    assert select("t > '2024-01-01 00:00:00.1'", keys, parts) == [parts[1]]


@pytest.mark.parametrize(("expression", "fragment"), [
    ("p_date >", "expected a literal"),
    ("p_date = '2024-01-01' AND", "expected a partition key"),
    ("p_date == '2024-01-01'", "expected a literal"),
    ("p_date = '2024-01-01", "unexpected character"),
    ("p_date IN ()", "expected a literal"),
    ("(p_date = 'a'", "expected ')'"),
    ("p_date = 2024-01-01", "expected AND, OR or end"),
    ("p_date BETWEEN 'a' 'b'", "AND in BETWEEN"),
    ("p_date LIKE 5", "quoted pattern"),
    ("nope = 'a'", "'nope' is not a partition key"),
    ("p_hour = 'ten'", "'ten' is not an integer"),
    ("p_hour LIKE '1%'", "Integral data type doesn't support operation 'LIKE'"),
    ("p_date NOT = 'a'", "IN, BETWEEN or LIKE after NOT"),
])
def test_bad_expressions_raise_a_clear_error(expression: str, fragment: str) -> None:
    # GIVEN a malformed or ill-typed expression
    # WHEN compiled against the keys
    with pytest.raises(ExpressionError) as err:
        compile_expression(expression, KEYS)
    # THEN the message names the expression and what is wrong
    assert fragment in str(err.value)
    assert expression in str(err.value)


def test_unsupported_key_type_is_rejected() -> None:
    # GIVEN a boolean partition key (not in Glue's supported list)
    # WHEN an expression references it
    # THEN it is rejected as invalid input
    with pytest.raises(ExpressionError, match="Unsupported partition key type 'boolean'"):
        compile_expression("flag = 'true'", [{"Name": "flag", "Type": "boolean"}])


def test_stored_value_of_the_wrong_type_is_a_value_error() -> None:
    # GIVEN an int key holding a non-integer value
    keep = compile_expression("p_hour > 1", KEYS)
    # WHEN evaluated
    # THEN a PartitionValueError (InvalidStateException in the catalog) is raised
    with pytest.raises(PartitionValueError, match="'x' is not an integer"):
        keep(["2024-01-01", "x"])


def test_referenced_keys() -> None:
    # GIVEN a nested expression
    # WHEN asking which keys it uses
    # THEN all are listed once
    assert referenced_keys(parse("a = 1 AND (NOT b IN (1, 2) OR a LIKE 'x%')")) == {"a", "b"}
