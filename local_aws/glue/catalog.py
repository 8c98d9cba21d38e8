"""Glue Data Catalog twin: a file-backed catalog answering a subset of the Glue API.

Methods take the same keyword arguments and return the same response shapes as a boto3
Glue client, and raise :class:`botocore.exceptions.ClientError` with Glue's error codes,
so code written against ``boto3.client("glue")`` runs unchanged on this object.

Layout under ``root`` (names are URL-quoted)::

    .lock                                    fcntl lock taken by every writer
    databases/<db>/database.json
    databases/<db>/tables/<table>/table.json          current version
    databases/<db>/tables/<table>/versions/<n>.json   archived versions
    databases/<db>/tables/<table>/partitions/<v1>,<v2>.json   one file per partition

One file per partition keeps adding, reading or listing one partition independent of
how many exist: the file *names* carry the values, so filtering by an ``Expression``
touches only the files it returns. Every write goes to a temporary file first and is
published with ``os.replace``, so readers (threads or processes) never lock and never
see half a file. Writers serialise on ``.lock``.
"""

from __future__ import annotations

import base64
import copy
import fcntl
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from local_aws.aws_model import aws_shaped
from local_aws.files import atomic_write_bytes
from local_aws.glue.partition_expr import ExpressionError, PartitionValueError, compile_expression

__all__ = ["LocalGlueCatalog", "atomic_write_json", "glue_error", "read_json"]

_MAX_CREATE = 100  # Glue: BatchCreatePartition PartitionInputList, 1..100
_MAX_GET = 1000  # Glue: BatchGetPartition PartitionsToGet, 1..1000
_MAX_DELETE = 25  # Glue: BatchDeletePartition PartitionsToDelete, 1..25
_PAGE = 1000  # Glue: GetPartitions MaxResults, 1..1000


def glue_error(operation: str, code: str, message: str) -> ClientError:
    """A ``ClientError`` shaped like the one botocore raises for a Glue error reply."""
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def _ok(body: dict[str, Any]) -> dict[str, Any]:
    body["ResponseMetadata"] = {"HTTPStatusCode": 200}
    return body


