"""The load COPYs exactly the files the transform's manifest names (real PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.tables import USERS
from glue_jobs.bulk_import import check_manifest, run_bulk_import
from glue_jobs.publish import copy_manifest, manifest_uri, version_uri
from glue_jobs.warehouse_port import InvalidLoadRequest, WarehouseLoadError
from local_aws.redshift.postgres_adapter import PostgresWarehouse
from local_aws.redshift.warehouse import LocalWarehouse
from local_aws.s3.client import LocalS3
from local_aws.s3.objectstore import LocalObjectStore

DAY = "2026-11-21"
LAKE = "s3://udp-lake/"


def _publish(store: LocalObjectStore, rows: list[dict[str, Any]], run_id: str = "r1") -> str:
    """A version folder as the transform leaves it: Parquet, Spark's _SUCCESS, manifest."""
    location = version_uri(LAKE, USERS, DAY, run_id)
    folder = Path(store.path(location))
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=USERS.arrow_schema()),
                   folder / "part-00000.snappy.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    listing = {p.name: p.stat().st_size for p in folder.iterdir()}
    Path(store.path(manifest_uri(location))).write_text(copy_manifest(location, listing))
    return location


def _count(wh: LocalWarehouse) -> int:
    with wh.connect() as conn:
        row = conn.execute("select count(*) from analytics.users").fetchone()
    return int(row[0]) if row else -1


def test_the_load_reads_the_manifests_files_and_not_a_stray_object(
        warehouse: LocalWarehouse, make_users: Any, tmp_path: Path) -> None:
    # GIVEN a published version of 3 users, and a stray Parquet file of 5 more dropped
    # under the same prefix after the transform wrote its manifest
    store = LocalObjectStore(tmp_path / "s3")
    location = _publish(store, make_users(3))
    pq.write_table(pa.Table.from_pylist(make_users(5, start=10), schema=USERS.arrow_schema()),
                   Path(store.path(location)) / "stray.parquet")
    # WHEN the load checks the manifest and loads the version from S3
    entries = check_manifest(LocalS3(store), location)
    result = run_bulk_import(PostgresWarehouse(warehouse.uri, object_store=store), DAY,
                             location, load_id="manifest-1")
    # THEN only the manifest's file was loaded (not the stray one, not _SUCCESS)
    assert list(entries) == [f"{location}part-00000.snappy.parquet"]
    assert (result.rows_staged, result.rows_inserted) == (3, 3)
    assert _count(warehouse) == 3


def test_a_missing_manifest_fails_the_load_clearly(tmp_path: Path, make_users: Any,
                                                   warehouse: LocalWarehouse) -> None:
    # GIVEN a version whose manifest is gone
    store = LocalObjectStore(tmp_path / "s3")
    location = _publish(store, make_users(2))
    Path(store.path(manifest_uri(location))).unlink()
    # WHEN checked, and WHEN loaded anyway; THEN each says the manifest is missing
    with pytest.raises(InvalidLoadRequest, match=r"no COPY manifest .*copy\.manifest for "
                                                 r"the published version"):
        check_manifest(LocalS3(store), location)
    with pytest.raises(WarehouseLoadError, match=r"COPY manifest .* not found"):
        run_bulk_import(PostgresWarehouse(warehouse.uri, object_store=store), DAY, location)
    assert _count(warehouse) == 0


def test_a_manifest_of_another_version_or_size_fails_the_check(tmp_path: Path,
                                                               make_users: Any) -> None:
    store = LocalObjectStore(tmp_path / "s3")
    location = _publish(store, make_users(2))
    path = Path(store.path(manifest_uri(location)))
    manifest = json.loads(path.read_text())
    # GIVEN a manifest whose size disagrees with the file; THEN the check names both
    manifest["entries"][0]["meta"]["content_length"] += 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(InvalidLoadRequest, match=r"gives .*part-00000.snappy.parquet \d+ "
                                                 r"bytes; it has \d+"):
        check_manifest(LocalS3(store), location)
    # GIVEN a manifest naming a file of another version; THEN refused as not published
    other = version_uri(LAKE, USERS, DAY, "r0")
    manifest["entries"][0]["url"] = f"{other}part-00000.snappy.parquet"
    path.write_text(json.dumps(manifest))
    with pytest.raises(InvalidLoadRequest, match="not a Parquet file of the published version"):
        check_manifest(LocalS3(store), location)
    # GIVEN a manifest naming a file that does not exist; THEN the check says so
    manifest["entries"][0]["url"] = f"{location}part-99999.snappy.parquet"
    path.write_text(json.dumps(manifest))
    with pytest.raises(InvalidLoadRequest, match=r"part-99999\.snappy\.parquet, which does not "
                                                 r"exist"):
        check_manifest(LocalS3(store), location)
