"""The warm local Glue service, as ``udp`` commands reach it.

A cold local Spark costs seconds before the first query (the JVM's start, then JIT and
code generation on the first jobs), and every ``udp run`` used to pay them again. With
the service, the local Glue twin's ``StartJobRun`` of the transform job hands the run to
one long-lived process per state folder (``local_aws.glue.warm_server``) that keeps a
local Spark between commands and runs the same entrypoint body
(``local_aws.glue.transform_entry``) on a new Spark session per run. The run's
``Output``, its ``ErrorMessage`` on failure and the job's log records come back as if the
job had run in the command's own process.

Everything about the service lives in ``<state>/glue-service/``:

``endpoint.json``
    pid, localhost port, a random token (the connection's key), the version of the code
    it runs and its start time; written (0600) once its Spark is up, removed when it ends.
``lock``
    taken while a command checks, replaces or starts the service (two commands at once
    start one service, not two).
``service.log``
    the service's own output (its Spark's warnings, why it stopped).

A command uses the running service only if it answers and runs the same code: a
service that crashed or hangs is killed and replaced, one whose code differs from the
command's (:func:`source_version`) is stopped and replaced. It ends by itself after
``UDP_GLUE_SERVICE_IDLE_MINUTES`` (default 15) without a run, when its endpoint file is
gone (the state folder was removed) or when ``udp status --clean`` stops it.
``UDP_GLUE_SERVICE=off`` (or ``udp --no-warm``) runs the job in the command's process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

import psutil

from local_aws.files import atomic_write_bytes
from local_aws.glue.jobs import JobRunError

__all__ = [
    "DEFAULT_IDLE_MINUTES",
    "ENV_IDLE",
    "ENV_MODE",
    "Endpoint",
    "GlueServiceError",
    "ServiceInfo",
    "WarmGlue",
    "idle_timeout_s",
    "read_endpoint",
    "service_folder",
    "service_info",
    "source_version",
    "stop_service",
    "warm_wanted",
    "write_endpoint",
]

log = logging.getLogger(__name__)

ENV_MODE = "UDP_GLUE_SERVICE"
"""``off`` (or ``0``, ``no``, ``false``): run Glue jobs in the command's own process."""
ENV_IDLE = "UDP_GLUE_SERVICE_IDLE_MINUTES"
"""Minutes without a run after which the service ends (default 15)."""
DEFAULT_IDLE_MINUTES = 15.0
SERVER_MODULE = "local_aws.glue.warm_server"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("contracts", "sql", "crawlers", "glue_jobs", "orchestration", "local_aws")
"""What a service's job may import: a change to any of them makes the service stale."""
_START_TIMEOUT_S = 300.0
_ANSWER_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 60.0
_OFF = frozenset({"off", "0", "no", "false"})


class GlueServiceError(RuntimeError):
    """The service could not be started or reached; the message says why, in one line."""


def warm_wanted(no_warm: bool = False) -> bool:
    """Whether a command runs its Glue jobs in the warm service: yes, unless ``--no-warm``
    was given or ``UDP_GLUE_SERVICE`` says ``off``."""
    return not no_warm and os.environ.get(ENV_MODE, "on").strip().lower() not in _OFF


def idle_timeout_s() -> float:
    """The idle timeout from ``UDP_GLUE_SERVICE_IDLE_MINUTES``, in seconds (ValueError,
    one line, if it is not a positive number)."""
    text = os.environ.get(ENV_IDLE, "").strip()
    if not text:
        return DEFAULT_IDLE_MINUTES * 60
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not minutes > 0 or minutes != minutes:
        raise ValueError(f"{ENV_IDLE} must be a positive number of minutes, got {text!r}")
    return minutes * 60


@lru_cache(maxsize=1)
def source_version() -> str:
    """A digest of the code a service runs: every source and data file of the packages a
    job imports, the Python and the PySpark it runs on. Equal digests, same code."""
    digest = hashlib.sha256()
    from importlib.metadata import version

    digest.update(f"{sys.version}|{sys.executable}|{version('pyspark')}".encode())
    for package in _PACKAGES:
        folder = PROJECT_ROOT / package
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".json", ".sql", ".properties") and path.is_file() \
                    and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def service_folder(state_dir: Path) -> Path:
    """``<state>/glue-service``: the service's endpoint, lock and log."""
    return Path(state_dir) / "glue-service"


@dataclass(frozen=True)
class Endpoint:
    """Where a running service listens, and what it runs."""

    pid: int
    port: int
    token: str
    version: str
    started_at: float
    idle_timeout_s: float


