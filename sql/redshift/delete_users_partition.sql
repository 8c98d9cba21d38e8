-- Shared: Redshift and PostgreSQL. Parameter: p_date (date).
-- Only for a deliberate reload (replace=True): removes the day's slice so that a
-- re-transformed day with unchanged (fetched_at, batch_id) versions is loaded again.
-- Users whose latest version came from a later day are not in this slice and stay.
delete from analytics.users
where p_date = cast(%s as date)
