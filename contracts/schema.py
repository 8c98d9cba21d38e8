"""A tiny schema language: one definition, rendered for every engine.

A contract is a tree of :class:`Field`. From it we derive the Arrow/Parquet schema,
Glue (Hive) column types, Spark DDL and SQL column types, so no engine keeps a
hand-written copy that can drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow is imported where used: the ingest Lambda image ships without it
    import pyarrow as pa

from contracts.glue_types import ArrayT, GType, MapT, StructT, parse_glue_type

__all__ = ["Field", "Kind", "Struct", "arrow_from_glue", "arrow_schema", "arrow_schema_from_glue",
           "arrow_type", "glue_columns", "glue_type",
           "spark_ddl", "spark_schema", "sql_type"]


class Kind(Enum):
    STRING = "string"
    INT = "int"
    BIGINT = "bigint"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"  # UTC, microseconds


@dataclass(frozen=True)
class Struct:
    fields: tuple[Field, ...]

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


Type = Kind | Struct


UTF8_MAX_BYTES_PER_CHAR = 4
REDSHIFT_VARCHAR_MAX_BYTES = 65535


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    nullable: bool = True
    secret: bool = False  # accepted from the source, never stored
    doc: str = ""
    max_len: int | None = field(default=None, compare=False)
    # max_len counts characters; ascii_only says every character is one UTF-8 byte
    # (uuids, hex digests, ISO codes), so the warehouse column needs no multi-byte room
    ascii_only: bool = field(default=False, compare=False)

    @property
    def is_struct(self) -> bool:
        return isinstance(self.type, Struct)

    @property
    def warehouse_bytes(self) -> int | None:
        """Bytes the Redshift column must hold: ``varchar(n)`` counts UTF-8 BYTES, not
        characters ("Character types", Amazon Redshift Database Developer Guide: a
        VARCHAR(n) holds n bytes, multibyte characters up to 4 bytes each). So any text of
        ``max_len`` characters fits in ``4 * max_len`` bytes; ASCII-only text in
        ``max_len``. Capped at Redshift's VARCHAR maximum, 65535 bytes."""
        if self.max_len is None:
            return None
        per_char = 1 if self.ascii_only else UTF8_MAX_BYTES_PER_CHAR
        return min(self.max_len * per_char, REDSHIFT_VARCHAR_MAX_BYTES)


def stored(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """Fields that are written anywhere (secrets removed, recursively)."""
    out = []
    for f in fields:
        if f.secret:
            continue
        if isinstance(f.type, Struct):
            f = Field(f.name, Struct(stored(f.type.fields)), f.nullable, False, f.doc,
                      f.max_len, f.ascii_only)
        out.append(f)
    return tuple(out)


@cache
def _arrow_prims() -> dict[Kind, pa.DataType]:
    import pyarrow as pa

    return {
        Kind.STRING: pa.string(),
        Kind.INT: pa.int32(),
        Kind.BIGINT: pa.int64(),
        Kind.DOUBLE: pa.float64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.DATE: pa.date32(),
        Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }


def arrow_type(t: Type) -> pa.DataType:
    import pyarrow as pa

    if isinstance(t, Struct):
        return pa.struct([pa.field(f.name, arrow_type(f.type), f.nullable)
                          for f in stored(t.fields)])
    return _arrow_prims()[t]


def arrow_schema(fields: tuple[Field, ...]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, arrow_type(f.type), f.nullable) for f in stored(fields)])


def glue_type(t: Type) -> str:
    """Hive/Glue type string, as a crawler would write it."""
    if isinstance(t, Struct):
        inner = ",".join(f"{f.name}:{glue_type(f.type)}" for f in stored(t.fields))
        return f"struct<{inner}>"
    return t.value


def glue_columns(fields: tuple[Field, ...]) -> list[dict[str, str]]:
    return [{"Name": f.name, "Type": glue_type(f.type)} for f in stored(fields)]


