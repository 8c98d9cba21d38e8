"""Secrets Manager lookups for Glue jobs, cached per process (one call per secret).

The email-hash salt is a secret: job arguments are visible in the Glue console and
CloudTrail, so production passes only the secret's id (``--salt_secret_id``).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

__all__ = ["SecretError", "clear_secret_cache", "get_secret_value", "guard_botocore_logs"]

_CACHE: dict[tuple[str, str | None], str] = {}
_LOCK = threading.Lock()


class _DropSecretBodies(logging.Filter):
    """Drops botocore's DEBUG "Response body" records that carry a ``SecretString``.

    botocore logs every response body at DEBUG (``botocore.parsers``), which would put
    a secret (the Redshift password, the hash salt) in a job's logs whenever someone turns DEBUG on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        return not any(b"SecretString" in a if isinstance(a, bytes | bytearray)
                       else "SecretString" in str(a) for a in args if a is not None)


_SECRET_FILTER = _DropSecretBodies()


def guard_botocore_logs() -> None:
    """Keep secret values out of botocore's DEBUG logs (idempotent)."""
    for name in ("botocore.parsers", "botocore.endpoint"):
        logger = logging.getLogger(name)
        if _SECRET_FILTER not in logger.filters:
            logger.addFilter(_SECRET_FILTER)


class SecretError(ValueError):
    """The secret is missing, empty or not of the expected shape (content never shown)."""


def clear_secret_cache() -> None:
    """Forget cached secrets (tests; rotation)."""
    with _LOCK:
        _CACHE.clear()


def get_secret_value(secret_id: str, client: Any, key: str | None = None) -> str:
    """The secret's ``SecretString`` (or field ``key`` of its JSON object), cached.

    ``client`` is a boto3 ``secretsmanager`` client (or any object with
    ``get_secret_value(SecretId=...)``).
    """
    if not secret_id:
        raise SecretError("no secret id given")
    with _LOCK:
        if (secret_id, key) in _CACHE:
            return _CACHE[(secret_id, key)]
    guard_botocore_logs()
    text = client.get_secret_value(SecretId=secret_id).get("SecretString")
    if not isinstance(text, str) or not text:
        raise SecretError(f"secret {secret_id} has no SecretString")
    value = text
    if key is not None:
        try:
            value = json.loads(text)[key]
        except (ValueError, KeyError, TypeError):
            raise SecretError(f"secret {secret_id} is not a JSON object with key {key!r}"
                              ) from None
        if not isinstance(value, str) or not value:
            raise SecretError(f"secret {secret_id}: key {key!r} is empty or not text")
    with _LOCK:
        _CACHE[(secret_id, key)] = value
    return value
