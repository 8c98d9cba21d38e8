"""Where the local twins keep their state: all of it under one folder.

Deleting the folder resets everything. ``UDP_STATE_DIR`` overrides the default ``.udp``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_STATE_DIR", "LocalPaths"]

DEFAULT_STATE_DIR = Path(os.environ.get("UDP_STATE_DIR", ".udp"))


@dataclass(frozen=True)
class LocalPaths:
    """All local state under one folder; deleting it resets everything."""

    state_dir: Path

    @property
    def s3(self) -> Path:
        return self.state_dir / "s3"

    @property
    def catalog(self) -> Path:
        return self.state_dir / "catalog"

    @property
    def warehouse(self) -> Path:
        return self.state_dir / "warehouse"

    @property
    def runs(self) -> Path:
        return self.state_dir / "runs"

    @property
    def logs(self) -> Path:
        """Structured JSON logs, one ``<run_id>.jsonl`` per run (see local_aws.runlog)."""
        return self.state_dir / "logs"

    @property
    def reports(self) -> Path:
        """HTML run reports (``udp report``, and after every run and backfill)."""
        return self.state_dir / "reports"

    @property
    def alerts(self) -> Path:
        return self.state_dir / "alerts"

    @property
    def tmp(self) -> Path:
        """Scratch of the local engines (Spark's local dirs, DuckDB's spill); emptied at
        every start, never read back."""
        return self.state_dir / "tmp"

    @property
    def spark_events(self) -> Path:
        """Spark event logs of the local Glue jobs (docs/operate/spark-ui.md)."""
        return self.state_dir / "spark-events"
