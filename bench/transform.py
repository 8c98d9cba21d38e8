"""Bench: does the transform job's cost follow the day, not the lake? And how far is
Spark from a single-process engine on the same model?

Prints, in one run:

(a) the job for one day with 365 days of raw history (365 catalog partitions, plus 365
    days of DQ history) against the same day with 1 day of history; target <= 1.15;
(b) the Spark job on a 1M-user day (warm JVM: JVM start excluded) against a DuckDB
    rendering of the same work on the same raw file: the model (dedupe + users +
    user_locations + daily_user_counts, written as Parquet) and the job's DQ gate (the
    same rules' measures, judged by the job's own ``judge``); target <= 3x. Beside it,
    the ratio against DuckDB's model alone, and the job's wall time;

then one line with both ratios side by side. The first line gives the date, the Python,
PySpark and DuckDB versions and the load average, the last the load average again: the
machine is shared, so read a ratio with the load it ran under.

Raw days are made as the pipeline makes them: user-API twin pages, validated and scrubbed
by the ingest Lambda's code, converted to the raw contract schema as Firehose converts
them, so every day passes the job's DQ gate as a real day does. They are cached under
``.bench/`` (gitignored; generating 1M users takes a few minutes). Run:
``.venv/bin/python bench/transform.py [--users N] [--day-users N] [--repeats N]
[--repeats-b N]``; ``--users 50000 --repeats 1 --repeats-b 1`` is a quick smoke run.
tests/functional/test_bench_transform.py runs its pieces on a small day.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from contracts.pipeline import PipelineConfig
from contracts.tables import DAILY_USER_COUNTS, DQ_RESULTS, RAW
from contracts.user_record import raw_arrow_schema
from crawlers.specs import default_specs
from glue_jobs.data_quality import (
    FitsBytes,
    InRange,
    NotNull,
    Rule,
    RuleResult,
    Ruleset,
    Unique,
    default_rulesets,
    judge,
)
from glue_jobs.publish import (
    ensure_partition,
    ensure_table,
    plain_partition_uri,
    table_uri,
)
from glue_jobs.transform_job import TransformSettings, run_transform
from ingest_lambda.core import split_page
from local_aws.facade import (
    MAX_RESULTS,
    LocalCloud,
    crawl,
    ensure_databases,
    generate_page,
    local_spark,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from bench._figures import add_record_flag, measured_now, record
from sql.ddl import age_band_case

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1] / ".bench" / "transform"
CFG = PipelineConfig()
LAKE = f"s3://{CFG.lake_bucket}"
DAY = date(2026, 11, 22)
TARGET_HISTORY, TARGET_ENGINE = 1.15, 3.0
SALT = "bench-salt"

# ------------------------------------------------------------------ raw generation


PAGE_SIZE = MAX_RESULTS  # users per API page, as the ingest Lambda asks for them
PAGES_PER_BATCH = 40  # pages one ingest invocation (one batch id) fetches
GENERATOR = "api1"  # in the cache file names: a change of generator makes new files


def _ingested_lines(seed: str, page: int, results: int, batch_id: str,
                    fetched_at: datetime) -> list[bytes]:
    """One API-twin page through the ingest Lambda's validation and scrub: the NDJSON
    lines it would deliver to Firehose."""
    meta = {"batch_id": batch_id, "fetched_at": fetched_at, "source_page": page,
            "source_seed": seed}
    good, bad = split_page(generate_page(seed, page, results), meta)
    if bad:  # the twin makes only valid users unless asked for faults
        raise RuntimeError(f"ingest refused {len(bad)} generated users: {bad[0]['reason']}")
    return good


def _lines_to_arrow(lines: list[bytes], schema: pa.Schema) -> pa.Table:
    """Delivered JSON lines -> the raw Parquet schema, as Firehose's conversion reads them
    (fields the schema does not name are dropped)."""
    table = pj.read_json(pa.BufferReader(b"".join(lines)),
                         parse_options=pj.ParseOptions(explicit_schema=schema,
                                                       unexpected_field_behavior="ignore"))
    return table.cast(schema)


def generate_raw(users: int, dupes: int, day: date, seed: int = 7) -> pa.Table:
    """``users`` distinct users (+``dupes`` re-fetches) arriving on ``day``, made as the
    pipeline makes them: pages of the user-API twin, validated and scrubbed by the ingest
    Lambda's own code, converted to the raw contract schema. A re-fetch is the same API
    page fetched again later by another invocation (Firehose's at-least-once duplicates).
    """
    api_seed, schema = f"bench-{seed}", raw_arrow_schema()
    t0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    pages = -(-users // PAGE_SIZE)
    spread = 86_000 / max(pages + -(-dupes // PAGE_SIZE), 1)  # seconds between fetches

    def fetches() -> Iterator[tuple[int, int]]:  # (page, results) in fetch order
        for page in range(1, pages + 1):
            yield page, min(PAGE_SIZE, users - (page - 1) * PAGE_SIZE)
        for page in range(1, -(-dupes // PAGE_SIZE) + 1):
            yield page, min(PAGE_SIZE, dupes - (page - 1) * PAGE_SIZE, users)

    chunks: list[pa.Table] = []
    lines: list[bytes] = []
    for i, (page, results) in enumerate(fetches()):
        batch_id = f"bench-{day:%Y%m%d}-{seed}-{i // PAGES_PER_BATCH:04d}"
        lines += _ingested_lines(api_seed, page, results, batch_id,
                                 t0 + timedelta(seconds=i * spread))
        if len(lines) >= 20 * PAGE_SIZE:
            chunks.append(_lines_to_arrow(lines, schema))
            lines = []
    if lines or not chunks:
        chunks.append(_lines_to_arrow(lines, schema))
    return pa.concat_tables(chunks)


def raw_file(users: int) -> Path:
    path = ROOT / f"raw_{GENERATOR}_{users}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        pq.write_table(generate_raw(users, users // 20, DAY), path, row_group_size=262_144)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f} s (cached)")
    return path


# ------------------------------------------------------------------ lakes


def lake_cloud(root: Path) -> Any:
    """The local cloud of a bench lake at ``root``: its catalog is the bench's to lay out."""
    return LocalCloud(root, CFG, deploy=False)


def build_lake(root: Path, history: int, day_file: Path, tiny: Path,
               day_users: int) -> Any:
    """Raw history of ``history`` tiny days before DAY, DAY itself, DQ history too; the
    lake's Glue catalog twin."""
    shutil.rmtree(root, ignore_errors=True)
    cloud = lake_cloud(root)
    store, catalog = cloud.store, cloud.catalog
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
    runtime = lake_cloud(root).glue_runtime(spark)
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
    """The same model as glue_jobs.transforms, in DuckDB SQL, written as Parquet; the
    daily counts kept as the temp table ``daily`` for the gate."""
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
        f"create temp table daily as select country, gender, {band} as age_band, "
        "count(*) as users from model group by all",
        f"copy daily to '{out / 'daily.parquet'}' (format parquet)",
    ]


