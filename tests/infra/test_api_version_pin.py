"""The deployed ingest function reads the user API at the version the raw contract pins."""

from __future__ import annotations

from typing import Any

from contracts.user_record import API_VERSION
from infra.config import EnvConfig
from tests.infra.cfn import logical_id


def test_the_ingest_function_calls_the_pinned_api_version(template: dict[str, Any]) -> None:
    fn = template["Resources"][logical_id(template, "IngestFunction", "AWS::Lambda::Function")]
    url = fn["Properties"]["Environment"]["Variables"]["API_URL"]
    assert url == "https://randomuser.me/api/1.4/"
    assert url.rstrip("/").endswith(f"/api/{API_VERSION}")


def test_the_default_configuration_is_pinned() -> None:
    assert EnvConfig.__dataclass_fields__["api_url"].default == "https://randomuser.me/api/1.4/"
