"""The one place the environment is chosen.

``PipelineConfig`` names every resource (buckets, databases, crawlers, jobs, stream)
for an environment; ``LocalPaths`` lays local state out under one folder. The local
twins and the AWS adapters both read from here, so no name is written twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from contracts.tables import RAW, TRANSFORM_DATABASE, USERS, TableContract

__all__ = ["DEFAULT_STATE_DIR", "LocalPaths", "PipelineConfig"]

DEFAULT_STATE_DIR = Path(os.environ.get("UDP_STATE_DIR", ".udp"))


@dataclass(frozen=True)
class PipelineConfig:
    env: str = "local"
    lake_bucket: str = "udp-lake"
    errors_bucket: str = "udp-errors"
    raw_database: str = RAW.database
    transform_database: str = TRANSFORM_DATABASE
    raw_crawler: str = "udp-raw-crawler"
    transform_crawler: str = "udp-transform-crawler"
    transform_job: str = "udp-transform-users"
    load_job: str = "udp-bulk-import"
    delivery_stream: str = "udp-user-data"
    alert_topic: str = "udp-pipeline-alerts"
    # Glue jobs' ExecutionProperty.MaxConcurrentRuns; the backfill Map's MaxConcurrency and
    # `udp backfill --concurrency` may not exceed it (Glue would answer
    # ConcurrentRunsExceededException).
    max_concurrent_runs: int = 2
    email_hash_salt: str = field(default="local-not-secret-salt", repr=False)

    def table_uri(self, table: TableContract) -> str:
        return f"s3://{self.lake_bucket}/{table.prefix}/"

    def partition_uri(self, table: TableContract, p_date: str) -> str:
        return f"{self.table_uri(table)}p_date={p_date}/"

    @property
    def raw_uri(self) -> str:
        return self.table_uri(RAW)

    @property
    def users_uri(self) -> str:
        return self.table_uri(USERS)

    @property
    def errors_uri(self) -> str:
        return f"s3://{self.errors_bucket}/"


@dataclass(frozen=True)
class LocalPaths:
    """All local state under one folder; deleting it resets everything."""

    state_dir: Path

    @property
    def s3(self) -> Path:
        return self.state_dir / "s3"

    @property
    def catalog(self) -> Path:
        return self.state_dir / "catalog"

    @property
    def warehouse(self) -> Path:
        return self.state_dir / "warehouse"

    @property
    def runs(self) -> Path:
        return self.state_dir / "runs"

    @property
    def alerts(self) -> Path:
        return self.state_dir / "alerts"

    @property
    def tmp(self) -> Path:
        """Scratch of the local engines (Spark's local dirs, DuckDB's spill); emptied at
        every start, never read back."""
        return self.state_dir / "tmp"
