"""The Redshift adapter through ``redshift_connector`` against the real embedded PostgreSQL.

Only the ``COPY … FROM 's3://…' IAM_ROLE … FORMAT AS PARQUET`` step is replaced (it cannot
run on PostgreSQL, and the driver speaks no ``COPY FROM STDIN``): the test's copy step
inserts the partition's Parquet rows into ``stage_users`` with one parameterised
multi-row INSERT on the same driver connection and transaction. Everything else — the
Secrets Manager lookup (moto), the table lock, temp staging, dedupe table, counts, MERGE,
audit row, commit and rollback — is the adapter's production code path, sent by
``redshift_connector`` through a TCP proxy that strips the startup parameters PostgreSQL
rejects and checks the password the driver sends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from contracts.tables import USERS
from glue_jobs.redshift_warehouse import RedshiftSettings, RedshiftWarehouse, clear_secret_cache
from glue_jobs.warehouse_port import WarehouseLoadError, parquet_files
from local_aws.redshift.postgres_adapter import PostgresWarehouse
from local_aws.redshift.warehouse import LocalWarehouse
from tests.functional.pg_startup_proxy import PgStartupProxy, unix_socket_of

DAY = "2026-11-21"
ROLE = "arn:aws:iam::123456789012:role/udp-redshift-copy"
PASSWORD = "Rs-Pa55word-never-logged-7f3a"
SECRET_ID = "udp/redshift/loader"
COLUMNS = ", ".join(USERS.column_names)


def s3_uri(p_date: str) -> str:
    return f"s3://udp-lake/transform/users/p_date={p_date}/"


@pytest.fixture
def redshift(warehouse: LocalWarehouse) -> Iterator[dict[str, Any]]:
    """A proxy in front of a fresh database, and a moto secret pointing at it."""
    PostgresWarehouse(warehouse.uri).ensure_schema()  # PostgreSQL DDL; loads go via Redshift
    clear_secret_cache()
    with PgStartupProxy(unix_socket_of(warehouse.uri), require_password=PASSWORD) as proxy, \
            mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name=SECRET_ID, SecretString=json.dumps({
            "host": "127.0.0.1", "port": proxy.port, "dbname": warehouse.database,
            "username": "postgres", "password": PASSWORD}))
        yield {"proxy": proxy, "secrets": client, "wh": warehouse}
    clear_secret_cache()


def insert_fixture(folders: dict[str, Path]) -> Any:
    """Stand-in for COPY FROM S3: the s3 prefix's local Parquet rows, one INSERT."""
    def copy(cursor: Any, source_uri: str) -> None:
        table = pq.ParquetDataset(parquet_files(folders[source_uri])).read()
        values = [row[c] for row in table.to_pylist() for c in USERS.column_names]
        one = "(" + ", ".join(["%s"] * len(USERS.column_names)) + ")"
        cursor.execute(f"insert into stage_users ({COLUMNS}) values "
                       + ", ".join([one] * table.num_rows), values)
    return copy


def adapter(env: dict[str, Any], folders: dict[str, Path], **kwargs: Any) -> RedshiftWarehouse:
    return RedshiftWarehouse(RedshiftSettings(SECRET_ID, ROLE, ssl=False),
                             secrets_client=env["secrets"],
                             copy_step=insert_fixture(folders), **kwargs)


def rows(wh: LocalWarehouse, sql: str) -> list[tuple[Any, ...]]:
    with wh.connect() as conn:
        return conn.execute(sql.encode()).fetchall()


