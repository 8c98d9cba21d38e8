"""Glue jobs twin: ``start_job_run`` that runs a registered Python job synchronously.

It answers like Glue where the state machine looks: a JobRun with ``JobRunState``
SUCCEEDED / FAILED and ``ErrorMessage``; ``ConcurrentRunsExceededException`` when a
job's ``MaxConcurrentRuns`` is already in use; ``EntityNotFoundException`` for unknown
jobs.

Fault injection, for tests and demos (each fault can be limited to some calls with
``when=lambda arguments: ...`` and to a number of matching calls with ``times``):

* :meth:`LocalGlueJobs.inject_error` — ``StartJobRun`` itself answers with an API error
  (``ThrottlingException``, ``ConcurrentRunsExceededException``, ...) before any run
  starts, as Glue does; the state machine's Retry sees ``Glue.<Code>``.
* :meth:`LocalGlueJobs.inject_run_failure` — the run starts and ends ``FAILED`` with the
  given ``ErrorMessage``, as when the job script raises (e.g. a data-quality breach).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from local_aws.aws_model import require_operation, validate_request

log = logging.getLogger(__name__)

__all__ = ["ArgumentsPredicate", "InjectedFault", "JobFailed", "JobRunError", "LocalGlueJobs",
           "error_message"]

JobFn = Callable[[dict[str, str]], dict[str, Any]]
ArgumentsPredicate = Callable[[dict[str, str]], bool]
"""Decides from a call's ``Arguments`` (e.g. ``--p_date``) whether a fault applies."""

_START_JOB_RUN = require_operation("glue", "start_job_run")


class JobFailed(Exception):
    """Raised by a job function for an expected, reportable failure (e.g. a DQ breach)."""


