"""Shared fixtures: one SparkSession for the whole session, temp state folders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
EVENTS = Path(__file__).resolve().parent / "events"


@pytest.fixture(scope="session")
def sample_page() -> dict[str, Any]:
    """One randomuser page (copied into tests/events so the suite is self-contained)."""
    return json.loads((EVENTS / "randomuser_page.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from local_aws.glue.spark_session import local_spark

    session = local_spark()
    yield session
    session.stop()
