-- BENCH ONLY (PostgreSQL 17+; the twin's nightly load runs merge_users.sql, as Redshift
-- does). Parameters (named): p_date (date), loaded_at (timestamptz). The same result as
-- dedupe_users.sql + latest_counts.sql + merge_users.sql in one pass over staging
-- (PostgreSQL's MERGE takes a subquery as its source; Redshift's does not):
--   latest_of_day  one row per user (latest fetched_at, batch_id breaks ties), DISTINCT ON
--                  sorts by user_id, so new keys reach the primary key index in order;
--   version gate   WHEN MATCHED AND the day's version is newer than the warehouse's, so
--                  rerunning a day changes nothing and an older day loaded late loses;
--   counts         no RETURNING: the adapter reads this transaction's inserted and updated
--                  tuple counts for analytics.users (table_counts.postgres.sql) before and
--                  after, and checks their sum against the MERGE's row count. RETURNING
--                  merge_action() into a CTE cost 0.1 s of a 1.3 s MERGE on 200k rows.
-- The load's p_date and loaded_at are written by the actions, not selected in the source:
-- in the source they were computed for every staged row and carried through the sort
-- (a stable cast is evaluated per row), 0.3 s of a 1.4 s MERGE on 200k rows.
-- tests/functional/test_warehouse_load.py runs both scripts on the same days and
-- compares the tables.
merge into analytics.users
using (
    select distinct on (user_id)
        user_id,
        gender,
        title,
        nationality,
        birth_year,
        age,
        registered_at,
        email_domain,
        email_hash,
        phone_masked,
        city,
        state,
        country,
        postcode,
        latitude,
        longitude,
        tz_offset_minutes,
        fetched_at,
        batch_id
    from stage_users
    order by user_id, fetched_at desc, batch_id desc
) as latest
on users.user_id = latest.user_id
when matched and (
    latest.fetched_at > users.fetched_at
    or (latest.fetched_at = users.fetched_at and latest.batch_id > users.batch_id)
) then update set
    gender = latest.gender,
    title = latest.title,
    nationality = latest.nationality,
    birth_year = latest.birth_year,
    age = latest.age,
    registered_at = latest.registered_at,
    email_domain = latest.email_domain,
    email_hash = latest.email_hash,
    phone_masked = latest.phone_masked,
    city = latest.city,
    state = latest.state,
    country = latest.country,
    postcode = latest.postcode,
    latitude = latest.latitude,
    longitude = latest.longitude,
    tz_offset_minutes = latest.tz_offset_minutes,
    fetched_at = latest.fetched_at,
    batch_id = latest.batch_id,
    p_date = cast(%(p_date)s as date),
    loaded_at = cast(%(loaded_at)s as timestamptz)
when not matched then insert (
    user_id,
    gender,
    title,
    nationality,
    birth_year,
    age,
    registered_at,
    email_domain,
    email_hash,
    phone_masked,
    city,
    state,
    country,
    postcode,
    latitude,
    longitude,
    tz_offset_minutes,
    fetched_at,
    batch_id,
    p_date,
    loaded_at
) values (
    latest.user_id,
    latest.gender,
    latest.title,
    latest.nationality,
    latest.birth_year,
    latest.age,
    latest.registered_at,
    latest.email_domain,
    latest.email_hash,
    latest.phone_masked,
    latest.city,
    latest.state,
    latest.country,
    latest.postcode,
    latest.latitude,
    latest.longitude,
    latest.tz_offset_minutes,
    latest.fetched_at,
    latest.batch_id,
    cast(%(p_date)s as date),
    cast(%(loaded_at)s as timestamptz)
)
