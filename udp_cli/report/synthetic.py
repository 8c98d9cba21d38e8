"""A synthetic state folder with many days of history, shaped as the pipeline writes it.

Used by the browser test and ``bench/report.py``: run records in the executor's event
format (stage by stage, a retried load, a transform that fails a DQ rule and is rerun),
each with its date's row made from the ``run_outcomes`` records its jobs would have
written (``contracts.run_outcomes``), ingest error lines with reason codes, raw Parquet
partitions and ``dq_results`` partitions. Deterministic for a given seed; no Spark, no
warehouse needed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["SyntheticDay", "write_synthetic_state"]

_REASONS = ("bad_type", "bad_timestamp", "missing_required", "bad_uuid")
_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("users", "user_id not null", "NotNull", "0"),
    ("users", "user_id unique", "Unique", "0"),
    ("users", "fetched_at not null", "NotNull", "0"),
    ("users", "age in [0, 130]", "InRange", "0"),
    ("users", "latitude in [-90, 90]", "InRange", "0"),
    ("users", "longitude in [-180, 180]", "InRange", "0"),
    ("users", "tz_offset_minutes in [-720, 840]", "InRange", "0"),
    ("users", "row count >= 1", "RowCountAtLeast", ">= 1"),
    ("users", "row count within 50% of trailing 7-day average", "RowCountNearTrailing", "±50%"),
    ("user_locations", "user_id not null", "NotNull", "0"),
    ("user_locations", "user_id unique", "Unique", "0"),
    ("user_locations", "row count >= 1", "RowCountAtLeast", ">= 1"),
    ("daily_user_counts", "country, gender, age_band unique", "Unique", "0"),
    ("daily_user_counts", "row count >= 1", "RowCountAtLeast", ">= 1"),
)
# What a crawler's GetCrawler answer adds to the state data (the real records carry it
# through every later state, which is most of a run file's size).
_CRAWLER = {"Name": "udp-raw-crawler", "Role": "arn:aws:iam::000000000000:role/local",
            "DatabaseName": "udp_raw", "Targets": {"S3Targets": [
                {"Path": "s3://udp-lake/raw/user_data/"}]},
            "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
            "Configuration": json.dumps({"CrawlerOutput": {"Partitions": {
                "AddOrUpdateBehavior": "InheritFromTable"}}, "Version": 1.0}),
            "State": "READY", "LastCrawl": {"Status": "SUCCEEDED",
                                            "LogGroup": "/aws-glue/crawlers"}}


@dataclass(frozen=True)
class SyntheticDay:
    """What happened on one day: ``outcome`` is ``ok``, ``retry`` (the load is retried
    once, then succeeds), ``fail`` (a DQ breach fails the transform) or
    ``fail_then_rerun`` (the same, then a second run six hours later succeeds)."""

    p_date: str
    outcome: str = "ok"


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Run:
    def __init__(self, run_id: str, p_date: str, start: datetime) -> None:
        self.run_id, self.p_date, self.t = run_id, p_date, start
        self.start = start
        self.data: dict[str, Any] = {"p_date": p_date}
        self.events: list[dict[str, Any]] = []

    def ev(self, kind: str, state: str | None, **details: Any) -> None:
        self.events.append({"timestamp": _iso(self.t), "type": kind, "state": state, **details})

    def tick(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def task(self, state: str, resource: str, seconds: float, output: Any = None, *,
             fail: tuple[str, str] | None = None, retry_first: str | None = None) -> bool:
        self.ev("StateEntered", state, input=self.data)
        if retry_first:
            self.ev("TaskScheduled", state, resource=resource)
            self.tick(seconds / 3)
            self.ev("TaskFailed", state, resource=resource, error=retry_first,
                    cause="Max concurrent runs exceeded")
            self.ev("RetryScheduled", state, error=retry_first, attempt=1, delay=60)
            self.tick(60)
        self.ev("TaskScheduled", state, resource=resource)
        self.tick(seconds)
        if fail:
            self.ev("TaskFailed", state, resource=resource, error=fail[0], cause=fail[1])
            self.ev("CatchTaken", state, error=fail[0], cause=fail[1], next="Failed")
            return False
        self.ev("TaskSucceeded", state, resource=resource, output=output)
        self.ev("StateExited", state, output=self.data)
        self.tick(0.01)
        return True

    def wait(self, state: str, seconds: float) -> None:
        self.ev("StateEntered", state, input=self.data)
        self.ev("WaitStarted", state, seconds=seconds)
        self.tick(seconds)
        self.ev("StateExited", state, output=self.data)

    def passing(self, state: str) -> None:
        self.ev("StateEntered", state, input=self.data)
        self.tick(0.002)
        self.ev("StateExited", state, output=self.data)


def _record(run: _Run, status: str, *, failed_state: str | None = None,
            error: str | None = None, cause: str | None = None) -> dict[str, Any]:
    return {"run_id": run.run_id, "name": "state-machine", "label": run.p_date,
            "status": status, "started_at": _iso(run.start), "stopped_at": _iso(run.t),
            "input": {"p_date": run.p_date}, "output": run.data if status == "SUCCEEDED" else None,
            "failed_state": failed_state, "error": error, "cause": cause,
            "events": run.events, "host": "synthetic", "pid": None}


def _with_date_row(record: dict[str, Any], outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """``record`` with its date's row, made from its jobs' ``run_outcomes`` records."""
    from contracts.run_outcomes import date_rows

    seconds = (datetime.fromisoformat(record["stopped_at"].replace("Z", "+00:00"))
               - datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")))
    record["dates"] = date_rows(
        [record["label"]], record["run_id"], outcomes, status=record["status"],
        failed_state=record["failed_state"], error=record["error"], cause=record["cause"],
        seconds=seconds.total_seconds())
    return record


def _one_run(p_date: str, run_id: str, start: datetime, rng: random.Random, *, users: int,
             raw_rows: int, dq: list[dict[str, Any]], breach: bool,
             retry_load: bool, job_id: str) -> dict[str, Any]:
    from contracts.run_outcomes import LOAD, TRANSFORM, outcome_record

    run = _Run(run_id, p_date, start)
    glue_sync = "arn:aws:states:::glue:startJobRun.sync"
    sdk = "arn:aws:states:::aws-sdk:glue:"
    run.ev("ExecutionStarted", None, input={"p_date": p_date})
    run.passing("ResolvePDate")
    run.task("StartRawCrawler", sdk + "startCrawler", 0.3)
    run.wait("WaitForRawCrawler", 30)
    run.task("GetRawCrawler", sdk + "getCrawler", 0.2, {"Crawler": _CRAWLER})
    run.data = {**run.data, "raw_crawler": {"Crawler": _CRAWLER}}
    run.passing("IsRawCrawlerReady")
    transform_id = f"jr_{rng.getrandbits(64):016x}"
    if breach:
        cause = ("DataQualityBreach: users: row count within 50% of trailing 7-day average: "
                 f"{users} rows vs trailing average {users * 3}")
        run.task("RunTransformJob", glue_sync, rng.uniform(150, 200), fail=("States.TaskFailed",
                                                                            cause))
        run.passing("TransformFailed")
        run.passing("BuildFailureMessage")
        run.task("NotifyFailure", "arn:aws:states:::sns:publish", 0.2, {"MessageId": "m-1"})
        run.ev("StateEntered", "PipelineFailed", input=run.data)
        run.ev("ExecutionFailed", "PipelineFailed", error="States.TaskFailed", cause=cause)
        failed = outcome_record(p_date=p_date, run_key=run_id, stage=TRANSFORM,
                                status="FAILED", finished_at=run.t, stage_run_id=job_id,
                                error="DQBreach", cause=cause, dq_passed=False)
        return _with_date_row(_record(run, "FAILED", failed_state="RunTransformJob",
                                      error="States.TaskFailed", cause=cause), [failed])
    transform_start = run.t
    run.task("RunTransformJob", glue_sync, rng.uniform(180, 260), {
        "Id": transform_id, "JobRunState": "SUCCEEDED",
        "Output": {"p_date": p_date, "run_id": transform_id, "rows_read": raw_rows,
                   "rows_written": users, "dq": dq}})
    transform_end = run.t
    run.task("StartTransformCrawler", sdk + "startCrawler", 0.3)
    run.wait("WaitForTransformCrawler", 30)
    run.task("GetTransformCrawler", sdk + "getCrawler", 0.2, {"Crawler": _CRAWLER})
    load_start = run.t + timedelta(seconds=8 + (80 if retry_load else 0))
    load_end = load_start + timedelta(seconds=rng.uniform(1.5, 4.0))
    load_seconds = rng.uniform(25, 45)
    load_run = f"jr_{rng.getrandbits(64):016x}"
    load_id = f"{p_date}-{rng.getrandbits(48):012x}"
    run.task("RunBulkImport", glue_sync, load_seconds, {
        "Id": load_run, "JobRunState": "SUCCEEDED",
        "Output": {"load_id": load_id, "p_date": p_date,
                   "status": "succeeded", "rows_staged": users, "rows_inserted": users,
                   "rows_updated": 0, "started_at": load_start.isoformat(),
                   "finished_at": load_end.isoformat(), "error": None, "table": "users"}},
        retry_first="Glue.ConcurrentRunsExceededException" if retry_load else None)
    run.ev("StateEntered", "PipelineSucceeded", input=run.data)
    run.ev("ExecutionSucceeded", None, output=run.data)
    outcomes = [
        outcome_record(p_date=p_date, run_key=run_id, stage=TRANSFORM, status="SUCCEEDED",
                       started_at=transform_start, finished_at=transform_end,
                       stage_run_id=job_id, rows_read=raw_rows, rows_written=users,
                       dq_passed=True),
        outcome_record(p_date=p_date, run_key=run_id, stage=LOAD, status="SUCCEEDED",
                       started_at=load_start, finished_at=load_end, stage_run_id=load_id,
                       rows_read=users, rows_written=users)]
    return _with_date_row(_record(run, "SUCCEEDED"), outcomes)


def _dq_rows(run_id: str, users: int, at: datetime, *, breach: bool) -> list[dict[str, Any]]:
    rows = []
    for table, rule, rule_type, allowed in _RULES:
        counted = rule_type.startswith("RowCount")
        failed = breach and rule_type == "RowCountNearTrailing"
        rows.append({"run_id": run_id, "table_name": table, "rule": rule, "rule_type": rule_type,
                     "passed": not failed, "observed": float(users if counted else 0),
                     "allowed": allowed,
                     "message": f"{users} rows" if counted else "0 violations",
                     "run_status": "breach" if breach else "published", "evaluated_at": at})
    return rows


def write_synthetic_state(state_dir: Path, days: list[SyntheticDay], *, seed: int = 7,
                          users_per_day: int = 2200) -> None:
    """Write run history, ingest errors, raw and ``dq_results`` partitions for ``days``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from contracts.tables import DQ_RESULTS, RAW

    rng = random.Random(seed)
    runs_dir = state_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n, day in enumerate(days):
        d = date.fromisoformat(day.p_date)
        start = datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1, hours=2)
        fetched = 3000
        quarantined = {r: rng.randint(0, 30) for r in _REASONS}
        raw_rows = fetched - sum(quarantined.values())
        users = int(users_per_day * rng.uniform(0.9, 1.1))
        errors = state_dir / "s3" / "udp-errors" / "ingest" / f"p_date={day.p_date}"
        errors.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"batch_id": f"b-{n}", "reason": {"code": code, "path": "x",
                                                              "detail": "synthetic"}})
                 for code, count in quarantined.items() for _ in range(count)]
        (errors / f"b-{n}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        raw = state_dir / "s3" / "udp-lake" / RAW.prefix / f"p_date={day.p_date}"
        raw.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"source_page": pa.array(range(raw_rows), pa.int32())}),
                       raw / "part-0.parquet")
        attempts = [(True, False)] if day.outcome in ("fail", "fail_then_rerun") else []
        if day.outcome != "fail":
            attempts.append((False, day.outcome == "retry"))
        dq_all: list[dict[str, Any]] = []
        for i, (breach, retry) in enumerate(attempts):
            run_start = start + timedelta(hours=6 * i)
            job_id = f"jr_{day.p_date.replace('-', '')}_{i}"
            dq = _dq_rows(job_id, users // 3 if breach else users,
                          run_start + timedelta(seconds=150), breach=breach)
            dq_all.extend(dq)
            record = _one_run(day.p_date, f"{run_start:%Y%m%dT%H%M%S}-{n:04d}{i}", run_start,
                              random.Random(seed * 1000 + n * 10 + i),
                              users=users // 3 if breach else users, raw_rows=raw_rows,
                              dq=[{k: v for k, v in r.items()
                                   if k not in ("run_id", "run_status", "evaluated_at")}
                                  for r in dq], breach=breach, retry_load=retry,
                              job_id=job_id)
            if not breach:  # the job reports its own run id; make the rows match it
                record["events"] = _with_transform_id(record["events"], job_id)
            (runs_dir / f"{record['run_id']}.json").write_text(json.dumps(record, indent=1),
                                                               encoding="utf-8")
        dq_dir = state_dir / "s3" / "udp-lake" / DQ_RESULTS.prefix / f"p_date={day.p_date}"
        dq_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(dq_all, schema=DQ_RESULTS.arrow_schema()),
                       dq_dir / "part-0.parquet")


def _with_transform_id(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    for ev in events:
        out = ev.get("output")
        if ev["type"] == "TaskSucceeded" and isinstance(out, dict) and "rows_read" in out.get(
                "Output", {}):
            out["Id"] = job_id
            out["Output"]["run_id"] = job_id
    return events
