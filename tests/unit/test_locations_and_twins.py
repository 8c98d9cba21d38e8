"""The one-definition modules: run dates' "day before", S3 addresses, Firehose prefixes,
and the Secrets Manager twin refusing what AWS refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from contracts.dates import InvalidDate, previous_day
from contracts.locations import FIREHOSE_PREFIX, partition_uri, table_uri
from contracts.pipeline import PipelineConfig
from contracts.tables import DQ_RESULTS, RAW, USERS
from local_aws.secretsmanager.client import LocalSecretsManager


def test_previous_day_is_the_utc_day_before_and_needs_an_offset() -> None:
    # GIVEN moments just after midnight UTC and just before midnight in UTC-5
    after_midnight = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    new_york_evening = datetime(2026, 2, 28, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    # THEN the day before is counted in UTC (leap years included) and naive times refused
    assert previous_day(after_midnight) == "2026-02-28"
    assert previous_day(new_york_evening) == "2026-02-28"
    assert previous_day(datetime(2024, 3, 1, 2, 0, tzinfo=UTC)) == "2024-02-29"
    with pytest.raises(InvalidDate, match="no UTC offset"):
        previous_day(datetime(2026, 3, 1, 2, 0))


def test_every_address_comes_from_one_builder() -> None:
    # GIVEN the default environment
    cfg = PipelineConfig()
    # THEN the config, the builders and the Firehose prefix agree on one spelling
    assert cfg.lake_uri == "s3://udp-lake"
    assert cfg.table_uri(USERS) == table_uri("s3://udp-lake/", USERS) == cfg.users_uri
    assert cfg.partition_uri(DQ_RESULTS, "2026-11-22") == partition_uri(
        cfg.lake_uri, DQ_RESULTS, "2026-11-22") == \
        f"s3://udp-lake/{DQ_RESULTS.prefix}/p_date=2026-11-22/"
    assert f"{RAW.prefix}/p_date=!{{timestamp:yyyy-MM-dd}}/" == FIREHOSE_PREFIX


def test_secrets_twin_answers_known_ids_and_refuses_unknown_ones() -> None:
    # GIVEN a twin holding one secret
    secrets = LocalSecretsManager({"udp/salt": "s3cr3t"})
    # THEN it answers that id like AWS, and an unknown id raises AWS's error, no fallback
    assert secrets.get_secret_value(SecretId="udp/salt")["SecretString"] == "s3cr3t"
    with pytest.raises(ClientError) as err:
        secrets.get_secret_value(SecretId="udp/other")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
