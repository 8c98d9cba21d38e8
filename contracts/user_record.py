"""The raw user record: the randomuser-shaped payload as the pipeline accepts and stores it.

This module is the single definition of the raw layer. ``RAW_FIELDS`` drives
validation here, the Parquet schema the Firehose twin writes, and the Glue columns
of the raw table. Secret fields are declared (so validation knows to strip them)
but never appear in any derived schema.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from contracts.schema import Field, Kind, Struct, arrow_schema, glue_columns

__all__ = [
    "INGEST_FIELDS",
    "RAW_FIELDS",
    "SECRET_PATHS",
    "SOURCE_FIELDS",
    "Rejection",
    "raw_arrow_schema",
    "raw_glue_columns",
    "records_to_arrow",
    "scrub_secrets",
    "to_json_ready",
    "validate_record",
]

S, INT, T = Kind.STRING, Kind.INT, Kind.TIMESTAMP

SOURCE_FIELDS: tuple[Field, ...] = (
    Field("gender", S),
    Field("name", Struct((Field("title", S), Field("first", S), Field("last", S)))),
    Field("location", Struct((
        Field("street", Struct((Field("number", INT), Field("name", S)))),
        Field("city", S),
        Field("state", S),
        Field("country", S),
        # int for some nationalities, string for others: always stored as string so
        # leading zeros and letters survive.
        Field("postcode", S),
        Field("coordinates", Struct((Field("latitude", S), Field("longitude", S)))),
        Field("timezone", Struct((Field("offset", S), Field("description", S)))),
    ))),
    Field("email", S),
    Field("login", Struct((
        Field("uuid", S, nullable=False, doc="natural key"),
        Field("username", S),
        Field("password", S, secret=True),
        Field("salt", S, secret=True),
        Field("md5", S, secret=True),
        Field("sha1", S, secret=True),
        Field("sha256", S, secret=True),
    )), nullable=False),
    Field("dob", Struct((Field("date", T), Field("age", INT)))),
    Field("registered", Struct((Field("date", T), Field("age", INT)))),
    Field("phone", S),
    Field("cell", S),
    Field("id", Struct((Field("name", S), Field("value", S)))),
    Field("picture", Struct((Field("large", S), Field("medium", S), Field("thumbnail", S)))),
    Field("nat", S),
)

INGEST_FIELDS: tuple[Field, ...] = (
    Field("batch_id", S, nullable=False, doc="ingest invocation id"),
    Field("fetched_at", T, nullable=False, doc="when the page was fetched (UTC, us)"),
    Field("source_page", INT),
    Field("source_seed", S),
)

RAW_FIELDS: tuple[Field, ...] = SOURCE_FIELDS + INGEST_FIELDS


def _secret_paths(fields: tuple[Field, ...], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for f in fields:
        if f.secret:
            out.append((*prefix, f.name))
        elif isinstance(f.type, Struct):
            out.extend(_secret_paths(f.type.fields, (*prefix, f.name)))
    return out


SECRET_PATHS: tuple[tuple[str, ...], ...] = tuple(_secret_paths(SOURCE_FIELDS))


def raw_arrow_schema() -> pa.Schema:
    return arrow_schema(RAW_FIELDS)


def raw_glue_columns() -> list[dict[str, str]]:
    return glue_columns(RAW_FIELDS)


# --------------------------------------------------------------------------- validation

@dataclass(frozen=True)
class Rejection:
    """Why a record was refused: a machine-readable code, the field path, a human detail."""

    code: str
    path: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "detail": self.detail}


class _Reject(Exception):
    def __init__(self, code: str, path: str, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(code, path, detail)


_INT_RE = re.compile(r"^[+-]?\d{1,10}$")
_MIN_TS = datetime(1900, 1, 1, tzinfo=UTC)
_MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)
_INT32 = (-(2**31), 2**31 - 1)


def parse_timestamp(value: str) -> datetime:
    """ISO-8601 text to an aware UTC datetime; raises ValueError when impossible."""
    dt = datetime.fromisoformat(value.strip())
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if not _MIN_TS <= dt < _MAX_TS:
        raise ValueError(f"{value!r} is outside 1900..2100")
    return dt


def _coerce(kind: Kind, value: Any, path: str) -> Any:
    if kind is Kind.STRING:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Reject("bad_type", path, f"expected string, got {type(value).__name__}")
    if kind is Kind.INT:
        if isinstance(value, bool):
            raise _Reject("bad_type", path, "expected integer, got bool")
        if isinstance(value, int):
            result = value
        elif isinstance(value, float) and value.is_integer():
            result = int(value)
        elif isinstance(value, str) and _INT_RE.match(value.strip()):
            result = int(value.strip())
        else:
            raise _Reject("bad_type", path, f"expected integer, got {type(value).__name__}")
        if not _INT32[0] <= result <= _INT32[1]:
            raise _Reject("out_of_range", path, f"{result} does not fit a 32-bit integer")
        return result
    if kind is Kind.DOUBLE:
        try:
            if isinstance(value, bool):
                raise ValueError
            result_f = float(value)
        except (TypeError, ValueError):
            got = type(value).__name__
            raise _Reject("bad_type", path, f"expected number, got {got}") from None
        if not math.isfinite(result_f):
            raise _Reject("out_of_range", path, "not a finite number")
        return result_f
    if kind is Kind.TIMESTAMP:
        if not isinstance(value, str):
            raise _Reject("bad_type", path, f"expected ISO timestamp, got {type(value).__name__}")
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise _Reject("bad_timestamp", path, str(exc)) from None
    raise _Reject("bad_type", path, f"unsupported kind {kind}")  # pragma: no cover


def _validate_struct(fields: tuple[Field, ...], obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _Reject("bad_type", path or "$", f"expected object, got {type(obj).__name__}")
    out: dict[str, Any] = {}
    for f in fields:
        if f.secret:
            continue
        p = f"{path}.{f.name}" if path else f.name
        value = obj.get(f.name)
        if value is None:
            if not f.nullable:
                raise _Reject("missing_required", p, f"{p} is required")
            out[f.name] = None
        elif isinstance(f.type, Struct):
            out[f.name] = _validate_struct(f.type.fields, value, p)
        else:
            out[f.name] = _coerce(f.type, value, p)
    return out


def validate_record(raw: Any) -> dict[str, Any] | Rejection:
    """Validate one source record against the contract.

    Returns the clean record (secrets and unknown fields removed, values coerced to
    contract types) or a :class:`Rejection`. Never raises for bad input.
    """
    try:
        clean = _validate_struct(SOURCE_FIELDS, raw, "")
    except _Reject as rej:
        return rej.rejection
    except RecursionError:
        return Rejection("bad_type", "$", "record nested too deeply")
    uuid = clean["login"]["uuid"]
    if not uuid.strip():
        return Rejection("missing_required", "login.uuid", "login.uuid is empty")
    return clean


def scrub_secrets(raw: Any) -> Any:
    """A copy of ``raw`` with every secret path removed (for error outputs)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for path in SECRET_PATHS:
        parent: Any = out
        for key in path[:-1]:
            child = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(child, dict):
                parent = None
                break
            child = dict(child)
            parent[key] = child
            parent = child
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return out


# --------------------------------------------------------------------------- serialization

def _ts_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """Clean record -> JSON-serialisable dict (timestamps as ISO text with microseconds)."""
    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return _ts_text(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return {k: conv(v) for k, v in record.items()}


def _from_json(fields: list[pa.Field], obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        v = obj.get(f.name)
        if v is None:
            out[f.name] = None
        elif pa.types.is_struct(f.type):
            out[f.name] = _from_json(list(f.type), v) if isinstance(v, dict) else v
        elif pa.types.is_timestamp(f.type) and isinstance(v, str):
            out[f.name] = parse_timestamp(v)
        else:
            out[f.name] = v
    return out


def records_to_arrow(records: list[dict[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """JSON-decoded records -> Arrow table in ``schema`` order (default: the raw contract).

    Fields the schema does not name are dropped, as Firehose's Parquet conversion does;
    a value of the wrong type raises ``pa.ArrowException`` / ``ValueError``.
    """
    schema = schema or raw_arrow_schema()
    fields = list(schema)
    rows = [_from_json(fields, r) for r in records]
    return pa.Table.from_pylist(rows, schema=schema)