def _duckdb_measure(rule: Rule, alias: str) -> str | None:
    """One rule's measure in DuckDB SQL, the number glue_jobs.data_quality measures."""
    if isinstance(rule, NotNull):
        return f"count(*) filter (where {rule.column} is null) as {alias}"
    if isinstance(rule, InRange):
        c = rule.column
        return (f"count(*) filter (where {c} is not null and not ({c} between {rule.low} "
                f"and {rule.high})) as {alias}")
    if isinstance(rule, FitsBytes):
        return f"count(*) filter (where strlen({rule.column}) > {rule.max_bytes}) as {alias}"
    if isinstance(rule, Unique):
        if len(rule.columns) == 1:  # distinct keys, null counted as one key
            c = rule.columns[0]
            return f"count(distinct {c}) + max(({c} is null)::int) as {alias}"
        return f"count(distinct row({', '.join(rule.columns)})) as {alias}"
    return None


def duckdb_gate_sql(rulesets: Sequence[Ruleset], table: str) -> str:
    """The gate's measures of ``rulesets`` over ``table`` in one aggregation, aliased
    as glue_jobs.data_quality aliases them, for its ``judge``."""
    measures = [_duckdb_measure(rule, f"r{j}m{i}")
                for j, ruleset in enumerate(rulesets) for i, rule in enumerate(ruleset.rules)]
    return f"select count(*) as rows, {', '.join(m for m in measures if m)} from {table}"


def duckdb_gate(con: duckdb.DuckDBPyConnection) -> list[RuleResult]:
    """The job's DQ gate, measured by DuckDB over the model and the daily counts just
    made: users and user_locations together over the model (as the job measures them
    over its cached model), daily_user_counts alone; judged by the job's own ``judge``."""
    rulesets = default_rulesets()
    groups = [([r for r in rulesets if r.table.name != DAILY_USER_COUNTS.name], "model"),
              ([r for r in rulesets if r.table.name == DAILY_USER_COUNTS.name], "daily")]
    results: list[RuleResult] = []
    for group, table in groups:
        cursor = con.execute(duckdb_gate_sql(group, table))
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
        results += judge(group, dict(zip(names, row, strict=True)) if row else None)
    return results


class DuckRun(NamedTuple):
    model_s: float  # the model's tables written as Parquet
    total_s: float  # and the DQ gate's measures over them
    users: int
    verdicts: list[RuleResult]


