"""Where a table and its partitions live in the lake: every S3 address is built here.

The jobs, the crawler specs, the Athena DDL, the infrastructure and the local twins all
call these, so a table's folder or the Hive partition folder (``p_date=D/``) is spelled
once. The Firehose prefixes (what the delivery stream writes raw data and failures to)
are here too: the template, the twin and the local stack read the same text.
"""

from __future__ import annotations

from contracts.tables import PARTITION_KEY, RAW, TableContract

__all__ = ["FIREHOSE_ERROR_PREFIX", "FIREHOSE_PREFIX", "STAGING_DIR", "lake_uri",
           "partition_folder", "partition_uri", "table_uri"]

STAGING_DIR = "_staging"
"""Folder under a table where a multi-day transform pass writes before each day's files
move to their version folder (``glue_jobs.publish.staging_uri``); crawlers exclude it."""

FIREHOSE_PREFIX = f"{RAW.prefix}/{PARTITION_KEY}=!{{timestamp:yyyy-MM-dd}}/"
"""Firehose ``Prefix``: raw records land in the raw table's partition of their arrival
day (UTC), e.g. ``raw/user_data/p_date=2026-11-22/``."""

FIREHOSE_ERROR_PREFIX = "errors/firehose/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/"
"""Firehose ``ErrorOutputPrefix``: records that failed delivery or conversion, by reason."""


def lake_uri(bucket: str) -> str:
    """``udp-lake`` -> ``s3://udp-lake`` (no trailing slash)."""
    return f"s3://{bucket}"


def table_uri(lake: str, table: TableContract) -> str:
    """``s3://udp-lake`` + the table's prefix, with a trailing slash."""
    return f"{lake.rstrip('/')}/{table.prefix}/"


def partition_folder(p_date: str) -> str:
    """The Hive-style folder of one day: ``p_date=D/``."""
    return f"{PARTITION_KEY}={p_date}/"


def partition_uri(lake: str, table: TableContract, p_date: str) -> str:
    """The plain Hive partition folder of one day: ``s3://udp-lake/<prefix>/p_date=D/``."""
    return table_uri(lake, table) + partition_folder(p_date)
