"""AWS Lambda entrypoint (container image). Thin: read config, build AWS clients, run.

Environment: API_URL, DELIVERY_STREAM, ERRORS_BUCKET, PAGE_SIZE (default 100),
PAGES (default 1), SEED (default: a fresh seed per invocation). The event may
override seed / start_page / pages / page_size (EventBridge Scheduler input).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from ingest_lambda.api_client import ApiClient
from ingest_lambda.core import IngestPorts, IngestRequest, S3ErrorSink, run_ingest
from ingest_lambda.delivery import FirehoseSender

__all__ = ["handler", "request_from_event"]


def request_from_event(event: dict[str, Any], env: dict[str, str], default_seed: str
                       ) -> IngestRequest:
    return IngestRequest(
        seed=str(event.get("seed") or env.get("SEED") or default_seed),
        start_page=int(event.get("start_page", 1)),
        pages=int(event.get("pages") or env.get("PAGES", "1")),
        page_size=int(event.get("page_size") or env.get("PAGE_SIZE", "100")),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import boto3  # imported here so local runs never need AWS credentials

    env = dict(os.environ)
    request = request_from_event(event or {}, env, default_seed=context.aws_request_id)
    ports = IngestPorts(
        api=ApiClient(env["API_URL"]),
        sender=FirehoseSender(boto3.client("firehose"), env["DELIVERY_STREAM"]),
        errors=S3ErrorSink(boto3.client("s3"), env["ERRORS_BUCKET"]),
        clock=lambda: datetime.now(UTC),
    )
    return run_ingest(request, ports, batch_id=context.aws_request_id).as_dict()
