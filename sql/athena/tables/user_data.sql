-- GENERATED from contracts/tables.py by `python -m sql.athena_ddl`; do not edit.
-- udp_raw.user_data: Users as fetched from the API, secrets removed, partitioned by arrival date.
-- ${lake_bucket} is replaced by the lake bucket at deploy time.
create external table if not exists udp_raw.user_data (
    `gender` string,
    `name` struct<title:string,first:string,last:string>,
    `location` struct<street:struct<number:int,name:string>,city:string,state:string,country:string,postcode:string,coordinates:struct<latitude:string,longitude:string>,timezone:struct<offset:string,description:string>>,
    `email` string,
    `login` struct<uuid:string,username:string>,
    `dob` struct<date:timestamp,age:int>,
    `registered` struct<date:timestamp,age:int>,
    `phone` string,
    `cell` string,
    `id` struct<name:string,value:string>,
    `picture` struct<large:string,medium:string,thumbnail:string>,
    `nat` string,
    `batch_id` string,
    `fetched_at` timestamp,
    `source_page` int,
    `source_seed` string
)
comment 'Users as fetched from the API, secrets removed, partitioned by arrival date.'
partitioned by (`p_date` string)
stored as parquet
location 's3://${lake_bucket}/raw/user_data/'
tblproperties (
    'parquet.compression' = 'SNAPPY',
    'projection.enabled' = 'true',
    'projection.p_date.type' = 'date',
    'projection.p_date.format' = 'yyyy-MM-dd',
    'projection.p_date.range' = '2024-01-01,NOW',
    'projection.p_date.interval' = '1',
    'projection.p_date.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://${lake_bucket}/raw/user_data/p_date=${p_date}/'
);
