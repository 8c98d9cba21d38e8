"""The transform job for real on LocalRuntime: pruning, model, publish, DQ gate, crashes.

A module-level lake holds 30 days of raw history (tiny files); each test works on its
own copy. The Glue entrypoint runs here too, against a stand-in ``awsglue``.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import shutil
import sys
import types
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from contracts.pipeline import PipelineConfig
from contracts.tables import (
    DAILY_USER_COUNTS,
    DQ_RESULTS,
    MODEL_TABLES,
    RAW,
    USER_LOCATIONS,
    USERS,
)
from contracts.user_record import raw_arrow_schema, validate_record
from crawlers.specs import default_specs
from glue_jobs.catalog_api import list_partitions
from glue_jobs.data_quality import DQBreach
from glue_jobs.publish import current_location, manifest_uri, table_uri, versions_root
from glue_jobs.secrets import clear_secret_cache
from glue_jobs.transform_job import TransformSettings, run_transform
from glue_jobs.transforms import (
    age_band,
    coordinate,
    dedupe_latest_by_user,
    to_daily_user_counts,
    to_latest_model,
    to_model,
    to_user_locations,
)
from local_aws.athena.engine import LocalAthena
from local_aws.glue.catalog import LocalGlueCatalog
from local_aws.glue.crawl import crawl, ensure_databases
from local_aws.glue.spark_runtime import LocalRuntime
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore
from local_aws.user_api.server import generate_user

CFG = PipelineConfig()
LAKE = f"s3://{CFG.lake_bucket}"
FIRST = date(2026, 10, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(30)]
DAY = DAYS[-1].isoformat()
ENTRYPOINT = Path(__file__).resolve().parents[2] / "glue_jobs/entrypoints/transform_users.py"
# non-ASCII text, one with a combining diaeresis (NFD): it must come back byte for byte
ODD_CITIES = ["  São Paulo\u00a0", "Mo\u0308nchengladbach", "東京", "İstanbul\t"]


def raw_day(day: date, users: int = 12, dupes: int = 3) -> pa.Table:
    """``users`` distinct users fetched on ``day``, the first ``dupes`` fetched twice."""
    rows = []
    t0 = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
    for i in range(users + dupes):
        rec = validate_record(generate_user(f"seed-{day}", 1, i % users))
        assert isinstance(rec, dict)
        if i % users < len(ODD_CITIES):
            rec["location"]["city"] = ODD_CITIES[i % users]
        rows.append({**rec, "batch_id": f"b{i // users}", "source_page": 1,
                     "source_seed": "s",
                     "fetched_at": t0 + timedelta(hours=i // users, microseconds=7)})
    return pa.Table.from_pylist(rows, schema=raw_arrow_schema())


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 raw days, registered by the raw crawler."""
    root = tmp_path_factory.mktemp("lake30")
    store = LocalObjectStore(root / "s3")
    for day in DAYS:
        folder = store.path(CFG.partition_uri(RAW, day.isoformat()))
        folder.mkdir(parents=True)
        pq.write_table(raw_day(day), folder / "part-0.parquet")
    catalog = LocalGlueCatalog(root / "catalog")
    specs = default_specs(CFG)
    ensure_databases(catalog, specs)
    crawl(specs[0], catalog, store)
    return root


class Lake:
    def __init__(self, root: Path, spark: Any) -> None:
        self.root = root
        self.store = LocalObjectStore(root / "s3")
        self.catalog = LocalGlueCatalog(root / "catalog")
        self.runtime = LocalRuntime(spark, self.catalog, self.store)
        self.settings = TransformSettings(LAKE, "pepper")

    def run(self, p_date: str = DAY, **kw: Any) -> Any:
        self.runtime.paths_read.clear()
        return run_transform(self.runtime, p_date, self.settings, **kw)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return LocalAthena(self.catalog, self.store, (CFG.transform_database,)).query(sql).rows

    def location(self, contract: Any = USERS, p_date: str = DAY) -> Any:
        return current_location(self.catalog, contract, p_date)


@pytest.fixture()
def lake(history: Path, tmp_path: Path, spark: Any) -> Lake:
    shutil.copytree(history, tmp_path / "lake")
    return Lake(tmp_path / "lake", spark)


# ------------------------------------------------------------------ pure transforms


