"""bench/transform.py's pieces on a small day: its generated days pass the job's DQ gate,
and its DuckDB rendering of the model keeps the users the Spark job keeps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.transform import DAY, build_lake, duckdb_seconds, generate_raw, job_seconds
from contracts.tables import USERS
from contracts.user_record import raw_arrow_schema
from glue_jobs.publish import current_location
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
    _, duck_rows = duckdb_seconds(day_file, tmp_path / "duckdb_out", threads=1)
    assert duck_rows == 1_200
