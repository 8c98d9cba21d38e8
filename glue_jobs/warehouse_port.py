"""Warehouse port: load one ``p_date`` partition of the users table, in one transaction.

Two adapters share the SQL files (``sql/redshift/*.sql``) and the transaction script
(:func:`run_load_transaction`); three edges differ, and the twin takes a faster route
through the middle:

==============  =======================================  ===============================
step            :class:`PostgresWarehouse` (local twin)  :class:`RedshiftWarehouse`
==============  =======================================  ===============================
lock the day    ``pg_try_advisory_xact_lock`` (refuse)   ``lock audit.load_log`` (queue)
bulk copy       binary ``COPY … FROM STDIN`` streamed    ``COPY … FROM 's3://…' IAM_ROLE
                from the Parquet files, batch by batch   … FORMAT AS PARQUET``
credentials     a conninfo string                        Secrets Manager (cached)
==============  =======================================  ===============================

Then: temp staging → count + checksum → dedupe (latest ``fetched_at`` per user, only
versions newer than the warehouse's) → MERGE by ``user_id`` → audit row → commit.

* ``script="portable"`` (Redshift; also runs on PostgreSQL): dedupe into a second temp
  table, count inserts/updates with a join, MERGE from that table (Redshift's MERGE takes
  only a table as its source).
* ``script="postgres"`` (the twin's default): one MERGE over a ``DISTINCT ON`` subquery
  with the version gate in ``WHEN MATCHED AND …``; counts come from the transaction's
  table counters read around it (no ``RETURNING`` rows to collect). Same result, one
  pass less over staging, no second temp table.

A failure anywhere rolls everything back and records a ``failed`` audit row in a
separate transaction. See docs/adr/0003-warehouse-load.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from contracts.tables import PARTITION_KEY, USERS, TableContract
from glue_jobs.dates import InvalidDate, parse_p_date
from glue_jobs.pg_copy import check_schema
from glue_jobs.pg_copy import payload as copy_payload
from glue_jobs.secrets import guard_botocore_logs
from sql import read_sql

__all__ = [
    "SCRIPTS",
    "ConcurrentLoadError",
    "CopyStep",
    "InvalidLoadRequest",
    "LoadResult",
    "LoadSource",
    "PostgresWarehouse",
    "RedshiftCredentials",
    "RedshiftSettings",
    "RedshiftWarehouse",
    "SchemaMismatchError",
    "StepHook",
    "WarehouseLoadError",
    "WarehousePort",
    "binary_chunks",
    "clear_secret_cache",
    "copy_chunks",
    "parquet_files",
    "record_batches",
    "render_copy_from_s3",
    "run_load_transaction",
    "split_sql",
    "stream_copy",
    "validate_p_date",
]

log = logging.getLogger(__name__)

LoadSource = str | Path | Sequence[Path]
"""Where a partition's files are: an ``s3://…/p_date=D/`` prefix, a folder, or files."""

StepHook = Callable[[str], None]
"""Called after each step of the load transaction (``locked``, ``staged``, ``copied``,
``deduped`` (portable script only), ``counted``, ``merged``, ``audited``); tests use it
to inject failures."""

CopyStep = Callable[[Any, str], None]
"""``copy_step(cursor, source_uri)`` fills the temp table ``stage_users`` inside the
load's open transaction. The Redshift adapter's default runs ``COPY … FROM 's3://…'``;
tests replace only this step to drive the rest of the script through the real driver."""

PORTABLE = "portable"
POSTGRES = "postgres"
SCRIPTS = (PORTABLE, POSTGRES)
"""Transaction scripts: ``portable`` (Redshift's statements) and ``postgres`` (the twin's)."""

POSTGRES_SESSION = ("-c TimeZone=UTC -c DateStyle=ISO -c work_mem=256MB "
                    "-c temp_buffers=256MB")
"""Session settings of a twin load: UTC and ISO dates (the audit checksum hashes
timestamps as text); sorts and the temp table stay in memory."""

STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"
STATUS_REFUSED = "refused"

_LOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_S3_PREFIX = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(?:[A-Za-z0-9_.=-]+/)*")
_IAM_ROLE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")


class WarehouseLoadError(RuntimeError):
    """A load failed and was rolled back; the audit log has a ``failed`` row."""


class ConcurrentLoadError(WarehouseLoadError):
    """Another load of the same table and day holds the lock; this one was refused."""