def test_coordinate_and_age_band(spark: Any) -> None:
    # GIVEN coordinate text and ages at and beyond every boundary
    df = spark.createDataFrame(
        [(" 51.5 ", 51.5, 17, "0-17"), ("-90", -90.0, 18, "18-24"), ("90.0001", None, 64, "55-64"),
         ("NaN", None, 65, "65+"), ("x", None, 131, "unknown"), (None, None, None, "unknown")],
        "lat string, want_lat double, age int, want_band string")
    # WHEN converted
    out = df.select(coordinate(F.col("lat"), 90.0).alias("got_lat"), "want_lat",
                    age_band(F.col("age")).alias("got_band"), "want_band")
    # THEN out-of-range or non-numeric coordinates are null and bands are inclusive
    assert_df_equality(out.select("got_lat"), out.select(F.col("want_lat").alias("got_lat")),
                       ignore_nullable=True)
    assert_df_equality(out.select("got_band"),
                       out.select(F.col("want_band").alias("got_band")), ignore_nullable=True)


def test_to_user_locations_is_map_ready(spark: Any) -> None:
    # GIVEN one raw user with a padded city, a leading-zero postcode, bad longitude
    rec = raw_day(DAYS[0], users=1, dupes=0).to_pylist()[0]
    rec["location"].update(city=" Évora ", postcode="01234",
                           coordinates={"latitude": "38.57", "longitude": "200"},
                           timezone={"offset": "-3:30", "description": " Newfoundland "})
    df = spark.createDataFrame([rec], RAW.spark_schema())
    # WHEN modelled
    out = df.transform(to_user_locations)
    # THEN the row is exactly the contract's, longitude nulled, offset in minutes
    expected = spark.createDataFrame(
        [(rec["login"]["uuid"], "Évora", rec["location"]["state"], rec["location"]["country"],
          "01234", 38.57, None, -210, "Newfoundland")], USER_LOCATIONS.spark_schema())
    assert_df_equality(out, expected, ignore_nullable=True)
    assert "street" not in str(out.schema)


def test_to_daily_user_counts_groups_by_country_gender_band(spark: Any) -> None:
    # GIVEN three users, two in the same (country, gender, band), one with no age
    rows = [("a", "Norway", "female", 30), ("b", "Norway", "female", 34),
            ("c", None, "male", None)]
    users_df = spark.createDataFrame(rows, "user_id string, country string, gender string, "
                                           "age int")
    # WHEN aggregated
    out = users_df.transform(to_daily_user_counts)
    # THEN one row per group, unknown age banded as such
    expected = spark.createDataFrame([("Norway", "female", "25-34", 2),
                                      (None, "male", "unknown", 1)],
                                     DAILY_USER_COUNTS.spark_schema())
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_to_model_holds_users_and_locations_columns(spark: Any) -> None:
    df = spark.createDataFrame(raw_day(DAYS[0], 2, 0).to_pylist(), RAW.spark_schema())
    out = df.transform(to_model("s"))
    assert out.columns == list(dict.fromkeys(USERS.column_names + USER_LOCATIONS.column_names))
    assert out.count() == 2


def test_to_latest_model_equals_dedupe_then_model(spark: Any) -> None:
    # GIVEN a day with re-fetched users
    df = spark.createDataFrame(raw_day(DAYS[0]).to_pylist(), RAW.spark_schema())
    # WHEN modelled first and deduplicated after, THEN it is the reference composition
    expected = df.transform(dedupe_latest_by_user).transform(to_model("s"))
    assert_df_equality(df.transform(to_latest_model("s")), expected, ignore_row_order=True)


# ------------------------------------------------------------------ the job


