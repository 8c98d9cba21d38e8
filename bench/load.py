"""Benchmark the warehouse bulk import against raw COPY and row-by-row INSERT.

Run: ``.venv/bin/python bench/load.py [--rows N] [--repeat R]``. Everything runs side by
side in one process on one embedded PostgreSQL (data in a temporary folder), on the same
rows (random UUID keys, as in production), interleaved ``R`` times; each path reports its
best run (the box is shared, so the best run is the least disturbed one).

* import        ``run_bulk_import`` (first load of the day), the script Redshift runs:
                Parquet -> streamed binary COPY (FREEZE) into a temp staging table ->
                count + checksum -> dedupe into a second temp table -> count join ->
                MERGE -> audit row, one transaction; its steps are timed too
* raw COPY      ``COPY FROM STDIN`` of the same rows streamed from the same Parquet files,
                no staging, dedupe, MERGE or audit:
                - binary, by the import's own streaming function, into a table shaped like
                  the target (same columns, primary key, BRIN)
                - binary, the same, into a bare heap (no key, no index): the ingest floor
                - CSV rendered by pyarrow, into a bare heap: the text format a hand-written
                  loader would stream (the import used it before the binary encoder)
* row INSERT    one ``INSERT`` per row through psycopg (one round trip per row, Unix
                socket) into the target-shaped table, on a smaller sample, extrapolated to
                rows/s: in one transaction, and with a commit per row (autocommit: how
                the seed jobs appended)

Targets: import >= 80% of raw COPY rows/s; import >= 20x row-by-row INSERT.
Judged best run against best run (noise on a shared box only ever adds time); each ratio
is also shown per round (median, range), as the spread is wide (a path takes 1-3 s, other
jobs come and go). Rounds alternate the order of the paths, and every run starts on a
clean server (see :class:`Bench`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.tables import USERS
from glue_jobs.bulk_import import run_bulk_import
from local_aws.facade import (
    POSTGRES_SESSION,
    LocalCloud,
    copy_chunks,
    record_batches,
    stream_copy,
)

__all__ = ["main", "make_table"]

DAY = "2026-11-21"
IMPORT = "import (COPY->MERGE->audit)"
MERGE_STEP = "MERGE"
COLUMNS = ", ".join(USERS.column_names)
TARGET_SHAPED = ["create table raw (like analytics.users including all)",
                 f"alter table raw alter p_date set default date '{DAY}', "
                 "alter loaded_at set default now()"]
"""A table shaped like the import's target (columns, primary key, BRIN): where the raw
COPY and the row INSERT baselines write, so every path lands the same rows in the same
structure."""


def make_table(n: int, seed: int = 6) -> pa.Table:
    """``n`` distinct users with realistic widths and random UUID keys (deterministic)."""
    rnd = random.Random(seed)
    base = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    cols = {
        "user_id": [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(n)],
        "gender": ["female" if i % 2 else "male" for i in range(n)],
        "title": ["Ms" if i % 2 else "Mr" for i in range(n)],
        "nationality": [("DE", "FR", "NO", "BR")[i % 4] for i in range(n)],
        "birth_year": [1950 + i % 50 for i in range(n)],
        "age": [76 - i % 50 for i in range(n)],
        "registered_at": [base - dt.timedelta(days=i % 3650) for i in range(n)],
        "email_domain": ["example.com"] * n,
        "email_hash": [f"{rnd.getrandbits(256):064x}" for _ in range(n)],
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


@dataclass
class Bench:
    """One server, a fresh database per run (DDL and database creation are not timed).

    The server is the warehouse twin of ``cloud``; ``admin`` is a handle on it that keeps
    it up between runs. Before each run (untimed) the previous run's database is dropped
    and the server checkpoints, so every path starts from the same state: no dirty pages
    of earlier runs left for it to evict, and no checkpoint due inside its timing.
    """

    cloud: Any  # local_aws.cloud.LocalCloud
    admin: Any  # a LocalWarehouse handle on the cloud's server
    folder: Path
    runs: int = 0
    steps: dict[str, float] = field(default_factory=dict)  # import phases of the best run
    last: str | None = None

    def fresh(self, prefix: str) -> Any:
        self.runs += 1
        with self.admin.connect(autocommit=True) as conn:
            if self.last is not None:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(self.last)))
            conn.execute("checkpoint")
        self.last = f"{prefix}_{self.runs}"
        wh = self.cloud.warehouse_database(self.last)
        wh.bootstrap()
        self.cloud.warehouse_port(wh.uri).ensure_schema()
        return wh

    def import_(self) -> float:
        wh = self.fresh("import")
        marks: list[tuple[str, float]] = []
        port = self.cloud.warehouse_port(
            wh.uri, on_step=lambda step: marks.append((step, time.perf_counter())))
        start = time.perf_counter()
        result = run_bulk_import(port, DAY, self.folder, ensure_schema=False)
        elapsed = time.perf_counter() - start
        if result.rows_inserted == 0:
            raise RuntimeError("the import inserted nothing; the benchmark is broken")
        wh.stop()
        at = dict(marks)
        phases = {"copy into temp staging": at["copied"] - at["staged"],
                  "count + checksum, dedupe": at["deduped"] - at["copied"],
                  "count inserts/updates": at["counted"] - at["deduped"],
                  MERGE_STEP: at["merged"] - at["counted"]}
        phases["everything else (lock, DDL, audit, commit)"] = elapsed - sum(phases.values())
        if not self.steps or elapsed < sum(self.steps.values()):
            self.steps = phases
        return elapsed

    def _copy(self, ddl: list[str], feed: Callable[[object], None]) -> float:
        wh = self.fresh("raw")
        with wh.connect(options=POSTGRES_SESSION) as conn:
            for statement in ddl:
                conn.execute(statement.encode())
            conn.commit()
            with conn.cursor() as cur:
                start = time.perf_counter()
                feed(cur)
                conn.commit()
                elapsed = time.perf_counter() - start
        wh.stop()
        return elapsed

    def raw_copy(self, *, like_target: bool) -> float:
        ddl = TARGET_SHAPED if like_target else ["create table raw (like staging.users)"]
        files = sorted(self.folder.glob("*.parquet"))
        copy_sql = f"copy raw ({COLUMNS}) from stdin with (format binary)"
        return self._copy(ddl, lambda cur: stream_copy(cur, copy_sql, files))

    def raw_copy_csv(self) -> float:
        copy_sql = f"copy raw ({COLUMNS}) from stdin with (format csv)"
        files = sorted(self.folder.glob("*.parquet"))
        return self._copy(["create table raw (like staging.users)"],
                          lambda cur: copy_chunks(cur, copy_sql, csv_chunks(files)))

    def row_inserts(self, table: pa.Table, *, commit_each: bool) -> float:
        rows = table.to_pylist()
        cols = USERS.column_names
        insert_sql = f"insert into raw ({COLUMNS}) values ({', '.join(['%s'] * len(cols))})"
        wh = self.fresh("rows")
        with wh.connect(autocommit=commit_each) as conn:
            for statement in TARGET_SHAPED:
                conn.execute(statement.encode())
            if not commit_each:
                conn.commit()
            start = time.perf_counter()
            with conn.cursor() as cur:
                for row in rows:
                    cur.execute(insert_sql, [row[c] for c in cols])
            conn.commit()
            elapsed = time.perf_counter() - start
        wh.stop()
        return elapsed


def csv_chunks(files: list[Path], batch_rows: int = 65_536) -> Iterator[bytes]:
    """CSV (no header) of the files' rows, one chunk per record batch, by pyarrow."""
    options = pa_csv.WriteOptions(include_header=False)
    for batch in record_batches(files, USERS.arrow_schema(), batch_rows):
        buffer = io.BytesIO()
        pa_csv.write_csv(batch, buffer, options)
        yield buffer.getvalue()


