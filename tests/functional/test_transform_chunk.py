"""A backfill chunk's one pass over many days, for real on LocalRuntime (and once through
the Glue entrypoint's ``GlueRuntime`` on Hadoop's file system).

The pass must publish exactly what one run per day would have published, day by day:
the same rows, the same DQ verdicts (the trailing row-count rule included, where a day
of the chunk counts for the days after it only if it passed), failures confined to
their day, every day in its own version folder.
"""

from __future__ import annotations

import logging
import runpy
import shutil
import sys
import types
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from contracts.tables import MODEL_TABLES, RAW, USERS
from contracts.user_record import raw_arrow_schema
from glue_jobs.chunk import date_run_id
from glue_jobs.data_quality import DQBreach
from glue_jobs.publish import STAGING_DIR, table_uri, version_uri
from glue_jobs.secrets import clear_secret_cache
from glue_jobs.transform_job import (
    TransformSettings,
    files_for,
    run_transform,
    transform_chunk,
)
from local_aws.glue.spark_runtime import LocalRuntime
from local_aws.s3.client import LocalS3
from tests.functional.test_transform_job import (
    CFG,
    DAYS,
    ENTRYPOINT,
    LAKE,
    Lake,
    _fake_awsglue,
    _Recorder,
    history,  # noqa: F401  (the module-scoped 30-day raw lake)
    raw_day,
)

CHUNK = DAYS[:12]
SHRUNK = CHUNK[8]  # keeps 2 of its 12 users: far below the trailing average
AGED = CHUNK[5]  # gains a user aged 500
RUN_KEY = "chunk-1"


def _doctor(lake: Lake) -> None:
    """Two bad days: one row-count drop (trailing rule), one out-of-range age."""
    folder = lake.store.path(CFG.partition_uri(RAW, SHRUNK.isoformat()))
    pq.write_table(raw_day(SHRUNK, users=2, dupes=0), folder / "part-0.parquet")
    bad = raw_day(AGED, users=1, dupes=0).to_pylist()
    bad[0]["login"]["uuid"] = "00000000-0000-4000-8000-000000000000"
    bad[0]["dob"]["age"] = 500
    folder = lake.store.path(CFG.partition_uri(RAW, AGED.isoformat()))
    pq.write_table(pa.Table.from_pylist(bad, schema=raw_arrow_schema()), folder / "bad.parquet")


@pytest.fixture()
def two_lakes(history: Path, tmp_path: Path, spark: Any) -> tuple[Lake, Lake]:  # noqa: F811
    lakes = []
    for name in ("per-day", "one-pass"):
        shutil.copytree(history, tmp_path / name)
        lake = Lake(tmp_path / name, spark)
        _doctor(lake)
        lakes.append(lake)
    return lakes[0], lakes[1]


def _verdicts(out: dict[str, Any]) -> list[tuple[str, bool, str]]:
    return [(d["table_name"] + "." + d["rule"], d["passed"], d["message"]) for d in out["dq"]]


def _published(lake: Lake, day: date) -> dict[str, list[tuple[Any, ...]]]:
    d = day.isoformat()
    return {c.name: sorted(map(tuple, lake.query(
        f"select * from {c.name} where p_date = '{d}'")), key=repr) for c in MODEL_TABLES}