def read_endpoint(folder: Path) -> Endpoint | None:
    """The endpoint recorded in ``folder``, or None (none, or unreadable)."""
    try:
        data = json.loads((folder / "endpoint.json").read_text())
        return Endpoint(int(data["pid"]), int(data["port"]), str(data["token"]),
                        str(data["version"]), float(data["started_at"]),
                        float(data["idle_timeout_s"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_endpoint(folder: Path, endpoint: Endpoint) -> None:
    """Publish ``endpoint`` (owner-only, replaced whole)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write_bytes(folder / "endpoint.json", json.dumps(asdict(endpoint)).encode())
    (folder / "endpoint.json").chmod(0o600)


def _forget(folder: Path, endpoint: Endpoint) -> None:
    """Remove the endpoint file if it still names ``endpoint``."""
    if read_endpoint(folder) == endpoint:
        with contextlib.suppress(FileNotFoundError):
            (folder / "endpoint.json").unlink()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / "lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _connect(endpoint: Endpoint, timeout: float = _ANSWER_TIMEOUT_S) -> Connection:
    """A connection to the service, both sides proven by the token; TimeoutError if the
    process accepts but does not answer (hung)."""
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["conn"] = Client(("127.0.0.1", endpoint.port), authkey=endpoint.token.encode())
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=connect, name="glue-service-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if "conn" in box:
        conn: Connection = box["conn"]
        return conn
    if "error" in box:
        raise box["error"]
    raise TimeoutError(f"the local Glue service (pid {endpoint.pid}) does not answer")


def _ask(endpoint: Endpoint, request: dict[str, Any],
         timeout: float = _ANSWER_TIMEOUT_S) -> dict[str, Any]:
    """Send one short request (not a run) and return the answer."""
    with _connect(endpoint, timeout) as conn:
        conn.send(request)
        if not conn.poll(timeout):
            raise TimeoutError(f"the local Glue service (pid {endpoint.pid}) does not answer")
        answer: dict[str, Any] = conn.recv()
        return answer


def _is_service(pid: int) -> bool:
    """Whether ``pid`` is a warm Glue service process (not a reused pid)."""
    try:
        return SERVER_MODULE in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _end(pid: int, wait_s: float) -> None:
    """Wait up to ``wait_s`` for a service to exit, then SIGTERM, then SIGKILL."""
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        try:
            proc.wait(wait_s)
            return
        except psutil.TimeoutExpired:
            pass
        proc.terminate()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _stop(folder: Path, endpoint: Endpoint, wait_s: float) -> None:
    """Ask a service to stop (it finishes a run in progress), and make sure it ends."""
    if _is_service(endpoint.pid):
        try:
            _ask(endpoint, {"op": "stop"})
        except (OSError, EOFError, TimeoutError):
            wait_s = 0.0  # it cannot hear us: end it
        _end(endpoint.pid, wait_s)
    _forget(folder, endpoint)


def _replay_logs(records: list[dict[str, Any]]) -> None:
    """Emit the job's log records here, in the calling thread: the run log stamps them
    with this run's context, as when the job logged in this process."""
    for fields in records:
        record = logging.makeLogRecord(fields)
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


class WarmGlue:
    """The warm service of one state folder, as one command uses it."""

    def __init__(self, state_dir: Path, *, cores: int = 2, runs: int = 1) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.folder = service_folder(self.state_dir)
        self.cores = cores
        self.runs = runs
        """Job runs a service this command starts takes at once."""
        self.started_pid: int | None = None
        """The pid of the service this command started, if it started one."""
        self._endpoint: Endpoint | None = None
        self._lock = threading.Lock()

    def ensure(self) -> Endpoint:
        """The running service of this state folder, running this code; started (or
        replaced) if there is none."""
        with self._lock:
            if self._endpoint is not None:
                return self._endpoint
            with _locked(self.folder):
                endpoint = read_endpoint(self.folder)
                if endpoint is not None and not self._usable(endpoint):
                    endpoint = None
                self._endpoint = endpoint or self._spawn()
            return self._endpoint

    def _usable(self, endpoint: Endpoint) -> bool:
        """Whether ``endpoint``'s service answers and runs this code; if not, it is
        stopped (another version) or killed (crashed, hung) and forgotten."""
        if not _is_service(endpoint.pid):  # died (or the pid is someone else's now)
            _forget(self.folder, endpoint)
            return False
        try:
            answer = _ask(endpoint, {"op": "ping"})
        except (OSError, EOFError, TimeoutError) as exc:
            log.warning("the local Glue service (pid %d) does not answer (%s): replacing it",
                        endpoint.pid, exc)
            _end(endpoint.pid, 0.0)
            _forget(self.folder, endpoint)
            return False
        if answer.get("version") != source_version() or answer.get("stopping"):
            log.info("the local Glue service (pid %d) runs other code: replacing it",
                     endpoint.pid)
            _stop(self.folder, endpoint, _STOP_TIMEOUT_S)
            return False
        return True

    def _spawn(self) -> Endpoint:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_path = self.folder / "service.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        argv = [sys.executable, "-m", SERVER_MODULE, "--state-dir", str(self.state_dir),
                "--cores", str(self.cores), "--idle-seconds", str(idle_timeout_s()),
                "--runs", str(self.runs)]
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                    cwd=self.state_dir, env=env, start_new_session=True)
        finally:
            os.close(fd)
        _SPAWNED.append(proc)  # never waited for here: it outlives the command
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            endpoint = read_endpoint(self.folder)
            if endpoint is not None and endpoint.pid == proc.pid:
                self.started_pid = proc.pid
                log.info("started the local Glue service, pid %d", proc.pid)
                return endpoint
            code = proc.poll()
            if code is not None or time.monotonic() > deadline:
                if code is None:
                    proc.kill()
                raise GlueServiceError(
                    f"the local Glue service did not start ({_last_line(log_path)}); "
                    f"its log is {log_path}; `udp --no-warm` runs jobs without it")
            time.sleep(0.05)

    def run_transform(self, args: Mapping[str, str],
                      secrets: Mapping[str, str]) -> dict[str, Any]:
        """Run the transform job for resolved ``args`` in the service, its Secrets Manager
        holding ``secrets`` (id → value, what the command's own twin holds); its
        ``Output``. The job's failure is raised as :class:`JobRunError` with the job's own
        exception name and message."""
        for _ in range(2):  # a service that ended between runs is replaced once
            endpoint = self.ensure()
            try:
                conn = _connect(endpoint)
            except (OSError, EOFError, TimeoutError):
                self._drop(endpoint)
                continue
            with conn:
                conn.send({"op": "run", "args": dict(args), "secrets": dict(secrets)})
                try:
                    answer: dict[str, Any] = conn.recv()
                except (OSError, EOFError):
                    self._drop(endpoint)
                    raise JobRunError("GlueServiceLost", (
                        f"the local Glue service (pid {endpoint.pid}) ended during the run; "
                        f"its log is {self.folder / 'service.log'}")) from None
            if answer.get("refused"):  # it was stopping
                self._drop(endpoint)
                continue
            _replay_logs(answer.get("logs", []))
            if answer["ok"]:
                output: dict[str, Any] = answer["output"]
                return output
            raise JobRunError(answer["error"], answer["message"])
        raise GlueServiceError("the local Glue service could not be reached; "
                               "`udp --no-warm` runs jobs without it")

    def _drop(self, endpoint: Endpoint) -> None:
        with self._lock:
            if self._endpoint == endpoint:
                self._endpoint = None


_SPAWNED: list[subprocess.Popen[bytes]] = []


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return lines[-1].strip()[:200] if lines else "no output"


@dataclass(frozen=True)
class ServiceInfo:
    """What ``udp status`` says of a running service."""

    pid: int
    uptime_s: float
    memory_bytes: int
    idle_s: float | None
    """Seconds since its last run ended; None while a run is going or if it did not answer."""
    busy: bool
    runs: int
    idle_timeout_s: float
    peak_runs: int = 0
    """The most job runs it ran at once."""

    def describe(self) -> str:
        """One line: pid, uptime, memory (the service and its Spark JVM), idle time."""
        state = ("running a job" if self.busy else
                 "not answering" if self.idle_s is None else f"idle {_span(self.idle_s)}")
        return (f"glue service: pid {self.pid}, warm Spark, up {_span(self.uptime_s)}, "
                f"{self.memory_bytes / 2**20:,.0f} MB, {self.runs} "
                f"run{'' if self.runs == 1 else 's'}"
                f"{f' ({self.peak_runs} at once)' if self.peak_runs > 1 else ''}, {state} "
                f"(stops after {_span(self.idle_timeout_s)} idle)")


def _span(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def service_info(state_dir: Path) -> ServiceInfo | None:
    """The running service of ``state_dir``, or None. Asking does not count as use."""
    endpoint = read_endpoint(service_folder(state_dir))
    if endpoint is None or not _is_service(endpoint.pid):
        return None
    try:
        proc = psutil.Process(endpoint.pid)
        memory = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return None
    try:
        answer = _ask(endpoint, {"op": "ping"}, timeout=3.0)
    except (OSError, EOFError, TimeoutError):
        answer = {}
    return ServiceInfo(endpoint.pid, time.time() - endpoint.started_at, memory,
                       answer.get("idle_s"), bool(answer.get("busy")),
                       int(answer.get("runs", 0)), endpoint.idle_timeout_s,
                       int(answer.get("peak", 0)))


def stop_service(state_dir: Path) -> int | None:
    """Stop the service of ``state_dir`` (after a run in progress ends); its pid, or None
    when none was running."""
    folder = service_folder(state_dir)
    if not folder.is_dir():
        return None
    with _locked(folder):
        endpoint = read_endpoint(folder)
        if endpoint is None:
            return None
        running = _is_service(endpoint.pid)
        _stop(folder, endpoint, _STOP_TIMEOUT_S)
        return endpoint.pid if running else None
