-- LOCAL TWIN ONLY (PostgreSQL): what the twin sends in place of the script's
-- copy_users.redshift.sql (sql/load_script.py TWIN_TRANSLATES). The adapter streams
-- PostgreSQL's binary COPY format, encoded from the partition's Parquet files one record
-- batch at a time (the local Redshift twin's binary COPY encoder).
-- The column list is the contract's (sql/render.py); binary COPY also checks every
-- column's type.
-- FREEZE: the temp table was created in this transaction, so its rows may be written
-- frozen and its pages all-visible; the checksum and the MERGE then scan staging without
-- a visibility check per row (MERGE 1.07 -> 0.92 s on 200k rows, best of 12 interleaved).
-- PostgreSQL refuses it (and the load fails) only if the table was not created in this
-- transaction, a cursor is open, or an older snapshot is held: none hold in this script.
copy stage_users (
    {{ staged_columns }}
)
from stdin with (format binary, freeze)
