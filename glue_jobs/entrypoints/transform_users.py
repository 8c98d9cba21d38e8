"""Glue 5.0 job script: transform, check and publish one p_date (or a range). Wiring only.

Arguments: --p_date D | --start_date A --end_date B, --lake_uri s3://udp-lake,
--salt_secret_id <Secrets Manager id of the email-hash salt>.
"""

import json
import sys

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from glue_jobs.glue_runtime import GlueRuntime
from glue_jobs.secrets import get_secret_value
from glue_jobs.transform_job import (
                                     TransformSettings,
                                     job_option_names,
                                     options_from_args,
                                     run_transform_days,
)

args = getResolvedOptions(sys.argv, job_option_names(sys.argv))
options = options_from_args(args)  # dates are validated before anything starts
glue_context = GlueContext(SparkContext.getOrCreate())
job = Job(glue_context)
job.init(args["JOB_NAME"], args)
salt = get_secret_value(options.salt_secret_id, boto3.client("secretsmanager"))
runtime = GlueRuntime(glue_context, catalog=boto3.client("glue"))
results = run_transform_days(runtime, options.days, TransformSettings(options.lake_uri, salt),
                             run_id=options.run_id)
print(json.dumps([r.as_dict() for r in results], default=str))
job.commit()
