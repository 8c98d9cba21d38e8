"""A small DynamoDB twin: the date leases the state machine takes (one run per date).

Only what ``orchestration/state_machine.asl.json`` uses, through Step Functions' optimized
integrations ``dynamodb:putItem`` / ``getItem`` / ``deleteItem``, and what the erasure job's
lease client calls: boto3-shaped ``put_item(**kwargs)`` / ``get_item`` / ``delete_item``,
each request and answer checked against botocore's DynamoDB model (``@aws_shaped``), and
every refusal a botocore ``ClientError`` as a DynamoDB client raises it
(``e.response["Error"]["Code"]``; the modeled ``ConditionalCheckFailedException`` class
for a failed condition). The local Step Functions names such an error for the definition's
Retry/Catch (``DynamoDB.ConditionalCheckFailedException``). Items in DynamoDB's typed
JSON (``{"S": ...}``, ``{"N": ...}``), a single string hash key, and a ConditionExpression
subset: ``attribute_exists(a)``, ``attribute_not_exists(a)``, ``a = :v``, ``a <> :v``,
``a < :v``, ``a <= :v``, ``a > :v``, ``a >= :v``, joined by ``AND`` / ``OR`` (AND binds
tighter, as in DynamoDB; no parentheses, no ``#name`` placeholders). Anything else is
refused with ``ValidationException`` rather than guessed.

Each table is one JSON file under ``state/dynamodb/``; every call holds an exclusive
``fcntl`` lock on ``<table>.lock`` for its read-check-write, so two ``udp`` processes see
one table and a conditional put is atomic between them, as on DynamoDB.

One local addition, for killed runs: the twin records the writing process (pid, host) next
to each item, outside the item. An item whose writer is a dead process on this host
counts as absent when a condition is checked. On AWS there is no process to ask; the
lease's ``expires_at`` (the execution's TimeoutSeconds) plays that part.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local_aws.aws_model import aws_shaped, service_error
from local_aws.processes import pid_alive

__all__ = ["LocalDynamoDb", "condition_holds"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_FUNC = re.compile(rf"^(attribute_exists|attribute_not_exists)\(\s*({_NAME})\s*\)$")
_CMP = re.compile(rf"^({_NAME})\s*(=|<>|<=|>=|<|>)\s*(:{_NAME})$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")  # DynamoDB's table-name rule


def _invalid(message: str, method: str = "put_item") -> ClientError:
    """DynamoDB's answer to a request it cannot take (HTTP 400, not a modeled error)."""
    return service_error("dynamodb", method, "ValidationException", message)


