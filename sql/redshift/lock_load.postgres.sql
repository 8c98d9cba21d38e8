-- LOCAL TWIN ONLY (PostgreSQL): what the twin sends in place of lock_load.redshift.sql
-- (sql/load_script.py TWIN_TRANSLATES). Parameter: lock key text ('<table>:<p_date>').
-- Transaction-scoped advisory lock per table and day: released by commit or rollback,
-- and by the server if the loading process dies. false = another load holds the day.
select pg_try_advisory_xact_lock(hashtextextended(%s, 0)) as acquired
