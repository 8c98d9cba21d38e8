"""Glue adapter of the runtime port. Takes a GlueContext; never imports awsglue itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from contracts.tables import TableContract
from glue_jobs.runtime_port import (
    empty_partitioned_frame,
    write_parquet_files,
    write_partitioned_files,
)

__all__ = ["GlueRuntime"]


@dataclass
class GlueRuntime:
    """Glue 6.0: reads through the Data Catalog, writes to S3, lists/deletes with the
    job's Hadoop filesystem (EMRFS on Glue), updates the catalog with a boto3 client."""

    glue_context: Any  # awsglue.context.GlueContext
    catalog: Any  # boto3.client("glue")

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
        df = dyf.toDF()
        if not df.columns:  # no matching partition: Glue gives a frame without a schema
            return empty_partitioned_frame(self.spark, contract)
        return df

    def write_parquet(self, df: DataFrame, uri: str, files: int, *,
                      append: bool = False) -> None:
        write_parquet_files(df, uri, files, append)

    def write_partitioned(self, df: DataFrame, uri: str) -> None:
        write_partitioned_files(df, uri)

    def move_files(self, src_uri: str, dst_uri: str) -> int:
        """Hadoop ``rename`` per file: on S3 (EMRFS) a server-side copy and a delete,
        so only a day's few files move, never a folder tree."""
        fs, src = self._fs(src_uri)
        _, dst = self._fs(dst_uri)
        if not fs.exists(src):
            return 0
        fs.mkdirs(dst)
        moved = 0
        for status in fs.listStatus(src):
            if status.isFile():
                name = status.getPath().getName()
                if not fs.rename(status.getPath(), dst.suffix(f"/{name}")):
                    raise OSError(f"could not move {status.getPath()} into {dst_uri}")
                moved += 1
        return moved

    def _fs(self, uri: str) -> tuple[Any, Any]:
        jvm: Any = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        return path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()), path

    def list_folders(self, uri: str) -> list[str]:
        fs, path = self._fs(uri)
        if not fs.exists(path):
            return []
        return sorted(str(s.getPath().getName()) for s in fs.listStatus(path) if s.isDirectory())

    def delete_folder(self, uri: str) -> None:
        fs, path = self._fs(uri)
        if fs.exists(path):
            fs.delete(path, True)

    def list_files(self, uri: str) -> dict[str, int]:
        fs, path = self._fs(uri)
        return {str(s.getPath().getName()): int(s.getLen())
                for s in fs.listStatus(path) if s.isFile()}

    def write_text(self, uri: str, text: str) -> None:
        fs, path = self._fs(uri)
        out = fs.create(path, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
