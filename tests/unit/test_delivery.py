"""Firehose sender: hard limits respected, only failed records resent, nothing lost."""

from __future__ import annotations

import random
from typing import Any

from ingest_lambda.delivery import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    FirehoseSender,
    chunk_records,
)


class FlakyFirehose:
    """Fails each record with probability ``rate`` (a 200 with FailedPutCount > 0)."""

    def __init__(self, rate: float, seed: int = 1) -> None:
        self.rate, self.rng = rate, random.Random(seed)
        self.delivered: list[bytes] = []
        self.calls: list[int] = []

    def put_record_batch(self, *, DeliveryStreamName: str,
                         Records: list[dict[str, bytes]]) -> dict[str, Any]:
        assert len(Records) <= MAX_BATCH_RECORDS
        assert sum(len(r["Data"]) for r in Records) <= MAX_BATCH_BYTES
        self.calls.append(len(Records))
        answers = []
        for r in Records:
            if self.rng.random() < self.rate:
                answers.append({"ErrorCode": "ServiceUnavailableException",
                                "ErrorMessage": "slow down"})
            else:
                self.delivered.append(r["Data"])
                answers.append({"RecordId": "x"})
        failed = sum(1 for a in answers if "ErrorCode" in a)
        return {"FailedPutCount": failed, "RequestResponses": answers}


def test_chunks_respect_count_and_size_limits() -> None:
    small = [b"x" * 10] * 1201
    assert [len(c) for c in chunk_records(small)] == [500, 500, 201]
    big = [b"y" * (900 * 1024)] * 10
    chunks = list(chunk_records(big))
    assert all(sum(map(len, c)) <= MAX_BATCH_BYTES for c in chunks)
    assert sum(len(c) for c in chunks) == 10 and len(chunks) == 3


def test_only_failed_records_are_resent_and_none_lost() -> None:
    # GIVEN a stream failing 20% of records per call
    fake = FlakyFirehose(0.2)
    records = [f"r{i}".encode() for i in range(1234)]
    # WHEN sent with enough attempts
    report = FirehoseSender(fake, "s", max_attempts=10, sleep=lambda _: None).send(records)
    # THEN every record arrived exactly once and the retries only carried failures
    assert sorted(fake.delivered) == sorted(records)
    assert report.sent == 1234 and report.failed == []
    assert report.retried > 0 and sum(fake.calls) == 1234 + report.retried


def test_records_still_failing_are_reported_not_dropped() -> None:
    fake = FlakyFirehose(1.0)
    report = FirehoseSender(fake, "s", max_attempts=3, sleep=lambda _: None).send([b"a", b"b"])
    assert report.sent == 0
    assert [r for r, _ in report.failed] == [b"a", b"b"]
    assert all("ServiceUnavailable" in why for _, why in report.failed)
    assert fake.calls == [2, 2, 2]
