"""The DynamoDB ``users`` table: latest ``fetched_at`` wins, through a conditional write.

An item is the ``users`` row (contracts.tables.USERS) keyed by ``user_id``. A write
lands only if the table has no item for the user, or the stored one is older: an
earlier ``fetched_at``, or the same ``fetched_at`` and a smaller ``batch_id`` (the
transform's tie-break, glue_jobs.transforms.dedupe_latest_by_user). Timestamps are
stored as fixed-width UTC text, so string order is time order. A replay of the stored
version, or an older one, fails the condition and changes nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from contracts.schema import Kind
from contracts.tables import USERS

__all__ = ["DynamoUserStore", "UserStore", "from_item", "to_item"]

_KINDS = {f.name: f.type for f in USERS.fields}
_NUMERIC = (Kind.INT, Kind.BIGINT, Kind.DOUBLE)

LATEST_WINS = ("attribute_not_exists(user_id) OR fetched_at < :f "
               "OR (fetched_at = :f AND batch_id < :b)")


class UserStore(Protocol):
    def put_latest(self, row: dict[str, Any]) -> bool:
        """Write ``row`` unless a newer or equal version is stored; True when written."""
        ...

    def lookup(self, user_id: str) -> dict[str, Any] | None: ...


def to_item(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A users row -> DynamoDB attribute values (nulls left out)."""
    item: dict[str, dict[str, Any]] = {}
    for name, value in row.items():
        if value is None:
            continue
        item[name] = {"N": repr(value) if isinstance(value, float) else str(value)} \
            if _KINDS[name] in _NUMERIC else {"S": str(value)}
    return item


def from_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """DynamoDB attribute values -> the users row, every contract column (None if absent).

    Attributes outside the contract are never returned."""
    row: dict[str, Any] = {}
    for name in USERS.column_names:
        attr = item.get(name)
        if attr is None or "NULL" in attr:
            row[name] = None
        elif "N" in attr:
            row[name] = float(attr["N"]) if _KINDS[name] is Kind.DOUBLE else int(attr["N"])
        else:
            row[name] = attr["S"]
    return row


class DynamoClient(Protocol):
    def put_item(self, **kwargs: Any) -> Any: ...
    def get_item(self, **kwargs: Any) -> Any: ...


class DynamoUserStore:
    """``UserStore`` over a boto3 ``dynamodb`` client (AWS, or moto by ``endpoint_url``)."""

    def __init__(self, client: DynamoClient, table_name: str) -> None:
        self.client, self.table = client, table_name

    def put_latest(self, row: dict[str, Any]) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_item(
                TableName=self.table, Item=to_item(row), ConditionExpression=LATEST_WINS,
                ExpressionAttributeValues={":f": {"S": row["fetched_at"]},
                                           ":b": {"S": row["batch_id"]}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def lookup(self, user_id: str) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.table, Key={"user_id": {"S": user_id}},
                                      ConsistentRead=False)
        item = answer.get("Item")
        return from_item(item) if item else None
