-- Athena (Trino). Daily new users by country: a user is new on the first p_date the
-- transform saw them (udp_transform.users holds one row per user per day seen), counted
-- under the country of that first day. Last 30 days of partitions.
with

users as (
    select * from udp_transform.users
    where p_date >= cast(date_add('day', -30, current_date) as varchar)
),

first_seen as (
    select
        user_id,
        min(p_date) as first_p_date
    from users
    group by user_id
),

new_users as (
    select
        users.p_date,
        coalesce(users.country, 'unknown') as country
    from users
    inner join first_seen
        on first_seen.user_id = users.user_id
        and first_seen.first_p_date = users.p_date
),

final as (
    select
        p_date,
        country,
        count(*) as new_users
    from new_users
    group by p_date, country
)

select * from final
order by p_date, new_users desc, country
