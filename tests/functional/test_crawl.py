"""Functional tests of the crawl logic and the crawler service over real Parquet files."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from contracts.pipeline import PipelineConfig
from contracts.tables import RAW
from crawlers.specs import CrawlerSpec, default_specs
from local_aws.glue.catalog import LocalGlueCatalog, atomic_write_json
from local_aws.glue.crawl import DEPRECATED_PARAM, CrawlError, crawl, ensure_databases
from local_aws.glue.crawlers import LocalCrawlers
from local_aws.s3.objectstore import LocalObjectStore

TARGET = "s3://lake/data/events/"
FULL = CrawlerSpec(name="events-crawler", database="db", targets=(TARGET,))
INCREMENTAL = dataclasses.replace(FULL, recrawl_policy="CRAWL_NEW_FOLDERS_ONLY",
                                  update_behavior="LOG", delete_behavior="LOG")


@dataclasses.dataclass
class Env:
    catalog: LocalGlueCatalog
    store: LocalObjectStore

    def write(self, day: str, table: pa.Table, name: str = "part-0.parquet") -> Path:
        folder = self.store.path(f"{TARGET}p_date={day}/")
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / name)
        return folder

    def table(self) -> dict[str, Any]:
        return dict(self.catalog.get_table(DatabaseName="db", Name="events")["Table"])

    def columns(self) -> dict[str, str]:
        return {c["Name"]: c["Type"] for c in self.table()["StorageDescriptor"]["Columns"]}

    def partitions(self) -> dict[str, dict[str, Any]]:
        parts = self.catalog.get_partitions(DatabaseName="db", TableName="events")["Partitions"]
        return {p["Values"][0]: p for p in parts}


def rows(**cols: list[Any]) -> pa.Table:
    return pa.table(cols)


@pytest.fixture()
def env(tmp_path: Path) -> Env:
    e = Env(LocalGlueCatalog(tmp_path / "catalog"), LocalObjectStore(tmp_path / "s3"))
    e.catalog.create_database(DatabaseInput={"Name": "db"})
    return e


def test_first_crawl_creates_table_and_partitions(env: Env) -> None:
    # GIVEN two day folders with nested Parquet data, plus noise the crawler must ignore
    nested = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "n": pa.array([1, 2], pa.int32()),
        "name": pa.array([{"first": "a", "last": "b"}] * 2),
        "tags": pa.array([["x"], []], pa.list_(pa.string())),
        "attrs": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
        "at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
        "price": pa.array([1, 2], pa.decimal128(10, 2)),
    })
    env.write("2024-01-01", nested)
    folder = env.write("2024-01-02", nested)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_text("crc")
    (folder / "empty.parquet").write_bytes(b"")
    env.store.path(f"{TARGET}p_date=2024-01-03/").mkdir()  # empty folder
    env.store.path(f"{TARGET}_temporary/0/").mkdir(parents=True)
    pq.write_table(nested, env.store.path(f"{TARGET}_temporary/0/x.parquet"))
    # WHEN crawled
    result = crawl(FULL, env.catalog, env.store)
    # THEN one Parquet table with Glue types, p_date string key and two partitions
    table = env.table()
    assert result.tables_created == ["events"] and result.files_read == 2
    assert env.columns() == {"id": "bigint", "n": "int",
                             "name": "struct<first:string,last:string>",
                             "tags": "array<string>", "attrs": "map<string,bigint>",
                             "at": "timestamp", "price": "decimal(10,2)"}
    sd = table["StorageDescriptor"]
    assert sd["Location"] == TARGET
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"] == \
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert table["Parameters"]["classification"] == "parquet"
    assert table["PartitionKeys"] == [{"Name": "p_date", "Type": "string"}]
    parts = env.partitions()
    assert sorted(parts) == ["2024-01-01", "2024-01-02"]
    p2 = parts["2024-01-02"]
    assert p2["StorageDescriptor"]["Location"] == f"{TARGET}p_date=2024-01-02/"
    assert p2["StorageDescriptor"]["Columns"] == sd["Columns"]
    assert p2["Parameters"]["recordCount"] == "2" and p2["Parameters"]["objectCount"] == "1"


def test_raw_contract_files_register_the_contract_columns(tmp_path: Path) -> None:
    # GIVEN the default raw crawler and a raw day written with the contract's Arrow schema
    cfg = PipelineConfig()
    catalog, store = LocalGlueCatalog(tmp_path / "c"), LocalObjectStore(tmp_path / "s3")
    raw_spec = default_specs(cfg)[0]
    ensure_databases(catalog, [raw_spec])
    folder = store.path(cfg.partition_uri(RAW, "2024-05-01"))
    folder.mkdir(parents=True)
    pq.write_table(RAW.arrow_schema().empty_table(), folder / "f.parquet")
    # WHEN crawled
    crawl(raw_spec, catalog, store)
    # THEN the raw table has the contract's name, columns and partition location
    table = catalog.get_table(DatabaseName=cfg.raw_database, Name=RAW.name)["Table"]
    assert table["StorageDescriptor"]["Columns"] == RAW.glue_columns()
    part = catalog.get_partition(DatabaseName=cfg.raw_database, TableName=RAW.name,
                                 PartitionValues=["2024-05-01"])["Partition"]
    assert part["StorageDescriptor"]["Location"] == cfg.partition_uri(RAW, "2024-05-01")


def test_incremental_crawl_opens_only_new_folders(env: Env) -> None:
    # GIVEN an incremental crawler that already registered two days
    env.write("2024-01-01", rows(id=[1]))
    old = env.write("2024-01-02", rows(id=[2]))
    crawl(INCREMENTAL, env.catalog, env.store)
    # AND a registered folder whose file is now unreadable (opening it would be noticed)
    (old / "part-0.parquet").write_bytes(b"not parquet at all")
    env.write("2024-01-03", rows(id=[3]))
    # WHEN crawled again
    result = crawl(INCREMENTAL, env.catalog, env.store)
    # THEN only the new folder's file was read and only it was added
    assert result.files_read == 1
    assert result.partitions_added == [("events", ("2024-01-03",))]
    assert not any("not a readable Parquet" in m for m in result.messages)
    assert sorted(env.partitions()) == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_full_crawl_logs_unreadable_files_and_skips_them(env: Env) -> None:
    # GIVEN a folder holding only a non-Parquet file next to a good one
    env.write("2024-01-01", rows(id=[1]))
    bad = env.store.path(f"{TARGET}p_date=2024-01-02/")
    bad.mkdir(parents=True)
    (bad / "x.parquet").write_text("nope")
    # WHEN crawled
    result = crawl(FULL, env.catalog, env.store)
    # THEN the bad folder is skipped with a message, the good one registered
    assert sorted(env.partitions()) == ["2024-01-01"]
    assert any("not a readable Parquet" in m for m in result.messages)


def test_folders_with_other_keys_are_not_merged(env: Env) -> None:
    # GIVEN a table partitioned by p_date and a stray folder partitioned differently
    env.write("2024-01-01", rows(id=[1]))
    stray = env.store.path(f"{TARGET}region=eu/")
    stray.mkdir(parents=True)
    pq.write_table(rows(id=[1]), stray / "f.parquet")
    # WHEN crawled
    result = crawl(FULL, env.catalog, env.store)
    # THEN the stray folder is reported, not registered as a p_date partition
    assert sorted(env.partitions()) == ["2024-01-01"]
    assert any("region=eu" in m and "differ" in m for m in result.messages)


# ------------------------------------------------------- schema evolution per policy


def _evolve(env: Env, spec: CrawlerSpec) -> Any:
    """Day 1 has (id int, code int); day 2 adds a column and flips code to string."""
    env.write("2024-01-01", rows(id=pa.array([1], pa.int32()), code=pa.array([7], pa.int32())))
    crawl(spec, env.catalog, env.store)
    env.write("2024-01-02", rows(id=pa.array([2], pa.int32()), code=["007"], email=["a@b"]))
    return crawl(spec, env.catalog, env.store)


def test_update_in_database_adds_column_and_flips_type_to_string(env: Env) -> None:
    # GIVEN a full crawler with UPDATE_IN_DATABASE
    # WHEN new files add a column and flip a type int -> string
    result = _evolve(env, FULL)
    # THEN the table has the new column, code became string (logged), and a new version
    assert env.columns() == {"id": "int", "code": "string", "email": "string"}
    assert env.table()["VersionId"] == "1"
    assert result.tables_updated == ["events"]
    assert any("type drift int vs string -> string" in m for m in result.messages)
    # AND existing partitions inherit the new schema
    assert {p: [c["Name"] for c in v["StorageDescriptor"]["Columns"]]
            for p, v in env.partitions().items()} == {
        "2024-01-01": ["id", "code", "email"], "2024-01-02": ["id", "code", "email"]}


def test_update_log_keeps_the_table_and_logs_the_change(env: Env) -> None:
    # GIVEN a full crawler with UpdateBehavior LOG
    spec = dataclasses.replace(FULL, update_behavior="LOG")
    # WHEN new files add a column and flip a type
    result = _evolve(env, spec)
    # THEN the table is unchanged, the change logged, and the new partition still added
    assert env.columns() == {"id": "int", "code": "int"}
    assert env.table()["VersionId"] == "0"
    assert any("not applied (UpdateBehavior LOG)" in m and "added email" in m
               for m in result.messages)
    assert sorted(env.partitions()) == ["2024-01-01", "2024-01-02"]


def test_incremental_crawler_logs_schema_change_without_updating(env: Env) -> None:
    # GIVEN an incremental (LOG/LOG) crawler
    # WHEN a new folder adds a column and flips a type
    result = _evolve(env, INCREMENTAL)
    # THEN the table keeps its schema, the new partition is added, the drift is logged
    assert env.columns() == {"id": "int", "code": "int"}
    assert result.partitions_added == [("events", ("2024-01-02",))]
    assert any("changed code int->string" in m for m in result.messages)


def _delete_folder(env: Env, spec: CrawlerSpec) -> Any:
    env.write("2024-01-01", rows(id=[1]))
    gone = env.write("2024-01-02", rows(id=[2]))
    crawl(spec, env.catalog, env.store)
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    return crawl(spec, env.catalog, env.store)


def test_delete_behavior_log_keeps_the_partition(env: Env) -> None:
    # GIVEN DeleteBehavior LOG
    # WHEN a registered folder is deleted
    result = _delete_folder(env, dataclasses.replace(FULL, delete_behavior="LOG"))
    # THEN the partition stays and the crawl reports it
    assert sorted(env.partitions()) == ["2024-01-01", "2024-01-02"]
    assert any("no longer in S3, kept" in m for m in result.messages)


def test_delete_behavior_deprecate_marks_the_partition(env: Env) -> None:
    # GIVEN DeleteBehavior DEPRECATE_IN_DATABASE (Glue's default)
    # WHEN a registered folder is deleted
    result = _delete_folder(env, FULL)
    # THEN the partition is kept but marked deprecated; the other is untouched
    parts = env.partitions()
    assert DEPRECATED_PARAM in parts["2024-01-02"]["Parameters"]
    assert DEPRECATED_PARAM not in parts["2024-01-01"]["Parameters"]
    assert result.partitions_deprecated == [("events", ("2024-01-02",))]


def test_delete_behavior_delete_removes_partition_then_table(env: Env) -> None:
    # GIVEN DeleteBehavior DELETE_FROM_DATABASE
    spec = dataclasses.replace(FULL, delete_behavior="DELETE_FROM_DATABASE")
    # WHEN a registered folder is deleted
    result = _delete_folder(env, spec)
    # THEN its partition is deleted
    assert sorted(env.partitions()) == ["2024-01-01"]
    assert result.partitions_deleted == [("events", ("2024-01-02",))]
    # WHEN all data is gone
    for f in env.store.path(f"{TARGET}p_date=2024-01-01/").iterdir():
        f.unlink()
    result = crawl(spec, env.catalog, env.store)
    # THEN the table is deleted too
    assert result.tables_deleted == ["events"]
    with pytest.raises(ClientError):
        env.table()


def test_crawl_without_database_is_a_clear_error(tmp_path: Path) -> None:
    # GIVEN a catalog without the crawler's database
    catalog, store = LocalGlueCatalog(tmp_path / "c"), LocalObjectStore(tmp_path / "s3")
    # WHEN crawled
    # THEN a CrawlError names the database
    with pytest.raises(CrawlError, match="Database db not found"):
        crawl(FULL, catalog, store)


# ------------------------------------------------------------------ crawler service


def test_service_runs_crawl_and_reports_like_glue(env: Env) -> None:
    # GIVEN a crawler service with data to crawl
    env.write("2024-01-01", rows(id=[1]))
    service = LocalCrawlers(env.catalog, env.store, [FULL])
    assert "LastCrawl" not in service.get_crawler(Name=FULL.name)["Crawler"]
    # WHEN a crawl is started and awaited
    service.start_crawler(Name=FULL.name)
    crawler = service.wait(FULL.name, timeout=30)
    # THEN it ends READY / SUCCEEDED with the spec's configuration and metrics
    assert crawler["State"] == "READY"
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    assert "ErrorMessage" not in crawler["LastCrawl"]
    assert crawler["LastCrawl"]["StartTime"].tzinfo is not None
    assert crawler["DatabaseName"] == "db"
    assert crawler["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    metrics = service.get_crawler_metrics(CrawlerNameList=[FULL.name])["CrawlerMetricsList"]
    assert metrics[0]["TablesCreated"] == 1
    assert "created table db.events" in service.log_path(FULL.name).read_text()
    # AND another process's view (a new instance over the same folders) agrees
    other = LocalCrawlers(LocalGlueCatalog(env.catalog.root), env.store, [FULL])
    assert other.get_crawler(Name=FULL.name)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"


def test_second_start_while_running_raises_crawler_running(env: Env) -> None:
    # GIVEN a crawl held in RUNNING by a hook
    release = threading.Event()
    service = LocalCrawlers(env.catalog, env.store, [FULL],
                            before_crawl=lambda name: release.wait(30))
    service.start_crawler(Name=FULL.name)
    try:
        # WHEN started again (from this object or from another instance)
        other = LocalCrawlers(LocalGlueCatalog(env.catalog.root), env.store, [FULL])
        assert other.get_crawler(Name=FULL.name)["Crawler"]["State"] == "RUNNING"
        for svc in (service, other):
            with pytest.raises(ClientError) as err:
                svc.start_crawler(Name=FULL.name)
            # THEN CrawlerRunningException is raised
            assert err.value.response["Error"]["Code"] == "CrawlerRunningException"
    finally:
        release.set()
    assert service.wait(FULL.name, timeout=30)["LastCrawl"]["Status"] == "SUCCEEDED"


def test_unknown_crawler_is_entity_not_found(env: Env) -> None:
    # GIVEN a service without crawler "nope"
    service = LocalCrawlers(env.catalog, env.store, [FULL])
    # WHEN it is started or read
    for call in (service.start_crawler, service.get_crawler):
        with pytest.raises(ClientError) as err:
            call(Name="nope")
        # THEN EntityNotFoundException is raised
        assert err.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_failed_crawl_sets_failed_with_reason_and_never_raises(env: Env) -> None:
    # GIVEN a crawl whose database was dropped behind the service's back
    service = LocalCrawlers(env.catalog, env.store, [FULL], background=False)
    env.catalog.delete_database(Name="db")
    # WHEN started (synchronously, so any exception would reach us)
    service.start_crawler(Name=FULL.name)
    # THEN the crawler is READY with LastCrawl FAILED and the reason
    last = service.get_crawler(Name=FULL.name)["Crawler"]["LastCrawl"]
    assert last["Status"] == "FAILED"
    assert "Database db not found" in last["ErrorMessage"]


def test_injected_failures_fail_the_next_crawl_only(env: Env) -> None:
    # GIVEN a one-shot fault set at construction and a persistent one set on disk
    service = LocalCrawlers(env.catalog, env.store, [FULL], background=False,
                            fail_next={FULL.name: "boom"})
    statuses = []
    # WHEN crawled three times, a persistent fault injected (as another process would)
    # before the second crawl
    for i in range(3):
        if i == 1:
            LocalCrawlers(env.catalog, env.store, [FULL]).inject_failure(
                FULL.name, "disk fault", persistent=True)
        service.start_crawler(Name=FULL.name)
        last = service.get_crawler(Name=FULL.name)["Crawler"]["LastCrawl"]
        statuses.append((last["Status"], last.get("ErrorMessage")))
    # THEN the first two fail with their messages and the third succeeds
    assert statuses == [("FAILED", "boom"), ("FAILED", "disk fault"), ("SUCCEEDED", None)]


def test_stop_crawler_cancels_the_crawl(env: Env) -> None:
    # GIVEN a running crawl held by a hook
    env.write("2024-01-01", rows(id=[1]))
    release = threading.Event()
    service = LocalCrawlers(env.catalog, env.store, [FULL],
                            before_crawl=lambda name: release.wait(30))
    service.start_crawler(Name=FULL.name)
    # WHEN it is stopped
    service.stop_crawler(Name=FULL.name)
    state_while_stopping = service.get_crawler(Name=FULL.name)["Crawler"]["State"]
    release.set()
    crawler = service.wait(FULL.name, timeout=30)
    # THEN it goes STOPPING then READY with LastCrawl CANCELLED, and nothing was created
    assert state_while_stopping == "STOPPING"
    assert crawler["LastCrawl"]["Status"] == "CANCELLED"
    with pytest.raises(ClientError):
        env.table()
    # AND stopping a READY crawler is CrawlerNotRunningException
    with pytest.raises(ClientError) as err:
        service.stop_crawler(Name=FULL.name)
    assert err.value.response["Error"]["Code"] == "CrawlerNotRunningException"


def test_crawl_left_running_by_a_dead_process_reads_as_failed(env: Env) -> None:
    # GIVEN a state file claiming RUNNING, owned by a process that no longer exists
    service = LocalCrawlers(env.catalog, env.store, [FULL])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child exits at once
        os._exit(0)
    os.waitpid(pid, 0)
    now = datetime.now(UTC)
    atomic_write_json(env.catalog.root / "crawlers" / f"{FULL.name}.json", {
        "State": "RUNNING", "CreationTime": now, "StartTime": now,
        "Owner": {"host": socket.gethostname(), "pid": pid}})
    # WHEN read
    crawler = service.get_crawler(Name=FULL.name)["Crawler"]
    # THEN it is READY with a FAILED last crawl explaining why, and can start again
    assert crawler["State"] == "READY"
    assert crawler["LastCrawl"]["Status"] == "FAILED"
    assert f"pid {pid}" in crawler["LastCrawl"]["ErrorMessage"]
    service.start_crawler(Name=FULL.name)
    assert service.wait(FULL.name, timeout=30)["LastCrawl"]["Status"] == "SUCCEEDED"
