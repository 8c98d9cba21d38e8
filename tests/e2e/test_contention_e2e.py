"""Two `udp run --date D` processes started together against one state folder
(one run per date): one runs the day, the other refuses with one line naming the holder,
and the day is whole afterwards (the catalog points at a folder that exists, `udp query`
counts all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
from local_aws.user_api.server import ApiOptions

pytestmark = pytest.mark.slow

DAY = "2026-11-23"
ROOT = Path(__file__).resolve().parents[2]


def udp(state: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "udp_cli.cli", "--state-dir", str(state),
                             *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_runs_of_one_date_at_once_run_it_once_and_leave_it_whole(
        tmp_path: Path) -> None:
    # GIVEN one small ingested day
    stack = LocalCloud(tmp_path)
    [ingest] = simulate_days([DayPlan(date(2026, 11, 23), 2, 1, 40)], stack,
                             options=ApiOptions(malformed_rate=0.0))
    valid = ingest.total("records_valid")
    stack.close()
    # WHEN two runs of that date start at the same moment (nightly + manual rerun)
    procs = [udp(tmp_path, "run", "--date", DAY) for _ in range(2)]
    outcomes = [(p.wait(600), *p.communicate()) for p in procs]
    # THEN exactly one ran the day and the other refused with one line naming the holder
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 75], outcomes
    [(_, _, refusal)] = [o for o in outcomes if o[0] == 75]
    lines = [line for line in refusal.splitlines() if line.startswith("udp:")]
    assert len(lines) == 1 and "Traceback" not in refusal, refusal
    assert lines[0].startswith(f"udp: refused: p_date {DAY} is already being run by ")
    assert "execution:" in lines[0] and "(pid " in lines[0]
    # AND no lease is left behind
    leases = json.loads((tmp_path / "dynamodb" / "udp-date-leases.json").read_text())
    assert leases == {}
    # AND the catalog's partition for the day points at a folder that exists
    stack = LocalCloud(tmp_path)
    parts = stack.catalog.get_partitions(DatabaseName=stack.cfg.transform_database,
                                         TableName="users")["Partitions"]
    [part] = [p for p in parts if p["Values"] == [DAY]]
    location = part["StorageDescriptor"]["Location"]
    assert list(stack.store.path(location).glob("*.parquet")), location
    stack.close()
    # AND `udp query` answers the full count
    query = udp(tmp_path, "query", f"select count(*) as n from users where p_date = '{DAY}'",
                "--format", "json")
    out, err = query.communicate(timeout=300)
    assert query.returncode == 0, err
    assert json.loads(out) == [{"n": valid}]
