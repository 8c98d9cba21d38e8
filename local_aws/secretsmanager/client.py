"""Secrets Manager twin: ``get_secret_value`` over an in-memory map of secret ids.

An unknown id raises ``ResourceNotFoundException`` as AWS does, so a job wired to the
wrong secret fails locally too instead of falling back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["LocalSecretsManager"]


class LocalSecretsManager:
    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = dict(secrets)

    def get_secret_value(self, *, SecretId: str, **_: Any) -> dict[str, Any]:
        if SecretId not in self._secrets:
            raise ClientError({"Error": {
                "Code": "ResourceNotFoundException",
                "Message": "Secrets Manager can't find the specified secret."}},
                "GetSecretValue")
        return {"Name": SecretId, "SecretString": self._secrets[SecretId]}
