"""The stream consumer: Kinesis records -> the DynamoDB ``users`` table.

Each record is decoded, checked against the contract again (the stream could carry a
record another producer wrote), minimised to the ``users`` row and written with the
latest-wins condition (push_api.store). Failures are reported item by item
(``batchItemFailures``, ReportBatchItemFailures on the event source mapping): Lambda
retries from the lowest failed sequence number, halving the batch
(BisectBatchOnFunctionError) until a poison record is alone, and after
MaximumRetryAttempts sends its batch description to the on-failure destination.
Because the write is conditional, re-processing records that already landed is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

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


def create_consumer(users: UserStore, salt: str
                    ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Kinesis-event handler over ``users`` (reports ``batchItemFailures``)."""
    def record_handler(record: KinesisStreamRecord) -> bool:
        row = row_from_data(record.kinesis.data_as_bytes(), salt)
        return users.put_latest(row)

    def consume(event: dict[str, Any], context: Any) -> dict[str, Any]:
        processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
        return dict(process_partial_response(event=event, record_handler=record_handler,
                                             processor=processor, context=context))
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
