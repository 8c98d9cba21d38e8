"""A partner's client for the push API: what ``udp push`` / ``udp get`` call.

Locally the gateway wants only ``x-api-key``. On AWS the methods use IAM auth as well:
pass ``sign_region`` and the request is SigV4-signed (service ``execute-api``) with the
caller's AWS credentials (botocore's default chain, e.g. an assumed PushClientRole).

``push_file`` reads a JSON array, one JSON object, a randomuser page or NDJSON (``-`` for
stdin), posts it in requests of at most 500 users, and resends only the records the API
answered as ``undelivered`` (503) after a backoff; rejected records are reported with
their position in the file, never resent (they would be refused again).
"""

from __future__ import annotations

import json
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

__all__ = ["PushClientError", "PushSummary", "get_user", "push_file", "push_records",
           "read_records"]

BATCH = 500


class PushClientError(ValueError):
    """The file or the answer is unusable (one line for the user)."""


@dataclass
class PushSummary:
    sent: int = 0
    accepted: int = 0
    requests: int = 0
    resent: int = 0
    secrets_dropped: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # index in file + reason
    undelivered: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # whole requests refused (4xx)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def read_records(text: str) -> list[Any]:
    """JSON (array, object, randomuser page) or NDJSON -> the list of records."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError:
        records = []
        for n, line in enumerate(stripped.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise PushClientError(f"line {n} is not JSON: {exc.msg}") from None
        return records
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        return list(doc["results"])
    return [doc]


def _signed_headers(method: str, url: str, body: bytes | None, headers: dict[str, str],
                    region: str) -> dict[str, str]:
    """SigV4 headers for API Gateway IAM auth (botocore's signer, default credentials)."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise PushClientError("no AWS credentials to sign the request with")
    request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def _request(method: str, url: str, api_key: str, body: bytes | None = None,
             timeout: float = 30.0, sign_region: str | None = None) -> tuple[int, Any]:
    headers = {"x-api-key": api_key, "Content-Type": "application/json"}
    if sign_region:
        headers = _signed_headers(method, url, body, headers, sign_region)
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except json.JSONDecodeError:
        return status, {"message": raw.decode("utf-8", "replace")}


def push_records(url: str, records: list[Any], api_key: str, *, max_resends: int = 5,
                 sleep: Callable[[float], None] = time.sleep,
                 sign_region: str | None = None) -> PushSummary:
    summary = PushSummary()
    for start in range(0, len(records), BATCH):
        positions = list(range(start, min(start + BATCH, len(records))))
        for attempt in range(max_resends + 1):
            body = json.dumps([records[i] for i in positions]).encode("utf-8")
            status, answer = _request("POST", f"{url.rstrip('/')}/users", api_key, body,
                                      sign_region=sign_region)
            summary.requests += 1
            summary.sent += len(positions) if attempt == 0 else 0
            if status == 429 or (status >= 500 and not isinstance(answer, dict)):
                sleep(random.uniform(0, 0.1 * 2 ** attempt))
                continue
            if status not in (200, 422, 503) or not isinstance(answer, dict) \
                    or "accepted" not in answer:
                detail = answer.get("detail") or answer.get("message") \
                    if isinstance(answer, dict) else answer
                summary.errors.append(f"records {positions[0]}..{positions[-1]}: "
                                      f"HTTP {status}: {detail}")
                break
            summary.accepted += answer["accepted"]
            summary.secrets_dropped += answer.get("secrets_dropped", 0)
            summary.rejected += [{**r, "index": positions[r["index"]]}
                                 for r in answer["rejected"]]
            retry = [positions[u["index"]] for u in answer.get("undelivered", [])]
            if not retry:
                break
            if attempt == max_resends:
                summary.undelivered += [{**u, "index": positions[u["index"]]}
                                        for u in answer["undelivered"]]
                break
            summary.resent += len(retry)
            positions = retry
            sleep(random.uniform(0, 0.1 * 2 ** attempt))
    return summary


def push_file(url: str, path_or_stdin: str | Path | IO[str], api_key: str, *,
              sign_region: str | None = None) -> PushSummary:
    """Push a file (``-`` or a text stream for stdin) to ``POST {url}/users``."""
    if isinstance(path_or_stdin, str | Path):
        if str(path_or_stdin) == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(path_or_stdin).read_text(encoding="utf-8")
            except OSError as exc:
                raise PushClientError(f"cannot read {path_or_stdin}: {exc.strerror}") from None
    else:
        text = path_or_stdin.read()
    records = read_records(text)
    if not records:
        raise PushClientError("the file holds no record")
    return push_records(url, records, api_key, sign_region=sign_region)


def get_user(url: str, user_id: str, api_key: str, *, sign_region: str | None = None
             ) -> tuple[int, dict[str, Any]]:
    """``GET {url}/users/{user_id}`` -> (HTTP status, JSON answer)."""
    status, answer = _request("GET", f"{url.rstrip('/')}/users/{quote(user_id, safe='')}",
                              api_key, sign_region=sign_region)
    return status, answer if isinstance(answer, dict) else {"answer": answer}
