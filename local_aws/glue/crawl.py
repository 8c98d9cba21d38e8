"""The local crawl engine: what a Glue crawler does to the catalog for S3 Parquet targets.

The type and schema rules are pure functions in :mod:`local_aws.glue.schema_rules` (over the
type trees of :mod:`contracts.glue_types`); :func:`crawl` is the I/O shell over a catalog
(a boto3 Glue client or :class:`local_aws.glue.catalog.LocalGlueCatalog`) and a
:class:`LocalObjectStore`. On AWS the managed crawler does this work.

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
from local_aws.glue.schema_rules import (
    Columns,
    describe_diff,
    glue_columns,
    merge_columns,
    parse_columns,
    schema_to_columns,
    split_folder_name,
)
from local_aws.s3.objectstore import LocalObjectStore

__all__ = [
    "DEPRECATED_PARAM",
    "INPUT_FORMAT",
    "OUTPUT_FORMAT",
    "SERDE",
    "CrawlCancelled",
    "CrawlError",
    "CrawlResult",
    "DataFolder",
    "crawl",
    "discover_folders",
    "ensure_databases",
]

log = logging.getLogger(__name__)

INPUT_FORMAT, OUTPUT_FORMAT, SERDE = PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE
DEPRECATED_PARAM = "DEPRECATED_BY_CRAWLER"


class CrawlError(RuntimeError):
    """The crawl cannot proceed (reason in the message)."""


class CrawlCancelled(RuntimeError):
    """The crawl was stopped on request (``StopCrawler``)."""


# ------------------------------------------------------------------- folders


@dataclass(frozen=True)
class DataFolder:
    """A folder holding data files: its partition keys/values and its files."""

    keys: tuple[str, ...]
    values: tuple[str, ...]
    path: Path
    files: tuple[Path, ...]


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
            "Columns": glue_columns(cols),
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
        sd["Columns"] = glue_columns(scanned.columns)
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
    current = parse_columns(table.get("StorageDescriptor", {}).get("Columns", []))
    notes: list[str] = []
    wanted = merge_columns(current, observed, notes) if incremental else observed
    params = dict(table.get("Parameters") or {})
    revive = DEPRECATED_PARAM in params and not incremental
    changed = glue_columns(wanted) != glue_columns(current)
    if not changed and not revive:
        return table
    diff = describe_diff(current, wanted) if changed else "data is back"
    if spec.update_behavior != "UPDATE_IN_DATABASE":
        result.note(f"{name}: schema change detected, not applied (UpdateBehavior LOG): {diff}")
        return table
    new_input = _as_table_input(table)
    sd = dict(new_input["StorageDescriptor"])
    sd["Columns"] = glue_columns(wanted)
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
