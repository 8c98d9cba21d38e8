"""Reload a day after a transform change: `udp run --replace` rewrites the warehouse rows
of that day (an ordinary rerun does not: the load only takes newer versions), and the
audit log says ``replace``. Also: each run's JSON log and report, as `udp run` prints them."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Column
from pyspark.sql import functions as F

import glue_jobs.transforms as transforms
from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
from local_aws.user_api.server import ApiOptions
from udp_cli.cli import main

pytestmark = pytest.mark.slow

DAY = "2026-11-21"
PLAN = DayPlan(date(2026, 11, 21), invocations=2, pages_per_invocation=2, page_size=40)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reload")
    stack = LocalCloud(root)
    simulate_days([PLAN], stack, options=ApiOptions(malformed_rate=0.0))
    stack.close()
    return root


def udp_run(state: Path, capsys: Any, *extra: str) -> tuple[str, str]:
    """`udp run --date DAY ...`; returns (run id, stdout)."""
    assert main(["--state-dir", str(state), "run", "--date", DAY, *extra]) == 0
    out = capsys.readouterr().out
    found = re.search(r"run (\S+) for " + DAY + " SUCCEEDED", out)
    assert found, out
    return found.group(1), out


def warehouse(state: Path) -> tuple[dict[str, str], list[str]]:
    """(user_id -> city of the day, load_mode of each audit row, oldest first)."""
    with LocalCloud(state) as stack, stack.warehouse.connect() as conn:
        cities = dict(conn.execute("select user_id, city from analytics.users "
                                   "where p_date = %s", (DAY,)).fetchall())
        modes = [r[0] for r in conn.execute(
            "select load_mode from audit.load_log where p_date = %s and "
            "lower(status) = 'succeeded' order by started_at", (DAY,)).fetchall()]
    return cities, modes


def shouting_cities(monkeypatch: pytest.MonkeyPatch) -> None:
    """The "transform change": city upper-cased (a fix shipped after the day was loaded)."""
    original = transforms.model_columns

    def changed(salt: str) -> dict[str, Column]:
        cols = original(salt)
        return {**cols, "city": F.upper(cols["city"])}

    monkeypatch.setattr(transforms, "model_columns", changed)


def test_reload_after_a_transform_change_replaces_the_days_rows(
        state: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the day loaded by an ordinary run, its log and report printed
    first, out = udp_run(state, capsys)
    before, modes = warehouse(state)
    assert len(before) > 50 and modes == ["merge"]
    assert any(c != c.upper() for c in before.values() if c)
    log_file = state / "logs" / f"{first}.jsonl"
    assert f"log: {log_file}" in out
    assert re.search(r"^report: .+\.html$", out, re.M)
    # AND the run's log is JSON lines, each with run_id, p_date and stage, the bulk
    # import's own line among them
    lines = [json.loads(x) for x in log_file.read_text(encoding="utf-8").splitlines()]
    assert {x["run_id"] for x in lines} == {first} and {x["p_date"] for x in lines} == {DAY}
    assert all("stage" in x for x in lines)
    assert any(x["logger"] == "glue_jobs.warehouse_port" and x["stage"] == "RunBulkImport"
               for x in lines)

    # WHEN the transform changes and the day is rerun without --replace
    shouting_cities(monkeypatch)
    udp_run(state, capsys)
    # THEN the warehouse keeps the old rows: the load only takes newer versions
    unchanged, modes = warehouse(state)
    assert unchanged == before and modes == ["merge", "merge"]

    # WHEN it is rerun with --replace
    third, out = udp_run(state, capsys, "--replace")
    # THEN the day's rows are the new transform's, same users, and the audit says replace
    after, modes = warehouse(state)
    assert after.keys() == before.keys()
    assert after == {u: c.upper() if c else c for u, c in before.items()}
    assert modes == ["merge", "merge", "replace"]
    assert "replaced the day" in out
    # AND `udp status RUN --format json` shows the replace input's run and its log file
    assert main(["--state-dir", str(state), "status", third, "--format", "json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["status"] == "SUCCEEDED"
    assert detail["log_file"] == str(state / "logs" / f"{third}.jsonl")
