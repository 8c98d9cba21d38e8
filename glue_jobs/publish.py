"""Atomic, idempotent publication of one ``p_date`` partition through the Data Catalog.

A run never writes where readers look. It writes a fresh *version folder*::

    s3://udp-lake/transform/users/_versions/2026-11-22/<run_id>/p_date=2026-11-22/*.parquet

then moves the catalog partition's ``StorageDescriptor.Location`` onto it (one
``UpdatePartition``/``CreatePartition`` call: readers resolve either the old or the new
folder, never a mix), then deletes older version folders of that day. A crash before
the pointer moves leaves an orphan folder nobody reads; the next run removes it.

The folder ends in ``p_date=D/`` so Hive-style readers (Athena, DuckDB, Redshift COPY's
``…/p_date=D/`` check) still see the partition value in the path, and ``_versions``
starts with ``_`` so crawlers and Spark's partition discovery skip it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from contracts.glue import PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE, parquet_table_input
from contracts.locations import STAGING_DIR, partition_folder, partition_uri, table_uri
from contracts.tables import TableContract

__all__ = [
    "INPUT_FORMAT",
    "MANIFEST_NAME",
    "OUTPUT_FORMAT",
    "SERDE",
    "STAGING_DIR",
    "VERSIONS_DIR",
    "InvalidRunId",
    "ManifestMismatch",
    "copy_manifest",
    "current_location",
    "data_files",
    "ensure_partition",
    "ensure_table",
    "manifest_entries",
    "manifest_uri",
    "new_run_id",
    "partition_input",
    "plain_partition_uri",
    "point_partition",
    "run_folder_of",
    "staging_uri",
    "stale_versions",
    "table_input",
    "table_uri",
    "validate_run_id",
    "version_uri",
    "versions_root",
]

VERSIONS_DIR = "_versions"
INPUT_FORMAT, OUTPUT_FORMAT, SERDE = PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class InvalidRunId(ValueError):
    """A run id that cannot name a folder safely."""


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique run id, e.g. ``20261123T020304Z-1a2b3c4d``."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe folder name (Glue's ``jr_<hex>`` ids are)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InvalidRunId(f"invalid run id {run_id!r}: use letters, digits, '_', '-', '.'")
    return run_id


plain_partition_uri = partition_uri
"""The Hive-style partition folder (used for append-only tables such as dq_results)."""


def versions_root(lake_uri: str, contract: TableContract, p_date: str) -> str:
    """The folder holding every version of one day: ``…/_versions/<p_date>/``."""
    return f"{table_uri(lake_uri, contract)}{VERSIONS_DIR}/{p_date}/"


def version_uri(lake_uri: str, contract: TableContract, p_date: str, run_id: str) -> str:
    """Where run ``run_id`` writes day ``p_date``: ``…/_versions/D/<run_id>/p_date=D/``."""
    return (f"{versions_root(lake_uri, contract, p_date)}{validate_run_id(run_id)}/"
            f"{partition_folder(p_date)}")


def staging_uri(lake_uri: str, contract: TableContract, pass_id: str) -> str:
    """Where one pass over several days writes a table before each day's files move to
    their own version folder: ``…/<table>/_staging/<pass_id>/`` (``_``: crawlers and
    Spark's partition discovery skip it; the pass deletes it when done)."""
    return f"{table_uri(lake_uri, contract)}{STAGING_DIR}/{validate_run_id(pass_id)}/"


def run_folder_of(location: str | None, root: str) -> str | None:
    """The run folder name of a version ``location`` under ``root``; None otherwise."""
    if not location or not location.startswith(root):
        return None
    name = location[len(root):].split("/", 1)[0]
    return name or None


def stale_versions(folders: Iterable[str], keep: Iterable[str | None]) -> list[str]:
    """Version folders to delete: all but the ones in ``keep``."""
    kept = {k for k in keep if k}
    return sorted(f for f in folders if f not in kept)


# ------------------------------------------------------------------ catalog shapes


def table_input(contract: TableContract, location: str) -> dict[str, Any]:
    """Glue ``TableInput`` for a contract table the job writes (Snappy Parquet)."""
    table = parquet_table_input(contract, location)
    table["StorageDescriptor"]["Compressed"] = True
    table["Parameters"].update({"compressionType": "snappy", "typeOfData": "file",
                                "parquet.compression": "SNAPPY",
                                "managed_by": "udp-transform-job"})
    return table


def partition_input(contract: TableContract, p_date: str, location: str,
                    parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """Glue ``PartitionInput`` for day ``p_date`` of ``contract`` at ``location``."""
    sd = dict(table_input(contract, location)["StorageDescriptor"])
    return {"Values": [p_date], "StorageDescriptor": sd, "Parameters": dict(parameters or {})}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_table(catalog: Any, contract: TableContract, location: str) -> str:
    """Create the table from its contract, or realign its columns; returns what it did
    (``created``, ``updated`` or ``unchanged``). Like Glue's ``enableUpdateCatalog``."""
    want = table_input(contract, location)
    try:
        table = catalog.get_table(DatabaseName=contract.database, Name=contract.name)["Table"]
    except ClientError as exc:
        if _code(exc) != "EntityNotFoundException":
            raise
        try:
            catalog.create_table(DatabaseName=contract.database, TableInput=want)
            return "created"
        except ClientError as exc2:
            if _code(exc2) != "AlreadyExistsException":  # another run made it meanwhile
                raise
            return "unchanged"
    have = table.get("StorageDescriptor", {}).get("Columns", [])
    if ([(c["Name"], c["Type"]) for c in have] == [(c["Name"], c["Type"])
                                                   for c in want["StorageDescriptor"]["Columns"]]
            and table.get("PartitionKeys") == want["PartitionKeys"]):
        return "unchanged"
    catalog.update_table(DatabaseName=contract.database, TableInput=want)
    return "updated"


def current_location(catalog: Any, contract: TableContract, p_date: str) -> str | None:
    """The catalog location of day ``p_date`` (what readers read), or None."""
    try:
        part = catalog.get_partition(DatabaseName=contract.database, TableName=contract.name,
                                     PartitionValues=[p_date])["Partition"]
    except ClientError as exc:
        if _code(exc) == "EntityNotFoundException":
            return None
        raise
    location = part.get("StorageDescriptor", {}).get("Location")
    return str(location) if location else None


def point_partition(catalog: Any, contract: TableContract, p_date: str, location: str,
                    parameters: dict[str, str] | None = None) -> str | None:
    """Make day ``p_date`` read from ``location`` in one catalog call; return the
    previous location (None when the partition is new). This is the publish instant."""
    previous = current_location(catalog, contract, p_date)
    pin = partition_input(contract, p_date, location, parameters)
    if previous is None:
        try:
            catalog.create_partition(DatabaseName=contract.database, TableName=contract.name,
                                     PartitionInput=pin)
            return None
        except ClientError as exc:
            if _code(exc) != "AlreadyExistsException":
                raise
            previous = current_location(catalog, contract, p_date)
    catalog.update_partition(DatabaseName=contract.database, TableName=contract.name,
                             PartitionValueList=[p_date], PartitionInput=pin)
    return previous


def ensure_partition(catalog: Any, contract: TableContract, p_date: str, location: str) -> bool:
    """Register day ``p_date`` at ``location`` if missing (append-only tables); True if
    it was created."""
    if current_location(catalog, contract, p_date) is not None:
        return False
    try:
        catalog.create_partition(DatabaseName=contract.database, TableName=contract.name,
                                 PartitionInput=partition_input(contract, p_date, location))
    except ClientError as exc:
        if _code(exc) != "AlreadyExistsException":
            raise
        return False
    return True


# ------------------------------------------------------------------ the COPY manifest

MANIFEST_NAME = "copy.manifest"
"""The Redshift COPY manifest of a version, beside its ``p_date=D/`` folder (in the run
folder, so readers of the partition never see it and Spark never lists it)."""


class ManifestMismatch(ValueError):
    """A COPY manifest that does not name exactly the published version's files."""


def manifest_uri(location: str) -> str:
    """The manifest of the version at ``location`` (``…/<run_id>/p_date=D/``):
    ``…/<run_id>/copy.manifest``."""
    if not location.endswith("/"):
        raise ManifestMismatch(f"a version location ends in '/': {location!r}")
    return f"{location.rstrip('/').rsplit('/', 1)[0]}/{MANIFEST_NAME}"


def data_files(listing: Mapping[str, int]) -> dict[str, int]:
    """The Parquet files of a folder listing (name -> bytes), without Spark's
    ``_SUCCESS``, checksums or hidden files."""
    return {name: size for name, size in sorted(listing.items())
            if name.endswith(".parquet") and not name.startswith(("_", "."))}


def copy_manifest(location: str, listing: Mapping[str, int]) -> str:
    """The Redshift COPY manifest (JSON) naming exactly the Parquet files of ``listing``
    in folder ``location``: every entry ``mandatory`` and with its ``content_length``,
    which COPY of Parquet from a manifest requires (Redshift Database Developer Guide,
    "Using a manifest to specify data files")."""
    files = data_files(listing)
    if not files:
        raise ManifestMismatch(f"no Parquet file in {location}")
    return json.dumps({"entries": [
        {"url": f"{location}{name}", "mandatory": True, "meta": {"content_length": size}}
        for name, size in files.items()]}, indent=1) + "\n"


def manifest_entries(text: str | bytes, location: str) -> dict[str, int]:
    """``url -> content_length`` of a COPY manifest, checked to name only Parquet files
    directly in ``location`` (the version the catalog published), each mandatory."""
    where = manifest_uri(location)
    try:
        entries = json.loads(text)["entries"]
        out = {str(e["url"]): int(e["meta"]["content_length"]) for e in entries}
        mandatory = all(e.get("mandatory") is True for e in entries)
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestMismatch(f"{where} is not a COPY manifest ({exc})") from None
    if not out:
        raise ManifestMismatch(f"{where} names no file")
    foreign = [url for url in out if not url.startswith(location)
               or "/" in url[len(location):] or not url.endswith(".parquet")]
    if foreign:
        raise ManifestMismatch(f"{where} names {foreign[0]}, which is not a Parquet file of "
                               f"the published version {location}")
    if not mandatory:
        raise ManifestMismatch(f"{where} has an entry that is not mandatory")
    return out
