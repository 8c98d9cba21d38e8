"""One answer to "is this pid alive" for every twin (``local_aws.processes.pid_alive``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from local_aws.glue import crawlers
from local_aws.processes import pid_alive
from local_aws.stepfunctions import history


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield child
    child.kill()
    child.wait(timeout=30)


def _deny_signals(monkeypatch: pytest.MonkeyPatch, pid: int) -> None:
    """``os.kill(pid, 0)`` answers EPERM, as it does for another user's process."""
    real_kill = os.kill

    def kill(target: int, sig: int) -> None:
        if target == pid and sig == 0:
            raise PermissionError(1, "Operation not permitted")
        real_kill(target, sig)

    monkeypatch.setattr(os, "kill", kill)


def test_a_running_process_is_alive(sleeper: subprocess.Popen[bytes]) -> None:
    # GIVEN a running child; THEN it is alive (and so is this process)
    assert pid_alive(sleeper.pid)
    assert pid_alive(os.getpid())


def test_a_reaped_process_and_impossible_pids_are_dead() -> None:
    # GIVEN a child that exited and was reaped
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    # THEN its pid is dead; so are pids that cannot name one process
    assert not pid_alive(child.pid)
    assert not pid_alive(0)  # os.kill(0, 0) would probe our own process group
    assert not pid_alive(-1)
    assert not pid_alive(2**40)


def test_a_zombie_is_dead() -> None:
    # GIVEN a child that exited but is not reaped (Popen.poll/wait would reap it)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 60
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "child did not exit"
            time.sleep(0.05)
        # WHEN asked about the zombie; THEN it is dead: it will never release anything
        assert not pid_alive(child.pid)
    finally:
        child.wait(timeout=30)


def test_a_process_we_may_not_signal_is_alive(
        monkeypatch: pytest.MonkeyPatch, sleeper: subprocess.Popen[bytes]) -> None:
    # GIVEN a running process owned by another user: signal 0 raises EPERM
    _deny_signals(monkeypatch, sleeper.pid)
    # THEN it exists, so it is alive
    assert pid_alive(sleeper.pid)


def test_a_process_we_may_neither_signal_nor_inspect_is_alive(
        monkeypatch: pytest.MonkeyPatch, sleeper: subprocess.Popen[bytes]) -> None:
    # GIVEN EPERM from signal 0 and no access to its status (e.g. /proc mounted hidepid)
    _deny_signals(monkeypatch, sleeper.pid)

    def status(self: psutil.Process) -> str:
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "status", status)
    # THEN it still exists, so it is alive
    assert pid_alive(sleeper.pid)


def test_history_and_crawlers_use_the_same_answer() -> None:
    # GIVEN the run history's orphan check and the crawler twin's owner check
    # THEN both ask local_aws.processes, not a copy of their own
    assert history.pid_alive is pid_alive
    assert crawlers.pid_alive is pid_alive
