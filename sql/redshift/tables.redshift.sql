-- REDSHIFT ONLY. Table DDL for Amazon Redshift (the local twin uses tables.postgres.sql).
-- The users column lists are rendered from contracts/tables.py USERS (sql/render.py):
-- COPY ... FORMAT AS PARQUET maps Parquet columns to these columns by position.
--
-- Distribution and sort keys (see docs/adr/0003-bulk-import.md):
--   staging.users / analytics.users: distkey(user_id) so the MERGE join on user_id is
--     co-located (the per-load temp table is created LIKE staging.users and inherits it);
--     analytics.users sortkey(p_date) because analysts and the load filter by day.
--   audit.load_log: diststyle all (tiny, joined to everything), sortkey(p_date).
-- varchar(n) is n BYTES on Redshift: the contract's max_len counts characters, so a text
-- column is sized 4 bytes per character (UTF-8's widest) and an ascii_only one 1 byte
-- (contracts/schema.py Field.warehouse_bytes); the transform's DQ gate fails a day with a
-- value longer than its column's bytes (glue_jobs/data_quality.py FitsBytes).

create table if not exists staging.users (
    {{ staging_table }}
)
diststyle key
distkey (user_id);

create table if not exists analytics.users (
    {{ target_table }}
)
diststyle key
distkey (user_id)
compound sortkey (p_date);

create table if not exists audit.load_log (
    load_id varchar(64) not null,
    table_name varchar(128) not null,
    p_date date not null,
    status varchar(16) not null,
    rows_staged bigint,
    rows_inserted bigint,
    rows_updated bigint,
    checksum varchar(40),
    started_at timestamptz not null,
    finished_at timestamptz,
    error varchar(1024),
    load_mode varchar(16)
)
diststyle all
compound sortkey (p_date);
