"""The local twin's adapter of the warehouse port (:mod:`glue_jobs.warehouse_port`).

PostgreSQL through psycopg, running the script Redshift runs
(``render_load_script``: the same statements, in the same order), with two
translations (``sql.load_script.TWIN_TRANSLATES``): the Redshift ``COPY … FROM 's3://…'
IAM_ROLE … FORMAT AS PARQUET`` becomes a binary ``COPY … FROM STDIN`` streamed from the
partition's Parquet files batch by batch (encoded by :mod:`local_aws.redshift.pg_copy`),
and ``lock audit.load_log`` becomes a per-day ``pg_try_advisory_xact_lock`` (a second
load of the day is refused). Redshift's CRC32/STRTOL come from ``compat.postgres.sql``.
Credentials are a conninfo string.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from contracts.locations import partition_folder
from contracts.tables import USERS, TableContract
from glue_jobs.publish import ManifestMismatch, manifest_entries, manifest_uri
from glue_jobs.warehouse_port import (
    ConcurrentLoadError,
    InvalidLoadRequest,
    LoadResult,
    LoadSource,
    SchemaMismatchError,
    Statement,
    StepHook,
    WarehouseLoadError,
    commit_load,
    execute_statement,
    insert_audit,
    lock_key,
    noop_step,
    parquet_files,
    read_statement,
    render_load_script,
    run_load_transaction,
    split_sql,
    utc_now,
    validate_load_id,
    validate_p_date,
)
from local_aws.redshift.pg_copy import check_schema
from local_aws.redshift.pg_copy import payload as copy_payload
from sql import read_sql
from sql.load_script import TWIN_TRANSLATES

__all__ = ["LOCAL_COPY_ROLE", "POSTGRES_SESSION", "PostgresWarehouse", "binary_chunks",
           "copy_chunks", "parse_redshift_copy", "record_batches", "stream_copy"]

log = logging.getLogger(__name__)

POSTGRES_SESSION = ("-c TimeZone=UTC -c DateStyle=ISO -c work_mem=256MB "
                    "-c temp_buffers=256MB")
"""Session settings of a twin load: UTC and ISO dates (the audit checksum hashes
timestamps as text); sorts and the temp table stay in memory."""


LOCAL_COPY_ROLE = "arn:aws:iam::000000000000:role/udp-local-redshift-copy"
"""The role the rendered COPY names locally (the twin reads files, not S3, so no role)."""
_LOCAL_FILES_BUCKET = "udp-local-files"
"""Stands in for the bucket when a load is given a folder or files instead of an s3://
prefix: the rendered COPY still names the day's partition."""

_REDSHIFT_COPY = re.compile(
    r"copy\s+(?P<table>\w+)\s+from\s+'(?P<source>s3://[^']+)'\s+iam_role\s+'[^']+'"
    r"\s+format\s+as\s+parquet\s+manifest", re.I)


