"""The runtime port: how a job reads catalog tables and publishes a partition.

``LocalRuntime`` resolves the push-down predicate through the local Glue catalog's
``get_partitions(Expression=...)`` and reads only those partition folders. The Glue
adapter (``glue_jobs.glue_runtime.GlueRuntime``) does the same through
``create_dynamic_frame.from_catalog(push_down_predicate=...)``. Job code sees only
this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.tables import PARTITION_KEY, TableContract
from glue_jobs.catalog_api import GlueCatalogApi, list_partitions
from local_aws.objectstore import LocalObjectStore

__all__ = ["JobRuntime", "LocalRuntime", "write_partition_overwrite"]


class JobRuntime(Protocol):
    @property
    def spark(self) -> SparkSession: ...

    def read_partitions(self, contract: TableContract, predicate: str) -> DataFrame: ...

    def write_partition(self, df: DataFrame, contract: TableContract, location: str,
                        p_date: str) -> None: ...


def write_partition_overwrite(df: DataFrame, location: str, p_date: str,
                              files: int = 1) -> None:
    """Replace exactly ``<location>/p_date=<p_date>/`` (dynamic partition overwrite)."""
    (df.withColumn(PARTITION_KEY, F.lit(p_date))
       .coalesce(files)
       .write.mode("overwrite")
       .option("partitionOverwriteMode", "dynamic")
       .partitionBy(PARTITION_KEY)
       .parquet(location))


@dataclass
class LocalRuntime:
    spark: SparkSession
    catalog: GlueCatalogApi
    store: LocalObjectStore
    paths_read: list[str] = field(default_factory=list)

    def read_partitions(self, contract: TableContract, predicate: str) -> DataFrame:
        parts = list_partitions(self.catalog, contract.database, contract.name, predicate)
        schema = contract.spark_schema()
        frames = []
        for part in sorted(parts, key=lambda p: p["Values"]):
            path = str(self.store.path(part["StorageDescriptor"]["Location"]))
            self.paths_read.append(path)
            frames.append(self.spark.read.schema(schema).parquet(path)
                          .withColumn(PARTITION_KEY, F.lit(part["Values"][0])))
        if not frames:
            return self.spark.createDataFrame([], schema).withColumn(
                PARTITION_KEY, F.lit(None).cast("string"))
        return reduce(DataFrame.unionByName, frames)

    def write_partition(self, df: DataFrame, contract: TableContract, location: str,
                        p_date: str) -> None:
        write_partition_overwrite(df, str(self.store.path(location)), p_date)
