"""Bench: does the transform job's cost follow the day, not the lake? And how far is
Spark from a single-process engine on the same model?

Prints, in one run:

(a) the job for one day with 365 days of raw history (365 catalog partitions, plus 365
    days of DQ history) against the same day with 1 day of history; target <= 1.15;
(b) the Spark job on a 1M-user day (warm JVM: JVM start excluded) against a DuckDB
    rendering of the same model (dedupe + users + user_locations + daily_user_counts,
    written as Parquet) on the same raw file; target <= 4x; and the job's wall time.

The 1M-user raw file is generated with pyarrow in the raw contract schema and cached
under ``.bench/`` (gitignored). Run: ``.venv/bin/python bench/transform.py
[--users N] [--repeats N] [--repeats-b N]``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contracts.pipeline import PipelineConfig
from contracts.tables import DQ_RESULTS, RAW
from contracts.user_record import raw_arrow_schema
from crawlers.specs import default_specs
from glue_jobs.publish import (
    ensure_partition,
    ensure_table,
    plain_partition_uri,
    table_uri,
)
from glue_jobs.transform_job import TransformSettings, run_transform
from local_aws.glue.catalog import LocalGlueCatalog
from local_aws.glue.crawl import crawl, ensure_databases
from local_aws.glue.spark_runtime import LocalRuntime
from local_aws.glue.spark_session import local_spark
from local_aws.objectstore import LocalObjectStore
from sql.ddl import age_band_case

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1] / ".bench" / "transform"
CFG = PipelineConfig()
LAKE = f"s3://{CFG.lake_bucket}"
DAY = date(2026, 11, 22)
TARGET_HISTORY, TARGET_ENGINE = 1.15, 4.0
SALT = "bench-salt"

# ------------------------------------------------------------------ raw generation


def _strings(prefix: str, n: int, k: int, rng: np.random.Generator) -> pa.Array:
    choices = np.array([f"{prefix}{i}" for i in range(k)], dtype=object)
    return pa.array(choices[rng.integers(0, k, n)], pa.string())


def generate_raw(users: int, dupes: int, day: date, seed: int = 7) -> pa.Table:
    """``users`` distinct users (+``dupes`` re-fetches) in the raw contract schema."""
    rng = np.random.default_rng(seed)
    n = users + dupes
    ids = np.concatenate([np.arange(users), rng.integers(0, users, dupes)])
    hexes = np.char.mod("%032x", ids.astype(np.uint64) * 2654435761 % (1 << 63))
    uuids = [f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}" for h in hexes.tolist()]
    t0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1e6)
    fetched = t0 + rng.integers(0, 86_400_000_000, n)
    dob = int(datetime(1950, 1, 1, tzinfo=UTC).timestamp() * 1e6) + rng.integers(
        0, 60 * 365 * 86_400_000_000, n)
    cities = ["Oslo", "Göttingen", "São Paulo", "東京", "Évora", "İstanbul", "Lyon", "Cork"]
    leaves: dict[str, pa.Array] = {
        "gender": _strings("", n, 1, rng).cast(pa.string()),
        "title": _strings("T", n, 4, rng), "first": _strings("F", n, 500, rng),
        "last": _strings("L", n, 900, rng),
        "number": pa.array(rng.integers(1, 9999, n), pa.int32()),
        "name": _strings("Street ", n, 300, rng),
        "city": pa.array(np.array(cities, dtype=object)[rng.integers(0, len(cities), n)]),
        "state": _strings("State ", n, 50, rng), "country": _strings("Country ", n, 20, rng),
        "postcode": pa.array(np.char.mod("%05d", rng.integers(0, 99999, n)).tolist()),
        "latitude": pa.array(np.char.mod("%.4f", rng.uniform(-95, 95, n)).tolist()),
        "longitude": pa.array(np.char.mod("%.4f", rng.uniform(-185, 185, n)).tolist()),
        "offset": pa.array(np.array(["+1:00", "-3:30", "+5:30", "0:00"], dtype=object)[
            rng.integers(0, 4, n)]),
        "description": _strings("Zone ", n, 30, rng),
        "email": pa.array([f"user{i}@example.{'com' if i % 2 else 'org'}" for i in ids]),
        "uuid": pa.array(uuids), "username": _strings("u", n, 1000, rng),
        "date": pa.array(dob, pa.timestamp("us", tz="UTC")),
        "age": pa.array(rng.integers(18, 80, n), pa.int32()),
        "phone": pa.array(np.char.mod("0%02d-555-", rng.integers(10, 99, n)).astype(object)
                          + np.char.mod("%04d", rng.integers(0, 9999, n)).astype(object)),
        "value": _strings("", n, 1000, rng),
        "nat": _strings("N", n, 20, rng), "batch_id": _strings("batch-", n, 48, rng),
        "fetched_at": pa.array(fetched, pa.timestamp("us", tz="UTC")),
        "source_page": pa.array(rng.integers(1, 100, n), pa.int32()),
    }
    leaves["gender"] = pa.array(np.array(["female", "male"], dtype=object)[
        rng.integers(0, 2, n)])

    def build(field: pa.Field) -> pa.Array:
        if pa.types.is_struct(field.type):
            children = [build(field.type.field(i)) for i in range(field.type.num_fields)]
            return pa.StructArray.from_arrays(children, fields=list(field.type))
        arr = leaves.get(field.name)
        if arr is None or not arr.type.equals(field.type):
            return pa.nulls(n, field.type) if arr is None else arr.cast(field.type)
        return arr

    schema = raw_arrow_schema()
    return pa.table([build(f) for f in schema], schema=schema)


def raw_file(users: int) -> Path:
    path = ROOT / f"raw_{users}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        pq.write_table(generate_raw(users, users // 20, DAY), path, row_group_size=262_144)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f} s (cached)")
    return path


# ------------------------------------------------------------------ lakes


def build_lake(root: Path, history: int, day_file: Path, tiny: Path,
               day_users: int) -> LocalGlueCatalog:
    """Raw history of ``history`` tiny days before DAY, DAY itself, DQ history too."""
    shutil.rmtree(root, ignore_errors=True)
    store, catalog = LocalObjectStore(root / "s3"), LocalGlueCatalog(root / "catalog")
    days = [DAY - timedelta(days=i) for i in range(history, 0, -1)]
    for d in [*days, DAY]:
        folder = store.path(CFG.partition_uri(RAW, d.isoformat()))
        folder.mkdir(parents=True)
        shutil.copyfile(day_file if d == DAY else tiny, folder / "part-0.parquet")
    specs = default_specs(CFG)
    ensure_databases(catalog, specs)
    crawl(specs[0], catalog, store)
    ensure_table(catalog, DQ_RESULTS, table_uri(LAKE, DQ_RESULTS))
    for d in days:  # published DQ history: what 365 earlier runs would have left
        loc = plain_partition_uri(LAKE, DQ_RESULTS, d.isoformat())
        store.path(loc).mkdir(parents=True)
        row = {"run_id": "r", "table_name": "users", "rule": "row count >= 1",
               "rule_type": "RowCountAtLeast", "passed": True, "observed": float(day_users),
               "allowed": ">= 1", "message": "", "run_status": "published",
               "evaluated_at": datetime(2026, 1, 1, tzinfo=UTC)}
        pq.write_table(pa.Table.from_pylist([row], DQ_RESULTS.arrow_schema()),
                       store.path(loc) / "part-0.parquet")
        ensure_partition(catalog, DQ_RESULTS, d.isoformat(), loc)
    return catalog


def job_seconds(spark: Any, root: Path) -> float:
    runtime = LocalRuntime(spark, LocalGlueCatalog(root / "catalog"),
                           LocalObjectStore(root / "s3"))
    t = time.perf_counter()
    run_transform(runtime, DAY.isoformat(), TransformSettings(LAKE, SALT))
    elapsed = time.perf_counter() - t
    raw_reads = [p for p in runtime.paths_read if "/raw/" in p]
    assert len(raw_reads) == 1, raw_reads  # one raw partition opened, whatever the history
    return elapsed


# ------------------------------------------------------------------ DuckDB rendering

CLEAN = "nullif(regexp_replace({0}, '^[\\s\\p{{Z}}]+|[\\s\\p{{Z}}]+$', '', 'g'), '')"


def _clean(expr: str) -> str:
    return CLEAN.format(expr)


def duckdb_model_sql(raw: Path, out: Path) -> list[str]:
    """The same model as glue_jobs.transforms, in DuckDB SQL, written as Parquet."""
    off = "trim(location.timezone.offset)"
    pat = "'^([+-])?(\\d{1,2}):(\\d{2})$'"
    lat = f"try_cast({_clean('location.coordinates.latitude')} as double)"
    lon = f"try_cast({_clean('location.coordinates.longitude')} as double)"
    email = "lower(trim(email))"
    # RE2 has no look-ahead: reverse the phone, keep up to its second digit, star the
    # digits after that, reverse back (the same rule as mask_phone's regex)
    # (_phone, _rev, _head: computed once per row in the CTEs below)
    mask = ("case when _head = '' then _phone else reverse(_head || translate("
            "substr(_rev, length(_head) + 1), '0123456789', '**********')) end")
    model = f"""
    create temp table model as
    with deduped as (
        select * from read_parquet('{raw}')
        qualify row_number() over (partition by trim(login.uuid)
                                   order by fetched_at desc, batch_id desc) = 1
    ),
    phones as (
        select *, {_clean('phone')} as _phone from deduped
    ),
    reversed as (
        select *, reverse(_phone) as _rev from phones
    ),
    prepared as (
        select *, regexp_extract(_rev, '^(\\D*\\d\\D*\\d)', 1) as _head from reversed
    )
    select trim(login.uuid) as user_id, lower({_clean('gender')}) as gender,
           {_clean('name.title')} as title, upper({_clean('nat')}) as nationality,
           year(dob.date)::int as birth_year, dob.age as age, registered.date as registered_at,
           case when {email} like '%@%' then regexp_extract({email}, '[^@]*$') end
               as email_domain,
           case when {email} <> '' then sha256('{SALT}' || {email}) end as email_hash,
           {mask} as phone_masked,
           {_clean('location.city')} as city, {_clean('location.state')} as state,
           {_clean('location.country')} as country, {_clean('location.postcode')} as postcode,
           case when abs({lat}) <= 90 then {lat} end as latitude,
           case when abs({lon}) <= 180 then {lon} end as longitude,
           case when regexp_matches({off}, {pat}) then
               (case when regexp_extract({off}, {pat}, 1) = '-' then -1 else 1 end)
               * (regexp_extract({off}, {pat}, 2)::int * 60
                  + regexp_extract({off}, {pat}, 3)::int) end::int as tz_offset_minutes,
           {_clean('location.timezone.description')} as tz_description,
           fetched_at, batch_id
    from prepared"""
    band = age_band_case("age")
    return [
        model,
        f"copy (select * exclude (tz_description) from model) to '{out / 'users.parquet'}'"
        " (format parquet)",
        f"copy (select user_id, city, state, country, postcode, latitude, longitude, "
        f"tz_offset_minutes, tz_description from model) to '{out / 'locations.parquet'}' "
        "(format parquet)",
        f"copy (select country, gender, {band} as age_band, count(*) as users from model "
        f"group by all) to '{out / 'daily.parquet'}' (format parquet)",
    ]


def duckdb_seconds(raw: Path, out: Path, threads: int) -> tuple[float, int]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect(":memory:", config={"threads": threads})
    t = time.perf_counter()
    for sql in duckdb_model_sql(raw, out):
        con.execute(sql)
    elapsed = time.perf_counter() - t
    rows = con.execute(f"select count(*) from '{out / 'users.parquet'}'").fetchone()
    con.close()
    return elapsed, int(rows[0]) if rows else 0


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_000_000, help="users in the big day")
    ap.add_argument("--day-users", type=int, default=20_000, help="users in the (a) day")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of (a)")
    ap.add_argument("--repeats-b", type=int, default=2, help="rounds of (b)")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)

    tiny = ROOT / "tiny.parquet"
    ROOT.mkdir(parents=True, exist_ok=True)
    pq.write_table(generate_raw(5, 0, DAY - timedelta(days=1), seed=1), tiny)
    day_file = ROOT / f"day_{args.day_users}.parquet"
    if not day_file.exists():
        pq.write_table(generate_raw(args.day_users, args.day_users // 20, DAY), day_file)

    t = time.perf_counter()
    spark = local_spark(cores=args.cores)
    print(f"JVM + SparkSession start: {time.perf_counter() - t:.1f} s (excluded below)")

    # (a) history independence
    lakes = {h: ROOT / f"lake_{h}" for h in (1, 365)}
    for h, root in lakes.items():
        build_lake(root, h, day_file, tiny, args.day_users)
    job_seconds(spark, lakes[1])  # warm-up: JIT, codegen
    times: dict[int, list[float]] = {1: [], 365: []}
    for _ in range(args.repeats):
        for h in (1, 365):  # interleaved, so drift hits both
            times[h].append(job_seconds(spark, lakes[h]))
    med = {h: statistics.median(v) for h, v in times.items()}
    ratio_a = med[365] / med[1]
    print(f"(a) one {args.day_users}-user day, median of {args.repeats}: "
          f"1 day of history {med[1]:.2f} s, 365 days {med[365]:.2f} s -> ratio "
          f"{ratio_a:.2f} (target <= {TARGET_HISTORY}) "
          f"{'MET' if ratio_a <= TARGET_HISTORY else 'NOT MET'}")

    # (b) Spark vs DuckDB on the same 1M-user day
    big = raw_file(args.users)
    big_lake = ROOT / "lake_big"
    runs: dict[str, list[float]] = {"spark": [], "duckdb": []}
    duck_rows = 0
    for i in range(args.repeats_b):  # interleaved, so a noisy minute hits both engines
        build_lake(big_lake, 0, big, tiny, args.users)
        runs["spark"].append(job_seconds(spark, big_lake))
        duck_s, duck_rows = duckdb_seconds(big, ROOT / "duckdb_out", args.cores)
        runs["duckdb"].append(duck_s)
        print(f"    round {i + 1}: Spark job {runs['spark'][-1]:.1f} s, DuckDB {duck_s:.1f} s",
              flush=True)
    spark_s, duck_s = min(runs["spark"]), min(runs["duckdb"])
    ratio_b = spark_s / duck_s
    pairs = [s / d for s, d in zip(runs["spark"], runs["duckdb"], strict=True)]
    print(f"(b) {args.users:,}-user day, best of {args.repeats_b}: Spark job {spark_s:.1f} s "
          f"(dedupe, 3 tables, DQ gate, publish; warm JVM) vs DuckDB model {duck_s:.1f} s "
          f"({duck_rows:,} users) -> ratio {ratio_b:.2f} (per round: "
          f"{', '.join(f'{r:.2f}' for r in pairs)}; target <= {TARGET_ENGINE}) "
          f"{'MET' if ratio_b <= TARGET_ENGINE else 'NOT MET'}")
    print(f"    job wall time on this machine ({args.cores} cores): {spark_s:.1f} s best, "
          f"{statistics.median(runs['spark']):.1f} s median")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
