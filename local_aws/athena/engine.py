"""Athena twin: Athena (Trino) SQL transpiled with sqlglot and run on DuckDB.

Tables are resolved from the Glue catalog twin the way Athena resolves a table without
projection: each registered partition's ``StorageDescriptor.Location`` gives the folder
to read (a plain ``p_date=D/`` folder or a published version folder, whatever the
catalog says), and the partition columns take the partition's ``Values``, never the
folder names. Columns and their order are the catalog's; ``timestamp`` columns are
plain UTC timestamps as in Athena. A table with no partitions yet is queryable and
empty, with its catalog columns.

Sandbox, as strict as Athena: a query reads only the catalog's tables and
changes nothing. Only one ``SELECT`` statement runs (``COPY``, ``ATTACH``, ``INSTALL``/
``LOAD``, ``SET``, DDL and DML are refused before they reach the engine), and the DuckDB
connection is locked down before any analyst SQL runs: ``allowed_paths`` holds exactly
the Parquet files of the registered partitions, ``enable_external_access = false`` then
refuses every other file, glob, attach and extension install (DuckDB "Securing DuckDB"
guide), extension auto-install/auto-load are off, and ``lock_configuration = true`` stops
the query from undoing any of it. Refusals raise :class:`QueryRefused`, a
:class:`QueryError`, with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import sqlglot.errors
from botocore.exceptions import ClientError
from sqlglot import exp

from glue_jobs.catalog_api import list_partitions
from local_aws.s3.objectstore import LocalObjectStore

__all__ = ["LocalAthena", "QueryError", "QueryRefused", "QueryResult", "duckdb_type",
           "refuse_unless_select", "table_view_sql"]


class QueryError(ValueError):
    """The query could not be parsed, named an unknown table, or failed in the engine."""


class QueryRefused(QueryError):
    """The query tried something Athena would not allow: a write, a file outside the
    catalog's tables, an attach, an extension, a settings change."""


SANDBOX_HINT = "`udp query` runs one read-only SELECT over the catalog's tables"


