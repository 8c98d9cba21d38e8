"""Crawl logic: what a Glue crawler does to the catalog for S3 Parquet targets.

Pure parts (type mapping and merging, folder-name parsing, table/partition inputs) are
small functions; :func:`crawl` is the I/O shell over a catalog (a boto3 Glue client or
:class:`local_aws.glue_catalog.LocalGlueCatalog`) and a :class:`LocalObjectStore`.

Rules, per target folder (one table per target, named by :class:`CrawlerSpec`):

* **Files**: names starting with ``_`` or ``.`` and empty files are ignored, as are
  folders with no data file. Every other file is read as Parquet (footer only); a file
  that is not Parquet is skipped with a message.
* **Partitions**: ``key=value`` folders below the target give partition keys (typed
  ``string``, as Glue crawlers type them); a folder name without ``=`` becomes key
  ``partition_<level>``. Folders whose key names differ from the table's are skipped
  with a message (Glue would split them into other tables).
* **Recrawl**: ``CRAWL_EVERYTHING`` opens every folder; ``CRAWL_NEW_FOLDERS_ONLY`` opens
  only folders whose values are not registered yet (after the first crawl), so its cost
  follows new data, not history.
* **Schema**: columns are the union over files in first-seen order (oldest partition
  first, so new columns append). **Type drift** between files or against the table
  (see :func:`merge_types`): integral types widen (``int`` + ``bigint`` → ``bigint``),
  integral + floating → ``double``, ``float`` + ``double`` → ``double``, decimals widen,
  ``date`` + ``timestamp`` → ``timestamp``, structs merge field by field, arrays and maps
  merge their element types; **any other pair (e.g. ``int`` vs ``string``) becomes
  ``string``**. Every change is logged in the result's messages.
* **SchemaChangePolicy**: ``UpdateBehavior`` ``UPDATE_IN_DATABASE`` writes a changed
  schema as a new table version (and refreshes existing partitions under
  ``CRAWL_EVERYTHING``); ``LOG`` only reports it. ``DeleteBehavior`` applies to registered
  partitions whose folder is gone (and to the table when its whole target is gone):
  ``LOG`` reports, ``DEPRECATE_IN_DATABASE`` sets the ``DEPRECATED_BY_CRAWLER`` parameter,
  ``DELETE_FROM_DATABASE`` deletes. New tables and partitions are always added.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from contracts.glue import PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE
from crawlers.specs import CrawlerSpec
from local_aws.objectstore import LocalObjectStore

__all__ = [
    "DEPRECATED_PARAM",
    "INPUT_FORMAT",
    "OUTPUT_FORMAT",
    "SERDE",
    "ArrayT",
    "CrawlCancelled",
    "CrawlError",
    "CrawlResult",
    "DataFolder",
    "GType",
    "MapT",
    "Prim",
    "StructT",
    "arrow_to_glue",
    "crawl",
    "discover_folders",
    "ensure_databases",
    "merge_columns",
    "merge_types",
    "parse_glue_type",
    "render_type",
    "schema_to_columns",
    "split_folder_name",
]

log = logging.getLogger(__name__)

INPUT_FORMAT, OUTPUT_FORMAT, SERDE = PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE
DEPRECATED_PARAM = "DEPRECATED_BY_CRAWLER"


class CrawlError(RuntimeError):
    """The crawl cannot proceed (reason in the message)."""


class CrawlCancelled(RuntimeError):
    """The crawl was stopped on request (``StopCrawler``)."""


# ---------------------------------------------------------------- Glue types


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
_INT_RANK = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4}
_INT_DIGITS = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19}
_FLOATS = {"float", "double"}


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


def _glue_columns(cols: Columns) -> list[dict[str, str]]:
    return [{"Name": n, "Type": render_type(t)} for n, t in cols.items()]


def _parse_columns(columns: Iterable[dict[str, Any]]) -> Columns:
    return {c["Name"]: parse_glue_type(c["Type"]) for c in columns}


def _describe_diff(old: Columns, new: Columns) -> str:
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


# ------------------------------------------------------------------- folders


@dataclass(frozen=True)
class DataFolder:
    """A folder holding data files: its partition keys/values and its files."""

    keys: tuple[str, ...]
    values: tuple[str, ...]
    path: Path
    files: tuple[Path, ...]


def split_folder_name(name: str, level: int) -> tuple[str, str]:
    """``p_date=2024-01-01`` → ``("p_date", "2024-01-01")``.

    A name without ``=`` gets Glue's generated key: ``x`` → ``("partition_<level>", "x")``.
    """
    key, sep, value = name.partition("=")
    if sep and key:
        return key.lower(), value
    return f"partition_{level}", name


def _visible(name: str) -> bool:
    return not name.startswith(("_", "."))


def discover_folders(root: Path, *, skip: set[tuple[str, ...]] | None = None,
                     skip_paths: set[str] | None = None, exclusions: Sequence[str] = (),
                     should_stop: Callable[[], bool] | None = None) -> list[DataFolder]:
    """Folders under ``root`` with data files, in sorted order.

    Folders whose values are in ``skip`` are not opened at all (incremental crawls);
    ``skip_paths`` (relative ``k=v/k2=v2`` paths of the same folders) is a faster
    pre-check by name.
    ``exclusions`` are glob patterns relative to ``root`` (Glue ``Exclusions``).
    """
    out: list[DataFolder] = []

    def excluded(rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pat) for pat in exclusions)

    def walk(path: str, rel: str, keys: tuple[str, ...], values: tuple[str, ...]) -> None:
        if should_stop is not None and should_stop():
            raise CrawlCancelled("crawl stopped on request")
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            return
        files: list[Path] = []
        subdirs: list[tuple[str, str, str, tuple[str, ...]]] = []
        for e in entries:
            if skip_paths is not None and rel + e.name in skip_paths:
                continue
            if not _visible(e.name):
                continue
            if e.is_dir():
                k, v = split_folder_name(e.name, len(keys))
                sub_values = (*values, v)
                if skip is None or sub_values not in skip:  # registered: not opened
                    subdirs.append((e.name, e.path, k, sub_values))
            elif e.is_file() and e.stat().st_size > 0 and not excluded(rel + e.name):
                files.append(Path(e.path))
        if files:
            out.append(DataFolder(keys, values, Path(path), tuple(sorted(files))))
        for name, sub_path, k, sub_values in sorted(subdirs):
            sub_rel = f"{rel}{name}/"
            if not excluded(sub_rel):
                walk(sub_path, sub_rel, (*keys, k), sub_values)

    walk(os.fspath(root), "", (), ())
    return out


# --------------------------------------------------------------------- crawl


@dataclass
class CrawlResult:
    """What one crawl did (tables by name, partitions as ``(table, values)``)."""

    crawler: str
    tables_created: list[str] = field(default_factory=list)
    tables_updated: list[str] = field(default_factory=list)
    tables_deprecated: list[str] = field(default_factory=list)
    tables_deleted: list[str] = field(default_factory=list)
    partitions_added: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    partitions_updated: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    partitions_deprecated: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    partitions_deleted: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    files_read: int = 0
    messages: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        self.messages.append(message)
        log.info("%s: %s", self.crawler, message)

    def summary(self) -> dict[str, int]:
        """Counts per kind of change (JSON-friendly)."""
        return {"tables_created": len(self.tables_created),
                "tables_updated": len(self.tables_updated),
                "tables_deprecated": len(self.tables_deprecated),
                "tables_deleted": len(self.tables_deleted),
                "partitions_added": len(self.partitions_added),
                "partitions_updated": len(self.partitions_updated),
                "partitions_deprecated": len(self.partitions_deprecated),
                "partitions_deleted": len(self.partitions_deleted),
                "files_read": self.files_read}


@dataclass(frozen=True)
class _Scanned:
    folder: DataFolder
    columns: Columns
    rows: int
    size: int
    files: int


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def ensure_databases(catalog: Any, specs: Iterable[CrawlerSpec]) -> list[str]:
    """Create the specs' databases that are missing (what infra does on AWS)."""
    created = []
    for db in dict.fromkeys(s.database for s in specs):
        try:
            catalog.create_database(DatabaseInput={"Name": db})
            created.append(db)
        except ClientError as e:
            if _code(e) != "AlreadyExistsException":
                raise
    return created