def test_one_pass_publishes_what_one_run_per_day_would(two_lakes: tuple[Lake, Lake]) -> None:
    per_day, one_pass = two_lakes
    # GIVEN the same 12 raw days in two lakes, one day with an age of 500 and one whose
    # users dropped from 12 to 2 (its trailing row-count rule breaches)
    # WHEN one lake runs the days one at a time and the other as one chunk
    old = []
    for day in CHUNK:
        try:
            result = run_transform(per_day.runtime, day, per_day.settings,
                                   run_id=date_run_id(RUN_KEY, day))
            old.append({"status": "SUCCEEDED", **result.as_dict()})
        except DQBreach as exc:
            old.append({"status": "FAILED", "dq": [r.as_dict() for r in exc.results]})
    new = transform_chunk(one_pass.runtime, CHUNK, one_pass.settings, run_key=RUN_KEY)
    # THEN both report the same status and the same verdicts, message for message, day by
    # day (the trailing averages of the days after the shrunk one leave it out in both)
    assert [d["p_date"] for d in new] == [d.isoformat() for d in CHUNK]
    assert [d["status"] for d in new] == [d["status"] for d in old]
    assert [d["status"] for d in new].count("FAILED") == 2
    assert {d["p_date"] for d in new if d["status"] == "FAILED"} == {
        AGED.isoformat(), SHRUNK.isoformat()}
    assert [_verdicts(d) for d in new] == [_verdicts(d) for d in old]
    shrunk = next(d for d in new if d["p_date"] == SHRUNK.isoformat())
    # (6 days: the aged day inside its 7-day window failed, so it published no count)
    assert ("2 rows is 83.3% below the trailing 6-day average of 12.0"
            in next(m for name, _, m in _verdicts(shrunk) if "trailing" in name))
    # AND the same rows and counts, table by table, day by day
    for day, got in zip(CHUNK, new, strict=True):
        assert _published(one_pass, day) == _published(per_day, day)
        if got["status"] == "SUCCEEDED":
            assert (got["rows_read"], got["rows_written"]) == (15, 12)
            assert got["run_id"] == date_run_id(RUN_KEY, day)
    # AND the same DQ history, so tomorrow's trailing rule sees the same past
    history_sql = ("select p_date, table_name, rule, passed, observed, run_status "
                   "from dq_results order by 1, 2, 3")
    assert one_pass.query(history_sql) == per_day.query(history_sql)


def test_each_day_lands_in_its_own_version_folder_with_its_share_of_files(
        two_lakes: tuple[Lake, Lake]) -> None:
    _, lake = two_lakes
    # GIVEN at most 5 rows per file, so a day of 12 users wants 3 files
    settings = TransformSettings(LAKE, "pepper", rows_per_file=5)
    # WHEN a chunk of 4 days runs
    days = CHUNK[:4]
    out = transform_chunk(lake.runtime, days, settings, run_key=RUN_KEY)
    # THEN every day points at its own version folder, named by its own run id
    assert [d["status"] for d in out] == ["SUCCEEDED"] * 4
    for day, got in zip(days, out, strict=True):
        d = day.isoformat()
        for contract in MODEL_TABLES:
            loc = lake.location(contract, d)
            assert loc == (f"{table_uri(LAKE, contract)}_versions/{d}/{got['run_id']}/"
                           f"p_date={d}/")
            files = sorted(lake.store.path(loc).glob("*.parquet"))
            table = pq.read_table(files, partitioning=None)
            # AND holds only that day's rows, in no more files than the day needs
            assert 1 <= len(files) <= files_for(table.num_rows, 5, 64)
            if contract is USERS:
                assert table.num_rows == 12
                assert table.column_names == USERS.column_names
    assert lake.query("select count(*), count(distinct p_date) from users") == [(48, 4)]
    # AND no staging folder is left behind
    for contract in MODEL_TABLES:
        staging = lake.store.path(table_uri(LAKE, contract)) / STAGING_DIR
        assert not staging.exists() or not any(staging.iterdir())


class PartitionedWriteFails(LocalRuntime):
    """A runtime whose multi-day write fails (a lost executor, say)."""

    def write_partitioned(self, df: Any, uri: str) -> None:
        raise RuntimeError("executor lost")


def test_a_pass_that_raises_falls_back_to_one_day_at_a_time(
        two_lakes: tuple[Lake, Lake], caplog: pytest.LogCaptureFixture) -> None:
    _, lake = two_lakes
    failing = PartitionedWriteFails(lake.runtime.spark, lake.catalog, lake.store)
    # WHEN the one-pass write of a chunk raises
    with caplog.at_level(logging.WARNING, logger="glue_jobs.transform_job"):
        out = transform_chunk(failing, CHUNK[:3], lake.settings, run_key=RUN_KEY)
    # THEN the days ran one by one (single-day writes) and every one was published
    assert [d["status"] for d in out] == ["SUCCEEDED"] * 3
    assert lake.query("select count(*) from users") == [(36,)]
    # AND the job's log keeps the pass's failure, cause and all
    (record,) = [r for r in caplog.records if r.name == "glue_jobs.transform_job"]
    assert record.getMessage() == "the pass over 3 dates failed; running them one at a time"
    assert record.exc_info is not None and str(record.exc_info[1]) == "executor lost"


class OneTableWriteFails(LocalRuntime):
    """A runtime whose multi-day write of ``user_locations`` fails, after the other
    tables' writes (side by side) have filled their version folders."""

    def write_partitioned(self, df: Any, uri: str) -> None:
        if "/user_locations/" in uri:
            raise RuntimeError("executor lost")
        super().write_partitioned(df, uri)


