"""Glue 6.0 job script: one step of the erasure (``glue_jobs.erasure_steps``). Wiring only.

Arguments: --step register|day|warehouse|dynamodb|verify --execution <execution name>
--lake_uri s3://udp-lake --errors_bucket udp-errors, and the step's own: --ids (a JSON
list, or the key of an ids file under ``_erasure/incoming/``), --p_date D --republish
true|false --salt_secret_id (day), --secret_id (warehouse, verify), --user_table
(dynamodb, verify). Glue's context is made only for a day that is republished.
"""

import json
import sys
from typing import Any

import boto3
from awsglue.utils import getResolvedOptions

from glue_jobs.erasure_job import DynamoUserTable
from glue_jobs.erasure_steps import job_option_names, main
from glue_jobs.redshift_warehouse import RedshiftSettings, RedshiftWarehouse
from glue_jobs.secrets import get_secret_value


class GlueClients:
    """boto3 clients, the Redshift adapter and Glue's context, made on demand."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.job: Any = None

    def s3(self) -> Any:
        return boto3.client("s3")

    def runtime(self) -> Any:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        from glue_jobs.glue_runtime import GlueRuntime

        glue_context = GlueContext(SparkContext.getOrCreate())
        self.job = Job(glue_context)
        self.job.init(self.args["JOB_NAME"], self.args)
        return GlueRuntime(glue_context, catalog=boto3.client("glue"))

    def salt(self, secret_id: str) -> str:
        return get_secret_value(secret_id, boto3.client("secretsmanager"))

    def warehouse(self, secret_id: str) -> RedshiftWarehouse:
        return RedshiftWarehouse(RedshiftSettings(secret_id, iam_role_arn=""),
                                 secrets_client=boto3.client("secretsmanager"))

    def users(self, table: str) -> DynamoUserTable:
        return DynamoUserTable(boto3.client("dynamodb"), table)


args = getResolvedOptions(sys.argv, job_option_names(sys.argv))
clients = GlueClients(args)
print(json.dumps(main(args, clients), default=str))
if clients.job is not None:
    clients.job.commit()
