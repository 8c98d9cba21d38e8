"""The one place the environment's resources are named.

``PipelineConfig`` names every resource (buckets, databases, crawlers, jobs, stream)
for an environment and builds every table and partition S3 address. It lives in
``contracts`` because both sides read it: the AWS-role packages (crawler specs, jobs),
the infrastructure and the local twins, so no name is written twice. Where local state
lives on disk is the twins' business (``LocalPaths``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import locations
from contracts.tables import RAW, TRANSFORM_DATABASE, USERS, TableContract

__all__ = ["PipelineConfig"]


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
    erase_job: str = "udp-erase"
    delivery_stream: str = "udp-user-data"
    alert_topic: str = "udp-pipeline-alerts"
    # DynamoDB table of per-p_date leases: one run per date (docs/adr/0008-one-run-per-date.md)
    lease_table: str = "udp-date-leases"
    # Glue jobs' ExecutionProperty.MaxConcurrentRuns; the backfill Map's MaxConcurrency and
    # `udp backfill --concurrency` may not exceed it (Glue would answer
    # ConcurrentRunsExceededException).
    max_concurrent_runs: int = 2
    email_hash_salt: str = field(default="local-not-secret-salt", repr=False)

    @property
    def lake_uri(self) -> str:
        return locations.lake_uri(self.lake_bucket)

    def table_uri(self, table: TableContract) -> str:
        return locations.table_uri(self.lake_uri, table)

    def partition_uri(self, table: TableContract, p_date: str) -> str:
        return locations.partition_uri(self.lake_uri, table, p_date)

    @property
    def raw_uri(self) -> str:
        return self.table_uri(RAW)

    @property
    def users_uri(self) -> str:
        return self.table_uri(USERS)

    @property
    def errors_uri(self) -> str:
        return f"s3://{self.errors_bucket}/"
