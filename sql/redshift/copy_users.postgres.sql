-- LOCAL TWIN ONLY (PostgreSQL). The adapter streams PostgreSQL's binary COPY format,
-- encoded from the Parquet files one record batch at a time (glue_jobs/pg_copy.py).
-- Column list checked against the contract; binary COPY also checks every column's type.
copy stage_users (
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
)
from stdin with (format binary)
