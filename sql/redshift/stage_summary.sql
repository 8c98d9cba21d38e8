-- Shared: Redshift and PostgreSQL. Run after the COPY, in the load's transaction.
-- rows_staged: every row the COPY brought in (duplicates included).
-- checksum: order-independent sum of the first 32 bits of md5(user_id|batch_id|fetched_at)
-- over every staged row; equal for two loads that staged the same row versions.
with

staged as (
    select * from stage_users
),

final as (
    select
        count(*) as rows_staged,
        cast(coalesce(sum(strtol(substring(md5(
            user_id || '|' || batch_id || '|'
            || to_char(fetched_at, 'YYYY-MM-DD HH24:MI:SS.US')
        ), 1, 8), 16)), 0) as varchar(40)) as checksum
    from staged
)

select * from final
