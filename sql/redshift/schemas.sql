-- Schemas of the warehouse. Shared: runs on Redshift and on the local PostgreSQL twin.
--   staging   : load-time tables (template for the per-session temp staging table)
--   analytics : what analysts and Tableau read
--   audit     : one row per load attempt
create schema if not exists staging;
create schema if not exists analytics;
create schema if not exists audit;
