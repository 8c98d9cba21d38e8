"""Functional tests of the file-backed Glue Data Catalog twin (real filesystem)."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws.glue.catalog import LocalGlueCatalog

DB, TABLE = "db", "events"
SD = {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": "s3://b/events/",
      "InputFormat": "in", "OutputFormat": "out",
      "SerdeInfo": {"SerializationLibrary": "serde"}}


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def _part(day: str) -> dict[str, Any]:
    return {"Values": [day], "StorageDescriptor": {**SD, "Location": f"s3://b/events/p={day}/"}}


@pytest.fixture()
def catalog(tmp_path: Path) -> LocalGlueCatalog:
    cat = LocalGlueCatalog(tmp_path / "catalog")
    cat.create_database(DatabaseInput={"Name": DB})
    cat.create_table(DatabaseName=DB, TableInput={
        "Name": TABLE, "StorageDescriptor": SD,
        "PartitionKeys": [{"Name": "p_date", "Type": "string"}],
        "Parameters": {"classification": "parquet"}})
    return cat


def test_table_round_trips_with_glue_shape(catalog: LocalGlueCatalog) -> None:
    # GIVEN a created table
    # WHEN read back
    table = catalog.get_table(DatabaseName=DB, Name=TABLE)["Table"]
    # THEN it has Glue's fields, with the storage descriptor as given
    assert table["DatabaseName"] == DB and table["Name"] == TABLE
    assert table["StorageDescriptor"] == SD
    assert table["PartitionKeys"] == [{"Name": "p_date", "Type": "string"}]
    assert table["Parameters"] == {"classification": "parquet"}
    assert table["VersionId"] == "0"
    assert table["CreateTime"].tzinfo is not None and "UpdateTime" in table
    assert [t["Name"] for t in catalog.get_tables(DatabaseName=DB)["TableList"]] == [TABLE]
    assert [d["Name"] for d in catalog.get_databases()["DatabaseList"]] == [DB]


def test_errors_are_client_errors_with_glue_codes(catalog: LocalGlueCatalog) -> None:
    # GIVEN a catalog with one table
    cases = [
        (lambda: catalog.get_database(Name="nope"), "EntityNotFoundException", "GetDatabase"),
        (lambda: catalog.get_table(DatabaseName=DB, Name="nope"), "EntityNotFoundException",
         "GetTable"),
        (lambda: catalog.get_table(DatabaseName="nope", Name=TABLE), "EntityNotFoundException",
         "GetTable"),
        (lambda: catalog.create_table(DatabaseName=DB, TableInput={"Name": TABLE}),
         "AlreadyExistsException", "CreateTable"),
        (lambda: catalog.create_database(DatabaseInput={"Name": DB}), "AlreadyExistsException",
         "CreateDatabase"),
        (lambda: catalog.get_partition(DatabaseName=DB, TableName=TABLE,
                                       PartitionValues=["x"]), "EntityNotFoundException",
         "GetPartition"),
        (lambda: catalog.get_partitions(DatabaseName=DB, TableName=TABLE,
                                        Expression="p_date >"), "InvalidInputException",
         "GetPartitions"),
    ]
    for call, code, op in cases:
        # WHEN the call is made
        with pytest.raises(ClientError) as err:
            call()
        # THEN it raises ClientError with Glue's code and operation name
        assert (_code(err), err.value.operation_name) == (code, op)


def test_malformed_calls_fail_as_boto3_fails_them(catalog: LocalGlueCatalog) -> None:
    """botocore validates parameters against AWS's model before sending; the twin applies
    the same model, so a call with a wrong name or shape fails here as it would on AWS."""
    from botocore.exceptions import ParamValidationError

    client: Any = catalog  # called wrongly on purpose: not for the type checker
    with pytest.raises(ParamValidationError, match='"Name"'):
        client.create_table(DatabaseName=DB, TableInput={})
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        client.get_table(DatabaseName=DB, TableName=TABLE)  # GetTable's key is Name
    with pytest.raises(ParamValidationError, match="PartitionValues"):
        client.get_partition(DatabaseName=DB, TableName=TABLE, PartitionValues="x")


def test_update_table_keeps_versions(catalog: LocalGlueCatalog) -> None:
    # GIVEN a table at version 0
    new_sd = {**SD, "Columns": [*SD["Columns"], {"Name": "extra", "Type": "string"}]}
    # WHEN it is updated twice
    for _ in range(2):
        catalog.update_table(DatabaseName=DB, TableInput={
            "Name": TABLE, "StorageDescriptor": new_sd,
            "PartitionKeys": [{"Name": "p_date", "Type": "string"}]})
    # THEN the current version is 2, the old definitions are kept, CreateTime unchanged
    table = catalog.get_table(DatabaseName=DB, Name=TABLE)["Table"]
    versions = catalog.get_table_versions(DatabaseName=DB, TableName=TABLE)["TableVersions"]
    assert table["VersionId"] == "2"
    assert [v["VersionId"] for v in versions] == ["2", "1", "0"]
    assert versions[-1]["Table"]["StorageDescriptor"]["Columns"] == SD["Columns"]
    assert table["StorageDescriptor"]["Columns"][-1]["Name"] == "extra"
    assert table["CreateTime"] == versions[-1]["Table"]["CreateTime"]
    # AND an update based on a stale version is refused
    with pytest.raises(ClientError) as err:
        catalog.update_table(DatabaseName=DB, TableInput={"Name": TABLE}, VersionId="1")
    assert _code(err) == "ConcurrentModificationException"


def test_batch_create_partition_reports_duplicates_and_bad_values(
        catalog: LocalGlueCatalog) -> None:
    # GIVEN one registered partition
    catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE,
                                   PartitionInputList=[_part("2024-01-01")])
    # WHEN a batch repeats it, adds a new one and one with too many values
    errors = catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE, PartitionInputList=[
        _part("2024-01-01"), _part("2024-01-02"),
        {"Values": ["a", "b"], "StorageDescriptor": SD}])["Errors"]
    # THEN the duplicate and the bad one are errors, the new one is created
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [
        (["2024-01-01"], "AlreadyExistsException"), (["a", "b"], "InvalidInputException")]
    got = catalog.get_partition(DatabaseName=DB, TableName=TABLE,
                                PartitionValues=["2024-01-02"])["Partition"]
    assert got["StorageDescriptor"]["Location"] == "s3://b/events/p=2024-01-02/"
    assert (got["DatabaseName"], got["TableName"]) == (DB, TABLE)
    # AND Glue's batch limit is enforced
    with pytest.raises(ClientError) as err:
        catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE, PartitionInputList=[
            _part(f"x{i}") for i in range(101)])
    assert _code(err) == "InvalidInputException"


def test_get_partitions_filters_and_paginates(catalog: LocalGlueCatalog) -> None:
    # GIVEN 30 daily partitions
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE,
                                   PartitionInputList=[_part(d) for d in days])
    # WHEN listing with an expression in pages of 7
    pages = list(catalog.get_paginator("get_partitions").paginate(
        DatabaseName=DB, TableName=TABLE, Expression="p_date >= '2024-01-11'", MaxResults=7))
    # THEN 20 partitions come back once each, over 3 pages, NextToken only when more remain
    got = [p["Values"][0] for page in pages for p in page["Partitions"]]
    assert got == days[10:]
    assert [len(p["Partitions"]) for p in pages] == [7, 7, 6]
    assert "NextToken" not in pages[-1]
    # AND ExcludeColumnSchema drops the columns
    one = catalog.get_partitions(DatabaseName=DB, TableName=TABLE, MaxResults=1,
                                 ExcludeColumnSchema=True)["Partitions"][0]
    assert "Columns" not in one["StorageDescriptor"]


def test_batch_get_update_and_delete_partitions(catalog: LocalGlueCatalog) -> None:
    # GIVEN two partitions
    catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE,
                                   PartitionInputList=[_part("a"), _part("b")])
    # WHEN batch-getting a known and an unknown one
    got = catalog.batch_get_partition(DatabaseName=DB, TableName=TABLE,
                                      PartitionsToGet=[{"Values": ["a"]}, {"Values": ["z"]}])
    # THEN the known one is returned and the unknown is unprocessed
    assert [p["Values"] for p in got["Partitions"]] == [["a"]]
    assert got["UnprocessedKeys"] == [{"Values": ["z"]}]
    # WHEN updating one's parameters
    catalog.update_partition(DatabaseName=DB, TableName=TABLE, PartitionValueList=["a"],
                             PartitionInput={**_part("a"), "Parameters": {"k": "v"}})
    # THEN the change is stored and the creation time kept
    after = catalog.get_partition(DatabaseName=DB, TableName=TABLE, PartitionValues=["a"])
    assert after["Partition"]["Parameters"] == {"k": "v"}
    # WHEN deleting one existing and one missing
    errors = catalog.batch_delete_partition(DatabaseName=DB, TableName=TABLE, PartitionsToDelete=[
        {"Values": ["a"]}, {"Values": ["zz"]}])["Errors"]
    # THEN only the missing one errors and the other is gone
    assert [e["ErrorDetail"]["ErrorCode"] for e in errors] == ["EntityNotFoundException"]
    assert catalog.list_partition_values(DatabaseName=DB, TableName=TABLE) == [["b"]]


def test_values_with_special_characters_round_trip(catalog: LocalGlueCatalog) -> None:
    # GIVEN values with separators, slashes, percent signs and unicode
    # (not "": Glue's model gives partition values a minimum length of 1)
    odd = ["a,b", "x/y", "50%", "é ü", ".hidden"]
    catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE,
                                   PartitionInputList=[_part(v) for v in odd])
    # WHEN listed
    # THEN each comes back exactly
    assert sorted(v[0] for v in catalog.list_partition_values(DatabaseName=DB,
                                                              TableName=TABLE)) == sorted(odd)
    assert catalog.get_partition(DatabaseName=DB, TableName=TABLE,
                                 PartitionValues=["x/y"])["Partition"]["Values"] == ["x/y"]


def test_state_persists_across_instances_and_delete_cascades(catalog: LocalGlueCatalog) -> None:
    # GIVEN a partition written by one instance
    catalog.batch_create_partition(DatabaseName=DB, TableName=TABLE,
                                   PartitionInputList=[_part("a")])
    # WHEN a second instance opens the same folder
    other = LocalGlueCatalog(catalog.root)
    # THEN it sees the table and partition
    assert other.get_partitions(DatabaseName=DB, TableName=TABLE)["Partitions"][0]["Values"] == \
        ["a"]
    # AND deleting the table removes its partitions
    other.delete_table(DatabaseName=DB, Name=TABLE)
    with pytest.raises(ClientError) as err:
        catalog.get_partitions(DatabaseName=DB, TableName=TABLE)
    assert _code(err) == "EntityNotFoundException"


def _add_days(root: str, prefix: str, n: int) -> int:
    cat = LocalGlueCatalog(Path(root))
    for i in range(n):
        cat.batch_create_partition(DatabaseName=DB, TableName=TABLE,
                                   PartitionInputList=[_part(f"{prefix}{i:03d}")])
        cat.update_table(DatabaseName=DB, TableInput={
            "Name": TABLE, "StorageDescriptor": SD,
            "PartitionKeys": [{"Name": "p_date", "Type": "string"}]}, SkipArchive=True)
    return n


def test_concurrent_writers_and_readers(catalog: LocalGlueCatalog) -> None:
    # GIVEN two writer processes adding partitions and updating the table,
    # and reader threads listing and reading meanwhile
    stop = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        reader = LocalGlueCatalog(catalog.root)
        while not stop.is_set():
            try:
                reader.get_table(DatabaseName=DB, Name=TABLE)
                for p in reader.get_partitions(DatabaseName=DB, TableName=TABLE)["Partitions"]:
                    assert p["StorageDescriptor"]["Location"].startswith("s3://b/events/")
            except BaseException as e:
                failures.append(e)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    # WHEN both writers run at once
    with ProcessPoolExecutor(2) as pool:
        done = list(pool.map(_add_days, [str(catalog.root)] * 2, ["w1-", "w2-"], [40, 40]))
    stop.set()
    for t in readers:
        t.join()
    # THEN readers never saw a partial file, every partition landed and versions are linear
    assert failures == []
    assert done == [40, 40]
    assert len(catalog.list_partition_values(DatabaseName=DB, TableName=TABLE)) == 80
    assert catalog.get_table(DatabaseName=DB, Name=TABLE)["Table"]["VersionId"] == "80"
