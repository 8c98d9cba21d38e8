"""The nightly load runs as the load user with exactly what the bootstrap grants it.

Real PostgreSQL (the Redshift twin): the deploy's bootstrap (glue_jobs.warehouse_bootstrap
through the Data API twin, as the admin) makes the user, its schemas and grants; then the
whole load (tables and views, lock, COPY, dedupe, MERGE, audit) runs logged in as that
user, never as the admin.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from botocore.stub import Stubber

from glue_jobs.bulk_import import run_bulk_import
from glue_jobs.warehouse_bootstrap import (
    LOAD_SCHEMAS,
    BootstrapError,
    BootstrapTarget,
    bootstrap_warehouse,
    grant_statements,
    login_statement,
    on_event,
)
from glue_jobs.warehouse_port import WarehouseLoadError
from local_aws.redshift.data_api import LocalRedshiftData
from local_aws.redshift.postgres_adapter import PostgresWarehouse
from local_aws.redshift.warehouse import LOAD_USER, LocalWarehouse, with_user
from local_aws.secretsmanager.client import LocalSecretsManager

DAY = "2026-11-21"
ADMIN_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:redshift!udp-dev-a1"
LOAD_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:udp/dev/redshift-load"


def _one(uri: str, query: str, *params: Any) -> Any:
    with psycopg.connect(uri) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _load(uri: str, write_users: Any, make_users: Any, n: int = 5) -> Any:
    return run_bulk_import(PostgresWarehouse(uri), DAY, write_users(DAY, make_users(n)))


def test_the_whole_load_runs_as_the_load_user(warehouse: LocalWarehouse, make_users: Any,
                                              write_users: Any) -> None:
    # GIVEN a warehouse bootstrapped as the deploy does (the fixture), and the load's login
    load_uri = with_user(warehouse.uri, LOAD_USER)
    assert _one(load_uri, "select session_user") == LOAD_USER
    assert _one(load_uri, "select rolsuper from pg_roles where rolname = session_user") is False
    # WHEN a day is loaded logged in as that user (tables and views first, then the script)
    result = _load(load_uri, write_users, make_users)
    # THEN it is loaded and audited, and everything the load made is the load user's
    assert (result.status, result.rows_inserted) == ("succeeded", 5)
    assert _one(warehouse.uri, "select count(*) from analytics.users") == 5
    owners = _one(warehouse.uri, "select array_agg(distinct tableowner::text) from pg_tables "
                                 "where schemaname = any(%s)", list(LOAD_SCHEMAS))
    assert owners == [LOAD_USER]


def test_the_load_user_holds_exactly_the_bootstrap_grants(warehouse: LocalWarehouse) -> None:
    uri = warehouse.uri
    # GIVEN the bootstrapped warehouse; THEN the load user has no role attribute beyond login
    attributes = _one(uri, "select array[rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
                           " rolbypassrls] from pg_roles where rolname = %s", LOAD_USER)
    assert attributes == [False] * 5
    # AND it owns exactly the three schemas of load_user.sql
    owned = _one(uri, "select array_agg(nspname::text order by nspname) from pg_namespace "
                      "where pg_get_userbyid(nspowner) = %s", LOAD_USER)
    assert owned == sorted(LOAD_SCHEMAS)
    # AND on the database it may connect and make temporary tables, but not create schemas
    privileges = {p: _one(uri, "select has_database_privilege(%s, current_database(), %s)",
                          LOAD_USER, p) for p in ("CONNECT", "TEMPORARY", "CREATE")}
    assert privileges == {"CONNECT": True, "TEMPORARY": True, "CREATE": False}
    # AND it cannot create anything in public
    assert _one(uri, "select has_schema_privilege(%s, 'public', 'CREATE')", LOAD_USER) is False


@pytest.mark.parametrize("take_away", [
    "alter schema staging owner to postgres",
    "alter schema analytics owner to postgres",
    "alter schema audit owner to postgres",
    # PostgreSQL and Redshift give PUBLIC temp by default; without it, the grant is needed
    "revoke temp on database {db} from public; revoke temp on database {db} from udp_load",
])
def test_each_grant_is_needed_by_the_load(warehouse: LocalWarehouse, make_users: Any,
                                          write_users: Any, take_away: str) -> None:
    # GIVEN the bootstrapped warehouse with one of its grants taken away by the admin
    with psycopg.connect(warehouse.uri, autocommit=True) as conn:
        for statement in take_away.format(db=warehouse.database).split("; "):
            conn.execute(statement)
    # WHEN the load runs as the load user THEN it is refused by the warehouse
    with pytest.raises((psycopg.errors.InsufficientPrivilege, WarehouseLoadError)):
        _load(with_user(warehouse.uri, LOAD_USER), write_users, make_users)


def test_the_bootstrap_is_idempotent_and_hands_over_what_the_admin_made(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a warehouse whose tables and views were made by the admin (loaded as the admin)
    PostgresWarehouse(warehouse.uri).ensure_schema()
    assert _one(warehouse.uri, "select tableowner from pg_tables where schemaname = "
                               "'analytics' and tablename = 'users'") == "postgres"
    data_api = LocalRedshiftData(warehouse.uri, workgroup="udp-dev", admin_secret_arn=ADMIN_SECRET)
    login = LocalSecretsManager({LOAD_SECRET: json.dumps(
        {"username": LOAD_USER, "password": "Secret1x2y3z"})})
    target = BootstrapTarget(workgroup="udp-dev", database=warehouse.database,
                             admin_secret_arn=ADMIN_SECRET, load_secret_id=LOAD_SECRET)
    # WHEN the bootstrap runs again (a stack update), twice
    first = bootstrap_warehouse(data_api, login, target)
    second = bootstrap_warehouse(data_api, login, target)
    # THEN the user was already there, the admin's tables and views went to the load user
    # once, and the load runs as that user
    assert first["created"] is False and "analytics.users" in first["handed_over"]
    assert "analytics.v_users_current" in first["handed_over"]
    assert second == {"load_user": LOAD_USER, "created": False, "handed_over": []}
    assert _load(with_user(warehouse.uri, LOAD_USER), write_users, make_users).status == (
        "succeeded")


def test_the_bootstrap_statements_come_from_load_user_sql() -> None:
    statements = grant_statements("udp_load", "udp")
    for schema in LOAD_SCHEMAS:
        assert f"create schema if not exists {schema} authorization udp_load" in statements
        assert f"alter schema {schema} owner to udp_load" in statements
    assert statements[-1] == "grant temp on database udp to udp_load"
    with pytest.raises(BootstrapError, match="identifier"):
        grant_statements("udp_load; drop table x", "udp")


@pytest.mark.parametrize("password", ["short1A", "no'quote1A", "nouppercase1", "NoDigitsHere"])
def test_a_password_redshift_refuses_is_reported_without_itself(password: str) -> None:
    with pytest.raises(BootstrapError) as info:
        login_statement("udp_load", password, exists=False)
    assert password not in str(info.value)


def test_a_failing_statement_fails_the_bootstrap_with_the_engines_message(
        warehouse: LocalWarehouse) -> None:
    # GIVEN a bootstrap whose database does not exist
    data_api = LocalRedshiftData(warehouse.uri, workgroup="udp-dev", admin_secret_arn=ADMIN_SECRET)
    login = LocalSecretsManager({LOAD_SECRET: json.dumps(
        {"username": LOAD_USER, "password": "Secret1x2y3z"})})
    target = BootstrapTarget(workgroup="udp-dev", database="no_such_db",
                             admin_secret_arn=ADMIN_SECRET, load_secret_id=LOAD_SECRET)
    # THEN it fails with one line naming the step and the cause, never the password
    with pytest.raises(BootstrapError, match="looking up the load user failed") as info:
        bootstrap_warehouse(data_api, login, target)
    assert "Secret1x2y3z" not in str(info.value)


class _Clients:
    def __init__(self, warehouse: LocalWarehouse, namespace: dict[str, Any]) -> None:
        import boto3

        self.serverless = boto3.client("redshift-serverless", region_name="eu-west-1",
                                       aws_access_key_id="x", aws_secret_access_key="x")
        self.stubber = Stubber(self.serverless)
        self.stubber.add_response("get_namespace", {"namespace": namespace},
                                  {"namespaceName": "udp-dev"})
        self.stubber.activate()
        self._warehouse = warehouse

    def redshift_serverless(self) -> Any:
        return self.serverless

    def redshift_data(self) -> Any:
        return LocalRedshiftData(self._warehouse.uri, workgroup="udp-dev",
                                 admin_secret_arn=ADMIN_SECRET)

    def secretsmanager(self) -> Any:
        return LocalSecretsManager({LOAD_SECRET: json.dumps(
            {"username": LOAD_USER, "password": "Secret1x2y3z"})})


def _event(request: str, database: str) -> dict[str, Any]:
    return {"RequestType": request, "StackId": "stack", "RequestId": "r1",
            "LogicalResourceId": "WarehouseBootstrap", "ResponseURL": "https://example.invalid",
            "ResourceProperties": {"NamespaceName": "udp-dev", "WorkgroupName": "udp-dev",
                                   "Database": database, "LoadSecretArn": LOAD_SECRET}}


def test_the_custom_resource_bootstraps_with_the_namespaces_admin_secret(
        warehouse_server: LocalWarehouse) -> None:
    fresh = LocalWarehouse(warehouse_server.data_dir, database="t_custom_resource").start()
    clients = _Clients(fresh, {"namespaceName": "udp-dev", "adminPasswordSecretArn":
                               ADMIN_SECRET})
    # WHEN CloudFormation creates the resource
    answer = on_event(_event("Create", fresh.database), clients)
    # THEN it succeeded, named the user, and the schemas are the load user's
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"] == {"LoadUser": LOAD_USER}
    assert answer["PhysicalResourceId"] == f"udp-dev/{fresh.database}/load-user"
    assert _one(fresh.uri, "select pg_get_userbyid(nspowner) from pg_namespace "
                           "where nspname = 'audit'") == LOAD_USER
    clients.stubber.assert_no_pending_responses()


def test_the_custom_resource_reports_a_namespace_without_a_managed_secret(
        warehouse: LocalWarehouse) -> None:
    clients = _Clients(warehouse, {"namespaceName": "udp-dev"})
    answer = on_event(_event("Update", warehouse.database), clients)
    assert answer["Status"] == "FAILED"
    assert "no managed admin secret" in answer["Reason"]


def test_deleting_the_custom_resource_keeps_the_user(warehouse: LocalWarehouse) -> None:
    answer = on_event({**_event("Delete", warehouse.database),
                       "PhysicalResourceId": "kept"}, object())
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("SUCCESS", "kept")
    assert _one(warehouse.uri, "select count(*) from pg_user where usename = %s",
                LOAD_USER) == 1
