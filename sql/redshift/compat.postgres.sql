-- LOCAL TWIN ONLY (PostgreSQL). Shims for Redshift built-ins the shared SQL uses, so the
-- shared files run unchanged on both engines. Never deployed to Redshift.

-- Redshift STRTOL(string, base) for base 16 only (the checksum of md5 prefixes); the base
-- argument is accepted for signature compatibility. Kept a single non-STRICT SELECT so
-- the planner inlines it (3x faster than a STRICT or CASE body on 200k rows).
create or replace function public.strtol(value text, base integer)
returns bigint
language sql
immutable
as $$
    select ('x' || lpad(value, 16, '0'))::bit(64)::bigint
$$;
