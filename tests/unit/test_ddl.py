"""The checked-in warehouse SQL agrees with the USERS contract (COPY maps by position)."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from contracts.tables import AGE_BAND_UNKNOWN, AGE_BANDS, USERS
from sql import read_sql
from sql.ddl import (
    Column,
    age_band_case,
    declared_columns,
    normalised,
    render_column_list,
    staging_columns,
    target_columns,
)

TARGET_NAMES = [*USERS.column_names, "p_date", "loaded_at"]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
@pytest.mark.parametrize(("table", "expected"), [("staging.users", staging_columns),
                                                  ("analytics.users", target_columns)])
def test_checked_in_table_ddl_matches_the_contract(dialect: str, table: str,
                                                   expected: object) -> None:
    # GIVEN the reviewed DDL file for the dialect
    text = read_sql(f"redshift/tables.{dialect}.sql")
    # WHEN its columns are parsed
    declared = declared_columns(text, table, dialect)
    # THEN names, order, types and nullability equal what the contract renders
    assert declared == normalised(expected(USERS, dialect))  # type: ignore[operator]


def test_staging_column_order_is_the_parquet_column_order() -> None:
    # GIVEN the Parquet schema the transform job writes; WHEN compared with staging
    declared = [c.name for c in declared_columns(read_sql("redshift/tables.redshift.sql"),
                                                 "staging.users", "redshift")]
    # THEN position i in the files is position i in the table
    assert declared == USERS.arrow_schema().names


def test_a_drifted_file_is_detected() -> None:
    # GIVEN DDL with two columns swapped; WHEN parsed; THEN it differs from the contract
    text = read_sql("redshift/tables.postgres.sql").replace(
        "    gender text,\n    title text,", "    title text,\n    gender text,", 1)
    assert declared_columns(text, "staging.users", "postgres") != normalised(
        staging_columns(USERS, "postgres"))


def test_redshift_ddl_writes_down_distribution_and_sort_keys() -> None:
    text = read_sql("redshift/tables.redshift.sql").lower()
    assert "distkey (user_id)" in text
    assert "compound sortkey (p_date)" in text
    assert "diststyle all" in text


def test_unknown_table_or_dialect_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match=r"no 'create table analytics\.nope'"):
        declared_columns(read_sql("redshift/tables.postgres.sql"), "analytics.nope", "postgres")
    with pytest.raises(ValueError, match="unknown SQL dialect 'oracle'"):
        staging_columns(USERS, "oracle")


def test_render_column_list_is_what_the_files_are_written_from() -> None:
    rendered = render_column_list(staging_columns(USERS, "redshift"))
    assert rendered.splitlines()[0] == "    user_id varchar(36) not null,"
    assert rendered in read_sql("redshift/tables.redshift.sql")
    assert Column("a", "text", True).render() == "a text not null"


def _merge(dialect: str) -> exp.Merge:
    statement = sqlglot.parse_one(read_sql("redshift/merge_users.sql"), read=dialect)
    assert isinstance(statement, exp.Merge)
    return statement


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_merge_parses_and_inserts_every_target_column_in_order(dialect: str) -> None:
    # GIVEN the shared MERGE; WHEN parsed in both dialects
    merge = _merge(dialect)
    insert = next(merge.find_all(exp.Insert))
    columns = [c.name for c in insert.this.expressions]
    values = [c.name for c in insert.expression.expressions]
    # THEN it inserts all target columns, each from its own source column
    assert columns == TARGET_NAMES
    assert values == TARGET_NAMES


def test_merge_updates_every_non_key_column() -> None:
    text = read_sql("redshift/merge_users.sql")
    updated = re.findall(r"^\s+(\w+) = latest\.(\w+),?$", text, flags=re.M)
    assert [left for left, _ in updated] == TARGET_NAMES[1:]
    assert all(left == right for left, right in updated)


@pytest.mark.parametrize("name", ["copy_users.postgres.sql", "dedupe_users.sql"])
def test_column_lists_of_copy_and_dedupe_follow_the_contract(name: str) -> None:
    # GIVEN a statement with an explicit column list; WHEN the list is read
    text = "\n".join(line for line in read_sql(f"redshift/{name}").splitlines()
                     if not line.strip().startswith("--"))
    head = text[text.index("(") + 1: text.index(")")]
    listed = [c.strip() for c in head.split(",")]
    # THEN it is the contract order (plus the load columns for the target)
    expected = USERS.column_names if name.startswith("copy") else TARGET_NAMES
    assert listed == expected


SHARED = ["create_stage_users.sql", "create_stage_users_latest.sql",
          "dedupe_users.sql", "stage_summary.sql", "latest_counts.sql", "merge_users.sql",
          "views.sql", "insert_load_log.sql", "delete_users_partition.sql",
          "load_log_has_load_mode.sql"]


@pytest.mark.parametrize("name", SHARED)
def test_shared_sql_parses_as_redshift_and_postgres(name: str) -> None:
    text = read_sql(f"redshift/{name}").replace("%s", "null")
    for dialect in ("redshift", "postgres"):
        assert all(sqlglot.parse(text, read=dialect))


def test_redshift_only_statements_live_in_files_named_so() -> None:
    # GIVEN the shared files; THEN none of them uses a Redshift-only or PostgreSQL-only form
    shared = SHARED
    forbidden = re.compile(r"iam_role|format as parquet|distkey|sortkey|pg_|::|truncate|"
                           r"\bfilter\s*\(|is (not )?distinct from|on conflict", re.I)
    for name in shared:
        body = "\n".join(line for line in read_sql(f"redshift/{name}").splitlines()
                         if not line.strip().startswith("--"))
        assert not forbidden.search(body), name


def test_shared_sql_reads_crc32_only_as_a_number() -> None:
    # GIVEN the twin's CRC32 shim returns the number where Redshift returns 8 hex digits;
    # THEN every shared use is strtol(crc32(...), 16), the same number on both engines
    for name in SHARED:
        body = read_sql(f"redshift/{name}").lower()
        uses = len(re.findall(r"\bcrc32\(", body))
        assert uses == len(re.findall(r"\bstrtol\(crc32\(", body)), name


@pytest.mark.parametrize(("path", "column"), [("redshift/views.sql", "age"),
                                              ("athena/queries/users_by_age_band.sql",
                                               "users.age")])
def test_sql_age_bands_are_the_contracts(path: str, column: str) -> None:
    # GIVEN a SQL file that re-derives the dashboard age band; THEN it is the rendered CASE
    def squash(text: str) -> str:
        return " ".join(text.split())
    assert squash(age_band_case(column)) in squash(read_sql(path)), (
        f"{path}: paste sql.ddl.age_band_case({column!r}) (python -m sql.ddl prints it)")


def test_age_band_case_matches_the_contract_on_a_real_engine() -> None:
    # GIVEN every age from -2 to 140 and null, evaluated by DuckDB
    import duckdb

    ages = [*range(-2, 141), None]
    got = duckdb.execute(f"select age, {age_band_case('age')} as band "
                         "from (select unnest(?) as age)", [ages]).fetchall()

    # THEN each band is the contract's (inclusive bounds), anything else 'unknown'
    def want(age: int | None) -> str:
        return next((label for label, low, high in AGE_BANDS
                     if age is not None and low <= age <= high), AGE_BAND_UNKNOWN)
    assert sorted(got, key=lambda r: (r[0] is None, r[0] or 0)) == [(a, want(a)) for a in ages]


def test_redshift_varchar_holds_max_len_characters_in_utf8_bytes() -> None:
    # GIVEN the checked-in Redshift DDL (varchar(n) is n BYTES on Redshift)
    declared = {c.name: c.type for c in declared_columns(
        read_sql("redshift/tables.redshift.sql"), "analytics.users", "redshift")}
    checked = 0
    for f in USERS.fields:
        if f.max_len is None:
            continue
        width = int(re.fullmatch(r"varchar\((\d+)\)", declared[f.name])[1])  # type: ignore[index]
        # WHEN the column's longest allowed value is written in its widest characters
        # (4-byte emoji for free text, ASCII for ascii_only columns like the uuid)
        widest = ("a" if f.ascii_only else "\N{BICYCLE}") * f.max_len
        # THEN it fits the column's bytes
        assert len(widest.encode("utf-8")) <= width, f.name
        checked += 1
    assert checked == 12
