"""EventBridge Scheduler twin for ingest: a day's rate schedule replayed on a simulated clock.

Each invocation runs the same ``run_ingest`` the Lambda handler runs, with local ports
(the user-data API twin over HTTP, the Firehose twin, the S3 twin for errors). The twins
come from the composition root (``local_aws.cloud.LocalCloud``, :class:`IngestTwins`):
its S3 twin, its buckets, and a Firehose delivery stream as the deploy makes it, on the
invocation's clock. Pages
overlap by one between consecutive invocations, so the day contains the duplicate
deliveries the transform must remove.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from contracts.erasure_store import S3RegisterStore
from contracts.pipeline import PipelineConfig
from ingest_lambda.api_client import ApiClient, RetryPolicy
from ingest_lambda.core import IngestPorts, IngestRequest, IngestSummary, S3ErrorSink, run_ingest
from ingest_lambda.delivery import FirehoseSender
from ingest_lambda.replay import ReplaySource, StreamedReplay
from local_aws.firehose.delivery import LocalFirehose
from local_aws.s3.client import LocalS3
from local_aws.user_api.server import ApiOptions, serve_user_api

__all__ = ["DayPlan", "DayResult", "ingest_users", "plan_for_users", "replay_pages",
           "simulate_day", "simulate_days"]


MAX_PAGES_PER_INVOCATION = 200
"""Pages one invocation may fetch: the Lambda fetches them one after another within its
15-minute limit (200 pages of 5,000 users at up to ~4 s each), one page in memory at a
time; `plan_for_users` needs 151 for the 3-million-user benchmark day."""


@dataclass(frozen=True)
class DayPlan:
    day: date
    invocations: int = 4
    pages_per_invocation: int = 3
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.invocations < 1 or self.invocations > 1440:
            raise ValueError("invocations must be 1..1440 (at most one a minute)")
        if not 1 <= self.pages_per_invocation <= MAX_PAGES_PER_INVOCATION:
            raise ValueError(f"pages per invocation must be 1..{MAX_PAGES_PER_INVOCATION} "
                             "(one Lambda invocation fetches them within its 15 minutes)")
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


class _CountingSource:
    """A page source that reports each fetched page's record count (for progress bars)."""

    def __init__(self, api: ApiClient, on_page: Callable[[int], None]) -> None:
        self.api, self.on_page = api, on_page

    def fetch_page(self, page: int, results: int, seed: str) -> Any:
        page_obj = self.api.fetch_page(page, results, seed)
        found = page_obj.get("results") if isinstance(page_obj, dict) else None
        self.on_page(len(found) if isinstance(found, list) else 0)
        return page_obj


class IngestTwins(Protocol):
    """What the schedule takes from the composition root (``LocalCloud`` is one)."""

    cfg: PipelineConfig
    s3: LocalS3

    def firehose(self, clock: Callable[[], datetime] | None = None, *,
                 failure_rate: float = 0.0, fault_seed: int = 11) -> LocalFirehose: ...


def _ports(twins: IngestTwins, source: Any, firehose: LocalFirehose,
           clock: Callable[[], datetime], **sender: Any) -> IngestPorts:
    cfg = twins.cfg
    return IngestPorts(api=source, sender=FirehoseSender(firehose, cfg.delivery_stream, **sender),
                       errors=S3ErrorSink(twins.s3, cfg.errors_bucket), clock=clock,
                       erasures=S3RegisterStore(twins.s3, cfg.lake_bucket))


