"""Athena twin: Athena (Trino) SQL transpiled with sqlglot and run on DuckDB.

Tables are resolved from the Glue catalog twin the way Athena resolves a table without
projection: each registered partition's ``StorageDescriptor.Location`` gives the folder
to read (a plain ``p_date=D/`` folder or a published version folder, whatever the
catalog says), and the partition columns take the partition's ``Values``, never the
folder names. Columns and their order are the catalog's; ``timestamp`` columns are
plain UTC timestamps as in Athena. A table with no partitions yet is queryable and
empty, with its catalog columns.
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
from local_aws.objectstore import LocalObjectStore

__all__ = ["LocalAthena", "QueryError", "QueryResult", "duckdb_type", "table_view_sql"]


class QueryError(ValueError):
    """The query could not be parsed, named an unknown table, or failed in the engine."""


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
                 databases: tuple[str, ...] = ("udp_transform", "udp_raw")) -> None:
        self.catalog = catalog  # Glue API shape: get_tables + get_partitions
        self.store = store
        self.databases = databases

    def _files(self, location: str) -> list[str]:
        folder = Path(self.store.path(location))
        if not folder.is_dir():
            return []
        return [str(p) for p in sorted(folder.rglob("*.parquet"))
                if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)]

    def _views(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        made: list[str] = []
        for db in self.databases:
            try:
                tables = self.catalog.get_tables(DatabaseName=db)["TableList"]
            except ClientError:
                continue
            con.execute(f"create schema if not exists {_quote(db)}")
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
                con.execute(f"create view {_quote(db)}.{_quote(table['Name'])} as {view}")
                made.append(f"{db}.{table['Name']}")
        search = ",".join(self.databases)
        con.execute(f"set search_path = '{search}'")
        return made

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
        """Run one Athena (Trino) statement over the catalog's tables."""
        duck_sql = self.transpile(sql)
        con = duckdb.connect(":memory:")
        try:
            con.execute("set TimeZone = 'UTC'")
            self._views(con)
            try:
                cur = con.execute(duck_sql)
            except duckdb.CatalogException as exc:
                first = str(exc).splitlines()[0].replace("Catalog Error: ", "")
                raise QueryError(f"{first} (tables come from the Glue catalog; has "
                                 "`udp run` registered them?)") from None
            except duckdb.Error as exc:
                raise QueryError(str(exc).splitlines()[0]) from None
            columns = [d[0] for d in cur.description or []]
            return QueryResult(columns, [tuple(r) for r in cur.fetchall()])
        finally:
            con.close()
