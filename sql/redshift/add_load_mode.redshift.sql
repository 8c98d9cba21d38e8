-- REDSHIFT ONLY. Brings audit.load_log of a warehouse created before load_mode existed up to
-- tables.redshift.sql: Redshift's ALTER TABLE ... ADD COLUMN has no IF NOT EXISTS, so the
-- bulk import runs it only when load_log_has_load_mode.sql counts 0. Old rows keep null
-- (they were all ordinary merges).
alter table audit.load_log add column load_mode varchar(16)