class InvalidLoadRequest(ValueError):
    """Bad input to a load (date, load id, source); rejected before any SQL is built."""


class SchemaMismatchError(WarehouseLoadError):
    """A Parquet file's columns differ from the table contract."""


@dataclass(frozen=True)
class LoadResult:
    """Outcome of one load attempt, as written to ``audit.load_log``."""

    load_id: str
    p_date: str
    status: str
    rows_staged: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    checksum: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None
    table: str = USERS.name


class WarehousePort(Protocol):
    """What the bulk-import job needs from a warehouse."""

    def ensure_schema(self) -> None:
        """Create schemas, tables and views if missing (idempotent)."""
        ...

    def load_partition(self, p_date: str, source: LoadSource, load_id: str, *,
                       replace: bool = False) -> LoadResult:
        """Load one day atomically; raise :class:`WarehouseLoadError` on failure."""
        ...


# ---------------------------------------------------------------- pure helpers

def validate_p_date(p_date: str) -> str:
    """Return ``p_date`` if it is a real calendar date written ``YYYY-MM-DD``."""
    try:
        return parse_p_date(p_date).isoformat()
    except InvalidDate as exc:
        raise InvalidLoadRequest(str(exc)) from None


def validate_load_id(load_id: str) -> str:
    """Return ``load_id`` if it is 1-64 characters of ``[A-Za-z0-9_.:-]``."""
    if not isinstance(load_id, str) or not _LOAD_ID.fullmatch(load_id):
        raise InvalidLoadRequest(
            f"load_id must be 1-64 characters of letters, digits, '_.:-', got {load_id!r}")
    return load_id


def split_sql(text: str) -> list[str]:
    """Split a SQL file into statements: drops ``--`` comments, keeps ``$$`` bodies whole.

    Multi-statement ``execute`` is not portable (redshift_connector refuses it), so
    every file is run one statement at a time.
    """
    statements: list[str] = []
    current: list[str] = []
    in_dollar = False
    for line in text.splitlines():
        stripped = line.strip()
        if not in_dollar and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if stripped.count("$$") % 2 == 1:
            in_dollar = not in_dollar
        if not in_dollar and stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";").rstrip())
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def render_copy_from_s3(source_uri: str, iam_role_arn: str, p_date: str) -> str:
    """The Redshift COPY for one partition, after validating both interpolated values."""
    validate_p_date(p_date)
    if not _S3_PREFIX.fullmatch(source_uri):
        raise InvalidLoadRequest(f"source must be an s3:// prefix ending in '/', got "
                                 f"{source_uri!r}")
    if not source_uri.endswith(f"/{PARTITION_KEY}={p_date}/"):
        raise InvalidLoadRequest(
            f"source {source_uri!r} is not the {PARTITION_KEY}={p_date}/ partition")
    if not _IAM_ROLE.fullmatch(iam_role_arn):
        raise InvalidLoadRequest(f"not an IAM role ARN: {iam_role_arn!r}")
    return _statement("redshift/copy_users.redshift.sql").format(
        source_uri=source_uri, iam_role_arn=iam_role_arn)


def parquet_files(source: Path | Sequence[Path]) -> list[Path]:
    """Data files of a partition folder (sorted; skips ``_SUCCESS``, ``.crc`` and hidden
    files), or the given files."""
    if isinstance(source, Path):
        if not source.is_dir():
            raise InvalidLoadRequest(f"partition folder not found: {source}")
        return sorted(p for p in source.rglob("*.parquet")
                      if not p.name.startswith((".", "_")))
    files = [Path(p) for p in source]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise InvalidLoadRequest(f"parquet file not found: {missing[0]}")
    return files


def _statement(name: str) -> str:
    """The single statement in a shipped SQL file, comments removed."""
    (statement,) = split_sql(read_sql(name))
    return statement


def _lock_key(table: TableContract, p_date: str) -> str:
    return f"{table.name}:{p_date}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _noop(_: str) -> None:
    return None


# ---------------------------------------------------------------- the shared script

