"""Glue adapter of the runtime port. Takes a GlueContext; never imports awsglue itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from contracts.tables import TableContract
from glue_jobs.runtime import write_partition_overwrite

__all__ = ["GlueRuntime"]


@dataclass
class GlueRuntime:
    glue_context: Any  # awsglue.context.GlueContext

    @property
    def spark(self) -> SparkSession:
        return self.glue_context.spark_session

    def read_partitions(self, contract: TableContract, predicate: str) -> DataFrame:
        """Partition pruning happens in the catalog (catalogPartitionPredicate) and in S3
        listing (push_down_predicate): only matching partitions are ever opened."""
        dyf = self.glue_context.create_dynamic_frame.from_catalog(
            database=contract.database,
            table_name=contract.name,
            push_down_predicate=predicate,
            additional_options={"catalogPartitionPredicate": predicate},
            transformation_ctx=f"read_{contract.name}",
        )
        return dyf.toDF()

    def write_partition(self, df: DataFrame, contract: TableContract, location: str,
                        p_date: str) -> None:
        write_partition_overwrite(df, location, p_date)
