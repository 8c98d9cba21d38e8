"""Contract tests of the AWS side with moto: partition Expressions and crawler creation.

One parametrised test runs each expression against the local catalog twin and against
moto's Glue (same tables, same partitions) and asserts both return the same partitions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from contracts.pipeline import PipelineConfig
from crawlers.specs import default_specs
from local_aws.glue.catalog import LocalGlueCatalog

DB = "contract"
DATES = ["2023-12-31", "2024-01-01", "2024-01-02", "2024-01-09", "2024-01-10", "2024-01-31",
         "2024-02-01", "2024-02-29", "2024-10-01", "2024-12-31", "2025-01-01"]
HOURS = ["0", "5", "9", "10", "11", "23"]

# (table, expression) — "events" has p_date string; "hourly" has p_date string + p_hour int.
CASES: list[tuple[str, str]] = [
    ("events", "p_date = '2024-01-02'"),
    ("events", "p_date <> '2024-01-02'"),
    ("events", "p_date > '2024-01-09'"),
    ("events", "p_date >= '2024-01-09'"),
    ("events", "p_date < '2024-01-09'"),
    ("events", "p_date <= '2024-01-09'"),
    ("events", "p_date BETWEEN '2024-01-01' AND '2024-01-31'"),
    ("events", "p_date NOT BETWEEN '2024-01-01' AND '2024-01-31'"),
    ("events", "p_date IN ('2024-01-01', '2024-02-29', '1999-01-01')"),
    ("events", "p_date NOT IN ('2024-01-01', '2024-02-29')"),
    ("events", "p_date LIKE '2024-01-%'"),
    ("events", "p_date LIKE '2024-0_-01'"),
    ("events", "p_date NOT LIKE '2024%'"),
    ("events", "p_date like '%-31'"),
    ("events", "p_date >= '2024-01-01' AND p_date < '2024-02-01'"),
    ("events", "p_date = '2023-12-31' OR p_date = '2025-01-01'"),
    ("events", "p_date > '2024-01-01' AND p_date < '2024-01-10' OR p_date = '2025-01-01'"),
    ("events", "p_date > '2024-01-01' AND (p_date < '2024-01-10' OR p_date = '2025-01-01')"),
    ("events", "(p_date = '2024-01-01' OR p_date = '2024-01-02') AND p_date <> '2024-01-02'"),
    ("events", "p_date > '2024'"),
    ("events", "p_date < '2024-1-5'"),
    ("events", "p_date = 'no-such-day'"),
    ("hourly", "p_hour = 9"),
    ("hourly", "p_hour > 9"),
    ("hourly", "p_hour >= 10 AND p_hour < 23"),
    ("hourly", "p_hour BETWEEN 5 AND 10"),
    ("hourly", "p_hour IN (0, 23)"),
    ("hourly", "p_hour NOT IN (0, 23) AND p_date = '2024-01-02'"),
    ("hourly", "p_hour <> 5"),
    ("hourly", "p_hour < '10'"),
    ("hourly", "p_date = '2024-01-01' AND p_hour > 9 OR p_hour = 0"),
]

# Where moto differs from Glue's documented Expression syntax (SQL WHERE semantics, parsed
# by JSQLParser): the twin follows Glue; tests/unit/test_partition_expr.py covers these.
_MOTO_GAP = "moto differs from documented Glue semantics: "
DIVERGENT = [
    pytest.param("events", "p_date BETWEEN '2024-01-31' AND '2024-01-01'", marks=pytest.mark.skip(
        reason=_MOTO_GAP + "moto treats reversed BETWEEN bounds as an exclusive symmetric "
        "range; SQL BETWEEN with low > high selects nothing")),
    pytest.param("events", "NOT p_date = '2024-01-01'", marks=pytest.mark.skip(
        reason=_MOTO_GAP + "moto rejects a standalone NOT, which Glue lists as an operator")),
    pytest.param("events", "p_date != '2024-01-01'", marks=pytest.mark.skip(
        reason=_MOTO_GAP + "moto rejects !=, which JSQLParser (Glue's parser) accepts")),
    pytest.param("events", "'2024-01-01' = p_date", marks=pytest.mark.skip(
        reason=_MOTO_GAP + "moto rejects a literal on the left of a comparison")),
]

BAD: list[tuple[str, str]] = [
    ("events", "p_date >"),
    ("events", "p_date = '2024-01-01' AND"),
    ("events", "p_date == '2024-01-01'"),
    ("events", "p_date IN ()"),
    ("hourly", "p_hour = 'ten'"),
    ("hourly", "p_hour LIKE '1%'"),
]


def _tables() -> dict[str, dict[str, Any]]:
    return {
        "events": {"keys": [{"Name": "p_date", "Type": "string"}],
                   "values": [[d] for d in DATES]},
        "hourly": {"keys": [{"Name": "p_date", "Type": "string"},
                            {"Name": "p_hour", "Type": "int"}],
                   "values": [[d, h] for d in DATES[1:4] for h in HOURS]},
    }


def _load(glue: Any) -> None:
    glue.create_database(DatabaseInput={"Name": DB})
    for name, t in _tables().items():
        location = f"s3://bucket/{name}/"
        sd: dict[str, Any] = {"Columns": [{"Name": "x", "Type": "string"}], "Location": location}
        glue.create_table(DatabaseName=DB, TableInput={
            "Name": name, "StorageDescriptor": sd, "PartitionKeys": t["keys"]})
        glue.batch_create_partition(DatabaseName=DB, TableName=name, PartitionInputList=[
            {"Values": v, "StorageDescriptor": {**sd, "Location": f"{location}{i}/"}}
            for i, v in enumerate(t["values"])])


@pytest.fixture(scope="module")
def moto_glue() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1")
        _load(client)
        yield client


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> LocalGlueCatalog:
    catalog = LocalGlueCatalog(Path(tmp_path_factory.mktemp("catalog")))
    _load(catalog)
    return catalog


def _values(glue: Any, table: str, expression: str) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=DB, TableName=table, Expression=expression):
        out.update(tuple(p["Values"]) for p in page["Partitions"])
    return out


@pytest.mark.parametrize(("table", "expression"), [*CASES, *DIVERGENT],
                         ids=[e for _, e in CASES] + [str(p.values[1]) for p in DIVERGENT])
def test_twin_and_moto_select_the_same_partitions(moto_glue: Any, twin: LocalGlueCatalog,
                                                  table: str, expression: str) -> None:
    # GIVEN the same partitions registered in moto and in the twin
    # WHEN both filter them with the same Expression
    expected = _values(moto_glue, table, expression)
    got = _values(twin, table, expression)
    # THEN they return the same partitions
    assert got == expected


def test_cases_are_discriminating(twin: LocalGlueCatalog) -> None:
    # GIVEN the expression table
    # WHEN each is evaluated on the twin
    sizes = {expr: len(_values(twin, table, expr)) for table, expr in CASES}
    # THEN there are >= 25 and most select a proper, non-empty subset (a test that could
    # pass with "return everything" or "return nothing" would prove little)
    assert len(CASES) >= 25
    total = {"events": len(DATES), "hourly": 3 * len(HOURS)}
    proper = [e for t, e in CASES if 0 < sizes[e] < total[t]]
    assert len(proper) >= len(CASES) - 2


@pytest.mark.parametrize(("table", "expression"), BAD, ids=[e for _, e in BAD])
def test_twin_and_moto_both_reject_bad_expressions(moto_glue: Any, twin: LocalGlueCatalog,
                                                   table: str, expression: str) -> None:
    # GIVEN a malformed or ill-typed expression
    # WHEN both are asked for partitions
    # THEN both reply InvalidInputException
    for glue in (moto_glue, twin):
        with pytest.raises(ClientError) as err:
            glue.get_partitions(DatabaseName=DB, TableName=table, Expression=expression)
        assert err.value.response["Error"]["Code"] == "InvalidInputException"


def test_batch_create_duplicate_errors_match_moto(moto_glue: Any, twin: LocalGlueCatalog) -> None:
    # GIVEN a partition that already exists in both
    dup = [{"Values": [DATES[0]], "StorageDescriptor": {"Location": "s3://bucket/dup/"}}]
    # WHEN it is created again
    errs = [g.batch_create_partition(DatabaseName=DB, TableName="events",
                                     PartitionInputList=dup)["Errors"]
            for g in (moto_glue, twin)]
    # THEN both report one AlreadyExistsException for those values
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errs[0]] == \
        [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errs[1]] == \
        [([DATES[0]], "AlreadyExistsException")]


def test_missing_entities_raise_the_same_codes(moto_glue: Any, twin: LocalGlueCatalog) -> None:
    # GIVEN both catalogs
    calls = [
        lambda g: g.get_table(DatabaseName=DB, Name="nope"),
        lambda g: g.get_database(Name="nope"),
        lambda g: g.get_partition(DatabaseName=DB, TableName="events",
                                  PartitionValues=["1999-01-01"]),
        lambda g: g.create_database(DatabaseInput={"Name": DB}),
    ]
    for call in calls:
        codes = []
        for g in (moto_glue, twin):
            # WHEN a missing (or duplicate) entity is addressed
            with pytest.raises(ClientError) as err:
                call(g)
            codes.append(err.value.response["Error"]["Code"])
        # THEN both raise the same Glue error code
        assert codes[0] == codes[1]


def test_crawlers_from_specs_are_accepted_by_the_glue_api() -> None:
    # GIVEN the pipeline's crawler specs
    specs = default_specs(PipelineConfig())
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        for spec in specs:
            glue.create_database(DatabaseInput={"Name": spec.database})
            # WHEN each is created through the Glue API
            glue.create_crawler(**spec.to_create_crawler_kwargs(
                "arn:aws:iam::123456789012:role/udp-crawler"))
        # THEN Glue stores them with the spec's policies, targets and grouping
        for spec in specs:
            got = glue.get_crawler(Name=spec.name)["Crawler"]
            assert got["DatabaseName"] == spec.database
            assert [t["Path"] for t in got["Targets"]["S3Targets"]] == list(spec.targets)
            assert got["RecrawlPolicy"]["RecrawlBehavior"] == spec.recrawl_policy
            assert got["SchemaChangePolicy"] == {"UpdateBehavior": spec.update_behavior,
                                                 "DeleteBehavior": spec.delete_behavior}
            assert json.loads(got["Configuration"])["Grouping"]["TableLevelConfiguration"] == 3
            assert got["State"] == "READY"
