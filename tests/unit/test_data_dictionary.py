"""The data dictionary comes from the contracts: as data for `udp tables` / `udp describe`,
and as the checked-in docs/analyse/data-dictionary.md, which must be current."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.dictionary import (
    DICTIONARY_PATH,
    UnknownTableError,
    all_tables,
    column_rows,
    find_table,
    main,
    render_markdown,
    table_rows,
)
from contracts.schema import Field, Kind
from contracts.tables import RAW, TABLES, USERS, TableContract


def test_checked_in_dictionary_is_current() -> None:
    # GIVEN the contracts as they are WHEN the dictionary is regenerated
    fresh = render_markdown(all_tables())
    # THEN it is byte for byte the file in docs/ (run `python -m contracts.dictionary --write`)
    assert DICTIONARY_PATH.read_text(encoding="utf-8") == fresh
    assert main(["--check"]) == 0


def test_every_contract_table_is_listed_once_with_its_database() -> None:
    # WHEN the tables are listed THEN each contract appears once, sorted, with its key
    rows = table_rows(all_tables())
    assert sorted((db, name) for db, name, *_ in rows) == sorted(
        (t.database, t.name) for t in TABLES.values())
    assert [(r[0], r[1]) for r in rows] == sorted((r[0], r[1]) for r in rows)
    users = next(r for r in rows if r[1] == "users")
    assert users == ("udp_transform", "users", "p_date", "user_id", USERS.doc)


def test_describe_users_lists_contract_columns_then_the_partition_key() -> None:
    # WHEN users is described THEN its columns are the contract's, in order, with
    # nullability and comments, and p_date comes last as the partition key
    rows = column_rows(find_table("users"))
    assert [r[0] for r in rows] == [*USERS.column_names, "p_date"]
    assert rows[0] == ("user_id", "string", "not null",
                       "login.uuid; at most 36 ASCII characters in the warehouse")
    assert rows[-1][1:3] == ("string", "partition key")
    email_hash = next(r for r in rows if r[0] == "email_hash")
    assert email_hash[1] == "string" and "sha256" in email_hash[3]


def test_raw_nested_fields_are_dotted_and_secrets_are_absent() -> None:
    # WHEN the raw table is described
    names = [r[0] for r in column_rows(find_table("udp_raw.user_data"))]
    # THEN nested leaves carry their path and no secret field appears anywhere
    assert "location.coordinates.latitude" in names
    assert "login.uuid" in names and "login.username" in names
    assert not any(n.split(".")[-1] in {"password", "salt", "md5", "sha1", "sha256"}
                   for n in names)
    uuid = next(r for r in column_rows(find_table(RAW.name)) if r[0] == "login.uuid")
    assert uuid[2] == "not null"


def test_a_field_in_a_nullable_struct_is_nullable() -> None:
    # GIVEN a contract whose non-null field sits inside a nullable struct
    from contracts.schema import Struct

    contract = TableContract("db", "t", "p", (
        Field("outer", Struct((Field("inner", Kind.INT, nullable=False),))),))
    # THEN the flattened column may be null (the struct itself may be)
    assert column_rows(find_table("t", [contract]))[0] == ("outer.inner", "int", "nullable", "")


@given(st.text(min_size=1, max_size=30).filter(lambda s: s not in TABLES and "." not in s))
def test_unknown_table_names_the_known_ones(name: str) -> None:
    # WHEN an unknown table is asked for THEN one line names it and lists the real ones
    with pytest.raises(UnknownTableError) as err:
        find_table(name)
    message = str(err.value)
    assert repr(name) in message and "users" in message and "\n" not in message


def test_pipes_in_docs_do_not_break_the_markdown_table() -> None:
    # GIVEN a column comment containing a pipe
    contract = TableContract("db", "t", "p", (Field("c", Kind.STRING, doc="a | b"),), doc="x")
    # THEN the Markdown escapes it (the row keeps four cells)
    row = next(ln for ln in render_markdown(all_tables([contract])).splitlines()
               if ln.startswith("| `c`"))
    assert "a \\| b" in row


def test_partition_rows_come_from_the_catalogs_partition_parameters() -> None:
    # GIVEN GetPartitions answers: a crawled raw partition, a job-published one, one bare
    from contracts.dictionary import partition_rows

    parts = [
        {"Values": ["2026-11-28"], "Parameters": {"recordCount": "2923", "objectCount": "4"},
         "StorageDescriptor": {"Location": "s3://lake/raw/user_data/p_date=2026-11-28/"}},
        {"Values": ["2026-11-29"], "Parameters": {"recordCount": "2194", "objectCount": "1"},
         "StorageDescriptor": {"Location": "s3://lake/t/users/_versions/x/"}},
        {"Values": ["2026-11-27"], "StorageDescriptor": {"Location": "s3://lake/p/"}},
    ]
    # THEN they are listed newest first with their counts (None where unknown)
    assert partition_rows(parts) == [
        ("2026-11-29", 2194, 1, "s3://lake/t/users/_versions/x/"),
        ("2026-11-28", 2923, 4, "s3://lake/raw/user_data/p_date=2026-11-28/"),
        ("2026-11-27", None, None, "s3://lake/p/")]
