"""The warehouse bootstrap: the nightly load's login, its schemas and its grants.

Run by the admin, never by the load: on AWS by the stack's ``WarehouseBootstrap`` custom
resource (:func:`handler`, a Lambda calling the Redshift Data API with the admin secret
Redshift manages), locally by the twin on the PostgreSQL admin connection (the Data API
twin, ``local_aws.redshift.data_api``). Both run :func:`bootstrap_warehouse`:

1. the login: ``create user`` (or ``alter user … password`` when it exists) from the load
   secret (``username``, ``password``);
2. ``sql/redshift/load_user.sql``: the three schemas, owned by the load user, and ``TEMP``
   on the database;
3. tables and views already in those schemas but owned by someone else (a warehouse first
   loaded as the admin) are handed over to the load user, one ``alter table`` each.

Every step is idempotent, so the custom resource runs it on create and on every update.
The per-load path (``ensure_schema`` of the adapters) creates only tables and views, in
schemas the load user owns.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sql import read_template

__all__ = ["LOAD_SCHEMAS", "BootstrapError", "BootstrapTarget", "DataApiSession",
           "bootstrap_warehouse", "grant_statements", "handler", "login_statement",
           "on_event"]

log = logging.getLogger(__name__)

LOAD_SCHEMAS = ("staging", "analytics", "audit")
"""The schemas the load owns (``sql/redshift/load_user.sql``)."""

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,126}")
# Redshift refuses these in a password (CREATE USER: "any printable ASCII character
# except ' (single quote), " (double quote), \, /, or @"); a space would end the token.
_PASSWORD_REFUSED = set("'\"\\/@ ")
_DONE = {"FINISHED"}
_FAILED = {"FAILED", "ABORTED"}


class BootstrapError(RuntimeError):
    """The bootstrap could not run; the message never holds the password."""


@dataclass(frozen=True)
class BootstrapTarget:
    """Where the bootstrap runs and with which secrets (ARNs or names)."""

    workgroup: str
    database: str
    admin_secret_arn: str
    load_secret_id: str


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise BootstrapError(f"{what} {value!r} is not a lower-case SQL identifier")
    return value


def login_statement(load_user: str, password: str, *, exists: bool) -> str:
    """``create user`` or, for an existing user, ``alter user`` with the password."""
    _identifier(load_user, "load user")
    if not 8 <= len(password) <= 64 or _PASSWORD_REFUSED & set(password) or not (
            any(c.islower() for c in password) and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)):
        raise BootstrapError("the load secret's password does not meet Redshift's rules "
                             "(8-64 characters, upper and lower case and a digit, none of "
                             "' \" \\ / @ or space)")
    verb = "alter" if exists else "create"
    return f"{verb} user {load_user} password '{password}'"


def _split(text: str) -> list[str]:
    statements, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        raise BootstrapError("load_user.sql ends without a ';'")
    return statements


def grant_statements(load_user: str, database: str) -> list[str]:
    """``sql/redshift/load_user.sql`` for this user and database, one statement each."""
    values = {"LOAD_USER": _identifier(load_user, "load user"),
              "DATABASE": _identifier(database, "database")}
    text = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)],
                  read_template("redshift/load_user.sql"))
    return _split(text)


_USER_EXISTS = "select usename from pg_user where usename = :load_user"
_NOT_OWNED = (
    "select schemaname, tablename from pg_tables "
    "where schemaname in ('staging', 'analytics', 'audit') and tableowner <> :load_user "
    "union all "
    "select schemaname, viewname from pg_views "
    "where schemaname in ('staging', 'analytics', 'audit') and viewowner <> :load_user")


class DataApiSession:
    """Statements through a ``redshift-data`` client (boto3's, or the local twin), each
    waited for: the Data API runs them asynchronously."""

    def __init__(self, client: Any, *, workgroup: str, database: str, secret_arn: str,
                 sleep: Callable[[float], None] = time.sleep, timeout_s: float = 600.0
                 ) -> None:
        self._client = client
        self._where = {"WorkgroupName": workgroup, "Database": database,
                       "SecretArn": secret_arn}
        self._sleep = sleep
        self._timeout_s = timeout_s

    def _wait(self, statement_id: str, what: str) -> None:
        waited, delay = 0.0, 0.25
        while True:
            described = self._client.describe_statement(Id=statement_id)
            status = described.get("Status", "")
            if status in _DONE:
                return
            if status in _FAILED:
                raise BootstrapError(f"{what} {status.lower()}: "
                                     f"{described.get('Error', 'no error given')}")
            if waited >= self._timeout_s:
                raise BootstrapError(f"{what} still {status} after {self._timeout_s:.0f} s")
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)

    def run(self, sqls: Sequence[str], what: str) -> None:
        """Run ``sqls`` as one transaction (BatchExecuteStatement)."""
        response = self._client.batch_execute_statement(Sqls=list(sqls), **self._where)
        self._wait(response["Id"], what)

    def query(self, sql_text: str, params: dict[str, str], what: str) -> list[list[str]]:
        """Rows of one query, every value as a string."""
        response = self._client.execute_statement(
            Sql=sql_text, Parameters=[{"name": k, "value": v} for k, v in params.items()],
            **self._where)
        self._wait(response["Id"], what)
        result = self._client.get_statement_result(Id=response["Id"])
        return [[str(next(iter(field.values()))) for field in record]
                for record in result["Records"]]


def bootstrap_warehouse(data_api: Any, secrets: Any, target: BootstrapTarget, *,
                        sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Create or update the load user, its schemas and grants (idempotent).

    Returns what was done (no password): ``load_user``, ``created`` (the login was new)
    and ``handed_over`` (``schema.name`` of each object given to the load user).
    """
    try:
        fields = json.loads(secrets.get_secret_value(
            SecretId=target.load_secret_id)["SecretString"])
        load_user, password = str(fields["username"]), str(fields["password"])
    except (ValueError, KeyError, TypeError):
        raise BootstrapError("the load secret is not JSON with username and password"
                             ) from None
    _identifier(load_user, "load user")
    session = DataApiSession(data_api, workgroup=target.workgroup, database=target.database,
                             secret_arn=target.admin_secret_arn, sleep=sleep)
    exists = bool(session.query(_USER_EXISTS, {"load_user": load_user},
                                "looking up the load user"))
    session.run([login_statement(load_user, password, exists=exists),
                 *grant_statements(load_user, target.database)],
                "creating the load user and its grants")
    objects = session.query(_NOT_OWNED, {"load_user": load_user},
                            "listing objects the load user does not own")
    handed = [f"{_identifier(schema, 'schema')}.{_identifier(name, 'table')}"
              for schema, name in objects]
    if handed:
        session.run([f"alter table {name} owner to {load_user}" for name in handed],
                    "handing existing tables and views to the load user")
    return {"load_user": load_user, "created": not exists, "handed_over": handed}


# ------------------------------------------------------------------ the custom resource


def on_event(event: dict[str, Any], clients: Any) -> dict[str, Any]:
    """The CloudFormation custom resource's answer (without sending it).

    ``clients`` gives ``redshift_data()``, ``redshift_serverless()`` and
    ``secretsmanager()``. Create and Update bootstrap the warehouse; Delete keeps the
    user and the data (a deleted stack with a retained namespace keeps its warehouse).
    """
    props = event.get("ResourceProperties", {})
    answer: dict[str, Any] = {
        "StackId": event.get("StackId"), "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "PhysicalResourceId": event.get("PhysicalResourceId")
        or f"{props.get('WorkgroupName')}/{props.get('Database')}/load-user"}
    try:
        if event.get("RequestType") in ("Create", "Update"):
            namespace = clients.redshift_serverless().get_namespace(
                namespaceName=props["NamespaceName"])["namespace"]
            admin_secret = namespace.get("adminPasswordSecretArn")
            if not admin_secret:
                raise BootstrapError(f"namespace {props['NamespaceName']} has no managed "
                                     "admin secret (ManageAdminPassword)")
            target = BootstrapTarget(workgroup=props["WorkgroupName"],
                                     database=props["Database"],
                                     admin_secret_arn=admin_secret,
                                     load_secret_id=props["LoadSecretArn"])
            done = bootstrap_warehouse(clients.redshift_data(), clients.secretsmanager(),
                                       target)
            answer["Data"] = {"LoadUser": done["load_user"]}
            log.info("warehouse bootstrap: %s", json.dumps(done))
        answer["Status"] = "SUCCESS"
    except Exception as exc:  # CloudFormation must get an answer, or it waits an hour
        log.exception("warehouse bootstrap failed")
        answer["Status"] = "FAILED"
        answer["Reason"] = f"{type(exc).__name__}: {exc}"[:1000]
    return answer


class _BotoClients:
    """The AWS clients (boto3 comes with the Lambda runtime)."""

    def redshift_data(self) -> Any:
        import boto3

        return boto3.client("redshift-data")

    def redshift_serverless(self) -> Any:
        import boto3

        return boto3.client("redshift-serverless")

    def secretsmanager(self) -> Any:
        import boto3

        return boto3.client("secretsmanager")


def _send(url: str, answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"content-type": "", "content-length":
                                              str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entrypoint of the ``Custom::WarehouseBootstrap`` resource."""
    logging.getLogger().setLevel(logging.INFO)
    _send(event["ResponseURL"], on_event(event, _BotoClients()))
