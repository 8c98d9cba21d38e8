"""API client against the API twin: retries, Retry-After, budget, non-retryable errors."""

from __future__ import annotations

import random

import pytest

from ingest_lambda.api_client import ApiClient, ApiError, BudgetExhausted, RetryPolicy
from local_aws.user_api.server import ApiOptions, generate_page, serve_user_api


def test_retries_5xx_and_429_honouring_retry_after() -> None:
    # GIVEN an API answering 45% of requests with 429 (Retry-After 0.3 s) or 503
    delays: list[float] = []
    with serve_user_api(ApiOptions(error_rate=0.2, throttle_rate=0.25, retry_after_s=0.3,
                                   fault_seed=3)) as url:
        client = ApiClient(url, retry=RetryPolicy(max_attempts=12, base_delay_s=0.001),
                           sleep=delays.append, rng=random.Random(1))
        # WHEN 20 pages are fetched
        pages = [client.fetch_page(p, 5, "seed") for p in range(1, 21)]
    # THEN every page arrives intact and identical to what the generator makes
    assert pages == [generate_page("seed", p, 5) for p in range(1, 21)]
    assert client.requests > 20 and len(delays) == client.requests - 20
    # AND a 429's Retry-After is a floor on the wait
    assert any(d >= 0.3 for d in delays)


def test_gives_up_after_bounded_attempts_with_a_clear_error() -> None:
    with serve_user_api(ApiOptions(error_rate=1.0)) as url:
        client = ApiClient(url, retry=RetryPolicy(max_attempts=3), sleep=lambda _: None)
        with pytest.raises(ApiError, match="failed after 3 attempts: HTTP 503"):
            client.fetch_page(1, 5, "s")
    assert client.requests == 3


def test_client_errors_are_not_retried() -> None:
    with serve_user_api() as url:
        client = ApiClient(url, sleep=lambda _: None)
        with pytest.raises(ApiError, match="HTTP 400 \\(not retryable\\)"):
            client.fetch_page(1, 999_999, "s")
    assert client.requests == 1


def test_stops_before_the_lambda_runs_out_of_time() -> None:
    # GIVEN 4 seconds left and a server that is always throttling with Retry-After 5 s
    with serve_user_api(ApiOptions(throttle_rate=1.0, retry_after_s=5)) as url:
        client = ApiClient(url, sleep=lambda _: None, time_left_s=lambda: 4.0,
                           connect_timeout_s=1.0)
        # THEN it does not wait past the budget
        with pytest.raises(BudgetExhausted, match="no time left"):
            client.fetch_page(1, 5, "s")
    assert client.requests == 1