def run_load_transaction(
    cursor: Any,
    *,
    p_date: str,
    load_id: str,
    started_at: dt.datetime,
    lock: Callable[[Any], None],
    copy: Callable[[Any], None],
    replace: bool = False,
    on_step: StepHook = _noop,
    table: TableContract = USERS,
    script: str = PORTABLE,
) -> LoadResult:
    """Run the load's statements on an open transaction; the caller commits.

    ``cursor`` is any DB-API cursor whose paramstyle accepts ``%s`` (psycopg,
    redshift_connector). ``lock`` and ``copy`` are the adapter-specific steps;
    ``script`` is one of :data:`SCRIPTS`.
    """
    if script not in SCRIPTS:
        raise ValueError(f"unknown load script {script!r}; expected one of {SCRIPTS}")
    lock(cursor)
    on_step("locked")
    stage_files = ["redshift/create_stage_users.sql"]
    if script == PORTABLE:
        stage_files.append("redshift/create_stage_users_latest.sql")
    for name in stage_files:
        for statement in split_sql(read_sql(name)):
            cursor.execute(statement)
    on_step("staged")
    copy(cursor)
    on_step("copied")
    if replace:
        cursor.execute(_statement("redshift/delete_users_partition.sql"), (p_date,))
    cursor.execute(_statement("redshift/stage_summary.sql"))
    rows_staged, checksum = _pair(cursor.fetchone())
    if script == PORTABLE:
        cursor.execute(_statement("redshift/dedupe_users.sql"), (p_date, started_at))
        on_step("deduped")
        cursor.execute(_statement("redshift/latest_counts.sql"))
        rows_inserted, rows_updated = (int(v) for v in _pair(cursor.fetchone()))
        on_step("counted")
        cursor.execute(_statement("redshift/merge_users.sql"))
    else:
        on_step("counted")
        rows_inserted, rows_updated = _merge_counting(cursor, p_date, started_at)
    on_step("merged")
    result = LoadResult(load_id=load_id, p_date=p_date, status=STATUS_SUCCEEDED,
                        rows_staged=int(rows_staged), rows_inserted=rows_inserted,
                        rows_updated=rows_updated, checksum=str(checksum),
                        started_at=started_at, finished_at=_now(), table=table.name)
    _insert_audit(cursor, result)
    on_step("audited")
    return result


def _merge_counting(cursor: Any, p_date: str, loaded_at: dt.datetime) -> tuple[int, int]:
    """The twin's one MERGE; (inserted, updated) from the transaction's table counters
    before and after it (``table_counts.postgres.sql``), checked against its row count."""
    counts = _statement("redshift/table_counts.postgres.sql")
    cursor.execute(counts)
    inserted_before, updated_before = (int(v) for v in _pair(cursor.fetchone()))
    cursor.execute(_statement("redshift/merge_users.postgres.sql"),
                   {"p_date": p_date, "loaded_at": loaded_at})
    affected = cursor.rowcount
    cursor.execute(counts)
    inserted_after, updated_after = (int(v) for v in _pair(cursor.fetchone()))
    inserted, updated = inserted_after - inserted_before, updated_after - updated_before
    if inserted + updated != affected:
        raise WarehouseLoadError(
            f"the MERGE changed {affected} rows but the server counted {inserted} inserted "
            f"and {updated} updated; is track_counts off on this PostgreSQL server? "
            "The load was rolled back.")
    return inserted, updated


def _pair(row: Sequence[Any] | None) -> tuple[Any, Any]:
    if row is None or len(row) != 2:
        raise WarehouseLoadError(f"expected a row of two values, got {row!r}")
    return row[0], row[1]


def _insert_audit(cursor: Any, r: LoadResult) -> None:
    cursor.execute(_statement("redshift/insert_load_log.sql"), (
        r.load_id, r.table, r.p_date, r.status, r.rows_staged, r.rows_inserted,
        r.rows_updated, r.checksum, r.started_at, r.finished_at,
        (r.error or None) and r.error[:1024]))


def _failure(p_date: str, load_id: str, started_at: dt.datetime, exc: BaseException,
             table: TableContract) -> LoadResult:
    status = STATUS_REFUSED if isinstance(exc, ConcurrentLoadError) else STATUS_FAILED
    return LoadResult(load_id=load_id, p_date=p_date, status=status, started_at=started_at,
                      finished_at=_now(), error=f"{type(exc).__name__}: {exc}",
                      table=table.name)


def _raise_for(result: LoadResult, exc: BaseException) -> None:
    if isinstance(exc, WarehouseLoadError):
        raise exc
    raise WarehouseLoadError(
        f"load {result.load_id} of {result.table} {PARTITION_KEY}={result.p_date} failed "
        f"and was rolled back: {result.error}") from exc


# ---------------------------------------------------------------- PostgreSQL adapter

