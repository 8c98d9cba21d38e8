"""The nightly load's transaction: the ordered list of statements Redshift runs.

One list, rendered once (``glue_jobs.warehouse_port.render_load_script``) and run by both
adapters: ``RedshiftWarehouse`` sends every statement as written; the local Redshift
twin's ``PostgresWarehouse`` sends the same statements to PostgreSQL and
translates only the two it cannot run as Redshift means them (``TWIN_TRANSLATES``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOAD_USERS", "TWIN_TRANSLATES", "ScriptStep"]


@dataclass(frozen=True)
class ScriptStep:
    """One file of the script: what it does, where it is, and the step it completes."""

    kind: str
    """``lock``, ``stage``, ``copy``, ``replace`` (only for a deliberate reload),
    ``summary`` and ``counts`` (each returns one row), ``dedupe``, ``merge``, ``audit``."""
    file: str
    """Under ``sql/``; may hold several statements (run in order)."""
    done: str | None = None
    """The ``StepHook`` name reported after the file's last statement."""


LOAD_USERS: tuple[ScriptStep, ...] = (
    ScriptStep("lock", "redshift/lock_load.redshift.sql", "locked"),
    ScriptStep("stage", "redshift/create_stage_users.sql"),
    ScriptStep("stage", "redshift/create_stage_users_latest.sql", "staged"),
    ScriptStep("copy", "redshift/copy_users.redshift.sql", "copied"),
    ScriptStep("replace", "redshift/delete_users_partition.sql"),
    ScriptStep("summary", "redshift/stage_summary.sql"),
    ScriptStep("dedupe", "redshift/dedupe_users.sql", "deduped"),
    ScriptStep("counts", "redshift/latest_counts.sql", "counted"),
    ScriptStep("merge", "redshift/merge_users.sql", "merged"),
    ScriptStep("audit", "redshift/insert_load_log.sql", "audited"),
)
"""Load one ``p_date`` of ``analytics.users``: lock, temp staging, COPY from S3, count and
checksum, dedupe to the newer versions, count inserts/updates, MERGE, audit row."""

TWIN_TRANSLATES = {
    "copy": "COPY ... FROM 's3://...' IAM_ROLE ... FORMAT AS PARQUET reads S3 with an IAM "
            "role; the twin streams the partition's Parquet files through a binary COPY "
            "FROM STDIN into the same table (redshift/copy_users.postgres.sql)",
    "lock": "LOCK audit.load_log queues a second load on Redshift; the twin takes a "
            "per-day advisory lock and refuses an overlapping load of the same day "
            "(redshift/lock_load.postgres.sql), so a test sees the overlap instead of a "
            "wait",
}
"""Statement kinds the twin does not send as written, and why. Redshift functions the
other statements use (CRC32, STRTOL) are shimmed by redshift/compat.postgres.sql."""
