"""The data dictionary: every table the pipeline owns, as data and as Markdown.

Derived from the table contracts only (no catalog, no I/O), so ``udp tables`` /
``udp describe TABLE`` and ``docs/analyse/data-dictionary.md`` cannot disagree with what the
jobs write. Nested raw columns are listed by their dotted path (``location.city``);
fields the contract marks secret are never stored, so they are not listed.

Regenerate the Markdown with ``python -m contracts.dictionary --write``;
``--check`` exits 1 when the checked-in file is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.schema import Field, Kind, Struct, glue_type, stored
from contracts.tables import PARTITION_KEY, TABLES, TableContract

__all__ = ["DICTIONARY_PATH", "ColumnInfo", "TableInfo", "UnknownTableError", "all_tables",
           "column_rows", "find_table", "partition_rows", "render_markdown", "table_info",
           "table_rows"]

DICTIONARY_PATH = Path(__file__).resolve().parents[1] / "docs" / "analyse" / "data-dictionary.md"
_PARTITION_DOC = "ingestion day, YYYY-MM-DD (partition key: filter on it to prune)"


class UnknownTableError(KeyError):
    """No contract has that table name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown table"


@dataclass(frozen=True)
class ColumnInfo:
    """One column as an analyst sees it in Athena or the Glue catalog."""

    name: str
    """Dotted path for a field inside a struct (``location.city``)."""
    type: str
    """Glue/Athena type (``string``, ``bigint``, ``timestamp``, ``struct<...>``)."""
    nullable: bool
    comment: str
    partition_key: bool = False


@dataclass(frozen=True)
class TableInfo:
    """One table: where it lives, its key, partition keys and columns."""

    database: str
    name: str
    description: str
    prefix: str
    key: tuple[str, ...]
    partition_keys: tuple[str, ...]
    columns: tuple[ColumnInfo, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.name}"


def _leaf_columns(fields: Iterable[Field], prefix: str = "",
                  parent_nullable: bool = False) -> list[ColumnInfo]:
    out: list[ColumnInfo] = []
    for f in fields:
        path = f"{prefix}{f.name}"
        nullable = f.nullable or parent_nullable
        if isinstance(f.type, Struct):
            out.extend(_leaf_columns(f.type.fields, f"{path}.", nullable))
            continue
        out.append(ColumnInfo(path, glue_type(f.type), nullable, _comment(f)))
    return out


def _comment(f: Field) -> str:
    parts = [f.doc] if f.doc else []
    if f.type is Kind.STRING and f.max_len:
        ascii_note = "ASCII " if f.ascii_only else ""
        parts.append(f"at most {f.max_len} {ascii_note}characters in the warehouse")
    return "; ".join(parts)


def table_info(contract: TableContract) -> TableInfo:
    """The dictionary entry of one contract (pure)."""
    partition_cols = tuple(ColumnInfo(k["Name"], k["Type"], False, _PARTITION_DOC, True)
                           for k in contract.partition_keys)
    return TableInfo(database=contract.database, name=contract.name,
                     description=contract.doc, prefix=contract.prefix, key=contract.key,
                     partition_keys=tuple(c.name for c in partition_cols),
                     columns=(*_leaf_columns(stored(contract.fields)), *partition_cols))


def all_tables(contracts: Iterable[TableContract] | None = None) -> list[TableInfo]:
    """Every table, sorted by database then name."""
    chosen = TABLES.values() if contracts is None else contracts
    return sorted((table_info(c) for c in chosen), key=lambda t: (t.database, t.name))


def find_table(name: str, contracts: Iterable[TableContract] | None = None) -> TableInfo:
    """The table called ``name`` or ``database.name``; :class:`UnknownTableError` (with
    the known names) otherwise."""
    tables = all_tables(contracts)
    for t in tables:
        if name in (t.name, t.qualified_name):
            return t
    known = ", ".join(t.name for t in tables)
    raise UnknownTableError(f"unknown table {name!r}; known tables: {known}")


def table_rows(tables: Sequence[TableInfo]) -> list[tuple[str, str, str, str, str]]:
    """``udp tables`` rows: database, table, partition keys, key, description."""
    return [(t.database, t.name, ", ".join(t.partition_keys), ", ".join(t.key), t.description)
            for t in tables]


def column_rows(table: TableInfo) -> list[tuple[str, str, str, str]]:
    """``udp describe TABLE`` rows: column, type, null?, comment (partition keys last)."""
    return [(c.name, c.type, ("partition key" if c.partition_key
                              else "nullable" if c.nullable else "not null"), c.comment)
            for c in table.columns]


def partition_rows(partitions: Iterable[Mapping[str, Any]]
                   ) -> list[tuple[str, int | None, int | None, str]]:
    """``udp describe TABLE`` partition rows from Glue ``GetPartitions`` ``Partitions``
    (all pages): p_date, records, files, location; newest first. Counts are the
    ``recordCount`` / ``objectCount`` parameters crawlers and the transform job set
    (``None`` where a partition has none)."""
    def count(params: Mapping[str, Any], key: str) -> int | None:
        value = params.get(key)
        return int(value) if isinstance(value, str | int) and str(value).isdigit() else None

    rows = []
    for part in partitions:
        params = part.get("Parameters") or {}
        rows.append(("/".join(str(v) for v in part.get("Values", [])),
                     count(params, "recordCount"), count(params, "objectCount"),
                     str((part.get("StorageDescriptor") or {}).get("Location", ""))))
    return sorted(rows, key=lambda r: r[0], reverse=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(tables: Sequence[TableInfo]) -> str:
    """The data dictionary as Markdown (deterministic: same contracts, same text)."""
    lines = ["# Data dictionary", "",
             "<!-- Generated from contracts/ by `python -m contracts.dictionary --write`; "
             "do not edit by hand (a test checks it is current). -->", "",
             "Every table the pipeline writes, from the table contracts in `contracts/`. "
             f"All tables are Parquet, partitioned by `{PARTITION_KEY}` (a string "
             "`YYYY-MM-DD`). Types are Glue/Athena types; nested raw fields are listed by "
             "their dotted path. Query them with `udp query` (locally) or Athena.", "",
             "| database | table | key | description |", "| --- | --- | --- | --- |"]
    for t in tables:
        lines.append(f"| {t.database} | [{t.name}](#{t.database}{t.name}) | "
                     f"{_cell(', '.join(t.key))} | {_cell(t.description)} |")
    for t in tables:
        lines += ["", f"## {t.database}.{t.name}", "", _cell(t.description), "",
                  f"- location: `s3://<lake bucket>/{t.prefix}/{PARTITION_KEY}=YYYY-MM-DD/`",
                  f"- key: {', '.join(f'`{k}`' for k in t.key) or '—'}",
                  f"- partition keys: {', '.join(f'`{k}`' for k in t.partition_keys)}", "",
                  "| column | type | null? | comment |", "| --- | --- | --- | --- |"]
        for name, typ, null, comment in column_rows(t):
            lines.append(f"| `{name}` | {typ} | {null} | {_cell(comment)} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write or check docs/analyse/data-dictionary.md")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {DICTIONARY_PATH.name}")
    group.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render_markdown(all_tables())
    if args.write:
        DICTIONARY_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DICTIONARY_PATH}")
        return 0
    if args.check:
        current = DICTIONARY_PATH.read_text(encoding="utf-8") if DICTIONARY_PATH.exists() else ""
        if current != text:
            print(f"{DICTIONARY_PATH} is stale: run python -m contracts.dictionary --write",
                  file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
