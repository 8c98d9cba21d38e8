"""A killed run leaves nothing running unreported and no temp folders.

Each test starts a real ``udp``-like child process (embedded PostgreSQL, or the local
stack's Spark), kills it with SIGKILL, and checks what the next start does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from local_aws.cloud import LocalCloud
from local_aws.paths import LocalPaths
from local_aws.processes import (
    HANDLE_FILE,
    clean_stale_scratch,
    clean_up,
    pid_alive,
    process_scratch,
    running_services,
)
from local_aws.redshift.warehouse import LocalWarehouse

ROOT = Path(__file__).resolve().parents[2]


def start_child(code: str) -> subprocess.Popen[str]:
    """A Python child running ``code`` in this tree; returns once it printed 'ready'."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        _, err = child.communicate()
        pytest.fail(f"child did not start: {err[:3000]}")
    return child


def sigkill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)  # reaped: no zombie left to look alive


def wait_gone(pids: list[int], seconds: float = 60) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if pid_alive(p)]


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture
def state() -> Iterator[Path]:
    """A state folder outside pytest's numbered temp folders: on a shared machine another
    pytest session may tidy those (and chmod their root 0700) while a server the
    ``embedded_postgres`` system user runs still lives in one."""
    root = Path(tempfile.mkdtemp(prefix="udp-proc-"))
    state = root / "st"
    yield state
    pgdata = LocalPaths(state).warehouse / "pgdata"
    if (pgdata / "postmaster.pid").exists():  # never leave a server behind a failed test
        clean_up(state)
    shutil.rmtree(root, ignore_errors=True)


WAREHOUSE_CHILD = """
    import time
    from pathlib import Path
    from local_aws.redshift.warehouse import LocalWarehouse
    LocalWarehouse(Path({data!r})).start()
    print("ready", flush=True)
    time.sleep(600)
"""


def test_warehouse_of_a_killed_run_is_reported_reused_and_stopped(state: Path) -> None:
    data = LocalPaths(state).warehouse
    pgdata = data / "pgdata"
    # GIVEN a process that started the warehouse, killed with SIGKILL
    child = start_child(WAREHOUSE_CHILD.format(data=str(data)))
    sigkill(child)
    server = postmaster_pid(pgdata)
    assert pid_alive(server)
    assert child.pid in [int(p) for p in (pgdata / HANDLE_FILE).read_text()
                         .strip("[]").split(",")]
    # WHEN `udp status` asks what runs
    (service,) = running_services(state)
    # THEN the server is reported as an orphan, with its pid
    assert (service.name, service.pid, service.orphan) == ("warehouse", server, True)
    assert "orphan" in service.describe()

    # WHEN a new run starts the warehouse
    wh = LocalWarehouse(data).start()
    with wh.connect() as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    # THEN it reused the running server, and the dead pid is gone from the record
    assert postmaster_pid(pgdata) == server, (pgdata / "log").read_text()[-3000:]
    assert str(child.pid) not in (pgdata / HANDLE_FILE).read_text()
    assert running_services(state)[0].holders == (os.getpid(),)
    # AND when that run ends, the server stops: nothing runs, no stale record
    wh.stop()
    assert wait_gone([server]) == []
    assert running_services(state) == []
    assert (pgdata / HANDLE_FILE).read_text().strip() == "[]"


def test_clean_up_keeps_a_held_warehouse_and_stops_an_orphaned_one(state: Path) -> None:
    data = LocalPaths(state).warehouse
    # GIVEN a live process holding the warehouse
    child = start_child(WAREHOUSE_CHILD.format(data=str(data)))
    server = postmaster_pid(data / "pgdata")
    # WHEN cleaned up; THEN nothing is stopped and the holder is reported
    assert not clean_up(state).stopped_warehouse
    (service,) = running_services(state)
    assert (service.holders, service.orphan) == ((child.pid,), False)
    # GIVEN that holder killed with SIGKILL
    sigkill(child)
    # WHEN cleaned up (what `udp status --clean`, or the CLI's start, does)
    report = clean_up(state)
    # THEN the dead pid is pruned and the server stopped
    assert report.dead_handles == [child.pid]
    assert report.stopped_warehouse
    assert wait_gone([server]) == []
    assert running_services(state) == []


SPARK_CHILD = """
    import time
    from pathlib import Path
    from local_aws.cloud import LocalCloud
    stack = LocalCloud(Path({state!r}))
    df = stack.spark.range(50000).repartition(4)  # a shuffle writes into spark.local.dir
    assert df.groupBy((df.id % 7).alias("k")).count().count() == 7
    print("ready", flush=True)
    time.sleep(600)
"""


def test_temp_folders_of_a_killed_spark_job_go_at_the_next_start(state: Path) -> None:
    tmp = LocalPaths(state).tmp
    # GIVEN a process running Spark through the local stack, killed with SIGKILL
    child = start_child(SPARK_CHILD.format(state=str(state)))
    jvms = [p.pid for p in psutil.Process(child.pid).children(recursive=True)]
    scratch = tmp / f"spark-{child.pid}"
    # THEN while it ran, Spark's temp folders were under the state folder and reported
    assert (scratch / "local").is_dir() and any((scratch / "local").iterdir())
    assert (scratch / "java").is_dir()
    assert "spark" in [s.name for s in running_services(state)]
    sigkill(child)
    # AND the JVM dies with its Python parent
    assert wait_gone(jvms) == [], "Spark's JVM outlived its killed driver"
    assert scratch.is_dir()
    # WHEN the next run starts the stack
    LocalCloud(state).close()
    # THEN the killed job's folders are gone
    assert not scratch.exists()
    assert running_services(state) == []


def test_scratch_of_a_live_process_is_kept(tmp_path: Path) -> None:
    # GIVEN this (live) process's scratch and a dead pid's
    mine = process_scratch(tmp_path, "spark")
    dead = tmp_path / "spark-999999999"
    dead.mkdir()
    other = tmp_path / "notes"  # not a scratch folder: never touched
    other.mkdir()
    # WHEN stale scratch is cleaned; THEN only the dead pid's folder goes
    assert clean_stale_scratch(tmp_path) == [dead]
    assert mine.is_dir() and other.is_dir()
    assert oct(mine.stat().st_mode & 0o777) == "0o700"


ENGINES_CHILD = """
    from pathlib import Path
    from local_aws.cloud import LocalCloud
    from local_aws.processes import running_services
    state = Path({state!r})
    with LocalCloud(state) as cloud:
        cloud.start_engines()  # and the command ends at once
    # Spark lives as long as this process; the warehouse must not
    print(cloud._spark is not None, cloud._warehouse is None,
          [s.name for s in running_services(state) if s.name != "spark"], flush=True)
"""


def test_engines_started_ahead_are_waited_for_and_stopped_when_the_command_ends(
        state: Path) -> None:
    # GIVEN a command that starts Spark and the warehouse ahead of its run
    # WHEN it ends before either engine is up
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(
        ENGINES_CHILD.format(state=str(state)))], env=env, capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # THEN both engines came up, and the warehouse was stopped with the command
    assert done.stdout.split("\n")[0] == "True True []", done.stderr[-3000:]
    pgdata = LocalPaths(state).warehouse / "pgdata"
    assert not (pgdata / "postmaster.pid").exists()
