-- Shared: Redshift and PostgreSQL. Run after the COPY, in the load's transaction.
-- rows_staged: every row the COPY brought in (duplicates included).
-- checksum: order-independent sum of CRC32 (CRC-32C, Redshift's built-in) of
-- user_id|batch_id|fetched_at over every staged row; equal for two loads that staged the
-- same row versions. The PostgreSQL twin shims CRC32 and STRTOL (compat.postgres.sql).
with

staged as (
    select * from stage_users
),

final as (
    select
        count(*) as rows_staged,
        cast(coalesce(sum(strtol(crc32(
            user_id || '|' || batch_id || '|'
            || to_char(fetched_at, 'YYYY-MM-DD HH24:MI:SS.US')
        ), 16)), 0) as varchar(40)) as checksum
    from staged
)

select * from final
