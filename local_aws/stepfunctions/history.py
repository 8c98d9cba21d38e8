"""Persisted execution history: one JSON file per run under a folder.

The local executor writes a run when it starts (status ``RUNNING``), checkpoints the
state-by-state events as it goes, and writes the outcome when it stops. ``udp status``
reads them back with :meth:`HistoryStore.list_runs` / :meth:`HistoryStore.get_run`.
Files are replaced atomically, so a reader never sees half a run.

Each run records the host and pid of the process executing it. A run still ``RUNNING``
whose process is gone (killed, crashed, machine rebooted) would otherwise stay
``RUNNING`` forever; readers report it ``ABORTED`` — and write that down, so a later
process reusing the pid cannot bring it back — with the state it was in and why.
Each run also records the sha256 of the definition file it ran (see
``orchestration.state_machine``), so "the file we tested is the file we deploy" is
checkable after the fact.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from local_aws.processes import pid_alive
from local_aws.stepfunctions.results import RunResult, now_iso

__all__ = ["ABORTED", "ORPHANED_ERROR", "HistoryStore", "RunNotFoundError", "RunRecord",
           "abort_if_orphaned"]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_HOST = socket.gethostname()
ABORTED = "ABORTED"
"""Status of a run whose executing process ended before the run did."""
ORPHANED_ERROR = "Local.ExecutorProcessEnded"


class RunNotFoundError(KeyError):
    """No run with that id exists in the history folder."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "run not found"


