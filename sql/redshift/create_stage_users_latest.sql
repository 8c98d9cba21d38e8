-- REDSHIFT SCRIPT (portable: also runs on PostgreSQL, proven through redshift_connector
-- in tests/functional/test_redshift_adapter.py). Redshift's MERGE accepts only a table as
-- its source (no subquery, CTE or view), so the deduplicated day goes to a second temp
-- table.
drop table if exists stage_users_latest;
create temp table stage_users_latest (like analytics.users);
