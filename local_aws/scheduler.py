"""EventBridge Scheduler twin for ingest: a day's rate schedule replayed on a simulated clock.

Each invocation runs the same ``run_ingest`` the Lambda handler runs, with local ports
(the user-data API twin over HTTP, the Firehose twin, the S3 twin for errors). Pages
overlap by one between consecutive invocations, so the day contains the duplicate
deliveries the transform must remove.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ingest_lambda.api_client import ApiClient, RetryPolicy
from ingest_lambda.core import IngestPorts, IngestRequest, IngestSummary, S3ErrorSink, run_ingest
from ingest_lambda.delivery import FirehoseSender
from ingest_lambda.replay import ReplaySource
from local_aws.firehose import DeliveryStreamConfig, LocalFirehose
from local_aws.s3 import LocalS3
from local_aws.user_api import ApiOptions, serve_user_api

__all__ = ["DayPlan", "DayResult", "replay_pages", "simulate_day", "simulate_days"]


@dataclass(frozen=True)
class DayPlan:
    day: date
    invocations: int = 4
    pages_per_invocation: int = 3
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.invocations < 1 or self.invocations > 1440:
            raise ValueError("invocations must be 1..1440 (at most one a minute)")
        if self.pages_per_invocation < 1:
            raise ValueError("pages per invocation must be >= 1")
        if not 1 <= self.page_size <= 5000:
            raise ValueError("page size must be 1..5000")

    @property
    def seed(self) -> str:
        return f"udp-{self.day.isoformat()}"

    def start_page(self, i: int) -> int:
        step = max(self.pages_per_invocation - 1, 1)
        return 1 + i * step

    def invoked_at(self, i: int) -> datetime:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return start + timedelta(seconds=i * 86400 // self.invocations + 30)


@dataclass
class DayResult:
    plan: DayPlan
    invocations: list[IngestSummary] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(s, name)) for s in self.invocations)


def simulate_day(plan: DayPlan, api_url: str, s3: LocalS3, stream: DeliveryStreamConfig,
                 errors_bucket: str,
                 progress: Callable[[int, IngestSummary], None] | None = None, *,
                 firehose_failure_rate: float = 0.0) -> DayResult:
    result = DayResult(plan)
    for i in range(plan.invocations):
        now = [plan.invoked_at(i)]

        def clock(now: list[datetime] = now) -> datetime:
            now[0] += timedelta(milliseconds=5)  # pages arrive a little apart
            return now[0]

        firehose = LocalFirehose(s3, [stream], clock=clock, failure_rate=firehose_failure_rate,
                                 fault_seed=i)
        api = ApiClient(api_url, retry=RetryPolicy(max_attempts=8, base_delay_s=0.01,
                                                   max_delay_s=0.5))
        sender = FirehoseSender(firehose, stream.name, max_attempts=10, base_delay_s=0.001)
        ports = IngestPorts(api=api, sender=sender,
                            errors=S3ErrorSink(s3, errors_bucket), clock=clock)
        request = IngestRequest(seed=plan.seed, start_page=plan.start_page(i),
                                pages=plan.pages_per_invocation, page_size=plan.page_size)
        summary = run_ingest(request, ports, batch_id=f"local-{uuid.uuid4()}")
        firehose.close()  # Lambda ends; the stream flushes on its own schedule
        result.invocations.append(summary)
        if progress:
            progress(i, summary)
    return result


def simulate_days(plans: list[DayPlan], s3: LocalS3, stream: DeliveryStreamConfig,
                  errors_bucket: str, *, options: ApiOptions | None = None,
                  progress: Callable[[int, IngestSummary], None] | None = None,
                  firehose_failure_rate: float = 0.0) -> list[DayResult]:
    """Serve the user-data API twin on loopback and replay each day's schedule against it."""
    with serve_user_api(options or ApiOptions()) as url:
        return [simulate_day(plan, url, s3, stream, errors_bucket, progress,
                             firehose_failure_rate=firehose_failure_rate) for plan in plans]


def replay_pages(source: ReplaySource, s3: LocalS3, stream: DeliveryStreamConfig,
                 errors_bucket: str) -> IngestSummary:
    """Saved API pages through the same ingest path, arriving now."""
    firehose = LocalFirehose(s3, [stream])
    ports = IngestPorts(api=source, sender=FirehoseSender(firehose, stream.name),
                        errors=S3ErrorSink(s3, errors_bucket), clock=lambda: datetime.now(UTC))
    request = IngestRequest(seed=source.seed, start_page=1, pages=len(source.pages),
                            page_size=1)
    summary = run_ingest(request, ports, batch_id=f"replay-{uuid.uuid4()}")
    firehose.close()
    return summary