def record_batches(files: Sequence[Path], schema: pa.Schema,
                    batch_rows: int) -> Iterator[pa.RecordBatch]:
    for path in files:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        if names != schema.names:
            raise SchemaMismatchError(
                f"{path.name}: columns {names} differ from the contract {schema.names}")
        for batch in pf.iter_batches(batch_size=batch_rows):
            if batch.schema != schema:
                batch = batch.cast(schema)  # e.g. nullability or tz spelling; safe casts only
            yield batch


def binary_chunks(files: Sequence[Path], table: TableContract = USERS,
                  batch_rows: int = 65_536) -> Iterator[bytes]:
    """A whole binary ``COPY`` payload of the files' rows (header, one chunk per Parquet
    record batch, trailer); see :mod:`glue_jobs.pg_copy`.

    Files are checked against the contract's column order first (COPY maps by position).
    """
    schema = table.arrow_schema()
    check_schema(schema)
    return copy_payload(record_batches(files, schema, batch_rows))


def copy_chunks(cursor: Any, copy_sql: str, chunks: Iterable[bytes]) -> None:
    """``COPY … FROM STDIN`` of ``chunks`` through a psycopg cursor.

    Producing the chunks (numpy/Arrow kernels, mostly outside the GIL) overlaps with
    sending: a writer thread (``QueuedLibpqWriter``) pushes each chunk while the next one
    is made, so the client and the server work on different cores. Memory stays bounded
    by the queue.
    """
    from psycopg.copy import QueuedLibpqWriter

    with cursor.copy(copy_sql, writer=QueuedLibpqWriter(cursor)) as copy_stream:
        for chunk in chunks:
            copy_stream.write(chunk)


def stream_copy(cursor: Any, copy_sql: str, files: Sequence[Path],
                table: TableContract = USERS, batch_rows: int = 65_536) -> None:
    """``COPY … FROM STDIN (FORMAT binary)`` of Parquet files, batch by batch."""
    copy_chunks(cursor, copy_sql, binary_chunks(files, table, batch_rows))


class PostgresWarehouse:
    """The local twin: PostgreSQL, ``COPY FROM STDIN`` streamed from Parquet files.

    Parameters
    ----------
    conninfo:
        libpq connection string (``LocalWarehouse.uri``). One connection per load.
    batch_rows:
        Rows per Parquet record batch; bounds memory whatever the partition size.
    script:
        ``"postgres"`` (default: one MERGE over a DISTINCT ON subquery) or
        ``"portable"`` (Redshift's statements, for comparison and tests).
    on_step:
        Optional hook called after each step (tests inject failures with it).
    object_store:
        Optional ``LocalObjectStore`` to resolve ``s3://`` sources to local folders.
    """

    def __init__(self, conninfo: str, *, batch_rows: int = 65_536,
                 on_step: StepHook | None = None, object_store: Any = None,
                 table: TableContract = USERS, script: str = POSTGRES) -> None:
        if script not in SCRIPTS:
            raise ValueError(f"unknown load script {script!r}; expected one of {SCRIPTS}")
        self._script = script
        self._conninfo = conninfo
        self._batch_rows = batch_rows
        self._on_step = on_step or _noop
        self._store = object_store
        self._table = table

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo, options=POSTGRES_SESSION)

    def ensure_schema(self) -> None:
        """Apply schemas, PostgreSQL shims, tables and views; serialised across processes."""
        files = ("redshift/schemas.sql", "redshift/compat.postgres.sql",
                 "redshift/tables.postgres.sql", "redshift/views.sql")
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtextextended('udp:ddl', 0))")
            for name in files:
                for statement in split_sql(read_sql(name)):
                    cur.execute(statement)

    def _files(self, source: LoadSource) -> list[Path]:
        if isinstance(source, str):
            if source.startswith("s3://"):
                if self._store is None:
                    raise InvalidLoadRequest(
                        f"cannot read {source} without a local object store")
                return parquet_files(Path(self._store.path(source)))
            return parquet_files(Path(source))
        return parquet_files(source)

    def _copy_step(self, files: Sequence[Path]) -> Callable[[Any], None]:
        copy_sql = _statement("redshift/copy_users.postgres.sql")

        def copy(cursor: Any) -> None:
            stream_copy(cursor, copy_sql, files, self._table, self._batch_rows)
        return copy

    @staticmethod
    def _lock(key: str) -> Callable[[Any], None]:
        def lock(cursor: Any) -> None:
            cursor.execute(_statement("redshift/lock_load.postgres.sql"), (key,))
            row = cursor.fetchone()
            if not row or not row[0]:
                raise ConcurrentLoadError(
                    f"another load of {key.replace(':', ' p_date=')} is running; "
                    "this one was refused (rerun it when that one finishes)")
        return lock

    def load_partition(self, p_date: str, source: LoadSource, load_id: str, *,
                       replace: bool = False) -> LoadResult:
        """Load one day from Parquet files in one transaction (see module docstring)."""
        validate_p_date(p_date)
        validate_load_id(load_id)
        files = self._files(source)
        started_at = _now()
        return _commit_load(
            self._connect(), self._table, self._record_failure, p_date=p_date,
            load_id=load_id, started_at=started_at,
            lock=self._lock(_lock_key(self._table, p_date)), copy=self._copy_step(files),
            replace=replace, on_step=self._on_step, script=self._script)

    def _record_failure(self, failed: LoadResult) -> None:
        try:
            with self._connect() as conn, conn.cursor() as cur:
                _insert_audit(cur, failed)
        except Exception:  # the audit must never hide the load's own error
            log.exception("could not record the failed load %s", failed.load_id)


