"""The nightly load is one script, Redshift's, and the twin runs it with two translations."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from glue_jobs.publish import manifest_uri
from glue_jobs.warehouse_port import (
    Statement,
    WarehouseLoadError,
    render_load_script,
    run_load_transaction,
)
from local_aws.redshift.postgres_adapter import PostgresWarehouse, parse_redshift_copy
from sql.load_script import LOAD_USERS, TWIN_TRANSLATES

URI = "s3://udp-lake/transform/users/p_date=2026-11-21/"
ROLE = "arn:aws:iam::123456789012:role/udp-redshift-copy"
DAY = "2026-11-21"


def _one(kind: str, script: tuple[Statement, ...]) -> str:
    (sql,) = [s.sql for s in script if s.kind == kind]
    return sql


def test_the_script_is_the_ordered_list_rendered_once() -> None:
    # GIVEN the load script rendered for one day, with and without a deliberate reload
    plain = render_load_script(URI, ROLE, DAY)
    reload = render_load_script(URI, ROLE, DAY, replace=True)
    # THEN its statements follow sql.load_script.LOAD_USERS (the DELETE only on reload)
    kinds = [s.kind for s in reload]
    assert kinds == ["lock", "stage", "stage", "stage", "stage", "copy", "replace", "summary",
                     "dedupe", "counts", "merge", "audit"]
    assert [s for s in reload if s.kind != "replace"] == list(plain)
    assert {s.kind for s in plain} | {"replace"} == {step.kind for step in LOAD_USERS}
    # AND the step names come once each, in the order the tests' hooks expect
    assert [s.done for s in plain if s.done] == [
        "locked", "staged", "copied", "deduped", "counted", "merged", "audited"]
    # AND only the COPY names S3 and the role
    assert [s.kind for s in plain if "s3://" in s.sql or "iam_role" in s.sql] == ["copy"]


def test_redshift_only_statements_parse_with_sqlglots_redshift_dialect() -> None:
    script = render_load_script(URI, ROLE, DAY)
    # COPY ... FROM 's3://…manifest' IAM_ROLE '…' FORMAT AS PARQUET MANIFEST: a COPY into
    # staging from the version's manifest, the role as its credentials, Parquet its format
    copy = sqlglot.parse_one(_one("copy", script), read="redshift")
    assert isinstance(copy, exp.Copy)
    assert copy.this.name == "stage_users"
    assert [f.name for f in copy.args["files"]] == [manifest_uri(URI)]
    assert copy.args["credentials"].args["iam_role"].name == ROLE
    assert [(p.this.name.lower(), p.expression and p.expression.name.lower())
            for p in copy.args["params"]] == [("format", "parquet"), ("manifest", None)]
    # CRC32 (Redshift's built-in, shimmed locally) inside the checksum, read through STRTOL
    # (sqlglot knows STRTOL as FromBase and keeps CRC32 as a named function call)
    summary = sqlglot.parse_one(_one("summary", script), read="redshift")
    strtol = [f for f in summary.find_all(exp.FromBase)]
    assert len(strtol) == 1
    assert isinstance(strtol[0].this, exp.Anonymous) and strtol[0].this.name.upper() == "CRC32"
    assert strtol[0].expression.name == "16"
    # MERGE in the form Redshift accepts: a plain table as its source, one WHEN MATCHED
    # UPDATE and one WHEN NOT MATCHED INSERT
    merge = sqlglot.parse_one(_one("merge", script), read="redshift")
    assert isinstance(merge, exp.Merge)
    assert isinstance(merge.args["using"], exp.Table)
    whens = merge.args["whens"].expressions
    assert [bool(w.args.get("matched")) for w in whens] == [True, False]
    assert not any(w.args.get("condition") for w in whens)


def test_lock_is_not_in_sqlglots_redshift_grammar_so_only_its_shape_is_checked(
        caplog: pytest.LogCaptureFixture) -> None:
    # sqlglot (30.x) has no LOCK statement for any dialect: it warns "contains unsupported
    # syntax" and returns an opaque Command. The closest check: it is LOCK of one table
    # named schema.table, the audit log, and nothing else.
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        lock = sqlglot.parse_one(_one("lock", render_load_script(URI, ROLE, DAY)),
                                 read="redshift")
    assert isinstance(lock, exp.Command)
    assert (lock.this.upper(), lock.expression.name) == ("LOCK", "audit.load_log")
    table = sqlglot.parse_one(f"select * from {lock.expression.name}", read="redshift")
    assert next(table.find_all(exp.Table)).sql() == "audit.load_log"


@dataclass
class RecordingCursor:
    sent: list[tuple[str, Any]] = field(default_factory=list)

    def execute(self, sql: str, params: Any = None) -> None:
        self.sent.append((sql, params))

    def fetchone(self) -> tuple[Any, Any]:
        return (3, "42") if "rows_staged" in self.sent[-1][0] else (2, 1)


def test_the_twin_sends_redshifts_statements_as_written_but_copy_and_lock() -> None:
    # GIVEN the rendered script and the twin's statement runner with stand-in edges
    script = render_load_script(URI, ROLE, DAY, replace=True)
    edges: list[str] = []
    run = PostgresWarehouse._runner(lambda _: edges.append("advisory lock"),
                                    lambda _: edges.append("copy from stdin"))
    cursor = RecordingCursor()
    # WHEN the transaction runs through it
    result = run_load_transaction(cursor, script, p_date=DAY, load_id="l-1",
                                  started_at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC), run=run)
    # THEN every statement but the translated kinds reached the server exactly as written,
    # in order, and each translated one was replaced by its twin edge once
    assert set(TWIN_TRANSLATES) == {"copy", "lock"}
    assert [sql for sql, _ in cursor.sent] == [
        s.sql for s in script if s.kind not in TWIN_TRANSLATES]
    assert edges == ["advisory lock", "copy from stdin"]
    assert (result.rows_staged, result.rows_inserted, result.rows_updated) == (3, 2, 1)
    assert cursor.sent[-1][1][:4] == ("l-1", "users", DAY, "succeeded")


@pytest.mark.parametrize("bad", [
    "copy stage_users from 's3://b/p_date=2026-11-21/' iam_role 'r' format as csv",
    "copy stage_users from 's3://b/p_date=2026-11-21/' credentials 'k' format as parquet",
    "copy stage_users from stdin",
])
def test_the_twin_refuses_a_copy_it_does_not_translate(bad: str) -> None:
    with pytest.raises(WarehouseLoadError, match="translates only COPY"):
        parse_redshift_copy(bad)
    assert parse_redshift_copy(_one("copy", render_load_script(URI, ROLE, DAY))) == (
        "stage_users", manifest_uri(URI))


def test_the_local_nightly_path_and_the_benchmark_load_with_redshifts_script() -> None:
    # GIVEN the twin adapter; THEN it has no other script to choose, and neither the local
    # stack nor bench/load.py (which takes its port from the local cloud) names one
    assert "script" not in inspect.signature(PostgresWarehouse).parameters
    root = Path(__file__).resolve().parents[2]
    for path, builds in (("local_aws/cloud.py", "PostgresWarehouse("),
                         ("bench/load.py", "cloud.warehouse_port(")):
        text = (root / path).read_text()
        assert builds in text and "script=" not in text, path
