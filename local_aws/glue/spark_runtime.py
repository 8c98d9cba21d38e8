"""Local twin of a Glue job's runtime: local Spark + the Glue catalog twin + the S3 twin.

It implements ``glue_jobs.runtime_port.JobRuntime`` the way ``GlueRuntime`` does on
Glue: partitions come from the catalog (``get_partitions(Expression=...)``) and only
those folders are read; ``s3://`` URIs map onto the local object store.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.tables import PARTITION_KEY, TableContract
from glue_jobs.catalog_api import list_partitions
from glue_jobs.runtime_port import (
    empty_partitioned_frame,
    write_parquet_files,
    write_partitioned_files,
)
from local_aws.files import atomic_write_bytes
from local_aws.s3.objectstore import LocalObjectStore

__all__ = ["LocalRuntime"]


@dataclass
class LocalRuntime:
    """Local Spark + the Glue catalog twin + the S3 twin."""

    spark: SparkSession
    catalog: Any
    store: LocalObjectStore
    paths_read: list[str] = field(default_factory=list)

    def read_partitions(self, contract: TableContract, predicate: str) -> DataFrame:
        """One scan over exactly the listed partition folders (however many partitions
        the table has); ``p_date`` comes from the catalog, matched by file path."""
        parts = list_partitions(self.catalog, contract.database, contract.name, predicate)
        if not parts:
            return empty_partitioned_frame(self.spark, contract)
        folders = {str(self.store.path(p["StorageDescriptor"]["Location"])).rstrip("/") + "/":
                   p["Values"][0] for p in sorted(parts, key=lambda p: p["Values"])}
        self.paths_read.extend(f.rstrip("/") for f in folders)
        df = self.spark.read.schema(contract.spark_schema()).parquet(*folders)
        if len(folders) == 1:
            return df.withColumn(PARTITION_KEY, F.lit(next(iter(folders.values()))))
        path = F.input_file_name()
        value = F.lit(None).cast("string")
        for folder, v in folders.items():
            value = F.when(path.contains(folder), F.lit(v)).otherwise(value)
        return df.withColumn(PARTITION_KEY, value)

    def write_parquet(self, df: DataFrame, uri: str, files: int, *,
                      append: bool = False) -> None:
        write_parquet_files(df, str(self.store.path(uri)), files, append)

    def write_partitioned(self, df: DataFrame, uri: str) -> None:
        write_partitioned_files(df, str(self.store.path(uri)))

    def move_files(self, src_uri: str, dst_uri: str) -> int:
        """``os.replace`` per file (a rename within the store's file system)."""
        src, dst = self.store.path(src_uri), self.store.path(dst_uri)
        try:
            entries = [e for e in os.scandir(src) if e.is_file()]
        except FileNotFoundError:
            return 0
        dst.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            os.replace(entry.path, dst / entry.name)
        return len(entries)

    def list_folders(self, uri: str) -> list[str]:
        try:
            with os.scandir(self.store.path(uri)) as it:
                return sorted(e.name for e in it if e.is_dir())
        except FileNotFoundError:
            return []

    def list_files(self, uri: str) -> dict[str, int]:
        with os.scandir(self.store.path(uri)) as it:
            return {e.name: e.stat().st_size for e in it if e.is_file()}

    def write_text(self, uri: str, text: str) -> None:
        atomic_write_bytes(self.store.path(uri), text.encode("utf-8"))

    def delete_folder(self, uri: str) -> None:
        path = self.store.path(uri)
        if not path.exists():
            return
        # rename first: readers see the folder vanish at once, never half-deleted
        trash = path.with_name(f".deleting-{path.name}-{uuid.uuid4().hex[:8]}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
