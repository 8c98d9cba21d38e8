-- Per-load staging. Shared: Redshift and PostgreSQL.
-- Temp tables are private to the load's session, so loads of different days never
-- share a staging table, and nothing is left behind when the session ends. They carry
-- no index and no WAL/redo (PostgreSQL: local buffers; Redshift: not backed up). LIKE
-- copies the column order (COPY maps Parquet columns by position) and, on Redshift, the
-- distribution key, so the MERGE join on user_id stays co-located.
-- No TRUNCATE anywhere in the load: on Redshift TRUNCATE commits the open transaction.
drop table if exists stage_users;
create temp table stage_users (like staging.users);
