"""The erasure register's port: one S3 object, read by every ingest path and the transform.

Why one S3 object and not a DynamoDB table: every reader needs the whole set at once
(the transform filters a day's raw rows against all of it, the pull Lambda a page of
records), it stays small (64 hex characters and two times per erased user: 10,000
erasures are under 1.5 MB), it changes only when an erasure is asked or finished, and
the lake bucket is already reachable by every role that reads it, so it costs one
``GetObject`` per Lambda invocation or job run and no new service. A table would
answer point lookups, which no reader makes.

The client is any boto3-shaped S3 client (boto3's, or the local S3 twin), injected. This
module only reads (``GetObject``): the ingest Lambdas and the transform import it, and
their roles may read the register, never write it. Writing is the erasure job's
(``glue_jobs.erasure.S3RegisterWriter``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from contracts.erasure import REGISTER_KEY, ErasureRegister

__all__ = ["RegisterCache", "RegisterSource", "S3RegisterStore", "register_uri"]


def register_uri(lake_uri: str) -> str:
    """``s3://udp-lake`` -> ``s3://udp-lake/_erasure/register.json``."""
    return f"{lake_uri.rstrip('/')}/{REGISTER_KEY}"



def read_body(body: Any) -> bytes:
    """All of an S3 ``GetObject`` answer's ``Body`` (boto3's StreamingBody or a twin's
    file-like), closed after."""
    try:
        return bytes(body.read())
    finally:
        close = getattr(body, "close", None)
        if close:
            close()

class RegisterSource(Protocol):
    def load(self) -> ErasureRegister: ...


class S3RegisterStore:
    """The register at ``s3://<bucket>/<key>``; absent means nobody is erased."""

    def __init__(self, s3: Any, bucket: str, key: str = REGISTER_KEY) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key

    @classmethod
    def at(cls, s3: Any, uri: str) -> S3RegisterStore:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return cls(s3, bucket, key or REGISTER_KEY)

    def exists(self) -> bool:
        return self._read() is not None

    def _read(self) -> bytes | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:  # botocore ClientError, without importing botocore here
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise
        return read_body(answer["Body"])

    def load(self) -> ErasureRegister:
        """The register (an empty one, with a fresh salt, when none is stored yet)."""
        text = self._read()
        return ErasureRegister.new() if text is None else ErasureRegister.from_json(text)


class RegisterCache:
    """A register read at most once per ``ttl_s`` seconds (a warm Lambda serving many
    requests); ``ttl_s=0`` reads it every time."""

    def __init__(self, source: RegisterSource, ttl_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.ttl_s, self.clock = source, ttl_s, clock
        self._value: ErasureRegister | None = None
        self._read_at = 0.0

    def load(self) -> ErasureRegister:
        now = self.clock()
        if self._value is None or now - self._read_at >= self.ttl_s:
            self._value, self._read_at = self.source.load(), now
        return self._value
