"""Pure checks of the per-environment settings, the translations and the staged assets."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from contracts.tables import RAW
from crawlers.specs import CrawlerSpec, default_specs
from infra.assets import build_wheel, stage_glue_assets, stage_image_context
from infra.config import ENVIRONMENTS, EnvConfigError, env_config
from infra.translate import asl_placeholders, crawler_properties, glue_table_input
from orchestration.state_machine import DEFINITION_PATH, PLACEHOLDER_NAMES

REPO = Path(__file__).resolve().parents[2]


def test_env_pipeline_names_carry_account_and_region_only_on_buckets() -> None:
    # GIVEN the dev environment
    dev = env_config("dev")
    # WHEN its pipeline names are derived
    cfg = dev.pipeline
    # THEN buckets are globally unique, other names are the pipeline's own
    assert cfg.lake_bucket == f"udp-lake-dev-{dev.account}-{dev.region}"
    assert cfg.errors_bucket == f"udp-errors-dev-{dev.account}-{dev.region}"
    assert cfg.raw_database == RAW.database
    assert cfg.transform_job == "udp-transform-users"
    assert cfg.max_concurrent_runs == dev.max_concurrent_runs
    assert all(len(dev.bucket(r)) <= 63 for r in ("lake", "errors", "scripts", "athena", "logs"))


@pytest.mark.parametrize(("change", "message"), [
    ({"account": "12345"}, "12-digit"),
    ({"region": "mars-1"}, "region"),
    ({"firehose_buffer_mb": 32}, ">= 64"),
    ({"transform_workers": 1}, "at least 2 workers"),
    ({"redshift_base_rpu": 12}, "multiple of 8"),
    ({"ingest_timeout_s": 600}, "shorter than the ingest interval"),
    ({"az_letters": ("a", "b")}, "3 distinct AZs"),
])
def test_env_config_rejects_unsafe_settings(change: dict[str, object], message: str) -> None:
    # GIVEN a valid environment WHEN one setting is made invalid THEN a one-line error says why
    with pytest.raises(EnvConfigError, match=message):
        replace(ENVIRONMENTS["dev"], **change)  # type: ignore[arg-type]


def test_unknown_environment_is_a_clear_error() -> None:
    with pytest.raises(EnvConfigError, match="unknown environment 'qa'; choose one of dev, prod"):
        env_config("qa")


def test_backfill_concurrency_fits_every_environment() -> None:
    # GIVEN the backfill definition's Map concurrency
    backfill = json.loads(DEFINITION_PATH.with_name("backfill.asl.json").read_text())
    concurrency = backfill["States"]["RunEachChunk"]["MaxConcurrency"]
    # THEN no environment's Glue jobs accept fewer concurrent runs
    assert all(concurrency <= env.max_concurrent_runs for env in ENVIRONMENTS.values())


def test_crawler_properties_are_the_specs_create_crawler_kwargs() -> None:
    # GIVEN the pipeline's crawler specs
    for spec in default_specs(env_config("dev").pipeline):
        kwargs = spec.to_create_crawler_kwargs("arn:aws:iam::1:role/r")
        # WHEN rendered as CloudFormation properties
        props = crawler_properties(spec, "arn:aws:iam::1:role/r", "sec")
        # THEN every API field is carried over unchanged, plus the security configuration
        assert {k: v for k, v in props.items() if k != "CrawlerSecurityConfiguration"} == {
            k: v for k, v in kwargs.items() if k != "TablePrefix" or v}
        assert props["CrawlerSecurityConfiguration"] == "sec"


def test_crawler_schedule_becomes_a_cloudformation_schedule_object() -> None:
    spec = CrawlerSpec(name="c", database="d", targets=("s3://b/t/",),
                       schedule="cron(0 1 * * ? *)")
    assert crawler_properties(spec, "role")["Schedule"] == {
        "ScheduleExpression": "cron(0 1 * * ? *)"}


def test_raw_table_input_follows_the_contract() -> None:
    # WHEN the raw table is declared from its contract
    table = glue_table_input(RAW, "s3://lake/raw/user_data/")
    # THEN columns, partition key and Parquet storage match the contract
    assert table["Name"] == RAW.name
    assert table["StorageDescriptor"]["Columns"] == RAW.glue_columns()
    assert table["PartitionKeys"] == [{"Name": "p_date", "Type": "string"}]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith(
        "ParquetHiveSerDe")


def test_asl_placeholders_match_the_names_the_deploy_sets() -> None:
    assert asl_placeholders(DEFINITION_PATH.read_text()) == set(PLACEHOLDER_NAMES)
    assert asl_placeholders('{"a": "${X} and ${Y_2}", "b": "$.c"}') == {"X", "Y_2"}


def test_wheel_is_reproducible_and_installable_by_name(tmp_path: Path) -> None:
    # GIVEN two builds of the project wheel from the same sources
    first = build_wheel(REPO, tmp_path / "one")
    second = build_wheel(REPO, tmp_path / "two")
    # THEN they are byte-identical, correctly named, and hold the packages and SQL files
    assert first.read_bytes() == second.read_bytes()
    assert first.name == "user_data_pipeline-0.1.0-py3-none-any.whl"
    names = zipfile.ZipFile(first).namelist()
    assert "glue_jobs/entrypoints/bulk_import.py" in names
    assert any(n.startswith("sql/redshift/") and n.endswith(".sql") for n in names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    record = zipfile.ZipFile(first).read("user_data_pipeline-0.1.0.dist-info/RECORD").decode()
    assert len(record.splitlines()) == len(names)


def test_glue_assets_and_image_context_are_staged(tmp_path: Path) -> None:
    # WHEN the assets are staged
    glue = stage_glue_assets(tmp_path / "glue")
    image = stage_image_context(tmp_path / "image")
    # THEN the scripts are the entrypoints, byte for byte, and the image context holds
    # exactly what the Dockerfile copies
    assert (glue.folder / glue.script_keys["transform_users"]).read_bytes() == (
        REPO / "glue_jobs/entrypoints/transform_users.py").read_bytes()
    assert (glue.folder / glue.wheel_key).is_file()
    assert sorted(p.name for p in image.iterdir()) == ["contracts", "ingest_lambda"]
    assert (image / "ingest_lambda" / "Dockerfile").is_file()
    assert not list(image.rglob("__pycache__"))
