-- REDSHIFT SCRIPT (portable). Run after dedupe_users.sql and before merge_users.sql:
-- how many of the day's new versions the MERGE will insert and how many it will update.
with

latest as (
    select * from stage_users_latest
),

warehouse as (
    select user_id from analytics.users
),

final as (
    select
        coalesce(sum(case when warehouse.user_id is null then 1 else 0 end), 0)
            as rows_inserted,
        coalesce(sum(case when warehouse.user_id is null then 0 else 1 end), 0)
            as rows_updated
    from latest
    left join warehouse
        on warehouse.user_id = latest.user_id
)

select * from final