def test_job_reads_one_partition_of_thirty_and_publishes_three_tables(lake: Lake) -> None:
    # GIVEN 30 registered raw days
    assert len(list_partitions(lake.catalog, RAW.database, RAW.name, "")) == 30
    # WHEN the job runs for the last one
    result = lake.run()
    # THEN exactly one raw partition folder was opened
    assert lake.runtime.paths_read == [str(lake.store.path(CFG.partition_uri(RAW, DAY)))]
    assert (result.predicate, result.rows_read, result.rows_written) == (
        f"p_date = '{DAY}'", 15, 12)
    # AND each model table's partition points at this run's version folder, one file each
    for contract in MODEL_TABLES:
        loc = lake.location(contract)
        assert loc == result.tables[contract.name].location
        assert loc.startswith(f"{table_uri(LAKE, contract)}_versions/{DAY}/{result.run_id}/")
        assert loc.endswith(f"/p_date={DAY}/")
        assert len(list(lake.store.path(loc).glob("*.parquet"))) == 1
    # AND the users version has a COPY manifest naming exactly its Parquet file
    loc = lake.location(USERS)
    (part,) = lake.store.path(loc).glob("*.parquet")
    manifest = json.loads(lake.store.path(manifest_uri(loc)).read_text())
    assert manifest == {"entries": [{"url": f"{loc}{part.name}", "mandatory": True,
                                     "meta": {"content_length": part.stat().st_size}}]}
    # AND the Athena twin reads the published model through the catalog
    assert lake.query(f"select count(*), count(distinct user_id) from users "
                      f"where p_date = '{DAY}'") == [(12, 12)]
    assert lake.query("select sum(users) from daily_user_counts") == [(12,)]
    assert lake.query("select count(*) from user_locations where latitude between -90 and 90 "
                      "and longitude between -180 and 180") == [(12,)]
    files = sorted(lake.store.path(lake.location(USERS)).glob("*.parquet"))
    table = pq.read_table(files, partitioning=None)
    # AND columns are in contract order, timestamps are UTC microseconds (no INT96)
    assert table.column_names == USERS.column_names
    assert table.schema.field("fetched_at").type == pa.timestamp("us", tz="UTC")
    meta = pq.ParquetFile(files[0]).schema.column(table.column_names.index("fetched_at"))
    assert meta.physical_type == "INT64"
    # AND non-ASCII text is trimmed but otherwise byte-for-byte what came in
    cities = set(table.column("city").to_pylist())
    assert {"São Paulo", "Mo\u0308nchengladbach", "東京", "İstanbul"} <= cities
    # AND the email is minimised to domain + salted hash
    raw = raw_day(DAYS[-1]).to_pylist()[0]
    row = table.filter(pa.compute.equal(table.column("user_id"), raw["login"]["uuid"]))
    want = hashlib.sha256(("pepper" + raw["email"].lower()).encode()).hexdigest()
    assert row.column("email_hash").to_pylist() == [want]
    assert raw["email"] not in str(table.to_pylist())


def test_reruns_converge_and_keep_one_previous_version(lake: Lake) -> None:
    # GIVEN a published day
    first = lake.run()
    # WHEN the job runs twice more
    second = lake.run()
    third = lake.run()
    # THEN readers see the same rows, from the newest version
    assert lake.query(f"select count(*) from users where p_date = '{DAY}'") == [(12,)]
    assert lake.location() == third.tables["users"].location
    assert third.tables["users"].previous_location == second.tables["users"].location
    # AND only the current and the previous version folders remain
    folders = sorted(p.name for p in lake.store.path(versions_root(LAKE, USERS, DAY)).iterdir())
    assert folders == sorted([second.run_id, third.run_id])
    assert first.run_id not in folders
    # AND exactly one catalog partition per table and day
    parts = list_partitions(lake.catalog, USERS.database, USERS.name, "")
    assert [p["Values"] for p in parts] == [[DAY]]


class CrashAfterFirstWrite(LocalRuntime):
    """A runtime that dies while writing the second table (after the first is written)."""

    def write_parquet(self, df: Any, uri: str, files: int, *, append: bool = False) -> None:
        if "/user_locations/" in uri:
            folder = self.store.path(uri)
            folder.mkdir(parents=True)
            (folder / "part-00000-half.snappy.parquet").write_bytes(b"PAR1 half a file")
            raise KeyboardInterrupt("killed mid-write")
        super().write_parquet(df, uri, files, append=append)


def test_a_crash_mid_write_leaves_the_previous_partition_and_a_rerun_converges(
        lake: Lake) -> None:
    # GIVEN a published day
    before = lake.run()
    locations = {c.name: lake.location(c) for c in MODEL_TABLES}
    # WHEN a rerun dies between writing files and moving any catalog pointer
    crashing = CrashAfterFirstWrite(lake.runtime.spark, lake.catalog, lake.store)
    with pytest.raises(KeyboardInterrupt):
        run_transform(crashing, DAY, lake.settings)
    # THEN the catalog still points at the previous version, which reads whole
    assert {c.name: lake.location(c) for c in MODEL_TABLES} == locations
    assert lake.query(f"select count(*) from users where p_date = '{DAY}'") == [(12,)]
    assert lake.query("select count(*) from user_locations") == [(12,)]
    # WHEN the job runs again
    after = lake.run()
    # THEN it converges: new version published, the orphaned half-write removed
    assert lake.query(f"select count(*) from user_locations where p_date = '{DAY}'") == [(12,)]
    root = lake.store.path(versions_root(LAKE, USER_LOCATIONS, DAY))
    assert sorted(p.name for p in root.iterdir()) == sorted([before.run_id, after.run_id])


