"""Errors of the local Step Functions: a Task's named error and one travelling the machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TaskHandler = Callable[[dict[str, Any]], Any]
"""A local Task implementation: receives the state's effective Parameters, returns the result."""

UNSUPPORTED = "Local.UnsupportedFeature"
"""Error of a run that reached something whose AWS behaviour the local executor cannot
reproduce exactly and that could not be refused at load because it depends on the data
(e.g. an object inside ``States.Format``). Never catchable, never retried: it stops the
run with a cause naming the state and the feature, instead of guessing."""


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


# "States.ALL ... can't catch the States.DataLimitExceeded terminal error type and runtime
# error types" (AWS, "Handling errors in Step Functions workflows", Error names).
TRANSITION_LIMIT = "States.ExecutionLimitExceeded"
"""The local safety net against endless loops (AWS instead stops an execution at 25,000
history events); terminal, like the errors above, so no catcher can loop on it."""
UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded", UNSUPPORTED,
                         TRANSITION_LIMIT})


class StatesError(Exception):
    """An error travelling through the state machine (internal)."""

    def __init__(self, error: str | None, cause: str | None, *,
                 state: str | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.state = state
        self.from_task = False
        self.execution_timeout = False

    @property
    def catchable(self) -> bool:
        return not self.execution_timeout and self.error not in UNCATCHABLE


def execution_timed_out(seconds: int, state: str) -> StatesError:
    """The definition's top-level ``TimeoutSeconds`` ran out: the execution ends
    ``TIMED_OUT`` with ``States.Timeout``, which no state's Catch can take (AWS, "Amazon
    States Language": "If the execution runs longer than the specified time, then the
    execution fails with a States.Timeout Error name")."""
    err = StatesError("States.Timeout", f"execution ran longer than {seconds}s", state=state)
    err.execution_timeout = True
    return err


def runtime_error(message: str) -> StatesError:
    return StatesError("States.Runtime", message)




def unsupported(message: str) -> StatesError:
    """A data-dependent feature the local executor refuses to guess (see UNSUPPORTED)."""
    return StatesError(UNSUPPORTED, f"not reproducible locally: {message}")