def refuse_unless_select(sql: str) -> None:
    """Raise :class:`QueryRefused` unless DuckDB reads ``sql`` as one ``SELECT``.

    Text DuckDB cannot parse passes (the Trino transpiler judges it; its output is
    checked again before it runs).
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return
    kinds = [s.type.name for s in statements]
    if len(kinds) > 1:
        raise QueryError("give exactly one SQL statement")
    if kinds and kinds[0] != "SELECT":
        raise QueryRefused(f"refused: {kinds[0]} statements are not allowed ({SANDBOX_HINT})")


def _engine_message(exc: duckdb.Error) -> str:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    for prefix in ("Permission Error: ", "Invalid Input Error: "):
        first = first.removeprefix(prefix)
    return first


def _is_sandbox_refusal(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.PermissionException) or (
        isinstance(exc, duckdb.InvalidInputException)
        and "configuration has been locked" in str(exc))


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_type(glue: str) -> str:
    """DuckDB type of a Glue/Hive column type (``string`` -> ``VARCHAR``, structs too)."""
    try:
        return exp.DataType.build(glue, dialect="hive").sql("duckdb")
    except (sqlglot.errors.ParseError, ValueError):
        return "VARCHAR"


def _column_expr(name: str, glue: str) -> str:
    if glue.lower() == "timestamp":  # Parquet UTC-adjusted -> Athena's zone-less timestamp
        return f"cast({_quote(name)} as timestamp) as {_quote(name)}"
    return _quote(name)


def table_view_sql(columns: list[dict[str, str]], keys: list[dict[str, str]],
                   partitions: list[tuple[list[str], list[str]]]) -> str:
    """The ``select`` behind one table's view (pure).

    ``partitions`` holds, per partition, its Parquet files and its ``Values`` (aligned
    with ``keys``). Partitions without files are skipped; no partitions -> an empty,
    typed relation with the catalog's columns.
    """
    key_names = [k["Name"] for k in keys]
    if not any(files for files, _ in partitions):
        cols = [f"cast(null as {duckdb_type(c['Type'])}) as {_quote(c['Name'])}"
                for c in columns]
        cols += [f"cast(null as {duckdb_type(k['Type'])}) as {_quote(k['Name'])}"
                 for k in keys]
        return f"select {', '.join(cols)} where false"
    parts = []
    for files, values in partitions:
        if not files:
            continue
        cols = [_column_expr(c["Name"], c["Type"]) for c in columns]
        cols += [f"cast({_literal(v)} as {duckdb_type(k['Type'])}) as {_quote(n)}"
                 for k, n, v in zip(keys, key_names, values, strict=True)]
        file_list = ", ".join(_literal(f) for f in files)
        parts.append(f"select {', '.join(cols)} from read_parquet([{file_list}], "
                     "hive_partitioning = false, union_by_name = true)")
    return "\nunion all\n".join(parts)


class LocalAthena:
    """Athena over the Glue catalog twin and the local object store, on DuckDB."""

    def __init__(self, catalog: Any, store: LocalObjectStore,
                 databases: tuple[str, ...] = ("udp_transform", "udp_raw"), *,
                 scratch_dir: Path | None = None) -> None:
        self.catalog = catalog  # Glue API shape: get_tables + get_partitions
        self.store = store
        self.databases = databases
        # where DuckDB may spill a large sort or join; the only folder it writes to
        self.scratch_dir = scratch_dir

    def _files(self, location: str) -> list[str]:
        folder = Path(self.store.path(location))
        if not folder.is_dir():
            return []
        return [str(p) for p in sorted(folder.rglob("*.parquet"))
                if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)]

    def _table_definitions(self) -> list[tuple[str, str, str, list[str]]]:
        """(database, table, view select, files it reads) per catalog table."""
        made: list[tuple[str, str, str, list[str]]] = []
        for db in self.databases:
            try:
                tables = self.catalog.get_tables(DatabaseName=db)["TableList"]
            except ClientError:
                continue
            for table in tables:
                columns = table.get("StorageDescriptor", {}).get("Columns", [])
                keys = table.get("PartitionKeys", [])
                if not columns:
                    continue
                partitions = [
                    (self._files(p["StorageDescriptor"]["Location"]), list(p["Values"]))
                    for p in list_partitions(self.catalog, db, table["Name"], "")
                ] if keys else [(self._files(table["StorageDescriptor"]["Location"]), [])]
                view = table_view_sql(columns, keys, partitions)
                files = [f for part_files, _ in partitions for f in part_files]
                made.append((db, table["Name"], view, files))
        return made

    def _sandboxed(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB holding the catalog's tables as views, locked down.

        The settings are made in this order because DuckDB refuses to change
        ``allowed_paths`` once external access is off, and anything once locked.
        """
        definitions = self._table_definitions()
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False})
        try:
            con.execute("set TimeZone = 'UTC'")
            files = sorted({f for *_, fs in definitions for f in fs})
            con.execute("set allowed_paths = ?", [files])
            if self.scratch_dir is not None:
                self.scratch_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                con.execute("set temp_directory = ?", [str(self.scratch_dir)])
            con.execute("set allow_community_extensions = false")
            con.execute("set enable_external_access = false")
            for db in self.databases:
                con.execute(f"create schema if not exists {_quote(db)}")
            for db, name, view, _ in definitions:
                con.execute(f"create view {_quote(db)}.{_quote(name)} as {view}")
            search = ",".join(self.databases)
            con.execute(f"set search_path = '{search}'")
            con.execute("set lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    def transpile(sql: str) -> str:
        """Athena (Trino) dialect -> DuckDB dialect; a single statement only."""
        try:
            statements = sqlglot.transpile(sql, read="trino", write="duckdb")
        except sqlglot.errors.ParseError as exc:
            first = str(exc).splitlines()[0]
            raise QueryError(f"cannot parse query: {first}") from None
        statements = [s for s in statements if s.strip()]
        if len(statements) != 1:
            raise QueryError("give exactly one SQL statement")
        return statements[0]

    def query(self, sql: str) -> QueryResult:
        """Run one read-only Athena (Trino) ``SELECT`` over the catalog's tables.

        Raises :class:`QueryRefused` (one line) for anything that would read outside
        the tables, write, attach, load an extension or change a setting.
        """
        refuse_unless_select(sql)
        duck_sql = self.transpile(sql)
        refuse_unless_select(duck_sql)
        con = self._sandboxed()
        try:
            try:
                cur = con.execute(duck_sql)
                columns = [d[0] for d in cur.description or []]
                rows = [tuple(r) for r in cur.fetchall()]
            except duckdb.CatalogException as exc:
                first = str(exc).splitlines()[0].replace("Catalog Error: ", "")
                raise QueryError(f"{first} (tables come from the Glue catalog; has "
                                 "`udp run` registered them?)") from None
            except duckdb.Error as exc:
                if _is_sandbox_refusal(exc):
                    raise QueryRefused(f"refused: {_engine_message(exc)} "
                                       f"({SANDBOX_HINT})") from None
                raise QueryError(str(exc).splitlines()[0]) from None
            return QueryResult(columns, rows)
        finally:
            con.close()
