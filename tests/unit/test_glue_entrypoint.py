"""The transform entrypoint's pure parts: job options, secrets, publish naming, and that
a bad date stops the script before any Glue or Spark object exists."""

from __future__ import annotations

import runpy
import sys
import types
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from contracts.dates import InvalidDate
from contracts.tables import USERS
from glue_jobs.publish import (
    InvalidRunId,
    new_run_id,
    run_folder_of,
    stale_versions,
    version_uri,
    versions_root,
)
from glue_jobs.secrets import SecretError, clear_secret_cache, get_secret_value
from glue_jobs.transform_job import (
    InvalidJobArguments,
    files_for,
    job_option_names,
    options_from_args,
)

ENTRYPOINT = Path(__file__).resolve().parents[2] / "glue_jobs/entrypoints/transform_users.py"
BASE = {"JOB_NAME": "j", "lake_uri": "s3://udp-lake", "salt_secret_id": "udp/salt"}


def test_option_names_follow_the_arguments_given() -> None:
    assert job_option_names(["x", "--p_date", "2026-11-22"]) == [
        "JOB_NAME", "lake_uri", "salt_secret_id", "p_date"]
    # Glue's reserved ids are never asked for: awsglue declares them itself
    assert job_option_names(["x", "--start_date", "a", "--JOB_RUN_ID", "jr_1"])[-2:] == [
        "start_date", "end_date"]
    # the nightly state machine's execution name, asked for only when given
    assert job_option_names(["x", "--p_date", "2026-11-22", "--run_key", "e-1"])[-2:] == [
        "p_date", "run_key"]


def test_a_nightly_day_carries_the_key_of_its_run_outcomes_record() -> None:
    opts = options_from_args({**BASE, "p_date": "2026-11-22", "run_key": "nightly-1"})
    assert (opts.days, opts.run_key, opts.chunk) == ((date(2026, 11, 22),), "nightly-1",
                                                    False)
    chunk = options_from_args({**BASE, "p_dates": '["2026-11-22"]', "run_key": "x-c0"})
    assert (chunk.run_key, chunk.chunk) == ("x-c0", True)
    assert options_from_args({**BASE, "p_date": "2026-11-22"}).run_key is None


def test_options_accept_one_day_or_a_range() -> None:
    assert options_from_args({**BASE, "p_date": "2026-11-22"}).days == (date(2026, 11, 22),)
    opts = options_from_args({**BASE, "start_date": "2026-02-27", "end_date": "2026-03-01",
                              "JOB_RUN_ID": "jr_abc"})
    assert opts.days == (date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1))
    assert opts.run_id == "jr_abc"


@pytest.mark.parametrize(("args", "error"), [
    ({"p_date": "2026-02-30"}, InvalidDate),
    ({"p_date": "2026-11-22' OR '1'='1"}, InvalidDate),
    ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, InvalidDate),
    ({"p_date": "2026-11-22", "start_date": "2026-11-01"}, InvalidJobArguments),
    ({}, InvalidJobArguments),
    ({"p_date": "2026-11-22", "lake_uri": "/tmp/lake"}, InvalidJobArguments),
    ({"p_date": "2026-11-22", "JOB_RUN_ID": "../x"}, InvalidRunId),
    ({"p_date": "2026-11-22", "run_key": "a/b"}, InvalidRunId),
    ({"start_date": "2026-11-01", "end_date": "2026-11-02", "run_key": "k"},
     InvalidJobArguments),
])
def test_bad_arguments_are_refused_with_a_clear_error(args: dict[str, str],
                                                      error: type[Exception]) -> None:
    with pytest.raises(error):
        options_from_args({**BASE, **args})


def test_an_invalid_date_stops_the_script_before_glue_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN AWS's awsglue argument parsing, and GlueContext/Job autospecced from AWS's
    # classes, which must never be built
    from unittest.mock import create_autospec

    import awsglue.utils
    from awsglue.context import GlueContext
    from awsglue.job import Job

    glue_context, job = create_autospec(GlueContext), create_autospec(Job)
    for name, mod in {"awsglue": types.ModuleType("awsglue"),
                      "awsglue.context": types.SimpleNamespace(GlueContext=glue_context),
                      "awsglue.job": types.SimpleNamespace(Job=job),
                      "awsglue.utils": awsglue.utils
                      }.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(sys, "argv", ["t", "--JOB_NAME", "j", "--p_date", "2026-13-01",
                                      "--lake_uri", "s3://udp-lake", "--salt_secret_id", "s"])
    # WHEN the script runs THEN it refuses the date and built nothing
    with pytest.raises(InvalidDate, match="2026-13-01"):
        runpy.run_path(str(ENTRYPOINT), run_name="__main__")
    glue_context.assert_not_called()
    job.assert_not_called()


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value, self.calls = value, 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.calls += 1
        return {"SecretString": self.value}


def test_secret_is_read_once_and_cached() -> None:
    clear_secret_cache()
    client = FakeSecrets("s3cr3t")
    assert get_secret_value("udp/salt", client) == "s3cr3t"
    assert get_secret_value("udp/salt", client) == "s3cr3t"
    assert client.calls == 1
    clear_secret_cache()
    assert get_secret_value("udp/salt", FakeSecrets('{"salt": "x"}'), key="salt") == "x"
    clear_secret_cache()


def test_secret_errors_never_show_the_content() -> None:
    clear_secret_cache()
    with pytest.raises(SecretError) as err:
        get_secret_value("udp/salt", FakeSecrets("not-json-s3cr3t"), key="salt")
    assert "s3cr3t" not in str(err.value)
    clear_secret_cache()


def test_version_folders_end_in_the_hive_partition() -> None:
    run = new_run_id(datetime(2026, 11, 23, 2, 3, 4, tzinfo=UTC))
    assert run.startswith("20261123T020304Z-")
    uri = version_uri("s3://udp-lake", USERS, "2026-11-22", run)
    root = versions_root("s3://udp-lake", USERS, "2026-11-22")
    assert uri == f"s3://udp-lake/transform/users/_versions/2026-11-22/{run}/p_date=2026-11-22/"
    assert run_folder_of(uri, root) == run
    assert run_folder_of("s3://udp-lake/transform/users/p_date=2026-11-22/", root) is None
    assert stale_versions(["a", "b", "c"], {"c", None, "a"}) == ["b"]


def test_files_per_partition_follow_rows() -> None:
    assert [files_for(n, 500_000, 64) for n in (0, 10, 500_000, 500_001, 10**9)] == [
        1, 1, 1, 2, 64]
