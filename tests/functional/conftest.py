"""Functional-tier fixtures: one embedded PostgreSQL server per session, one database per test."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.tables import USERS
from local_aws.redshift.warehouse import LocalWarehouse

UTC = dt.UTC


@pytest.fixture(scope="session")
def warehouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWarehouse]:
    """The embedded PostgreSQL server, started once for the session (data in a tmp dir)."""
    server = LocalWarehouse(tmp_path_factory.mktemp("warehouse"), database="udp").start()
    yield server
    server.stop()


@pytest.fixture
def warehouse(warehouse_server: LocalWarehouse) -> LocalWarehouse:
    """A fresh database on the session server (isolates tests from each other), bootstrapped
    as the deploy does (the load user, its schemas and grants; no tables yet)."""
    wh = LocalWarehouse(warehouse_server.data_dir,
                        database=f"t_{uuid.uuid4().hex[:12]}").start()
    wh.bootstrap()
    return wh


def user_rows(n: int, *, start: int = 0, fetched_at: dt.datetime | None = None,
              batch_id: str = "batch-1", **overrides: Any) -> list[dict[str, Any]]:
    """``n`` valid rows of the USERS contract; ``overrides`` replace a column's value."""
    fetched = fetched_at or dt.datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    rows = []
    for i in range(start, start + n):
        row: dict[str, Any] = {
            "user_id": f"00000000-0000-4000-8000-{i:012d}",
            "gender": "female" if i % 2 else "male",
            "title": "Ms" if i % 2 else "Mr",
            "nationality": ["DE", "FR", "NO", "BR"][i % 4],
            "birth_year": 1950 + i % 50,
            "age": 76 - i % 50,
            "registered_at": dt.datetime(2015, 1, 1, tzinfo=UTC) + dt.timedelta(days=i % 30,
                                                                                 microseconds=i),
            "email_domain": "example.com",
            "email_hash": f"{i:064x}",
            "phone_masked": "0***-***-**12",
            "city": ["Berlin", "Paris", "Oslo", "São Paulo"][i % 4],
            "state": None if i % 5 == 0 else "State",
            "country": ["Germany", "France", "Norway", "Brazil"][i % 4],
            "postcode": f"{i % 100000:05d}",
            "latitude": -45.123456789 + i / 1000,
            "longitude": 120.987654321 - i / 1000,
            "tz_offset_minutes": 60 * (i % 12),
            "fetched_at": fetched + dt.timedelta(microseconds=i),
            "batch_id": batch_id,
        }
        row.update(overrides)
        rows.append(row)
    return rows


def write_partition(lake: Path, p_date: str, *parts: list[dict[str, Any]]) -> Path:
    """Write each list of rows as one Parquet file under transform/users/p_date=D/."""
    folder = lake / "transform" / "users" / f"p_date={p_date}"
    folder.mkdir(parents=True, exist_ok=True)
    schema = USERS.arrow_schema()
    for i, rows in enumerate(parts):
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    return folder


@pytest.fixture
def make_users() -> Any:
    """Factory of USERS rows: ``make_users(n, start=0, fetched_at=…, batch_id=…, **cols)``."""
    return user_rows


@pytest.fixture
def write_users(tmp_path: Path) -> Any:
    """``write_users(p_date, rows, more_rows, …) -> partition folder`` under a tmp lake."""
    def write(p_date: str, *parts: list[dict[str, Any]]) -> Path:
        return write_partition(tmp_path / "lake", p_date, *parts)
    return write
