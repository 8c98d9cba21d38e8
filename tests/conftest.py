"""Shared fixtures: one SparkSession for the whole session, temp state folders."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Glue jobs run in the test's own process (and its one Spark session) unless a test asks
# for the warm local Glue service itself (tests/functional/test_glue_service.py)
os.environ["UDP_GLUE_SERVICE"] = "off"

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
