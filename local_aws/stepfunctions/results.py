"""The outcome of one execution, shared by the executor and the history store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# --------------------------------------------------------------------------- executor


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RunResult:
    """The outcome of one execution (``status`` is ``SUCCEEDED``, ``FAILED``, or
    ``TIMED_OUT`` when the definition's ``TimeoutSeconds`` ran out)."""

    run_id: str
    name: str
    status: str
    started_at: str
    stopped_at: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


