"""The warm local Glue service runs the transform job as the command's own process does.

A real service process (its own local Spark) runs the days of the golden capture
(``golden_transform.json``: two nightly days, then a backfill chunk of eight with two
breaching days) and a nightly run of a breaching day; the same runs go through the
in-process path on a copy of the same lake. Both publish the same rows, reach the same
DQ verdicts with the same messages, and fail with the same ``ErrorMessage``. Then: a
killed service is replaced, `udp status` shows the service, `udp status --clean` stops
it, and a service running other code is replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from contracts.pipeline import PipelineConfig
from local_aws.cloud import LocalCloud
from local_aws.glue import warm
from local_aws.glue.warm import WarmGlue, read_endpoint, service_folder, stop_service
from local_aws.processes import pid_alive
from tests.functional.test_transform_chunk import AGED, _doctor
from tests.functional.test_transform_golden import GOLDEN, _rows, _verdicts
from tests.functional.test_transform_job import (
    DAYS,
    Lake,
    history,  # noqa: F401  (the module-scoped 30-day raw lake)
)
from udp_cli.cli import main

CFG = PipelineConfig(email_hash_salt="pepper")  # the salt the golden lake was judged with


def _state(history: Path, folder: Path, spark: Any) -> Path:  # noqa: F811
    shutil.copytree(history, folder)
    _doctor(Lake(folder, spark))
    return folder


@pytest.fixture()
def served(history: Path, tmp_path: Path, spark: Any) -> Iterator[Path]:  # noqa: F811
    state = _state(history, tmp_path / "served", spark)
    yield state
    stop_service(state)


def _job_runs(cloud: LocalCloud) -> list[dict[str, Any]]:
    """The golden capture's runs through the Glue twin, then a nightly rerun of a day
    that breaches; every JobRun, in order."""
    name = cloud.cfg.transform_job
    calls = [{"--p_date": d.isoformat()} for d in DAYS[:2]]
    calls.append({"--p_dates": ",".join(d.isoformat() for d in DAYS[2:10]),
                  "--run_key": "golden-chunk"})
    calls.append({"--p_date": AGED.isoformat()})
    return [cloud.jobs.start_job_run_sync(JobName=name, Arguments=args) for args in calls]


def _same_parts(run: dict[str, Any]) -> dict[str, Any]:
    """What must match between two runs of the same job: state, error, and per day the
    status, cause, counts and DQ verdicts (not run ids, version folders or times)."""
    out = run.get("Output") or {}
    days = out.get("days") or ([out] if out else [])
    return {"state": run["JobRunState"], "error": run.get("ErrorMessage"),
            "days": [{"p_date": d["p_date"], "status": d.get("status"),
                      "cause": d.get("cause"), "rows_read": d.get("rows_read"),
                      "rows_written": d.get("rows_written"),
                      "dq": _verdicts(d.get("dq") or [])} for d in days]}


def test_a_job_in_the_service_publishes_and_judges_as_in_process(
        served: Path, history: Path, tmp_path: Path, spark: Any) -> None:  # noqa: F811
    # GIVEN two copies of the golden capture's lake
    local = _state(history, tmp_path / "in-process", spark)
    # WHEN the same job runs go through the Glue twin in this process and in the service
    with LocalCloud(local, CFG) as cloud:
        want = _job_runs(cloud)
    with LocalCloud(served, CFG, glue_service=True) as cloud:
        got = _job_runs(cloud)
        assert cloud.glue_service.started_pid is not None
        assert cloud.glue_service.started_pid != os.getpid()
    # THEN each run ends alike: same state, same error message, same verdicts
    assert [r["JobRunState"] for r in got] == ["SUCCEEDED"] * 3 + ["FAILED"]
    assert [_same_parts(r) for r in got] == [_same_parts(r) for r in want]
    assert got[-1]["ErrorMessage"] == want[-1]["ErrorMessage"]
    assert "age" in got[-1]["ErrorMessage"]
    # AND the service published exactly the rows the in-process job did, and the capture's
    golden = json.loads(GOLDEN.read_text())
    served_lake, local_lake = Lake(served, spark), Lake(local, spark)
    for day in golden:
        assert _rows(served_lake, day) == _rows(local_lake, day) == golden[day]["rows"], day
    chunk = {d["p_date"]: d for d in got[2]["Output"]["days"]}
    for day, entry in golden.items():
        verdicts = _verdicts(chunk[day]["dq"]) if day in chunk else None
        if verdicts is not None:
            assert json.loads(json.dumps(verdicts, default=str)) == entry["dq"], day


def test_two_runs_go_at_once_in_one_service_each_as_alone(
        served: Path, spark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the service of a cloud whose Glue job takes two runs at once
    golden = json.loads(GOLDEN.read_text())
    days = [d.isoformat() for d in DAYS[:2]]
    with LocalCloud(served, CFG, glue_service=True) as cloud:
        assert cloud.glue_service.runs == CFG.max_concurrent_runs == 2
        # WHEN two commands' threads each start a nightly run of another day at once
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda d: cloud.jobs.start_job_run_sync(
                JobName=CFG.transform_job, Arguments={"--p_date": d}), days))
    # THEN both succeed and publish the rows each day publishes alone
    assert [r["JobRunState"] for r in runs] == ["SUCCEEDED"] * 2, runs
    lake = Lake(served, spark)
    for day in days:
        assert _rows(lake, day) == golden[day]["rows"], day
    # AND the service ran them side by side
    line = next(x for x in _status(served, capsys).splitlines() if "glue service" in x)
    assert "2 runs (2 at once)" in line, line


def _status(state: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["--state-dir", str(state), "status", *extra]) == 0
    return capsys.readouterr().out


def test_a_killed_service_is_replaced_status_shows_it_and_clean_stops_it(
        served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a running service
    first = WarmGlue(served).ensure()
    assert pid_alive(first.pid)
    # WHEN it is killed
    os.kill(first.pid, signal.SIGKILL)
    psutil.Process(first.pid).wait(30)
    # THEN the next job run starts a new one and succeeds on it
    with LocalCloud(served, CFG, glue_service=True) as cloud:
        run = cloud.jobs.start_job_run_sync(JobName=CFG.transform_job,
                                            Arguments={"--p_date": DAYS[0].isoformat()})
        second = cloud.glue_service.started_pid
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert second is not None and second != first.pid
    endpoint = read_endpoint(service_folder(served))
    assert endpoint is not None and endpoint.pid == second
    # WHEN status is asked THEN it shows the service: pid, uptime, memory, idle time
    out = _status(served, capsys)
    line = next(x for x in out.splitlines() if "glue service" in x)
    assert f"pid {second}" in line and " up " in line and " MB" in line and "idle" in line
    assert "1 run," in line
    assert f"spark: pid {second}" not in out  # its scratch is not listed on its own
    # WHEN asked to clean THEN the service is stopped, and status no longer shows it
    out = _status(served, capsys, "--clean")
    assert f"stopped the warm local Glue service (pid {second})" in out
    assert not pid_alive(second)
    assert read_endpoint(service_folder(served)) is None
    assert "glue service" not in _status(served, capsys)


def test_a_service_running_other_code_is_replaced(
        served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a running service
    old = WarmGlue(served).ensure()
    # WHEN a command whose code differs asks for it
    monkeypatch.setattr(warm, "source_version", lambda: "another-version")
    new = WarmGlue(served).ensure()
    # THEN the old one was stopped and a new one started in its place
    assert new.pid != old.pid
    assert not pid_alive(old.pid)
    assert read_endpoint(service_folder(served)) == new


def test_an_idle_service_ends_by_itself(served: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a service whose idle timeout is three seconds
    monkeypatch.setenv(warm.ENV_IDLE, "0.05")
    endpoint = WarmGlue(served).ensure()
    # WHEN nothing uses it THEN it exits and removes its endpoint file
    psutil.Process(endpoint.pid).wait(120)
    assert read_endpoint(service_folder(served)) is None
