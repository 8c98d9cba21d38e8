"""The bulk import against the real embedded PostgreSQL: COPY -> dedupe -> MERGE -> audit."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from contracts.tables import USERS
from glue_jobs.bulk_import import run_bulk_import
from glue_jobs.warehouse_port import (
    ConcurrentLoadError,
    InvalidLoadRequest,
    SchemaMismatchError,
    WarehouseLoadError,
)
from local_aws.redshift.postgres_adapter import PostgresWarehouse
from local_aws.redshift.warehouse import SERVER_SETTINGS, LocalWarehouse

UTC = dt.UTC
DAY = "2026-11-21"
COLUMNS = ", ".join(USERS.column_names)
ROOT = Path(__file__).resolve().parents[2]


def table_rows(wh: LocalWarehouse, sql: str) -> list[tuple[Any, ...]]:
    with wh.connect() as conn:
        return conn.execute(sql).fetchall()


def users(wh: LocalWarehouse) -> list[tuple[Any, ...]]:
    return table_rows(wh, f"select {COLUMNS}, p_date, loaded_at from analytics.users "
                          "order by user_id")


def audit(wh: LocalWarehouse) -> list[tuple[Any, ...]]:
    return table_rows(wh, "select load_id, status, rows_staged, rows_inserted, rows_updated, "
                          "checksum, error from audit.load_log order by started_at")


def test_load_a_day_lands_every_row_with_its_partition_and_an_audit_row(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a transformed day split over two Parquet files
    folder = write_users(DAY, make_users(70), make_users(30, start=70))
    # WHEN the bulk import loads it
    result = run_bulk_import(PostgresWarehouse(warehouse.uri), DAY, folder, load_id="load-1")
    # THEN every user is in analytics.users with p_date = DAY, and the audit agrees
    assert (result.status, result.rows_staged, result.rows_inserted, result.rows_updated) == (
        "succeeded", 100, 100, 0)
    assert table_rows(warehouse, "select count(*), min(p_date), max(p_date) "
                                 "from analytics.users") == [
        (100, dt.date(2026, 11, 21), dt.date(2026, 11, 21))]
    assert audit(warehouse) == [("load-1", "succeeded", 100, 100, 0, result.checksum, None)]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: the test's own
    reference, independent of PostgreSQL's crc32c()."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def iso_text(ts: dt.datetime) -> str:
    """A UTC timestamptz as PostgreSQL prints it (DateStyle ISO, TimeZone UTC): the
    fraction without trailing zeros, none for a whole second."""
    fraction = f".{ts.microsecond:06d}".rstrip("0") if ts.microsecond else ""
    return f"{ts.astimezone(UTC):%Y-%m-%d %H:%M:%S}{fraction}+00"


def test_the_reference_crc32c_matches_the_published_check_values() -> None:
    # the standard check value of CRC-32C, and Redshift's documented CRC32 example
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"Amazon Redshift") == int("f2726906", 16)


def test_the_crc32_shim_gives_redshifts_documented_value(warehouse: LocalWarehouse) -> None:
    # GIVEN the twin's shims; WHEN the checksum's expression runs on Redshift's example
    PostgresWarehouse(warehouse.uri).ensure_schema()
    got = table_rows(warehouse, "select strtol(crc32('Amazon Redshift'), 16), "
                                "strtol('f2726906', 16)")
    # THEN it is Redshift's CRC32('Amazon Redshift') = 'f2726906' read as a number
    assert got == [(int("f2726906", 16), int("f2726906", 16))]


def test_the_audit_checksum_is_the_sum_of_crc32c_of_every_staged_row_version(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a day with a duplicated user (two versions) and a non-ASCII city
    later = dt.datetime(2026, 11, 21, 7, 30, 0, 123456, tzinfo=UTC)
    rows = [*make_users(20), *make_users(1, start=3, fetched_at=later, batch_id="batch-2")]
    folder = write_users(DAY, rows)
    # WHEN it is loaded
    result = run_bulk_import(PostgresWarehouse(warehouse.uri), DAY, folder)
    # THEN the checksum is the sum over all 21 staged rows of CRC-32C("user|batch|fetched")
    want = sum(crc32c(f"{r['user_id']}|{r['batch_id']}|{iso_text(r['fetched_at'])}".encode())
               for r in rows)
    assert (result.rows_staged, result.checksum) == (21, str(want))


def test_rerunning_a_day_three_times_leaves_identical_tables_and_three_audit_rows(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a day already loaded once
    folder = write_users(DAY, make_users(50))
    port = PostgresWarehouse(warehouse.uri)
    first = run_bulk_import(port, DAY, folder, load_id="run-1")
    after_first = users(warehouse)
    # WHEN the same day is loaded twice more
    second = run_bulk_import(port, DAY, folder, load_id="run-2")
    third = run_bulk_import(port, DAY, folder, load_id="run-3")
    # THEN the table is identical (loaded_at included), nothing was re-inserted or updated,
    # and the audit log holds three successful rows with the same checksum
    assert users(warehouse) == after_first
    assert len(after_first) == 50
    assert [(r.rows_inserted, r.rows_updated) for r in (first, second, third)] == [
        (50, 0), (0, 0), (0, 0)]
    log = audit(warehouse)
    assert [row[:3] for row in log] == [("run-1", "succeeded", 50), ("run-2", "succeeded", 50),
                                        ("run-3", "succeeded", 50)]
    assert len({row[5] for row in log}) == 1


def test_duplicate_user_within_a_day_keeps_the_latest_fetched_at(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN the same user twice in one day (a Firehose retry), in two files, newer one first
    early = dt.datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    late = dt.datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    folder = write_users(DAY, make_users(1, fetched_at=late, city="Newer"),
                         make_users(1, fetched_at=early, city="Older") + make_users(3, start=1))
    # WHEN the day is loaded
    result = run_bulk_import(PostgresWarehouse(warehouse.uri), DAY, folder, load_id="dup")
    # THEN one row per user, carrying the latest arrival
    assert (result.rows_staged, result.rows_inserted) == (5, 4)
    assert table_rows(warehouse, "select city, fetched_at from analytics.users "
                                 "where user_id like '%000000000000'") == [("Newer", late)]


def test_newer_day_updates_and_an_older_day_loaded_late_does_not_overwrite(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN user 0 seen on two days, and day 2 loaded first
    day1, day2 = "2026-11-20", "2026-11-21"
    t1, t2 = (dt.datetime(2026, 11, 20, 12, tzinfo=UTC), dt.datetime(2026, 11, 21, 12, tzinfo=UTC))
    port = PostgresWarehouse(warehouse.uri)
    run_bulk_import(port, day2, write_users(day2, make_users(1, fetched_at=t2, city="Day2")))
    # WHEN day 1 is loaded afterwards (a backfill)
    late = run_bulk_import(port, day1, write_users(day1, make_users(2, fetched_at=t1,
                                                                    city="Day1")))
    # THEN the user keeps day 2's version; only the new user 1 is inserted from day 1
    assert (late.rows_inserted, late.rows_updated) == (1, 0)
    assert table_rows(warehouse, "select city, p_date from analytics.users order by user_id") == [
        ("Day2", dt.date(2026, 11, 21)), ("Day1", dt.date(2026, 11, 20))]


def test_replace_reloads_a_day_whose_content_changed_with_the_same_versions(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a loaded day, then re-transformed with fixed content but the same versions
    port = PostgresWarehouse(warehouse.uri)
    run_bulk_import(port, DAY, write_users(DAY, make_users(3, city="Wrong")))
    fixed = write_users(DAY, make_users(3, city="Right"))
    # WHEN it is loaded normally, then with replace=True
    plain = run_bulk_import(port, DAY, fixed)
    cities_after_plain = table_rows(warehouse, "select distinct city from analytics.users")
    replaced = run_bulk_import(port, DAY, fixed, replace=True)
    # THEN the plain rerun is a no-op and the replace rewrites the day's slice
    assert (plain.rows_inserted, plain.rows_updated, cities_after_plain) == (0, 0, [("Wrong",)])
    assert replaced.rows_inserted == 3
    assert table_rows(warehouse, "select distinct city from analytics.users") == [("Right",)]


def test_failure_after_copy_rolls_back_everything_and_the_rerun_converges(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a first day already loaded and a second load that dies after its MERGE
    port = PostgresWarehouse(warehouse.uri)
    run_bulk_import(port, "2026-11-20", write_users("2026-11-20", make_users(10)),
                    load_id="good")
    before = users(warehouse)
    newer = dt.datetime(2026, 11, 21, 9, tzinfo=UTC)
    folder = write_users(DAY, make_users(20, fetched_at=newer))

    def die(step: str) -> None:
        if step == "merged":
            raise RuntimeError("worker lost")

    # WHEN the load fails mid-way
    with pytest.raises(WarehouseLoadError, match="rolled back: RuntimeError: worker lost"):
        run_bulk_import(PostgresWarehouse(warehouse.uri, on_step=die), DAY, folder,
                        load_id="bad")
    # THEN nothing of it is visible and a failed audit row says why
    assert users(warehouse) == before
    assert audit(warehouse)[-1][:2] == ("bad", "failed")
    assert "worker lost" in audit(warehouse)[-1][6]
    # WHEN it is rerun, THEN it converges to the full result
    rerun = run_bulk_import(port, DAY, folder, load_id="rerun")
    assert (rerun.rows_inserted, rerun.rows_updated) == (10, 10)
    assert table_rows(warehouse, "select count(*), count(*) filter (where p_date = "
                                 "date '2026-11-21') from analytics.users") == [(20, 20)]


KILLED_LOADER = """
import sys, time
from pathlib import Path
from local_aws.redshift.postgres_adapter import PostgresWarehouse

