"""Local SparkSession with Glue 6.0's settings (Spark 4.1, Java 17, ANSI SQL, UTC, small
shuffles).

Spark 4 turns ANSI SQL mode on by default, and Glue 6.0 keeps that default: a cast of
``'n/a'`` to a number raises instead of giving null. The local session states it
explicitly (``spark.sql.ansi.enabled``) so local runs and tests fail exactly where a Glue
6.0 job would; the transforms use ``try_cast`` wherever input may be malformed.

Local-only concerns (a shared machine): files Spark writes are owner-only (Hadoop's
``fs.permissions.umask-mode`` 077: Parquet 0600, folders 0700, like every other file of
the local lake), and with ``scratch_dir`` all of Spark's temp folders (``spark.local.dir``,
the JVM's ``java.io.tmpdir``, the SQL warehouse dir) live under it, a folder the caller
owns and removes (``local_aws.processes``), instead of in the machine's shared /tmp.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from local_aws.glue.java import use_java

__all__ = [
    "JAVA_OPTIONS",
    "ensure_java",
    "event_log_settings",
    "local_spark",
    "scratch_settings",
    "stop_spark",
]

LOG4J = Path(__file__).with_name("log4j2.properties")


def ensure_java() -> None:
    """Point PySpark at a Java that runs Spark 4.1 (``local_aws.glue.java``), or raise
    :class:`~local_aws.glue.java.JavaMissing` with what to install."""
    use_java()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (UDFs, createDataFrame of rows) run this interpreter, not whatever
    # `python3` is on PATH: PySpark refuses a worker of another minor version.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


JAVA_OPTIONS = (
    f"-Dlog4j2.configurationFile=file:{LOG4J}",
    # Whole-stage codegen for the 20-column model makes methods larger than HotSpot's
    # 8000-bytecode JIT limit, which then run interpreted; compiling them anyway cut the
    # model's CPU time by ~18% on the 1M-user bench day (bench/transform.py).
    "-XX:-DontCompileHugeMethods",
    # a batch job wants throughput, not short pauses: the parallel collector spent ~10%
    # less CPU than G1 on the same model build
    "-XX:+UseParallelGC",
)


def scratch_settings(scratch_dir: Path | None) -> dict[str, str]:
    """Spark settings that put its temp folders under ``scratch_dir`` (pure; created by
    Spark). Without one, only the SQL warehouse dir moves out of the way, to /tmp."""
    if scratch_dir is None:
        return {"spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(),
                                                        "udp-spark-wh")}
    return {"spark.local.dir": str(scratch_dir / "local"),
            "spark.sql.warehouse.dir": str(scratch_dir / "warehouse"),
            "spark.driver.extraJavaOptions": " ".join(
                [*JAVA_OPTIONS, f"-Djava.io.tmpdir={scratch_dir / 'java'}"])}


def event_log_settings(event_log_dir: Path | None) -> dict[str, str]:
    """Spark settings that write the application's event log (what Spark's history server
    and Glue's Spark UI read) into ``event_log_dir``, created if missing; none if ``None``.

    Locally the folder is ``<state>/spark-events`` (``LocalPaths.spark_events``); on Glue
    the job's ``--enable-spark-ui``/``--spark-event-logs-path`` do the same to S3
    (infra/stack.py). docs/operate/spark-ui.md says how to open them.
    """
    if event_log_dir is None:
        return {}
    folder = Path(event_log_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    # Spark 4 rolls event logs into a folder per application and compresses them (zstd)
    # by default; locally each application keeps one plain JSON-lines file, which the
    # history server reads as well and a byte search of the state folder can see into
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.as_uri(),
            "spark.eventLog.rolling.enabled": "false", "spark.eventLog.compress": "false"}


def local_spark(app: str = "udp", cores: int = 2, scratch_dir: Path | None = None,
                event_log_dir: Path | None = None) -> Any:
    """The local session. ``scratch_dir``: Spark's temp folders go under it;
    ``event_log_dir``: Spark event logs are written there (a session that already exists
    in this process is reused as is: both are start-up settings)."""
    ensure_java()
    from pyspark.sql import SparkSession

    if scratch_dir is not None:
        (scratch_dir / "java").mkdir(mode=0o700, parents=True, exist_ok=True)

    settings = {
        "spark.master": f"local[{cores}]",
        "spark.app.name": app,
        "spark.sql.session.timeZone": "UTC",
        # Glue 6.0's default (Spark 4's): invalid casts and overflows raise
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(cores * 2),
        "spark.default.parallelism": str(cores * 2),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": " ".join(JAVA_OPTIONS),
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.memory": "2g",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        # owner-only files, as the rest of the local lake (Hadoop's local file system
        # applies this umask to every file and folder it creates)
        "spark.hadoop.fs.permissions.umask-mode": "077",
        **scratch_settings(scratch_dir),
        **event_log_settings(event_log_dir),
    }
    _launch_quiet_gateway(settings)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


JVM_NOTICES = ("WARNING: Using incubator modules: jdk.incubator.vector",)
"""Lines the JVM itself prints to stderr at every start and no setting silences: Spark
4.1's launcher always adds ``--add-modules=jdk.incubator.vector``, and the JVM announces
it. They say nothing to a user of ``udp``; every other line passes through."""


def _pass_stderr(stream: IO[bytes]) -> None:
    """Copy the JVM's stderr to ours, line by line, without :data:`JVM_NOTICES`."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        if line.rstrip("\r\n") in JVM_NOTICES:
            continue
        sys.stderr.write(line)
        sys.stderr.flush()


def _launch_quiet_gateway(settings: dict[str, str]) -> None:
    """Start this process's Spark JVM (once) with ``settings``, its stderr read through
    :func:`_pass_stderr`; ``getOrCreate`` then takes this gateway as PySpark's own."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    proc = gateway.proc
    threading.Thread(target=_pass_stderr, args=(proc.stderr,), name="spark-stderr",
                     daemon=True).start()
    SparkContext._gateway = gateway
    SparkContext._jvm = gateway.jvm


def stop_spark() -> None:
    """Stop this process's Spark session, if any, so it closes its event log now and
    not in a shutdown hook after the state folder holding it is gone (benches)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
