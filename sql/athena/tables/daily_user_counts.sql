-- GENERATED from contracts/tables.py by `python -m sql.athena_ddl`; do not edit.
-- udp_transform.daily_user_counts: Users seen per day by country, gender and age band (dashboards). Unknown values are grouped under null country/gender and age band 'unknown'.
-- ${lake_bucket} is replaced by the lake bucket at deploy time.
create external table if not exists udp_transform.daily_user_counts (
    `country` string,
    `gender` string,
    `age_band` string,
    `users` bigint
)
comment 'Users seen per day by country, gender and age band (dashboards). Unknown values are grouped under null country/gender and age band ''unknown''.'
partitioned by (`p_date` string)
stored as parquet
location 's3://${lake_bucket}/transform/daily_user_counts/'
tblproperties (
    'parquet.compression' = 'SNAPPY'
);
