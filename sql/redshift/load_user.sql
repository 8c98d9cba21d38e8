-- The warehouse bootstrap: run by the admin, by the deploy (the stack's WarehouseBootstrap
-- custom resource, glue_jobs/warehouse_bootstrap.py, through the Redshift Data API with
-- the admin secret Redshift manages), and by the local twin on the PostgreSQL admin
-- connection. Never by the nightly load, which logs in as ${LOAD_USER} with exactly what
-- this file grants (tests/functional/test_load_user.py runs the load as that user).
--
-- ${LOAD_USER} (EnvConfig.redshift_load_user) and ${DATABASE} (EnvConfig.redshift_database)
-- are identifiers checked by glue_jobs.warehouse_bootstrap before they are substituted.
-- The login itself (create user / alter user ... password) comes first and is made by
-- glue_jobs.warehouse_bootstrap from the load secret, so no password is written here.

-- The load creates and replaces its tables and views in these schemas (tables.redshift.sql,
-- views.sql at every load), so it owns them.
create schema if not exists staging authorization ${LOAD_USER};
create schema if not exists analytics authorization ${LOAD_USER};
create schema if not exists audit authorization ${LOAD_USER};

-- A warehouse whose schemas already existed (made by the admin): hand them over. Tables
-- and views already in them are handed over too, one statement each, by the bootstrap.
alter schema staging owner to ${LOAD_USER};
alter schema analytics owner to ${LOAD_USER};
alter schema audit owner to ${LOAD_USER};

-- Per-session staging tables are temporary tables.
grant temp on database ${DATABASE} to ${LOAD_USER};
