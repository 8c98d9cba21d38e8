"""Local data is owner-only: Spark's Parquet, the catalog, the warehouse.

On a shared machine other users must not read the lake's files, the catalog's records or
the warehouse's data, nor connect to the warehouse (it trusts its socket's connections).
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

from local_aws.redshift.warehouse import LocalWarehouse
from local_aws.sns.client import LocalSns
from tests.functional.test_transform_job import Lake, history

__all__ = ["history"]  # the module-scoped raw lake fixture, shared with the job's tests


def modes(root: Path) -> dict[str, int]:
    """Permission bits of every file (not folder) under ``root``, by relative path."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in root.rglob("*") if p.is_file()}


def test_transform_output_and_catalog_are_owner_only(history: Path, tmp_path: Path,
                                                     spark: Any) -> None:
    # GIVEN the raw lake; WHEN the transform job runs on local Spark
    shutil.copytree(history, tmp_path / "lake")
    lake = Lake(tmp_path / "lake", spark)
    lake.run()
    written = lake.store.path("s3://udp-lake/transform/")
    # THEN every file Spark wrote (Parquet, markers, checksums) is 0600
    files = modes(written)
    assert any(name.endswith(".parquet") for name in files)
    assert {name: oct(m) for name, m in files.items() if m != 0o600} == {}
    # AND Spark's folders are 0700
    spark_dirs = [p for p in written.rglob("p_date=*") if p.is_dir()]
    assert spark_dirs
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in spark_dirs
            if stat.S_IMODE(p.stat().st_mode) != 0o700} == {}
    # AND the catalog's records are 0600 too
    records = {n: m for n, m in modes(lake.catalog.root).items() if n.endswith(".json")}
    assert records
    assert {n: oct(m) for n, m in records.items() if m != 0o600} == {}


def socket_path(wh: LocalWarehouse) -> Path:
    lines = (wh.pgdata / "postmaster.pid").read_text().splitlines()
    return Path(lines[4]) / ".s.PGSQL.5432"


def test_warehouse_files_and_socket_are_owner_only(warehouse_server: LocalWarehouse) -> None:
    # GIVEN the embedded server, started by the session
    pgdata = warehouse_server.pgdata
    # THEN its data folder is 0700 and its files 0600 (the log included)
    assert stat.S_IMODE(pgdata.stat().st_mode) == 0o700
    files = modes(pgdata)
    assert "log" in files and "PG_VERSION" in files
    loose = {n: oct(m) for n, m in files.items() if m & 0o077 and not n.startswith(".s.")}
    assert loose == {}
    # AND its socket accepts only its owner: srwx------
    sock = socket_path(warehouse_server)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o700


def test_socket_setting_holds_on_the_running_server(
        warehouse_server: LocalWarehouse) -> None:
    # GIVEN the running server; WHEN asked; THEN the owner-only socket mode is in force
    with warehouse_server.connect() as conn:
        row = conn.execute("select setting, pending_restart from pg_settings "
                           "where name = 'unix_socket_permissions'").fetchone()
    assert row == ("0700", False)


def test_alerts_are_owner_only(tmp_path: Path) -> None:
    # GIVEN the SNS twin; WHEN a run failure is published
    sns = LocalSns(tmp_path / "alerts")
    sns.publish(TopicArn="arn:aws:sns:eu-west-1:000000000000:udp-pipeline-alerts",
                Subject="run failed", Message="p_date 2026-11-21 failed")
    # THEN the recorded alert is 0600, like every other state file
    assert modes(tmp_path / "alerts") == {"udp-pipeline-alerts.jsonl": 0o600}