def _scalar(value: Any) -> Any:
    """A typed attribute value as a comparable Python value (S -> str, N -> number)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise _invalid(f"not a typed attribute value: {value!r}")
    [(kind, raw)] = value.items()
    if kind == "S" and isinstance(raw, str):
        return raw
    if kind == "N" and isinstance(raw, str):
        try:
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            raise _invalid(f"N value {raw!r} is not a number") from None
    raise _invalid(f"unsupported attribute type {kind!r} (this twin knows S and N)")


def _term(text: str, item: Mapping[str, Any] | None, values: Mapping[str, Any]) -> bool:
    text = text.strip()
    if match := _FUNC.match(text):
        present = item is not None and match[2] in item
        return present if match[1] == "attribute_exists" else not present
    if match := _CMP.match(text):
        name, op, placeholder = match[1], match[2], match[3]
        if placeholder not in values:
            raise _invalid("Invalid ConditionExpression: An expression attribute value used "
                           f"in expression is not defined; attribute value: {placeholder}")
        right = _scalar(values[placeholder])
        if item is None or name not in item:
            return False  # DynamoDB: a comparison with a missing attribute is false
        left = _scalar(item[name])
        if isinstance(left, str) != isinstance(right, str):
            return False  # different types never compare true
        return {"=": left == right, "<>": left != right, "<": left < right,
                "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    raise _invalid(f"Invalid ConditionExpression: {text!r} is outside this twin's subset")


def condition_holds(expression: str, item: Mapping[str, Any] | None,
                    values: Mapping[str, Any]) -> bool:
    """Evaluate a ConditionExpression of the supported subset against ``item`` (or none)."""
    if "(" in expression.replace("attribute_exists(", "").replace("attribute_not_exists(", ""):
        raise _invalid("Invalid ConditionExpression: parentheses are outside this twin's "
                       "subset")
    alternatives = re.split(r"\s+OR\s+", expression.strip())
    return any(all(_term(t, item, values) for t in re.split(r"\s+AND\s+", alt))
               for alt in alternatives)


@aws_shaped("dynamodb")
class LocalDynamoDb:
    """File-backed tables keyed by one string attribute; see the module docstring."""

    def __init__(self, folder: Path, key_names: Mapping[str, str]) -> None:
        self.folder = folder
        self.key_names = dict(key_names)  # table name -> its hash key attribute

    # ------------------------------------------------------------------ storage
    @contextlib.contextmanager
    def _table(self, name: Any, method: str) -> Iterator[dict[str, Any]]:
        if not isinstance(name, str) or not _TABLE.match(name):
            raise _invalid(f"1 validation error detected: Value {name!r} at 'tableName' "
                           "failed to satisfy constraint: Member must satisfy regular "
                           "expression pattern: [a-zA-Z0-9_.-]+", method)
        if name not in self.key_names:
            raise service_error("dynamodb", method, "ResourceNotFoundException",
                                "Requested resource not found")
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(self.folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.folder / f"{name}.json"
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out)
                os.replace(tmp, path)
        finally:
            os.close(lock)  # closing the descriptor drops the flock

    def _key(self, table: str, key_item: Any, method: str) -> str:
        """The item's (``put_item``) or the ``Key``'s hash key, refused as DynamoDB
        refuses a missing one or one of the wrong type."""
        attr = self.key_names[table]
        value = key_item.get(attr) if isinstance(key_item, dict) else None
        kind = next(iter(value), None) if isinstance(value, dict) else None
        if kind != "S" and method != "put_item":
            raise _invalid("The provided key element does not match the schema", method)
        if value is None:
            raise _invalid("One or more parameter values were invalid: Missing the key "
                           f"{attr} in the item", method)
        if kind != "S":
            raise _invalid("One or more parameter values were invalid: Type mismatch for "
                           f"key {attr} expected: S actual: {kind}", method)
        key: str = _scalar(value)
        return key

    @staticmethod
    def _live_item(entry: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The stored item, or None if its writer is a dead process on this host."""
        if entry is None:
            return None
        writer = entry.get("writer", {})
        pid = writer.get("pid")
        if writer.get("host") == socket.gethostname() and isinstance(pid, int) \
                and not pid_alive(pid):
            return None
        item: Mapping[str, Any] = entry["item"]
        return item

    @staticmethod
    def _check(params: Mapping[str, Any], current: Mapping[str, Any] | None,
               method: str) -> None:
        expression = params.get("ConditionExpression")
        if expression is None:
            return
        try:
            holds = condition_holds(expression, current,
                                    params.get("ExpressionAttributeValues", {}))
        except ClientError as exc:
            raise _invalid(exc.response["Error"]["Message"], method) from None
        if not holds:
            raise service_error("dynamodb", method, "ConditionalCheckFailedException",
                                "The conditional request failed")

    # ------------------------------------------------------------------ API
    def put_item(self, **params: Any) -> dict[str, Any]:
        table, item = params.get("TableName"), params.get("Item")
        with self._table(table, "put_item") as data:
            key = self._key(str(table), item, "put_item")
            try:
                for value in (item or {}).values():
                    _scalar(value)
            except ClientError as exc:
                raise _invalid(exc.response["Error"]["Message"]) from None
            self._check(params, self._live_item(data.get(key)), "put_item")
            data[key] = {"item": item,
                         "writer": {"pid": os.getpid(), "host": socket.gethostname()}}
        return {}

    def get_item(self, **params: Any) -> dict[str, Any]:
        table = params.get("TableName")
        with self._table(table, "get_item") as data:
            item = self._live_item(data.get(self._key(str(table), params.get("Key"),
                                                      "get_item")))
        return {"Item": dict(item)} if item is not None else {}

    def delete_item(self, **params: Any) -> dict[str, Any]:
        table = params.get("TableName")
        with self._table(table, "delete_item") as data:
            key = self._key(str(table), params.get("Key"), "delete_item")
            self._check(params, self._live_item(data.get(key)), "delete_item")
            data.pop(key, None)
        return {}

    def writer(self, table: str, key: str) -> dict[str, Any] | None:
        """The process (pid, host) that wrote a live item, for naming a lease's holder."""
        with self._table(table, "get_item") as data:
            entry = data.get(key)
            if entry is None or self._live_item(entry) is None:
                return None
            return dict(entry["writer"])

    def prune_dead(self, table: str) -> list[str]:
        """Delete the items whose writer died on this host (a killed run's lease); their
        keys. They already count as absent; this only tidies the file."""
        with self._table(table, "delete_item") as data:
            dead = [k for k, entry in data.items() if self._live_item(entry) is None]
            for key in dead:
                del data[key]
        return dead

    def live_items(self, table: str) -> list[dict[str, Any]]:
        """Every live item (for ``udp status``); a dead writer's items are left out."""
        with self._table(table, "get_item") as data:
            return [dict(item) for entry in data.values()
                    if (item := self._live_item(entry)) is not None]
