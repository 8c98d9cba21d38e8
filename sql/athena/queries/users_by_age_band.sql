-- Athena (Trino). Users of the latest day by age band and gender (same bands as the
-- transform's daily_user_counts: 0-17, 18-24, ..., 65+, unknown).
with

users as (
    select * from udp_transform.users
),

latest_day as (
    select max(p_date) as p_date from users
),

banded as (
    select
        users.gender,
        case
            when users.age is null then 'unknown'
            when users.age < 18 then '0-17'
            when users.age < 25 then '18-24'
            when users.age < 35 then '25-34'
            when users.age < 45 then '35-44'
            when users.age < 55 then '45-54'
            when users.age < 65 then '55-64'
            else '65+'
        end as age_band
    from users
    inner join latest_day
        on latest_day.p_date = users.p_date
),

final as (
    select
        age_band,
        coalesce(gender, 'unknown') as gender,
        count(*) as users
    from banded
    group by age_band, coalesce(gender, 'unknown')
)

select * from final
order by age_band, gender