def parse_redshift_copy(sql_text: str) -> tuple[str, str]:
    """(target table, manifest URI) of the script's ``COPY … FORMAT AS PARQUET
    MANIFEST``; anything else is refused, so a changed COPY cannot be silently
    mistranslated."""
    match = _REDSHIFT_COPY.fullmatch(" ".join(sql_text.split()))
    if not match:
        raise WarehouseLoadError(
            f"the twin translates only COPY <table> FROM 's3://…' IAM_ROLE '…' FORMAT AS "
            f"PARQUET MANIFEST; got: {sql_text[:200]!r}")
    return match["table"], match["source"]


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
    record batch, trailer); see :mod:`local_aws.redshift.pg_copy`.

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
    on_step:
        Optional hook called after each step (tests inject failures with it).
    object_store:
        Optional ``LocalObjectStore`` to resolve ``s3://`` sources to local folders.
    """

    def __init__(self, conninfo: str, *, batch_rows: int = 65_536,
                 on_step: StepHook | None = None, object_store: Any = None,
                 table: TableContract = USERS) -> None:
        self._conninfo = conninfo
        self._batch_rows = batch_rows
        self._on_step = on_step or noop_step
        self._store = object_store
        self._table = table

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo, options=POSTGRES_SESSION)

    def ensure_schema(self) -> None:
        """Apply tables and views (serialised across processes) in the schemas the
        bootstrap gave the load user (``LocalWarehouse.bootstrap``, which also makes the
        PostgreSQL shims): what the load user may do, nothing more."""
        files = ("redshift/tables.postgres.sql", "redshift/views.sql")
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
                return self._manifest_files(source)
            return parquet_files(Path(source))
        return parquet_files(source)

    def _manifest_files(self, location: str) -> list[Path]:
        """What Redshift's ``COPY … MANIFEST`` reads for the version at ``location``: the
        files its manifest names, nothing else under the prefix; a mandatory entry that
        is missing fails the load, as it fails the COPY."""
        uri = manifest_uri(location)
        path = Path(self._store.path(uri))
        if not path.is_file():
            raise WarehouseLoadError(f"COPY manifest {uri} not found")
        try:
            entries = manifest_entries(path.read_bytes(), location)
        except ManifestMismatch as exc:
            raise WarehouseLoadError(str(exc)) from None
        files = [Path(self._store.path(url)) for url in entries]
        missing = [url for url, f in zip(entries, files, strict=True) if not f.is_file()]
        if missing:
            raise WarehouseLoadError(f"COPY manifest {uri}: mandatory file {missing[0]} "
                                     "not found")
        return files

    def _copy(self, files: Sequence[Path]) -> Callable[[Any], None]:
        """The STDIN COPY that stands in for Redshift's COPY from S3 (same target table)."""
        copy_sql = read_statement("redshift/copy_users.postgres.sql")

        def copy(cursor: Any) -> None:
            stream_copy(cursor, copy_sql, files, self._table, self._batch_rows)
        return copy

    @staticmethod
    def _lock(key: str) -> Callable[[Any], None]:
        def lock(cursor: Any) -> None:
            cursor.execute(read_statement("redshift/lock_load.postgres.sql"), (key,))
            row = cursor.fetchone()
            if not row or not row[0]:
                raise ConcurrentLoadError(
                    f"another load of {key.replace(':', ' p_date=')} is running; "
                    "this one was refused (rerun it when that one finishes)")
        return lock

    @staticmethod
    def _runner(lock: Callable[[Any], None], copy: Callable[[Any], None]
                ) -> Callable[[Any, Statement, Any], None]:
        """Send each statement of Redshift's script as written, but the kinds in
        ``TWIN_TRANSLATES`` (the COPY from S3 and the table lock)."""
        def copy_from_s3(cursor: Any, statement: Statement) -> None:
            table, _ = parse_redshift_copy(statement.sql)
            if table != "stage_users":
                raise WarehouseLoadError(f"the twin's COPY fills stage_users, not {table}")
            copy(cursor)

        translate: dict[str, Callable[[Any, Statement], None]] = {
            "copy": copy_from_s3, "lock": lambda cursor, _: lock(cursor)}
        if set(translate) != set(TWIN_TRANSLATES):  # the documented list is the code's
            raise RuntimeError(f"twin translations {sorted(translate)} differ from "
                               f"sql.load_script.TWIN_TRANSLATES {sorted(TWIN_TRANSLATES)}")

        def run(cursor: Any, statement: Statement, params: Any) -> None:
            if statement.kind in translate:
                translate[statement.kind](cursor, statement)
            else:  # every other statement runs on PostgreSQL as written
                execute_statement(cursor, statement, params)
        return run

    def load_partition(self, p_date: str, source: LoadSource, load_id: str, *,
                       replace: bool = False) -> LoadResult:
        """Load one day from Parquet files in one transaction (see module docstring)."""
        validate_p_date(p_date)
        validate_load_id(load_id)
        files = self._files(source)
        started_at = utc_now()
        lock = self._lock(lock_key(self._table, p_date))
        copy = self._copy(files)
        source_uri = (source if isinstance(source, str) and source.startswith("s3://")
                      else f"s3://{_LOCAL_FILES_BUCKET}/{partition_folder(p_date)}")
        script = render_load_script(source_uri, LOCAL_COPY_ROLE, p_date, replace=replace)

        def transaction(cursor: Any) -> LoadResult:
            return run_load_transaction(cursor, script, p_date=p_date, load_id=load_id,
                                        started_at=started_at,
                                        run=self._runner(lock, copy),
                                        on_step=self._on_step, table=self._table)

        return commit_load(self._connect(), self._table, self._record_failure, p_date=p_date,
                           load_id=load_id, started_at=started_at, transaction=transaction,
                           replace=replace)

    def _record_failure(self, failed: LoadResult) -> None:
        try:
            with self._connect() as conn, conn.cursor() as cur:
                insert_audit(cur, failed)
        except Exception:  # the audit must never hide the load's own error
            log.exception("could not record the failed load %s", failed.load_id)