def crawl(spec: CrawlerSpec, catalog: Any, store: LocalObjectStore, *,
          should_stop: Callable[[], bool] | None = None) -> CrawlResult:
    """Run one crawl of ``spec`` against ``catalog`` over the files in ``store``.

    Raises :class:`CrawlError` when the crawl cannot run (e.g. the database is missing)
    and :class:`CrawlCancelled` when ``should_stop`` turns true.
    """
    spec.validate()
    result = CrawlResult(crawler=spec.name)
    try:
        catalog.get_database(Name=spec.database)
    except ClientError as e:
        if _code(e) == "EntityNotFoundException":
            raise CrawlError(f"Database {spec.database} not found; create it before "
                             f"crawling (crawler {spec.name})") from None
        raise
    for target in spec.targets:
        _crawl_target(spec, target, catalog, store, result, should_stop)
    return result


def _get_table(catalog: Any, db: str, name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = catalog.get_table(DatabaseName=db, Name=name)["Table"]
    except ClientError as e:
        if _code(e) == "EntityNotFoundException":
            return None
        raise
    return table


def _registered(catalog: Any, db: str, name: str) -> set[tuple[str, ...]]:
    fast = getattr(catalog, "list_partition_values", None)
    if fast is not None:
        return set(map(tuple, fast(DatabaseName=db, TableName=name)))
    out: set[tuple[str, ...]] = set()
    for page in catalog.get_paginator("get_partitions").paginate(
            DatabaseName=db, TableName=name, ExcludeColumnSchema=True):
        out.update(tuple(p["Values"]) for p in page["Partitions"])
    return out


def _folder_paths(keys: Sequence[str], known: set[tuple[str, ...]]) -> set[str]:
    """Relative ``k=v/k2=v2`` folder paths of registered partitions."""
    if len(keys) == 1:
        prefix = f"{keys[0]}="
        return {prefix + v[0] for v in known}
    return {"/".join(f"{k}={v}" for k, v in zip(keys, vals, strict=False)) for vals in known}


def _scan(folder: DataFolder, result: CrawlResult) -> _Scanned | None:
    cols: Columns = {}
    rows = size = files = 0
    notes: list[str] = []
    for path in folder.files:
        try:
            pf = pq.ParquetFile(path)
            schema, n = pf.schema_arrow, pf.metadata.num_rows
        except (pa.ArrowException, OSError) as e:
            result.note(f"skipped {path.name} in {folder.path.name}: not a readable Parquet "
                        f"file ({str(e).splitlines()[0]})")
            continue
        result.files_read += 1
        cols = merge_columns(cols, schema_to_columns(schema), notes)
        rows, size, files = rows + n, size + path.stat().st_size, files + 1
    for n_ in notes:
        result.note(f"{folder.path.name}: {n_}")
    if not files:
        result.note(f"skipped folder {folder.path.name}: no readable data file")
        return None
    return _Scanned(folder, cols, rows, size, files)


def _now_param() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table_input(spec: CrawlerSpec, name: str, location: str, cols: Columns,
                 keys: Sequence[str], params: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Retention": 0,
        "StorageDescriptor": {
            "Columns": _glue_columns(cols),
            "Location": location,
            "InputFormat": INPUT_FORMAT,
            "OutputFormat": OUTPUT_FORMAT,
            "Compressed": False,
            "NumberOfBuckets": -1,
            "SerdeInfo": {"SerializationLibrary": SERDE,
                          "Parameters": {"serialization.format": "1"}},
            "BucketColumns": [],
            "SortColumns": [],
            "Parameters": {},
            "StoredAsSubDirectories": False,
        },
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
        "Parameters": {
            "classification": "parquet",
            "compressionType": "none",
            "typeOfData": "file",
            "UPDATED_BY_CRAWLER": spec.name,
            "CrawlerSchemaDeserializerVersion": "1.0",
            "CrawlerSchemaSerializerVersion": "1.0",
            **(params or {}),
        },
    }


_TABLE_INPUT_KEYS = ("Name", "Description", "Owner", "Retention", "StorageDescriptor",
                     "PartitionKeys", "TableType", "Parameters", "ViewOriginalText",
                     "ViewExpandedText", "TargetTable", "LastAccessTime", "LastAnalyzedTime")


def _as_table_input(table: dict[str, Any]) -> dict[str, Any]:
    return {k: table[k] for k in _TABLE_INPUT_KEYS if k in table}


def _partition_input(table: dict[str, Any], scanned: _Scanned, location: str,
                     inherit: bool) -> dict[str, Any]:
    sd = dict(table["StorageDescriptor"])
    sd["Location"] = location
    if not inherit:
        sd["Columns"] = _glue_columns(scanned.columns)
    avg = scanned.size // scanned.rows if scanned.rows else 0
    return {
        "Values": list(scanned.folder.values),
        "StorageDescriptor": sd,
        "Parameters": {"classification": "parquet", "compressionType": "none",
                       "typeOfData": "file", "objectCount": str(scanned.files),
                       "recordCount": str(scanned.rows), "sizeKey": str(scanned.size),
                       "averageRecordSize": str(avg)},
    }


def _folder_uri(store: LocalObjectStore, target: str, folder: DataFolder) -> str:
    rel = folder.path.relative_to(store.path(target)).as_posix()
    base = target if target.endswith("/") else target + "/"
    return base if rel == "." else f"{base}{rel}/"


def _chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _crawl_target(spec: CrawlerSpec, target: str, catalog: Any, store: LocalObjectStore,
                  result: CrawlResult, should_stop: Callable[[], bool] | None) -> None:
    db, name = spec.database, spec.table_name(target)
    location = target if target.endswith("/") else target + "/"
    table = _get_table(catalog, db, name)
    known = _registered(catalog, db, name) if table is not None else set()
    incremental = spec.incremental and table is not None
    if incremental and table is not None and not table.get("PartitionKeys"):
        result.note(f"{name}: unpartitioned table already registered; nothing new to crawl")
        return
    skip_paths = None
    if incremental and table is not None:
        skip_paths = _folder_paths([k["Name"] for k in table.get("PartitionKeys", [])], known)
    folders = discover_folders(store.path(target), skip=known if incremental else None,
                               skip_paths=skip_paths,
                               exclusions=spec.exclusions, should_stop=should_stop)
    scanned: list[_Scanned] = []
    for folder in folders:
        if should_stop is not None and should_stop():
            raise CrawlCancelled("crawl stopped on request")
        s = _scan(folder, result)
        if s is not None:
            scanned.append(s)

    keys = (tuple(k["Name"] for k in table.get("PartitionKeys", [])) if table is not None
            else (scanned[0].folder.keys if scanned else ()))
    consistent = [s for s in scanned if s.folder.keys == keys]
    for s in scanned:
        if s.folder.keys != keys:
            where = _folder_uri(store, target, s.folder)
            result.note(f"{name}: skipped {where}: its folder keys "
                        f"{list(s.folder.keys)} differ from the table's partition keys "
                        f"{list(keys)}")
    if not consistent:
        _no_data(spec, catalog, name, table, incremental, sorted(known), result)
        return

    observed: Columns = {}
    notes: list[str] = []
    for s in consistent:
        observed = merge_columns(observed, s.columns, notes)
    for n_ in notes:
        result.note(f"{name}: {n_}")

    if table is None:
        catalog.create_table(DatabaseName=db,
                             TableInput=_table_input(spec, name, location, observed, keys))
        result.tables_created.append(name)
        result.note(f"created table {db}.{name} with {len(observed)} columns and partition keys "
                    f"{list(keys)}")
    else:
        table = _reconcile_schema(spec, catalog, table, observed, incremental, result)
    table = _get_table(catalog, db, name)
    assert table is not None
    if not keys:
        return

    new = [s for s in consistent if s.folder.values not in known]
    inherit = spec.partitions_inherit_from_table
    inputs = [_partition_input(table, s, _folder_uri(store, target, s.folder), inherit)
              for s in new]
    for chunk in _chunks(inputs, 100):
        errors = catalog.batch_create_partition(DatabaseName=db, TableName=name,
                                                PartitionInputList=list(chunk))["Errors"]
        failed = {tuple(e["PartitionValues"]) for e in errors}
        for e in errors:
            result.note(f"{name}: partition {e['PartitionValues']} not added: "
                        f"{e['ErrorDetail']['ErrorCode']}: {e['ErrorDetail']['ErrorMessage']}")
        result.partitions_added.extend((name, tuple(p["Values"])) for p in chunk
                                       if tuple(p["Values"]) not in failed)
    if new:
        result.note(f"{name}: added {len(result.partitions_added)} partition(s)")
    if incremental:
        return
    seen = {s.folder.values for s in consistent}
    existing = [s for s in consistent if s.folder.values in known]
    if spec.update_behavior == "UPDATE_IN_DATABASE" and existing:
        _refresh_partitions(catalog, table, existing, store, target, inherit, result)
    gone = sorted(v for v in known if v not in seen)
    if gone:
        _handle_gone_partitions(spec, catalog, db, name, gone, result)


def _reconcile_schema(spec: CrawlerSpec, catalog: Any, table: dict[str, Any], observed: Columns,
                      incremental: bool, result: CrawlResult) -> dict[str, Any]:
    name = table["Name"]
    current = _parse_columns(table.get("StorageDescriptor", {}).get("Columns", []))
    notes: list[str] = []
    wanted = merge_columns(current, observed, notes) if incremental else observed
    params = dict(table.get("Parameters") or {})
    revive = DEPRECATED_PARAM in params and not incremental
    changed = _glue_columns(wanted) != _glue_columns(current)
    if not changed and not revive:
        return table
    diff = _describe_diff(current, wanted) if changed else "data is back"
    if spec.update_behavior != "UPDATE_IN_DATABASE":
        result.note(f"{name}: schema change detected, not applied (UpdateBehavior LOG): {diff}")
        return table
    new_input = _as_table_input(table)
    sd = dict(new_input["StorageDescriptor"])
    sd["Columns"] = _glue_columns(wanted)
    new_input["StorageDescriptor"] = sd
    params.pop(DEPRECATED_PARAM, None)
    params["UPDATED_BY_CRAWLER"] = spec.name
    new_input["Parameters"] = params
    catalog.update_table(DatabaseName=spec.database, TableInput=new_input)
    result.tables_updated.append(name)
    result.note(f"{name}: table updated (new version): {diff}")
    return new_input


def _refresh_partitions(catalog: Any, table: dict[str, Any], existing: list[_Scanned],
                        store: LocalObjectStore, target: str, inherit: bool,
                        result: CrawlResult) -> None:
    db, name = table["DatabaseName"], table["Name"]
    current: dict[tuple[str, ...], dict[str, Any]] = {}
    for chunk in _chunks([{"Values": list(s.folder.values)} for s in existing], 1000):
        got = catalog.batch_get_partition(DatabaseName=db, TableName=name,
                                          PartitionsToGet=list(chunk))
        current.update({tuple(p["Values"]): p for p in got["Partitions"]})
    for s in existing:
        old = current.get(s.folder.values)
        if old is None:
            continue
        want = _partition_input(table, s, _folder_uri(store, target, s.folder), inherit)
        old_sd, old_params = old.get("StorageDescriptor", {}), old.get("Parameters", {})
        same = (old_sd.get("Columns") == want["StorageDescriptor"]["Columns"]
                and old_sd.get("Location") == want["StorageDescriptor"]["Location"]
                and DEPRECATED_PARAM not in old_params
                and all(old_params.get(k) == v for k, v in want["Parameters"].items()))
        if same:
            continue
        catalog.update_partition(DatabaseName=db, TableName=name,
                                 PartitionValueList=list(s.folder.values), PartitionInput=want)
        result.partitions_updated.append((name, s.folder.values))
    if result.partitions_updated:
        result.note(f"{name}: refreshed {len(result.partitions_updated)} existing partition(s)")


def _handle_gone_partitions(spec: CrawlerSpec, catalog: Any, db: str, name: str,
                            gone: list[tuple[str, ...]], result: CrawlResult) -> None:
    behavior = spec.delete_behavior
    shown = ", ".join("/".join(v) for v in gone[:5]) + (" ..." if len(gone) > 5 else "")
    if behavior == "LOG":
        result.note(f"{name}: {len(gone)} registered partition(s) no longer in S3, kept "
                    f"(DeleteBehavior LOG): {shown}")
    elif behavior == "DELETE_FROM_DATABASE":
        for chunk in _chunks(gone, 25):
            catalog.batch_delete_partition(DatabaseName=db, TableName=name,
                                           PartitionsToDelete=[{"Values": list(v)} for v in chunk])
        result.partitions_deleted.extend((name, v) for v in gone)
        result.note(f"{name}: deleted {len(gone)} partition(s) no longer in S3: {shown}")
    else:
        stamp = _now_param()
        for chunk in _chunks(gone, 1000):
            got = catalog.batch_get_partition(DatabaseName=db, TableName=name,
                                              PartitionsToGet=[{"Values": list(v)} for v in chunk])
            for p in got["Partitions"]:
                if DEPRECATED_PARAM in (p.get("Parameters") or {}):
                    continue
                pin = {k: p[k] for k in ("Values", "StorageDescriptor", "Parameters",
                                         "LastAccessTime") if k in p}
                pin["Parameters"] = {**(p.get("Parameters") or {}), DEPRECATED_PARAM: stamp}
                catalog.update_partition(DatabaseName=db, TableName=name,
                                         PartitionValueList=p["Values"], PartitionInput=pin)
                result.partitions_deprecated.append((name, tuple(p["Values"])))
        result.note(f"{name}: deprecated {len(result.partitions_deprecated)} partition(s) no "
                    f"longer in S3: {shown}")


def _no_data(spec: CrawlerSpec, catalog: Any, name: str, table: dict[str, Any] | None,
             incremental: bool, registered: list[tuple[str, ...]], result: CrawlResult) -> None:
    if table is None:
        result.note(f"{name}: no data files under the target; no table created")
        return
    if incremental:
        result.note(f"{name}: no new folders")
        return
    behavior = spec.delete_behavior
    if behavior == "LOG":
        result.note(f"{name}: no data left under the target; table kept (DeleteBehavior LOG)")
    elif behavior == "DELETE_FROM_DATABASE":
        catalog.delete_table(DatabaseName=spec.database, Name=name)
        result.tables_deleted.append(name)
        result.partitions_deleted.extend((name, v) for v in registered)
        result.note(f"{name}: no data left under the target; table deleted")
    elif DEPRECATED_PARAM not in (table.get("Parameters") or {}):
        new_input = _as_table_input(table)
        new_input["Parameters"] = {**(table.get("Parameters") or {}),
                                   DEPRECATED_PARAM: _now_param()}
        catalog.update_table(DatabaseName=spec.database, TableInput=new_input)
        result.tables_deprecated.append(name)
        result.note(f"{name}: no data left under the target; table deprecated")
