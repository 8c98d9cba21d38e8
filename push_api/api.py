"""The push API: ``POST /users`` and ``GET /users/{user_id}`` behind API Gateway (REST).

``create_app(ports)`` builds the Powertools resolver over injected ports, so the same
routes run in Lambda (``handler``, ports from the environment) and behind the local
gateway of the local twins (ports pointed at moto by ``endpoint_url``).

Answers (JSON):
- 200 ``{"batch_id", "received", "accepted", "rejected": [...], "undelivered": [],
  "secrets_dropped"}``: every valid record is on the stream; ``rejected`` lists each
  refused record's index and reason (fix and resend those).
- 422: no record was valid; nothing reached the stream.
- 503: ``undelivered`` lists indices Kinesis still refused after the retries; the
  accepted ones are on the stream, resend only the undelivered ones.
- 400 / 413: the request itself is unusable (``{"error", "detail"}``); nothing reached
  the stream.
- GET: 200 with the ``users`` row, 404 unknown id, 400 malformed id.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from contracts.erasure_store import RegisterCache, RegisterSource, S3RegisterStore
from ingest_lambda.core import ErrorSink, S3ErrorSink
from push_api.model import valid_user_id
from push_api.records import PushRejected, parse_body, split_push
from push_api.store import DynamoUserStore, UserStore
from push_api.stream import KinesisSender

__all__ = ["PushPorts", "create_app", "handler", "ports_from_env"]

logger = Logger(service="udp-push-api")


@dataclass
class PushPorts:
    sender: KinesisSender
    users: UserStore
    errors: ErrorSink
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    erasures: RegisterSource | None = None
    """The erasure register: a pushed record of an erased user is refused (``erased``)."""


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=orjson.dumps(body).decode("utf-8"))


def _body_bytes(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def push_users(ports: PushPorts, body: bytes, request_id: str) -> tuple[int, dict[str, Any]]:
    """The POST use case: parse, validate, quarantine, put; (status, answer)."""
    try:
        records = parse_body(body)
    except PushRejected as exc:
        return exc.status, exc.as_dict()
    received_at = ports.clock()
    erasures = ports.erasures.load() if ports.erasures is not None else None
    batch = split_push(records, request_id, received_at, erasures)
    if batch.quarantine:
        ports.errors.write(received_at.date().isoformat(), request_id, batch.quarantine)
    answer: dict[str, Any] = {"batch_id": request_id, "received": len(records), "accepted": 0,
                              "rejected": batch.rejected, "undelivered": [],
                              "secrets_dropped": batch.secrets_dropped}
    if not batch.entries:
        return 422, answer
    outcome = ports.sender.put([(e.user_id, e.data) for e in batch.entries])
    answer["accepted"] = len(outcome.sequence_numbers)
    answer["undelivered"] = [{"index": batch.entries[i].index, "code": "delivery_failed",
                              "detail": reason} for i, reason in sorted(outcome.failed.items())]
    logger.info("push", extra={"received": len(records), "accepted": answer["accepted"],
                               "rejected": len(batch.rejected),
                               "undelivered": len(outcome.failed), "retried": outcome.retried})
    return (503 if outcome.failed else 200), answer


def get_user(ports: PushPorts, user_id: str) -> tuple[int, dict[str, Any]]:
    if not valid_user_id(user_id):
        return 400, {"error": "malformed_id",
                     "detail": "a user id is 1..36 printable characters without spaces"}
    row = ports.users.lookup(user_id)
    if row is None:
        return 404, {"error": "not_found", "detail": f"no user {user_id}"}
    return 200, row


def create_app(ports: PushPorts) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.post("/users")
    def _post() -> Response:
        event = app.current_event
        status, answer = push_users(ports, _body_bytes(event.raw_event),
                                    event.request_context.request_id or "local")
        return _json(status, answer)

    @app.get("/users/<user_id>")
    def _get(user_id: str) -> Response:
        # API Gateway hands the path parameter URL-decoded; the routed text may not be
        decoded = (app.current_event.path_parameters or {}).get("user_id", user_id)
        status, answer = get_user(ports, decoded)
        return _json(status, answer)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return _json(404, {"error": "no_route", "detail": "POST /users or GET /users/{id}"})

    return app


def ports_from_env(env: Mapping[str, str], *, endpoint_url: str | None = None,
                   session: Any = None) -> PushPorts:
    """Ports from ``STREAM_NAME``, ``USERS_TABLE``, ``ERRORS_BUCKET`` and
    ``ERASURE_REGISTER`` (the Lambda's environment; the register is read again at most
    once a minute by a warm function); ``endpoint_url`` points Kinesis and DynamoDB at an
    emulator."""
    import boto3

    s = session or boto3.session.Session()
    return PushPorts(
        sender=KinesisSender(s.client("kinesis", endpoint_url=endpoint_url), env["STREAM_NAME"]),
        users=DynamoUserStore(s.client("dynamodb", endpoint_url=endpoint_url),
                              env["USERS_TABLE"]),
        errors=S3ErrorSink(s.client("s3"), env["ERRORS_BUCKET"], prefix="push"),
        erasures=(RegisterCache(S3RegisterStore.at(s.client("s3"), env["ERASURE_REGISTER"]),
                                ttl_s=60.0) if env.get("ERASURE_REGISTER") else None))


_APP: list[APIGatewayRestResolver] = []


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entrypoint (API Gateway REST proxy integration)."""
    if not _APP:
        _APP.append(create_app(ports_from_env(os.environ)))
    return _APP[0].resolve(event, context)
