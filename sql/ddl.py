"""Warehouse column lists rendered from the table contracts.

Redshift ``COPY ... FORMAT AS PARQUET`` maps Parquet columns to table columns by
*position*, so the staging table must list exactly the contract's fields in the
contract's order. The checked-in DDL in ``sql/redshift/`` is the source of truth that
people review; this module renders what it must say (``python -m sql.ddl``) and reads
back what it does say, so a unit test can hold the two together.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from contracts.schema import sql_type
from contracts.tables import AGE_BAND_UNKNOWN, AGE_BANDS, PARTITION_KEY, USERS, TableContract

__all__ = [
    "DIALECTS",
    "LOAD_COLUMNS",
    "Column",
    "declared_columns",
    "render_column_list",
    "staging_columns",
    "target_columns",
]

DIALECTS = ("postgres", "redshift")

# Columns the warehouse adds after the contract's fields, in this order.
LOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    (PARTITION_KEY, "date"),
    ("loaded_at", "timestamptz"),
)


@dataclass(frozen=True)
class Column:
    """One warehouse column: name, SQL type and nullability."""

    name: str
    type: str
    not_null: bool = False

    def render(self) -> str:
        return f"{self.name} {self.type}" + (" not null" if self.not_null else "")


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {DIALECTS}")


def staging_columns(contract: TableContract = USERS, dialect: str = "postgres") -> list[Column]:
    """Columns of the staging table: the contract's fields, in Parquet order."""
    _check_dialect(dialect)
    return [Column(f.name, sql_type(f, dialect), not f.nullable) for f in contract.fields]


def target_columns(contract: TableContract = USERS, dialect: str = "postgres") -> list[Column]:
    """Columns of the analytics table: staging columns, then ``p_date`` and ``loaded_at``."""
    return staging_columns(contract, dialect) + [
        Column(name, typ, True) for name, typ in LOAD_COLUMNS
    ]


def render_column_list(columns: list[Column], indent: str = "    ") -> str:
    """The body of a ``create table (...)``: one column per line, comma-separated."""
    return ",\n".join(indent + c.render() for c in columns)


def _normalise_type(type_sql: str) -> str:
    text = re.sub(r"\s+", " ", type_sql.strip().lower())
    aliases = {"timestamp with time zone": "timestamptz", "int": "integer",
               "double": "double precision", "float8": "double precision",
               "varchar": "text"}
    return aliases.get(text, text)


def declared_columns(sql_text: str, table: str, dialect: str) -> list[Column]:
    """Columns of ``create table <table>`` as written in ``sql_text`` (parsed, not regexed).

    Raises ``LookupError`` when the file has no such ``create table``.
    """
    # sqlglot lazily: this module ships in the Glue wheel (``sql`` package), where sqlglot
    # is neither provided nor installed; only the DDL review test and ``python -m sql.ddl``
    # call this function (tests/infra/test_glue_wheel.py checks the wheel's imports).
    import sqlglot
    from sqlglot import exp

    _check_dialect(dialect)
    for statement in sqlglot.parse(sql_text, read=dialect):
        if not isinstance(statement, exp.Create) or statement.kind != "TABLE":
            continue
        schema = statement.this
        if not isinstance(schema, exp.Schema):
            continue
        name = schema.this.sql(dialect=dialect).lower()
        if name != table.lower():
            continue
        out = []
        for col in schema.expressions:
            if not isinstance(col, exp.ColumnDef):
                continue
            kind = col.args.get("kind")
            not_null = any(isinstance(c.kind, exp.NotNullColumnConstraint)
                           for c in col.constraints)
            type_sql = kind.sql(dialect=dialect) if kind is not None else ""
            out.append(Column(col.name, _normalise_type(type_sql), not_null))
        return out
    raise LookupError(f"no 'create table {table}' in the given SQL")


def normalised(columns: list[Column]) -> list[Column]:
    """Columns with types normalised the way :func:`declared_columns` reports them."""
    return [Column(c.name, _normalise_type(c.type), c.not_null) for c in columns]


def age_band_case(column: str, indent: str = "") -> str:
    """The SQL ``CASE`` that maps an age to its :data:`contracts.tables.AGE_BANDS` label.

    Portable (Redshift, PostgreSQL, Trino, DuckDB); null and out-of-range ages fall to
    ``'unknown'`` exactly like the Spark transform's ``age_band``. SQL files that derive a
    band paste this text; ``tests/unit/test_ddl.py`` holds them to it.
    """
    lines = ["case"]
    lines += [f"    when {column} between {low} and {high} then '{label}'"
              for label, low, high in AGE_BANDS]
    lines += [f"    else '{AGE_BAND_UNKNOWN}'", "end"]
    return "\n".join(indent + line if i else line for i, line in enumerate(lines))


def _main(argv: list[str]) -> int:
    dialect = argv[1] if len(argv) > 1 else "postgres"
    print(f"-- staging.users ({dialect})\n" + render_column_list(staging_columns(USERS, dialect)))
    print(f"-- analytics.users ({dialect})\n" + render_column_list(target_columns(USERS, dialect)))
    print("-- age band (any dialect)\n" + age_band_case("age"))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
