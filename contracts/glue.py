"""Glue table definitions derived from the contracts (what the infrastructure declares)."""

from __future__ import annotations

from typing import Any

from contracts.tables import TableContract

__all__ = ["PARQUET_INPUT", "PARQUET_OUTPUT", "PARQUET_SERDE", "parquet_table_input"]

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def parquet_table_input(contract: TableContract, location: str) -> dict[str, Any]:
    """Glue ``TableInput`` for a Parquet table partitioned by ``p_date``.

    Firehose's record-format conversion reads its schema from this table, so it must
    exist before the first record arrives; crawlers then only add partitions.
    """
    return {
        "Name": contract.name,
        "Description": contract.doc,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": contract.glue_columns(),
            "Location": location,
            "InputFormat": PARQUET_INPUT,
            "OutputFormat": PARQUET_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE,
                          "Parameters": {"serialization.format": "1"}},
        },
        "PartitionKeys": contract.partition_keys,
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
    }
