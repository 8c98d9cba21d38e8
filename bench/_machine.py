"""The line each bench prints first: the machine and how busy it is as the run starts."""

from __future__ import annotations

import os


def machine_line(note: str) -> str:
    """``machine: N cores, load average a / b / c (note)``."""
    one, five, fifteen = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, load average {one:.1f} / {five:.1f} / "
            f"{fifteen:.1f} ({note})")
