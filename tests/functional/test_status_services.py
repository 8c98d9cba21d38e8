"""`udp status` reports what runs for a state folder (engines, dates being run) and
`udp status --clean` cleans what killed runs left, saying what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.pipeline import PipelineConfig
from local_aws.dynamodb.table import LocalDynamoDb
from udp_cli.cli import main

ROOT = Path(__file__).resolve().parents[2]
TABLE = PipelineConfig().lease_table
_HOLD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from local_aws.dynamodb.table import LocalDynamoDb
db = LocalDynamoDb(Path(sys.argv[2]) / "dynamodb", {sys.argv[3]: "p_date"})
db.put_item(**{"TableName": sys.argv[3], "Item": {"p_date": {"S": sys.argv[4]},
             "holder": {"S": "execution:" + sys.argv[4]}, "started_at": {"S": "t0"}}})
print("held", flush=True)
time.sleep(float(sys.argv[5]))
"""


def hold(state: Path, day: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(ROOT), str(state), TABLE, day,
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_status_shows_the_dates_being_run_and_clean_frees_what_killed_runs_left(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a live run holding one date, a run killed while holding another, and the
    # scratch folder a killed Spark left
    (tmp_path / "runs").mkdir()
    live = hold(tmp_path, "2026-01-01", 120)
    killed = hold(tmp_path, "2026-01-02", 0)
    killed.wait(30)
    stale = tmp_path / "tmp" / f"spark-{killed.pid}"
    stale.mkdir(parents=True)
    try:
        # WHEN status is asked
        assert main(["--state-dir", str(tmp_path), "status"]) == 0
        out = capsys.readouterr().out
        # THEN it names the live run with its pid, and not the killed one
        assert f"running: run of 2026-01-01: execution:2026-01-01 (started t0, pid {live.pid})" \
            in out
        assert "2026-01-02" not in out
        # WHEN asked to clean
        assert main(["--state-dir", str(tmp_path), "status", "--clean"]) == 0
        out = capsys.readouterr().out
        # THEN it removed the killed run's scratch and lease, said so, and kept the live one
        assert f"removed scratch folder {stale}" in out
        assert "released the lease of 2026-01-02 (its run was killed)" in out
        assert not stale.exists()
        leases = LocalDynamoDb(tmp_path / "dynamodb", {TABLE: "p_date"})
        assert [i["p_date"]["S"] for i in leases.live_items(TABLE)] == ["2026-01-01"]
        # AND a second clean has nothing left to do
        assert main(["--state-dir", str(tmp_path), "status", "--clean"]) == 0
        assert capsys.readouterr().out.strip() == "nothing to clean"
    finally:
        live.kill()
        live.wait(30)
    # WHEN the live run is gone THEN status shows nothing running
    assert main(["--state-dir", str(tmp_path), "status"]) == 0
    assert "running: nothing running" in capsys.readouterr().out
