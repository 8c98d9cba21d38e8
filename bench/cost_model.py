"""Cost model on paper: AWS cost of one day of the pipeline and of a backfilled day.

Pure arithmetic, no AWS call. Three inputs, each a frozen dataclass:

* :class:`Prices` — published on-demand prices of one region (us-east-1, USD) and the
  billing rules that shape small runs (Glue's 1-minute minimum per job run, a crawler's
  10-minute minimum, Redshift Serverless' 60-second minimum, Firehose's 5 KB rounding
  per record). Sources and which figures are assumptions: ``docs/reference/cost-model.md``.
* :class:`Deployment` — what ``infra/`` deploys (workers, base RPU, ingest schedule,
  Lambda memory, the crawler poll loops' wait), read from an
  :class:`~infra.config.EnvConfig` and the state machine definitions.
* :class:`Workload` — sizes measured locally (bytes per user) and durations assumed for
  AWS (job start-up, seconds of work per date and per million users, crawl length).

:func:`daily_cost` is one day of ingest plus its nightly run; :func:`backfill_cost`
re-runs a range of days either as today (one execution, two crawls and two Glue job
runs per date) or in range mode (one transform run, a raw and a transform
crawl and one load run per chunk of dates). Run ``python bench/cost_model.py`` for the tables
(``--markdown`` prints them as the doc's tables, ``--env prod`` uses prod's sizes).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages first
    sys.path.insert(0, str(ROOT))

from infra.config import EnvConfig, EnvConfigError, env_config  # noqa: E402

__all__ = [
    "BACKFILL_ASL",
    "NIGHTLY_ASL",
    "RANGE_LEASE_PER_DATE",
    "RANGE_TOP_PATH",
    "USERS_PER_DAY",
    "Deployment",
    "GlueWork",
    "Prices",
    "Workload",
    "backfill_cost",
    "backfill_transitions",
    "crawl_cost",
    "crawl_polls",
    "daily_cost",
    "deployment_from_env",
    "firehose_billed_bytes",
    "glue_run_cost",
    "main",
    "nightly_happy_path",
    "nightly_transitions",
    "range_chunk_happy_path",
    "range_transitions",
    "redshift_cost",
    "report",
    "standing_cost_per_day",
]

NIGHTLY_ASL = ROOT / "orchestration" / "state_machine.asl.json"
BACKFILL_ASL = ROOT / "orchestration" / "backfill.asl.json"
USERS_PER_DAY = (10_000, 100_000, 1_000_000)
GIB = 1024**3
DAY_S = 86_400
MONTH_DAYS = 30.4


@dataclass(frozen=True)
class Prices:
    """On-demand prices, us-east-1, USD (see docs/reference/cost-model.md for each source)."""

    # Glue 6.0 Spark jobs: the 5.x rate of $0.44 less the 30% AWS announced for 6.0
    # (docs/reference/cost-model.md gives the source and what is still to be checked)
    glue_dpu_hour: float = round(0.44 * 0.70, 3)
    glue_min_billed_s: float = 60.0  # Glue 2.0+ Spark jobs: per second, 1-minute minimum
    crawler_dpu_hour: float = 0.44
    crawler_min_billed_s: float = 600.0  # 10-minute minimum per crawl
    sfn_per_1k_transitions: float = 0.025  # Standard workflows
    firehose_ingest_per_gb: float = 0.029  # Direct PUT, first 500 TB/month
    firehose_conversion_per_gb: float = 0.018  # JSON -> Parquet, on the same rounded GB
    firehose_record_increment: int = 5 * 1024  # each record rounded up to 5 KB
    lambda_gb_second: float = 0.0000166667  # x86
    lambda_per_request: float = 0.20 / 1_000_000
    s3_put_per_1k: float = 0.005
    s3_get_per_1k: float = 0.0004
    s3_gb_month: float = 0.023
    redshift_rpu_hour: float = 0.375  # assumption: not confirmed from a stored AWS page
    redshift_min_billed_s: float = 60.0
    athena_per_tb: float = 5.0
    athena_min_bytes: int = 10 * 1024**2
    cloudwatch_logs_per_gb: float = 0.50  # assumption
    nat_gateway_hour: float = 0.045  # assumption (README's figure)
    public_ipv4_hour: float = 0.005
    secret_month: float = 0.40
    kms_key_month: float = 1.0


@dataclass(frozen=True)
class Deployment:
    """What the stack deploys, as far as the bill is concerned."""

    transform_dpu: float
    load_dpu: float
    ingest_invocations_per_day: int
    ingest_memory_gb: float
    redshift_base_rpu: int
    crawl_poll_s: int
    map_concurrency: int
    nat_gateways: int
    secrets: int = 2  # email-hash salt + Redshift admin


@dataclass(frozen=True)
class GlueWork:
    """Billed seconds of one Glue job run: start-up once, then work per date and per user.

    ``startup_s`` is what a run pays before its first date: Spark start, installing
    ``--additional-python-modules`` (the project wheel; the bulk import also pulls its
    three modules from PyPI through the NAT), for the import the VPC ENI.
    ``per_date_s`` is a run's work for its first date and ``per_extra_date_s`` for each
    further one (``None``: the same): the transform checks and writes all of a chunk's
    dates in one Spark pass, so a further date adds little; the import commits each
    date in its own transaction, so each costs the same.
    """

    startup_s: float
    per_date_s: float
    per_million_users_s: float
    per_extra_date_s: float | None = None

    def seconds(self, dates: int, users_per_date: int) -> float:
        extra = self.per_date_s if self.per_extra_date_s is None else self.per_extra_date_s
        return (self.startup_s + self.per_date_s + (dates - 1) * extra
                + dates * self.per_million_users_s * users_per_date / 1e6)


@dataclass(frozen=True)
class Workload:
    """Measured sizes and assumed AWS durations.

    docs/reference/cost-model.md says which is which.
    """

    ndjson_bytes_per_user: int = 930  # measured: one validated, scrubbed NDJSON line
    raw_parquet_bytes_per_user: float = 150.0  # measured: Snappy Parquet, 1k-10k rows a file
    transform_bytes_per_user: float = 300.0  # assumed: users + user_locations + counts
    crawl_s: float = 120.0  # assumed wall time of one crawl, start to READY
    crawler_dpu: float = 2.0  # assumed; GetCrawlerHistory's DPUHour tells the real figure
    transform: GlueWork = field(default_factory=lambda: GlueWork(40.0, 15.0, 20.0, 3.0))
    load: GlueWork = field(default_factory=lambda: GlueWork(60.0, 10.0, 30.0))
    redshift_per_date_s: float = 5.0  # SQL of one audited load (connect, audit, checks)
    redshift_per_million_users_s: float = 30.0  # COPY + dedupe + MERGE at base RPU
    lambda_fixed_s: float = 1.0  # per invocation: API round trip, Firehose calls
    lambda_per_user_s: float = 0.0001  # fetch bytes + validate/scrub/serialise at 1 GB
    firehose_objects_per_day: int = 288  # one Parquet object per 300 s buffer flush
    s3_gets_per_raw_object: int = 3  # transform: footer + row groups
    s3_puts_per_date: int = 20  # transform output files, markers, temp
    s3_gets_per_date: int = 50  # crawls, COPY, catalog-driven reads
    log_bytes_per_invocation: int = 1500  # Lambda: a few JSON lines + REPORT
    log_bytes_per_glue_run: int = 1024**2  # driver log with log4j2 quietened
    log_bytes_per_crawl: int = 20 * 1024


# ------------------------------------------------------------------ deployment


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _dpu_per_worker(worker_type: str) -> float:
    # G.1X = 1 DPU, G.2X = 2, G.4X = 4, G.8X = 8
    return float(worker_type.split(".")[1].rstrip("X"))


def deployment_from_env(env: EnvConfig, nightly: Path = NIGHTLY_ASL,
                        backfill: Path = BACKFILL_ASL) -> Deployment:
    """Read the bill-relevant sizes from an environment and the deployed definitions."""
    states = _load(nightly)["States"]
    waits = {states[name]["Seconds"] for name in ("WaitForRawCrawler",
                                                  "WaitForTransformCrawler")}
    if len(waits) != 1:
        raise ValueError(f"the crawler poll loops wait differently: {sorted(waits)}")
    map_state = _load(backfill)["States"]["RunEachChunk"]
    return Deployment(
        transform_dpu=env.transform_workers * _dpu_per_worker(env.transform_worker_type),
        load_dpu=env.load_workers * 1.0,  # the bulk import is G.1X in infra/stack.py
        ingest_invocations_per_day=DAY_S // (env.ingest_every_minutes * 60),
        ingest_memory_gb=env.ingest_memory_mb / 1024,
        redshift_base_rpu=env.redshift_base_rpu,
        crawl_poll_s=int(waits.pop()),
        map_concurrency=int(map_state["MaxConcurrency"]),
        nat_gateways=env.nat_gateways,
    )


# ------------------------------------------------------------------ Step Functions


def crawl_polls(crawl_s: float, poll_s: float) -> int:
    """Wait → Get → IsReady rounds until a crawl of ``crawl_s`` seconds reads READY."""
    return max(1, math.ceil(crawl_s / poll_s))


def nightly_happy_path(polls_raw: int, polls_transform: int, *,
                       scheduled: bool = True, replace_given: bool = False) -> list[str]:
    """States a successful nightly execution enters, in order (no retries).
    ``replace_given``: the input carries ``replace`` (a backfill's child executions do),
    so the ``DefaultReplace`` Pass is not entered."""
    path = ["ResolvePDate"] + (["DerivePDateFromSchedule"] if scheduled else [])
    path += ["ResolveReplace"] + ([] if replace_given else ["DefaultReplace"])
    path += ["PrepareLease", "AcquireDateLease", "StartRawCrawler"]  # one run per date
    path += ["WaitForRawCrawler", "GetRawCrawler", "IsRawCrawlerReady"] * polls_raw
    path += ["CheckRawCrawlStatus", "RunTransformJob", "StartTransformCrawler"]
    path += ["WaitForTransformCrawler", "GetTransformCrawler",
             "IsTransformCrawlerReady"] * polls_transform
    path += ["CheckTransformCrawlStatus", "RunBulkImport", "ReleaseDateLease",
             "PipelineSucceeded"]
    return path


def nightly_transitions(crawl_s: float, poll_s: float, *, scheduled: bool = True,
                        replace_given: bool = False) -> int:
    """State transitions of one successful nightly execution (one per state entered)."""
    polls = crawl_polls(crawl_s, poll_s)
    return len(nightly_happy_path(polls, polls, scheduled=scheduled,
                                  replace_given=replace_given))


def backfill_transitions(dates: int, crawl_s: float, poll_s: float) -> int:
    """Today's backfill: ResolveReplace/DefaultReplace (2), the Map (2) + per date its
    iteration (2) and a child execution (whose input always carries ``replace``)."""
    per_date = 2 + nightly_transitions(crawl_s, poll_s, scheduled=False, replace_given=True)
    return 4 + dates * per_date


RANGE_TOP_PATH = ["HasReplace", "SplitIntoChunks", "RunEachChunk", "BackfillDone"]
"""States a successful range backfill enters outside its chunks (``replace`` given; one
more, ``ReplaceDefaultsToFalse``, when the input leaves it out)."""


RANGE_LEASE_PER_DATE = ["AcquireDateLease", "ReleaseLeaseOfDate"]
"""States a successful chunk enters once per date, inside its lease Maps
(``AcquireChunkLeases``, ``ReleaseChunkLeases``): one conditional put, one delete."""


def range_chunk_happy_path(polls_raw: int, polls_transform: int) -> list[str]:
    """States one successful chunk of ``backfill.asl.json`` enters at its own level, in
    order (the per-date states of its lease Maps are :data:`RANGE_LEASE_PER_DATE`). The
    chunk bound (6 h) ends before the execution's timeout, the usual case."""
    path = ["PrepareChunkLeases", "IsChunkBoundBeyondTimeout", "LeaseEndsWithChunkBound",
            "AcquireChunkLeases", "StartRawCrawler"]  # one run per date
    path += ["WaitForRawCrawler", "GetRawCrawler", "IsRawCrawlerReady"] * polls_raw
    path += ["CheckRawCrawlStatus", "RunTransformJob", "StartTransformCrawler"]
    path += ["WaitForTransformCrawler", "GetTransformCrawler",
             "IsTransformCrawlerReady"] * polls_transform
    path += ["CheckTransformCrawlStatus", "RunBulkImport", "DidTheTransformFail",
             "ReleaseChunkLeases", "ChunkSucceeded"]
    return path


def range_transitions(chunks: int, crawls_per_chunk: int, crawl_s: float,
                      poll_s: float, *, dates: int = 0) -> int:
    """Range mode as built (``backfill.asl.json``): the top-level states
    (:data:`RANGE_TOP_PATH`), and per chunk the transform and load tasks, the check
    after them and the chunk's result (4), the lease states (5: PrepareChunkLeases, the
    expiry Choice and Pass, the acquire and release Maps), plus per crawl Start + polls ×
    (Wait, Get, IsReady) + Check, and per date its put and delete of the lease (2). The
    deployed chunk crawls twice (raw, then transform)."""
    per_crawl = 2 + 3 * crawl_polls(crawl_s, poll_s)
    return (len(RANGE_TOP_PATH) + chunks * (4 + 5 + crawls_per_chunk * per_crawl)
            + dates * len(RANGE_LEASE_PER_DATE))


# ------------------------------------------------------------------ billing rules


def glue_run_cost(dpu: float, seconds: float, prices: Prices) -> float:
    """One Glue job run: DPUs × billed seconds (≥ the minimum) at the DPU-hour price."""
    return dpu * max(seconds, prices.glue_min_billed_s) / 3600 * prices.glue_dpu_hour


def crawl_cost(dpu: float, seconds: float, prices: Prices) -> float:
    return dpu * max(seconds, prices.crawler_min_billed_s) / 3600 * prices.crawler_dpu_hour


def redshift_cost(rpu: int, active_s: float, prices: Prices) -> float:
    """One busy period of the workgroup at its base capacity (≥ the 60 s minimum)."""
    if active_s <= 0:
        return 0.0
    return rpu * max(active_s, prices.redshift_min_billed_s) / 3600 * prices.redshift_rpu_hour


def firehose_billed_bytes(records: int, record_bytes: int, increment: int) -> int:
    """Direct PUT ingestion counts every record rounded up to the next ``increment``."""
    return records * math.ceil(record_bytes / increment) * increment


def _check(users: int) -> None:
    if users < 0:
        raise ValueError(f"users per day must be >= 0, not {users}")


# ------------------------------------------------------------------ one day


def daily_cost(users: int, deployment: Deployment, prices: Prices = Prices(),
               workload: Workload = Workload()) -> dict[str, float]:
    """USD of one day: its ingest (Lambda, Firehose) and its nightly run, by component.

    Storage is the month's charge for keeping the day's new objects (raw + transform).
    """
    _check(users)
    w, p, d = workload, prices, deployment
    invocations = d.ingest_invocations_per_day
    lambda_s = invocations * w.lambda_fixed_s + users * w.lambda_per_user_s
    billed_gb = firehose_billed_bytes(users, w.ndjson_bytes_per_user,
                                      p.firehose_record_increment) / GIB
    transitions = nightly_transitions(w.crawl_s, d.crawl_poll_s)
    puts = w.firehose_objects_per_day + w.s3_puts_per_date
    gets = w.firehose_objects_per_day * w.s3_gets_per_raw_object + w.s3_gets_per_date
    logs = (invocations * w.log_bytes_per_invocation + 2 * w.log_bytes_per_glue_run
            + 2 * w.log_bytes_per_crawl)
    stored_gb = users * (w.raw_parquet_bytes_per_user + w.transform_bytes_per_user) / GIB
    redshift_s = w.redshift_per_date_s + w.redshift_per_million_users_s * users / 1e6
    return {
        "Glue transform job": glue_run_cost(d.transform_dpu, w.transform.seconds(1, users), p),
        "Glue bulk import job": glue_run_cost(d.load_dpu, w.load.seconds(1, users), p),
        "Glue crawlers (2 crawls)": 2 * crawl_cost(w.crawler_dpu, w.crawl_s, p),
        "Step Functions": transitions / 1000 * p.sfn_per_1k_transitions,
        "Redshift Serverless": redshift_cost(d.redshift_base_rpu, redshift_s, p),
        "Firehose ingestion": billed_gb * p.firehose_ingest_per_gb,
        "Firehose format conversion": billed_gb * p.firehose_conversion_per_gb,
        "Lambda (ingest)": (lambda_s * d.ingest_memory_gb * p.lambda_gb_second
                            + invocations * p.lambda_per_request),
        "S3 requests": puts / 1000 * p.s3_put_per_1k + gets / 1000 * p.s3_get_per_1k,
        "S3 storage (1 month of the day's data)": stored_gb * p.s3_gb_month,
        "CloudWatch Logs": logs / GIB * p.cloudwatch_logs_per_gb,
    }


def standing_cost_per_day(deployment: Deployment, prices: Prices = Prices()) -> dict[str, float]:
    """What the stack costs per day whether or not anything runs (not per run)."""
    return {
        "NAT gateway + public IPv4": deployment.nat_gateways * 24 * (
            prices.nat_gateway_hour + prices.public_ipv4_hour),
        "Secrets Manager": deployment.secrets * prices.secret_month / MONTH_DAYS,
        "KMS key": prices.kms_key_month / MONTH_DAYS,
    }


# ------------------------------------------------------------------ backfills


def backfill_cost(days: int, users: int, deployment: Deployment, *, chunk: int | None = None,
                  crawls_per_chunk: int = 2, prices: Prices = Prices(),
                  workload: Workload = Workload()) -> dict[str, float]:
    """USD of backfilling ``days`` dates of ``users`` users each, by component.

    ``chunk=None`` is today's backfill: one nightly execution per date, each with two
    crawls, a transform run and a bulk-import run paying start-up and the minimum.
    ``chunk=N`` is range mode (``backfill.asl.json``): per chunk of N dates one transform
    run, one load run (one audited transaction per date inside it) and
    ``crawls_per_chunk`` crawls (the deployed chunk does two: raw and transform).
    Raw data already sits in the lake: no Lambda or Firehose.
    """
    _check(users)
    if days < 1:
        raise ValueError(f"a backfill covers at least one day, not {days}")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk size must be >= 1, not {chunk}")
    w, p, d = workload, prices, deployment
    if chunk is None:
        runs = [1] * days  # dates per job run
        crawls = 2 * days
        transitions = backfill_transitions(days, w.crawl_s, d.crawl_poll_s)
    else:
        full, rest = divmod(days, chunk)
        runs = [chunk] * full + ([rest] if rest else [])
        crawls = crawls_per_chunk * len(runs)
        transitions = range_transitions(len(runs), crawls_per_chunk, w.crawl_s,
                                        d.crawl_poll_s, dates=days)
    redshift_per_date = w.redshift_per_date_s + w.redshift_per_million_users_s * users / 1e6
    puts = days * w.s3_puts_per_date
    gets = days * (w.firehose_objects_per_day * w.s3_gets_per_raw_object + w.s3_gets_per_date)
    logs = 2 * len(runs) * w.log_bytes_per_glue_run + crawls * w.log_bytes_per_crawl
    return {
        "Glue transform job": sum(glue_run_cost(d.transform_dpu,
                                                w.transform.seconds(n, users), p) for n in runs),
        "Glue bulk import job": sum(glue_run_cost(d.load_dpu, w.load.seconds(n, users), p)
                                    for n in runs),
        "Glue crawlers": crawls * crawl_cost(w.crawler_dpu, w.crawl_s, p),
        "Step Functions": transitions / 1000 * p.sfn_per_1k_transitions,
        "Redshift Serverless": sum(redshift_cost(d.redshift_base_rpu, n * redshift_per_date, p)
                                   for n in runs),
        "S3 requests": puts / 1000 * p.s3_put_per_1k + gets / 1000 * p.s3_get_per_1k,
        "CloudWatch Logs": logs / GIB * p.cloudwatch_logs_per_gb,
    }


# ------------------------------------------------------------------ printing


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 1 else f"${x:.4f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}"
                    for i, w in enumerate(widths))
    return "\n".join([fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*r) for r in rows])


