"""Benchmark the warehouse bulk import against raw COPY and row-by-row INSERT.

Run: ``.venv/bin/python bench/load.py [--rows N]``. Everything runs side by side in one
process on one embedded PostgreSQL (data in a temporary folder), on the same rows:

* import      - ``run_bulk_import``: Parquet -> streamed COPY into temp staging -> dedupe
                -> MERGE into analytics.users -> audit, one transaction (first load of the day)
* raw COPY    - ``COPY FROM STDIN`` of the same rows into a plain table, streamed from the
                same Parquet files exactly as the import streams them, no staging, dedupe,
                MERGE or audit (target: import >= 80% of its rows/s); shown too: COPY of
                CSV pre-rendered in memory (the engine's floor, for information)
* row INSERT  - one ``INSERT`` per row, on a smaller sample, extrapolated to rows/s
                (target: import >= 20x faster): in one transaction, and with a commit per
                row (how the seed jobs appended)
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.tables import USERS
from glue_jobs.bulk_import import run_bulk_import
from glue_jobs.warehouse_port import PostgresWarehouse
from local_aws.warehouse import LocalWarehouse

__all__ = ["main"]

DAY = "2026-11-21"


def make_table(n: int) -> pa.Table:
    """``n`` distinct users with realistic widths (pure, deterministic)."""
    base = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    cols = {
        "user_id": [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)],
        "gender": ["female" if i % 2 else "male" for i in range(n)],
        "title": ["Ms" if i % 2 else "Mr" for i in range(n)],
        "nationality": [("DE", "FR", "NO", "BR")[i % 4] for i in range(n)],
        "birth_year": [1950 + i % 50 for i in range(n)],
        "age": [76 - i % 50 for i in range(n)],
        "registered_at": [base - dt.timedelta(days=i % 3650) for i in range(n)],
        "email_domain": ["example.com"] * n,
        "email_hash": [f"{i:064x}" for i in range(n)],
        "phone_masked": ["0***-***-**12"] * n,
        "city": [("Berlin", "Paris", "Oslo", "São Paulo")[i % 4] for i in range(n)],
        "state": ["Some State"] * n,
        "country": [("Germany", "France", "Norway", "Brazil")[i % 4] for i in range(n)],
        "postcode": [f"{i % 100000:05d}" for i in range(n)],
        "latitude": [-45.0 + i / n for i in range(n)],
        "longitude": [120.0 - i / n for i in range(n)],
        "tz_offset_minutes": [60 * (i % 12) for i in range(n)],
        "fetched_at": [base + dt.timedelta(microseconds=i) for i in range(n)],
        "batch_id": [f"batch-{i % 20}" for i in range(n)],
    }
    return pa.table(cols, schema=USERS.arrow_schema())


def write_partition(table: pa.Table, folder: Path, files: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // files)
    for i in range(files):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i:05d}.parquet")
    return folder


def bench_import(wh: LocalWarehouse, folder: Path) -> float:
    port = PostgresWarehouse(wh.uri)
    port.ensure_schema()
    start = time.perf_counter()
    result = run_bulk_import(port, DAY, folder, ensure_schema=False)
    elapsed = time.perf_counter() - start
    assert result.rows_inserted > 0
    return elapsed


def _copy_chunks(wh: LocalWarehouse, name: str, chunks: Iterator[bytes]) -> float:
    cols = ", ".join(USERS.column_names)
    with wh.connect() as conn:
        conn.execute(f"create table {name} (like staging.users)")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                f"copy {name} ({cols}) from stdin with (format csv)") as copy:
            for chunk in chunks:
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - start


def _csv(batch: pa.RecordBatch | pa.Table) -> bytes:
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue()


def bench_raw_copy_streamed(wh: LocalWarehouse, folder: Path) -> float:
    def chunks() -> Iterator[bytes]:
        for path in sorted(folder.glob("*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=50_000):
                yield _csv(batch)
    return _copy_chunks(wh, "raw_copy_streamed", chunks())


def bench_raw_copy_prerendered(wh: LocalWarehouse, table: pa.Table) -> float:
    payload = _csv(table)
    return _copy_chunks(wh, "raw_copy_prerendered", iter([payload]))


def bench_row_inserts(wh: LocalWarehouse, table: pa.Table, *, commit_each: bool) -> float:
    rows = table.to_pylist()
    cols = USERS.column_names
    name = "row_insert_autocommit" if commit_each else "row_insert"
    sql = (f"insert into {name} ({', '.join(cols)}) "
           f"values ({', '.join(['%s'] * len(cols))})")
    with wh.connect(autocommit=commit_each) as conn:
        conn.execute(f"create table {name} (like staging.users)")
        start = time.perf_counter()
        with conn.cursor() as cur:
            for row in rows:
                cur.execute(sql, [row[c] for c in cols])
        conn.commit()
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--insert-sample", type=int, default=5_000)
    args = parser.parse_args(argv)

    table = make_table(args.rows)
    with tempfile.TemporaryDirectory(prefix="udp-bench-") as tmp:
        root = Path(tmp)
        folder = write_partition(table, root / "lake" / "transform" / "users" / f"p_date={DAY}")
        with LocalWarehouse(root / "warehouse", database="bench_import") as wh:
            raw = LocalWarehouse(root / "warehouse", database="bench_raw").start()
            PostgresWarehouse(raw.uri).ensure_schema()
            sample = table.slice(0, min(args.insert_sample, table.num_rows))
            small = table.slice(0, min(args.insert_sample // 5, table.num_rows))
            t_import = bench_import(wh, folder)
            t_raw = bench_raw_copy_streamed(raw, folder)
            t_floor = bench_raw_copy_prerendered(raw, table)
            t_rows = bench_row_inserts(raw, sample, commit_each=False)
            t_rows_commit = bench_row_inserts(raw, small, commit_each=True)
            raw.stop()

    n = table.num_rows
    lines = [
        ("bulk import (COPY->dedupe->MERGE->audit)", n, t_import),
        ("raw COPY FROM STDIN, same Parquet stream", n, t_raw),
        ("raw COPY FROM STDIN, pre-rendered CSV", n, t_floor),
        ("row-by-row INSERT, one transaction", sample.num_rows, t_rows),
        ("row-by-row INSERT, commit per row", small.num_rows, t_rows_commit),
    ]
    print(f"{n:,} rows; row-by-row INSERT measured on the first {sample.num_rows:,} / "
          f"{small.num_rows:,} rows and extrapolated as rows/s")
    print(f"{'path':<44}{'rows':>9}{'seconds':>10}{'rows/s':>12}")
    for label, rows, seconds in lines:
        print(f"{label:<44}{rows:>9,}{seconds:>10.3f}{rows / seconds:>12,.0f}")
    rps = [rows / seconds for _, rows, seconds in lines]
    vs_copy, vs_rows, vs_rows_commit = rps[0] / rps[1], rps[0] / rps[3], rps[0] / rps[4]
    print(f"import / raw COPY (same stream)      = {vs_copy:6.0%}  (target >= 80%) "
          f"{'OK' if vs_copy >= 0.8 else 'BELOW TARGET'}")
    print(f"import / raw COPY (pre-rendered CSV) = {rps[0] / rps[2]:6.0%}  (information)")
    print(f"import / row INSERT, one transaction = {vs_rows:6.1f}x (target >= 20x) "
          f"{'OK' if vs_rows >= 20 else 'BELOW TARGET'}")
    print(f"import / row INSERT, commit per row  = {vs_rows_commit:6.1f}x (target >= 20x) "
          f"{'OK' if vs_rows_commit >= 20 else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
