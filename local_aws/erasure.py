"""The erasure job's ports on the local twins, and the local-only places data lands.

``LocalCloud.erasure()`` builds one. The job body is ``glue_jobs.erasure_job`` (the
one the erasure Glue job runs); here only what the local state adds: the DynamoDB
twin's lease table, the local warehouse's delete (plus the
on-disk purge PostgreSQL needs), the push path's user table as saved between
``udp serve`` runs, the transform on local Spark, and the local files (the push
path's failure log, the engines' scratch) a byte scan would otherwise find. The
verify walks the whole state folder.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from contracts.erasure_store import S3RegisterStore, read_body
from glue_jobs.erasure import lines_without
from glue_jobs.erasure_job import (
    WAREHOUSE_TABLES,
    DynamoLeases,
    ErasurePorts,
    ErasureReport,
    ErasureSettings,
    erase_in_warehouse,
    erase_users,
    rows_of_users,
)
from glue_jobs.erasure_verify import count_in, fingerprint
from local_aws.processes import running_push_server
from local_aws.stepfunctions import TaskError

__all__ = ["LAYERS", "LocalErasure", "PushServerRunning", "UnknownErasure", "erasure_counts",
           "erasure_line"]


SFN_GLUE_JOB_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SFN_S3_GET_OBJECT = "arn:aws:states:::aws-sdk:s3:getObject"


class PushServerRunning(RuntimeError):
    """``udp serve`` holds the push path's user table in memory: stop it first."""


class UnknownErasure(ValueError):
    """``--verify`` for an id the register does not hold."""


LAYERS: tuple[tuple[str, str], ...] = (
    ("s3/{lake}/raw/", "raw"),
    ("s3/{lake}/transform/", "transform"),
    ("s3/{lake}/errors/", "quarantine"),
    ("s3/{errors}/", "quarantine"),
    ("s3/", "lake (other)"),
    ("warehouse/", "warehouse"),
    ("push/", "dynamodb / push"),
    ("catalog/", "catalog"),
    ("logs/", "logs"),
    ("reports/", "reports"),
    ("spark-events/", "spark event logs"),
    ("runs/", "run history"),
    ("tmp/", "engine scratch"),
    ("", "other"),
)
"""Where a file of the state folder counts, first match wins (paths relative to it)."""


class _Warehouse:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud

    def erase(self, user_ids: Sequence[str], erasure_id: str) -> int:
        import psycopg

        if not (self.cloud.paths.warehouse / "pgdata" / "PG_VERSION").exists():
            return 0  # never loaded: nothing to delete
        with psycopg.connect(self.cloud.load_uri) as conn, conn.cursor() as cur:
            deleted = erase_in_warehouse(cur, user_ids, erasure_id, datetime.now(UTC))
        self.cloud.warehouse.purge_deleted_rows(WAREHOUSE_TABLES)
        return deleted

    def remaining(self, user_ids: Sequence[str]) -> int:
        import psycopg

        if not (self.cloud.paths.warehouse / "pgdata" / "PG_VERSION").exists():
            return 0
        with psycopg.connect(self.cloud.load_uri) as conn, conn.cursor() as cur:
            return rows_of_users(cur, user_ids)


