"""bench/transform.py's pieces on a small day: its generated days pass the job's DQ gate,
its DuckDB rendering of the model keeps the users the Spark job keeps, and its DuckDB
rendering of the DQ gate measures what the job's gate measures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from bench.transform import (
    DAY,
    LAKE,
    SALT,
    build_lake,
    duckdb_run,
    generate_raw,
    job_seconds,
    lake_cloud,
)
from contracts.tables import USERS
from contracts.user_record import raw_arrow_schema
from glue_jobs.data_quality import DQBreach, RuleResult
from glue_jobs.publish import current_location
from glue_jobs.transform_job import TransformSettings, run_transform
from local_aws.glue.catalog import LocalGlueCatalog
from local_aws.s3.objectstore import LocalObjectStore


def test_generated_day_has_the_raw_schema_and_its_re_fetches() -> None:
    # GIVEN a day of 1,200 users, 100 of them fetched twice
    table = generate_raw(1_200, 100, DAY)

    # THEN it is in the raw contract schema, one row per fetch, 1,200 distinct users
    assert table.schema.equals(raw_arrow_schema())
    assert table.num_rows == 1_300
    uuids = pc.struct_field(table.column("login"), ["uuid"])
    assert pc.count_distinct(uuids).as_py() == 1_200
    # AND nationality codes fit the users contract, as the API's do
    nationality = next(f for f in USERS.fields if f.name == "nationality")
    assert nationality.max_len is not None
    assert pc.max(pc.binary_length(table.column("nat"))).as_py() <= nationality.max_len


def test_generated_day_passes_the_dq_gate_and_duckdb_keeps_the_same_users(
        spark: Any, tmp_path: Path) -> None:
    # GIVEN a generated day and a lake holding it after one day of history
    day_file, tiny = tmp_path / "day.parquet", tmp_path / "tiny.parquet"
    pq.write_table(generate_raw(1_200, 100, DAY), day_file)
    pq.write_table(generate_raw(5, 0, DAY - timedelta(days=1), seed=1), tiny)
    build_lake(tmp_path / "lake", 1, day_file, tiny, 1_200)

    # WHEN the transform job runs on it (it raises when a DQ rule fails)
    job_seconds(spark, tmp_path / "lake")

    # THEN the day's users partition holds one row per user, as many as DuckDB makes
    catalog = LocalGlueCatalog(tmp_path / "lake" / "catalog")
    location = current_location(catalog, USERS, DAY.isoformat())
    assert location is not None
    store = LocalObjectStore(tmp_path / "lake" / "s3")
    assert spark.read.parquet(str(store.path(location))).count() == 1_200
    assert duckdb_run(day_file, tmp_path / "duckdb_out", threads=1).users == 1_200


def test_duckdb_measures_the_gate_as_the_job_does(spark: Any, tmp_path: Path) -> None:
    # GIVEN a generated day with a few ages out of range and nationalities too long
    day_file, tiny = tmp_path / "day.parquet", tmp_path / "tiny.parquet"
    table = generate_raw(600, 50, DAY)  # rows 600+ re-fetch the first 50 users
    dob, nat = table.column("dob").to_pylist(), table.column("nat").to_pylist()
    for row in dob[100:107]:
        row["age"] = 200
    nat[200:203] = ["ABC"] * 3
    for name, values in (("dob", dob), ("nat", nat)):
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pa.array(values, table.schema.field(name).type))
    pq.write_table(table, day_file)
    pq.write_table(generate_raw(5, 0, DAY - timedelta(days=1), seed=1), tiny)
    build_lake(tmp_path / "lake", 0, day_file, tiny, 600)

    # WHEN the job's gate and DuckDB's judge the day
    runtime = lake_cloud(tmp_path / "lake").glue_runtime(spark)
    with pytest.raises(DQBreach) as breach:
        run_transform(runtime, DAY.isoformat(), TransformSettings(LAKE, SALT))
    duck = duckdb_run(day_file, tmp_path / "duckdb_out", threads=1)

    # THEN every rule has the same verdict and the same observed number
    def seen(results: list[RuleResult]) -> list[tuple[str, str, bool, float | None]]:
        return [(r.table_name, r.rule, r.passed, r.observed) for r in results]
    assert seen(duck.verdicts) == seen(breach.value.results)
    assert [(r.rule, r.observed) for r in duck.verdicts if not r.passed] == [
        ("age in [0, 130]", 7), ("nationality fits varchar(2) bytes", 3)]
