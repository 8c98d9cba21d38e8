"""One small day through every stage on the local twins, driven by the state machine."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
from local_aws.user_api.server import ApiOptions, generate_user
from udp_cli.cli import main

pytestmark = pytest.mark.slow

DAY = "2026-11-22"
OPTIONS = ApiOptions(malformed_rate=0.05)
PLAN = DayPlan(date(2026, 11, 22), invocations=3, pages_per_invocation=2, page_size=40)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("udp")
    stack = LocalCloud(state)
    simulate_days([PLAN], stack, options=OPTIONS)
    return state


def distinct_valid_uuids(state: Path) -> set[str]:
    files = list((state / "s3/udp-lake/raw/user_data").glob(f"p_date={DAY}/*.parquet"))
    logins = pq.read_table(files, columns=["login"]).column("login").combine_chunks()
    return set(logins.field("uuid").to_pylist())


def counts(stack: LocalCloud) -> dict[str, Any]:
    transform = stack.athena().query(
        f"select count(*), count(distinct user_id) from users where p_date = '{DAY}'").rows[0]
    with stack.warehouse.connect() as conn:
        wh = conn.execute("select count(*), count(distinct user_id) from analytics.users "
                          "where p_date = %s", (DAY,)).fetchone()
        audits = conn.execute("select count(*) from audit.load_log where p_date = %s "
                              "and lower(status) = 'succeeded'", (DAY,)).fetchone()[0]
    return {"transform": tuple(transform), "warehouse": tuple(wh), "audits": audits}


def test_three_runs_converge_on_the_same_rows(ingested: Path, capsys: Any) -> None:
    expected = len(distinct_valid_uuids(ingested))
    assert expected > 100
    seen = []
    with LocalCloud(ingested) as stack:
        for attempt in range(3):
            # WHEN the nightly state machine runs for the day (again)
            result = stack.run_pipeline(DAY)
            assert result.status == "SUCCEEDED", (result.error, result.cause)
            seen.append(counts(stack))
            assert seen[-1]["audits"] == attempt + 1
    # THEN transform layer, warehouse and distinct valid users agree, run after run
    for c in seen:
        assert c["transform"] == (expected, expected)
        assert c["warehouse"] == (expected, expected)
    # AND `udp query` (the analysts' path) says the same
    assert main(["--state-dir", str(ingested), "query", "--format", "csv",
                 f"select count(*) as n from users where p_date = '{DAY}'"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["n", str(expected)]


def test_no_secret_from_the_api_reaches_local_state(ingested: Path) -> None:
    with LocalCloud(ingested) as stack:
        assert stack.run_pipeline(DAY).status == "SUCCEEDED"
    pages = range(1, PLAN.start_page(PLAN.invocations - 1) + PLAN.pages_per_invocation)
    secrets = {generate_user(PLAN.seed, p, i, OPTIONS)["login"][k]
               for p in pages for i in range(PLAN.page_size)
               for k in ("password", "salt", "md5", "sha1", "sha256")}
    leaks = []
    for f in ingested.rglob("*"):
        if f.is_file() and "warehouse" not in f.parts:
            blob = f.read_bytes()
            leaks += [(f, s) for s in secrets if s.encode() in blob]
    assert not leaks
    # the warehouse holds only contract columns: none of them can carry a secret
    with LocalCloud(ingested) as stack, stack.warehouse.connect() as conn:
        cols = {r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema in "
            "('analytics', 'staging', 'audit')").fetchall()}
    assert not cols & {"password", "salt", "md5", "sha1", "sha256"}
