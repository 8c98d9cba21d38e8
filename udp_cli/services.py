"""`udp status`'s view of what runs for a state folder, and `udp status --clean`.

Kept apart from ``udp_cli/cli.py``: status calls :func:`running_lines` and
:func:`cleanup_lines` and prints what they return, one line each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts.pipeline import PipelineConfig
from local_aws.facade import (
    clean_up,
    date_leases,
    glue_service_info,
    running_services,
    stop_glue_service,
)

__all__ = ["cleanup_lines", "running_lines"]


def _leases(state_dir: Path, cfg: PipelineConfig) -> Any:
    return date_leases(state_dir, cfg.lease_table)


def running_lines(state_dir: Path, cfg: PipelineConfig | None = None) -> list[str]:
    """One line per server or engine running for ``state_dir`` and per date being run
    (a live date lease); empty when nothing runs."""
    cfg = cfg or PipelineConfig()
    glue = glue_service_info(state_dir)
    # the service's Spark scratch folder is the service's: one line for both
    lines = [service.describe() for service in running_services(state_dir)
             if glue is None or service.pid != glue.pid]
    if glue is not None:
        lines.insert(0, glue.describe())
    leases = _leases(state_dir, cfg)
    for item in sorted(leases.scan(cfg.lease_table), key=lambda i: i["p_date"]["S"]):
        day = item["p_date"]["S"]
        writer = leases.writer(cfg.lease_table, day) or {}
        pid = f", pid {writer['pid']}" if "pid" in writer else ""
        lines.append(f"run of {day}: {item.get('holder', {}).get('S', '?')} "
                     f"(started {item.get('started_at', {}).get('S', '?')}{pid})")
    return lines


def cleanup_lines(state_dir: Path, cfg: PipelineConfig | None = None) -> list[str]:
    """Clean what killed runs left (dead pid records, an orphaned warehouse server, stale
    scratch folders, leases of dead runs), stop the warm local Glue service, and say what
    was done, one line each."""
    cfg = cfg or PipelineConfig()
    glue = stop_glue_service(state_dir)  # first: its scratch folder goes with the rest
    report = clean_up(state_dir)
    lines = [f"stopped the warm local Glue service (pid {glue})"] if glue is not None else []
    lines += [f"dropped dead warehouse holder pid {pid}" for pid in report.dead_handles]
    if report.stopped_warehouse:
        lines.append("stopped the warehouse server no live udp process held")
    lines += [f"removed scratch folder {path}" for path in report.removed_scratch]
    lines += [f"released the lease of {day} (its run was killed)"
              for day in _leases(state_dir, cfg).prune_dead(cfg.lease_table)]
    return lines or ["nothing to clean"]
