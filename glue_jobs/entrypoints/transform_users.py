"""Glue 6.0 job script: transform, check and publish one p_date (or a range). Wiring only.

Arguments: --p_date D | --start_date A --end_date B | --p_dates '["D1", ...]' --run_key K
(a backfill chunk), --lake_uri s3://udp-lake,
--salt_secret_id <Secrets Manager id of the email-hash salt>. The body is
``glue_jobs.transform_job.main``; the local Glue jobs twin calls it with local clients.
"""

import json
import sys
from typing import Any

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from glue_jobs.glue_runtime import GlueRuntime
from glue_jobs.transform_job import job_option_names, main, main_dates


class GlueClients:
    """Glue's context (and the job bookmark bracket) and boto3 clients, made on demand."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.job: Any = None

    def runtime(self) -> GlueRuntime:
        glue_context = GlueContext(SparkContext.getOrCreate())
        self.job = Job(glue_context)
        self.job.init(self.args["JOB_NAME"], self.args)
        return GlueRuntime(glue_context, catalog=boto3.client("glue"))

    def secrets(self) -> Any:
        return boto3.client("secretsmanager")

    def s3(self) -> Any:
        return boto3.client("s3")


args = getResolvedOptions(sys.argv, job_option_names(sys.argv))
clients = GlueClients(args)
if "--p_dates" in sys.argv:  # a backfill chunk: each date on its own
    print(json.dumps(main_dates(args, clients), default=str))
else:
    results = main(args, clients)
    print(json.dumps([r.as_dict() for r in results], default=str))
clients.job.commit()
