"""Warehouse port: load one ``p_date`` partition of the users table, in one transaction.

The transaction is ONE script, the statements Redshift runs (``sql.load_script.LOAD_USERS``
over ``sql/redshift/*.sql``), rendered once by :func:`render_load_script` and run by
:func:`run_load_transaction`, committed by :func:`commit_load`. Both adapters run it:
``glue_jobs.redshift_warehouse.RedshiftWarehouse`` (ships to Glue) sends every statement
as written; ``PostgresWarehouse`` (the local Redshift twin's adapter) sends the same
statements to PostgreSQL and translates only what PostgreSQL cannot run as Redshift
means it (``sql.load_script.TWIN_TRANSLATES``):

==============  =======================================  ===============================
statement       ``PostgresWarehouse`` (local twin)       ``RedshiftWarehouse``
==============  =======================================  ===============================
lock the day    ``pg_try_advisory_xact_lock`` (refuse)   ``lock audit.load_log`` (queue)
bulk copy       binary ``COPY … FROM STDIN`` streamed    ``COPY … FROM 's3://…' IAM_ROLE
                from the Parquet files, batch by batch   … FORMAT AS PARQUET``
CRC32, STRTOL   SQL shims (``compat.postgres.sql``)      built-ins
credentials     a conninfo string                        Secrets Manager (cached)
==============  =======================================  ===============================

The script: lock → temp staging → COPY → count + checksum → dedupe (latest
``fetched_at`` per user, only versions newer than the warehouse's) into a second temp
table → count inserts/updates → MERGE by ``user_id`` (Redshift's MERGE takes only a table
as its source) → audit row → commit. A failure anywhere rolls everything back and
records a ``failed`` audit row in a separate transaction; ``bench/load.py`` times this
same script. See docs/adr/0003-bulk-import.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contracts.dates import InvalidDate, check_p_date
from contracts.locations import partition_folder
from contracts.tables import PARTITION_KEY, USERS, TableContract
from glue_jobs.publish import manifest_uri
from sql import read_sql
from sql.load_script import LOAD_USERS

__all__ = [
    "ConcurrentLoadError",
    "CopyStep",
    "InvalidLoadRequest",
    "LoadResult",
    "LoadSource",
    "SchemaMismatchError",
    "Statement",
    "StatementRunner",
    "StepHook",
    "WarehouseLoadError",
    "WarehousePort",
    "audit_params",
    "commit_load",
    "execute_statement",
    "insert_audit",
    "lock_key",
    "noop_step",
    "pair_row",
    "parquet_files",
    "read_statement",
    "render_copy_from_s3",
    "render_load_script",
    "run_load_transaction",
    "safe_close",
    "safe_rollback",
    "split_sql",
    "utc_now",
    "validate_p_date",
]

log = logging.getLogger(__name__)

LoadSource = str | Path | Sequence[Path]
"""Where a partition's files are: an ``s3://…/p_date=D/`` prefix, a folder, or files."""

StepHook = Callable[[str], None]
"""Called after each step of the load transaction (``locked``, ``staged``, ``copied``,
``deduped``, ``counted``, ``merged``, ``audited``); tests use it to inject failures."""

CopyStep = Callable[[Any, str], None]
"""``copy_step(cursor, source_uri)`` fills the temp table ``stage_users`` inside the
load's open transaction. The Redshift adapter's default runs ``COPY … FROM 's3://…'``;
tests replace only this step to drive the rest of the script through the real driver."""

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
    load_mode: str = "merge"
    """``merge`` (the ordinary load) or ``replace`` (a reload: the day's slice deleted
    first); the audit row says which."""


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
        return check_p_date(p_date)
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
    """The Redshift COPY of one published version (``source_uri``, its ``p_date=D/``
    folder) from its manifest, after validating both interpolated values."""
    validate_p_date(p_date)
    if not _S3_PREFIX.fullmatch(source_uri):
        raise InvalidLoadRequest(f"source must be an s3:// prefix ending in '/', got "
                                 f"{source_uri!r}")
    if not source_uri.endswith(f"/{partition_folder(p_date)}"):
        raise InvalidLoadRequest(
            f"source {source_uri!r} is not the {PARTITION_KEY}={p_date}/ partition")
    if not _IAM_ROLE.fullmatch(iam_role_arn):
        raise InvalidLoadRequest(f"not an IAM role ARN: {iam_role_arn!r}")
    return read_statement("redshift/copy_users.redshift.sql").format(
        manifest_uri=manifest_uri(source_uri), iam_role_arn=iam_role_arn)


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


def read_statement(name: str) -> str:
    """The single statement in a shipped SQL file, comments removed."""
    (statement,) = split_sql(read_sql(name))
    return statement


def lock_key(table: TableContract, p_date: str) -> str:
    return f"{table.name}:{p_date}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def noop_step(_: str) -> None:
    return None


# ---------------------------------------------------------------- the shared script

@dataclass(frozen=True)
class Statement:
    """One rendered statement of the load script (:data:`sql.load_script.LOAD_USERS`)."""

    kind: str
    sql: str
    done: str | None = None


StatementRunner = Callable[[Any, Statement, Sequence[Any] | None], None]
"""``run(cursor, statement, params)`` sends one statement. Redshift's adapter sends it as
written (:func:`execute_statement`); the twin translates the kinds listed in
``sql.load_script.TWIN_TRANSLATES`` and sends the rest as written."""


def execute_statement(cursor: Any, statement: Statement, params: Sequence[Any] | None) -> None:
    if params is None:
        cursor.execute(statement.sql)
    else:
        cursor.execute(statement.sql, params)