def _encode(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    if isinstance(obj, Mapping):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 1 and "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` via a temp file + ``os.replace`` (all or nothing)."""
    text = json.dumps(_encode(obj), separators=(",", ":"), sort_keys=True)
    atomic_write_bytes(path, text.encode("utf-8"), suffix=".json")


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`atomic_write_json` (datetimes restored)."""
    with path.open(encoding="utf-8") as fh:
        return _decode(json.load(fh))


def _now() -> datetime:
    return datetime.now(UTC)


def _q(name: str) -> str:
    return quote(name, safe="")


def _part_file(values: Sequence[str]) -> str:
    return ",".join(_q(v) for v in values) + ".json"


def _part_values(file_name: str) -> list[str]:
    parts = file_name[: -len(".json")].split(",")
    return [unquote(p) for p in parts] if "%" in file_name else parts


@aws_shaped("glue")
class LocalGlueCatalog:
    """File-backed Glue Data Catalog (databases, tables with versions, partitions).

    Parameters
    ----------
    root:
        Folder holding the catalog (created if missing). Several instances, threads and
        processes may share one folder.
    catalog_id:
        The ``CatalogId`` reported in responses (an account id on AWS).
    """

    def __init__(self, root: Path, *, catalog_id: str = "000000000000") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.catalog_id = catalog_id
        self._tlock = threading.RLock()
        self._depth = 0
        self._lock_fh: Any = None

    # ------------------------------------------------------------------ locking

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock over the whole catalog folder (re-entrant per thread)."""
        with self._tlock:
            if self._depth == 0:
                fh = (self.root / ".lock").open("a+")
                fcntl.flock(fh, fcntl.LOCK_EX)
                self._lock_fh = fh
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
                    self._lock_fh.close()
                    self._lock_fh = None

    # -------------------------------------------------------------------- paths

    def _db_dir(self, name: str) -> Path:
        return self.root / "databases" / _q(name.lower())

    def _table_dir(self, db: str, table: str) -> Path:
        return self._db_dir(db) / "tables" / _q(table.lower())

    def _parts_dir(self, db: str, table: str) -> Path:
        return self._table_dir(db, table) / "partitions"

    # ---------------------------------------------------------------- databases

    def create_database(self, *, DatabaseInput: Mapping[str, Any],
                        CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``CreateDatabase``."""
        op = "CreateDatabase"
        name = _require_name(DatabaseInput, "DatabaseInput.Name", op).lower()
        with self.lock():
            path = self._db_dir(name) / "database.json"
            if path.exists():
                raise glue_error(op, "AlreadyExistsException", "Database already exists.")
            db = {**copy.deepcopy(dict(DatabaseInput)), "Name": name, "CreateTime": _now(),
                  "CatalogId": self.catalog_id}
            atomic_write_json(path, db)
        return _ok({})

    def get_database(self, *, Name: str, CatalogId: str | None = None,
                     **_: Any) -> dict[str, Any]:
        """Glue ``GetDatabase``."""
        return _ok({"Database": self._database(Name, "GetDatabase")})

    def get_databases(self, *, NextToken: str | None = None, MaxResults: int | None = None,
                      **_: Any) -> dict[str, Any]:
        """Glue ``GetDatabases``."""
        base = self.root / "databases"
        names = sorted(p.name for p in base.iterdir() if not p.name.startswith(".deleted-")) \
            if base.exists() else []
        dbs = []
        for n in names:
            try:
                dbs.append(read_json(base / n / "database.json"))
            except FileNotFoundError:
                continue
        page, token = _paginate(dbs, NextToken, MaxResults, "GetDatabases")
        return _ok({"DatabaseList": page, **({"NextToken": token} if token else {})})

    def delete_database(self, *, Name: str, **_: Any) -> dict[str, Any]:
        """Glue ``DeleteDatabase`` (drops its tables and partitions too)."""
        with self.lock():
            self._database(Name, "DeleteDatabase")
            _remove_tree(self._db_dir(Name))
        return _ok({})

    def _database(self, name: str, op: str) -> dict[str, Any]:
        try:
            db: dict[str, Any] = read_json(self._db_dir(name) / "database.json")
        except FileNotFoundError:
            raise glue_error(op, "EntityNotFoundException",
                             f"Database {name} not found.") from None
        return db

    # ------------------------------------------------------------------- tables

    def create_table(self, *, DatabaseName: str, TableInput: Mapping[str, Any],
                     CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``CreateTable`` (the first version has ``VersionId`` "0")."""
        op = "CreateTable"
        name = _require_name(TableInput, "TableInput.Name", op).lower()
        _check_table_input(TableInput, op)
        with self.lock():
            self._database(DatabaseName, op)
            tdir = self._table_dir(DatabaseName, name)
            if (tdir / "table.json").exists():
                raise glue_error(op, "AlreadyExistsException", "Table already exists.")
            now = _now()
            table = {**copy.deepcopy(dict(TableInput)), "Name": name,
                     "DatabaseName": DatabaseName.lower(), "CreateTime": now, "UpdateTime": now,
                     "VersionId": "0", "CatalogId": self.catalog_id,
                     "IsRegisteredWithLakeFormation": False}
            table.setdefault("PartitionKeys", [])
            table.setdefault("Parameters", {})
            atomic_write_json(tdir / "versions" / "0.json", table)
            atomic_write_json(tdir / "table.json", table)
        return _ok({})

    def get_table(self, *, DatabaseName: str, Name: str, CatalogId: str | None = None,
                  **_: Any) -> dict[str, Any]:
        """Glue ``GetTable``."""
        return _ok({"Table": self._table(DatabaseName, Name, "GetTable")})

    def get_tables(self, *, DatabaseName: str, Expression: str | None = None,
                   NextToken: str | None = None, MaxResults: int | None = None,
                   **_: Any) -> dict[str, Any]:
        """Glue ``GetTables`` (``Expression`` is a name regex, ``*`` as wildcard)."""
        op = "GetTables"
        self._database(DatabaseName, op)
        base = self._db_dir(DatabaseName) / "tables"
        names = sorted(unquote(p.name) for p in base.iterdir()
                       if not p.name.startswith(".deleted-")) if base.exists() else []
        if Expression:
            rx = re.compile(Expression.replace("*", ".*"))
            names = [n for n in names if rx.fullmatch(n)]
        tables = []
        for n in names:
            try:
                tables.append(read_json(self._table_dir(DatabaseName, n) / "table.json"))
            except FileNotFoundError:
                continue
        page, token = _paginate(tables, NextToken, MaxResults, op)
        return _ok({"TableList": page, **({"NextToken": token} if token else {})})

    def update_table(self, *, DatabaseName: str, TableInput: Mapping[str, Any],
                     SkipArchive: bool = False, VersionId: str | None = None,
                     CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``UpdateTable``: replaces the definition and archives a new version."""
        op = "UpdateTable"
        name = _require_name(TableInput, "TableInput.Name", op)
        _check_table_input(TableInput, op)
        with self.lock():
            old = self._table(DatabaseName, name, op)
            if VersionId is not None and VersionId != old["VersionId"]:
                raise glue_error(op, "ConcurrentModificationException",
                                 f"Table {name} was modified: version {old['VersionId']} is "
                                 f"current, update was based on version {VersionId}.")
            new_id = str(int(old["VersionId"]) + 1)
            table = {**copy.deepcopy(dict(TableInput)), "Name": old["Name"],
                     "DatabaseName": old["DatabaseName"], "CreateTime": old["CreateTime"],
                     "UpdateTime": _now(), "VersionId": new_id, "CatalogId": self.catalog_id,
                     "IsRegisteredWithLakeFormation": False}
            table.setdefault("PartitionKeys", [])
            table.setdefault("Parameters", {})
            tdir = self._table_dir(DatabaseName, name)
            atomic_write_json(tdir / "versions" / f"{new_id}.json", table)
            atomic_write_json(tdir / "table.json", table)
            if SkipArchive:
                (tdir / "versions" / f"{old['VersionId']}.json").unlink(missing_ok=True)
        return _ok({})

    def get_table_versions(self, *, DatabaseName: str, TableName: str,
                           **_: Any) -> dict[str, Any]:
        """Glue ``GetTableVersions`` (newest first)."""
        self._table(DatabaseName, TableName, "GetTableVersions")
        vdir = self._table_dir(DatabaseName, TableName) / "versions"
        ids = sorted((int(p.stem) for p in vdir.glob("*.json") if p.stem.isdigit()),
                     reverse=True)
        out = []
        for i in ids:
            try:
                out.append({"Table": read_json(vdir / f"{i}.json"), "VersionId": str(i)})
            except FileNotFoundError:
                continue
        return _ok({"TableVersions": out})

    def get_table_version(self, *, DatabaseName: str, TableName: str,
                          VersionId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``GetTableVersion`` (current version when ``VersionId`` is omitted)."""
        op = "GetTableVersion"
        table = self._table(DatabaseName, TableName, op)
        vid = VersionId if VersionId is not None else table["VersionId"]
        path = self._table_dir(DatabaseName, TableName) / "versions" / f"{vid}.json"
        try:
            return _ok({"TableVersion": {"Table": read_json(path), "VersionId": str(vid)}})
        except FileNotFoundError:
            raise glue_error(op, "EntityNotFoundException", "Version not found.") from None

    def delete_table(self, *, DatabaseName: str, Name: str, **_: Any) -> dict[str, Any]:
        """Glue ``DeleteTable`` (drops its partitions and versions too)."""
        with self.lock():
            self._table(DatabaseName, Name, "DeleteTable")
            _remove_tree(self._table_dir(DatabaseName, Name))
        return _ok({})

    def _table(self, db: str, name: str, op: str) -> dict[str, Any]:
        try:
            table: dict[str, Any] = read_json(self._table_dir(db, name) / "table.json")
        except FileNotFoundError:
            self._database(db, op)
            raise glue_error(op, "EntityNotFoundException",
                             f"Table {name} not found.") from None
        return table

    # --------------------------------------------------------------- partitions

    def batch_create_partition(self, *, DatabaseName: str, TableName: str,
                               PartitionInputList: Sequence[Mapping[str, Any]],
                               CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``BatchCreatePartition``: one ``Errors`` entry per partition not created."""
        op = "BatchCreatePartition"
        if not 1 <= len(PartitionInputList) <= _MAX_CREATE:
            raise glue_error(op, "InvalidInputException",
                             f"PartitionInputList must hold 1 to {_MAX_CREATE} partitions, "
                             f"got {len(PartitionInputList)}.")
        errors = []
        with self.lock():
            table = self._table(DatabaseName, TableName, op)
            pdir = self._parts_dir(DatabaseName, TableName)
            for pin in PartitionInputList:
                values = list(pin.get("Values") or [])
                problem = _check_values(values, table)
                path = pdir / _part_file(values) if problem is None else None
                if problem is not None:
                    errors.append(_part_error(values, "InvalidInputException", problem))
                elif path is not None and path.exists():
                    errors.append(_part_error(values, "AlreadyExistsException",
                                              "Partition already exists."))
                elif path is not None:
                    atomic_write_json(path, self._partition_record(table, pin, values))
        return _ok({"Errors": errors})

    def create_partition(self, *, DatabaseName: str, TableName: str,
                         PartitionInput: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        """Glue ``CreatePartition``."""
        out = self.batch_create_partition(DatabaseName=DatabaseName, TableName=TableName,
                                          PartitionInputList=[PartitionInput])
        if out["Errors"]:
            detail = out["Errors"][0]["ErrorDetail"]
            raise glue_error("CreatePartition", detail["ErrorCode"], detail["ErrorMessage"])
        return _ok({})

    def get_partition(self, *, DatabaseName: str, TableName: str,
                      PartitionValues: Sequence[str], CatalogId: str | None = None,
                      **_: Any) -> dict[str, Any]:
        """Glue ``GetPartition``."""
        op = "GetPartition"
        path = self._parts_dir(DatabaseName, TableName) / _part_file(PartitionValues)
        try:
            return _ok({"Partition": read_json(path)})
        except FileNotFoundError:
            self._table(DatabaseName, TableName, op)
            raise glue_error(op, "EntityNotFoundException", "Cannot find partition.") from None

    def list_partition_values(self, *, DatabaseName: str, TableName: str) -> list[list[str]]:
        """Values of every partition, unordered, from file names only (not a Glue API).

        The cheap path crawlers use to tell new folders from registered ones.
        """
        self._table(DatabaseName, TableName, "GetPartitions")
        return _list_values(self._parts_dir(DatabaseName, TableName), ordered=False)

    def get_partitions(self, *, DatabaseName: str, TableName: str,
                       Expression: str | None = None, NextToken: str | None = None,
                       MaxResults: int | None = None, Segment: Mapping[str, int] | None = None,
                       ExcludeColumnSchema: bool = False, CatalogId: str | None = None,
                       **_: Any) -> dict[str, Any]:
        """Glue ``GetPartitions`` with ``Expression`` filtering and pagination."""
        op = "GetPartitions"
        table = self._table(DatabaseName, TableName, op)
        try:
            keep = compile_expression(Expression, table.get("PartitionKeys") or [])
            values = [v for v in _list_values(self._parts_dir(DatabaseName, TableName))
                      if keep(v)]
        except ExpressionError as e:
            raise glue_error(op, "InvalidInputException", str(e)) from None
        except PartitionValueError as e:
            raise glue_error(op, "InvalidStateException", str(e)) from None
        if Segment:
            n, total = int(Segment["SegmentNumber"]), int(Segment["TotalSegments"])
            values = values[n::total]
        page, token = _paginate(values, NextToken, MaxResults, op)
        parts = self._read_partitions(DatabaseName, TableName, page)
        if ExcludeColumnSchema:
            for p in parts:
                p.get("StorageDescriptor", {}).pop("Columns", None)
        return _ok({"Partitions": parts, **({"NextToken": token} if token else {})})

    def batch_get_partition(self, *, DatabaseName: str, TableName: str,
                            PartitionsToGet: Sequence[Mapping[str, Any]],
                            CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``BatchGetPartition``: found ones in ``Partitions``, the rest in
        ``UnprocessedKeys``."""
        op = "BatchGetPartition"
        if not 1 <= len(PartitionsToGet) <= _MAX_GET:
            raise glue_error(op, "InvalidInputException",
                             f"PartitionsToGet must hold 1 to {_MAX_GET} entries, "
                             f"got {len(PartitionsToGet)}.")
        self._table(DatabaseName, TableName, op)
        pdir = self._parts_dir(DatabaseName, TableName)
        found, missing = [], []
        for want in PartitionsToGet:
            try:
                found.append(read_json(pdir / _part_file(want["Values"])))
            except FileNotFoundError:
                missing.append({"Values": list(want["Values"])})
        return _ok({"Partitions": found, "UnprocessedKeys": missing})

    def update_partition(self, *, DatabaseName: str, TableName: str,
                         PartitionValueList: Sequence[str], PartitionInput: Mapping[str, Any],
                         CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``UpdatePartition`` (may also rename it by changing ``Values``)."""
        op = "UpdatePartition"
        with self.lock():
            table = self._table(DatabaseName, TableName, op)
            pdir = self._parts_dir(DatabaseName, TableName)
            old_path = pdir / _part_file(PartitionValueList)
            try:
                old = read_json(old_path)
            except FileNotFoundError:
                raise glue_error(op, "EntityNotFoundException",
                                 "Cannot find partition.") from None
            values = list(PartitionInput.get("Values") or PartitionValueList)
            problem = _check_values(values, table)
            if problem is not None:
                raise glue_error(op, "InvalidInputException", problem)
            new_path = pdir / _part_file(values)
            if new_path != old_path and new_path.exists():
                raise glue_error(op, "AlreadyExistsException", "Partition already exists.")
            record = self._partition_record(table, PartitionInput, values)
            record["CreationTime"] = old["CreationTime"]
            atomic_write_json(new_path, record)
            if new_path != old_path:
                old_path.unlink(missing_ok=True)
        return _ok({})

    def batch_delete_partition(self, *, DatabaseName: str, TableName: str,
                               PartitionsToDelete: Sequence[Mapping[str, Any]],
                               CatalogId: str | None = None, **_: Any) -> dict[str, Any]:
        """Glue ``BatchDeletePartition``: one ``Errors`` entry per partition not found."""
        op = "BatchDeletePartition"
        if not 1 <= len(PartitionsToDelete) <= _MAX_DELETE:
            raise glue_error(op, "InvalidInputException",
                             f"PartitionsToDelete must hold 1 to {_MAX_DELETE} entries, "
                             f"got {len(PartitionsToDelete)}.")
        errors = []
        with self.lock():
            self._table(DatabaseName, TableName, op)
            pdir = self._parts_dir(DatabaseName, TableName)
            for item in PartitionsToDelete:
                path = pdir / _part_file(item["Values"])
                try:
                    path.unlink()
                except FileNotFoundError:
                    errors.append(_part_error(list(item["Values"]), "EntityNotFoundException",
                                              "Cannot find partition."))
        return _ok({"Errors": errors})

    def delete_partition(self, *, DatabaseName: str, TableName: str,
                         PartitionValues: Sequence[str], **_: Any) -> dict[str, Any]:
        """Glue ``DeletePartition``."""
        out = self.batch_delete_partition(DatabaseName=DatabaseName, TableName=TableName,
                                          PartitionsToDelete=[{"Values": PartitionValues}])
        if out["Errors"]:
            raise glue_error("DeletePartition", "EntityNotFoundException",
                             "Cannot find partition.")
        return _ok({})

    def _partition_record(self, table: Mapping[str, Any], pin: Mapping[str, Any],
                          values: list[str]) -> dict[str, Any]:
        record = {**copy.deepcopy(dict(pin)), "Values": values,
                  "DatabaseName": table["DatabaseName"], "TableName": table["Name"],
                  "CreationTime": _now(), "CatalogId": self.catalog_id}
        record.setdefault("Parameters", {})
        return record

    def _read_partitions(self, db: str, table: str,
                         values: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
        pdir = self._parts_dir(db, table)
        out = []
        for v in values:
            try:
                out.append(read_json(pdir / _part_file(v)))
            except FileNotFoundError:  # deleted by a writer since we listed it
                continue
        return out

    # --------------------------------------------------------------- paginators

    def get_paginator(self, operation_name: str) -> _Paginator:
        """boto3-style paginator for ``get_partitions``, ``get_tables``, ``get_databases``."""
        methods = {"get_partitions": self.get_partitions, "get_tables": self.get_tables,
                   "get_databases": self.get_databases}
        if operation_name not in methods:
            raise ValueError(f"no paginator for {operation_name!r}; "
                             f"available: {', '.join(methods)}")
        return _Paginator(methods[operation_name])


class _Paginator:
    def __init__(self, method: Any) -> None:
        self._method = method

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._method(**kwargs, **({"NextToken": token} if token else {}))
            yield page
            token = page.get("NextToken")
            if not token:
                return


# ------------------------------------------------------------------ helpers


def _require_name(obj: Mapping[str, Any], field: str, op: str) -> str:
    name = obj.get("Name") if isinstance(obj, Mapping) else None
    if not isinstance(name, str) or not name.strip():
        raise glue_error(op, "InvalidInputException", f"{field} is required.")
    if len(name) > 255 or "/" in name or name in {".", ".."}:
        raise glue_error(op, "InvalidInputException", f"{field} {name!r} is not a valid name.")
    return name


def _check_table_input(table_input: Mapping[str, Any], op: str) -> None:
    for key in table_input.get("PartitionKeys") or []:
        if not isinstance(key, Mapping) or not key.get("Name"):
            raise glue_error(op, "InvalidInputException",
                             "Every entry of TableInput.PartitionKeys needs a Name.")


def _check_values(values: list[Any], table: Mapping[str, Any]) -> str | None:
    keys = table.get("PartitionKeys") or []
    if not values:
        return "Partition values are required."
    if not all(isinstance(v, str) for v in values):
        return "Partition values must be strings."
    if len(values) != len(keys):
        return (f"The number of partition values ({len(values)}) does not match the number "
                f"of partition keys ({len(keys)}) of table {table['Name']}.")
    return None


def _part_error(values: list[Any], code: str, message: str) -> dict[str, Any]:
    return {"PartitionValues": values, "ErrorDetail": {"ErrorCode": code,
                                                       "ErrorMessage": message}}


def _list_values(pdir: Path, ordered: bool = True) -> list[list[str]]:
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return []
    values = [_part_values(n) for n in names if n[:5] != ".tmp-" and n.endswith(".json")]
    return sorted(values) if ordered else values


def _paginate(items: list[Any], token: str | None, max_results: int | None,
              op: str) -> tuple[list[Any], str | None]:
    size = _PAGE if max_results is None else int(max_results)
    if not 1 <= size <= _PAGE:
        raise glue_error(op, "InvalidInputException",
                         f"MaxResults must be between 1 and {_PAGE}, got {max_results}.")
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise glue_error(op, "InvalidInputException",
                             "NextToken is not valid for this request.") from None
    end = start + size
    nxt = (base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
           if end < len(items) else None)
    return items[start:end], nxt


def _remove_tree(path: Path) -> None:
    """Remove a folder so readers see it vanish at once (rename, then delete)."""
    if not path.exists():
        return
    trash = path.with_name(f".deleted-{path.name}-{os.getpid()}-{threading.get_ident()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)
