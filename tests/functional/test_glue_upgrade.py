"""A stack upgraded from Glue 5.0 to 6.0 reads what 5.0 wrote and rebuilds it the same.

``tests/fixtures/spark35_day/`` holds one day as the Glue 5.0 code wrote it on Spark 3.5.4
(its README says how it was made). Spark 4.1.1, the current code and ANSI mode must read
those files, reproduce the same rows from the same raw partition, and take the 5.0 day's
``dq_results`` as trailing history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality

from contracts.pipeline import PipelineConfig
from contracts.tables import DAILY_USER_COUNTS, RAW, USER_LOCATIONS, USERS
from glue_jobs.data_quality import published_row_counts
from glue_jobs.transforms import (
    dedupe_latest_by_user,
    to_daily_user_counts,
    to_user_locations,
    to_users,
)

DAY = Path(__file__).resolve().parents[1] / "fixtures" / "spark35_day"


def _read(spark: Any, name: str, schema: Any) -> Any:
    return spark.read.schema(schema).parquet(str(DAY / f"{name}.parquet"))


def test_the_fixture_was_written_by_spark_3_5() -> None:
    # GIVEN the fixture files, THEN the transform outputs were written by Spark 3.5's
    # Parquet writer (parquet-mr 1.13; Spark 4.1 writes with parquet-java 1.15+)
    for name in ("users", "user_locations", "daily_user_counts", "dq_results"):
        created_by = pq.ParquetFile(DAY / f"{name}.parquet").metadata.created_by
        assert "parquet-mr version 1.13" in created_by, (name, created_by)


@pytest.fixture(scope="module")
def raw_df(spark: Any) -> Any:
    return _read(spark, "raw", RAW.spark_schema()).transform(dedupe_latest_by_user).cache()


def test_users_written_by_glue_5_equal_the_current_transform_of_the_same_raw_day(
        spark: Any, raw_df: Any) -> None:
    # GIVEN the 5.0 job's users and the raw partition it read
    old = _read(spark, "users", USERS.spark_schema())
    # WHEN the current code models the same raw rows on Spark 4.1 with ANSI on
    new = raw_df.transform(to_users(PipelineConfig().email_hash_salt))
    # THEN the same rows, value for value
    assert old.count() == 148
    assert_df_equality(new, old, ignore_row_order=True, ignore_nullable=True)


def test_locations_and_daily_counts_written_by_glue_5_equal_the_current_ones(
        spark: Any, raw_df: Any) -> None:
    old_locations = _read(spark, "user_locations", USER_LOCATIONS.spark_schema())
    assert_df_equality(raw_df.transform(to_user_locations), old_locations,
                       ignore_row_order=True, ignore_nullable=True)
    users = raw_df.transform(to_users(PipelineConfig().email_hash_salt))
    old_counts = _read(spark, "daily_user_counts", DAILY_USER_COUNTS.spark_schema())
    assert_df_equality(to_daily_user_counts(users), old_counts,
                       ignore_row_order=True, ignore_nullable=True)


def test_the_glue_5_days_dq_results_serve_as_trailing_history(spark: Any) -> None:
    # GIVEN dq_results as the 5.0 job partitioned it (p_date from the folder)
    history = (spark.read.parquet(str(DAY / "dq_results.parquet"))
               .selectExpr("*", "'2026-11-01' as p_date"))
    # WHEN the current job reads the trailing window's published counts
    counts = published_row_counts(history, "users")
    # THEN the 5.0 day counts with its published row count
    assert counts == {"2026-11-01": 148}
