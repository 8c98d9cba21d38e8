-- Athena (Trino). How fresh is the transform layer: latest day, its row count, the last
-- record fetched, and how many hours and days behind now that is.
with

users as (
    select * from udp_transform.users
),

per_day as (
    select
        p_date,
        count(*) as rows_in_day,
        max(fetched_at) as last_fetched_at
    from users
    group by p_date
),

latest as (
    select * from per_day
    order by p_date desc
    limit 1
),

final as (
    select
        'users' as table_name,
        p_date as latest_p_date,
        rows_in_day,
        last_fetched_at,
        date_diff('hour', last_fetched_at, current_timestamp) as hours_since_last_fetch,
        date_diff('day', cast(p_date as date), current_date) as days_behind,
        (select count(*) from per_day) as days_available
    from latest
)

select * from final