@dataclass
class RunRecord:
    """One execution as stored on disk."""

    run_id: str
    name: str
    label: str | None
    status: str
    started_at: str
    stopped_at: str | None = None
    input: Any = None
    output: Any = None
    failed_state: str | None = None
    error: str | None = None
    cause: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    host: str | None = None
    pid: int | None = None
    definition_sha256: str | None = None
    """sha256 of the definition file's bytes, before placeholder substitution."""
    executed_sha256: str | None = None
    """sha256 of the canonical JSON of the definition as executed (after substitution)."""
    dates: list[dict[str, Any]] | None = None
    """The run's per-date results (``p_date``, ``status``, counts, DQ, error), made from
    its jobs' ``run_outcomes`` records: a backfill chunk's dates, a nightly run's one;
    ``None`` until the run has finished."""

    @property
    def chunk_dates(self) -> list[str] | None:
        """The dates of a backfill chunk run (from its input), ``None`` otherwise."""
        if isinstance(self.input, dict) and isinstance(self.input.get("dates"), list):
            return [str(d) for d in self.input["dates"]]
        return None

    def covers(self, p_date: str) -> bool:
        """Whether this run processed ``p_date`` (its own date, or one of its chunk's)."""
        dates = self.chunk_dates
        return p_date in dates if dates is not None else self.p_date == p_date

    def status_of(self, p_date: str) -> str:
        """``p_date``'s outcome in this run: the run's status, or for a chunk the date's
        own result (the run's status while running or if it stopped before recording)."""
        for row in self.dates or ():
            if row.get("p_date") == p_date:
                return str(row.get("status"))
        if self.chunk_dates is not None and self.status == "SUCCEEDED":
            return "FAILED"  # finished without a result for the date: not loaded
        return self.status

    @property
    def p_date(self) -> str | None:
        """The run's ``p_date`` (its label, or the input's ``p_date``); ``None`` for a
        backfill chunk (see :attr:`chunk_dates`)."""
        if self.chunk_dates is not None:
            return None
        if self.label is not None:
            return self.label
        if isinstance(self.input, dict) and isinstance(self.input.get("p_date"), str):
            return str(self.input["p_date"])
        return None

    @property
    def duration_seconds(self) -> float | None:
        """Wall-clock seconds between start and stop (``None`` while running)."""
        if self.stopped_at is None:
            return None
        start = datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        stop = datetime.fromisoformat(self.stopped_at.replace("Z", "+00:00"))
        return (stop - start).total_seconds()

    @property
    def last_state(self) -> str | None:
        """The state the run entered last (where a killed run stopped)."""
        for event in reversed(self.events):
            if event.get("type") == "StateEntered":
                return str(event.get("state"))
        return None

    def to_json(self) -> dict[str, Any]:
        """The record's fields as they are (already JSON data: no deep copy; the
        store writes under its lock)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class HistoryStore:
    """Run history in ``root`` (created on first write): ``<root>/<run_id>.json``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._open: dict[str, RunRecord] = {}

    # -- writing (used by the executor) ------------------------------------------

    def _path(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id):
            raise ValueError(f"invalid run id {run_id!r}")
        return self.root / f"{run_id}.json"

    def _write(self, record: RunRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(record.run_id)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                # no indent: json's C encoder runs only without one, and a chunk's
                # record is written at every state (28 -> 3 ms a write for 7 dates)
                fh.write(json.dumps(record.to_json(), default=str))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def start(self, run_id: str, name: str, label: str | None, execution_input: Any,
              started_at: str, *, definition_sha256: str | None = None,
              executed_sha256: str | None = None) -> RunRecord:
        """Record a new ``RUNNING`` run owned by this process."""
        record = RunRecord(run_id=run_id, name=name, label=label, status="RUNNING",
                           started_at=started_at, input=execution_input, host=_HOST,
                           pid=os.getpid(), definition_sha256=definition_sha256,
                           executed_sha256=executed_sha256)
        if self._path(run_id).exists():
            raise ValueError(f"run {run_id!r} already exists in {self.root}")
        with self._lock:
            self._open[run_id] = record
            self._write(record)
        return record

    def checkpoint(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Persist the events so far of a running run."""
        with self._lock:
            record = self._open.get(run_id)
            if record is not None:
                record.events = events
                self._write(record)

    def finish(self, result: RunResult, events: list[dict[str, Any]]) -> RunRecord:
        """Record the outcome and the full event list of a run."""
        with self._lock:
            record = self._open.pop(result.run_id, None)
            if record is None:
                record = self.get_run(result.run_id)
            record.status = result.status
            record.stopped_at = result.stopped_at
            record.output = result.output
            record.error = result.error
            record.cause = result.cause
            record.failed_state = result.failed_state
            record.events = list(events)
            self._write(record)
        return record

    def record_dates(self, run_id: str, dates: list[dict[str, Any]]) -> RunRecord:
        """Attach a finished run's per-date results (a chunk's, a nightly run's) to it."""
        record = self.get_run(run_id)
        with self._lock:
            record.dates = dates
            self._write(record)
        return record

    # -- reading (used by `udp status` and backfill resume) ------------------------

    def get_run(self, run_id: str) -> RunRecord:
        """The stored run; :class:`RunNotFoundError` if there is none."""
        try:
            path = self._path(run_id)
        except ValueError:
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}") from None
        if not path.is_file():
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}")
        return self._settle(RunRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))

    def _settle(self, record: RunRecord) -> RunRecord:
        """Mark an orphaned ``RUNNING`` run ``ABORTED``, persistently (best effort)."""
        if record.run_id in self._open:
            return record
        aborted = abort_if_orphaned(record, now=now_iso())
        if aborted is not record:
            try:
                with self._lock:
                    self._write(aborted)
            except OSError:
                pass  # a read-only history is still reported correctly
        return aborted

    def list_runs(self, *, p_date: str | None = None, name: str | None = None) -> list[RunRecord]:
        """Every stored run, oldest first (optionally only one ``p_date`` / machine name)."""
        if not self.root.is_dir():
            return []
        runs = []
        for path in self.root.glob("*.json"):
            if path.name.startswith(".tmp-"):
                continue
            try:
                record = RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, TypeError, OSError):
                continue  # a foreign, damaged or just-removed file is not a run
            record = self._settle(record)
            if p_date is not None and not record.covers(p_date):
                continue
            if name is not None and record.name != name:
                continue
            runs.append(record)
        return sorted(runs, key=lambda r: (r.started_at, r.run_id))

    def last_run(self, p_date: str, *, name: str | None = None) -> RunRecord | None:
        """The most recently started run that processed ``p_date`` (or ``None``)."""
        runs = self.list_runs(p_date=p_date, name=name)
        return runs[-1] if runs else None


def abort_if_orphaned(record: RunRecord, *, now: str, host: str = _HOST,
                      alive: Callable[[int], bool] = pid_alive,
                      current_pid: int | None = None) -> RunRecord:
    """``record`` as ``ABORTED`` if it is ``RUNNING`` but its process on ``host`` is gone.

    Returns ``record`` itself when nothing changes: it is not running, it runs on
    another host (we cannot tell), it has no pid (written by an older version), or its
    process — possibly this one — is alive.
    """
    if record.status != "RUNNING" or record.pid is None or record.host != host:
        return record
    if record.pid == (os.getpid() if current_pid is None else current_pid) or alive(record.pid):
        return record
    state = record.last_state
    where = f" in state {state}" if state else ""
    return replace(record, status=ABORTED, stopped_at=now, failed_state=state,
                   error=ORPHANED_ERROR,
                   cause=f"the process running this execution (pid {record.pid} on {host}) "
                         f"ended{where} before the execution finished")
