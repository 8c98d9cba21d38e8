"""AWS Lambda entrypoint (container image). Thin: read config, build AWS clients, run.

Environment: API_URL, DELIVERY_STREAM, ERRORS_BUCKET, PAGE_SIZE (default 100),
PAGES (default 1), SEED (default: the request id, a fresh seed per invocation),
RESERVE_SECONDS (time kept back to deliver and report, default 15), ERASURE_REGISTER
(``s3://`` URI of the erasure register: records of erased users are dropped). The event (the
EventBridge Scheduler input) may override seed / start_page / pages / page_size.
Nothing is kept between invocations: every buffer lives inside one call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from contracts.erasure_store import S3RegisterStore
from ingest_lambda import METRICS_NAMESPACE, SERVICE_NAME
from ingest_lambda.api_client import ApiClient
from ingest_lambda.core import IngestPorts, IngestRequest, IngestSummary, S3ErrorSink, run_ingest
from ingest_lambda.delivery import FirehoseSender

__all__ = ["handler", "publish_metrics", "request_from_event"]

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
copy_config_to_registered_loggers(source_logger=logger, include={"ingest_lambda"})


class ConfigError(ValueError):
    """The function's environment or event is unusable."""


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def request_from_event(event: Mapping[str, Any], env: Mapping[str, str], default_seed: str
                       ) -> IngestRequest:
    try:
        return IngestRequest(
            seed=str(event.get("seed") or env.get("SEED") or default_seed),
            start_page=_int(event.get("start_page", 1), "start_page"),
            pages=_int(event.get("pages") or env.get("PAGES", "1"), "pages"),
            page_size=_int(event.get("page_size") or env.get("PAGE_SIZE", "100"), "page_size"),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def publish_metrics(summary: IngestSummary) -> None:
    for name, value in (("RecordsFetched", summary.records_seen),
                        ("RecordsDelivered", summary.records_sent),
                        ("RecordsQuarantined", summary.records_rejected),
                        ("RecordsUndeliverable", summary.records_undeliverable),
                        ("PagesFailed", summary.pages_failed)):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import boto3  # imported here so local runs never need AWS credentials

    env = os.environ
    request = request_from_event(event or {}, env, default_seed=context.aws_request_id)
    ports = IngestPorts(
        api=ApiClient(env["API_URL"],
                      time_left_s=lambda: context.get_remaining_time_in_millis() / 1000),
        sender=FirehoseSender(boto3.client("firehose"), env["DELIVERY_STREAM"]),
        errors=S3ErrorSink(boto3.client("s3"), env["ERRORS_BUCKET"]),
        clock=lambda: datetime.now(UTC),
        time_left_s=lambda: context.get_remaining_time_in_millis() / 1000,
        reserve_s=float(env.get("RESERVE_SECONDS", "15")),
        erasures=(S3RegisterStore.at(boto3.client("s3"), env["ERASURE_REGISTER"])
                  if env.get("ERASURE_REGISTER") else None),
    )
    summary = run_ingest(request, ports, batch_id=context.aws_request_id)
    publish_metrics(summary)
    logger.info("ingest finished", extra=summary.as_dict())
    return summary.as_dict()
