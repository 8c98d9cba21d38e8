"""HTTP client for the user-data API: timeouts, bounded retries with backoff and jitter."""

from __future__ import annotations

import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["ApiClient", "ApiError", "BudgetExhausted", "RetryPolicy"]

log = logging.getLogger(__name__)

_RETRYABLE = {429, 500, 502, 503, 504}


class ApiError(Exception):
    """The API could not be read within the retry budget."""


class BudgetExhausted(ApiError):
    """Waiting for another attempt would overrun the invocation's time budget."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Full-jitter exponential backoff; a server's Retry-After is a floor."""
        backoff = rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** attempt))
        return max(backoff, min(retry_after or 0.0, self.max_delay_s))


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        time_left_s: Callable[[], float] | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = max(connect_timeout_s, read_timeout_s)
        self.retry = retry
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.time_left_s = time_left_s or (lambda: float("inf"))
        self.connect_timeout_s = connect_timeout_s
        self.requests = 0

    def page_url(self, page: int, results: int, seed: str) -> str:
        query = urllib.parse.urlencode({"results": results, "page": page, "seed": seed})
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}{query}"

    def fetch_page(self, page: int, results: int, seed: str) -> Any:
        """GET one page and decode its JSON; retries 429/5xx/timeouts, raises ApiError."""
        url = self.page_url(page, results, seed)
        last = ""
        for attempt in range(self.retry.max_attempts):
            self.requests += 1
            retry_after: float | None = None
            timeout = min(self.timeout, self.time_left_s())
            if timeout < self.connect_timeout_s:
                raise BudgetExhausted(f"no time left for GET {url} ({timeout:.1f} s)")
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    return orjson.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRYABLE:
                    raise ApiError(f"GET {url} -> HTTP {exc.code} (not retryable)") from None
                retry_after, last = _retry_after(exc.headers), f"HTTP {exc.code}"
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(f"GET {url} returned a body that is not JSON: {exc}") from None
            if attempt + 1 < self.retry.max_attempts:
                delay = self.retry.delay(attempt, retry_after, self.rng)
                if delay + self.connect_timeout_s > self.time_left_s():
                    raise BudgetExhausted(f"GET {url}: {last}; no time left to retry")
                log.warning("api retry", extra={"url": url, "cause": last, "delay_s": delay})
                self.sleep(delay)
        raise ApiError(f"GET {url} failed after {self.retry.max_attempts} attempts: {last}")
