"""Atomic file writes for the twins: a reader sees the old file or the new one, never half.

Write to a temp file in the same folder, then ``os.replace`` it over the target (atomic on
POSIX within one filesystem). Temp files start with ``.tmp-`` so listings can skip them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["TMP_PREFIX", "atomic_write_bytes"]

TMP_PREFIX = ".tmp-"


def atomic_write_bytes(path: Path, data: bytes, *, suffix: str = "") -> None:
    """Write ``data`` to ``path`` all or nothing (parent folders are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