def test_dq_breach_fails_before_publishing_and_is_recorded(lake: Lake, spark: Any) -> None:
    # GIVEN a published day, then the raw partition gains a user aged 500
    lake.run()
    published = lake.location()
    folder = lake.store.path(CFG.partition_uri(RAW, DAY))
    bad = raw_day(DAYS[-1], users=1, dupes=0).to_pylist()
    bad[0]["login"]["uuid"] = "00000000-0000-4000-8000-000000000000"
    bad[0]["dob"]["age"] = 500
    pq.write_table(pa.Table.from_pylist(bad, schema=raw_arrow_schema()), folder / "bad.parquet")
    versions = {c.name: sorted(p.name for p in lake.store.path(
        versions_root(LAKE, c, DAY)).iterdir()) for c in (USERS, USER_LOCATIONS)}
    # WHEN the job reruns
    with pytest.raises(DQBreach) as err:
        lake.run()
    # THEN the message names the rule and by how much
    assert str(err.value) == ("DQ breach: rule users.age in [0, 130]: 1 value outside "
                              "[0, 130] (allowed 0)")
    # AND the previous partition is still what readers get, and the versions the rerun
    # wrote beside the gate are gone
    assert lake.location() == published
    assert versions == {c.name: sorted(p.name for p in lake.store.path(
        versions_root(LAKE, c, DAY)).iterdir()) for c in (USERS, USER_LOCATIONS)}
    assert lake.query(f"select count(*) from users where p_date = '{DAY}'") == [(12,)]
    # AND the breach is in the DQ results table
    got = lake.query("select run_status, count(*) filter (where not passed) from dq_results "
                     "group by 1 order by 1")
    assert got == [("breach", 1), ("published", 0)]


def test_row_count_far_below_trailing_average_breaches(lake: Lake) -> None:
    # GIVEN seven earlier days that each published 100 users (DQ history)
    store, catalog = lake.store, lake.catalog
    from glue_jobs.publish import ensure_partition, ensure_table, plain_partition_uri

    ensure_table(catalog, DQ_RESULTS, table_uri(LAKE, DQ_RESULTS))
    for day in DAYS[-8:-1]:
        loc = plain_partition_uri(LAKE, DQ_RESULTS, day.isoformat())
        store.path(loc).mkdir(parents=True)
        row = {"run_id": "r", "table_name": "users", "rule": "row count >= 1",
               "rule_type": "RowCountAtLeast", "passed": True, "observed": 100.0,
               "allowed": ">= 1", "message": "", "run_status": "published",
               "evaluated_at": datetime(2026, 10, 1, tzinfo=UTC)}
        pq.write_table(pa.Table.from_pylist([row], DQ_RESULTS.arrow_schema()),
                       store.path(loc) / "part-0.parquet")
        ensure_partition(catalog, DQ_RESULTS, day.isoformat(), loc)
    # WHEN the day brings 12 users
    with pytest.raises(DQBreach) as err:
        lake.run()
    # THEN the tolerance rule fails, saying by how much
    assert ("rule users.row count within 50% of trailing 7-day average: 12 rows is 88.0% "
            "below the trailing 7-day average of 100.0 (allowed ±50%)") in str(err.value)
    assert lake.location() is None


# ------------------------------------------------------------------ Glue entrypoint


class _Recorder:
    calls: ClassVar[list[tuple[str, Any]]] = []


