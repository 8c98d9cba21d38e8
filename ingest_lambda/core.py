"""The ingest use case, free of AWS: fetch pages -> validate -> scrub -> deliver / quarantine."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from contracts.erasure import ErasureRegister, drop_erased
from contracts.erasure_store import RegisterSource
from contracts.user_record import (
    Rejection,
    check_api_version,
    scrub_secrets,
    to_json_ready,
    validate_record,
)
from ingest_lambda.api_client import ApiError, BudgetExhausted
from ingest_lambda.delivery import MAX_RECORD_BYTES, FirehoseSender

__all__ = ["ErrorSink", "IngestPorts", "IngestRequest", "IngestSummary", "S3ErrorSink",
           "cyclic_gc_paused", "run_ingest", "split_page", "without_erased"]

log = logging.getLogger(__name__)

_NDJSON = orjson.OPT_APPEND_NEWLINE  # one record per line, without a copy to add "\\n"


class PageSource(Protocol):
    def fetch_page(self, page: int, results: int, seed: str) -> Any: ...


class S3Client(Protocol):
    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> Any: ...


@dataclass(frozen=True)
class IngestRequest:
    seed: str
    start_page: int = 1
    pages: int = 1
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.start_page < 1 or self.pages < 1 or not 1 <= self.page_size <= 5000:
            raise ValueError("start_page and pages must be >= 1 and page_size 1..5000")


@dataclass
class IngestSummary:
    batch_id: str
    pages_fetched: int = 0
    records_seen: int = 0
    records_valid: int = 0
    records_rejected: int = 0
    records_sent: int = 0
    records_undeliverable: int = 0
    pages_failed: int = 0
    stopped_early: bool = False
    records_erased: int = 0
    """Records of users in the erasure register: dropped before validation, neither
    delivered nor quarantined (the error prefix must not keep them either)."""
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ErrorSink(Protocol):
    def write(self, p_date: str, batch_id: str, entries: list[dict[str, Any]]) -> None: ...


class S3ErrorSink:
    """Error output as JSON lines under ``s3://<bucket>/ingest/p_date=D/<batch>.jsonl``."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str = "ingest") -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def write(self, p_date: str, batch_id: str, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        body = "".join(json.dumps(e, ensure_ascii=False, default=str) + "\n" for e in entries)
        key = f"{self.prefix}/p_date={p_date}/{batch_id}.jsonl"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode("utf-8"))


@dataclass
class IngestPorts:
    api: PageSource
    sender: FirehoseSender
    errors: ErrorSink
    clock: Callable[[], datetime]
    time_left_s: Callable[[], float] = lambda: float("inf")
    reserve_s: float = 15.0  # kept back to deliver, write errors and return
    erasures: RegisterSource | None = None
    """The erasure register (``contracts.erasure_store``), read once per invocation;
    None only where no register can exist (unit tests of the path itself)."""


def _error(meta: dict[str, Any], rejection: Rejection, raw: Any) -> dict[str, Any]:
    return {**meta, "reason": rejection.as_dict(), "record": scrub_secrets(raw)}


def split_page(page_obj: Any, meta: dict[str, Any]) -> tuple[list[bytes], list[dict[str, Any]]]:
    """One API page -> (newline-delimited JSON records to deliver, error entries).

    ``meta`` is the ingestion metadata stamped on every record (batch id, fetch time,
    page, seed). Secrets are gone before anything is serialised.
    """
    results = page_obj.get("results") if isinstance(page_obj, dict) else None
    if not isinstance(results, list):
        rej = Rejection("page_malformed", "results", "page has no 'results' list")
        raw = {k: v for k, v in page_obj.items() if k != "results"} \
            if isinstance(page_obj, dict) else None
        return [], [_error(meta, rej, raw)]
    wrong_version = check_api_version(page_obj)
    if wrong_version is not None:  # another shape: one reason, not one per field
        return [], [_error(meta, wrong_version, page_obj)]
    good: list[bytes] = []
    bad: list[dict[str, Any]] = []
    meta_json = to_json_ready(meta)
    for raw in results:
        clean = validate_record(raw, json_ready=True)
        if isinstance(clean, Rejection):
            bad.append(_error(meta, clean, raw))
            continue
        clean.update(meta_json)
        line = orjson.dumps(clean, option=_NDJSON)  # UTF-8; ints are int32 after validation
        if len(line) > MAX_RECORD_BYTES:
            rej = Rejection("record_too_large", "$", f"{len(line)} bytes > {MAX_RECORD_BYTES}")
            bad.append(_error(meta, rej, raw))
            continue
        good.append(line)
    return good, bad


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector for one page's work, restoring it afterwards.

    A decoded page is a tree of tens of thousands of fresh dicts and validation makes as
    many again; every allocation burst sets off collections that walk all of them and
    can find nothing, because JSON trees hold no reference cycles. Those walks were
    about a fifth of the path's CPU (bench/ingest.py). Reference counting still frees
    every page as soon as it is done; the collector runs again between pages, so memory
    stays flat in pages.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _fetch_failed(exc: ApiError, meta: dict[str, Any], summary: IngestSummary,
                  errors: list[dict[str, Any]]) -> None:
    summary.pages_failed += 1
    code = "budget_exhausted" if isinstance(exc, BudgetExhausted) else "api_unavailable"
    summary.reasons[code] = summary.reasons.get(code, 0) + 1
    errors.append(to_json_ready(_error(meta, Rejection(code, "$", str(exc)), None)))
    log.error("page not fetched", extra={"page": meta["source_page"], "cause": str(exc)})
    if isinstance(exc, BudgetExhausted):
        summary.stopped_early = True


