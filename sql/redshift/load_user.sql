-- Redshift only, run once per environment by the admin, before the first nightly load.
-- The nightly load (Glue bulk import) logs in as this user, never as the admin: the
-- admin's password is managed and rotated by Secrets Manager (namespace
-- ManageAdminPassword), the load user's login is the secret udp/<env>/redshift-load.
--
-- How (docs/operate/deploy-checks.md (g)): open Query Editor v2 on the workgroup with the admin
-- secret Redshift created, replace ${LOAD_PASSWORD} with the "password" field of
-- udp/<env>/redshift-load (never commit it), and run this file. udp_load is
-- EnvConfig.redshift_load_user; udp is EnvConfig.redshift_database.

create user udp_load password '${LOAD_PASSWORD}';

-- The load creates and replaces its objects (schemas.sql, tables.redshift.sql, views.sql
-- run at every load), so it owns the schemas they live in.
create schema if not exists staging authorization udp_load;
create schema if not exists analytics authorization udp_load;
create schema if not exists audit authorization udp_load;

-- Per-session staging tables are temporary tables.
grant temp on database udp to udp_load;

-- A warehouse first loaded as the admin already has these schemas: hand them over (and,
-- for each existing table and view in them, run: alter table <schema>.<name> owner to udp_load).
alter schema staging owner to udp_load;
alter schema analytics owner to udp_load;
alter schema audit owner to udp_load;
