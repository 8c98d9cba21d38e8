"""The line each bench prints first: the machine and how busy it is as the run starts."""

from __future__ import annotations

import os


def machine_state() -> str:
    """``N cores, load average a / b / c`` (1, 5 and 15 minutes), as of now."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.1f} / {five:.1f} / {fifteen:.1f}"


def machine_line(note: str) -> str:
    """``machine: N cores, load average a / b / c (note)``."""
    return f"machine: {machine_state()} ({note})"
