"""Where the local Spark session keeps its temp folders (pure settings, no JVM)."""

from __future__ import annotations

from pathlib import Path

from local_aws.glue.spark_session import JAVA_OPTIONS, scratch_settings


def test_every_spark_temp_folder_lives_under_the_scratch_folder() -> None:
    # GIVEN a scratch folder under the state folder; WHEN the settings are built
    scratch = Path("/state/tmp/spark-42")
    settings = scratch_settings(scratch)
    # THEN the local dirs, the JVM's tmpdir and the SQL warehouse are all under it
    assert settings["spark.local.dir"] == "/state/tmp/spark-42/local"
    assert settings["spark.sql.warehouse.dir"] == "/state/tmp/spark-42/warehouse"
    java = settings["spark.driver.extraJavaOptions"].split(" ")
    assert "-Djava.io.tmpdir=/state/tmp/spark-42/java" in java
    # AND the tuned JVM options are kept, not replaced
    assert set(JAVA_OPTIONS) <= set(java)


def test_without_a_scratch_folder_only_the_sql_warehouse_moves() -> None:
    # GIVEN no scratch folder (tests, benches); THEN Spark's own defaults stay
    assert list(scratch_settings(None)) == ["spark.sql.warehouse.dir"]
