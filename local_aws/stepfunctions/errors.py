"""Errors of the local Step Functions: a Task's named error and one travelling the machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TaskHandler = Callable[[dict[str, Any]], Any]
"""A local Task implementation: receives the state's effective Parameters, returns the result."""



class TaskError(Exception):
    """Raised by a Task handler to report a named Step Functions error.

    Parameters
    ----------
    error
        The error name the definition's Retry/Catch match on, e.g.
        ``"Glue.CrawlerRunningException"`` or ``"States.TaskFailed"``.
    cause
        A human-readable cause, recorded in the history and the alert.
    """

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})


class StatesError(Exception):
    """An error travelling through the state machine (internal)."""

    def __init__(self, error: str, cause: str, *, state: str | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.state = state
        self.from_task = False

    @property
    def catchable(self) -> bool:
        return self.error not in UNCATCHABLE


def runtime_error(message: str) -> StatesError:
    return StatesError("States.Runtime", message)