def test_a_pass_failing_mid_write_leaves_no_version_folder_in_the_fallbacks_way(
        two_lakes: tuple[Lake, Lake]) -> None:
    _, lake = two_lakes
    failing = OneTableWriteFails(lake.runtime.spark, lake.catalog, lake.store)
    # WHEN one table's write of a chunk raises while the other two tables' writes
    # have moved each day's files into the days' version folders
    out = transform_chunk(failing, CHUNK[:3], lake.settings, run_key=RUN_KEY)
    # THEN the days, run one by one under the same run ids, still write (and publish)
    # their versions: the pass removed the unpublished folders it had filled
    assert [(d["status"], d.get("cause")) for d in out] == [("SUCCEEDED", None)] * 3
    assert lake.query("select count(*) from users") == [(36,)]
    assert lake.query("select count(*) from user_locations") == [(36,)]


def test_the_glue_entrypoint_runs_a_chunk_through_hadoops_file_system(
        history: Path, tmp_path: Path, spark: Any,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stand-in awsglue over the local catalog, and GlueRuntime's Hadoop file
    # system on file:// (the moves are Hadoop renames, as EMRFS does them on S3)
    import boto3

    shutil.copytree(history, tmp_path / "lake")
    lake = Lake(tmp_path / "lake", spark)
    _Recorder.calls = []
    for name, mod in _fake_awsglue(lake.catalog, lake.store).items():
        monkeypatch.setitem(sys.modules, name, mod)
    secrets = types.SimpleNamespace(get_secret_value=lambda SecretId: {
        "SecretString": "salt"})
    clients = {"glue": lake.catalog, "secretsmanager": secrets, "s3": LocalS3(lake.store)}
    monkeypatch.setattr(boto3, "client", lambda service, **_: clients[service])
    clear_secret_cache()
    lake_uri = f"file://{lake.store.root}/{CFG.lake_bucket}"
    days = [d.isoformat() for d in DAYS[:3]]
    argv = ["transform_users.py", "--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123abcd",
            "--JOB_NAME", "udp-transform-users", "--p_dates", ",".join(days),
            "--run_key", "jr_chunk", "--lake_uri", lake_uri, "--salt_secret_id", "udp/salt"]
    monkeypatch.setattr(sys, "argv", argv)
    # WHEN Glue runs the script for a chunk of three days
    runpy.run_path(str(ENTRYPOINT), run_name="__main__")
    # THEN the raw read was one predicate over the three days
    raw_reads = [kw for name, kw in _Recorder.calls
                 if name == "from_catalog" and kw["table_name"] == RAW.name]
    assert [kw["push_down_predicate"] for kw in raw_reads] == [
        f"p_date BETWEEN '{days[0]}' AND '{days[-1]}'"]
    # AND each day was published from its own version folder, files moved there whole
    for d in days:
        loc = lake.location(USERS, d)
        assert loc == (f"{lake_uri}/transform/users/_versions/{d}/jr_chunk-"
                       f"{d.replace('-', '')}/p_date={d}/")
        files = sorted(Path(loc[len("file://"):]).glob("*.parquet"))
        assert pq.read_table(files, partitioning=None).num_rows == 12
    staging = lake.store.path(table_uri(LAKE, USERS)) / STAGING_DIR
    assert not any(staging.iterdir())  # the pass's folder is gone (S3 has no empty parent)
    clear_secret_cache()


class DqRecordFails(LocalRuntime):
    """A runtime that cannot write ``dq_results``: the step after the publish instants."""

    def write_partitioned(self, df: Any, uri: str) -> None:
        if "/dq_results/" in uri:
            raise OSError("dq_results not writable")
        super().write_partitioned(df, uri)


def test_a_pass_failing_after_it_published_reports_every_day_and_a_rerun_converges(
        two_lakes: tuple[Lake, Lake]) -> None:
    _, lake = two_lakes
    days = CHUNK[:3]
    failing = DqRecordFails(lake.runtime.spark, lake.catalog, lake.store)
    # WHEN the pass publishes its days and then fails recording their DQ results
    out = transform_chunk(failing, days, lake.settings, run_key=RUN_KEY)
    # THEN every day is reported FAILED with the cause, naming what was published,
    # and no day was retried on its own (its version folder exists already)
    assert {(d["status"], d["error"]) for d in out} == {("FAILED", "PassIncomplete")}
    assert out[0]["cause"].startswith(f"{days[0].isoformat()}, {days[1].isoformat()}, "
                                      f"{days[2].isoformat()} published, then OSError")
    assert {lake.location(USERS, d.isoformat()).split("/")[-3] for d in days} == {
        date_run_id(RUN_KEY, d) for d in days}
    # WHEN the chunk runs again (a rerun has its own run key)
    again = transform_chunk(lake.runtime, days, lake.settings, run_key="chunk-2")
    # THEN it converges: every day published under the new key, rows counted once
    assert [d["status"] for d in again] == ["SUCCEEDED"] * 3
    assert lake.query("select count(*) from users") == [(36,)]


class CatalogRefusesOnePublish:
    """The lake's catalog, refusing (throttled) to publish ``users`` of one day."""

    def __init__(self, catalog: Any, p_date: str) -> None:
        self._catalog, self._p_date = catalog, p_date

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)

    def create_partition(self, **kw: Any) -> Any:
        if kw["TableName"] == USERS.name and kw["PartitionInput"]["Values"] == [self._p_date]:
            raise ClientError({"Error": {"Code": "ThrottlingException",
                                         "Message": "Rate exceeded"}}, "CreatePartition")
        return self._catalog.create_partition(**kw)


