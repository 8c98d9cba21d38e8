"""Glue Python-shell entrypoint for the bulk import. Runs only on AWS Glue.

Wiring only: job arguments + the Redshift adapter -> ``glue_jobs.bulk_import.main`` (the
local Glue jobs twin calls the same ``main`` with the PostgreSQL adapter). Arguments:
``--p_date YYYY-MM-DD --table_uri s3://…/transform/users/ --secret_id … --iam_role_arn …``
and optionally ``--replace true``; a backfill chunk passes ``--p_dates '["D1", ...]'
--run_key K`` instead of ``--p_date``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
from awsglue.utils import getResolvedOptions

from glue_jobs.bulk_import import BulkImportOptions, job_option_names, main_dates
from glue_jobs.bulk_import import main as bulk_import_main
from glue_jobs.redshift_warehouse import RedshiftWarehouse

__all__ = ["GlueClients", "main"]


class GlueClients:
    """boto3 clients and the Redshift adapter, made on demand."""

    def catalog(self) -> Any:
        return boto3.client("glue")

    def s3(self) -> Any:
        return boto3.client("s3")

    def warehouse(self, options: BulkImportOptions) -> RedshiftWarehouse:
        return RedshiftWarehouse(options.redshift, secrets_client=boto3.client("secretsmanager"))


def main(argv: list[str]) -> None:
    chunk = "--p_dates" in argv  # a backfill chunk: one audited transaction per date
    body = main_dates if chunk else bulk_import_main
    print(json.dumps(body(getResolvedOptions(argv, job_option_names(argv)), GlueClients())))


if __name__ == "__main__":
    main(sys.argv)
