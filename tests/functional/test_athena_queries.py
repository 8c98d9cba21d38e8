"""Every shipped analyst query (sql/athena/queries/*.sql) runs through LocalAthena.

A small transform lake is built by hand: Parquet files written with the USERS contract's
Arrow schema, one partition in a plain ``p_date=D/`` folder and one in a published
version folder, both registered in the Glue catalog twin. Days are relative to today
because the queries filter on recent partitions, as analysts' queries do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.tables import USER_LOCATIONS, USERS, TableContract
from local_aws.athena.engine import LocalAthena, QueryError
from local_aws.glue.catalog import LocalGlueCatalog
from local_aws.s3.objectstore import LocalObjectStore
from sql import read_sql

UTC = dt.UTC
TODAY = dt.datetime.now(UTC).date()
DAY1 = (TODAY - dt.timedelta(days=2)).isoformat()
DAY2 = (TODAY - dt.timedelta(days=1)).isoformat()
DB = "udp_transform"
QUERIES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "sql" / "athena"
                                  / "queries").glob("*.sql"))


def user(n: int, country: str | None, age: int | None, domain: str, day: str,
         gender: str = "female") -> dict[str, Any]:
    fetched = dt.datetime.fromisoformat(day).replace(hour=6, tzinfo=UTC)
    return {
        "user_id": f"00000000-0000-4000-8000-{n:012d}", "gender": gender, "title": "Ms",
        "nationality": "DE", "birth_year": 2000, "age": age,
        "registered_at": dt.datetime(2020, 1, 1, tzinfo=UTC), "email_domain": domain,
        "email_hash": f"{n:064x}", "phone_masked": "***", "city": "X", "state": None,
        "country": country, "postcode": "0042", "latitude": 1.0, "longitude": 2.0,
        "tz_offset_minutes": 60, "fetched_at": fetched + dt.timedelta(minutes=n),
        "batch_id": "b-1",
    }


def table_input(contract: TableContract, store_uri: str) -> dict[str, Any]:
    return {"Name": contract.name, "PartitionKeys": contract.partition_keys,
            "StorageDescriptor": {"Columns": contract.glue_columns(), "Location": store_uri}}


class Lake:
    """A transform lake under tmp_path, registered in a local Glue catalog."""

    def __init__(self, root: Path) -> None:
        self.store = LocalObjectStore(root / "s3")
        self.catalog = LocalGlueCatalog(root / "catalog")
        self.catalog.create_database(DatabaseInput={"Name": DB})
        for contract in (USERS, USER_LOCATIONS):
            self.catalog.create_table(DatabaseName=DB, TableInput=table_input(
                contract, f"s3://udp-lake/{contract.prefix}/"))

    def add_day(self, day: str, rows: list[dict[str, Any]], folder: str) -> None:
        uri = f"s3://udp-lake/transform/users/{folder}"
        path = Path(self.store.path(uri))
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=USERS.arrow_schema()),
                       path / "part-00000.parquet")
        self.catalog.create_partition(DatabaseName=DB, TableName="users", PartitionInput={
            "Values": [day], "StorageDescriptor": {"Columns": USERS.glue_columns(),
                                                   "Location": uri}})

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return LocalAthena(self.catalog, self.store, (DB,)).query(sql).rows


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path)
    lake.add_day(DAY1, [user(0, "Germany", 30, "gmail.com", DAY1),
                        user(1, "Germany", 17, "gmail.com", DAY1, gender="male"),
                        user(2, "France", 70, "web.de", DAY1),
                        user(3, None, None, "example.com", DAY1)], f"p_date={DAY1}/")
    # day 2 lives in a published version folder; users 2 and 3 are seen again
    lake.add_day(DAY2, [user(2, "France", 70, "web.de", DAY2),
                        user(3, None, None, "example.com", DAY2),
                        user(4, "Norway", 45, "gmail.com", DAY2),
                        user(5, "Germany", 30, "gmail.com", DAY2, gender="male")],
                 f"_versions/{DAY2}/run-7/p_date={DAY2}/")
    return lake


def test_every_shipped_query_is_covered_below() -> None:
    # GIVEN the shipped query files; THEN each has an assertion in this module
    assert QUERIES == ["daily_new_users_by_country.sql", "data_freshness.sql",
                       "top_email_domains.sql", "users_by_age_band.sql"]


def test_daily_new_users_by_country_counts_each_user_on_their_first_day(lake: Lake) -> None:
    rows = lake.query(read_sql("athena/queries/daily_new_users_by_country.sql"))
    assert rows == [(DAY1, "Germany", 2), (DAY1, "France", 1), (DAY1, "unknown", 1),
                    (DAY2, "Germany", 1), (DAY2, "Norway", 1)]


def test_users_by_age_band_reads_only_the_latest_day(lake: Lake) -> None:
    rows = lake.query(read_sql("athena/queries/users_by_age_band.sql"))
    assert rows == [("25-34", "male", 1), ("45-54", "female", 1), ("65+", "female", 1),
                    ("unknown", "female", 1)]


def test_data_freshness_reports_the_latest_day_and_its_lag(lake: Lake) -> None:
    ((table, latest, rows_in_day, last_fetched, hours, days_behind, days),) = lake.query(
        read_sql("athena/queries/data_freshness.sql"))
    assert (table, latest, rows_in_day, days_behind, days) == ("users", DAY2, 4, 1, 2)
    assert last_fetched == dt.datetime.fromisoformat(DAY2).replace(hour=6, minute=5)
    assert hours >= 18  # fetched at 06:05 yesterday


def test_top_email_domains_counts_distinct_users(lake: Lake) -> None:
    rows = lake.query(read_sql("athena/queries/top_email_domains.sql"))
    assert rows == [("gmail.com", 4), ("example.com", 1), ("web.de", 1)]


def test_partition_values_come_from_the_catalog_not_the_folder_name(lake: Lake) -> None:
    # GIVEN a partition whose folder says nothing about its day
    lake.add_day(TODAY.isoformat(), [user(9, "Chile", 20, "x.cl", TODAY.isoformat())],
                 "odd-folder/")
    # WHEN queried; THEN the row carries the partition's Values as p_date
    assert lake.query("select p_date from users where user_id like '%09'") == [
        (TODAY.isoformat(),)]


def test_table_without_partitions_is_empty_with_its_catalog_columns(lake: Lake) -> None:
    # GIVEN user_locations registered but never written; WHEN queried
    result = LocalAthena(lake.catalog, lake.store, (DB,)).query(
        "select * from udp_transform.user_locations")
    # THEN no rows, and the contract's columns plus p_date
    assert result.rows == []
    assert result.columns == [*USER_LOCATIONS.column_names, "p_date"]


def test_athena_functions_analysts_use_are_transpiled(lake: Lake) -> None:
    # GIVEN Trino functions with no DuckDB namesake; WHEN run; THEN Athena's answers
    rows = lake.query(
        "select approx_distinct(user_id), "
        "date_diff('day', date '2026-01-01', date '2026-01-31'), "
        "date_trunc('month', from_iso8601_timestamp('2026-11-21T10:00:00Z')) "
        "= from_iso8601_timestamp('2026-11-01T00:00:00Z') from users")
    assert rows == [(6, 30, True)]


def test_unknown_table_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(QueryError, match="registered"):
        lake.query("select * from udp_transform.nope")
