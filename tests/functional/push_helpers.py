"""Fault injection for the push path's tests."""

from __future__ import annotations

import random
import threading
from typing import Any


class ThrottlingKinesis:
    """Wraps a boto3 Kinesis client: ``put_records`` refuses a share of the entries with
    ``ProvisionedThroughputExceededException`` (as a 200 answer with per-record errors,
    which is how Kinesis reports it) and sends only the others on to the real client."""

    def __init__(self, client: Any, rate: float, seed: int = 7) -> None:
        self.client, self.rate = client, rate
        self.rng = random.Random(seed)
        self.refused = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            refuse = [self.rng.random() < self.rate for _ in Records]
            self.refused += sum(refuse)
        passed = [r for r, no in zip(Records, refuse, strict=True) if not no]
        real = iter(self.client.put_records(StreamName=StreamName, Records=passed)["Records"]
                    if passed else [])
        answers = [{"ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}
                   if no else next(real) for no in refuse]
        return {"FailedRecordCount": sum(refuse), "Records": answers}


class CrashingConsumer:
    """Wraps a consumer handler: the first ``crashes`` invocations raise (a function
    error, as a crash or timeout looks to the event source mapping)."""

    def __init__(self, consumer: Any, crashes: int) -> None:
        self.consumer, self.crashes = consumer, crashes
        self.calls = 0

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.crashes:
            raise RuntimeError("consumer crashed")
        result: dict[str, Any] = self.consumer(event, context)
        return result
