"""Athena ``CREATE EXTERNAL TABLE`` statements rendered from the table contracts.

The files in ``sql/athena/tables/`` are what analysts (and infrastructure) run; this
module renders what they must say (``python -m sql.athena_ddl`` rewrites them) so a unit
test holds columns, order and types to ``contracts/``.

Which tables use partition projection on ``p_date`` (``type=date``, ``yyyy-MM-dd``, one
day steps up to ``NOW``):

* the raw table ``udp_raw.user_data``: Firehose writes ``raw/user_data/p_date=<day>/``
  all day long, so with projection today's arrivals are queryable at once, without
  waiting for the nightly crawler or ``MSCK REPAIR``;
* not the transform tables: the transform job publishes each day into a fresh versioned
  folder and moves the catalog partition to it in one call (atomic for readers), so the
  day is queryable the moment it is published. Projection would make Athena ignore
  those catalog locations and read a fixed ``storage.location.template`` instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from contracts.locations import lake_uri, table_uri
from contracts.schema import glue_type
from contracts.tables import MODEL_TABLES, PARTITION_KEY, RAW, TableContract

__all__ = ["PROJECTION_START", "SHIPPED", "render_create_external_table", "table_file",
           "write_all"]

PROJECTION_START = "2024-01-01"
"""First day partition projection enumerates (the pipeline's first day, with margin)."""

LAKE_PLACEHOLDER = "${lake_bucket}"
ATHENA_DIR = Path(__file__).resolve().parent / "athena" / "tables"


def _q(name: str) -> str:
    return f"`{name}`"


def render_create_external_table(table: TableContract, *, bucket: str = LAKE_PLACEHOLDER,
                                  projection: bool = True) -> str:
    """The Athena DDL of one table (Parquet, partitioned by ``p_date``)."""
    location = table_uri(lake_uri(bucket), table)
    columns = ",\n".join(f"    {_q(f.name)} {glue_type(f.type)}" for f in table.fields)
    props = [("parquet.compression", "SNAPPY")]
    if projection:
        props += [
            ("projection.enabled", "true"),
            (f"projection.{PARTITION_KEY}.type", "date"),
            (f"projection.{PARTITION_KEY}.format", "yyyy-MM-dd"),
            (f"projection.{PARTITION_KEY}.range", f"{PROJECTION_START},NOW"),
            (f"projection.{PARTITION_KEY}.interval", "1"),
            (f"projection.{PARTITION_KEY}.interval.unit", "DAYS"),
            ("storage.location.template", f"{location}{PARTITION_KEY}=${{{PARTITION_KEY}}}/"),
        ]
    properties = ",\n".join(f"    '{k}' = '{v}'" for k, v in props)
    doc = table.doc.replace("'", "''")
    return (
        f"-- GENERATED from contracts/tables.py by `python -m sql.athena_ddl`; do not edit.\n"
        f"-- {table.database}.{table.name}: {table.doc}\n"
        f"-- {LAKE_PLACEHOLDER} is replaced by the lake bucket at deploy time.\n"
        f"create external table if not exists {table.database}.{table.name} (\n"
        f"{columns}\n"
        f")\n"
        f"comment '{doc}'\n"
        f"partitioned by ({_q(PARTITION_KEY)} string)\n"
        f"stored as parquet\n"
        f"location '{location}'\n"
        f"tblproperties (\n{properties}\n);\n"
    )


def table_file(table: TableContract) -> Path:
    """Where the shipped DDL of ``table`` lives."""
    return ATHENA_DIR / f"{table.name}.sql"


SHIPPED: tuple[tuple[TableContract, bool], ...] = (
    (RAW, True), *((t, False) for t in MODEL_TABLES))
"""Every shipped table and whether it uses partition projection (see the module doc)."""


def write_all(tables: tuple[tuple[TableContract, bool], ...] = SHIPPED) -> list[Path]:
    """(Re)write ``sql/athena/tables/*.sql`` from the contracts."""
    ATHENA_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for table, projection in tables:
        path = table_file(table)
        path.write_text(render_create_external_table(table, projection=projection),
                        encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        print(written_path)
    sys.exit(0)