def duckdb_run(raw: Path, out: Path, threads: int) -> DuckRun:
    """DuckDB's time for the model's tables written as Parquet, then for the DQ gate's
    measures over them as well (the job measures them before publishing)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect(":memory:", config={"threads": threads})
    t = time.perf_counter()
    for sql in duckdb_model_sql(raw, out):
        con.execute(sql)
    model_s = time.perf_counter() - t
    verdicts = duckdb_gate(con)
    total_s = time.perf_counter() - t
    rows = con.execute(f"select count(*) from '{out / 'users.parquet'}'").fetchone()
    con.close()
    return DuckRun(model_s, total_s, int(rows[0]) if rows else 0, verdicts)


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_000_000, help="users in the big day")
    ap.add_argument("--day-users", type=int, default=20_000, help="users in the (a) day")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of (a)")
    ap.add_argument("--repeats-b", type=int, default=2, help="rounds of (b)")
    ap.add_argument("--cores", type=int, default=2)
    add_record_flag(ap)
    args = ap.parse_args(argv)

    tiny = ROOT / "tiny.parquet"
    ROOT.mkdir(parents=True, exist_ok=True)
    pq.write_table(generate_raw(5, 0, DAY - timedelta(days=1), seed=1), tiny)
    day_file = ROOT / f"day_{GENERATOR}_{args.day_users}.parquet"
    if not day_file.exists():
        pq.write_table(generate_raw(args.day_users, args.day_users // 20, DAY), day_file)

    t = time.perf_counter()
    spark = local_spark(cores=args.cores)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, "
          f"PySpark {spark.version}, DuckDB {duckdb.__version__}, {args.cores} cores; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
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
    runs: dict[str, list[float]] = {"spark": [], "duckdb": [], "model": []}
    duck = None
    for i in range(args.repeats_b):  # interleaved, so a noisy minute hits both engines
        build_lake(big_lake, 0, big, tiny, args.users)
        runs["spark"].append(job_seconds(spark, big_lake))
        duck = duckdb_run(big, ROOT / "duckdb_out", args.cores)
        failed = [r.breach_message for r in duck.verdicts if not r.passed]
        assert not failed, failed  # the job's gate passed the same day
        runs["duckdb"].append(duck.total_s)
        runs["model"].append(duck.model_s)
        print(f"    round {i + 1}: Spark job {runs['spark'][-1]:.1f} s, DuckDB "
              f"{duck.total_s:.1f} s (model alone {duck.model_s:.1f} s)", flush=True)
    assert duck is not None
    spark_s, duck_s, model_s = (min(runs[k]) for k in ("spark", "duckdb", "model"))
    ratio_b, ratio_model = spark_s / duck_s, spark_s / model_s
    pairs = [s / d for s, d in zip(runs["spark"], runs["duckdb"], strict=True)]
    print(f"(b) {args.users:,}-user day, best of {args.repeats_b}: Spark job {spark_s:.1f} s "
          f"(dedupe, 3 tables, DQ gate, publish; warm JVM) vs DuckDB {duck_s:.1f} s "
          f"(dedupe, 3 tables, DQ gate; {duck.users:,} users) -> ratio {ratio_b:.2f} "
          f"(per round: {', '.join(f'{r:.2f}' for r in pairs)}; target <= {TARGET_ENGINE}) "
          f"{'MET' if ratio_b <= TARGET_ENGINE else 'NOT MET'}")
    print(f"    against DuckDB's model alone (no gate) {model_s:.1f} s: ratio {ratio_model:.2f}; "
          f"job wall time on this machine ({args.cores} cores): {spark_s:.1f} s best, "
          f"{statistics.median(runs['spark']):.1f} s median")
    print(f"ratios: Spark job / DuckDB ({args.users:,} users) {ratio_b:.2f} "
          f"(target <= {TARGET_ENGINE}) | 365-day / 1-day history ({args.day_users:,} users) "
          f"{ratio_a:.2f} (target <= {TARGET_HISTORY}); load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    spark.stop()
    if args.record:
        size = "1M" if args.users == 1_000_000 else f"{args.users:,}"
        record([measured_now("bench/transform.py", f"Spark job ÷ DuckDB, {size}-user day",
                             f"{spark_s:.1f} s ÷ {duck_s:.1f} s = {ratio_b:.2f}",
                             f"≤ {TARGET_ENGINE:g}", ratio_b <= TARGET_ENGINE, headline=True),
                measured_now("bench/transform.py", "365-day ÷ 1-day DQ history",
                             f"{med[365]:.2f} s ÷ {med[1]:.2f} s = {ratio_a:.2f}",
                             f"≤ {TARGET_HISTORY:g}", ratio_a <= TARGET_HISTORY,
                             headline=True)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
