"""Machine-readable output for ``udp`` commands: ``--format table|csv|json``.

CSV is written as other command-line tools write it: LF line endings (Python's ``csv``
module defaults to CRLF, the RFC 4180 wire format), a header row, minimal quoting (a
field holding a comma, quote, CR or LF is quoted), and an empty field for NULL. JSON is
a list of objects, one per row.
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
        return "\n".join(_csv_line(row) for row in (columns, *rows))
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _csv_line(row: Sequence[Any]) -> str:
    """One CSV record without its terminator. Written with the default ``\\r\\n``
    terminator, whose characters the writer quotes wherever they occur in a field (with
    ``lineterminator="\\n"`` Python 3.11 leaves a field's lone ``\\r`` unquoted, which
    breaks the file), then the terminator is cut: the caller joins records with LF."""
    buf = io.StringIO()
    csv.writer(buf).writerow(row)
    return buf.getvalue().removesuffix("\r\n")
