"""Unit tests of crawler specs (validation, create_crawler kwargs, defaults) and of the
crawl's pure type rules (Arrow -> Glue types, type-drift merging)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pytest

from contracts.glue_types import arrow_to_glue, parse_glue_type, render_type
from contracts.pipeline import PipelineConfig
from contracts.tables import DQ_RESULTS, MODEL_TABLES, RAW, USERS
from crawlers.specs import CrawlerSpec, CrawlerSpecError, default_specs
from local_aws.glue.schema_rules import (
    merge_columns,
    merge_types,
    schema_to_columns,
    split_folder_name,
)

AWS_NEW_FOLDERS_MESSAGE = ('The SchemaChangePolicy for "Crawl new folders only" Amazon S3 '
                           "target can have only LOG DeleteBehavior value and LOG "
                           "UpdateBehavior value.")


def spec(**kw: object) -> CrawlerSpec:
    base = CrawlerSpec(name="c", database="db", targets=("s3://bucket/raw/things/",))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("update", "delete"), [
    ("UPDATE_IN_DATABASE", "LOG"), ("LOG", "DEPRECATE_IN_DATABASE"),
    ("LOG", "DELETE_FROM_DATABASE"), ("UPDATE_IN_DATABASE", "DEPRECATE_IN_DATABASE"),
])
def test_new_folders_only_requires_log_log_with_aws_message(update: str, delete: str) -> None:
    # GIVEN an incremental crawler with a non-LOG schema change policy
    bad = spec(recrawl_policy="CRAWL_NEW_FOLDERS_ONLY", update_behavior=update,
               delete_behavior=delete)
    # WHEN validated
    # THEN it is rejected with AWS's own message
    with pytest.raises(CrawlerSpecError) as err:
        bad.validate()
    assert str(err.value) == AWS_NEW_FOLDERS_MESSAGE


def test_new_folders_only_with_log_log_is_valid() -> None:
    # GIVEN an incremental crawler with LOG / LOG
    good = spec(recrawl_policy="CRAWL_NEW_FOLDERS_ONLY", update_behavior="LOG",
                delete_behavior="LOG")
    # WHEN validated
    # THEN it passes and reports itself incremental
    assert good.validate().incremental


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"recrawl_policy": "SOMETIMES"}, "recrawlPolicy.recrawlBehavior"),
    ({"update_behavior": "MERGE"}, "schemaChangePolicy.updateBehavior"),
    ({"delete_behavior": "DROP"}, "schemaChangePolicy.deleteBehavior"),
    ({"targets": ()}, "at least one S3 target"),
    ({"targets": "s3://bucket/raw/"}, "at least one S3 target"),
    ({"targets": ("/tmp/raw",)}, "not an s3:// URI"),
    ({"targets": ("s3://bucket/",)}, "bucket root"),
    ({"targets": ("s3://a/x/t/", "s3://b/y/t/")}, "two targets map to one table"),
    ({"name": ""}, "crawler name"),
    ({"database": ""}, "DatabaseName is required"),
    ({"table_level": 2}, "table_level 2 does not match"),
])
def test_invalid_specs_are_rejected(kw: dict[str, object], fragment: str) -> None:
    # GIVEN a spec with one bad field
    # WHEN validated
    # THEN a one-line CrawlerSpecError names the problem
    with pytest.raises(CrawlerSpecError, match=None) as err:
        spec(**kw).validate()
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_create_crawler_kwargs() -> None:
    # GIVEN an incremental crawler spec with a prefix and an exclusion
    s = spec(table_prefix="x_", recrawl_policy="CRAWL_NEW_FOLDERS_ONLY", update_behavior="LOG",
             delete_behavior="LOG", exclusions=("**/_tmp/**",), schedule="cron(0 1 * * ? *)")
    # WHEN rendered for boto3
    kw = s.to_create_crawler_kwargs("arn:aws:iam::1:role/r")
    # THEN it carries every policy, the grouping level of the target and the inheritance
    assert kw["Name"] == "c" and kw["Role"] == "arn:aws:iam::1:role/r"
    assert kw["Targets"] == {"S3Targets": [{"Path": "s3://bucket/raw/things/",
                                            "Exclusions": ["**/_tmp/**"]}]}
    assert kw["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    assert kw["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert kw["TablePrefix"] == "x_" and kw["Schedule"] == "cron(0 1 * * ? *)"
    conf = json.loads(kw["Configuration"])
    assert conf["Grouping"] == {"TableLevelConfiguration": 3,
                                "TableGroupingPolicy": "CombineCompatibleSchemas"}
    assert conf["CrawlerOutput"]["Partitions"]["AddOrUpdateBehavior"] == "InheritFromTable"
    assert s.table_name(s.targets[0]) == "x_things"


def test_default_specs_match_the_contract_tables() -> None:
    # GIVEN the default pipeline config
    cfg = PipelineConfig()
    # WHEN building the default crawlers
    raw, transform = default_specs(cfg)
    # THEN raw is incremental over raw/user_data and transform follows transform/users,
    # and their table names are the contracts' table names
    assert (raw.name, raw.database, raw.targets) == (cfg.raw_crawler, cfg.raw_database,
                                                     ("s3://udp-lake/raw/user_data/",))
    assert raw.recrawl_policy == "CRAWL_NEW_FOLDERS_ONLY"
    assert (transform.name, transform.database) == (cfg.transform_crawler,
                                                    cfg.transform_database)
    assert raw.table_name(raw.targets[0]) == RAW.name
    # AND the transform crawler covers only dq_results: the model tables' data lives in
    # _versions/ folders it cannot usefully crawl (docs/operate/deploy-checks.md (d))
    assert transform.targets == (f"s3://udp-lake/{DQ_RESULTS.prefix}/",)
    assert transform.table_name(transform.targets[0]) == DQ_RESULTS.name
    # AND it skips the folder where a multi-day pass stages rows (one killed mid-pass
    # leaves them there; they belong to no partition)
    assert transform.exclusions == ("_staging/**",)


def test_transform_crawler_sees_data_where_the_job_writes_it(tmp_path: Path) -> None:
    """Every transform target has visible data: a crawler over a versioned model table
    would find none (its data is all under ``_versions/``)."""
    from local_aws.glue.crawl import discover_folders

    # GIVEN a lake laid out as the transform job writes it: model tables under
    # _versions/<day>/<run>/p_date=D/, dq_results in place under p_date=D/
    for table in MODEL_TABLES:
        folder = tmp_path / table.prefix / "_versions/2026-11-22/r1/p_date=2026-11-22"
        folder.mkdir(parents=True)
        (folder / "part-0.parquet").write_bytes(b"x")
    dq = tmp_path / DQ_RESULTS.prefix / "p_date=2026-11-22"
    dq.mkdir(parents=True)
    (dq / "part-0.parquet").write_bytes(b"x")
    left = tmp_path / DQ_RESULTS.prefix / "_staging/pass-1/p_date=2026-11-23"
    left.mkdir(parents=True)  # what a pass killed before its moves leaves behind
    (left / "part-0.parquet").write_bytes(b"x")
    _raw, transform = default_specs(PipelineConfig())
    # WHEN the crawl engine lists each target's data folders
    for target in transform.targets:
        prefix = target.split("/", 3)[3]
        found = discover_folders(tmp_path / prefix, exclusions=transform.exclusions)
        # THEN each target has its day's folder
        assert [f.values for f in found] == [("2026-11-22",)], target
    # AND a model table, had it been a target, would have shown nothing
    assert discover_folders(tmp_path / MODEL_TABLES[0].prefix) == []


# ------------------------------------------------------------ crawl type rules


def test_arrow_types_map_to_glue_types() -> None:
    # GIVEN Arrow types of every family
    cases = {
        pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
        pa.float32(): "float", pa.float64(): "double", pa.bool_(): "boolean",
        pa.string(): "string", pa.large_string(): "string", pa.binary(): "binary",
        pa.date32(): "date", pa.timestamp("us", tz="UTC"): "timestamp",
        pa.decimal128(12, 3): "decimal(12,3)",
        pa.list_(pa.int32()): "array<int>",
        pa.map_(pa.string(), pa.int64()): "map<string,bigint>",
        pa.struct([("a", pa.int32()), ("b", pa.list_(pa.struct([("c", pa.string())])))]):
            "struct<a:int,b:array<struct<c:string>>>",
        pa.dictionary(pa.int32(), pa.string()): "string",
    }
    # WHEN mapped
    # THEN each gets the Glue type a crawler writes
    assert {str(k): render_type(arrow_to_glue(k)) for k in cases} == \
        {str(k): v for k, v in cases.items()}


def test_contract_arrow_schema_infers_the_contract_glue_columns() -> None:
    # GIVEN the raw and users contracts (Arrow schema and Glue columns from one source)
    for table in (RAW, USERS):
        # WHEN the crawler infers Glue columns from the Arrow schema
        inferred = [{"Name": n, "Type": render_type(t)}
                    for n, t in schema_to_columns(table.arrow_schema()).items()]
        # THEN they equal the contract's Glue columns
        assert inferred == table.glue_columns()


@pytest.mark.parametrize("text", ["int", "decimal(10,2)", "array<map<string,int>>",
                                  "struct<a:int,b:struct<c:array<string>>,d:decimal(5,1)>"])
def test_glue_type_strings_round_trip(text: str) -> None:
    # GIVEN a Glue type string
    # WHEN parsed and rendered back
    # THEN it is unchanged
    assert render_type(parse_glue_type(text)) == text


@pytest.mark.parametrize(("a", "b", "merged", "drift"), [
    ("int", "bigint", "bigint", False),
    ("bigint", "int", "bigint", False),
    ("int", "double", "double", False),
    ("float", "double", "double", False),
    ("decimal(10,2)", "decimal(12,4)", "decimal(12,4)", False),
    ("decimal(10,2)", "decimal(6,4)", "decimal(12,4)", False),
    ("int", "decimal(5,2)", "decimal(12,2)", False),
    ("date", "timestamp", "timestamp", False),
    ("int", "string", "string", True),
    ("boolean", "int", "string", True),
    ("struct<a:int>", "string", "string", True),
    ("struct<a:int,b:string>", "struct<a:bigint,c:date>", "struct<a:bigint,b:string,c:date>",
     False),
    ("array<int>", "array<string>", "array<string>", True),
    ("map<string,int>", "map<string,bigint>", "map<string,bigint>", False),
])
def test_type_drift_rule(a: str, b: str, merged: str, drift: bool) -> None:
    # GIVEN two types seen for one column
    notes: list[str] = []
    # WHEN merged
    got = merge_types(parse_glue_type(a), parse_glue_type(b), "col", notes)
    # THEN the documented rule gives the result, and every change is logged
    assert render_type(got) == merged
    assert any("type drift" in n for n in notes) == drift
    assert bool(notes) == (merged != a)


def test_merge_columns_appends_new_columns_in_order() -> None:
    # GIVEN an old schema and a newer file with one more column and a flipped type
    notes: list[str] = []
    old = {"a": parse_glue_type("int"), "b": parse_glue_type("string")}
    new = {"c": parse_glue_type("date"), "a": parse_glue_type("string")}
    # WHEN merged
    out = merge_columns(old, new, notes)
    # THEN old order is kept, the new column appended, the drift logged
    assert [(k, render_type(v)) for k, v in out.items()] == [("a", "string"), ("b", "string"),
                                                             ("c", "date")]
    assert any("columns added: c" in n for n in notes)
    assert any("column a: type drift int vs string -> string" in n for n in notes)


def test_split_folder_name() -> None:
    # GIVEN hive-style and plain folder names
    # WHEN split
    # THEN key=value gives the pair, a plain name gets Glue's partition_<level> key
    assert split_folder_name("p_date=2024-01-01", 0) == ("p_date", "2024-01-01")
    assert split_folder_name("P_Date=a=b", 0) == ("p_date", "a=b")
    assert split_folder_name("2024", 1) == ("partition_1", "2024")
