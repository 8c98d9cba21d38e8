-- Shared: Redshift and PostgreSQL. Tableau-ready views over analytics.users and the audit.
-- Analysts connect Tableau to these views, never to staging.

create or replace view analytics.v_users_current as
with

users as (
    select * from analytics.users
),

final as (
    select
        user_id,
        gender,
        title,
        nationality,
        country,
        state,
        city,
        postcode,
        latitude,
        longitude,
        tz_offset_minutes,
        birth_year,
        age,
        case
            when age between 0 and 17 then '0-17'
            when age between 18 and 24 then '18-24'
            when age between 25 and 34 then '25-34'
            when age between 35 and 44 then '35-44'
            when age between 45 and 54 then '45-54'
            when age between 55 and 64 then '55-64'
            when age between 65 and 130 then '65+'
            else 'unknown'
        end as age_band,
        registered_at,
        cast(registered_at as date) as registered_date,
        email_domain,
        email_hash,
        phone_masked,
        fetched_at,
        p_date as last_seen_date,
        loaded_at
    from users
)

select * from final;

create or replace view analytics.v_daily_new_users_by_country as
with

users as (
    select * from analytics.users
),

final as (
    select
        cast(registered_at as date) as registered_date,
        coalesce(country, 'unknown') as country,
        count(*) as new_users
    from users
    where registered_at is not null
    group by 1, 2
)

select * from final;

create or replace view audit.v_load_freshness as
with

loads as (
    select * from audit.load_log
),

succeeded as (
    select * from loads where status = 'succeeded'
),

final as (
    select
        table_name,
        max(p_date) as latest_loaded_p_date,
        max(finished_at) as last_success_at,
        count(*) as successful_loads
    from succeeded
    group by table_name
)

select * from final;
