"""The cost model's arithmetic, its reading of the deployment, and its shape."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.cost_model import (
    BACKFILL_ASL,
    NIGHTLY_ASL,
    RANGE_LEASE_PER_DATE,
    RANGE_TOP_PATH,
    Deployment,
    GlueWork,
    Prices,
    Workload,
    backfill_cost,
    backfill_transitions,
    daily_cost,
    deployment_from_env,
    firehose_billed_bytes,
    glue_run_cost,
    main,
    nightly_happy_path,
    nightly_transitions,
    range_chunk_happy_path,
    range_transitions,
    report,
)
from infra.config import env_config

GIB = 1024**3

# Round numbers, so every figure below can be checked by hand.
PRICES = Prices(glue_dpu_hour=0.36, glue_min_billed_s=60, crawler_dpu_hour=0.36,
                crawler_min_billed_s=600, sfn_per_1k_transitions=0.025,
                firehose_ingest_per_gb=0.03, firehose_conversion_per_gb=0.02,
                firehose_record_increment=5120, lambda_gb_second=0.00001,
                lambda_per_request=0.0000002, s3_put_per_1k=0.005, s3_get_per_1k=0.0004,
                s3_gb_month=0.02, redshift_rpu_hour=0.36, redshift_min_billed_s=60,
                cloudwatch_logs_per_gb=0.5)
DEPLOYMENT = Deployment(transform_dpu=2, load_dpu=2, ingest_invocations_per_day=288,
                        ingest_memory_gb=1.0, redshift_base_rpu=8, crawl_poll_s=30,
                        map_concurrency=2, nat_gateways=1)
WORKLOAD = Workload(ndjson_bytes_per_user=1000, raw_parquet_bytes_per_user=100,
                    transform_bytes_per_user=200, crawl_s=120, crawler_dpu=2,
                    transform=GlueWork(startup_s=40, per_date_s=15, per_million_users_s=20),
                    load=GlueWork(startup_s=60, per_date_s=10, per_million_users_s=30),
                    redshift_per_date_s=5, redshift_per_million_users_s=30,
                    lambda_fixed_s=1, lambda_per_user_s=0.0001, firehose_objects_per_day=288,
                    s3_gets_per_raw_object=3, s3_puts_per_date=20, s3_gets_per_date=50,
                    log_bytes_per_invocation=1000, log_bytes_per_glue_run=1_000_000,
                    log_bytes_per_crawl=20_000)


def test_a_day_of_100k_users_matches_the_hand_computation() -> None:
    # GIVEN round prices, the dev deployment's sizes and fixed durations
    # WHEN one day of 100,000 users is priced
    cost = daily_cost(100_000, DEPLOYMENT, PRICES, WORKLOAD)
    # THEN each component is what the billing rules give by hand
    hand = {
        # 40 + 15 + 2 = 57 s, billed as the 60 s minimum, on 2 DPUs
        "Glue transform job": 2 * 60 / 3600 * 0.36,
        # 60 + 10 + 3 = 73 s on 2 DPUs
        "Glue bulk import job": 2 * 73 / 3600 * 0.36,
        # two crawls of 120 s, each billed 600 s, on 2 DPUs
        "Glue crawlers (2 crawls)": 2 * 2 * 600 / 3600 * 0.36,
        # 4 polls a crawl: 14 fixed states (2 resolve replace, 3 are the date lease) + 2
        # crawls x 4 x (Wait, Get, IsReady) = 38
        "Step Functions": 38 / 1000 * 0.025,
        # 5 + 3 = 8 s of SQL, billed 60 s at 8 RPU
        "Redshift Serverless": 8 * 60 / 3600 * 0.36,
        # 1,000-byte records are billed as 5,120 bytes each
        "Firehose ingestion": 100_000 * 5120 / GIB * 0.03,
        "Firehose format conversion": 100_000 * 5120 / GIB * 0.02,
        # 288 x 1 s + 100,000 x 0.1 ms = 298 s at 1 GB, plus 288 requests
        "Lambda (ingest)": 298 * 0.00001 + 288 * 0.0000002,
        # PUT: 288 Firehose objects + 20; GET: 288 x 3 + 50
        "S3 requests": 308 / 1000 * 0.005 + 914 / 1000 * 0.0004,
        "S3 storage (1 month of the day's data)": 100_000 * 300 / GIB * 0.02,
        "CloudWatch Logs": (288 * 1000 + 2 * 1_000_000 + 2 * 20_000) / GIB * 0.5,
    }
    assert cost.keys() == hand.keys()
    for name, usd in hand.items():
        assert cost[name] == pytest.approx(usd, rel=1e-9), name
    assert sum(cost.values()) == pytest.approx(sum(hand.values()))


def test_range_backfill_matches_the_hand_computation() -> None:
    # GIVEN ten empty dates backfilled in chunks of 7 (runs of 7 and 3 dates)
    # WHEN priced
    cost = backfill_cost(10, 0, DEPLOYMENT, chunk=7, prices=PRICES, workload=WORKLOAD)
    # THEN each run pays start-up once and per-date work per date
    assert cost["Glue transform job"] == pytest.approx(2 * (145 + 85) / 3600 * 0.36)
    assert cost["Glue bulk import job"] == pytest.approx(2 * (130 + 90) / 3600 * 0.36)
    # two crawls (raw, transform) per chunk
    assert cost["Glue crawlers"] == pytest.approx(2 * 2 * 2 * 600 / 3600 * 0.36)
    # 7 x 5 s = 35 s and 3 x 5 s = 15 s of SQL: each busy period billed 60 s
    assert cost["Redshift Serverless"] == pytest.approx(2 * 8 * 60 / 3600 * 0.36)
    # 4 top-level states + 2 chunks x (2 tasks, check, result + 5 lease states + 2 crawls
    # x (Start, 4 x 3 polls, Check)) + 10 dates x (put, delete of the lease)
    # = 4 + 2 x (4 + 5 + 2 x 14) + 10 x 2 = 98
    assert cost["Step Functions"] == pytest.approx(98 / 1000 * 0.025)


def test_today_backfill_pays_each_date_as_a_nightly_run() -> None:
    # GIVEN ten dates backfilled one execution per date
    cost = backfill_cost(10, 0, DEPLOYMENT, prices=PRICES, workload=WORKLOAD)
    # THEN ten transform runs at the minimum, twenty crawls, and 2 + 10 x (2 + 32) states
    assert cost["Glue transform job"] == pytest.approx(10 * 2 * 60 / 3600 * 0.36)
    assert cost["Glue crawlers"] == pytest.approx(20 * 2 * 600 / 3600 * 0.36)
    assert backfill_transitions(10, 120, 30) == 384
    assert cost["Step Functions"] == pytest.approx(384 / 1000 * 0.025)


@pytest.mark.parametrize(("record", "billed"), [(1, 5120), (930, 5120), (5120, 5120),
                                                (5121, 10240), (12 * 1024, 15 * 1024)])
def test_firehose_rounds_each_record_up_to_5_kb(record: int, billed: int) -> None:
    assert firehose_billed_bytes(3, record, 5120) == 3 * billed


def test_glue_minimum_and_per_second_billing() -> None:
    assert glue_run_cost(2, 1, PRICES) == glue_run_cost(2, 60, PRICES)
    assert glue_run_cost(2, 90, PRICES) == pytest.approx(2 * 90 / 3600 * 0.36)


def _successors(state: dict) -> set[str]:
    nxt = {state[k] for k in ("Next", "Default") if k in state}
    return nxt | {c["Next"] for c in state.get("Choices", [])}


@pytest.mark.parametrize("scheduled", [True, False])
@pytest.mark.parametrize("polls", [1, 4])
def test_counted_path_is_a_real_path_through_the_deployed_definition(
        scheduled: bool, polls: int) -> None:
    # GIVEN the nightly definition the stack deploys
    asl = json.loads(NIGHTLY_ASL.read_text(encoding="utf-8"))
    states = asl["States"]
    # WHEN the model lists the states a successful execution enters
    path = nightly_happy_path(polls, polls, scheduled=scheduled)
    # THEN it starts at StartAt, each step is a Next/Choice/Default edge, and it ends in Succeed
    assert path[0] == asl["StartAt"]
    for here, there in itertools.pairwise(path):
        assert there in _successors(states[here]), (here, there)
    assert states[path[-1]]["Type"] == "Succeed"
    # and every Task on it has no retry counted (happy path), only the ones the file has
    assert {s for s in path if states[s]["Type"] == "Task"} == {
        "AcquireDateLease", "StartRawCrawler", "GetRawCrawler", "RunTransformJob",
        "StartTransformCrawler", "GetTransformCrawler", "RunBulkImport", "ReleaseDateLease"}


@pytest.mark.parametrize("polls", [1, 4])
def test_counted_range_path_is_a_real_path_through_the_backfill_definition(polls: int) -> None:
    # GIVEN the backfill definition the stack deploys and the path the model counts
    asl = json.loads(BACKFILL_ASL.read_text(encoding="utf-8"))
    top = asl["States"]
    chunk = top["RunEachChunk"]["ItemProcessor"]
    # THEN the top-level path follows the file: HasReplace -> ... -> a Succeed state
    assert RANGE_TOP_PATH[0] == asl["StartAt"]
    for here, there in itertools.pairwise(RANGE_TOP_PATH):
        assert there in _successors(top[here]), (here, there)
    assert top[RANGE_TOP_PATH[-1]]["Type"] == "Succeed"
    # AND the chunk path follows the ItemProcessor from its StartAt to an End
    path = range_chunk_happy_path(polls, polls)
    assert path[0] == chunk["StartAt"]
    for here, there in itertools.pairwise(path):
        assert there in _successors(chunk["States"][here]), (here, there)
    assert chunk["States"][path[-1]].get("End") is True
    # AND the lease Maps' per-date states follow their ItemProcessors, which end there
    acquire = chunk["States"]["AcquireChunkLeases"]["ItemProcessor"]
    release = chunk["States"]["ReleaseChunkLeases"]["ItemProcessor"]
    assert [acquire["StartAt"], release["StartAt"]] == RANGE_LEASE_PER_DATE
    assert acquire["States"][acquire["StartAt"]].get("End") is True
    assert release["States"][release["StartAt"]].get("End") is True
    # AND its length is what range_transitions counts per chunk (two crawls), plus the
    # per-date lease states
    crawl_s = polls * 30
    for dates in (1, 7):
        assert len(path) + dates * len(RANGE_LEASE_PER_DATE) == range_transitions(
            1, 2, crawl_s, 30, dates=dates) - len(RANGE_TOP_PATH)


def test_nightly_transitions_follow_the_poll_wait() -> None:
    # (ResolveReplace, DefaultReplace, PrepareLease, AcquireDateLease and ReleaseDateLease
    # are 5 of the fixed states)
    assert nightly_transitions(120, 30) == 14 + 2 * 4 * 3
    assert nightly_transitions(121, 30) == 14 + 2 * 5 * 3
    assert nightly_transitions(5, 30, scheduled=False) == 13 + 2 * 1 * 3
    assert range_transitions(1, 0, 120, 30) == 4 + 4 + 5
    assert range_transitions(1, 0, 120, 30, dates=3) == 4 + 4 + 5 + 3 * 2


def test_deployment_is_read_from_the_environment_and_definitions() -> None:
    # GIVEN the dev and prod environments
    dev, prod = deployment_from_env(env_config("dev")), deployment_from_env(env_config("prod"))
    # THEN the sizes are the stack's
    assert (dev.transform_dpu, dev.load_dpu, dev.redshift_base_rpu) == (2, 2, 8)
    assert dev.ingest_invocations_per_day == 288 and dev.ingest_memory_gb == 1.0
    assert (dev.crawl_poll_s, dev.map_concurrency) == (30, 2)
    assert prod.transform_dpu == 4


users = st.integers(min_value=0, max_value=5_000_000)


@given(a=users, b=users)
def test_a_bigger_day_never_costs_less(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert sum(daily_cost(lo, DEPLOYMENT).values()) <= sum(daily_cost(hi, DEPLOYMENT).values())


@given(u=users, days=st.integers(min_value=1, max_value=400))
def test_bigger_chunks_never_cost_more_per_day(u: int, days: int) -> None:
    # GIVEN a backfill priced today's way and in range mode with chunks of 7 and 30
    costs = [backfill_cost(days, u, DEPLOYMENT, chunk=c) for c in (None, 7, 30)]
    today, by7, by30 = (sum(c.values()) for c in costs)
    # THEN bigger chunks are no dearer
    assert by30 <= by7 + 1e-12
    if days > 1:  # AND range mode is cheaper than one execution per date
        assert by7 <= today + 1e-12
    else:  # (one date: the same Glue work; the chunk's lease Maps cost a transition more)
        without_sfn = [sum(v for k, v in c.items() if k != "Step Functions") for c in costs]
        assert without_sfn[1] == pytest.approx(without_sfn[0])
        assert by7 - today <= 2 * Prices().sfn_per_1k_transitions / 1000  # <= 2 transitions


@given(u=users, days=st.integers(min_value=1, max_value=399))
def test_a_longer_backfill_never_costs_less(u: int, days: int) -> None:
    for chunk in (None, 7, 30):
        shorter = sum(backfill_cost(days, u, DEPLOYMENT, chunk=chunk).values())
        longer = sum(backfill_cost(days + 1, u, DEPLOYMENT, chunk=chunk).values())
        assert shorter <= longer


@given(bad=st.integers(max_value=-1))
def test_negative_users_are_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="users"):
        daily_cost(bad, DEPLOYMENT)
    with pytest.raises(ValueError, match="users"):
        backfill_cost(1, bad, DEPLOYMENT)


@pytest.mark.parametrize(("days", "chunk"), [(0, None), (1, 0), (5, -3)])
def test_empty_backfills_and_chunks_are_refused(days: int, chunk: int | None) -> None:
    with pytest.raises(ValueError):
        backfill_cost(days, 100, DEPLOYMENT, chunk=chunk)


def test_cli_prints_tables_and_refuses_an_unknown_environment(
        capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the tables are printed as Markdown
    assert main(["--markdown"]) == 0
    out = capsys.readouterr().out
    # THEN the three sizes and the three backfill modes are there
    for text in ("1,000,000 users/day", "per date (today)", "range, chunk 30", "| **total** |"):
        assert text in out
    # WHEN the environment is unknown THEN one line and exit code 2
    assert main(["--env", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown environment" in err


def test_the_doc_carries_the_tables_the_model_prints() -> None:
    # GIVEN the tables the model prints for dev
    printed = report(deployment_from_env(env_config("dev")), markdown=True)
    tables = [block for block in printed.split("\n\n") if "|" in block]
    # THEN docs/reference/cost-model.md shows each of them as printed
    # (rerun --markdown after a change)
    doc_path = NIGHTLY_ASL.parents[1] / "docs" / "reference" / "cost-model.md"
    doc = doc_path.read_text(encoding="utf-8")
    assert len(tables) == 4
    for block in tables:
        table = "\n".join(line for line in block.splitlines() if line.startswith("|"))
        if "NAT gateway" in table:
            continue  # the standing cost is quoted in prose, not as a table
        assert table in doc


def test_a_one_pass_transform_pays_its_fixed_work_once_per_run() -> None:
    # GIVEN a transform whose first date costs 15 s and each further date 3 s
    work = GlueWork(startup_s=40, per_date_s=15, per_million_users_s=20, per_extra_date_s=3)
    # THEN a nightly run is start-up + one date, a chunk of 7 adds 6 x 3 s, users scale
    assert work.seconds(1, 0) == 55
    assert work.seconds(7, 0) == 40 + 15 + 6 * 3
    assert work.seconds(7, 1_000_000) == 40 + 15 + 6 * 3 + 7 * 20
    # AND without per_extra_date_s every date costs per_date_s (the import's transactions)
    assert GlueWork(60, 10, 30).seconds(7, 0) == 60 + 7 * 10