def test_a_pass_failing_between_two_days_publications_reports_what_it_published(
        two_lakes: tuple[Lake, Lake]) -> None:
    _, lake = two_lakes
    days = CHUNK[:3]
    catalog = CatalogRefusesOnePublish(lake.catalog, days[1].isoformat())
    failing = LocalRuntime(lake.runtime.spark, catalog, lake.store)
    # WHEN the pass publishes its first day, then the catalog refuses the second
    out = transform_chunk(failing, days, lake.settings, run_key=RUN_KEY)
    # THEN every day is reported FAILED with that cause, naming the day published (no
    # day-by-day retry, whose writes would find this pass's version folders taken)
    assert {(d["status"], d["error"]) for d in out} == {("FAILED", "PassIncomplete")}
    assert out[0]["cause"].startswith(f"{days[0].isoformat()} published, then ClientError")
    assert lake.location(USERS, days[0].isoformat()).split("/")[-3] == date_run_id(
        RUN_KEY, days[0])
    assert lake.location(USERS, days[1].isoformat()) is None


def test_a_run_key_used_again_never_adds_its_files_to_a_published_day(
        two_lakes: tuple[Lake, Lake]) -> None:
    _, lake = two_lakes
    days = CHUNK[:3]
    # GIVEN three days published by chunk K
    first = transform_chunk(lake.runtime, days, lake.settings, run_key=RUN_KEY)
    assert [d["status"] for d in first] == ["SUCCEEDED"] * 3
    # WHEN the same chunk runs again under the same key (a Step Functions redrive keeps
    # the execution name the key is made of)
    again = transform_chunk(lake.runtime, days, lake.settings, run_key=RUN_KEY)
    # THEN each day is refused, saying why, and readers still see each user once
    assert {(d["status"], d["error"]) for d in again} == {("FAILED", "VersionTaken")}
    assert "already published under the same run id" in again[0]["cause"]
    assert lake.query("select count(*), count(distinct user_id) from users") == [(36, 36)]


def test_an_orphan_version_under_the_same_run_id_is_replaced_not_added_to(
        two_lakes: tuple[Lake, Lake]) -> None:
    _, lake = two_lakes
    days = CHUNK[:2]
    # GIVEN a version folder an earlier, killed attempt of the same run id left for day 1
    # (written, never published), holding a stray file
    orphan = lake.store.path(version_uri(LAKE, USERS, days[0].isoformat(),
                                         date_run_id("chunk-9", days[0])))
    orphan.mkdir(parents=True)
    shutil.copy(next(lake.store.path(CFG.partition_uri(RAW, days[0].isoformat()))
                     .glob("*.parquet")), orphan / "part-stray.parquet")
    # WHEN the chunk runs under that key
    out = transform_chunk(lake.runtime, days, lake.settings, run_key="chunk-9")
    # THEN both days are published, day 1 from this run's files only
    assert [d["status"] for d in out] == ["SUCCEEDED"] * 2
    assert not (orphan / "part-stray.parquet").exists()
    assert lake.query("select count(*), count(distinct user_id) from users") == [(24, 24)]
