"""Spark 4.1 semantics the code relies on, pinned on the local session Glue 6.0 mirrors.

Spark 4 changed defaults that touch this pipeline (Spark's SQL migration guide, "Upgrading
from Spark SQL 3.5 to 4.0" and "4.0 to 4.1"): ANSI SQL mode on (invalid casts and
overflows raise), ``spark.sql.storeAssignmentPolicy`` ANSI, Parquet timestamps. Each test
here fails if the session or the transforms stop agreeing with them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.errors import ArithmeticException, NumberFormatException
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from contracts.tables import RAW, USERS
from glue_jobs.transforms import coordinate, to_users, tz_offset_minutes
from tests.functional.test_transforms import T0, raw_rows

HOSTILE = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_local_session_runs_with_glue_6_defaults(spark: Any) -> None:
    # GIVEN the project's local session
    conf = spark.conf
    # THEN it is Spark 4.1 with ANSI SQL on, as a Glue 6.0 job is
    assert spark.version.startswith("4.1.")
    assert conf.get("spark.sql.ansi.enabled") == "true"
    assert conf.get("spark.sql.session.timeZone") == "UTC"


def test_a_plain_cast_of_bad_text_raises_so_the_transforms_must_not_use_one(spark: Any) -> None:
    # GIVEN ANSI mode, WHEN 'n/a' is cast the Spark 3 way, THEN the job would fail
    df = spark.createDataFrame([("n/a",)], "v string")
    with pytest.raises(NumberFormatException, match="CAST_INVALID_INPUT"):
        df.select(F.col("v").cast("double")).collect()
    # and integer overflow raises instead of wrapping
    with pytest.raises(ArithmeticException, match="ARITHMETIC_OVERFLOW"):
        spark.range(1).select(F.lit(2**31 - 1).cast("int") + F.lit(1)).collect()


COORDINATES = [
    ("12.5", 12.5), (" -45.25\t", -45.25), ("90", 90.0), ("-90.0", -90.0),
    ("n/a", None), ("", None), ("   ", None), (None, None), ("1e999", None),
    ("-1e999", None), ("NaN", None), ("Infinity", None), ("90.0000001", None),
    ("12,5", None), ("١٢", None), ("1e2", None), ("-0", -0.0),
    # Spark parses numbers as Java does: a hexadecimal float is a number
    ("0x1p3", 8.0),
]


def test_coordinates_give_the_documented_nulls_under_ansi(spark: Any) -> None:
    # GIVEN hostile coordinate text, WHEN parsed as a latitude (limit 90)
    df = spark.createDataFrame(COORDINATES, "text string, want double")
    got = df.select(coordinate(F.col("text"), 90.0).alias("got"), "want")
    # THEN numbers in range come through and everything else is null, nothing raises
    rows = got.collect()
    assert [r.got for r in rows] == [r.want for r in rows]


OFFSETS = [
    ("+5:30", 330), ("-3:00", -180), ("0:00", 0), ("+12:45", 765), ("-11:00", -660),
    ("", None), ("n/a", None), ("+5:3", None), ("5", None), ("+123:00", None),
    ("+5:30:00", None), (":30", None), ("+-5:30", None), ("+٥:٣٠", None), (None, None),
    (" +1:00 ", 60), ("+99:99", 99 * 60 + 99),
]


def test_timezone_offsets_give_the_documented_nulls_under_ansi(spark: Any) -> None:
    df = spark.createDataFrame(OFFSETS, "offset string, want int")
    rows = df.select(tz_offset_minutes(F.col("offset")).alias("got"), "want").collect()
    assert [r.got for r in rows] == [r.want for r in rows]


@HOSTILE
@given(st.lists(st.one_of(st.none(), st.text(max_size=12),
                          st.from_regex(r"[+-]?[0-9]{1,3}:[0-9]{1,3}", fullmatch=True),
                          st.floats(allow_nan=True).map(str)), min_size=1, max_size=20))
def test_no_text_makes_the_parsers_raise(spark: Any, texts: list[str | None]) -> None:
    # GIVEN any text at all in the two parsed location fields
    df = spark.createDataFrame([(t,) for t in texts], "t string")
    out = df.select(coordinate(F.col("t"), 180.0).alias("c"),
                    tz_offset_minutes(F.col("t")).alias("m")).collect()
    # THEN each gives a bounded number or null, never an ANSI error
    for row in out:
        assert row.c is None or -180.0 <= row.c <= 180.0
        assert row.m is None or abs(row.m) <= 99 * 60 + 99


def test_a_hostile_record_models_to_nulls_not_a_failed_job(spark: Any,
                                                          sample_page: dict[str, Any]) -> None:
    # GIVEN a raw record whose location fields are all malformed, one huge postcode
    rows = raw_rows(sample_page, [(0, T0, "b1")])
    loc = rows[0]["location"]
    loc["coordinates"] = {"latitude": "n/a", "longitude": "1e999"}
    loc["timezone"] = {"offset": "+5:3", "description": ""}
    loc["postcode"] = "9" * 40
    df = spark.createDataFrame(rows, RAW.spark_schema())
    # WHEN modelled under ANSI
    out = df.transform(to_users("s")).collect()[0]
    # THEN the documented nulls, and the postcode kept as text (the DQ gate, not the
    # transform, refuses a value longer than the warehouse's varchar)
    assert (out.latitude, out.longitude, out.tz_offset_minutes) == (None, None, None)
    assert out.postcode == "9" * 40


def test_parquet_timestamps_are_written_as_utc_micros_and_read_back_equal(
        spark: Any, tmp_path: Path) -> None:
    # GIVEN a timestamp with microseconds (the raw layer's fetched_at)
    moment = datetime(2026, 12, 7, 3, 4, 5, 123456, tzinfo=UTC)
    df = spark.createDataFrame([(moment,)], "fetched_at timestamp")
    # WHEN written by Spark
    df.write.parquet(str(tmp_path / "t"))
    # THEN Parquet holds INT64 micros adjusted to UTC (what Athena, Redshift COPY and
    # DuckDB read), and Spark reads back the same instant
    file = next((tmp_path / "t").glob("*.parquet"))
    field = pq.read_schema(file).field("fetched_at")
    assert str(field.type) == "timestamp[us, tz=UTC]"
    back = spark.read.parquet(str(tmp_path / "t")).select(
        F.unix_micros("fetched_at").alias("us")).collect()[0].us
    assert back == round(moment.timestamp() * 1_000_000)


def test_conform_keeps_contract_types_on_the_users_model(spark: Any,
                                                        sample_page: dict[str, Any]) -> None:
    # GIVEN the sample page, WHEN modelled, THEN every column has the contract's type
    # (a Spark 4 default that changed a type would show here, not in the warehouse)
    df = spark.createDataFrame(raw_rows(sample_page, [(0, T0, "b1"), (1, T0, "b1")]),
                               RAW.spark_schema())
    out = df.transform(to_users("s"))
    want = StructType([StructField(f.name, f.dataType, True)
                       for f in USERS.spark_schema().fields])
    got = StructType([StructField(f.name, f.dataType, True) for f in out.schema.fields])
    assert got == want
    kinds = {f.name: f.dataType for f in out.schema.fields}
    assert isinstance(kinds["latitude"], DoubleType)
    assert isinstance(kinds["tz_offset_minutes"], IntegerType)
    assert isinstance(kinds["postcode"], StringType)


def test_the_job_sets_only_runtime_sql_settings_of_this_spark(spark: Any) -> None:
    # GIVEN the settings the transform job sets at its start, on Glue as locally
    from glue_jobs.transform_job import JOB_SQL_CONF

    # THEN each is a setting Spark 4.1 knows and lets a running session change (a
    # misspelt or static key would be stored silently and change nothing on Glue)
    assert spark.version.startswith("4.1.")
    assert {key: spark.conf.isModifiable(key) for key in JOB_SQL_CONF} == {
        key: True for key in JOB_SQL_CONF}
    assert not spark.conf.isModifiable("spark.sql.optimizer.windowGroupLimitThresholdd")
