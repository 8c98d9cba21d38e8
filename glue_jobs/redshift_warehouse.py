"""Redshift adapter of the warehouse port (:mod:`glue_jobs.warehouse_port`).

``redshift_connector`` with credentials from Secrets Manager (cached); the bulk copy is
``COPY … FROM 's3://…' IAM_ROLE … FORMAT AS PARQUET`` and the day is locked with
``lock audit.load_log`` (a second load queues): the port's script, every statement sent
as written.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from contracts.tables import USERS, TableContract
from glue_jobs.secrets import guard_botocore_logs
from glue_jobs.warehouse_port import (
    CopyStep,
    InvalidLoadRequest,
    LoadResult,
    LoadSource,
    Statement,
    StepHook,
    commit_load,
    execute_statement,
    insert_audit,
    noop_step,
    read_statement,
    render_load_script,
    run_load_transaction,
    safe_close,
    safe_rollback,
    split_sql,
    utc_now,
    validate_load_id,
    validate_p_date,
)
from sql import read_sql

__all__ = ["RedshiftCredentials", "RedshiftSettings", "RedshiftWarehouse", "clear_secret_cache"]

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedshiftCredentials:
    """Connection settings read from a Secrets Manager secret (password never printed)."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_secret_string(cls, secret: str, database: str | None = None
                           ) -> RedshiftCredentials:
        """Parse the JSON shape Secrets Manager uses for Redshift secrets."""
        try:
            data = json.loads(secret)
            return cls(host=str(data["host"]), port=int(data.get("port", 5439)),
                       database=str(database or data.get("dbname") or data["database"]),
                       user=str(data["username"]), password=str(data["password"]))
        except (ValueError, KeyError, TypeError) as exc:
            # never echo the secret's content
            raise InvalidLoadRequest(
                f"Redshift secret is not the expected JSON ({type(exc).__name__}: "
                f"missing or malformed host/port/dbname/username/password)") from None


@dataclass(frozen=True)
class RedshiftSettings:
    """Where and how the Redshift adapter connects and loads."""

    secret_id: str
    iam_role_arn: str
    database: str | None = None
    ssl: bool = True
    secret_ttl_seconds: float = 300.0


_SECRET_CACHE: dict[str, tuple[float, RedshiftCredentials]] = {}
_SECRET_LOCK = threading.Lock()


def clear_secret_cache() -> None:
    """Forget cached credentials (tests; rotation)."""
    with _SECRET_LOCK:
        _SECRET_CACHE.clear()


def _credentials(client: Any, settings: RedshiftSettings) -> RedshiftCredentials:
    guard_botocore_logs()
    key = f"{settings.secret_id}|{settings.database}"
    now = time.monotonic()
    with _SECRET_LOCK:
        cached = _SECRET_CACHE.get(key)
        if cached and now - cached[0] < settings.secret_ttl_seconds:
            return cached[1]
    response = client.get_secret_value(SecretId=settings.secret_id)
    creds = RedshiftCredentials.from_secret_string(response["SecretString"],
                                                   settings.database)
    with _SECRET_LOCK:
        _SECRET_CACHE[key] = (now, creds)
    return creds


def _redshift_connect(creds: RedshiftCredentials, ssl: bool) -> Any:
    import redshift_connector

    return redshift_connector.connect(host=creds.host, port=creds.port,
                                      database=creds.database, user=creds.user,
                                      password=creds.password, ssl=ssl)