def _fake_awsglue(catalog: LocalGlueCatalog, store: LocalObjectStore) -> dict[str, Any]:
    """``awsglue`` for a job run without Glue's JVM: argument parsing is AWS's own
    (AWSGlueDataplanePython 6.0); ``GlueContext``, ``Job``, ``DynamicFrameReader`` and
    ``DynamicFrame`` are autospecced from AWS's real classes, so a call with a wrong name
    or signature fails here as it would on Glue. ``from_catalog`` answers from the local
    catalog over the real local SparkSession, resolving partitions like Glue's
    catalogPartitionPredicate."""
    from unittest.mock import create_autospec

    import awsglue.utils
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame, DynamicFrameReader
    from awsglue.job import Job
    from pyspark.sql import SparkSession

    calls = _Recorder.calls
    state: dict[str, Any] = {}

    def from_catalog(**kw: Any) -> Any:
        spark = state["spark"]
        calls.append(("from_catalog", kw))
        pred = kw["additional_options"]["catalogPartitionPredicate"]
        parts = list_partitions(catalog, kw["database"], kw["table_name"], pred)
        frames = [spark.read.parquet(str(store.path(p["StorageDescriptor"]["Location"])))
                  .withColumn("p_date", F.lit(p["Values"][0])) for p in parts]
        df = frames[0] if frames else spark.createDataFrame([], "x int").drop("x")
        for f in frames[1:]:
            df = df.unionByName(f)
        dyf = create_autospec(DynamicFrame, instance=True)
        dyf.toDF.return_value = df
        return dyf

    def new_context(sc: Any, **_: Any) -> Any:
        state["spark"] = SparkSession(sc)
        ctx = create_autospec(GlueContext, instance=True)
        ctx.spark_session = state["spark"]
        ctx.create_dynamic_frame = create_autospec(DynamicFrameReader, instance=True)
        ctx.create_dynamic_frame.from_catalog.side_effect = from_catalog
        return ctx

    glue_context_cls = create_autospec(GlueContext, side_effect=new_context)
    job_cls = create_autospec(Job)

    def new_job(ctx: Any) -> Any:
        calls.append(("Job", ctx))
        return job_cls.return_value

    job_cls.side_effect = new_job
    job_cls.return_value.init.side_effect = lambda name, args=None: calls.append(("init", name))
    job_cls.return_value.commit.side_effect = lambda: calls.append(("commit", None))

    pkg = types.ModuleType("awsglue")
    return {"awsglue": pkg,
            "awsglue.context": types.SimpleNamespace(GlueContext=glue_context_cls),
            "awsglue.job": types.SimpleNamespace(Job=job_cls),
            "awsglue.utils": awsglue.utils}


def test_glue_entrypoint_wiring(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stand-in awsglue, boto3 clients answering from the local twins, and the
    # salt only in "Secrets Manager"
    import boto3

    _Recorder.calls = []
    for name, mod in _fake_awsglue(lake.catalog, lake.store).items():
        monkeypatch.setitem(sys.modules, name, mod)
    secrets = types.SimpleNamespace(get_secret_value=lambda SecretId: {
        "SecretString": {"udp/salt": "from-secrets-manager"}[SecretId]})
    clients = {"glue": lake.catalog, "secretsmanager": secrets, "s3": LocalS3(lake.store)}
    monkeypatch.setattr(boto3, "client", lambda service, **_: clients[service])
    clear_secret_cache()
    lake_uri = f"file://{lake.store.root}/{CFG.lake_bucket}"
    argv = ["transform_users.py", "--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123abcd",
            "--JOB_NAME", "udp-transform-users", "--job-bookmark-option",
            "job-bookmark-disable", "--p_date", DAY, "--lake_uri", lake_uri,
            "--salt_secret_id", "udp/salt"]
    monkeypatch.setattr(sys, "argv", argv)
    # WHEN Glue runs the script
    runpy.run_path(str(ENTRYPOINT), run_name="__main__")
    # THEN it read the catalog with both predicates, inside Job.init/commit
    pred = f"p_date = '{DAY}'"
    reads = [kw for name, kw in _Recorder.calls if name == "from_catalog"]
    assert {(kw["database"], kw["table_name"]) for kw in reads} >= {(RAW.database, RAW.name)}
    raw_read = next(kw for kw in reads if kw["table_name"] == RAW.name)
    assert raw_read["push_down_predicate"] == pred
    assert raw_read["additional_options"] == {"catalogPartitionPredicate": pred}
    names = [c[0] for c in _Recorder.calls]
    assert names.index("init") < names.index("from_catalog") and names[-1] == "commit"
    # AND published to the run's version folder under --lake_uri
    loc = lake.location()
    assert loc == f"{lake_uri}/transform/users/_versions/{DAY}/jr_0123abcd/p_date={DAY}/"
    users = pq.read_table(sorted(Path(loc[len("file://"):]).glob("*.parquet")),
                          partitioning=None)
    # AND hashed emails with the secret's salt
    raw = raw_day(DAYS[-1]).to_pylist()[0]
    want = hashlib.sha256(("from-secrets-manager" + raw["email"].lower()).encode()).hexdigest()
    assert want in users.column("email_hash").to_pylist()
    clear_secret_cache()
