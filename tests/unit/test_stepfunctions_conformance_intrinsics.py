"""Conformance: the ``States.*`` intrinsic functions, at their documented edges.

Source unless said otherwise: AWS, "Intrinsic functions for JSONPath states in Step
Functions", https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
(INTRINSICS below), and the ASL spec appendix B. A failure AWS documents is States.Runtime
(uncatchable); behaviour AWS leaves undocumented stops the run with the uncatchable
Local.UnsupportedFeature instead of a guess.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.asl_conformance import (
    ECHO,
    failure_of,
    machine,
    pass_params,
    refused,
    run,
    value_of,
)

UNSUPPORTED = "Local.UnsupportedFeature"

# --------------------------------------------------------------------------- States.Format


@pytest.mark.parametrize(("expr", "data", "expected"), [
    # INTRINSICS "States.Format": each {} is replaced by the positional argument
    ("States.Format('Hello, my name is {}.', $.name)", {"name": "Arnav"},
     "Hello, my name is Arnav."),
    # numbers, booleans and null render as their JSON text
    ("States.Format('{}|{}|{}|{}', $.i, $.f, $.b, $.n)", {"i": 3, "f": 1.5, "b": True, "n": None},
     "3|1.5|true|null"),
    # INTRINSICS "Reserved characters": ' { } \ are escaped with a backslash
    ("States.Format('it\\'s \\{literal\\} and a \\\\ backslash {}', 'x')", {},
     "it's {literal} and a \\ backslash x"),
    # empty strings are values like any other
    ("States.Format('[{}]', '')", {}, "[]"),
    ("States.Format('')", {}, ""),
    # nested intrinsic as an argument
    ("States.Format('{} items', States.ArrayLength($.xs))", {"xs": [1, 2]}, "2 items"),
])
def test_format(expr: str, data: dict[str, object], expected: str) -> None:
    assert value_of(expr, data) == expected


def test_format_with_an_object_or_array_argument_is_not_guessed() -> None:
    # INTRINSICS documents string/number/boolean/null arguments only: an object or array
    # stops the run (uncatchable), naming the feature, instead of inventing a rendering
    for value in ({"a": 1}, [1, 2]):
        error, cause = failure_of("States.Format('v={}', $.v)", {"v": value})
        assert error == UNSUPPORTED and "States.Format" in cause


@pytest.mark.parametrize(("expr", "needle"), [
    ("States.Format('{} and {}', $.a)", "template has 2 '{}' but 1 argument(s)"),
    ("States.Format('no hole', $.a)", "template has 0 '{}' but 1 argument(s)"),
    ("States.Format('a lone { brace')", "unescaped '{'"),
    ("States.Format('a lone } brace')", "unescaped '{' or '}'"),
    ("States.Format($.template, $.a)", "template must be a string literal"),
    # INTRINSICS "Reserved characters": only \' \{ \} \\ are escapes
    ("States.Format('bad \\n escape')", "illegal escape"),
    ("States.Format('unterminated)", "unterminated string"),
])
def test_format_mistakes_are_refused_at_load(expr: str, needle: str) -> None:
    refused(pass_params({"v.$": expr}), "state 'P'", needle)


# --------------------------------------------------------------------------- JSON


def test_string_to_json_and_json_to_string_round_trip() -> None:
    # INTRINSICS "States.StringToJson" / "States.JsonToString" (compact JSON text)
    data = {"s": '{"a":[1,2],"b":"é"}', "o": {"a": [1, 2], "b": "é"}}
    assert value_of("States.StringToJson($.s)", data) == data["o"]
    assert value_of("States.JsonToString($.o)", data) == '{"a":[1,2],"b":"é"}'


@pytest.mark.parametrize("text", ["", " "])
def test_string_to_json_of_an_empty_or_blank_string_is_null(text: str) -> None:
    # AWS-recorded executions: StringToJson of "" and of " " succeed with null
    assert value_of("States.StringToJson($.s)", {"s": text}) is None


@pytest.mark.parametrize("text", ["{not json", "[1,"])
def test_string_to_json_of_invalid_json_fails_with_states_runtime(text: str) -> None:
    error, cause = failure_of("States.StringToJson($.s)", {"s": text})
    assert error == "States.Runtime" and "StringToJson" in cause


# --------------------------------------------------------------------------- arrays


def test_array_and_array_partition_examples() -> None:
    # INTRINSICS "States.Array" and "States.ArrayPartition" (chunks of the given size, the
    # last one shorter)
    assert value_of("States.Array('a', 1, true, $.x)", {"x": {"k": 1}}) == ["a", 1, True,
                                                                               {"k": 1}]
    assert value_of("States.Array()") == []
    assert value_of("States.ArrayPartition($.xs, 4)", {"xs": list(range(1, 10))}) == [
        [1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert value_of("States.ArrayPartition($.xs, 4)", {"xs": []}) == []


def test_array_partition_needs_a_positive_chunk_size() -> None:
    assert failure_of("States.ArrayPartition($.xs, 0)", {"xs": [1]})[0] == "States.Runtime"


def test_array_contains_uses_json_equality() -> None:
    # INTRINSICS "States.ArrayContains": true if the value is in the array; JSON true is not
    # the number 1
    data = {"xs": [1, "a", {"k": [1]}, True]}
    assert value_of("States.ArrayContains($.xs, $.v)", {**data, "v": {"k": [1]}}) is True
    assert value_of("States.ArrayContains($.xs, 'b')", data) is False
    assert value_of("States.ArrayContains($.ys, 1)", {"ys": [True]}) is False


def test_array_range_example_and_limit() -> None:
    # INTRINSICS "States.ArrayRange": first, last (inclusive), step; "The new array can
    # contain up to 1000 items"
    assert value_of("States.ArrayRange(1, 9, 2)") == [1, 3, 5, 7, 9]
    assert value_of("States.ArrayRange(5, 1, -2)") == [5, 3, 1]
    assert len(value_of("States.ArrayRange(1, 1000, 1)")) == 1000
    error, cause = failure_of("States.ArrayRange(1, 1001, 1)")
    assert error == "States.Runtime" and "1000" in cause
    assert failure_of("States.ArrayRange(1, 5, 0)")[0] == "States.Runtime"


def test_array_range_rounds_non_integers_and_refuses_ties() -> None:
    # INTRINSICS: non-integer arguments are rounded to the nearest integer; the tie rule
    # (x.5) is not documented, so it stops the run rather than picking one
    assert value_of("States.ArrayRange(1.2, 3.7, 1)") == [1, 2, 3, 4]
    assert failure_of("States.ArrayRange(1.5, 3, 1)")[0] == UNSUPPORTED
    # a step pointing away from the last value is not documented either
    assert failure_of("States.ArrayRange(1, 5, -1)")[0] == UNSUPPORTED


def test_array_get_item_length_unique() -> None:
    # INTRINSICS "States.ArrayGetItem" (0-based), "States.ArrayLength", "States.ArrayUnique"
    data = {"xs": [1, 2, 3, 3, 3, 4], "i": 1}
    assert value_of("States.ArrayGetItem($.xs, $.i)", data) == 2
    assert value_of("States.ArrayLength($.xs)", data) == 6
    assert value_of("States.ArrayUnique($.xs)", data) == [1, 2, 3, 4]
    assert value_of("States.ArrayUnique($.ys)", {"ys": [1, True, 1.0, "1"]}) == [1, True, "1"]


@pytest.mark.parametrize("expr", [
    "States.ArrayGetItem($.xs, 3)", "States.ArrayGetItem($.xs, -1)",
    "States.ArrayGetItem($.xs, 1.5)", "States.ArrayLength($.s)", "States.ArrayUnique($.s)",
    "States.ArrayContains($.s, 1)", "States.ArrayPartition($.s, 1)",
])
def test_array_functions_on_bad_input_fail_with_states_runtime(expr: str) -> None:
    assert failure_of(expr, {"xs": [1, 2, 3], "s": "not an array"})[0] == "States.Runtime"


# --------------------------------------------------------------------------- encoding / hash


def test_base64_example_and_round_trip() -> None:
    # INTRINSICS "States.Base64Encode": "Data to encode" -> "RGF0YSB0byBlbmNvZGU="
    assert value_of("States.Base64Encode('Data to encode')") == "RGF0YSB0byBlbmNvZGU="
    assert value_of("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')") == "Data to encode"
    assert value_of("States.Base64Decode(States.Base64Encode($.s))", {"s": "héllo"}) == "héllo"


def test_base64_input_limit_is_10000_characters() -> None:
    # INTRINSICS: Base64Encode/Base64Decode input "up to 10,000 characters"
    assert len(value_of("States.Base64Encode($.s)", {"s": "a" * 10_000})) > 0
    error, cause = failure_of("States.Base64Encode($.s)", {"s": "a" * 10_001})
    assert error == "States.Runtime" and "10000" in cause
    assert failure_of("States.Base64Decode('***')")[0] == "States.Runtime"


@pytest.mark.parametrize(("algorithm", "digest"), [
    ("MD5", "900150983cd24fb0d6963f7d28e17f72"),
    ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("SHA-256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("SHA-384", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                "8086072ba1e7cc2358baeca134c825a7"),
    ("SHA-512", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
])
def test_hash_algorithms(algorithm: str, digest: str) -> None:
    # INTRINSICS "States.Hash": MD5, SHA-1, SHA-256, SHA-384, SHA-512, hex digest
    # (digests of "abc" are the FIPS 180 / RFC 1321 test vectors)
    assert value_of(f"States.Hash('abc', '{algorithm}')") == digest


def test_hash_edges() -> None:
    # an unknown algorithm written in the definition is refused at load; one read from the
    # data fails the run; input over 10,000 characters fails (INTRINSICS)
    refused(pass_params({"v.$": "States.Hash('abc', 'SHA-999')"}), "SHA-999")
    assert failure_of("States.Hash('abc', $.alg)", {"alg": "sha256"})[0] == "States.Runtime"
    assert failure_of("States.Hash($.s, 'MD5')", {"s": "a" * 10_001})[0] == "States.Runtime"
    assert failure_of("States.Hash($.o, 'MD5')", {"o": {"a": 1}})[0] == UNSUPPORTED


# --------------------------------------------------------------------------- JsonMerge / math


def test_json_merge_is_shallow_and_the_second_object_wins() -> None:
    # INTRINSICS "States.JsonMerge" example: shallow merge, the right object's "a" replaces
    # the left one's entirely
    data = {"j1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "j2": {"a": {"a3": 1, "a4": 2}, "c": 3}}
    assert value_of("States.JsonMerge($.j1, $.j2, false)", data) == {
        "a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}


def test_json_merge_deep_true_is_rejected() -> None:
    # INTRINSICS: "Step Functions only supports the shallow merging mode; therefore, you must
    # specify the boolean value as false"
    refused(pass_params({"v.$": "States.JsonMerge($.a, $.b, true)"}), "shallow")
    data = {"a": {}, "b": {}, "deep": True}
    assert failure_of("States.JsonMerge($.a, $.b, $.deep)", data)[0] == "States.Runtime"
    assert failure_of("States.JsonMerge($.a, $.s, false)", {"a": {}, "s": "x"})[0] == (
        "States.Runtime")


def test_math_add_example_rounding_and_range() -> None:
    # INTRINSICS "States.MathAdd": 111 + -1 = 110; non-integers are rounded to the nearest
    # integer; values are limited to -2147483648..2147483647
    assert value_of("States.MathAdd($.v, -1)", {"v": 111}) == 110
    assert value_of("States.MathAdd(1.2, 1.7)") == 3
    assert failure_of("States.MathAdd(0.5, 1)")[0] == UNSUPPORTED  # tie: undocumented
    assert failure_of("States.MathAdd($.v, 1)", {"v": 2147483647})[0] == "States.Runtime"
    assert failure_of("States.MathAdd($.v, 1)", {"v": "1"})[0] == "States.Runtime"
    assert failure_of("States.MathAdd($.v, 1)", {"v": True})[0] == "States.Runtime"


# --------------------------------------------------------------------------- strings / UUID


def test_string_split_examples() -> None:
    # INTRINSICS "States.StringSplit": "1,2,3,4,5" on "," and "This.is+a,test=string" on
    # ".+,=" (every separator character splits)
    assert value_of("States.StringSplit('1,2,3,4,5', ',')") == ["1", "2", "3", "4", "5"]
    assert value_of("States.StringSplit('This.is+a,test=string', '.+,=')") == [
        "This", "is", "a", "test", "string"]


@pytest.mark.parametrize("text", ["", ",a", "a,", "a,,b"])
def test_string_split_with_empty_pieces_is_not_guessed(text: str) -> None:
    # whether AWS keeps or drops empty pieces is not documented
    assert failure_of("States.StringSplit($.s, ',')", {"s": text})[0] == UNSUPPORTED


def test_uuid_is_a_random_version_4_uuid() -> None:
    # INTRINSICS "States.UUID": a version 4 UUID
    pattern = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    first, second = value_of("States.UUID()"), value_of("States.UUID()")
    assert pattern.match(first) and pattern.match(second) and first != second


# --------------------------------------------------------------------------- where and how many


def test_at_most_ten_intrinsics_per_field() -> None:
    # INTRINSICS: "You can nest up to 10 intrinsic functions within a field"
    ten = "States.Array(" * 10 + ")" * 10
    assert value_of(ten) == [[[[[[[[[[]]]]]]]]]]
    refused(pass_params({"v.$": "States.Array(" * 11 + ")" * 11}), "at most 10")


@pytest.mark.parametrize(("expr", "needle"), [
    ("States.MathRandom(1, 10)", "States.MathRandom is not supported"),
    ("States.ArrayLength()", "takes 1 argument(s), got 0"),
    ("States.UUID(1)", "takes 0 argument(s), got 1"),
    ("States.MathAdd(1)", "takes 2 argument(s), got 1"),
    ("States.Array(null)", "expected a string, number, boolean, path or intrinsic"),
    ("States.Array(1) trailing", "unexpected trailing text"),
])
def test_unknown_functions_and_wrong_arity_are_refused_at_load(expr: str, needle: str) -> None:
    refused(pass_params({"v.$": expr}), "state 'P'", needle)


def test_intrinsics_work_in_result_selector_and_item_selector() -> None:
    # INTRINSICS "Fields that support intrinsic functions": Task Parameters and
    # ResultSelector, Map ItemSelector/Parameters
    d = machine({"M": {"Type": "Map", "End": True,
                       "ItemSelector": {"v.$": "States.Format('#{}', $$.Map.Item.Index)"},
                       "ItemProcessor": {"StartAt": "T", "States": {"T": {
                           "Type": "Task", "Resource": ECHO, "End": True,
                           "ResultSelector": {"n.$": "States.StringToJson('[1]')"}}}}}})
    assert run(d, ["a", "b"]).output == [{"n": [1]}, {"n": [1]}]


def test_intrinsics_are_not_paths() -> None:
    # InputPath/OutputPath/ItemsPath take paths, not intrinsics (INTRINSICS: the supported
    # fields list does not include them)
    d = machine({"P": {"Type": "Pass", "InputPath": "States.Array($.a)", "End": True}})
    refused(d, "InputPath")


def test_escapes_apply_to_literals_only_never_to_data() -> None:
    # INTRINSICS "Reserved characters": escaping is a property of the definition's string
    # literals; values read from the input (even ones containing braces, backslashes or
    # control characters) are used as they are
    odd = "a{}b\\c\x00d"
    assert value_of("States.Format('<{}>', $.s)", {"s": odd}) == f"<{odd}>"
    assert value_of("States.Array('\\{x\\}', 'it\\'s', $.s)", {"s": odd}) == ["{x}", "it's", odd]
    assert value_of("States.JsonToString($.o)", {"o": {"k": odd}}) == '{"k":"a{}b\\\\c\\u0000d"}'