def render_load_script(source_uri: str, iam_role_arn: str, p_date: str, *,
                       replace: bool = False) -> tuple[Statement, ...]:
    """The load's statements, in order, as Redshift runs them (rendered once, shared).

    The COPY gets the validated partition prefix and role; the reload's DELETE is left
    out unless ``replace``. Bind parameters are added when the script runs."""
    copy_sql = render_copy_from_s3(source_uri, iam_role_arn, p_date)
    out: list[Statement] = []
    for step in LOAD_USERS:
        if step.kind == "replace" and not replace:
            continue
        texts = [copy_sql] if step.kind == "copy" else split_sql(read_sql(step.file))
        for i, text in enumerate(texts):
            out.append(Statement(step.kind, text, step.done if i == len(texts) - 1 else None))
    return tuple(out)


def run_load_transaction(
    cursor: Any,
    script: Sequence[Statement],
    *,
    p_date: str,
    load_id: str,
    started_at: dt.datetime,
    run: StatementRunner = execute_statement,
    on_step: StepHook = noop_step,
    table: TableContract = USERS,
) -> LoadResult:
    """Run the rendered ``script`` on an open transaction; the caller commits.

    ``cursor`` is any DB-API cursor whose paramstyle accepts ``%s`` (psycopg,
    redshift_connector). Parameters by kind: ``replace`` (p_date), ``dedupe`` (p_date,
    loaded_at), ``audit`` (the result row); ``summary`` and ``counts`` return one row.
    """
    rows_staged: Any = 0
    checksum: Any = None
    rows_inserted = rows_updated = 0
    if not script or script[-1].kind != "audit":
        raise WarehouseLoadError("the load script must end with its audit statement")
    for statement in script:
        params: Sequence[Any] | None = None
        if statement.kind == "replace":
            params = (p_date,)
        elif statement.kind == "dedupe":
            params = (p_date, started_at)
        elif statement.kind == "audit":
            result = LoadResult(
                load_id=load_id, p_date=p_date, status=STATUS_SUCCEEDED,
                rows_staged=int(rows_staged), rows_inserted=rows_inserted,
                rows_updated=rows_updated, checksum=str(checksum), started_at=started_at,
                finished_at=utc_now(), table=table.name,
                load_mode=load_mode(any(st.kind == "replace" for st in script)))
            params = audit_params(result)
        run(cursor, statement, params)
        if statement.kind == "summary":
            rows_staged, checksum = pair_row(cursor.fetchone())
        elif statement.kind == "counts":
            rows_inserted, rows_updated = (int(v) for v in pair_row(cursor.fetchone()))
        if statement.done:
            on_step(statement.done)
    return result


def pair_row(row: Sequence[Any] | None) -> tuple[Any, Any]:
    """The two values of a one-row, two-column result (``summary``, ``counts``)."""
    if row is None or len(row) != 2:
        raise WarehouseLoadError(f"expected a row of two values, got {row!r}")
    return row[0], row[1]


def audit_params(r: LoadResult) -> tuple[Any, ...]:
    """Bind values of ``insert_load_log.sql`` for one result."""
    return (r.load_id, r.table, r.p_date, r.status, r.rows_staged, r.rows_inserted,
            r.rows_updated, r.checksum, r.started_at, r.finished_at,
            (r.error or None) and r.error[:1024], r.load_mode)


def insert_audit(cursor: Any, r: LoadResult) -> None:
    cursor.execute(read_statement("redshift/insert_load_log.sql"), audit_params(r))


def load_mode(replace: bool) -> str:
    """The audit's ``load_mode`` for a load with or without ``replace``."""
    return "replace" if replace else "merge"


def _failure(p_date: str, load_id: str, started_at: dt.datetime, exc: BaseException,
             table: TableContract, replace: bool = False) -> LoadResult:
    status = STATUS_REFUSED if isinstance(exc, ConcurrentLoadError) else STATUS_FAILED
    return LoadResult(load_id=load_id, p_date=p_date, status=status, started_at=started_at,
                      finished_at=utc_now(), error=f"{type(exc).__name__}: {exc}",
                      table=table.name, load_mode=load_mode(replace))


def _raise_for(result: LoadResult, exc: BaseException) -> None:
    if isinstance(exc, WarehouseLoadError):
        raise exc
    raise WarehouseLoadError(
        f"load {result.load_id} of {result.table} {PARTITION_KEY}={result.p_date} failed "
        f"and was rolled back: {result.error}") from exc


# ---------------------------------------------------------------- one load, either driver

def commit_load(conn: Any, table: TableContract,
                record_failure: Callable[[LoadResult], None], *, p_date: str, load_id: str,
                started_at: dt.datetime, transaction: Callable[[Any], LoadResult],
                replace: bool = False) -> LoadResult:
    """One load in one transaction on ``conn`` (either driver): ``transaction(cursor)``
    runs the statements; commit on success; on any failure roll back, record a failed
    audit row (separate transaction) and raise."""
    try:
        result = transaction(conn.cursor())  # the cursor closes with the connection
        conn.commit()
        log.info("loaded %s p_date=%s: %s staged, %s inserted, %s updated", table.name,
                 p_date, result.rows_staged, result.rows_inserted, result.rows_updated)
        return result
    except Exception as exc:
        safe_rollback(conn)
        failed = _failure(p_date, load_id, started_at, exc, table, replace)
        record_failure(failed)
        _raise_for(failed, exc)
        raise  # unreachable; keeps type checkers honest
    finally:
        safe_close(conn)


def safe_rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception:
        log.warning("rollback failed; the server discards the transaction on disconnect")


def safe_close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        log.debug("close failed", exc_info=True)