class RedshiftWarehouse:
    """Amazon Redshift through ``redshift_connector``; COPY from S3 with an IAM role.

    Parameters
    ----------
    settings:
        Secret id, IAM role for COPY, optional database override, SSL.
    secrets_client:
        A boto3 ``secretsmanager`` client (created lazily when omitted).
    connect:
        ``connect(credentials, ssl) -> DB-API connection``; defaults to
        ``redshift_connector.connect``.
    copy_step:
        Replaces only the ``COPY … FROM 's3://…'`` step (:data:`CopyStep`); the source is
        still validated and everything else runs as in production. Tests use it to drive
        the script through ``redshift_connector`` against PostgreSQL.
    """

    def __init__(self, settings: RedshiftSettings, *, secrets_client: Any = None,
                 connect: Callable[[RedshiftCredentials, bool], Any] | None = None,
                 copy_step: CopyStep | None = None, on_step: StepHook | None = None,
                 table: TableContract = USERS) -> None:
        self._settings = settings
        self._copy_step = copy_step
        self._client = secrets_client
        self._connect_fn = connect or _redshift_connect
        self._on_step = on_step or noop_step
        self._table = table

    def __repr__(self) -> str:
        return f"RedshiftWarehouse(secret_id={self._settings.secret_id!r})"

    def _connect(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        conn = self._connect_fn(_credentials(self._client, self._settings),
                                self._settings.ssl)
        conn.autocommit = False
        return conn

    def _in_transaction(self, work: Callable[[Any], T]) -> T:
        """``work(cursor)`` in one transaction on a new connection: committed when it
        returns, rolled back when it raises; the connection closed either way."""
        conn = self._connect()
        try:
            result = work(conn.cursor())
            conn.commit()
            return result
        except Exception:
            safe_rollback(conn)
            raise
        finally:
            safe_close(conn)

    def ensure_schema(self) -> None:
        """Apply Redshift tables and views (one statement per execute) in the schemas the
        load user owns; the deploy's bootstrap made those (glue_jobs.warehouse_bootstrap)."""
        files = ("redshift/tables.redshift.sql", "redshift/views.sql")

        def apply(cur: Any) -> None:
            for name in files:
                for statement in split_sql(read_sql(name)):
                    cur.execute(statement)
            cur.execute(read_statement("redshift/load_log_has_load_mode.sql"))
            if int(cur.fetchone()[0]) == 0:  # a warehouse made before the column existed
                cur.execute(read_statement("redshift/add_load_mode.redshift.sql"))

        self._in_transaction(apply)

    def load_partition(self, p_date: str, source: LoadSource, load_id: str, *,
                       replace: bool = False) -> LoadResult:
        """COPY ``s3://…/p_date=D/`` into staging, then the shared dedupe/MERGE/audit."""
        validate_p_date(p_date)
        validate_load_id(load_id)
        if not isinstance(source, str):
            raise InvalidLoadRequest("the Redshift adapter loads from an s3:// prefix")
        script = render_load_script(source, self._settings.iam_role_arn, p_date,
                                    replace=replace)
        started_at = utc_now()

        def run(cursor: Any, statement: Statement, params: Any) -> None:
            if statement.kind == "copy" and self._copy_step is not None:
                self._copy_step(cursor, source)
            else:
                execute_statement(cursor, statement, params)

        def transaction(cursor: Any) -> LoadResult:
            return run_load_transaction(cursor, script, p_date=p_date, load_id=load_id,
                                        started_at=started_at, run=run,
                                        on_step=self._on_step, table=self._table)

        return commit_load(self._connect(), self._table, self._record_failure, p_date=p_date,
                           load_id=load_id, started_at=started_at, transaction=transaction,
                           replace=replace)

    def erase(self, user_ids: Sequence[str], erasure_id: str) -> int:
        """The users' rows out of the model and staging tables and one count-only row in
        ``audit.erasure_log``, in one transaction (``glue_jobs.erasure_job``)."""
        from glue_jobs.erasure_job import erase_in_warehouse

        return self._in_transaction(
            lambda cur: erase_in_warehouse(cur, user_ids, erasure_id, utc_now()))

    def remaining(self, user_ids: Sequence[str]) -> int:
        """Rows of ``user_ids`` still in the model and staging tables."""
        from glue_jobs.erasure_job import rows_of_users

        conn = self._connect()
        try:
            return rows_of_users(conn.cursor(), user_ids)
        finally:
            safe_rollback(conn)
            safe_close(conn)

    def _record_failure(self, failed: LoadResult) -> None:
        try:
            conn = self._connect()
            try:
                insert_audit(conn.cursor(), failed)
                conn.commit()
            finally:
                safe_close(conn)
        except Exception:
            log.exception("could not record the failed load %s", failed.load_id)
