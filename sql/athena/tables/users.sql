-- GENERATED from contracts/tables.py by `python -m sql.athena_ddl`; do not edit.
-- udp_transform.users: One row per user (login.uuid) per p_date, latest arrival wins; direct identifiers minimised.
-- ${lake_bucket} is replaced by the lake bucket at deploy time.
create external table if not exists udp_transform.users (
    `user_id` string,
    `gender` string,
    `title` string,
    `nationality` string,
    `birth_year` int,
    `age` int,
    `registered_at` timestamp,
    `email_domain` string,
    `email_hash` string,
    `phone_masked` string,
    `city` string,
    `state` string,
    `country` string,
    `postcode` string,
    `latitude` double,
    `longitude` double,
    `tz_offset_minutes` int,
    `fetched_at` timestamp,
    `batch_id` string
)
comment 'One row per user (login.uuid) per p_date, latest arrival wins; direct identifiers minimised.'
partitioned by (`p_date` string)
stored as parquet
location 's3://${lake_bucket}/transform/users/'
tblproperties (
    'parquet.compression' = 'SNAPPY'
);
