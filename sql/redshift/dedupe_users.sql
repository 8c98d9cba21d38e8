-- REDSHIFT SCRIPT (portable: also runs on PostgreSQL). Parameters: p_date (date),
-- loaded_at (timestamptz).
-- One row per user for the day (latest fetched_at wins, batch_id breaks ties), then only
-- the versions newer than what the warehouse already holds. A row whose version
-- (fetched_at, batch_id) is already loaded is left out, so rerunning a day changes
-- nothing, and loading days out of order still ends with the latest version.
insert into stage_users_latest (
    {{ target_columns }}
)
with

staged as (
    select * from stage_users
),

warehouse as (
    select user_id, fetched_at, batch_id from analytics.users
),

ranked as (
    select
        staged.*,
        row_number() over (
            partition by user_id
            order by fetched_at desc, batch_id desc
        ) as version_rank
    from staged
),

latest_of_day as (
    select * from ranked where version_rank = 1
),

newer_than_warehouse as (
    select latest_of_day.*
    from latest_of_day
    left join warehouse
        on warehouse.user_id = latest_of_day.user_id
    where
        warehouse.user_id is null
        or latest_of_day.fetched_at > warehouse.fetched_at
        or (
            latest_of_day.fetched_at = warehouse.fetched_at
            and latest_of_day.batch_id > warehouse.batch_id
        )
),

final as (
    select
        {{ staged_columns }},
        cast(%s as date) as p_date,
        cast(%s as timestamptz) as loaded_at
    from newer_than_warehouse
)

select * from final