def _commit_load(conn: Any, table: TableContract,
                 record_failure: Callable[[LoadResult], None], *, p_date: str, load_id: str,
                 started_at: dt.datetime, lock: Callable[[Any], None],
                 copy: Callable[[Any], None], replace: bool, on_step: Callable[[str], None],
                 script: str) -> LoadResult:
    """One load in one transaction on ``conn`` (either driver): commit on success; on any
    failure roll back, record a failed audit row (separate transaction) and raise."""
    try:
        result = run_load_transaction(  # the cursor closes with the connection
            conn.cursor(), p_date=p_date, load_id=load_id, started_at=started_at, lock=lock,
            copy=copy, replace=replace, on_step=on_step, table=table, script=script)
        conn.commit()
        log.info("loaded %s p_date=%s: %s staged, %s inserted, %s updated", table.name,
                 p_date, result.rows_staged, result.rows_inserted, result.rows_updated)
        return result
    except Exception as exc:
        _safe_rollback(conn)
        failed = _failure(p_date, load_id, started_at, exc, table)
        record_failure(failed)
        _raise_for(failed, exc)
        raise  # unreachable; keeps type checkers honest
    finally:
        _safe_close(conn)


def _safe_rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception:
        log.warning("rollback failed; the server discards the transaction on disconnect")


def _safe_close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        log.debug("close failed", exc_info=True)


# ---------------------------------------------------------------- Redshift adapter

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
        self._on_step = on_step or _noop
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

    def ensure_schema(self) -> None:
        """Apply schemas, Redshift tables and views (one statement per execute)."""
        files = ("redshift/schemas.sql", "redshift/tables.redshift.sql",
                 "redshift/views.sql")
        conn = self._connect()
        try:
            cur = conn.cursor()
            for name in files:
                for statement in split_sql(read_sql(name)):
                    cur.execute(statement)
            conn.commit()
        except Exception:
            _safe_rollback(conn)
            raise
        finally:
            _safe_close(conn)

    def load_partition(self, p_date: str, source: LoadSource, load_id: str, *,
                       replace: bool = False) -> LoadResult:
        """COPY ``s3://…/p_date=D/`` into staging, then the shared dedupe/MERGE/audit."""
        validate_p_date(p_date)
        validate_load_id(load_id)
        if not isinstance(source, str):
            raise InvalidLoadRequest("the Redshift adapter loads from an s3:// prefix")
        copy_sql = render_copy_from_s3(source, self._settings.iam_role_arn, p_date)
        started_at = _now()

        def lock(cursor: Any) -> None:
            cursor.execute(_statement("redshift/lock_load.redshift.sql"))

        def copy(cursor: Any) -> None:
            if self._copy_step is None:
                cursor.execute(copy_sql)
            else:
                self._copy_step(cursor, source)

        return _commit_load(
            self._connect(), self._table, self._record_failure, p_date=p_date,
            load_id=load_id, started_at=started_at, lock=lock, copy=copy, replace=replace,
            on_step=self._on_step, script=PORTABLE)

    def _record_failure(self, failed: LoadResult) -> None:
        try:
            conn = self._connect()
            try:
                _insert_audit(conn.cursor(), failed)
                conn.commit()
            finally:
                _safe_close(conn)
        except Exception:
            log.exception("could not record the failed load %s", failed.load_id)
