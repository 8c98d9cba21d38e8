"""Athena twin: Athena (Trino) SQL transpiled with sqlglot and run on DuckDB.

Tables are resolved from the Glue catalog twin exactly as Athena resolves them: the
table's registered partitions give the folders to read; ``p_date`` stays a string
partition column (``hive_types``), as Glue declares it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import sqlglot
import sqlglot.errors
from botocore.exceptions import ClientError

from glue_jobs.catalog_api import list_partitions
from local_aws.objectstore import LocalObjectStore

__all__ = ["LocalAthena", "QueryError", "QueryResult"]


class QueryError(ValueError):
    """The query could not be parsed, named an unknown table, or failed in the engine."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class LocalAthena:
    def __init__(self, catalog: Any, store: LocalObjectStore,
                 databases: tuple[str, ...] = ("udp_transform", "udp_raw")) -> None:
        self.catalog = catalog  # Glue API shape: get_tables + get_partitions
        self.store = store
        self.databases = databases

    def _views(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        made: list[str] = []
        for db in self.databases:
            try:
                tables = self.catalog.get_tables(DatabaseName=db)["TableList"]
            except ClientError:
                continue
            con.execute(f"create schema if not exists {_quote(db)}")
            for table in tables:
                parts = list_partitions(self.catalog, db, table["Name"], "")  # all partitions
                globs = [str(self.store.path(p["StorageDescriptor"]["Location"]) / "*.parquet")
                         for p in parts]
                if not globs:
                    continue
                files = ", ".join("'" + g.replace("'", "''") + "'" for g in globs)
                con.execute(
                    f"create view {_quote(db)}.{_quote(table['Name'])} as select * from "
                    f"read_parquet([{files}], hive_partitioning = true, "
                    f"hive_types = {{'p_date': 'VARCHAR'}}, union_by_name = true)")
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
        duck_sql = self.transpile(sql)
        con = duckdb.connect(":memory:")
        try:
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
