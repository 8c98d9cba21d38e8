"""Backfill planning: which dates, in which chunks, how many at once, what each reports.

Range mode: the dates are cut into chunks of ``chunk_size``; one chunk is one unit of
work — one raw crawl, ONE transform job run over its dates (each date checked and
published on its own), one transform crawl, ONE bulk-import run committing each date in
its own audited transaction. The chunk is the ``ItemProcessor`` of
``backfill.asl.json``'s Map, run two ways:

* on AWS, the whole file: input ``{"dates": [...], "chunk_size": N, "replace": false}``
  (:func:`aws_input`), ``States.ArrayPartition`` cuts the chunks, the Map runs at most
  ``MaxConcurrency`` (≤ the Glue jobs' ``MaxConcurrentRuns``) at once;
* locally (``udp backfill``), ``local_aws.backfill_runner`` runs the same
  ``ItemProcessor`` (:func:`chunk_definition`) once per chunk of the dates still to do
  (resume), ``--concurrency`` chunks at once, one :class:`DateResult` per date.

Both refuse the same ranges, chunk sizes and concurrencies, checked here. The nightly
path (``state_machine.asl.json``, one date) does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts import dates
from contracts.pipeline import PipelineConfig
from orchestration.definition import DefinitionSource, LoadedDefinition, load_definition_file
from orchestration.state_machine import placeholder_values

__all__ = [
    "BACKFILL_DEFINITION",
    "CHUNK_STATE",
    "DEFAULT_CHUNK_DAYS",
    "DEFAULT_MAX_CONCURRENT_RUNS",
    "MAX_CHUNK_DAYS",
    "MAX_RANGE_DAYS",
    "BackfillError",
    "DateRangeError",
    "DateResult",
    "ProgressCallback",
    "aws_input",
    "backfill_placeholder_values",
    "check_chunk_size",
    "check_concurrency",
    "check_dates",
    "chunk_definition",
    "chunks",
    "load_backfill_definition",
]

BACKFILL_DEFINITION = Path(__file__).with_name("backfill.asl.json")
DEFAULT_MAX_CONCURRENT_RUNS = PipelineConfig().max_concurrent_runs
"""Glue ``ExecutionProperty.MaxConcurrentRuns`` of the transform and load jobs."""
MAX_RANGE_DAYS = dates.MAX_RANGE_DAYS
DEFAULT_CHUNK_DAYS = 7
"""Dates per chunk: a failure costs at most this many dates' work (and one rerun)."""
MAX_CHUNK_DAYS = 31
"""A bigger chunk makes one Glue run long and a failure expensive; keep it a month."""
CHUNK_STATE = "RunEachChunk"
"""The Map state of ``backfill.asl.json`` whose ``ItemProcessor`` is one chunk."""


DateRangeError = dates.InvalidDate
"""A malformed date or an unacceptable range (one error type for every date check)."""


class BackfillError(ValueError):
    """Backfill arguments that cannot be honoured (e.g. concurrency above the Glue limit)."""


@dataclass(frozen=True)
class DateResult:
    """Outcome of one date: ``SUCCEEDED``, ``FAILED`` or ``SKIPPED`` (already succeeded)."""

    p_date: str
    status: str
    run_id: str | None = None
    failed_state: str | None = None
    error: str | None = None
    cause: str | None = None
    seconds: float = 0.0
    """Wall seconds of the date's chunk (shared by every date of it)."""
    users: int | None = None
    """Users the transform published for the date."""
    loaded: int | None = None
    """Rows the bulk import staged for the date."""
    dq_passed: bool | None = None
    chunk: str | None = None
    """``first..last`` date of the chunk the date ran in."""


ProgressCallback = Callable[[DateResult, int, int], None]


def check_concurrency(concurrency: int, max_concurrent_runs: int) -> int:
    """``concurrency`` if 1 ≤ it ≤ ``max_concurrent_runs``; :class:`BackfillError` otherwise.

    Call it before starting anything (e.g. before a progress bar) so a bad
    ``--concurrency`` is a one-line refusal.
    """
    if max_concurrent_runs < 1:
        raise BackfillError(f"max_concurrent_runs must be >= 1, got {max_concurrent_runs}")
    if not 1 <= concurrency <= max_concurrent_runs:
        raise BackfillError(
            f"concurrency must be between 1 and the Glue jobs' MaxConcurrentRuns "
            f"({max_concurrent_runs}), got {concurrency}"
        )
    return concurrency


def check_dates(p_dates: list[str]) -> list[str]:
    """Each date valid and listed once, as canonical text; :class:`DateRangeError` otherwise."""
    checked = [dates.check_p_date(d) for d in p_dates]
    duplicates = sorted({d for d in checked if checked.count(d) > 1})
    if duplicates:
        raise DateRangeError(f"date(s) listed twice: {', '.join(duplicates)}")
    return checked




def check_chunk_size(chunk_size: int) -> int:
    """``chunk_size`` if 1 ≤ it ≤ :data:`MAX_CHUNK_DAYS`; :class:`BackfillError` otherwise."""
    if not 1 <= chunk_size <= MAX_CHUNK_DAYS:
        raise BackfillError(f"chunk size must be between 1 and {MAX_CHUNK_DAYS} dates, "
                            f"got {chunk_size}")
    return chunk_size


def chunks(p_dates: list[str], chunk_size: int) -> list[list[str]]:
    """``p_dates`` in order, cut into runs of ``chunk_size`` (the last may be shorter):
    what ``States.ArrayPartition($.dates, $.chunk_size)`` makes of them on AWS."""
    check_chunk_size(chunk_size)
    return [p_dates[i:i + chunk_size] for i in range(0, len(p_dates), chunk_size)]


def aws_input(p_dates: list[str], chunk_size: int = DEFAULT_CHUNK_DAYS, *,
              replace: bool | None = None) -> dict[str, object]:
    """The ``udp-backfill`` execution input for these dates (``replace`` only if given)."""
    out: dict[str, object] = {"dates": check_dates(p_dates),
                              "chunk_size": check_chunk_size(chunk_size)}
    if replace is not None:
        out["replace"] = replace
    return out


def backfill_placeholder_values(cfg: PipelineConfig, account: str = "000000000000",
                                region: str = "us-east-1") -> dict[str, str]:
    """The ``${Name}`` substitutions of ``backfill.asl.json`` (the nightly file's names)."""
    return placeholder_values(cfg, account, region)


def load_backfill_definition(cfg: PipelineConfig) -> LoadedDefinition:
    """``backfill.asl.json`` as deployed (placeholders substituted)."""
    return load_definition_file(BACKFILL_DEFINITION, backfill_placeholder_values(cfg))


def chunk_definition(cfg: PipelineConfig) -> LoadedDefinition:
    """The Map's ``ItemProcessor`` (one chunk) as a definition of its own, remembering the
    backfill file it came from. Its input is what the Map's ``ItemSelector`` makes:
    ``{"dates": [...], "replace": bool, "run_key": "<unique id>"}``."""
    full = load_backfill_definition(cfg)
    processor = full["States"][CHUNK_STATE]["ItemProcessor"]
    body = {"Comment": f"one chunk of {BACKFILL_DEFINITION.name} ({CHUNK_STATE})",
            "QueryLanguage": full.get("QueryLanguage", "JSONPath"),
            "TimeoutSeconds": full.get("TimeoutSeconds", 604800),
            "StartAt": processor["StartAt"], "States": processor["States"]}
    source: DefinitionSource = full.source
    return LoadedDefinition(body, source)
