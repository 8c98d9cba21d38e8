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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the ingest Lambda image ships without pyarrow
    import pyarrow as pa

from contracts.schema import Field, Kind, Struct, arrow_schema, glue_columns

__all__ = [
    "API_VERSION",
    "INGEST_FIELDS",
    "RAW_FIELDS",
    "REQUIRED_PATHS",
    "SECRET_PATHS",
    "SOURCE_FIELDS",
    "Rejection",
    "api_url",
    "check_api_version",
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


# The randomuser.me API version whose record shape SOURCE_FIELDS describes (1.3 made
# ``location.street`` an object). Its URL names the version, so an API release cannot
# change the shape under the pipeline; a page that reports another version in
# ``info.version`` is refused whole, with one reason.
API_VERSION = "1.4"


def api_url(root: str = "https://randomuser.me/api/") -> str:
    """The pinned endpoint under an API root (``.../api/`` -> ``.../api/1.4/``)."""
    return f"{root.rstrip('/')}/{API_VERSION}/"


def check_api_version(page: Any) -> Rejection | None:
    """None if the page's ``info.version`` is the contract's (or the page names none)."""
    info = page.get("info") if isinstance(page, dict) else None
    version = info.get("version") if isinstance(info, dict) else None
    if version is None or str(version) == API_VERSION:
        return None
    return Rejection("api_version", "info.version",
                     f"api version {version}, expected {API_VERSION}")


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


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _got(value: Any) -> str:
    return type(value).__name__


# Scalar coercers: (value, parent path, field name) -> contract value. The full path is
# only built on the error path, which keeps the hot loop cheap (bench/ingest).
def _to_string(value: Any, path: str, name: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Reject("bad_type", _at(path, name), f"expected string, got {_got(value)}")


def _to_int(value: Any, path: str, name: str) -> int:
    if type(value) is int:
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and _INT_RE.match(value.strip()):
        result = int(value.strip())
    else:
        raise _Reject("bad_type", _at(path, name), f"expected integer, got {_got(value)}")
    if not _INT32[0] <= result <= _INT32[1]:
        raise _Reject("out_of_range", _at(path, name), f"{result} does not fit 32 bits")
    return result


def _to_double(value: Any, path: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Reject("bad_type", _at(path, name), f"expected number, got {_got(value)}")
    try:
        result = float(value)
    except ValueError:
        raise _Reject("bad_type", _at(path, name), "expected number, got text") from None
    if not math.isfinite(result):
        raise _Reject("out_of_range", _at(path, name), "not a finite number")
    return result


def _to_timestamp(value: Any, path: str, name: str) -> datetime:
    if type(value) is not str:
        raise _Reject("bad_type", _at(path, name), f"expected ISO timestamp, got {_got(value)}")
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise _Reject("bad_timestamp", _at(path, name), str(exc)) from None


_ISO_UTC = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z")
# The same form with a year in 1900..2099: every valid such text lies in the contract's
# range [1900-01-01, 2100-01-01) UTC, so only the calendar and clock need checking.
_ISO_UTC_IN_RANGE = re.compile(
    r"((?:19|20)\d{2}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z").fullmatch
_fromisoformat = datetime.fromisoformat


def _to_timestamp_text(value: Any, path: str, name: str) -> str:
    """Validated like ``_to_timestamp``, returned as canonical UTC text (µs, ``Z``).

    The API's usual form (``...T06:21:09.512Z``) is already UTC: it is checked by
    ``datetime.fromisoformat`` (the very call ``parse_timestamp`` makes, so a bad date
    gets the same rejection text) and padded textually, several times cheaper than
    converting and formatting a datetime. Any other form takes the general path.
    """
    m = _ISO_UTC_IN_RANGE(value) if type(value) is str else None
    if m is not None:
        try:
            _fromisoformat(value)
        except ValueError as exc:
            raise _Reject("bad_timestamp", _at(path, name), str(exc)) from None
        frac = m[2]
        return value if frac is not None and len(frac) == 6 else \
            f"{m[1]}.{(frac or '').ljust(6, '0')}Z"
    checked = _to_timestamp(value, path, name)
    m = _ISO_UTC.fullmatch(value)
    if m:
        return f"{m.group(1)}.{(m.group(2) or '').ljust(6, '0')}Z"
    return _ts_text(checked)


_SCALARS: dict[Kind, Any] = {Kind.STRING: _to_string, Kind.INT: _to_int,
                             Kind.DOUBLE: _to_double, Kind.TIMESTAMP: _to_timestamp}
_SCALARS_JSON: dict[Kind, Any] = {**_SCALARS, Kind.TIMESTAMP: _to_timestamp_text}

# Values that need no coercion skip the coercer call: a str for a string, an int that
# fits 32 bits for an int. Anything else goes through the coercer, which accepts or
# rejects exactly as before.
_FAST_CHECK: dict[Kind, str] = {
    Kind.STRING: "type({v}) is str",
    Kind.INT: f"type({{v}}) is int and {_INT32[0]} <= {{v}} <= {_INT32[1]}",
}


def _compile(fields: tuple[Field, ...], scalars: dict[Kind, Any] = _SCALARS, *,
             subscript: bool = False) -> Any:
    """Turn the contract into one straight-line validating function, once, at import.

    The generated code walks the fields in contract order (depth first, so the first
    problem reported is the same one a recursive walk would report), never copies a
    secret, and builds each struct as one dict display. Error paths are constants of
    the generated code: nothing about a path is computed for a valid record. This is
    the ingest Lambda's hot loop (bench/ingest.py); generating it rather than
    interpreting a plan per record roughly halves its cost.

    With ``subscript`` each field is read as ``d[name]`` instead of ``d.get(name)`` (a
    specialised bytecode instead of a method call, ~45 a record) and a missing key
    raises ``KeyError``: :func:`validate_record` then validates the record again with
    the ``get`` version, which gives the same answer for any record (the checks, their
    order and their messages are the same code), so only a record missing a field pays
    twice. The API sends every field, so nearly every record takes the fast path.
    """
    env: dict[str, Any] = {"_Reject": _Reject}
    lines: list[str] = ["def validate(obj):",
                        "    if type(obj) is not dict:",
                        "        raise _Reject('bad_type', '$', "
                        "f'expected object, got {type(obj).__name__}')"]
    counter = iter(range(1_000_000))

    def emit_struct(fields: tuple[Field, ...], src: str, path: str, depth: int) -> str:
        """Emit code validating dict ``src``; returns the name holding the clean dict."""
        pad = "    " * depth
        items: list[str] = []
        for f in fields:
            if f.secret:
                continue  # never copied: secrets cannot reach a serialised record
            here = _at(path, f.name)
            var = f"v{next(counter)}"
            read = f"{src}[{f.name!r}]" if subscript else f"{src}.get({f.name!r})"
            lines.append(f"{pad}{var} = {read}")
            lines.append(f"{pad}if {var} is None:")
            if f.nullable:
                lines.append(f"{pad}    pass")
            else:
                lines.append(f"{pad}    raise _Reject('missing_required', {here!r}, "
                             f"{here + ' is required'!r})")
            if isinstance(f.type, Struct):
                lines.append(f"{pad}elif type({var}) is not dict:")
                lines.append(f"{pad}    raise _Reject('bad_type', {here!r}, "
                             f"f'expected object, got {{type({var}).__name__}}')")
                lines.append(f"{pad}else:")
                inner = emit_struct(f.type.fields, var, here, depth + 1)
                lines.append(f"{pad}    {var} = {inner}")
            else:
                coerce = f"_c{next(counter)}"
                env[coerce] = scalars[f.type]
                fast = _FAST_CHECK.get(f.type)
                lines.append(f"{pad}elif not ({fast.format(v=var)}):" if fast else f"{pad}else:")
                lines.append(f"{pad}    {var} = {coerce}({var}, {path!r}, {f.name!r})")
            items.append(f"{f.name!r}: {var}")
        out = f"d{next(counter)}"
        lines.append(f"{pad}{out} = {{{', '.join(items)}}}")
        return out

    result = emit_struct(fields, "obj", "", 1)
    lines.append(f"    return {result}")
    exec(compile("\n".join(lines), "<contract validator>", "exec"), env)
    return env["validate"]


_VALIDATORS = {  # json_ready -> (every key present, any record)
    False: (_compile(SOURCE_FIELDS, subscript=True), _compile(SOURCE_FIELDS)),
    True: (_compile(SOURCE_FIELDS, _SCALARS_JSON, subscript=True),
           _compile(SOURCE_FIELDS, _SCALARS_JSON)),
}


def validate_record(raw: Any, *, json_ready: bool = False) -> dict[str, Any] | Rejection:
    """Validate one source record against the contract.

    Returns the clean record (secrets and unknown fields removed, values coerced to
    contract types) or a :class:`Rejection`. Never raises for bad input. With
    ``json_ready`` timestamps come back as canonical UTC text instead of datetimes
    (what ``to_json_ready`` would make, without a second pass over the record).
    """
    fast, general = _VALIDATORS[json_ready]
    try:
        try:
            clean: dict[str, Any] = fast(raw)
        except KeyError:  # a field is absent: the general reading decides
            clean = general(raw)
    except _Reject as rej:
        return rej.rejection
    except RecursionError:
        return Rejection("bad_type", "$", "record nested too deeply")
    return _check_required(clean)


REQUIRED_PATHS: tuple[tuple[str, ...], ...] = (("login", "uuid"), ("name",), ("gender",), ("nat",))
"""What makes a record a user, beyond its shape: its natural key plus the fields the API
sends for every user of every nationality (``name`` may hold only some of its parts). The
rest may be missing and stays NULL (the users model handles a NULL email or birth date);
a record holding only ``login.uuid`` is not a user."""


def _compile_required(paths: tuple[tuple[str, ...], ...]) -> Any:
    """:data:`REQUIRED_PATHS` as one straight-line check (no loop over paths and keys on
    the hot path): the first path whose value is missing or blank gives the rejection."""
    env: dict[str, Any] = {"Rejection": Rejection}
    lines = ["def check_required(clean):"]
    for path in paths:
        dotted = ".".join(path)
        lines.append(f"    v = clean.get({path[0]!r})")
        for key in path[1:]:
            lines.append(f"    v = v.get({key!r}) if isinstance(v, dict) else None")
        lines += [
            "    if v is None or (isinstance(v, str) and not v.strip()):",
            f"        return Rejection('missing_required', {dotted!r}, "
            f"{dotted + ' is '!r} + ('empty' if v is not None else 'required'))"]
    lines.append("    return clean")
    exec(compile("\n".join(lines), "<required fields>", "exec"), env)
    return env["check_required"]


_check_required = _compile_required(REQUIRED_PATHS)


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
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json_value(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: _json_value(x) for k, x in v.items()}
    if t is datetime:
        return _ts_text(v)
    return v


def to_json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """Clean record -> JSON-serialisable dict (timestamps as ISO text with microseconds)."""
    return {k: _json_value(v) for k, v in record.items()}


def _from_json(fields: list[pa.Field], obj: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa

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
    import pyarrow as pa

    schema = schema or raw_arrow_schema()
    fields = list(schema)
    rows = [_from_json(fields, r) for r in records]
    return pa.Table.from_pylist(rows, schema=schema)
