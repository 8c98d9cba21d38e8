"""The warm local Glue service's process: one local Spark, kept between ``udp`` commands.

Started detached by :class:`local_aws.glue.warm.WarmGlue` (``python -m
local_aws.glue.warm_server --state-dir S``), it builds the session with the project's
``local_spark()`` (the same settings as a job in the command's process: Glue 6.0's, ANSI
on, its scratch and event logs under the state folder), then answers on a localhost port,
each connection proven by the token in its endpoint file:

``run``
    the transform job's entrypoint body (``local_aws.glue.transform_entry``) on a new
    session of the one SparkContext (``spark.newSession()``: its own SQL settings and
    temporary views), with clients over the state folder's catalog and object store. At
    most ``--runs`` go at once (the local Glue job's ``MaxConcurrentRuns``, what a
    command's own Spark would run side by side), whichever command sends them; more
    wait their turn. The answer is the job's ``Output``, or its exception's class name
    and message, and the log records of that run alone (the job's pool threads carry its
    context).
``ping``
    the version it runs, whether a run is going, runs so far and the most at once,
    seconds idle.
``stop``
    no new runs; ends once the one in progress is done.

It ends by itself after its idle timeout, when its endpoint file no longer names it (the
state folder was removed, or another service replaced it), or on SIGTERM; then it stops
Spark (closing its event log) and removes its endpoint file.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import logging
import os
import pickle
import secrets
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from local_aws.glue.jobs import JobRunError
from local_aws.glue.warm import (
    Endpoint,
    read_endpoint,
    service_folder,
    source_version,
    write_endpoint,
)
from local_aws.paths import LocalPaths

__all__ = ["WarmServer", "main"]

log = logging.getLogger("local_aws.glue.warm_server")
_WATCH_S = 1.0
_RUN_RECORDS: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "run_records", default=None)
"""The log records of the run whose thread (or task of its job's pools) logs."""


class _Capture(logging.Handler):
    """Each run's log records, as picklable fields, into that run's list."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)

    def emit(self, record: logging.LogRecord) -> None:
        records = _RUN_RECORDS.get()
        if records is None or record.name.startswith(("local_aws.glue.warm", "py4j")):
            return  # not a run's, the service's own lines, or Spark's gateway chatter
        fields = dict(record.__dict__)
        fields.update(msg=record.getMessage(), args=None, exc_info=None)
        if record.exc_info:
            fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
        for key, value in list(fields.items()):
            try:
                pickle.dumps(value)
            except Exception:
                fields[key] = repr(value)
        records.append(fields)


class _Clients:
    """The transform job's clients in the service: this run's session, the state
    folder's catalog and object store, opened for the run, and the command's local
    Secrets Manager's values (the salt's secret), sent with the run."""

    def __init__(self, session: Any, paths: LocalPaths, secrets: dict[str, str]) -> None:
        from local_aws.glue.catalog import LocalGlueCatalog
        from local_aws.s3.client import LocalS3
        from local_aws.s3.objectstore import LocalObjectStore

        self._session = session
        self._secrets = dict(secrets)
        self._catalog = LocalGlueCatalog(paths.catalog)
        self._store = LocalObjectStore(paths.s3)
        self._s3 = LocalS3(self._store)

    def runtime(self) -> Any:
        from local_aws.glue.spark_runtime import LocalRuntime

        return LocalRuntime(self._session, self._catalog, self._store)

    def secrets(self) -> Any:
        from local_aws.secretsmanager.client import LocalSecretsManager

        return LocalSecretsManager(self._secrets)

    def s3(self) -> Any:
        return self._s3


class WarmServer:
    """The service of one state folder."""

    def __init__(self, state_dir: Path, *, cores: int, idle_timeout_s: float,
                 runs: int = 1) -> None:
        self.paths = LocalPaths(state_dir)
        self.folder = service_folder(state_dir)
        self.cores = cores
        self.idle_timeout_s = idle_timeout_s
        self.token = secrets.token_hex(32)
        self.version = source_version()
        self.started_at = time.time()
        self.last_used = time.monotonic()
        self.busy = 0
        self.runs = 0
        self.running = 0
        self.peak = 0
        """The most runs that went at once."""
        self.stopping = False
        self.spark: Any = None
        self.endpoint: Endpoint | None = None
        self._state = threading.Lock()
        self._run_slots = threading.BoundedSemaphore(max(1, runs))
        self._listener = Listener(("127.0.0.1", 0), authkey=self.token.encode())

    def serve(self) -> None:
        """Start Spark, publish the endpoint, answer until something ends the service."""
        from local_aws.glue.spark_session import local_spark
        from local_aws.processes import process_scratch

        signal.signal(signal.SIGTERM, lambda *_: self.shutdown("SIGTERM"))
        self.spark = local_spark(cores=self.cores,
                                 scratch_dir=process_scratch(self.paths.tmp, "spark"),
                                 event_log_dir=self.paths.spark_events)
        port = int(self._listener.address[1])
        self.endpoint = Endpoint(os.getpid(), port, self.token, self.version, self.started_at,
                                 self.idle_timeout_s)
        logging.getLogger().addHandler(_Capture())
        write_endpoint(self.folder, self.endpoint)
        log.info("ready on 127.0.0.1:%d, version %s", port, self.version)
        threading.Thread(target=self._watch, name="watch", daemon=True).start()
        while True:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError) as exc:  # a client that failed the handshake
                log.warning("refused a connection: %s", exc)
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    # ------------------------------------------------------------------ requests
    def _answer(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    request = conn.recv()
                except (OSError, EOFError):
                    return
                op = request.get("op")
                if op == "ping":
                    conn.send(self._ping())
                elif op == "stop":
                    with self._state:
                        self.stopping = True
                    log.info("asked to stop")
                    conn.send({"ok": True})
                elif op == "run":
                    conn.send(self._run(request))
                else:
                    conn.send({"ok": False, "error": "ValueError",
                               "message": f"unknown request {op!r}"})

    def _ping(self) -> dict[str, Any]:
        with self._state:
            return {"version": self.version, "pid": os.getpid(), "busy": self.busy > 0,
                    "runs": self.runs, "peak": self.peak, "stopping": self.stopping,
                    "idle_s": None if self.busy else time.monotonic() - self.last_used}

    def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        from local_aws.glue.transform_entry import run_transform_job

        with self._state:
            if self.stopping:
                return {"refused": "stopping"}
            self.busy += 1
        records: list[dict[str, Any]] = []
        try:
            with self._run_slots:
                with self._state:
                    self.running += 1
                    self.peak = max(self.peak, self.running)
                token = _RUN_RECORDS.set(records)
                try:
                    clients = _Clients(self.spark.newSession(), self.paths,
                                       request["secrets"])
                    output = run_transform_job(request["args"], clients)
                    answer = {"ok": True, "output": output}
                except Exception as exc:  # the job's failure is the run's answer
                    name = exc.name if isinstance(exc, JobRunError) else type(exc).__name__
                    answer = {"ok": False, "error": name, "message": str(exc)}
                finally:
                    _RUN_RECORDS.reset(token)
                    with self._state:
                        self.running -= 1
            answer["logs"] = records
            try:
                pickle.dumps(answer)
            except Exception as exc:
                answer = {"ok": False, "error": type(exc).__name__,
                          "message": f"the job's answer could not be sent: {exc}", "logs": []}
            return answer
        finally:
            with self._state:
                self.busy -= 1
                self.runs += 1
                self.last_used = time.monotonic()

    # ------------------------------------------------------------------ ending
    def _watch(self) -> None:
        while True:
            time.sleep(_WATCH_S)
            with self._state:
                busy, stopping = self.busy > 0, self.stopping
                idle = time.monotonic() - self.last_used
            if busy:
                continue
            if stopping:
                self.shutdown("stop asked")
            elif idle > self.idle_timeout_s:
                self.shutdown(f"idle for {idle:.0f} s")
            elif read_endpoint(self.folder) != self.endpoint:
                self.shutdown("its endpoint file is gone or names another service")

    def shutdown(self, why: str) -> None:
        """Stop Spark, remove the endpoint file if it is still ours, and exit."""
        with self._state:
            self.stopping = True
        log.info("stopping: %s", why)
        if read_endpoint(self.folder) == self.endpoint:
            with contextlib.suppress(OSError):
                (self.folder / "endpoint.json").unlink()
        try:
            if self.spark is not None:
                self.spark.stop()
        except Exception:
            log.warning("stopping Spark failed", exc_info=True)
        logging.shutdown()
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, required=True)
    parser.add_argument("--runs", type=int, default=1, help="job runs at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    WarmServer(args.state_dir.resolve(), cores=args.cores,
               idle_timeout_s=args.idle_seconds, runs=args.runs).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
