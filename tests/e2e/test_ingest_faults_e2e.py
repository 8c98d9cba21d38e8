"""The fault test: a flaky API (30% 5xx/429) and a flaky Firehose (20% per-record
failures) lose nothing, and after the transform each user appears exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from contracts.user_record import validate_record
from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
from local_aws.user_api.server import ApiOptions, generate_user

pytestmark = pytest.mark.slow

DAY = "2026-11-21"


def test_no_valid_record_is_lost_and_each_user_lands_once(tmp_path: Path) -> None:
    # GIVEN an API failing 30% of requests (half 503, half 429 + Retry-After) that also
    # corrupts 3% of records, and a Firehose failing 20% of records per call
    options = ApiOptions(error_rate=0.15, throttle_rate=0.15, retry_after_s=0.01,
                         malformed_rate=0.03)
    plan = DayPlan(date.fromisoformat(DAY), invocations=3, pages_per_invocation=3,
                   page_size=50)
    stack = LocalCloud(tmp_path)
    # WHEN a day of scheduled invocations runs
    [result] = simulate_days([plan], stack, options=options, firehose_failure_rate=0.2)
    # THEN every page was fetched in the end and nothing was undeliverable
    assert result.total("pages_failed") == 0
    assert result.total("records_undeliverable") == 0
    # AND raw holds every valid record at least once (exactly the expected multiset)
    expected: Counter[str] = Counter()
    for i in range(plan.invocations):
        for page in range(plan.start_page(i), plan.start_page(i) + plan.pages_per_invocation):
            for idx in range(plan.page_size):
                clean = validate_record(generate_user(plan.seed, page, idx, options))
                if isinstance(clean, dict):
                    expected[clean["login"]["uuid"]] += 1
    files = list((tmp_path / f"s3/udp-lake/raw/user_data/p_date={DAY}").glob("*.parquet"))
    logins = pq.read_table(files, columns=["login"]).column("login").combine_chunks()
    landed = Counter(logins.field("uuid").to_pylist())
    assert set(landed) == set(expected)
    assert all(landed[u] >= n for u, n in expected.items())
    assert sum(expected.values()) > len(expected)  # the day really held duplicates
    # AND after the nightly run each user is in the transform layer exactly once
    with stack:
        run = stack.run_pipeline(DAY)
        assert run.status == "SUCCEEDED", run.cause
        total, distinct = stack.athena().query(
            f"select count(*), count(distinct user_id) from users where p_date = '{DAY}'"
        ).rows[0]
    assert total == distinct == len(expected)
