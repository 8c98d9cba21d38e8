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
            when users.age between 0 and 17 then '0-17'
            when users.age between 18 and 24 then '18-24'
            when users.age between 25 and 34 then '25-34'
            when users.age between 35 and 44 then '35-44'
            when users.age between 45 and 54 then '45-54'
            when users.age between 55 and 64 then '55-64'
            when users.age between 65 and 130 then '65+'
            else 'unknown'
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
