"""How a Glue crawler merges what it finds: type widening and drift, column unions,
folder names as partition keys.

Pure functions over :mod:`contracts.glue_types` trees, no I/O. The local crawl engine
(in the local Glue twin) applies them; on AWS the managed crawler does the same, so
these rules are the documented behaviour the twin is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from contracts.glue_types import (
    NULL,
    STRING,
    ArrayT,
    GType,
    MapT,
    Prim,
    StructT,
    arrow_to_glue,
    parse_glue_type,
    render_type,
)

__all__ = ["Columns", "describe_diff", "glue_columns", "merge_columns", "merge_types",
           "parse_columns", "schema_to_columns", "split_folder_name"]



_INT_RANK = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4}
_INT_DIGITS = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19}
_FLOATS = {"float", "double"}


def _decimal(t: Prim) -> tuple[int, int] | None:
    if not t.name.startswith("decimal"):
        return None
    inner = t.name[len("decimal"):].strip("() ")
    if not inner:
        return 10, 0  # Hive's default decimal
    p, _, s = inner.partition(",")
    return int(p), int(s or 0)


def _merge_prim(a: Prim, b: Prim) -> Prim | None:
    if a.name in _INT_RANK and b.name in _INT_RANK:
        return a if _INT_RANK[a.name] >= _INT_RANK[b.name] else b
    numeric = {*_INT_RANK, *_FLOATS}
    da, db = _decimal(a), _decimal(b)
    if (a.name in _FLOATS or b.name in _FLOATS) and (
            {a.name, b.name} <= numeric or da is not None or db is not None):
        return Prim("double")
    if da is not None or db is not None:
        pa_, sa = da if da is not None else (_INT_DIGITS.get(a.name, 0), 0)
        pb_, sb = db if db is not None else (_INT_DIGITS.get(b.name, 0), 0)
        if (da is None and a.name not in _INT_RANK) or (db is None and b.name not in _INT_RANK):
            return None
        scale = max(sa, sb)
        return Prim(f"decimal({min(38, max(pa_ - sa, pb_ - sb) + scale)},{scale})")
    if {a.name, b.name} == {"date", "timestamp"}:
        return Prim("timestamp")
    return None


def merge_types(a: GType, b: GType, path: str, notes: list[str]) -> GType:
    """The type a column must have to hold values of both ``a`` and ``b``.

    Appends a message to ``notes`` whenever the result differs from ``a``.
    """
    if a == b:
        return a
    if a == NULL:
        return b
    if b == NULL:
        return a
    merged: GType | None = None
    if isinstance(a, StructT) and isinstance(b, StructT):
        names = [n for n, _ in a.fields] + [n for n, _ in b.fields if n not in dict(a.fields)]
        da, db = dict(a.fields), dict(b.fields)
        merged = StructT(tuple(
            (n, merge_types(da[n], db[n], f"{path}.{n}", notes) if n in da and n in db
             else da.get(n) or db[n]) for n in names))
        added = [n for n in names if n not in da]
        if added:
            notes.append(f"column {path}: struct fields added: {', '.join(added)}")
        return merged
    if isinstance(a, ArrayT) and isinstance(b, ArrayT):
        return ArrayT(merge_types(a.element, b.element, f"{path}[]", notes))
    if isinstance(a, MapT) and isinstance(b, MapT):
        return MapT(merge_types(a.key, b.key, f"{path}.key", notes),
                    merge_types(a.value, b.value, f"{path}.value", notes))
    if isinstance(a, Prim) and isinstance(b, Prim):
        merged = _merge_prim(a, b)
    if merged is not None:
        if merged != a:
            notes.append(f"column {path}: type widened {render_type(a)} + {render_type(b)} "
                         f"-> {render_type(merged)}")
        return merged
    notes.append(f"column {path}: type drift {render_type(a)} vs {render_type(b)} -> string")
    return STRING


Columns = dict[str, GType]


def schema_to_columns(schema: pa.Schema) -> Columns:
    """Glue column types of an Arrow schema (in schema order)."""
    return {f.name: arrow_to_glue(f.type) for f in schema}


def merge_columns(base: Columns, other: Columns, notes: list[str]) -> Columns:
    """Union of two column sets: ``base`` order first, new columns appended, types merged."""
    out = dict(base)
    added = []
    for name, t in other.items():
        if name in out:
            out[name] = merge_types(out[name], t, name, notes)
        else:
            out[name] = t
            added.append(name)
    if added and base:
        notes.append(f"columns added: {', '.join(added)}")
    return out


def glue_columns(cols: Columns) -> list[dict[str, str]]:
    return [{"Name": n, "Type": render_type(t)} for n, t in cols.items()]


def parse_columns(columns: Iterable[dict[str, Any]]) -> Columns:
    return {c["Name"]: parse_glue_type(c["Type"]) for c in columns}


def describe_diff(old: Columns, new: Columns) -> str:
    parts = []
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    changed = [f"{n} {render_type(old[n])}->{render_type(new[n])}" for n in new
               if n in old and render_type(old[n]) != render_type(new[n])]
    if added:
        parts.append(f"added {', '.join(added)}")
    if removed:
        parts.append(f"removed {', '.join(removed)}")
    if changed:
        parts.append(f"changed {', '.join(changed)}")
    return "; ".join(parts) or "column order changed"


def split_folder_name(name: str, level: int) -> tuple[str, str]:
    """``p_date=2024-01-01`` → ``("p_date", "2024-01-01")``.

    A name without ``=`` gets Glue's generated key: ``x`` → ``("partition_<level>", "x")``.
    """
    key, sep, value = name.partition("=")
    if sep and key:
        return key.lower(), value
    return f"partition_{level}", name
