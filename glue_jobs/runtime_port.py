"""The runtime port: how a job reads catalog tables, writes files and reaches the catalog.

The Glue adapter (``glue_jobs.glue_runtime.GlueRuntime``) reads through
``create_dynamic_frame.from_catalog(push_down_predicate=...)`` and writes to S3; the
local Glue twin's ``LocalRuntime`` (``spark_runtime``) resolves the same predicate
through the local catalog's ``get_partitions(Expression=...)`` and reads only those
partition folders. Job code sees only this interface, so it is identical on both.
"""

from __future__ import annotations

from typing import Any, Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.tables import PARTITION_KEY, TableContract

__all__ = ["JobRuntime", "empty_partitioned_frame", "write_parquet_files",
           "write_partitioned_files"]


class JobRuntime(Protocol):
    """What a transform job may do to the outside world."""

    @property
    def spark(self) -> SparkSession: ...

    @property
    def catalog(self) -> Any:
        """A Glue catalog client (boto3 ``glue`` or the local twin)."""

    def read_partitions(self, contract: TableContract, predicate: str) -> DataFrame:
        """The catalog partitions matching ``predicate``, with a ``p_date`` column."""

    def write_parquet(self, df: DataFrame, uri: str, files: int, *,
                      append: bool = False) -> None:
        """Write ``df`` as ``files`` Parquet files into ``uri`` (a new folder unless
        ``append``)."""

    def write_partitioned(self, df: DataFrame, uri: str) -> None:
        """Write ``df`` into a new folder ``uri`` as Hive partitions by ``p_date``
        (``uri/p_date=D/*.parquet``), each task's rows of a day as one file."""

    def move_files(self, src_uri: str, dst_uri: str) -> int:
        """Move every file directly in folder ``src_uri`` into folder ``dst_uri``
        (created if missing; files already there stay); return how many moved."""

    def list_folders(self, uri: str) -> list[str]:
        """Names of the folders directly under ``uri`` (``[]`` when it does not exist)."""

    def delete_folder(self, uri: str) -> None:
        """Delete ``uri`` and everything under it (no error when missing)."""

    def list_files(self, uri: str) -> dict[str, int]:
        """Name -> size in bytes of the files directly in folder ``uri``."""

    def write_text(self, uri: str, text: str) -> None:
        """Write one small object (UTF-8), replacing any object of that name."""


def empty_partitioned_frame(spark: SparkSession, contract: TableContract) -> DataFrame:
    """An empty frame of ``contract``'s columns plus the ``p_date`` partition column."""
    return spark.createDataFrame([], contract.spark_schema()).withColumn(
        PARTITION_KEY, F.lit(None).cast("string"))


def write_parquet_files(df: DataFrame, path: str, files: int, append: bool) -> None:
    (df.coalesce(max(1, files)).write
       .mode("append" if append else "errorifexists")
       .parquet(path))


def write_partitioned_files(df: DataFrame, path: str) -> None:
    df.write.mode("errorifexists").partitionBy(PARTITION_KEY).parquet(path)
