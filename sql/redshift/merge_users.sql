-- REDSHIFT SCRIPT (portable: also runs on PostgreSQL). Upsert the day's new versions by user_id.
-- Uses the subset of MERGE both engines accept: a plain source table, one WHEN MATCHED
-- THEN UPDATE and one WHEN NOT MATCHED THEN INSERT (Redshift has no extra AND
-- conditions on the clauses: the version filter lives in dedupe_users.sql), and a
-- source with at most one row per user_id.
merge into analytics.users
using stage_users_latest as latest
on users.user_id = latest.user_id
when matched then update set
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
    p_date = latest.p_date,
    loaded_at = latest.loaded_at
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
    latest.p_date,
    latest.loaded_at
)
