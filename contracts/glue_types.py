"""Glue/Hive type strings, parsed once: ``struct<a:int,b:array<string>>`` <-> a type tree.

Every reader of a catalog column type goes through :func:`parse_glue_type`: the local
crawler (to merge drifting types), Firehose's record-format conversion (the raw table's
schema as Arrow, :func:`contracts.schema.arrow_from_glue`) and the tests.
:func:`render_type` writes a tree back as Glue writes it; :func:`arrow_to_glue` is the
type Glue's Parquet crawler gives an Arrow type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: the ingest Lambda image carries no pyarrow
    import pyarrow as pa

__all__ = ["NULL", "STRING", "ArrayT", "GType", "MapT", "Prim", "StructT", "arrow_to_glue",
           "parse_glue_type", "render_type"]


@dataclass(frozen=True)
class Prim:
    """A primitive Hive/Glue type, e.g. ``int``, ``decimal(10,2)``; ``null`` is internal."""

    name: str


@dataclass(frozen=True)
class StructT:
    fields: tuple[tuple[str, GType], ...]


@dataclass(frozen=True)
class ArrayT:
    element: GType


@dataclass(frozen=True)
class MapT:
    key: GType
    value: GType


GType = Prim | StructT | ArrayT | MapT
NULL = Prim("null")
STRING = Prim("string")


def render_type(t: GType) -> str:
    """Glue type string (``struct<a:int,b:array<string>>``); a lone ``null`` → ``string``."""
    if isinstance(t, StructT):
        return "struct<" + ",".join(f"{n}:{render_type(v)}" for n, v in t.fields) + ">"
    if isinstance(t, ArrayT):
        return f"array<{render_type(t.element)}>"
    if isinstance(t, MapT):
        return f"map<{render_type(t.key)},{render_type(t.value)}>"
    return "string" if t == NULL else t.name


def parse_glue_type(text: str) -> GType:
    """Parse a Glue/Hive type string into a :data:`GType` tree."""
    t, rest = _parse_type(text.strip())
    if rest.strip():
        raise ValueError(f"unexpected {rest!r} after type in {text!r}")
    return t


def _split_top(text: str, sep: str) -> tuple[str, str]:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == sep and depth == 0:
            return text[:i], text[i + 1:]
    return text, ""


def _parse_type(text: str) -> tuple[GType, str]:
    low = text.lower()
    for kind in ("struct<", "array<", "map<"):
        if low.startswith(kind):
            body, rest = _matching(text, len(kind) - 1)
            if kind == "array<":
                return ArrayT(parse_glue_type(body)), rest
            if kind == "map<":
                k, v = _split_top(body, ",")
                return MapT(parse_glue_type(k), parse_glue_type(v)), rest
            fields = []
            while body.strip():
                item, body = _split_top(body, ",")
                name, _, typ = item.partition(":")
                fields.append((name.strip(), parse_glue_type(typ)))
            return StructT(tuple(fields)), rest
    if not text or any(c in text for c in "<>:"):
        raise ValueError(f"not a Glue type: {text!r}")
    return Prim(text.strip().lower().replace(" ", "")), ""


def _matching(text: str, open_at: int) -> tuple[str, str]:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i], text[i + 1:]
    raise ValueError(f"unbalanced '<' in type {text!r}")


def arrow_to_glue(t: pa.DataType) -> GType:
    """Glue type of an Arrow type, as Glue's Parquet crawler writes it."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return arrow_to_glue(t.value_type)
    if pa.types.is_struct(t):
        return StructT(tuple((t.field(i).name, arrow_to_glue(t.field(i).type))
                             for i in range(t.num_fields)))
    if pa.types.is_map(t):
        return MapT(arrow_to_glue(t.key_type), arrow_to_glue(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return ArrayT(arrow_to_glue(t.value_type))
    if pa.types.is_null(t):
        return NULL
    if pa.types.is_boolean(t):
        return Prim("boolean")
    if pa.types.is_integer(t):
        signed = {8: "tinyint", 16: "smallint", 32: "int", 64: "bigint"}
        unsigned = {8: "smallint", 16: "int", 32: "bigint", 64: "bigint"}
        return Prim((signed if pa.types.is_signed_integer(t) else unsigned)[t.bit_width])
    if pa.types.is_floating(t):
        return Prim("double" if t.bit_width == 64 else "float")
    if pa.types.is_decimal(t):
        return Prim(f"decimal({t.precision},{t.scale})")
    if pa.types.is_date(t):
        return Prim("date")
    if pa.types.is_timestamp(t):
        return Prim("timestamp")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return Prim("binary")
    return STRING  # strings, times, intervals
