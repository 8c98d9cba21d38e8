"""The transform job's entrypoint body as the local Glue twin runs it, in one place for
both ways the twin runs a job: in the ``udp`` process (``local_aws.cloud``) and in the
warm local Glue service (``local_aws.glue.warm_server``). Both return the same ``Output``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["run_transform_job"]


def run_transform_job(args: Mapping[str, str], clients: Any) -> dict[str, Any]:
    """Run ``glue_jobs.transform_job`` for ``getResolvedOptions``-style ``args`` through
    ``clients`` (its ``TransformClients``); the job run's ``Output``: one day's result, a
    range's days and sums, or a backfill chunk's ``{"run_key", "days", ...}``.

    Each run starts with no cached secret, as a Glue job run (a process of its own)
    does: a process that runs jobs for several state folders (the test suite, the warm
    service) must not hash one folder's e-mails with another folder's salt."""
    from glue_jobs.secrets import clear_secret_cache

    clear_secret_cache()
    if args.get("p_dates"):  # a backfill chunk
        from glue_jobs.transform_job import main_dates

        return main_dates(args, clients)
    from glue_jobs.transform_job import main

    results = main(args, clients)
    if len(results) == 1:
        return results[0].as_dict()
    return {"days": [r.as_dict() for r in results],
            "rows_read": sum(r.rows_read for r in results),
            "rows_written": sum(r.rows_written for r in results)}
