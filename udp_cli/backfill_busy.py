"""``udp backfill`` refused by a date lease: one line naming the held dates, exit 75.

A range-mode chunk takes the lease of each of its dates first; a date held by another run
(the nightly, a ``udp run``, another backfill) fails the whole chunk as ``DateLeased``
before anything is touched, and every date of the chunk carries that error and the same
cause (``orchestration/backfill.asl.json``: "p_date D is already being run by H (started
T); ..."). When that is the only kind of failure, the backfill is not broken: it is busy,
and rerunning it once the holder is done resumes it. :func:`leased_refusal` turns such
results into the one line ``udp run`` prints for a busy date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestration.backfill import DateResult

__all__ = ["leased_refusal"]

LEASED = "DateLeased"
_CAUSE = re.compile(r"p_date (?P<date>\d{4}-\d{2}-\d{2}) is already being run by "
                    r"(?P<holder>\S+) \(started (?P<started>[^)]*)\)")

Writer = Callable[[str], dict[str, Any] | None]
"""The process (``pid``, ``host``) holding a date's lease locally, or None."""


def _held_dates(failed: Sequence[DateResult]) -> dict[str, str]:
    """Each date another run holds, with its holder as the refusal named it ('' if the
    cause does not say: then the refused date itself is named)."""
    held: dict[str, str] = {}
    for result in failed:
        match = _CAUSE.search(result.cause or "")
        if match:
            held.setdefault(match["date"], f"{match['holder']}, started {match['started']}")
        else:
            held.setdefault(result.p_date, "")
    return dict(sorted(held.items()))


def leased_refusal(results: Sequence[DateResult], writer: Writer | None = None) -> str | None:
    """One line naming the leased dates (and holders) if every failed date of a backfill
    was refused as ``DateLeased``; None if nothing failed or anything failed otherwise.

    ``writer`` looks up the local
    process holding a date (``LocalDynamoDb.writer``) to add its pid and host.
    """
    failed = [r for r in results if r.status not in ("SUCCEEDED", "SKIPPED")]
    if not failed or any(r.error != LEASED for r in failed):
        return None
    named = []
    for day, holder in _held_dates(failed).items():
        process = writer(day) if writer is not None else None
        if process:
            where = f"pid {process.get('pid')} on {process.get('host')}"
            holder = f"{holder}; {where}" if holder else where
        named.append(f"{day} (held by {holder})" if holder else day)
    count = len(failed)
    return (f"{count} date{'s' if count != 1 else ''} not run: another run holds "
            f"{', '.join(named)}; wait for it to finish, then rerun the backfill to resume")
