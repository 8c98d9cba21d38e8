"""Machine-readable output for ``udp`` commands: ``--format table|csv|json``.

CSV is written as other command-line tools write it: LF line endings (Python's ``csv``
module defaults to CRLF, the RFC 4180 wire format), a header row, minimal quoting, and
an empty field for NULL. JSON is a list of objects, one per row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["FORMATS", "format_rows"]

FORMATS = ("table", "csv", "json")


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """``rows`` under ``columns`` as ``csv`` or ``json`` text (no trailing newline)."""
    if fmt == "json":
        return json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str,
                          ensure_ascii=False, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
