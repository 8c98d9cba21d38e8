-- LOCAL TWIN ONLY (PostgreSQL). Parameter: lock key text ('<table>:<p_date>').
-- Transaction-scoped advisory lock per table and day: released by commit or rollback,
-- and by the server if the loading process dies. false = another load holds the day.
select pg_try_advisory_xact_lock(hashtextextended(%s, 0)) as acquired