def _rounds(repeat: int, paths: dict[str, Callable[[], float]]) -> Iterator[dict[str, float]]:
    """Every path once per round; odd rounds run them in reverse order, so no path always
    runs first (or right after another) and the import sits next to the raw COPY it is
    judged against."""
    names = list(paths)
    for i in range(repeat):
        yield {name: paths[name]() for name in (reversed(names) if i % 2 else names)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--insert-sample", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    table = make_table(args.rows)
    n = table.num_rows
    sample = table.slice(0, min(args.insert_sample, n))
    small = table.slice(0, min(max(args.insert_sample // 5, 1), n))
    sizes = {"row INSERT, one transaction": sample.num_rows,
             "row INSERT, commit per row": small.num_rows}
    with tempfile.TemporaryDirectory(prefix="udp-bench-") as tmp:
        root = Path(tmp)
        folder = write_partition(table, root / "lake" / "transform" / "users" / f"p_date={DAY}")
        cloud = LocalCloud(root)
        keep = cloud.warehouse_database("bench")  # one server
        bench = Bench(cloud, keep, folder)
        paths: dict[str, Callable[[], float]] = {
            IMPORT: bench.import_,
            "raw COPY into target-shaped table": lambda: bench.raw_copy(like_target=True),
            "raw COPY into bare heap": lambda: bench.raw_copy(like_target=False),
            "raw COPY, CSV, bare heap": bench.raw_copy_csv,
            "row INSERT, one transaction": lambda: bench.row_inserts(sample, commit_each=False),
            "row INSERT, commit per row": lambda: bench.row_inserts(small, commit_each=True),
        }
        rounds = list(_rounds(args.repeat, paths))
        keep.stop()
    order = [IMPORT, *(name for name in paths if name != IMPORT)]
    best = {name: min(r[name] for r in rounds) for name in order}

    rps = {name: sizes.get(name, n) / seconds for name, seconds in best.items()}

    def per_round(other: str) -> list[float]:
        """import rows/s over ``other``'s rows/s, within each round (both measured minutes
        apart at most, so a slow spell of the shared box hits both)."""
        return [(n / r[IMPORT]) / (sizes.get(other, n) / r[other]) for r in rounds]
    print(f"{n:,} rows (random UUID keys), best of {args.repeat} interleaved runs; "
          f"row INSERT measured on {sample.num_rows:,} / {small.num_rows:,} rows")
    print(f"{'path':<40}{'rows':>9}{'seconds':>10}{'rows/s':>12}")
    for name, seconds in best.items():
        print(f"{name:<40}{sizes.get(name, n):>9,}{seconds:>10.3f}{rps[name]:>12,.0f}")
    imp = rps[IMPORT]
    best_import = best[IMPORT]
    print(f"\nimport steps (best run, {best_import:.3f} s):")
    for step, seconds in bench.steps.items():
        print(f"  {step:<46}{seconds:>8.3f} s {seconds / sum(bench.steps.values()):>5.0%}")
    print()
    checks = [
        ("raw COPY into target-shaped table", 0.8, "%"),
        ("raw COPY into bare heap", 0.8, "%"),
        ("raw COPY, CSV, bare heap", 0.8, "%"),
        ("row INSERT, commit per row", 20, "x"),
        ("row INSERT, one transaction", 20, "x"),
    ]

    def show(ratio: float, unit: str) -> str:
        return f"{ratio:.1%}" if unit == "%" else f"{ratio:.1f}x"

    print("targets are judged on best/best (each path's least disturbed run); the per-round "
          "ratios show the spread")
    print(f"{'import rows/s vs':<36}{'best/best':>10}{'per round: median (min-max)':>30}")
    for other, target, unit in checks:
        ratios = sorted(per_round(other))
        middle = statistics.median(ratios)
        wanted = f"{target:.0%}" if unit == "%" else f"{target}x"
        spread = f"{show(middle, unit)} ({show(ratios[0], unit)}-{show(ratios[-1], unit)})"
        print(f"{other:<36}{show(imp / rps[other], unit):>10}{spread:>30}  target >= {wanted}: "
              f"{'OK' if imp / rps[other] >= target else 'BELOW TARGET'}")
    raw = best["raw COPY into bare heap"]
    merge = bench.steps.get(MERGE_STEP, 0.0)
    print(f"why the raw-COPY ratios: the MERGE alone takes {merge:.3f} s = "
          f"{merge / raw:.1f}x a whole raw binary COPY ({raw:.3f} s). It must write every "
          "row a second time, into the keyed target (heap + primary key + WAL), after "
          "sorting the day by user for the dedupe; so even with a free staging COPY and "
          f"checksum the import could reach at most {raw / (raw + merge):.0%} of a raw "
          "COPY's rows/s here.")
    ceiling = rps["raw COPY into bare heap"] / rps["row INSERT, one transaction"]
    print(f"raw binary COPY is {ceiling:.1f}x row INSERTs in one transaction on this local "
          "Unix socket (a round trip costs microseconds here, milliseconds to a cluster).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
