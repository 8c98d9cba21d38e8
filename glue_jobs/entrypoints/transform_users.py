"""Glue 5.0 job script: transform one p_date of raw users. Wiring only."""

import sys

from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from glue_jobs.glue_runtime import GlueRuntime
from glue_jobs.transform_job import run_transform

args = getResolvedOptions(sys.argv, ["JOB_NAME", "p_date", "users_location", "email_hash_salt"])
glue_context = GlueContext(SparkContext.getOrCreate())
job = Job(glue_context)
job.init(args["JOB_NAME"], args)
result = run_transform(GlueRuntime(glue_context), args["p_date"], args["users_location"],
                       args["email_hash_salt"])
print(result.as_dict())
job.commit()