def pause(step):
    if step == "merged":
        Path(sys.argv[3]).write_text("merged")
        time.sleep(120)

PostgresWarehouse(sys.argv[1], on_step=pause).load_partition(
    "2026-11-21", Path(sys.argv[2]), "killed")
"""


@pytest.mark.slow
def test_killed_loader_process_leaves_no_partial_rows(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any, tmp_path: Path) -> None:
    # GIVEN a loader process that has merged but not committed
    port = PostgresWarehouse(warehouse.uri)
    port.ensure_schema()
    folder = write_users(DAY, make_users(25))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_LOADER, warehouse.uri, str(folder),
                             str(marker)], cwd=ROOT)
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.05)
        assert marker.exists(), "loader never reached the merge"
        # WHEN it is killed with SIGKILL (no chance to clean up)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # THEN no row and no audit row are visible, and the rerun converges
    assert users(warehouse) == []
    assert audit(warehouse) == []
    rerun = port.load_partition(DAY, folder, "rerun")
    assert (rerun.status, rerun.rows_inserted) == ("succeeded", 25)


def test_second_concurrent_load_of_the_same_day_is_refused(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN a load of DAY that holds its lock (paused after COPY)
    folder = write_users(DAY, make_users(5))
    PostgresWarehouse(warehouse.uri).ensure_schema()
    copied, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def hold(step: str) -> None:
        if step == "copied":
            copied.set()
            release.wait(30)

    def first_load() -> None:
        outcome["first"] = PostgresWarehouse(warehouse.uri, on_step=hold).load_partition(
            DAY, folder, "first")

    worker = threading.Thread(target=first_load)
    worker.start()
    try:
        assert copied.wait(30)
        # WHEN a second load of the same day starts
        with pytest.raises(ConcurrentLoadError, match="another load of users p_date=2026-11-21"):
            PostgresWarehouse(warehouse.uri).load_partition(DAY, folder, "second")
        # THEN a load of another day is not blocked
        other = PostgresWarehouse(warehouse.uri).load_partition(
            "2026-11-22", write_users("2026-11-22", make_users(2, start=100)), "other-day")
        assert other.status == "succeeded"
    finally:
        release.set()
        worker.join(30)
    # AND the first completes; the refusal is audited
    assert outcome["first"].rows_inserted == 5
    statuses = {row[0]: row[1] for row in audit(warehouse)}
    assert statuses == {"first": "succeeded", "second": "refused", "other-day": "succeeded"}


def test_non_ascii_text_nulls_and_empty_strings_round_trip_exactly(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN rows with non-ASCII text, quotes, commas, newlines, empty strings and NULLs
    rows = (make_users(1, city="東京", state="Île-de-France", title="")
            + make_users(1, start=1, city='Zürich, "Altstadt"\nKreis 1', state=None,
                         postcode="0042")
            + make_users(1, start=2, city="Ærøskøbing 🚲", latitude=None, registered_at=None))
    folder = write_users(DAY, rows)
    # WHEN loaded
    run_bulk_import(PostgresWarehouse(warehouse.uri), DAY, folder)
    # THEN every contract column comes back exactly as written
    loaded = [row[: len(USERS.column_names)] for row in users(warehouse)]
    assert loaded == [tuple(r[c] for c in USERS.column_names) for r in rows]


def test_file_with_columns_out_of_contract_order_is_refused_and_audited(
        warehouse: LocalWarehouse, make_users: Any, tmp_path: Path) -> None:
    # GIVEN a Parquet file whose columns are in another order than the contract
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(make_users(2), schema=USERS.arrow_schema())
    folder = tmp_path / "p_date=2026-11-21"
    folder.mkdir()
    pq.write_table(table.select(list(reversed(table.column_names))), folder / "x.parquet")
    # WHEN loaded, THEN a clear error and a failed audit row, and no rows
    with pytest.raises(SchemaMismatchError, match="differ from the contract"):
        run_bulk_import(PostgresWarehouse(warehouse.uri), DAY, folder, load_id="bad-order")
    assert audit(warehouse)[0][:2] == ("bad-order", "failed")
    assert users(warehouse) == []


def test_bad_p_date_is_rejected_before_any_sql(warehouse: LocalWarehouse,
                                                tmp_path: Path) -> None:
    # GIVEN a date with SQL in it; WHEN loaded; THEN rejected, and no table was even created
    with pytest.raises(InvalidLoadRequest, match="YYYY-MM-DD"):
        run_bulk_import(PostgresWarehouse(warehouse.uri), "2026-11-21'; drop table x; --",
                        tmp_path)
    assert table_rows(warehouse, "select count(*) from pg_tables "
                                 "where schemaname = 'analytics'") == [(0,)]


def test_analyst_views_answer_from_the_loaded_day(
        warehouse: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN 8 users over 4 countries
    run_bulk_import(PostgresWarehouse(warehouse.uri), DAY, write_users(DAY, make_users(8)))
    # WHEN analysts query the views
    by_country = table_rows(warehouse, "select country, sum(new_users) from "
                                       "analytics.v_daily_new_users_by_country group by 1 "
                                       "order by 1")
    bands = table_rows(warehouse, "select count(distinct age_band) from "
                                  "analytics.v_users_current")
    fresh = table_rows(warehouse, "select table_name, latest_loaded_p_date, successful_loads "
                                  "from audit.v_load_freshness")
    # THEN the numbers add up
    assert by_country == [("Brazil", 2), ("France", 2), ("Germany", 2), ("Norway", 2)]
    assert bands[0][0] >= 1
    assert fresh == [("users", dt.date(2026, 11, 21), 1)]


def test_a_new_server_runs_with_the_warehouse_settings_from_its_first_start(
        warehouse_server: LocalWarehouse) -> None:
    # GIVEN the session server, created by this process; THEN the restart-only settings
    # (shared and WAL buffers) already hold, not just the reloadable one
    with warehouse_server.connect() as conn:
        got = {name: conn.execute("select current_setting(%s)", (name,)).fetchone()
               for name in SERVER_SETTINGS}
    assert got == {name: (value,) for name, value in SERVER_SETTINGS.items()}


def test_an_existing_server_gets_the_settings_at_its_next_start(tmp_path: Path) -> None:
    # GIVEN a server whose settings were reset to PostgreSQL's defaults, then stopped
    with LocalWarehouse(tmp_path, database="udp") as wh, wh.connect(autocommit=True) as conn:
        conn.execute("alter system reset all")
    # WHEN it starts again (another handle on the same folder)
    with LocalWarehouse(tmp_path, database="udp") as first:
        shown = table_rows(first, "select current_setting('wal_buffers')")
    # THEN the reloadable settings were rewritten and the restart-only ones hold from then on
    with LocalWarehouse(tmp_path, database="udp") as second:
        again = table_rows(second, "select current_setting('wal_buffers')")
    assert shown == [("4MB",)]
    assert again == [(SERVER_SETTINGS["wal_buffers"],)]


def test_a_second_handle_reuses_the_running_server(warehouse_server: LocalWarehouse) -> None:
    # GIVEN the running session server; WHEN another handle starts on the same folder
    again = LocalWarehouse(warehouse_server.data_dir, database="udp").start()
    # THEN it talks to the same server process
    pid_sql = "select pg_postmaster_start_time()"
    assert table_rows(again, pid_sql) == table_rows(warehouse_server, pid_sql)


def test_stopping_one_handle_keeps_the_server_for_the_others(
        warehouse_server: LocalWarehouse) -> None:
    # GIVEN a second handle on the session server; WHEN it stops
    extra = LocalWarehouse(warehouse_server.data_dir, database="udp").start()
    extra.stop()
    # THEN the session handle still answers
    assert table_rows(warehouse_server, "select 1") == [(1,)]


def test_another_process_reuses_the_running_server(warehouse_server: LocalWarehouse) -> None:
    # GIVEN the running server; WHEN another process starts a handle on the same folder
    code = ("import sys; from pathlib import Path; from local_aws.redshift.warehouse import "
            "LocalWarehouse as W; w = W(Path(sys.argv[1])).start(); "
            "print(w.connect().execute('select pg_postmaster_start_time()').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(warehouse_server.data_dir)],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    # THEN it saw the same server, and the server outlives that process
    started = table_rows(warehouse_server, "select pg_postmaster_start_time()")[0][0]
    assert out.stdout.strip() == str(started)
    assert table_rows(warehouse_server, "select 1") == [(1,)]


def _scenario(port: PostgresWarehouse, make_users: Any, write_users: Any
              ) -> list[tuple[int, int, int, str | None]]:
    """Day 2, then day 1 late, a rerun, and a day with a duplicate user; audit counts."""
    t1, t2 = (dt.datetime(2026, 11, 20, 12, tzinfo=UTC), dt.datetime(2026, 11, 21, 12, tzinfo=UTC))
    results = [
        run_bulk_import(port, "2026-11-21", write_users("2026-11-21", make_users(
            6, fetched_at=t2, city="Day2"))),
        run_bulk_import(port, "2026-11-20", write_users("2026-11-20", make_users(
            9, fetched_at=t1, city="Day1"))),
        run_bulk_import(port, "2026-11-20", write_users("2026-11-20", make_users(
            9, fetched_at=t1, city="Day1"))),
        run_bulk_import(port, "2026-11-22", write_users(
            "2026-11-22", make_users(2, fetched_at=t2 + dt.timedelta(days=1), city="Late"),
            make_users(1, fetched_at=t2 + dt.timedelta(days=1, hours=1), city="Later"))),
    ]
    return [(r.rows_staged, r.rows_inserted, r.rows_updated, r.checksum) for r in results]


def test_the_one_script_keeps_the_latest_version_through_late_days_and_reruns(
        warehouse_server: LocalWarehouse, make_users: Any, write_users: Any) -> None:
    # GIVEN an empty database, loaded with the script Redshift runs (the one the nightly
    # load and bench/load.py run)
    redshift = LocalWarehouse(warehouse_server.data_dir, database="t_redshift_script").start()
    redshift.bootstrap()
    # WHEN days are loaded out of order (late day, rerun, duplicates)
    counts = _scenario(PostgresWarehouse(redshift.uri), make_users, write_users)
    # THEN each audit row counts what the day changed, and the latest versions remain
    assert [c[1:3] for c in counts] == [(6, 0), (3, 0), (0, 0), (0, 2)]
    assert counts[1][3] == counts[2][3]  # the rerun staged the same versions

    rows = table_rows(redshift, f"select {COLUMNS}, p_date from analytics.users "
                                "order by user_id")
    assert [r[10] for r in rows][:3] == ["Later", "Late", "Day2"]


def test_twin_databases_compare_text_by_code_point_like_redshift(
        warehouse: LocalWarehouse) -> None:
    # GIVEN a fresh twin database; WHEN text is sorted
    ordered = table_rows(warehouse, "select x from (values ('b'), ('B'), ('a'), ('_')) v(x) "
                                    "order by x")
    # THEN the order is binary (uppercase before underscore before lowercase), not a locale's
    assert [r[0] for r in ordered] == ["B", "_", "a", "b"]
