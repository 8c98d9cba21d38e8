"""The Glue Data Catalog port: the subset of Glue's API the pipeline calls.

A boto3 ``glue`` client and the local Glue twin's ``LocalGlueCatalog`` both satisfy it.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["GlueCatalogApi", "list_partitions"]


class GlueCatalogApi(Protocol):
    def get_partitions(self, *, DatabaseName: str, TableName: str, Expression: str = ...,
                       NextToken: str = ...) -> dict[str, Any]: ...


def list_partitions(catalog: GlueCatalogApi, database: str, table: str,
                    expression: str) -> list[dict[str, Any]]:
    """All partitions matching ``expression`` (all of them if empty), following NextToken."""
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"DatabaseName": database, "TableName": table}
    if expression:
        kwargs["Expression"] = expression
    while True:
        page = catalog.get_partitions(**kwargs)
        out.extend(page.get("Partitions", []))
        token = page.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token
