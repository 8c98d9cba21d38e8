"""Pure translations from the project's definitions to CloudFormation properties.

The crawler specs, the table contracts, the schedules and the state-machine files
are the definitions the local twins run; these functions render the same data as
CloudFormation resource properties, so the deployed resources cannot drift from them.
"""

from __future__ import annotations

import re
from typing import Any

from contracts.glue import PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE
from contracts.tables import TableContract
from crawlers.specs import CrawlerSpec

__all__ = [
    "PARQUET_INPUT_FORMAT",
    "PARQUET_OUTPUT_FORMAT",
    "PARQUET_SERDE",
    "asl_placeholders",
    "crawler_properties",
    "glue_table_input",
]

PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT = PARQUET_INPUT, PARQUET_OUTPUT

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def crawler_properties(spec: CrawlerSpec, role_arn: Any,
                       security_configuration: str | None = None) -> dict[str, Any]:
    """``AWS::Glue::Crawler`` properties from a spec's boto3 ``create_crawler`` kwargs.

    The API and the resource share names and shapes except ``Schedule`` (a string in
    the API, ``{"ScheduleExpression": …}`` in CloudFormation) and the security
    configuration, which the resource names ``CrawlerSecurityConfiguration``.
    ``role_arn`` may be a CDK token.
    """
    kwargs = spec.to_create_crawler_kwargs("ROLE")
    props: dict[str, Any] = {k: v for k, v in kwargs.items() if k not in ("Role", "Schedule")}
    props["Role"] = role_arn
    if not props.get("TablePrefix"):
        props.pop("TablePrefix", None)
    if "Schedule" in kwargs:
        props["Schedule"] = {"ScheduleExpression": kwargs["Schedule"]}
    if security_configuration:
        props["CrawlerSecurityConfiguration"] = security_configuration
    return props


def glue_table_input(contract: TableContract, location: str) -> dict[str, Any]:
    """``TableInput`` of an external, partitioned Parquet table declared from its contract."""
    return {
        "Name": contract.name,
        "Description": contract.doc,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE",
                       "parquet.compression": "SNAPPY"},
        "PartitionKeys": contract.partition_keys,
        "StorageDescriptor": {
            "Columns": contract.glue_columns(),
            "Location": location,
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE,
                          "Parameters": {"serialization.format": "1"}},
        },
    }


def asl_placeholders(text: str) -> set[str]:
    """Names of the ``${Name}`` placeholders in a state-machine definition's text."""
    return set(_PLACEHOLDER.findall(text))