class JobRunError(Exception):
    """A job's failure raised in another process (the warm local Glue service,
    ``local_aws.glue.warm``): it carries that exception's class name, so the run's
    ``ErrorMessage`` reads exactly as when the job raised here."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def error_message(exc: BaseException) -> str:
    """A failed run's ``ErrorMessage``: the exception's class name and its text."""
    name = exc.name if isinstance(exc, JobRunError) else type(exc).__name__
    return f"{name}: {exc}"


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "StartJobRun")


@dataclass
class InjectedFault:
    """One injected fault; ``times=None`` means every matching call."""

    job_name: str
    message: str
    code: str | None = None
    """API error code raised by ``StartJobRun``; ``None`` makes the run end FAILED."""
    times: int | None = 1
    when: ArgumentsPredicate | None = None

    def matches(self, job_name: str, arguments: dict[str, str]) -> bool:
        """Whether this fault applies to a call (and still has calls left)."""
        if job_name != self.job_name or self.times == 0:
            return False
        return self.when is None or bool(self.when(dict(arguments)))


@dataclass
class LocalGlueJobs:
    """Registered job functions run in-process, with Glue's answers and limits.

    ``runs`` lists every JobRun that started; ``rejected`` every ``StartJobRun`` call
    refused with an API error (injected or a real concurrency limit).
    """

    jobs: dict[str, JobFn]
    max_concurrent_runs: int = 3
    runs: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    faults: list[InjectedFault] = field(default_factory=list)
    _running: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- fault injection

    def _add_fault(self, fault: InjectedFault) -> InjectedFault:
        if fault.job_name not in self.jobs:
            known = ", ".join(sorted(self.jobs)) or "none"
            raise ValueError(f"cannot inject a fault into unknown job {fault.job_name!r} "
                             f"(known: {known})")
        if fault.times is not None and fault.times < 1:
            raise ValueError(f"times must be >= 1 or None (every call), got {fault.times}")
        with self._lock:
            self.faults.append(fault)
        return fault

    def inject_error(self, job_name: str, code: str = "ThrottlingException", *,
                     times: int | None = 1, when: ArgumentsPredicate | None = None,
                     message: str | None = None) -> InjectedFault:
        """Make ``StartJobRun`` of ``job_name`` raise a ``ClientError`` with ``code``.

        Parameters
        ----------
        job_name
            A registered job.
        code
            The Glue error code, e.g. ``ThrottlingException`` or
            ``ConcurrentRunsExceededException``.
        times
            How many matching calls fail (``None``: all of them).
        when
            Only calls whose ``Arguments`` satisfy this predicate match.
        message
            The error message (a readable default otherwise).
        """
        text = message or f"injected {code} for job {job_name}"
        return self._add_fault(InjectedFault(job_name, text, code=code, times=times, when=when))

    def inject_run_failure(self, job_name: str, message: str, *, times: int | None = 1,
                           when: ArgumentsPredicate | None = None) -> InjectedFault:
        """Make matching runs of ``job_name`` end ``FAILED`` with ``message`` (not run)."""
        return self._add_fault(InjectedFault(job_name, message, code=None, times=times,
                                             when=when))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        with self._lock:
            self.faults.clear()

    def _take_fault(self, job_name: str, arguments: dict[str, str]) -> InjectedFault | None:
        """The first fault matching this call, its count used up by one (lock held)."""
        for fault in self.faults:
            if fault.matches(job_name, arguments):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    # ---------------------------------------------------------------- the API

    def _reject(self, job_name: str, arguments: dict[str, str], code: str,
                message: str) -> ClientError:
        self.rejected.append({"JobName": job_name, "Arguments": arguments, "Code": code,
                              "At": datetime.now(UTC).isoformat()})
        return _client_error(code, message)

    def start_job_run_sync(self, *, JobName: str, Arguments: dict[str, str] | None = None
                           ) -> dict[str, Any]:
        """Run to completion and return the JobRun (the ``.sync`` integration's result).

        The request is held to ``glue:StartJobRun``'s model (what the state machine's
        Parameters must satisfy on AWS); the answer carries the twin's job ``Output``,
        which Glue's JobRun has no field for, so it is not held to the output shape."""
        validate_request(_START_JOB_RUN, {"JobName": JobName,
                                          **({"Arguments": Arguments} if Arguments else {})})
        fn = self.jobs.get(JobName)
        if fn is None:
            raise _client_error("EntityNotFoundException", f"Job {JobName} not found")
        arguments = dict(Arguments or {})
        with self._lock:
            fault = self._take_fault(JobName, arguments)
            if fault is not None and fault.code is not None:
                raise self._reject(JobName, arguments, fault.code, fault.message)
            if self._running.get(JobName, 0) >= self.max_concurrent_runs:
                raise self._reject(JobName, arguments, "ConcurrentRunsExceededException",
                                   f"Concurrent runs exceeded for {JobName}")
            self._running[JobName] = self._running.get(JobName, 0) + 1
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        run: dict[str, Any] = {"Id": f"jr_{uuid.uuid4().hex}", "JobName": JobName,
                               "Arguments": arguments, "StartedOn": started.isoformat()}
        try:
            if fault is not None:
                raise JobFailed(fault.message)
            run["Output"] = fn(dict(arguments))
            run["JobRunState"] = "SUCCEEDED"
        except Exception as exc:  # a job failure is data for the caller, like Glue's
            run["JobRunState"] = "FAILED"
            run["ErrorMessage"] = error_message(exc)
        finally:
            with self._lock:
                self._running[JobName] -= 1
        run["ExecutionTime"] = round(time.perf_counter() - t0, 3)
        run["CompletedOn"] = datetime.now(UTC).isoformat()
        log.log(logging.INFO if run["JobRunState"] == "SUCCEEDED" else logging.WARNING,
                "job run %s of %s %s in %.1f s", run["Id"], JobName, run["JobRunState"],
                run["ExecutionTime"], extra={"job_name": JobName, "job_run_id": run["Id"],
                                             "job_state": run["JobRunState"],
                                             "error_message": run.get("ErrorMessage")})
        with self._lock:
            self.runs.append(run)
        return run
