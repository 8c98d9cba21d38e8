"""Pure parts of the warehouse port and the Redshift adapter's transaction handling (fakes)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from glue_jobs.bulk_import import options_from_resolved, partition_uri, run_bulk_import
from glue_jobs.publish import manifest_uri
from glue_jobs.redshift_warehouse import (
    RedshiftCredentials,
    RedshiftSettings,
    RedshiftWarehouse,
    clear_secret_cache,
)
from glue_jobs.warehouse_port import (
    InvalidLoadRequest,
    WarehouseLoadError,
    render_copy_from_s3,
    split_sql,
    validate_p_date,
)

ROLE = "arn:aws:iam::123456789012:role/udp-redshift-copy"
URI = "s3://udp-lake/transform/users/p_date=2026-11-21/"
SECRET = json.dumps({"host": "cluster.example", "port": 5439, "dbname": "dev",
                     "username": "loader", "password": "s3cr3t-Value"})


@pytest.mark.parametrize("bad", ["2026-1-21", "2026-11-31", "21-11-2026", "2026-11-21 ",
                                 "2026-11-21'; drop table x; --", ""])
def test_p_date_must_be_a_real_iso_day(bad: str) -> None:
    with pytest.raises(InvalidLoadRequest):
        validate_p_date(bad)


def test_split_sql_drops_comments_and_keeps_dollar_bodies() -> None:
    text = "-- c\ncreate schema a;\n\ncreate function f() returns int as $$\n select 1;\n$$;\n"
    assert split_sql(text) == ["create schema a",
                               "create function f() returns int as $$\n select 1;\n$$"]


def test_copy_from_s3_is_rendered_only_for_the_matching_partition_and_a_role() -> None:
    sql = render_copy_from_s3(URI, ROLE, "2026-11-21")
    assert f"from '{manifest_uri(URI)}'" in sql and f"iam_role '{ROLE}'" in sql
    assert "format as parquet\nmanifest" in sql
    with pytest.raises(InvalidLoadRequest, match="not the p_date=2026-11-22/ partition"):
        render_copy_from_s3(URI, ROLE, "2026-11-22")
    with pytest.raises(InvalidLoadRequest, match="s3:// prefix"):
        render_copy_from_s3("s3://udp-lake/x' iam_role 'y/", ROLE, "2026-11-21")
    with pytest.raises(InvalidLoadRequest, match="IAM role ARN"):
        render_copy_from_s3(URI, "arn:aws:iam::1:role/x'", "2026-11-21")


def test_job_options_are_validated_into_settings() -> None:
    opts = options_from_resolved({"p_date": "2026-11-21", "table_uri": "s3://udp-lake/"
                                  "transform/users", "secret_id": "udp/redshift",
                                  "iam_role_arn": ROLE})
    assert opts.source_uri == URI
    assert opts.redshift == RedshiftSettings("udp/redshift", ROLE)
    with pytest.raises(InvalidLoadRequest, match="missing job argument"):
        options_from_resolved({"p_date": "2026-11-21"})
    with pytest.raises(InvalidLoadRequest):
        partition_uri("/local/path", "2026-11-21")


def test_credentials_never_show_the_password() -> None:
    creds = RedshiftCredentials.from_secret_string(SECRET)
    assert "s3cr3t-Value" not in repr(creds)
    with pytest.raises(InvalidLoadRequest) as err:
        RedshiftCredentials.from_secret_string('{"password": "s3cr3t-Value"}')
    assert "s3cr3t-Value" not in str(err.value)


@dataclass
class FakeSecrets:
    calls: int = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.calls += 1
        return {"SecretString": SECRET}


@dataclass
class FakeCursor:
    log: list[str]
    fail_on: str | None = None
    last: str = ""

    def execute(self, sql: str, params: Any = None) -> None:
        self.log.append(" ".join(sql.split())[:60])
        self.last = sql
        if self.fail_on and self.fail_on in sql:
            raise RuntimeError(f"boom at {self.fail_on}")

    def fetchone(self) -> tuple[int, Any]:
        # stage_summary.sql -> (rows_staged, checksum); latest_counts.sql -> (ins, upd)
        return (3, "42") if "rows_staged" in self.last else (2, 1)


@dataclass
class FakeConnection:
    log: list[str]
    fail_on: str | None = None
    autocommit: bool = True
    events: list[str] = field(default_factory=list)

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log, self.fail_on)

    def commit(self) -> None:
        self.events.append("commit")

    def rollback(self) -> None:
        self.events.append("rollback")

    def close(self) -> None:
        self.events.append("close")


def _adapter(fail_on: str | None = None) -> tuple[RedshiftWarehouse, list[FakeConnection],
                                                  FakeSecrets]:
    clear_secret_cache()
    conns: list[FakeConnection] = []
    secrets = FakeSecrets()

    def connect(creds: RedshiftCredentials, ssl: bool) -> FakeConnection:
        assert (creds.host, creds.user, ssl) == ("cluster.example", "loader", True)
        conns.append(FakeConnection([], fail_on if not conns else None))
        return conns[-1]

    return (RedshiftWarehouse(RedshiftSettings("udp/redshift", ROLE), secrets_client=secrets,
                              connect=connect), conns, secrets)


def test_redshift_load_runs_lock_copy_dedupe_merge_audit_in_one_transaction() -> None:
    # GIVEN the adapter over a fake driver; WHEN a day is loaded
    port, conns, _ = _adapter()
    result = port.load_partition("2026-11-21", URI, "load-1")
    # THEN one connection ran the script in order, without autocommit, then committed
    statements = conns[0].log
    order = ["lock audit.load_log", "create temp table stage_users", "copy stage_users",
             "insert into stage_users_latest", "merge into analytics.users",
             "insert into audit.load_log"]
    positions = [next(i for i, s in enumerate(statements) if s.startswith(o)) for o in order]
    assert positions == sorted(positions)
    assert not any(s.startswith("truncate") for s in statements)
    assert conns[0].autocommit is False and conns[0].events == ["commit", "close"]
    assert (result.rows_staged, result.rows_inserted, result.rows_updated) == (3, 2, 1)


def test_redshift_failure_rolls_back_and_audits_in_a_second_transaction(
        caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a MERGE that fails; WHEN loaded
    port, conns, secrets = _adapter(fail_on="merge into")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WarehouseLoadError, match="rolled back: RuntimeError: boom"):
        run_bulk_import(port, "2026-11-21", URI, load_id="load-2", ensure_schema=False)
    # THEN the load's transaction rolled back, a failed row was committed separately,
    # credentials were fetched once (cached) and never logged
    assert conns[0].events == ["rollback", "close"]
    assert conns[1].log[0].startswith("insert into audit.load_log")
    assert conns[1].events == ["commit", "close"]
    assert secrets.calls == 1
    assert "s3cr3t-Value" not in caplog.text


def test_redshift_adapter_refuses_local_paths() -> None:
    port, _, _ = _adapter()
    with pytest.raises(InvalidLoadRequest, match="s3:// prefix"):
        port.load_partition("2026-11-21", "/tmp/users/p_date=2026-11-21/", "x")


@pytest.mark.parametrize(("has_column", "altered"), [(0, True), (1, False)])
def test_redshift_schema_adds_load_mode_to_an_older_audit_table_once(
        monkeypatch: pytest.MonkeyPatch, has_column: int, altered: bool) -> None:
    # GIVEN a warehouse whose audit.load_log has (1) or lacks (0) the load_mode column
    monkeypatch.setattr(FakeCursor, "fetchone",
                        lambda self: (has_column,) if "load_mode" in self.last else (2, 1))
    port, conns, _ = _adapter()
    # WHEN the schema is applied
    port.ensure_schema()
    # THEN the column is added only when missing (Redshift has no ADD COLUMN IF NOT EXISTS)
    statements = conns[0].log
    assert any(s.startswith("select count(*) from information_schema.columns")
               for s in statements)
    assert any(s.startswith("alter table audit.load_log add column load_mode")
               for s in statements) is altered
    assert conns[0].events == ["commit", "close"]
