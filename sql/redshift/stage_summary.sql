-- Shared: Redshift and PostgreSQL. Run after the COPY, in the load's transaction.
-- rows_staged: every row the COPY brought in (duplicates included).
-- checksum: order-independent sum of CRC32 (CRC-32C, Redshift's built-in) of
-- user_id|batch_id|fetched_at over every staged row; equal for two loads that staged the
-- same row versions. The PostgreSQL twin shims CRC32 and STRTOL (compat.postgres.sql).
-- fetched_at is rendered by a plain cast, PostgreSQL's ISO output in a UTC session
-- ('2026-11-21 07:30:00.1234+00': trailing zeros of the fraction dropped, none when
-- whole). Redshift documents the same display ('2008-06-01 14:59:59+00'); its fractions
-- are not shown there, so equal numbers across the two engines are expected, not
-- verified. TO_CHAR with an explicit format was 0.16 s of this statement's 0.27 s on
-- 200k rows on the twin; the cast costs a fifth of that.
with

staged as (
    select * from stage_users
),

final as (
    select
        count(*) as rows_staged,
        cast(coalesce(sum(strtol(crc32(
            user_id || '|' || batch_id || '|'
            || cast(fetched_at as varchar)
        ), 16)), 0) as varchar(40)) as checksum
    from staged
)

select * from final
