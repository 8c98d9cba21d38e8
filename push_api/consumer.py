"""The stream consumer: Kinesis records -> the DynamoDB ``users`` table.

Each record is decoded, checked against the contract again (the stream could carry a
record another producer wrote), minimised to the ``users`` row and written with the
latest-wins condition (push_api.store). Failures are reported item by item
(``batchItemFailures``, ReportBatchItemFailures on the event source mapping): Lambda
retries from the lowest failed sequence number, halving the batch
(BisectBatchOnFunctionError) until a poison record is alone, and after
MaximumRetryAttempts sends its batch description to the on-failure destination.
Because the write is conditional, re-processing records that already landed is a no-op,
so the records of a batch are written by a small thread pool (``writers``), one task
per partition key (= user id): different users in parallel, one user's records in
stream order, never two writes of one user at once. A busy shard then does not outrun
its consumer (one conditional PutItem per record; conditions cannot go in
BatchWriteItem).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from aws_lambda_powertools import Logger

from contracts.user_record import Rejection, parse_timestamp, validate_record
from push_api.model import to_user_row, user_id_of, valid_user_id
from push_api.store import DynamoUserStore, UserStore

__all__ = ["PoisonRecord", "create_consumer", "handler", "row_from_data", "salt_from_secret"]

logger = Logger(service="udp-push-consumer")


class PoisonRecord(ValueError):
    """A record that can never be stored: retrying it will not help."""


def row_from_data(data: bytes, salt: str) -> dict[str, Any]:
    """Stream record bytes -> the users row; raises :class:`PoisonRecord`."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PoisonRecord(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise PoisonRecord("not a JSON object")
    clean = validate_record(record, json_ready=True)
    if isinstance(clean, Rejection):
        raise PoisonRecord(f"{clean.code} at {clean.path}: {clean.detail}")
    try:
        fetched = parse_timestamp(str(record["fetched_at"]))
        batch_id = str(record["batch_id"])
    except (KeyError, ValueError) as exc:
        raise PoisonRecord(f"ingest metadata missing or bad: {exc}") from None
    if not valid_user_id(user_id_of(clean)) or not batch_id:
        raise PoisonRecord("user id or batch id unusable")
    clean.update(fetched_at=fetched, batch_id=batch_id)
    return to_user_row(clean, salt)


def create_consumer(users: UserStore, salt: str, *, writers: int = 8
                    ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Kinesis-event handler over ``users``; answers ``{"batchItemFailures": [...]}``
    naming each failed record by sequence number, in stream order."""
    pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="udp-consumer")

    def one(record: dict[str, Any]) -> tuple[str, str | None]:
        kinesis = record["kinesis"]
        try:
            users.put_latest(row_from_data(base64.b64decode(kinesis["data"]), salt))
        except Exception as exc:  # reported, retried by the event source mapping
            poison = isinstance(exc, PoisonRecord)
            logger.warning("record not stored", extra={
                "sequence_number": kinesis["sequenceNumber"], "poison": poison,
                "cause": f"{type(exc).__name__}: {exc}"})
            return kinesis["sequenceNumber"], "failed"
        return kinesis["sequenceNumber"], None

    def group(records: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
        return [one(r) for r in records]

    def consume(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records", [])
        by_key: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_key.setdefault(r["kinesis"]["partitionKey"], []).append(r)
        failed = {seq for outcomes in pool.map(group, by_key.values())
                  for seq, bad in outcomes if bad}
        return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                                      for r in records
                                      if r["kinesis"]["sequenceNumber"] in failed]}
    return consume


def salt_from_secret(secret_id: str, client: Any) -> str:
    """The email-hash salt (the transform job's secret: same salt, same hashes)."""
    text = client.get_secret_value(SecretId=secret_id).get("SecretString")
    if not isinstance(text, str) or not text:
        raise ValueError(f"secret {secret_id} has no SecretString")
    return text


_CONSUMER: list[Callable[[dict[str, Any], Any], dict[str, Any]]] = []


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entrypoint (Kinesis event source mapping). Environment: ``USERS_TABLE``,
    ``SALT_SECRET_ID``; the salt is read once per execution environment."""
    if not _CONSUMER:
        import boto3

        salt = salt_from_secret(os.environ["SALT_SECRET_ID"], boto3.client("secretsmanager"))
        _CONSUMER.append(create_consumer(
            DynamoUserStore(boto3.client("dynamodb"), os.environ["USERS_TABLE"]), salt))
    return _CONSUMER[0](event, context)
