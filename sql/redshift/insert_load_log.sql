-- Shared: Redshift and PostgreSQL. One audit row per load attempt.
-- Parameters, in order: load_id, table_name, p_date, status, rows_staged, rows_inserted,
-- rows_updated, checksum, started_at, finished_at, error, load_mode ('merge' or 'replace').
insert into audit.load_log (
    load_id,
    table_name,
    p_date,
    status,
    rows_staged,
    rows_inserted,
    rows_updated,
    checksum,
    started_at,
    finished_at,
    error,
    load_mode
) values (
    %s, %s, cast(%s as date), %s, %s, %s, %s, %s,
    cast(%s as timestamptz), cast(%s as timestamptz), %s, %s
)
