-- REDSHIFT ONLY. Bulk load one p_date partition of the transform layer into staging.
-- Placeholders are filled by glue_jobs/warehouse_port.py after strict validation
-- (an s3:// prefix ending in p_date=YYYY-MM-DD/ and an IAM role ARN); COPY cannot take
-- bind parameters. FORMAT AS PARQUET maps file columns to stage_users by position:
-- stage_users is LIKE staging.users, whose column order is checked against the contract.
-- Parquet timestamps are int64 microseconds, UTC-adjusted (never INT96 or nanoseconds).
copy stage_users
from '{source_uri}'
iam_role '{iam_role_arn}'
format as parquet;
