"""``udp tables`` / ``udp describe TABLE``: the data dictionary next to the local catalog.

Columns, types and comments come from the contracts (:mod:`contracts.dictionary`); the
partitions and their row counts come from the local Glue catalog. A partition's record
count is its ``recordCount`` parameter when the crawler or the job set one; otherwise the
Parquet footers under its location are summed (metadata only: no data page is read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from contracts.dictionary import TableInfo, partition_rows

__all__ = ["PartitionRow", "footer_row_count", "partitions_with_counts"]

PartitionRow = tuple[str, int | None, int | None, str, str]
"""p_date, records, files, location, where the count came from (``catalog``/``footers``)."""


def footer_row_count(folder: Path) -> tuple[int, int] | None:
    """(rows, files) of the Parquet files under ``folder`` from their footers; ``None``
    when the folder does not exist. Hidden and ``_``-prefixed files are skipped, as Athena
    skips them."""
    import pyarrow.parquet as pq

    if not folder.is_dir():
        return None
    files = [f for f in sorted(folder.rglob("*.parquet"))
             if not any(part.startswith((".", "_")) for part in f.relative_to(folder).parts)]
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files), len(files)


def partitions_with_counts(partitions: Iterable[Mapping[str, Any]],
                           local_path: Callable[[str], Path]) -> list[PartitionRow]:
    """:func:`contracts.dictionary.partition_rows` with every missing record count filled
    from the Parquet footers (``local_path`` maps a partition's ``s3://`` location to the
    local folder)."""
    out: list[PartitionRow] = []
    for value, records, files, location in partition_rows(partitions):
        source = "catalog"
        if records is None and location:
            counted = footer_row_count(local_path(location))
            if counted is not None:
                records, footer_files = counted
                files = files if files is not None else footer_files
                source = "footers"
        out.append((value, records, files, location, source if records is not None else ""))
    return out


def catalog_partitions(catalog: Any, info: TableInfo) -> list[dict[str, Any]] | None:
    """Every partition of ``info`` in ``catalog`` (all pages); ``None`` when the table is
    not in the catalog yet (not crawled)."""
    from botocore.exceptions import ClientError

    parts: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        try:
            page = catalog.get_partitions(DatabaseName=info.database, TableName=info.name,
                                          **({"NextToken": token} if token else {}))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return None
            raise
        parts.extend(page.get("Partitions", []))
        token = page.get("NextToken")
        if not token:
            return parts
