"""The warm local Glue service's settings, its endpoint record and the run's error text."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_aws.glue import warm
from local_aws.glue.jobs import JobRunError, error_message
from local_aws.glue.warm import Endpoint, read_endpoint, write_endpoint
from udp_cli.cli import main


@pytest.mark.parametrize(("env", "no_warm", "wanted"), [
    (None, False, True), ("on", False, True), (None, True, False), ("off", False, False),
    ("OFF", False, False), ("0", False, False), ("false", False, False)])
def test_the_service_is_used_unless_turned_off(monkeypatch: pytest.MonkeyPatch,
                                               env: str | None, no_warm: bool,
                                               wanted: bool) -> None:
    # GIVEN the environment setting and the flag WHEN asked THEN the answer follows both
    if env is None:
        monkeypatch.delenv(warm.ENV_MODE, raising=False)
    else:
        monkeypatch.setenv(warm.ENV_MODE, env)
    assert warm.warm_wanted(no_warm) is wanted


def test_the_idle_timeout_is_minutes_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(warm.ENV_IDLE, raising=False)
    assert warm.idle_timeout_s() == 15 * 60
    monkeypatch.setenv(warm.ENV_IDLE, "0.5")
    assert warm.idle_timeout_s() == 30
    for bad in ("soon", "0", "-3", "nan"):
        monkeypatch.setenv(warm.ENV_IDLE, bad)
        with pytest.raises(ValueError, match=warm.ENV_IDLE):
            warm.idle_timeout_s()


def test_a_bad_idle_timeout_is_one_line_from_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the service wanted and an idle timeout that is not a number
    monkeypatch.setenv(warm.ENV_MODE, "on")
    monkeypatch.setenv(warm.ENV_IDLE, "soon")
    # WHEN a run is asked for THEN one line says which setting is wrong, exit 2
    assert main(["--state-dir", str(tmp_path), "run", "--date", "2026-01-01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("udp: error: UDP_GLUE_SERVICE_IDLE_MINUTES must be")
    assert len(err.strip().splitlines()) == 1


def test_an_error_from_the_service_reads_as_the_job_raised_it() -> None:
    class DataQualityBreach(Exception):
        pass

    here = error_message(DataQualityBreach("2 rules failed"))
    there = error_message(JobRunError("DataQualityBreach", "2 rules failed"))
    assert here == there == "DataQualityBreach: 2 rules failed"


def test_the_endpoint_record_round_trips_owner_only(tmp_path: Path) -> None:
    endpoint = Endpoint(pid=123, port=4567, token="ab" * 32, version="v1", started_at=1.5,
                        idle_timeout_s=900.0)
    write_endpoint(tmp_path / "glue-service", endpoint)
    assert read_endpoint(tmp_path / "glue-service") == endpoint
    assert (tmp_path / "glue-service" / "endpoint.json").stat().st_mode & 0o077 == 0
    (tmp_path / "glue-service" / "endpoint.json").write_text("{not json")
    assert read_endpoint(tmp_path / "glue-service") is None


def test_the_code_version_changes_with_a_source(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a copy of one package WHEN one of its files changes THEN the digest differs
    package = tmp_path / "contracts"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(warm, "PROJECT_ROOT", tmp_path)
    warm.source_version.cache_clear()
    try:
        before = warm.source_version()
        (package / "a.py").write_text("x = 2\n")
        warm.source_version.cache_clear()
        assert warm.source_version() != before
    finally:
        warm.source_version.cache_clear()


def test_each_run_in_the_service_gets_its_own_log_records_and_its_pools() -> None:
    """Two runs at once in one service: each answer holds what that run logged, from its
    own thread and from the job's pool threads, and nothing of the other run's."""
    import logging
    import threading

    from glue_jobs.transform_job import _ContextPool
    from local_aws.glue.warm_server import _RUN_RECORDS, _Capture

    job_log = logging.getLogger("glue_jobs.transform_job")
    capture = _Capture()
    root = logging.getLogger()
    level = job_log.level
    job_log.setLevel(logging.INFO)
    root.addHandler(capture)
    both_running = threading.Barrier(2)
    got: dict[str, list[str]] = {}

    def run(day: str) -> None:
        records: list[dict[str, object]] = []
        token = _RUN_RECORDS.set(records)
        try:
            job_log.info("start %s", day)
            both_running.wait(10)
            with _ContextPool(2) as pool:
                for f in [pool.submit(job_log.info, "write %s part %d", day, i)
                          for i in range(2)]:
                    f.result()
        finally:
            _RUN_RECORDS.reset(token)
        got[day] = sorted(str(r["msg"]) for r in records)

    try:
        threads = [threading.Thread(target=run, args=(d,)) for d in ("D1", "D2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        job_log.info("outside any run")  # the service's own time: nobody's
    finally:
        root.removeHandler(capture)
        job_log.setLevel(level)
    assert got == {d: [f"start {d}", f"write {d} part 0", f"write {d} part 1"]
                   for d in ("D1", "D2")}