def _component_rows(costs: Sequence[Mapping[str, float]], markdown: bool) -> list[list[str]]:
    bold = "**" if markdown else ""
    rows = [[name, *(_usd(c[name]) for c in costs)] for name in costs[0]]
    rows.append([f"{bold}total{bold}", *(f"{bold}{_usd(sum(c.values()))}{bold}" for c in costs)])
    return rows


def report(deployment: Deployment, *, markdown: bool = False, prices: Prices = Prices(),
           workload: Workload = Workload()) -> str:
    """The doc's tables: a day by component, then backfills before and after."""
    heads = [f"{u:,} users/day" for u in USERS_PER_DAY]
    daily = [daily_cost(u, deployment, prices, workload) for u in USERS_PER_DAY]
    out = ["One day: ingest + nightly run (USD)",
           _table(["component", *heads], _component_rows(daily, markdown), markdown)]
    modes: list[tuple[str, int | None]] = [("per date (today)", None), ("range, chunk 7", 7),
                                           ("range, chunk 30", 30)]
    rows = []
    for label, chunk in modes:
        per_day = [sum(backfill_cost(365, u, deployment, chunk=chunk, prices=prices,
                                     workload=workload).values()) / 365
                   for u in USERS_PER_DAY]
        rows.append([label, *(_usd(x) for x in per_day), _usd(per_day[1] * 365)])
    out += ["", "Backfilled day, averaged over a 365-day backfill (USD)",
            _table(["mode", *heads, "365 days at 100k"], rows, markdown)]
    parts = [backfill_cost(365, 100_000, deployment, chunk=chunk, prices=prices,
                           workload=workload) for _, chunk in modes]
    out += ["", "365-day backfill of 100k-user days by component (USD)",
            _table(["component", *(m for m, _ in modes)], _component_rows(parts, markdown),
                   markdown)]
    standing = standing_cost_per_day(deployment, prices)
    out += ["", "Standing cost per day, whether or not anything runs (USD)",
            _table(["item", "per day"], [[k, _usd(v)] for k, v in standing.items()],
                   markdown)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--env", default="dev", help="environment whose sizes to use")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    try:
        deployment = deployment_from_env(env_config(args.env))
    except EnvConfigError as exc:
        print(f"cost_model: {exc}", file=sys.stderr)
        return 2
    print(f"environment {args.env}: {deployment}")
    print(report(deployment, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
