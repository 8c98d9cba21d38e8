-- BENCH ONLY (PostgreSQL; the tuned variant's counts). Rows this transaction has
-- inserted into and updated in analytics.users so far (the statistics system's
-- per-transaction counters, the numbers behind pg_stat_xact_user_tables). Read before
-- and after the MERGE: the differences are the load's inserts and updates. They are only kept while track_counts is on (the
-- default); the adapter checks their sum against the MERGE's own row count.
select
    pg_stat_get_xact_tuples_inserted(cast('analytics.users' as regclass)) as inserted,
    pg_stat_get_xact_tuples_updated(cast('analytics.users' as regclass)) as updated
