-- Athena (Trino). Top 10 email domains over the last 7 days of partitions (distinct
-- users, approximate like a dashboard would ask Athena for).
with

users as (
    select * from udp_transform.users
    where p_date >= cast(date_add('day', -7, current_date) as varchar)
),

final as (
    select
        coalesce(email_domain, 'unknown') as email_domain,
        approx_distinct(user_id) as users
    from users
    group by coalesce(email_domain, 'unknown')
)

select * from final
order by users desc, email_domain
limit 10