def simulate_day(plan: DayPlan, api_url: str, twins: IngestTwins,
                 progress: Callable[[int, IngestSummary], None] | None = None, *,
                 firehose_failure_rate: float = 0.0,
                 on_page: Callable[[int], None] | None = None) -> DayResult:
    result = DayResult(plan)
    for i in range(plan.invocations):
        now = [plan.invoked_at(i)]

        def clock(now: list[datetime] = now) -> datetime:
            now[0] += timedelta(milliseconds=5)  # pages arrive a little apart
            return now[0]

        firehose = twins.firehose(clock, failure_rate=firehose_failure_rate, fault_seed=i)
        api = ApiClient(api_url, retry=RetryPolicy(max_attempts=8, base_delay_s=0.01,
                                                   max_delay_s=0.5))
        source = _CountingSource(api, on_page) if on_page else api
        ports = _ports(twins, source, firehose, clock, max_attempts=10, base_delay_s=0.001)
        request = IngestRequest(seed=plan.seed, start_page=plan.start_page(i),
                                pages=plan.pages_per_invocation, page_size=plan.page_size)
        summary = run_ingest(request, ports, batch_id=f"local-{uuid.uuid4()}")
        firehose.close()  # Lambda ends; the stream flushes on its own schedule
        result.invocations.append(summary)
        if progress:
            progress(i, summary)
    return result


def simulate_days(plans: list[DayPlan], twins: IngestTwins, *,
                  options: ApiOptions | None = None,
                  progress: Callable[[int, IngestSummary], None] | None = None,
                  firehose_failure_rate: float = 0.0) -> list[DayResult]:
    """Serve the user-data API twin on loopback and replay each day's schedule against it."""
    with serve_user_api(options or ApiOptions()) as url:
        return [simulate_day(plan, url, twins, progress,
                             firehose_failure_rate=firehose_failure_rate) for plan in plans]


def replay_pages(source: ReplaySource | StreamedReplay, twins: IngestTwins,
                 arrival: date | None = None) -> IngestSummary:
    """Saved API pages through the same ingest path, arriving now, or on ``arrival``'s
    day (a backfill of captured payloads lands in the day they were captured for)."""
    if arrival is None:
        def clock() -> datetime:
            return datetime.now(UTC)
    else:
        now = [datetime(arrival.year, arrival.month, arrival.day, 12, tzinfo=UTC)]

        def clock() -> datetime:
            now[0] += timedelta(milliseconds=5)  # pages arrive a little apart, within D
            return now[0]
    firehose = twins.firehose(clock)
    ports = _ports(twins, source, firehose, clock)
    request = IngestRequest(seed=source.seed, start_page=1, pages=source.page_count,
                            page_size=1)
    summary = run_ingest(request, ports, batch_id=f"replay-{uuid.uuid4()}")
    firehose.close()
    return summary


def plan_for_users(day: date, users: int, *, page_size: int = 5000,
                   invocations: int = 4) -> DayPlan:
    """The day's schedule that fetches at least ``users`` distinct users.

    Pages of ``page_size`` (the API's cap by default), spread over ``invocations``
    invocations whose pages overlap by one as every simulated day's do; the count is
    rounded up to whole pages per invocation (1M users: 4 x 51 pages of 5,000 =
    1,005,000 distinct users, 1,020,000 fetched with the overlaps).
    """
    if users < 1:
        raise ValueError("users must be >= 1")
    page_size = min(page_size, users)
    pages = -(-users // page_size)
    invocations = min(invocations, pages)
    per_invocation = 1 if pages == invocations else -(-(pages - 1) // invocations) + 1
    return DayPlan(day, invocations, per_invocation, page_size)


def ingest_users(day: date, users: int, twins: IngestTwins, *,
                 options: ApiOptions | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 firehose_failure_rate: float = 0.0) -> DayResult:
    """``udp ingest --users N``: a day of at least ``users`` users through the twins.

    ``progress(records_fetched, records_planned)`` is called after every page (5,000
    records), so a progress bar moves about 200 times for a million users.
    """
    plan = plan_for_users(day, users)
    planned = plan.invocations * plan.pages_per_invocation * plan.page_size
    done = [0]

    def on_page(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], planned)

    with serve_user_api(options or ApiOptions()) as url:
        return simulate_day(plan, url, twins,
                            firehose_failure_rate=firehose_failure_rate, on_page=on_page)