def without_erased(page_obj: Any, register: ErasureRegister | None) -> tuple[Any, int]:
    """The page without the records of erased users, and how many were dropped."""
    results = page_obj.get("results") if isinstance(page_obj, dict) else None
    if register is None or not register.entries or not isinstance(results, list):
        return page_obj, 0
    kept, dropped = drop_erased(results, register.hashes, register.salt)
    return ({**page_obj, "results": kept} if dropped else page_obj), dropped


def _deliver_page(page_obj: Any, meta: dict[str, Any], sender: FirehoseSender,
                  summary: IngestSummary, errors: list[dict[str, Any]],
                  register: ErasureRegister | None = None) -> None:
    """Validate, scrub and deliver one fetched page; its rejects are added to ``errors``;
    records of erased users are dropped first (counted, never kept)."""
    summary.pages_fetched += 1
    n_results = page_obj.get("results") if isinstance(page_obj, dict) else None
    summary.records_seen += len(n_results) if isinstance(n_results, list) else 0
    page_obj, erased = without_erased(page_obj, register)
    if erased:
        summary.records_erased += erased
        summary.reasons["erased"] = summary.reasons.get("erased", 0) + erased
    good, bad = split_page(page_obj, meta)
    summary.records_valid += len(good)
    report = sender.send(good)
    summary.records_sent += report.sent
    for record, reason in report.failed:
        bad.append({**to_json_ready(meta),
                    "reason": {"code": "delivery_failed", "path": "$", "detail": reason},
                    "record": json.loads(record)})
        summary.records_undeliverable += 1
    for entry in bad:
        code = entry["reason"]["code"]
        summary.reasons[code] = summary.reasons.get(code, 0) + 1
    summary.records_rejected += sum(1 for e in bad if e["reason"]["code"] != "delivery_failed")
    errors.extend(to_json_ready(e) for e in bad)
    log.info("page ingested", extra={"page": meta["source_page"], "valid": len(good),
                                     "rejected": len(bad)})


def run_ingest(request: IngestRequest, ports: IngestPorts, batch_id: str) -> IngestSummary:
    """One scheduled invocation: every page of the request, nothing kept afterwards."""
    summary = IngestSummary(batch_id=batch_id)
    errors: list[dict[str, Any]] = []
    p_date = ports.clock().date().isoformat()
    register = ports.erasures.load() if ports.erasures is not None else None
    for page in range(request.start_page, request.start_page + request.pages):
        if ports.time_left_s() < ports.reserve_s:
            summary.stopped_early = True
            log.warning("budget reached; stopping before page", extra={"page": page})
            break
        fetched_at = ports.clock()
        meta = {"batch_id": batch_id, "fetched_at": fetched_at, "source_page": page,
                "source_seed": request.seed}
        with cyclic_gc_paused():
            try:
                page_obj = ports.api.fetch_page(page, request.page_size, request.seed)
            except ApiError as exc:
                _fetch_failed(exc, meta, summary, errors)
                if summary.stopped_early:
                    break
                continue
            _deliver_page(page_obj, meta, ports.sender, summary, errors, register)
            del page_obj  # freed now, not after the next page has been fetched
    ports.errors.write(p_date, batch_id, errors)
    return summary
