"""Glue jobs twin: ``start_job_run`` that runs a registered Python job synchronously.

It answers like Glue where the state machine looks: a JobRun with ``JobRunState``
SUCCEEDED / FAILED and ``ErrorMessage``; ``ConcurrentRunsExceededException`` when a
job's ``MaxConcurrentRuns`` is already in use; ``EntityNotFoundException`` for unknown
jobs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["JobFailed", "LocalGlueJobs"]

JobFn = Callable[[dict[str, str]], dict[str, Any]]


class JobFailed(Exception):
    """Raised by a job function for an expected, reportable failure (e.g. a DQ breach)."""


@dataclass
class LocalGlueJobs:
    jobs: dict[str, JobFn]
    max_concurrent_runs: int = 3
    runs: list[dict[str, Any]] = field(default_factory=list)
    _running: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start_job_run_sync(self, *, JobName: str, Arguments: dict[str, str] | None = None
                           ) -> dict[str, Any]:
        """Run to completion and return the JobRun (the ``.sync`` integration's result)."""
        fn = self.jobs.get(JobName)
        if fn is None:
            raise ClientError({"Error": {"Code": "EntityNotFoundException",
                                         "Message": f"Job {JobName} not found"}}, "StartJobRun")
        with self._lock:
            if self._running.get(JobName, 0) >= self.max_concurrent_runs:
                raise ClientError({"Error": {"Code": "ConcurrentRunsExceededException",
                                             "Message": f"Concurrent runs exceeded for {JobName}"}},
                                  "StartJobRun")
            self._running[JobName] = self._running.get(JobName, 0) + 1
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        run: dict[str, Any] = {"Id": f"jr_{uuid.uuid4().hex}", "JobName": JobName,
                               "Arguments": dict(Arguments or {}),
                               "StartedOn": started.isoformat()}
        try:
            run["Output"] = fn(dict(Arguments or {}))
            run["JobRunState"] = "SUCCEEDED"
        except Exception as exc:  # a job failure is data for the caller, like Glue's
            run["JobRunState"] = "FAILED"
            run["ErrorMessage"] = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._running[JobName] -= 1
        run["ExecutionTime"] = round(time.perf_counter() - t0, 3)
        run["CompletedOn"] = datetime.now(UTC).isoformat()
        self.runs.append(run)
        return run