def spark_ddl(fields: tuple[Field, ...]) -> str:
    """Spark DDL schema string (``a STRING, b STRUCT<...>``), backquoted names."""
    def one(t: Type) -> str:
        if isinstance(t, Struct):
            return "STRUCT<" + ", ".join(f"`{f.name}`: {one(f.type)}"
                                         for f in stored(t.fields)) + ">"
        return t.value.upper()
    return ", ".join(f"`{f.name}` {one(f.type)}" for f in stored(fields))


def spark_schema(fields: tuple[Field, ...]) -> Any:
    """``pyspark.sql.types.StructType`` for the stored fields (pyspark imported lazily so
    the Lambda image never needs it)."""
    from pyspark.sql import types as st

    prim = {Kind.STRING: st.StringType(), Kind.INT: st.IntegerType(),
            Kind.BIGINT: st.LongType(), Kind.DOUBLE: st.DoubleType(),
            Kind.BOOLEAN: st.BooleanType(), Kind.DATE: st.DateType(),
            Kind.TIMESTAMP: st.TimestampType()}

    def one(t: Type) -> Any:
        if isinstance(t, Struct):
            return st.StructType([st.StructField(f.name, one(f.type), f.nullable)
                                  for f in stored(t.fields)])
        return prim[t]
    return one(Struct(fields))


_SQL = {
    "postgres": {Kind.STRING: "text", Kind.INT: "integer", Kind.BIGINT: "bigint",
                 Kind.DOUBLE: "double precision", Kind.BOOLEAN: "boolean", Kind.DATE: "date",
                 Kind.TIMESTAMP: "timestamptz"},
    "redshift": {Kind.STRING: "varchar({n})", Kind.INT: "integer", Kind.BIGINT: "bigint",
                 Kind.DOUBLE: "double precision", Kind.BOOLEAN: "boolean", Kind.DATE: "date",
                 Kind.TIMESTAMP: "timestamptz"},
}


def sql_type(f: Field, dialect: str) -> str:
    if isinstance(f.type, Struct):
        raise TypeError(f"column {f.name} is a struct; flatten it before it reaches SQL")
    return _SQL[dialect][f.type].format(n=f.warehouse_bytes or 256)


@cache
def _glue_prims() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "string": pa.string(), "varchar": pa.string(), "char": pa.string(), "int": pa.int32(),
        "integer": pa.int32(), "bigint": pa.int64(), "smallint": pa.int16(), "tinyint": pa.int8(),
        "double": pa.float64(), "float": pa.float32(), "boolean": pa.bool_(), "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"), "binary": pa.binary(),
    }


def arrow_from_glue(type_text: str) -> pa.DataType:
    """Parse a Glue/Hive type string (``struct<a:int,b:array<string>>``) into Arrow.

    This is how Firehose's record-format conversion takes its schema from a catalog table.
    The text is parsed by :func:`contracts.glue_types.parse_glue_type` (the one parser).
    """
    return _arrow_of(parse_glue_type(type_text), type_text)


def _arrow_of(t: GType, type_text: str) -> pa.DataType:
    import pyarrow as pa  # lazily: the ingest Lambda image carries no pyarrow

    if isinstance(t, ArrayT):
        return pa.list_(_arrow_of(t.element, type_text))
    if isinstance(t, MapT):
        return pa.map_(_arrow_of(t.key, type_text), _arrow_of(t.value, type_text))
    if isinstance(t, StructT):
        return pa.struct([pa.field(n, _arrow_of(v, type_text)) for n, v in t.fields])
    name, _, params = t.name.partition("(")
    if name == "decimal":
        precision, _, scale = params.rstrip(")").partition(",")
        return pa.decimal128(int(precision or 10), int(scale or 0))
    prims = _glue_prims()
    if name not in prims:
        raise ValueError(f"unsupported Glue type {name!r} in {type_text!r}")
    return prims[name]


def arrow_schema_from_glue(columns: list[dict[str, str]]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c["Name"], arrow_from_glue(c["Type"])) for c in columns])
