"""Glue Python-shell entrypoint for the bulk import. Runs only on AWS Glue.

Wiring only: job arguments -> Redshift adapter -> ``run_bulk_import``. Arguments:
``--p_date YYYY-MM-DD --table_uri s3://…/transform/users/ --secret_id … --iam_role_arn …``
and optionally ``--replace true``.
"""

from __future__ import annotations

import json
import sys

import boto3
from awsglue.utils import getResolvedOptions

from glue_jobs.bulk_import import (
    JOB_OPTIONS,
    options_from_resolved,
    published_source,
    result_summary,
    run_bulk_import,
)
from glue_jobs.redshift_warehouse import RedshiftWarehouse

__all__ = ["main"]


def main(argv: list[str]) -> None:
    names = JOB_OPTIONS + (["replace"] if "--replace" in argv else [])
    options = options_from_resolved(getResolvedOptions(argv, names))
    source = published_source(boto3.client("glue"), options.p_date)
    warehouse = RedshiftWarehouse(options.redshift,
                                  secrets_client=boto3.client("secretsmanager"))
    result = run_bulk_import(warehouse, options.p_date, source, replace=options.replace)
    print(json.dumps(result_summary(result)))


if __name__ == "__main__":
    main(sys.argv)
