-- REDSHIFT SCRIPT (portable: also runs on PostgreSQL). Upsert the day's new versions by user_id.
-- Uses the subset of MERGE both engines accept: a plain source table, one WHEN MATCHED
-- THEN UPDATE and one WHEN NOT MATCHED THEN INSERT (Redshift has no extra AND
-- conditions on the clauses: the version filter lives in dedupe_users.sql), and a
-- source with at most one row per user_id.
merge into analytics.users
using stage_users_latest as latest
on users.user_id = latest.user_id
when matched then update set
    {{ merge_update_set }}
when not matched then insert (
    {{ target_columns }}
) values (
    {{ latest_target_columns }}
)
