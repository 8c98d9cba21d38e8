"""The erasure job's code: remove users from every layer, one affected day at a time.

The same functions run in ``udp erase`` (local twins) and in the erasure Glue job; every
AWS call goes through an injected boto3-shaped client.
"""

from __future__ import annotations

from typing import Any

from contracts.erasure import REGISTER_KEY, ErasureRegister

__all__ = ["S3RegisterWriter"]


class S3RegisterWriter:
    """Writes the erasure register (``contracts.erasure_store`` only reads it)."""

    def __init__(self, s3: Any, bucket: str, key: str = REGISTER_KEY) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key

    def save(self, register: ErasureRegister) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key,
                           Body=register.to_json().encode("utf-8"),
                           ContentType="application/json")
