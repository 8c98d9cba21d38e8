"""The binary COPY encoder against a real PostgreSQL: what goes in comes back, bit for bit."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.schema import Kind, sql_type
from contracts.tables import USERS
from local_aws.redshift.pg_copy import (
    HEADER,
    TRAILER,
    UnsupportedColumn,
    check_schema,
    encode_batch,
    encode_column,
    payload,
)
from local_aws.redshift.warehouse import LocalWarehouse

UTC = dt.UTC

# one column per contract kind, typed as the DDL renders it for PostgreSQL
KINDS = {"s": Kind.STRING, "i": Kind.INT, "b": Kind.BIGINT, "d": Kind.DOUBLE,
         "f": Kind.BOOLEAN, "day": Kind.DATE, "ts": Kind.TIMESTAMP}
ARROW = {"s": pa.string(), "i": pa.int32(), "b": pa.int64(), "d": pa.float64(),
         "f": pa.bool_(), "day": pa.date32(), "ts": pa.timestamp("us", tz="UTC")}


def _ddl() -> str:
    from contracts.schema import Field

    cols = ", ".join(f"{name} {sql_type(Field(name, kind), 'postgres')}"
                     for name, kind in KINDS.items())
    return f"create table t ({cols})"


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with LocalWarehouse(tmp_path_factory.mktemp("pgcopy"), database="pgcopy") as wh, \
            wh.connect(autocommit=True) as connection:
        connection.execute(_ddl())
        yield connection


def _roundtrip(conn: Any, batches: list[pa.RecordBatch]) -> list[tuple[Any, ...]]:
    conn.execute("truncate t")
    with conn.cursor() as cur, cur.copy(
            f"copy t ({', '.join(KINDS)}) from stdin with (format binary)") as copy:
        for chunk in payload(batches):
            copy.write(chunk)
    return [tuple(r) for r in conn.execute(
        f"select {', '.join(KINDS)} from t order by ctid").fetchall()]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                     == math.copysign(1, b))
    return a == b


EDGES: dict[str, list[Any]] = {
    "s": ["", None, "São Paulo", "Ærøskøbing 😀", "a\u0301", "tab\there", "line\nbreak",
          "quote\"comma,", "\\N", "x" * 70_000],
    "i": [0, None, -(2**31), 2**31 - 1, 1, -1, 42, 7, 8, 9],
    "b": [0, None, -(2**63), 2**63 - 1, 1, -1, 2**40, 3, 4, 5],
    "d": [0.0, None, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308,
          0.1, -123.456],
    "f": [True, None, False, True, False, True, False, True, False, True],
    "day": [dt.date(2000, 1, 1), None, dt.date(1999, 12, 31), dt.date(1970, 1, 1),
            dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1969, 12, 31),
            dt.date(2026, 11, 21), dt.date(2000, 1, 2), dt.date(1900, 2, 28)],
    "ts": [dt.datetime(2000, 1, 1, tzinfo=UTC), None,
           dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
           dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999,
                                                         tzinfo=UTC),
           dt.datetime(2026, 11, 21, 12, 0, 0, 1, tzinfo=UTC),
           dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
           dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
           dt.datetime(1900, 1, 1, tzinfo=UTC)],
}


def _batch(columns: dict[str, list[Any]]) -> pa.RecordBatch:
    return pa.record_batch({name: pa.array(values, ARROW[name])
                            for name, values in columns.items()})


def test_every_kind_round_trips_edge_values_and_nulls(conn: Any) -> None:
    rows = _roundtrip(conn, [_batch(EDGES)])
    expected = list(zip(*EDGES.values(), strict=True))
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_sliced_and_empty_batches(conn: Any) -> None:
    batch = _batch(EDGES)
    rows = _roundtrip(conn, [batch.slice(7, 3), batch.slice(0, 0), batch.slice(2, 1)])
    assert [r[0] for r in rows] == EDGES["s"][7:10] + EDGES["s"][2:3]
    assert _roundtrip(conn, []) == []
    assert list(payload([])) == [HEADER, TRAILER]
    assert encode_batch(batch.slice(0, 0)) == b""


def test_users_contract_is_encodable() -> None:
    check_schema(USERS.arrow_schema())  # every column the load sends has an encoding


def test_unsupported_types_are_named() -> None:
    with pytest.raises(UnsupportedColumn, match="decimal"):
        encode_column(pa.array([1], pa.decimal128(5, 2)))
    with pytest.raises(UnsupportedColumn, match="column price"):
        check_schema(pa.schema([("price", pa.float32())]))


def test_timestamp_before_postgres_range_is_refused_not_wrapped() -> None:
    too_early = pa.array([-(2**63) + 1], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    with pytest.raises(ValueError, match="out of PostgreSQL's range"):
        encode_column(too_early)


def test_other_timestamp_units_are_sent_as_microseconds(conn: Any) -> None:
    cols = {name: [values[0]] for name, values in EDGES.items()}
    batch = _batch(cols)
    ms = pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)],
                  pa.timestamp("ms", tz="UTC"))
    batch = batch.set_column(6, "ts", ms)
    assert _roundtrip(conn, [batch])[0][6] == dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)


_TS = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31),
                   timezones=st.just(UTC))
_STRATEGIES = {
    "s": st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    "i": st.integers(-(2**31), 2**31 - 1),
    "b": st.integers(-(2**63), 2**63 - 1),
    "d": st.floats(allow_nan=True, allow_infinity=True),
    "f": st.booleans(),
    "day": st.dates(),
    "ts": _TS,
}
_ROWS = st.lists(st.fixed_dictionaries({k: st.none() | s for k, s in _STRATEGIES.items()}),
                 max_size=30)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS, split=st.integers(0, 30))
def test_random_rows_round_trip(conn: Any, rows: list[dict[str, Any]], split: int) -> None:
    columns = {name: [r[name] for r in rows] for name in KINDS}
    batch = _batch(columns)
    got = _roundtrip(conn, [batch.slice(0, split), batch.slice(split)])
    want = [tuple(r[name] for name in KINDS) for r in rows]
    assert len(got) == len(want)
    for g_row, w_row in zip(got, want, strict=True):
        assert all(_same(g, w) for g, w in zip(g_row, w_row, strict=True)), (g_row, w_row)
