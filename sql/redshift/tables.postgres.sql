-- LOCAL TWIN ONLY (PostgreSQL). Same tables as tables.redshift.sql, PostgreSQL types,
-- no DISTKEY/SORTKEY. A BRIN index on p_date plays the sort key's part: like Redshift's
-- zone maps it keeps min/max per block range, costs next to nothing to maintain on load,
-- and prunes day filters (a btree here cost a third of the MERGE's WAL).
-- The users column lists are rendered from contracts/tables.py USERS (sql/render.py).

create table if not exists staging.users (
    {{ staging_table }}
);

create table if not exists analytics.users (
    {{ target_table }},
    primary key (user_id)
);

drop index if exists analytics.users_p_date_idx;
create index if not exists users_p_date_brin on analytics.users using brin (p_date);

create table if not exists audit.load_log (
    load_id varchar(64) not null,
    table_name varchar(128) not null,
    p_date date not null,
    status varchar(16) not null,
    rows_staged bigint,
    rows_inserted bigint,
    rows_updated bigint,
    checksum varchar(40),
    started_at timestamptz not null,
    finished_at timestamptz,
    error varchar(1024),
    load_mode varchar(16)
);

-- load_mode ('merge' | 'replace') came after the first release: add it to
-- state folders made before.
alter table audit.load_log add column if not exists load_mode varchar(16);

create index if not exists load_log_p_date_idx on audit.load_log (p_date, started_at);
