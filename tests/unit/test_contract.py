"""The raw-record contract: one definition drives validation, Arrow and Glue schemas."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.tables import RAW, USERS
from contracts.user_record import (
    SECRET_PATHS,
    Rejection,
    raw_arrow_schema,
    raw_glue_columns,
    records_to_arrow,
    scrub_secrets,
    to_json_ready,
    validate_record,
)

SECRET_NAMES = {"password", "salt", "md5", "sha1", "sha256"}


def test_secrets_are_declared_but_never_in_a_derived_schema() -> None:
    # GIVEN the contract WHEN schemas are derived THEN no secret column exists anywhere
    assert {p[-1] for p in SECRET_PATHS} == SECRET_NAMES
    login = raw_arrow_schema().field("login").type
    assert [login.field(i).name for i in range(login.num_fields)] == ["uuid", "username"]
    glue_login = next(c for c in raw_glue_columns() if c["Name"] == "login")
    assert glue_login["Type"] == "struct<uuid:string,username:string>"


def test_postcode_is_a_string_in_every_schema() -> None:
    loc = raw_arrow_schema().field("location").type
    assert loc.field("postcode").type == pa.string()
    location = next(c for c in RAW.glue_columns() if c["Name"] == "location")
    assert "postcode:string" in location["Type"]
    assert USERS.arrow_schema().field("postcode").type == pa.string()


def test_sample_records_validate_and_drop_secrets(sample_page: dict[str, Any]) -> None:
    # GIVEN the sample page WHEN each record is validated
    cleaned = [validate_record(r) for r in sample_page["results"]]
    # THEN all pass, secrets are gone, int postcodes became strings, dates are UTC
    assert all(isinstance(c, dict) for c in cleaned)
    first = cleaned[1]
    assert isinstance(first, dict)
    assert first["location"]["postcode"] == "37073"
    assert set(first["login"]) == {"uuid", "username"}
    assert first["dob"]["date"] == datetime(1974, 8, 30, 22, 10, 55, tzinfo=UTC)
    assert first["name"]["last"] == "Schäfer"
    assert cleaned[0]["location"]["postcode"] == "4700-123"  # type: ignore[index]
    assert cleaned[2]["id"]["value"] is None  # type: ignore[index]


@pytest.mark.parametrize(
    ("mutate", "code", "path"),
    [
        (lambda r: r["login"].pop("uuid"), "missing_required", "login.uuid"),
        (lambda r: r["login"].update(uuid="   "), "missing_required", "login.uuid"),
        (lambda r: r.pop("login"), "missing_required", "login"),
        (lambda r: r.update(location="Lisbon"), "bad_type", "location"),
        (lambda r: r["dob"].update(date="2021-02-30T00:00:00Z"), "bad_timestamp", "dob.date"),
        (lambda r: r["dob"].update(date="3021-01-01T00:00:00Z"), "bad_timestamp", "dob.date"),
        (lambda r: r["dob"].update(age="old"), "bad_type", "dob.age"),
        (lambda r: r["dob"].update(age=True), "bad_type", "dob.age"),
        (lambda r: r.update(email=["a@b"]), "bad_type", "email"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(sample_page: dict[str, Any], mutate: Any,
                                                code: str, path: str) -> None:
    record = copy.deepcopy(sample_page["results"][0])
    mutate(record)
    result = validate_record(record)
    assert isinstance(result, Rejection)
    assert (result.code, result.path) == (code, path)


def test_unknown_fields_do_not_fail_a_record(sample_page: dict[str, Any]) -> None:
    record = copy.deepcopy(sample_page["results"][0])
    record["brand_new"] = {"x": 1}
    record["location"]["extra"] = 5
    clean = validate_record(record)
    assert isinstance(clean, dict)
    assert "brand_new" not in clean and "extra" not in clean["location"]


@pytest.mark.parametrize("record", [
    {"login": {"uuid": "7a0eed16-9430-4d68-901f-c0d4c1c3bf00"}},
    {"login": {"uuid": "u1"}, "email": "a@b.c", "gender": "female", "nat": "CH"},
    {"login": {"uuid": "u1"}, "name": {"first": "A"}, "nat": "CH"},
    {"login": {"uuid": "u1"}, "name": {"first": "A"}, "gender": "male"},
])
def test_a_record_holding_only_an_id_is_not_a_user(record: dict[str, Any]) -> None:
    # GIVEN a record with the natural key but without what every API user carries
    # WHEN validated THEN it is rejected as missing what the contract requires
    result = validate_record(record)
    assert isinstance(result, Rejection) and result.code == "missing_required"
    assert result.path in ("name", "gender", "nat")


def test_non_object_records_are_rejected() -> None:
    for raw in (None, 3, "x", [1, 2]):
        result = validate_record(raw)
        assert isinstance(result, Rejection) and result.code == "bad_type"


def test_scrub_removes_secrets_without_touching_the_input(sample_page: dict[str, Any]) -> None:
    raw = sample_page["results"][0]
    scrubbed = scrub_secrets(raw)
    assert set(scrubbed["login"]) == {"uuid", "username"}
    assert "password" in raw["login"]  # input not mutated


def test_json_roundtrip_to_arrow_keeps_microseconds(sample_page: dict[str, Any]) -> None:
    clean = validate_record(sample_page["results"][0])
    assert isinstance(clean, dict)
    meta = {"batch_id": "b1", "fetched_at": datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC),
            "source_page": 1, "source_seed": "s"}
    line = json.dumps(to_json_ready({**clean, **meta}))
    table = records_to_arrow([json.loads(line)])
    assert table.schema == raw_arrow_schema()
    assert table.column("fetched_at")[0].as_py() == meta["fetched_at"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(["login", "login.uuid", "dob", "dob.date", "location",
                             "location.postcode", "location.street.number", "email", "id.value",
                             "registered.age", "name"]),
       value=_json)
def test_fuzzed_records_never_raise_and_never_keep_secrets(sample_page: dict[str, Any], path: str,
                                                           value: Any) -> None:
    # GIVEN a sample record with one field replaced by arbitrary JSON
    record = copy.deepcopy(sample_page["results"][0])
    parent = record
    *head, last = path.split(".")
    for key in head:
        parent = parent[key]
    parent[last] = value
    # WHEN validated THEN it is a clean record or a rejection, and no secret survives
    result = validate_record(record)
    assert isinstance(result, dict | Rejection)
    text = json.dumps(to_json_ready(result)) if isinstance(result, dict) else ""
    text += json.dumps(scrub_secrets(record), default=str)
    for secret in ("hunter2", "Xy12AbCd", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"):
        assert secret not in text


def test_json_ready_validation_equals_validate_then_convert(sample_page: dict[str, Any]) -> None:
    for raw in sample_page["results"]:
        direct = validate_record(raw, json_ready=True)
        two_pass = validate_record(raw)
        assert isinstance(two_pass, dict)
        assert direct == to_json_ready(two_pass)


# A plain recursive reading of the contract, as validation worked before it was compiled
# to straight-line code: the generated validator must agree with it on every input.
def _reference_validate(raw: Any, json_ready: bool) -> dict[str, Any] | Rejection:
    from contracts import user_record as ur
    from contracts.schema import Kind, Struct

    def timestamp_text(value: Any, here: str, name: str) -> str:  # before its fast path
        checked = ur._to_timestamp(value, here, name)
        m = ur._ISO_UTC.fullmatch(value)
        if m:
            return f"{m.group(1)}.{(m.group(2) or '').ljust(6, '0')}Z"
        return ur._ts_text(checked)

    scalars = {**ur._SCALARS, Kind.TIMESTAMP: timestamp_text} if json_ready else ur._SCALARS

    def walk(fields: Any, obj: Any, here: str) -> dict[str, Any]:
        if type(obj) is not dict:
            raise ur._Reject("bad_type", here or "$", f"expected object, got {type(obj).__name__}")
        out: dict[str, Any] = {}
        for f in fields:
            if f.secret:
                continue
            value = obj.get(f.name)
            path = f"{here}.{f.name}" if here else f.name
            if value is None:
                if not f.nullable:
                    raise ur._Reject("missing_required", path, f"{path} is required")
                out[f.name] = None
            elif isinstance(f.type, Struct):
                out[f.name] = walk(f.type.fields, value, path)
            else:
                assert isinstance(f.type, Kind)
                out[f.name] = scalars[f.type](value, here, f.name)
        return out

    try:
        clean = walk(ur.SOURCE_FIELDS, raw, "")
    except ur._Reject as rej:
        return rej.rejection
    # a user carries its key, its email and its name (not just an id)
    for dotted in ("login.uuid", "name", "gender", "nat"):
        first, *rest = dotted.split(".")
        value = clean.get(first)
        if rest:
            value = value.get(rest[0]) if isinstance(value, dict) else None
        if value is None:
            return Rejection("missing_required", dotted, f"{dotted} is required")
        if isinstance(value, str) and not value.strip():
            return Rejection("missing_required", dotted, f"{dotted} is empty")
    return clean


_TIMESTAMPS = st.sampled_from(["1990-05-17T06:21:09.512Z", "2021-02-30T25:61:00.000Z",
                               "1899-12-31T23:59:59Z", "2099-12-31T23:59:59.999999Z",
                               "2100-01-01T00:00:00Z", "1990-05-17T06:21:09+02:00",
                               "1990-05-17 06:21:09", "1990-05-17T06:21:09.5Z", "", " "])


@settings(max_examples=400, deadline=None)
@given(path=st.sampled_from(["login", "login.uuid", "dob", "dob.date", "registered.date",
                             "location", "location.street", "location.street.number",
                             "location.postcode", "email", "id.value", "registered.age",
                             "name", "name.first", "nat", "gender"]),
       value=_json | _TIMESTAMPS | st.integers()
       | st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 10**12, 1.0, 2.5, True]),
       json_ready=st.booleans())
def test_compiled_validator_agrees_with_a_recursive_reading_of_the_contract(
        sample_page: dict[str, Any], path: str, value: Any, json_ready: bool) -> None:
    # GIVEN a sample record with one field replaced by arbitrary JSON, a timestamp-like
    # text or an integer of any size
    record = copy.deepcopy(sample_page["results"][1])
    parent = record
    *head, last = path.split(".")
    for key in head:
        parent = parent[key] if isinstance(parent.get(key), dict) else parent.setdefault(key, {})
    parent[last] = value
    # WHEN the compiled validator and the reference read it
    # THEN they return the same clean record or the same rejection (code, path, detail)
    assert validate_record(record, json_ready=json_ready) == _reference_validate(record,
                                                                                 json_ready)


@settings(max_examples=300, deadline=None)
@given(paths=st.lists(st.sampled_from(
           ["login", "login.uuid", "dob", "dob.date", "registered", "location",
            "location.street", "location.street.number", "location.coordinates.latitude",
            "location.timezone", "email", "id", "id.value", "name", "name.first", "nat",
            "gender", "phone", "picture", "picture.large"]), max_size=4),
       json_ready=st.booleans())
def test_a_record_missing_fields_gets_the_reference_answer(
        sample_page: dict[str, Any], paths: list[str], json_ready: bool) -> None:
    # GIVEN a sample record with some fields (or whole structs) absent: the validator
    # reads fields by subscript and, on a missing key, reads the record again by .get
    record = copy.deepcopy(sample_page["results"][2])
    for path in paths:
        parent: Any = record
        *head, last = path.split(".")
        for key in head:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(last, None)
    # THEN its answer is the reference's: the same clean record or the same rejection
    assert validate_record(record, json_ready=json_ready) == _reference_validate(record,
                                                                                 json_ready)


def test_the_fast_reading_serves_complete_records_and_the_general_one_the_rest(
        sample_page: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from contracts import user_record as ur

    # GIVEN validators that count their calls
    calls = {"fast": 0, "general": 0}
    fast, general = ur._VALIDATORS[True]

    def counted(name: str, fn: Any) -> Any:
        def call(raw: Any) -> Any:
            calls[name] += 1
            return fn(raw)
        return call
    monkeypatch.setitem(ur._VALIDATORS, True, (counted("fast", fast),
                                               counted("general", general)))
    # WHEN a complete record and one without an email are validated
    complete = copy.deepcopy(sample_page["results"][0])
    partial = copy.deepcopy(complete)
    del partial["email"]
    assert isinstance(validate_record(complete, json_ready=True), dict)
    assert validate_record(partial, json_ready=True)["email"] is None  # type: ignore[index]
    # THEN the complete one was read once, the partial one twice (fast, then general)
    assert calls == {"fast": 2, "general": 1}