def test_load_through_redshift_connector_commits_merges_and_audits(
        redshift: dict[str, Any], make_users: Any, write_users: Any) -> None:
    # GIVEN a day of 12 rows in which one user appears twice (a Firehose retry)
    folders = {s3_uri(DAY): write_users(DAY, make_users(11), make_users(1, city="Again",
                                                                         batch_id="batch-2"))}
    port = adapter(redshift, folders)
    # WHEN the Redshift adapter loads it, twice
    first = port.load_partition(DAY, s3_uri(DAY), "rs-1")
    again = port.load_partition(DAY, s3_uri(DAY), "rs-2")
    # THEN the driver's transaction landed one row per user, the rerun changed nothing,
    # and both loads were audited with the same checksum
    wh = redshift["wh"]
    assert (first.rows_staged, first.rows_inserted, first.rows_updated) == (12, 11, 0)
    assert (again.rows_inserted, again.rows_updated, again.checksum) == (0, 0, first.checksum)
    assert rows(wh, "select count(*), count(distinct user_id) from analytics.users") == [
        (11, 11)]
    assert rows(wh, "select city from analytics.users where user_id like '%000000000000'"
                ) == [("Again",)]
    assert rows(wh, "select load_id, status, rows_staged from audit.load_log "
                    "order by started_at") == [("rs-1", "succeeded", 12),
                                               ("rs-2", "succeeded", 12)]
    # AND the connection used the secret's user and database, with the driver's extra
    # startup parameters stripped by the proxy
    startup = redshift["proxy"].startups[0]
    assert (startup["user"], startup["database"]) == ("postgres", wh.database)
    assert "client_protocol_version" not in startup


def test_failure_inside_the_transaction_rolls_back_through_the_driver(
        redshift: dict[str, Any], make_users: Any, write_users: Any) -> None:
    # GIVEN one day loaded, and a second load that fails after its MERGE
    folders = {s3_uri("2026-11-20"): write_users("2026-11-20", make_users(4)),
               s3_uri(DAY): write_users(DAY, make_users(6, start=4))}
    adapter(redshift, folders).load_partition("2026-11-20", s3_uri("2026-11-20"), "good")

    def die(step: str) -> None:
        if step == "merged":
            raise RuntimeError("node lost")

    # WHEN the failing load runs
    with pytest.raises(WarehouseLoadError, match="rolled back: RuntimeError: node lost"):
        adapter(redshift, folders, on_step=die).load_partition(DAY, s3_uri(DAY), "bad")
    # THEN its rows are gone, the earlier day is intact, and a failed audit row was
    # committed in a second transaction through the driver
    wh = redshift["wh"]
    assert rows(wh, "select p_date::text, count(*) from analytics.users group by 1") == [
        ("2026-11-20", 4)]
    assert rows(wh, "select load_id, status from audit.load_log order by started_at") == [
        ("good", "succeeded"), ("bad", "failed")]
    # AND the rerun converges
    rerun = adapter(redshift, folders).load_partition(DAY, s3_uri(DAY), "rerun")
    assert rerun.rows_inserted == 6


def test_credentials_come_from_secrets_manager_and_are_never_logged(
        redshift: dict[str, Any], make_users: Any, write_users: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN every logger at DEBUG (the driver logs its startup packet at DEBUG)
    caplog.set_level(logging.DEBUG)
    folders = {s3_uri(DAY): write_users(DAY, make_users(3))}
    port = adapter(redshift, folders)
    # WHEN a load succeeds and another fails
    port.load_partition(DAY, s3_uri(DAY), "ok")

    def die(step: str) -> None:
        if step == "copied":
            raise RuntimeError("boom")

    with pytest.raises(WarehouseLoadError) as failed:
        adapter(redshift, folders, on_step=die).load_partition(DAY, s3_uri(DAY), "ko")
    # THEN the proxy accepted the password from the secret (it refuses any other), and the
    # password appears in no log record, error or repr
    assert len(redshift["proxy"].startups) >= 2
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(failed.value) and PASSWORD not in repr(port)


def test_a_wrong_password_is_refused_before_any_sql(
        redshift: dict[str, Any], make_users: Any, write_users: Any) -> None:
    # GIVEN a secret whose password is not the one the (proxied) server accepts
    redshift["secrets"].put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({
        "host": "127.0.0.1", "port": redshift["proxy"].port,
        "dbname": redshift["wh"].database, "username": "postgres", "password": "wrong"}))
    clear_secret_cache()
    folders = {s3_uri(DAY): write_users(DAY, make_users(2))}
    # WHEN loading; THEN the connection fails and nothing was written
    with pytest.raises(Exception, match="password authentication failed"):
        adapter(redshift, folders).load_partition(DAY, s3_uri(DAY), "denied")
    assert rows(redshift["wh"], "select count(*) from audit.load_log") == [(0,)]
