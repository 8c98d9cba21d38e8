"""Structured JSON run logs for the local runtime: one ``<state>/logs/<run_id>.jsonl`` per run.

Every log record emitted while a run is in progress, by the CLI, the local executor, the
twins or the jobs' own ``logging`` calls (``glue_jobs`` log through the standard library
and never import this), is stamped with the context bound here — ``run_id``, ``p_date``
and ``stage`` (the state machine state doing the work) — and written as one JSON line by
Powertools' ``LambdaPowertoolsFormatter``, the formatter the Lambdas use on AWS, so local
and cloud logs have one shape.

The context lives in :mod:`contextvars`: a run bound in one thread (a backfill runs several
dates at once) never leaks into another's lines. Records with no run go to
``<state>/logs/udp.jsonl``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["CONTEXT_FIELDS", "RunLogHandler", "bind", "current", "install", "run_log_path"]

CONTEXT_FIELDS = ("run_id", "p_date", "stage")
"""The fields every line carries (``null`` when not known, e.g. before a run starts)."""
NO_RUN_FILE = "udp"

_vars: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"udp_{name}", default=None) for name in CONTEXT_FIELDS}


def current() -> dict[str, str | None]:
    """The bound context of this thread/task."""
    return {name: var.get() for name, var in _vars.items()}


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Bind ``run_id`` / ``p_date`` / ``stage`` for the duration of the block."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    tokens = [(_vars[k], _vars[k].set(v)) for k, v in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def run_log_path(logs_dir: Path, run_id: str) -> Path:
    """Where the run ``run_id``'s JSON lines are."""
    return logs_dir / f"{run_id}.jsonl"


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        record.logger = record.name
        return True


def _formatter() -> logging.Formatter:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RunLogFormatter(LambdaPowertoolsFormatter):
        """Powertools' JSON lines, with the context fields always present (``null`` when
        unknown: Powertools drops ``None`` keys, which would make lines differ in shape)."""

        def serialize(self, log: Any) -> str:
            return super().serialize({**log, **{k: log.get(k) for k in CONTEXT_FIELDS}})

    return RunLogFormatter(utc=True, use_rfc3339_iso8601=True)


class RunLogHandler(logging.Handler):
    """Append each record, as JSON, to its run's file (by the bound ``run_id``)."""

    def __init__(self, logs_dir: Path, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.logs_dir = logs_dir
        self.addFilter(_ContextFilter())
        self.setFormatter(_formatter())
        self._files: dict[str, IO[str]] = {}
        self._files_lock = threading.Lock()

    def _file(self, run_id: str) -> IO[str]:
        handle = self._files.get(run_id)
        if handle is None:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            handle = self._files[run_id] = run_log_path(self.logs_dir, run_id).open(
                "a", encoding="utf-8", newline="\n")
        return handle

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            run_id = str(getattr(record, "run_id", None) or NO_RUN_FILE)
            with self._files_lock:
                handle = self._file(run_id)
                handle.write(line + "\n")
                handle.flush()
        except Exception:  # a log line must never break a run
            self.handleError(record)

    def close(self) -> None:
        with self._files_lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()
        super().close()


_QUIET = ("py4j", "urllib3", "botocore", "boto3", "s3transfer", "filelock", "asyncio")


@contextmanager
def install(logs_dir: Path, level: int = logging.INFO) -> Iterator[RunLogHandler]:
    """Attach a :class:`RunLogHandler` to the root logger for the block (the console is
    untouched: no other handler is added and chatty libraries stay at WARNING)."""
    root = logging.getLogger()
    handler = RunLogHandler(logs_dir, level)
    old_level = root.level
    quiet: list[tuple[logging.Logger, int]] = []
    for name in _QUIET:
        lib = logging.getLogger(name)
        quiet.append((lib, lib.level))
        if lib.level == logging.NOTSET:
            lib.setLevel(logging.WARNING)
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for lib, lib_level in quiet:
            lib.setLevel(lib_level)
        handler.close()


def log_event(logger: logging.Logger, message: str, **fields: Any) -> None:
    """``logger.info(message)`` with ``fields`` as JSON keys (``stage=...`` overrides the
    bound stage for this line)."""
    logger.info(message, extra=fields)
