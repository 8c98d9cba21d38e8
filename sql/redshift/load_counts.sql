-- Shared: Redshift and PostgreSQL. Run after dedupe_users.sql and before merge_users.sql.
-- checksum: order-independent sum of the first 32 bits of md5(user_id|batch_id|fetched_at)
-- over every staged row; equal for two loads that staged the same row versions.
with

staged as (
    select * from stage_users
),

latest as (
    select * from stage_users_latest
),

warehouse as (
    select user_id from analytics.users
),

staged_summary as (
    select
        count(*) as rows_staged,
        coalesce(sum(strtol(substring(md5(
            user_id || '|' || batch_id || '|'
            || to_char(fetched_at, 'YYYY-MM-DD HH24:MI:SS.US')
        ), 1, 8), 16)), 0) as checksum
    from staged
),

merge_summary as (
    select
        coalesce(sum(case when warehouse.user_id is null then 1 else 0 end), 0)
            as rows_inserted,
        coalesce(sum(case when warehouse.user_id is null then 0 else 1 end), 0)
            as rows_updated
    from latest
    left join warehouse
        on warehouse.user_id = latest.user_id
),

final as (
    select
        staged_summary.rows_staged,
        merge_summary.rows_inserted,
        merge_summary.rows_updated,
        cast(staged_summary.checksum as varchar(40)) as checksum
    from staged_summary
    cross join merge_summary
)

select * from final
