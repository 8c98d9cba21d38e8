"""Writing to a Kinesis Data Stream through ``PutRecords``, and nothing lost or doubled.

``PutRecords`` answers 200 even when some records failed: each failed entry carries an
``ErrorCode`` (``ProvisionedThroughputExceededException`` or ``InternalFailure``) and
only those are sent again, after an exponential backoff with full jitter, so a record
that was accepted is never written twice by this sender. Limits that cannot be raised:
500 records and 5 MiB per call, 1 MiB per record (data plus partition key), partition
keys of 1..256 characters (Kinesis API reference, PutRecords).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest_lambda.delivery import chunked

__all__ = ["MAX_CALL_BYTES", "MAX_CALL_RECORDS", "KinesisClient", "KinesisSender",
           "PutOutcome", "chunk_entries"]

MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 * 1024 * 1024


class KinesisClient(Protocol):
    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        ...


def _size(entry: tuple[str, bytes]) -> int:
    return len(entry[0].encode("utf-8")) + len(entry[1])


def chunk_entries(entries: Sequence[tuple[str, bytes]]) -> Iterator[list[int]]:
    """Indices of ``(partition key, data)`` entries, split into calls of <= 500 / 5 MiB."""
    return chunked(range(len(entries)), lambda i: _size(entries[i]), MAX_CALL_RECORDS,
                   MAX_CALL_BYTES)


@dataclass
class PutOutcome:
    """Per entry: the sequence number it got, or why it could not be written."""

    sequence_numbers: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    calls: int = 0
    retried: int = 0


class KinesisSender:
    def __init__(self, client: KinesisClient, stream_name: str, *, max_attempts: int = 6,
                 base_delay_s: float = 0.05, max_delay_s: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.stream = stream_name
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self.rng = rng or random.Random()

    def put(self, entries: Sequence[tuple[str, bytes]]) -> PutOutcome:
        """Write every ``(partition key, data)``; failed ones retried, never resent twice."""
        outcome = PutOutcome()
        for call in chunk_entries(entries):
            self._put_call(entries, call, outcome)
        return outcome

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self.rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** attempt))

    def _put_call(self, entries: Sequence[tuple[str, bytes]], pending: list[int],
                  outcome: PutOutcome) -> None:
        reasons: dict[int, str] = {}
        for attempt in range(self.max_attempts):
            if attempt:
                outcome.retried += len(pending)
                self.sleep(self._backoff(attempt))
            outcome.calls += 1
            resp = self.client.put_records(StreamName=self.stream, Records=[
                {"PartitionKey": entries[i][0], "Data": entries[i][1]} for i in pending])
            retry: list[int] = []
            for i, answer in zip(pending, resp["Records"], strict=True):
                if answer.get("ErrorCode"):
                    retry.append(i)
                    reasons[i] = f"{answer['ErrorCode']}: {answer.get('ErrorMessage', '')}"
                else:
                    outcome.sequence_numbers[i] = answer["SequenceNumber"]
            pending = retry
            if not pending:
                return
        outcome.failed.update({i: reasons[i] for i in pending})
