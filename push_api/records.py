"""The push request, free of AWS: body -> records -> (valid stream entries, rejections).

Every record goes through the pull path's own ``ingest_lambda.core.split_page`` (contract
validation, secret removal, the 1,000 KiB record cap, the quarantine entry with the
secrets scrubbed), one record at a time so each rejection keeps its index in the request.
Secrets in a pushed record are dropped, not refused, as the pull path drops them.

Limits (see docs/reference/push.md for the sources):
- API Gateway REST payloads are at most 10 MB; a Lambda invoked synchronously takes at
  most 6 MB of request, headers and JSON escaping included, so the handler refuses a
  body over ``MAX_BODY_BYTES`` (5 MiB) with 413 before parsing it.
- ``MAX_RECORDS`` (500) per request: one Kinesis ``PutRecords`` call at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from contracts.erasure import ERASED_REASON, ErasureRegister, user_id_in
from contracts.user_record import SECRET_PATHS
from ingest_lambda.core import split_page
from push_api.model import user_id_of, valid_user_id

__all__ = ["ERASED_DETAIL", "MAX_BODY_BYTES", "MAX_RECORDS", "PushBatch", "PushRejected",
           "StreamEntry", "erased_rejection", "parse_body", "split_push"]

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_RECORDS = 500
PUSH_SEED = "push"  # source_seed of pushed records (the pull path stores its API seed)


class PushRejected(ValueError):
    """The whole request is refused: nothing reaches the stream."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail}


def parse_body(body: bytes | str | None) -> list[Any]:
    """Request body -> the list of pushed records.

    Accepted shapes: one user object, a JSON array of users, or a randomuser page
    (``{"results": [...], "info": ...}``). Raises :class:`PushRejected` (413 / 400).
    """
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_BODY_BYTES:
        raise PushRejected(413, "body_too_large",
                           f"body is {len(raw)} bytes; at most {MAX_BODY_BYTES} per request")
    if not raw.strip():
        raise PushRejected(400, "empty_body", "send one user object or a JSON array of users")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PushRejected(400, "invalid_json", f"body is not JSON: {exc}") from None
    if isinstance(doc, dict) and "results" in doc:
        records = doc["results"]
        if not isinstance(records, list):
            raise PushRejected(400, "wrong_shape", "'results' must be a JSON array of users")
    elif isinstance(doc, dict):
        records = [doc]
    elif isinstance(doc, list):
        records = doc
    else:
        raise PushRejected(400, "wrong_shape",
                           f"expected a user object or an array of users, got {type(doc).__name__}")
    if not records:
        raise PushRejected(400, "empty_batch", "the array holds no user")
    if len(records) > MAX_RECORDS:
        raise PushRejected(400, "too_many_records",
                           f"{len(records)} records; at most {MAX_RECORDS} per request")
    return records


@dataclass(frozen=True)
class StreamEntry:
    """One valid record as it goes to Kinesis: partition key = user id."""

    index: int  # position in the request
    user_id: str
    data: bytes  # newline-terminated JSON, the raw contract (secrets gone)


@dataclass
class PushBatch:
    entries: list[StreamEntry] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # index + reason
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # error-sink entries
    secrets_dropped: int = 0


def _has_secret(raw: Any) -> bool:
    for path in SECRET_PATHS:
        obj = raw
        for key in path:
            obj = obj.get(key) if isinstance(obj, dict) else None
        if obj is not None:
            return True
    return False


ERASED_DETAIL = ("this user was erased on request; records of an erased user are not "
                 "accepted (ask the data owner, do not resend)")


def erased_rejection(index: int) -> dict[str, Any]:
    """The ``rejected`` item of a record whose user is in the erasure register."""
    return {"index": index, "code": ERASED_REASON, "path": "login.uuid",
            "detail": ERASED_DETAIL}


def split_push(records: list[Any], batch_id: str, received_at: datetime,
               erasures: ErasureRegister | None = None) -> PushBatch:
    """Validate each record with the pull path's rules; stamp the ingest metadata.

    ``fetched_at`` is when the gateway received the request (the pull path stamps when
    it fetched the page), ``batch_id`` the API Gateway request id. A record of a user in
    ``erasures`` is refused first (reason ``erased``) and quarantined nowhere: the
    error prefix must not keep an erased user's data either.
    """
    meta = {"batch_id": batch_id, "fetched_at": received_at, "source_page": None,
            "source_seed": PUSH_SEED}
    out = PushBatch()
    hashes = erasures.hashes if erasures is not None else frozenset()
    for index, raw in enumerate(records):
        uid = user_id_in(raw) if hashes else None
        if uid is not None and erasures is not None and erasures.hash_of(uid) in hashes:
            out.rejected.append(erased_rejection(index))
            continue
        good, bad = split_page({"results": [raw]}, meta)
        if good:
            user_id = user_id_of(raw)
            if valid_user_id(user_id):
                out.entries.append(StreamEntry(index, user_id, good[0]))
                out.secrets_dropped += _has_secret(raw)
                continue
            reason = {"code": "bad_user_id", "path": "login.uuid",
                      "detail": f"login.uuid must be 1..36 printable characters without "
                                f"spaces (the users.user_id column), got {user_id[:40]!r}"}
            bad = [{**orjson.loads(orjson.dumps(meta)), "reason": reason,
                    "record": orjson.loads(good[0])}]
        for entry in bad:
            out.rejected.append({"index": index, **entry["reason"]})
            out.quarantine.append({**entry, "index": index})
    return out
