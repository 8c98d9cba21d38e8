-- REDSHIFT ONLY. Bulk load one published p_date version of the transform layer into
-- staging, from the COPY manifest the transform wrote beside it (glue_jobs/publish.py):
-- exactly the Parquet files it published, never Spark's _SUCCESS marker or anything else
-- under the prefix. Placeholders are filled by glue_jobs/warehouse_port.py after strict
-- validation (the manifest of a version ending in p_date=YYYY-MM-DD/, and an IAM role
-- ARN); COPY cannot take bind parameters. FORMAT AS PARQUET maps file columns to stage_users by position:
-- stage_users is LIKE staging.users, whose column order is checked against the contract.
-- Parquet timestamps are int64 microseconds, UTC-adjusted (never INT96 or nanoseconds).
copy stage_users
from '{manifest_uri}'
iam_role '{iam_role_arn}'
format as parquet
manifest;
