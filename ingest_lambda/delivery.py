"""Delivery to Kinesis Data Firehose through its PutRecordBatch API.

``FirehoseSender`` works with any client exposing Firehose's ``put_record_batch`` shape:
boto3's in AWS, the local Firehose twin. It honours the limits
that cannot be raised (500 records / 4 MiB per call, 1,000 KiB per record) and resends
only the records a 200 response reports as failed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_RECORDS", "MAX_RECORD_BYTES", "DeliveryReport",
           "FirehoseClient", "FirehoseSender", "chunk_records", "chunked"]

T = TypeVar("T")

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024


class FirehoseClient(Protocol):
    def put_record_batch(self, *, DeliveryStreamName: str,
                         Records: list[dict[str, bytes]]) -> dict[str, Any]: ...


def chunked[T](items: Iterable[T], size: Callable[[T], int], max_count: int,
            max_bytes: int) -> Iterator[list[T]]:
    """Split ``items`` in order into calls of <= ``max_count`` items and <= ``max_bytes``
    (an item larger than ``max_bytes`` goes alone). Firehose here, Kinesis in push_api."""
    batch: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if batch and (len(batch) == max_count or total + n > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += n
    if batch:
        yield batch


def chunk_records(records: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Split records into calls of <= 500 records and <= 4 MiB."""
    return chunked(records, len, MAX_BATCH_RECORDS, MAX_BATCH_BYTES)


@dataclass
class DeliveryReport:
    sent: int = 0
    calls: int = 0
    retried: int = 0
    failed: list[tuple[bytes, str]] = field(default_factory=list)  # (record, reason)


class FirehoseSender:
    def __init__(self, client: FirehoseClient, stream_name: str, *, max_attempts: int = 5,
                 base_delay_s: float = 0.1, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.stream = stream_name
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.sleep = sleep
        self.rng = rng or random.Random()

    def send(self, records: Iterable[bytes]) -> DeliveryReport:
        report = DeliveryReport()
        for batch in chunk_records(records):
            self._send_batch(batch, report)
        return report

    def _send_batch(self, batch: list[bytes], report: DeliveryReport) -> None:
        pending = batch
        reasons: list[str] = []
        for attempt in range(self.max_attempts):
            if attempt:
                report.retried += len(pending)
                self.sleep(self.rng.uniform(0, self.base_delay_s * 2 ** attempt))
            report.calls += 1
            resp = self.client.put_record_batch(
                DeliveryStreamName=self.stream, Records=[{"Data": r} for r in pending])
            if not resp.get("FailedPutCount"):
                report.sent += len(pending)
                return
            answers = resp["RequestResponses"]
            retry = [r for r, a in zip(pending, answers, strict=True) if a.get("ErrorCode")]
            reasons = [f"{a['ErrorCode']}: {a.get('ErrorMessage', '')}"
                       for a in answers if a.get("ErrorCode")]
            report.sent += len(pending) - len(retry)
            pending = retry
        report.failed.extend(zip(pending, reasons, strict=True))