class _PushUsers:
    """The push path's DynamoDB user table as ``udp serve`` saves it between runs."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "push" / "users.jsonl"

    def delete(self, user_ids: Sequence[str]) -> int:
        if not self.path.is_file():
            return 0
        wanted = set(user_ids)
        kept, deleted = [], 0
        for line in self.path.read_text().splitlines():
            if not line.strip():
                continue
            if json.loads(line).get("user_id", {}).get("S") in wanted:
                deleted += 1
            else:
                kept.append(line + "\n")
        if deleted:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(kept))
            tmp.replace(self.path)
        return deleted

    def present(self, user_ids: Sequence[str]) -> int:
        if not self.path.is_file():
            return 0
        wanted = set(user_ids)
        return sum(json.loads(line).get("user_id", {}).get("S") in wanted
                   for line in self.path.read_text().splitlines() if line.strip())


class _StepClients:
    """``glue_jobs.erasure_steps.ErasureClients`` on the twins."""

    def __init__(self, erasure: LocalErasure) -> None:
        self.erasure, self.cloud = erasure, erasure.cloud

    def s3(self) -> Any:
        return self.cloud.s3

    def runtime(self) -> Any:
        from local_aws.glue.spark_runtime import LocalRuntime

        return LocalRuntime(self.cloud.spark, self.cloud.catalog, self.cloud.store)

    def salt(self, secret_id: str) -> str:
        return str(self.cloud.cfg.email_hash_salt)

    def warehouse(self, secret_id: str) -> _Warehouse:
        return _Warehouse(self.cloud)

    def users(self, table: str) -> _PushUsers:
        return _PushUsers(self.cloud.paths.state_dir)


class LocalErasure:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        cfg = cloud.cfg
        self.settings = ErasureSettings(cfg.lake_bucket, cfg.errors_bucket)

    def _republish(self, days: Sequence[str], run_key: str) -> Mapping[str, bool]:
        from glue_jobs.transform_job import TransformSettings, transform_chunk
        from local_aws.glue.spark_runtime import LocalRuntime

        cloud = self.cloud
        register = S3RegisterStore(cloud.s3, cloud.cfg.lake_bucket).load()
        settings = TransformSettings(cloud.cfg.lake_uri, cloud.cfg.email_hash_salt,
                                     keep_previous_version=False, erasures=register)
        runtime = LocalRuntime(cloud.spark, cloud.catalog, cloud.store)
        results = transform_chunk(runtime, [date.fromisoformat(d) for d in days],
                                      settings, run_key=run_key)
        return {r["p_date"]: r["status"] == "SUCCEEDED" for r in results}

    def ports(self) -> ErasurePorts:
        cloud = self.cloud
        return ErasurePorts(
            s3=cloud.s3,
            leases=DynamoLeases(cloud.dynamodb, cloud.cfg.lease_table),
            warehouse=_Warehouse(cloud), users=_PushUsers(cloud.paths.state_dir),
            republish=self._republish)

    def job_arguments(self, run_arguments: Mapping[str, str]) -> dict[str, str]:
        """The erasure job's resolved options for one run: the deployed job's defaults
        (this state's names) under the run's ``--name`` arguments."""
        cfg = self.cloud.cfg
        defaults = {"JOB_NAME": cfg.erase_job, "lake_uri": cfg.lake_uri,
                    "errors_bucket": cfg.errors_bucket, "salt_secret_id": "local",
                    "secret_id": "local", "user_table": "push-users"}
        return {**defaults, **{k.removeprefix("--"): v for k, v in run_arguments.items()}}

    def run_job_step(self, run_arguments: Mapping[str, str]) -> dict[str, Any]:
        """One run of the erasure Glue job on the twins (``glue_jobs.erasure_steps``)."""
        from glue_jobs.erasure_steps import main

        return main(self.job_arguments(run_arguments), _StepClients(self))

    def _job_sync(self, fallback: Any, params: dict[str, Any]) -> Any:
        name = params["JobName"]
        if name != self.cloud.cfg.erase_job:
            return fallback(params)
        run_id = f"jr_{uuid.uuid4().hex}"
        try:
            output = self.run_job_step(params.get("Arguments") or {})
        except Exception as exc:  # what Step Functions reports for a failed .sync run
            raise TaskError("States.TaskFailed", json.dumps({
                "Id": run_id, "JobName": name, "JobRunState": "FAILED",
                "ErrorMessage": f"{type(exc).__name__}: {exc}"})) from None
        return {"Id": run_id, "JobName": name, "JobRunState": "SUCCEEDED", "Output": output}

    def _get_object(self, params: dict[str, Any]) -> Any:
        """``aws-sdk:s3:getObject`` as Step Functions answers it: the body as text."""
        # a refusal is a ClientError: the executor names it as Step Functions does
        answer = self.cloud.s3.get_object(Bucket=params["Bucket"], Key=params["Key"])
        body = read_body(answer["Body"])
        return {"Body": body.decode("utf-8"), "ContentLength": len(body),
                "ContentType": answer.get("ContentType", "binary/octet-stream")}

    def task_registry(self) -> Any:
        """The pipeline's task handlers, with the erasure job's runs and the plan reads."""
        registry = self.cloud.task_registry()
        fallback = registry.get(SFN_GLUE_JOB_SYNC)
        registry.register(SFN_GLUE_JOB_SYNC, lambda p: self._job_sync(fallback, p))
        registry.register(SFN_S3_GET_OBJECT, self._get_object)
        return registry

    def executor(self, wait_scale: float | None = None) -> Any:
        """``orchestration/erasure.asl.json`` in the local executor, on the twins."""
        from local_aws.stepfunctions import AslExecutor
        from orchestration.erasure import load_erasure_definition

        return AslExecutor(load_erasure_definition(self.cloud.cfg), self.task_registry(),
                           wait_scale=self.cloud.wait_scale if wait_scale is None
                           else wait_scale, history=self.cloud.history, name="udp-erase")

    def erase(self, user_ids: Sequence[str]) -> ErasureReport:
        """``glue_jobs.erasure_job.erase_users`` on the twins, then the local files."""
        state = self.cloud.paths.state_dir
        if running_push_server(state) is not None:
            raise PushServerRunning("udp serve is running for this state folder and holds "
                                    "the user table in memory; stop it, then erase")
        report = erase_users(user_ids, self.ports(), self.settings)
        report.layers["local files"] = {"rows_removed": self._local_files(user_ids)}
        return report

    def _local_files(self, user_ids: Sequence[str]) -> int:
        """The push path's failure log loses the users' lines. (The engines' scratch,
        ``tmp/``, belongs to live processes and is emptied at every start.)"""
        removed = 0
        log = self.cloud.paths.state_dir / "push" / "on-failure.jsonl"
        if log.is_file():
            body, removed = lines_without(log.read_bytes(), user_ids)
            if removed:
                log.write_bytes(body or b"")
        return removed

    def verify(self, user_id: str) -> dict[str, int]:
        """Hits of the user's id and stored values per layer of the state folder."""
        register = S3RegisterStore(self.cloud.s3, self.cloud.cfg.lake_bucket).load()
        printed = fingerprint(register, user_id)
        if printed is None:
            raise UnknownErasure(f"{user_id!r} was never erased here: the register has no "
                                 "entry for it")
        state = self.cloud.paths.state_dir
        # this process's own scratch is skipped: a `udp erase --verify` process made it
        # after the erasure (another process's, a live run's, is scanned)
        own = tuple(f"tmp/{kind}-{os.getpid()}/" for kind in ("spark", "athena"))
        prefixes = [(p.format(lake=self.cloud.cfg.lake_bucket,
                              errors=self.cloud.cfg.errors_bucket), layer)
                    for p, layer in LAYERS]
        counts = dict.fromkeys(dict.fromkeys(layer for _, layer in LAYERS), 0)
        for path in sorted(state.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(state).as_posix()
            if rel.startswith(own):
                continue
            layer = next(name for prefix, name in prefixes if rel.startswith(prefix))
            try:
                body = path.read_bytes()
            except OSError:
                continue
            counts[layer] += count_in(body, [printed])
        return counts


def erasure_counts(state_dir: Path, cfg: Any = None) -> dict[str, int] | None:
    """The register's counts (requested, completed, pending) for ``udp status`` and the
    run report; None when nobody was ever erased here. Counts only, never ids."""
    from contracts.erasure import REGISTER_KEY, ErasureRegister
    from contracts.pipeline import PipelineConfig
    from local_aws.s3.objectstore import LocalObjectStore

    bucket = (cfg or PipelineConfig()).lake_bucket
    path = LocalObjectStore(Path(state_dir) / "s3").path(f"s3://{bucket}/{REGISTER_KEY}")
    try:
        return ErasureRegister.from_json(path.read_bytes()).counts()
    except (OSError, ValueError):
        return None


def erasure_line(state_dir: Path) -> str | None:
    """``erasures: 3 requested, 2 completed, 1 pending`` (None when there are none)."""
    counts = erasure_counts(state_dir)
    if not counts:
        return None
    return (f"erasures: {counts['requested']} requested, {counts['completed']} completed, "
            f"{counts['pending']} pending")
