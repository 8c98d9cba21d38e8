-- GENERATED from contracts/tables.py by `python -m sql.athena_ddl`; do not edit.
-- udp_transform.user_locations: Where each user of the day lives, ready for maps: coordinates as doubles (null when outside [-90, 90] / [-180, 180]), timezone offset in minutes.
-- ${lake_bucket} is replaced by the lake bucket at deploy time.
create external table if not exists udp_transform.user_locations (
    `user_id` string,
    `city` string,
    `state` string,
    `country` string,
    `postcode` string,
    `latitude` double,
    `longitude` double,
    `tz_offset_minutes` int,
    `tz_description` string
)
comment 'Where each user of the day lives, ready for maps: coordinates as doubles (null when outside [-90, 90] / [-180, 180]), timezone offset in minutes.'
partitioned by (`p_date` string)
stored as parquet
location 's3://${lake_bucket}/transform/user_locations/'
tblproperties (
    'parquet.compression' = 'SNAPPY'
);
