"""Every column list of the warehouse SQL comes from the contract (sql/render.py)."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

import pytest

from contracts.schema import Field, Kind
from contracts.tables import USERS
from glue_jobs.warehouse_port import render_load_script, split_sql
from sql import read_sql, read_template
from sql.render import UnknownPlaceholder, dialect_of, placeholders, render

URI = "s3://udp-lake/transform/users/_versions/2026-11-21/r1/p_date=2026-11-21/"
ROLE = "arn:aws:iam::123456789012:role/udp-redshift-copy"
TARGET = [*USERS.column_names, "p_date", "loaded_at"]
WIDER = dataclasses.replace(USERS, fields=(*USERS.fields, Field("shoe_size", Kind.INT)))


def _templates() -> list[str]:
    folder = resources.files("sql").joinpath("redshift")
    return sorted(f"redshift/{p.name}" for p in folder.iterdir()
                  if p.name.endswith(".sql") and placeholders(p.read_text(encoding="utf-8")))


def _mentions(sql: str, column: str) -> bool:
    return re.search(rf"\b{column}\b", sql) is not None


def test_the_files_that_list_users_columns_are_templates() -> None:
    # GIVEN the shipped warehouse SQL; THEN these files list the columns by placeholder
    assert _templates() == ["redshift/copy_users.postgres.sql", "redshift/dedupe_users.sql",
                            "redshift/merge_users.sql", "redshift/tables.postgres.sql",
                            "redshift/tables.redshift.sql"]


@pytest.mark.parametrize("name", _templates())
def test_no_template_writes_a_users_column_by_hand(name: str) -> None:
    # GIVEN a template as written (comments dropped); THEN no column of users but the key
    # (joins name it) and the version columns (the dedupe compares them) appears in it
    code = "\n".join(line for line in read_template(name).splitlines()
                     if not line.strip().startswith("--"))
    by_hand = [c for c in USERS.column_names
               if c not in ("user_id", "fetched_at", "batch_id") and _mentions(code, c)]
    assert by_hand == []


@pytest.mark.parametrize("name", _templates())
def test_a_contract_column_reaches_every_rendered_statement(name: str) -> None:
    # GIVEN the contract with one more column; WHEN each template is rendered for it
    rendered = render(read_template(name), dialect=dialect_of(name), contract=WIDER)
    # THEN every statement that lists the users columns lists the new one too
    listing = [s for s in split_sql(rendered) if _mentions(s, "tz_offset_minutes")]
    assert listing
    assert all(_mentions(s, "shoe_size") for s in listing)


def test_every_load_statement_that_lists_columns_lists_all_of_them() -> None:
    # GIVEN the nightly script as Redshift runs it, and the DDL both engines apply
    statements = [s.sql for s in render_load_script(URI, ROLE, "2026-11-21")]
    statements += split_sql(read_sql("redshift/tables.redshift.sql"))
    statements += split_sql(read_sql("redshift/tables.postgres.sql"))
    statements += split_sql(read_sql("redshift/copy_users.postgres.sql"))
    listing = [s for s in statements if _mentions(s, "tz_offset_minutes")]
    # THEN each names every contract column (and the target ones the load columns)
    assert len(listing) >= 7
    for statement in listing:
        missing = [c for c in USERS.column_names if not _mentions(statement, c)]
        assert missing == [], statement[:80]
        if "analytics.users" in statement or "stage_users_latest" in statement:
            assert all(_mentions(statement, c) for c in TARGET), statement[:80]


def test_merge_pairs_each_column_with_its_own_source() -> None:
    # GIVEN the rendered MERGE; THEN every non-key target column is set from itself
    text = read_sql("redshift/merge_users.sql")
    pairs = re.findall(r"^\s+(\w+) = latest\.(\w+),?$", text, flags=re.M)
    assert pairs == [(c, c) for c in TARGET[1:]]


def test_a_placeholder_is_rendered_at_its_indent() -> None:
    out = render("select\n        {{ staged_columns }}\nfrom t")
    assert out.splitlines()[1:3] == ["        user_id,", "        gender,"]
    assert out.splitlines()[-2] == "        batch_id"


def test_an_unknown_placeholder_or_a_missing_dialect_is_a_clear_error() -> None:
    with pytest.raises(UnknownPlaceholder, match=r"unknown SQL placeholder \{\{ nope \}\}"):
        render("select\n    {{ nope }}\n")
    with pytest.raises(UnknownPlaceholder, match=r"needs a dialect"):
        render("create table t (\n    {{ staging_table }}\n)")
