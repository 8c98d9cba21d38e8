-- Shared: Redshift and PostgreSQL. 1 when audit.load_log has the load_mode column
-- (a later column), 0 on a warehouse created before it; see add_load_mode.redshift.sql.
select count(*)
from information_schema.columns
where table_schema = 'audit'
    and table_name = 'load_log'
    and column_name = 'load_mode'
