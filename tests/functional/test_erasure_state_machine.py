"""The erasure state machine (orchestration/erasure.asl.json) in the local executor, its
Glue tasks running the erasure job's steps (glue_jobs/erasure_steps.py) on the twins:
users in a transformed day, in a day ingested but never transformed, in the quarantine
and the warehouse are erased and the verify step proves it; a value left behind fails
the execution as ErasureNotVerified; a day another run holds is waited for, then the
execution fails naming it, with nothing of that day touched."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from local_aws.cloud import LocalCloud
from local_aws.user_api.server import generate_user
from udp_cli.cli import main

pytestmark = pytest.mark.slow


def _page(users: list[dict[str, Any]], seed: str) -> dict[str, Any]:
    return {"results": users, "info": {"seed": seed, "results": len(users), "page": 1,
                                       "version": "1.4"}}


def _values(user: dict[str, Any]) -> list[bytes]:
    return [v.encode() for v in (user["login"]["uuid"], user["email"], user["phone"],
                                 user["cell"])]


def _found(state: Path, users: list[dict[str, Any]]) -> list[str]:
    """``path: value`` for every value of ``users`` in any file of the state folder's
    S3 buckets, the warehouse or the push path (Parquet decoded row by row too)."""
    hits = []
    for root in ("s3", "warehouse", "push"):
        for path in sorted(p for p in (state / root).rglob("*") if p.is_file()):
            body = path.read_bytes()
            texts = [body]
            if body[:4] == b"PAR1" and body[-4:] == b"PAR1":
                texts += [json.dumps(r, default=str).encode()
                          for r in pq.read_table(io.BytesIO(body)).to_pylist()]
            hits += [f"{path.relative_to(state)}: {v.decode()}" for t in texts
                     for u in users for v in _values(u) if v in t]
    return sorted(set(hits))


def _ingest(tmp_path: Path, cli: list[str], day: str, users: list[dict[str, Any]]) -> None:
    page = tmp_path / f"{day}.json"
    page.write_text(json.dumps(_page(users, day)))
    assert main([*cli, "ingest", "--replay", str(page), "--date", day]) == 0


def test_the_state_machine_erases_every_layer_and_its_last_step_proves_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    cli = ["--state-dir", str(state)]
    today = datetime.now(UTC).date()
    d1, d2 = (today - timedelta(days=3)).isoformat(), (today - timedelta(days=2)).isoformat()
    users = [generate_user("erase-sfn", 1, i) for i in range(30)]
    # erased users whose e-mail nobody else has (generated e-mails repeat with names,
    # and the verify cannot tell one holder of an e-mail from another)
    emails = [u["email"] for u in users]
    unique = [i for i, e in enumerate(emails) if emails.count(e) == 1]
    first, second = [i for i in unique if i < 15][:2]
    in_d1, only_raw, quarantined = users[first], users[unique[-1]], users[second]
    broken = copy.deepcopy(quarantined)
    broken["dob"] = "not a date of birth"  # quarantined on day 1
    # GIVEN day 1 run to the warehouse, and day 2 ingested but never transformed
    _ingest(tmp_path, cli, d1, [*users[:15], broken])
    _ingest(tmp_path, cli, d2, users[15:])
    assert main([*cli, "run", "--date", d1]) == 0, capsys.readouterr().err
    erased = [in_d1, only_raw, quarantined]
    before = _found(state, erased)
    for where in ("raw/user_data/p_date=" + d1, "raw/user_data/p_date=" + d2, "transform/",
                  "udp-errors/", "warehouse/"):
        assert any(where in hit for hit in before), (where, before)
    assert not (state / "s3" / "udp-lake" / "transform" / "users" / "_versions" / d2).exists()

    # WHEN the erasure state machine runs for them in the local executor
    with LocalCloud(state) as cloud:
        result = cloud.erasure().executor().run(
            {"user_ids": [u["login"]["uuid"] for u in erased]})
        # THEN it succeeded, its last step a verify that found nothing
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        assert result.output["verification"]["doc"]["found"] == 0
        layers = result.output["verification"]["doc"]["layers"]
        assert set(layers) >= {"raw", "transform", "quarantine", "warehouse", "dynamodb"}
        # AND both days were erased, the never-transformed one without a republish
        assert result.output["plan"]["doc"]["days"] == [
            {"p_date": d1, "republish": True}, {"p_date": d2, "republish": False}]
        assert not any(u["login"]["uuid"] in json.dumps(result.output["plan"]) for u in erased)
    # AND no byte of the lake, the warehouse or the push path holds their values
    assert _found(state, erased) == []
    kept = [u for u in users if u not in erased and u["email"] not in
            {e["email"] for e in erased}]
    assert _found(state, kept[:1]) != [] and _found(state, kept[-1:]) != []  # still there
    assert main([*cli, "status"]) == 0
    assert "erasures: 3 requested, 3 completed, 0 pending" in capsys.readouterr().out


def test_a_value_left_behind_fails_the_execution_as_not_verified(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cli = ["--state-dir", str(state)]
    day = (datetime.now(UTC).date() - timedelta(days=4)).isoformat()
    users = [generate_user("erase-sfn-left", 1, i) for i in range(8)]
    _ingest(tmp_path, cli, day, users)
    late = json.dumps({"record": users[1]}).encode()
    with LocalCloud(state) as cloud:
        erasure = cloud.erasure()
        registry = erasure.task_registry()
        job = registry.get("arn:aws:states:::glue:startJobRun.sync")

        def job_then_late_copy(params: dict[str, Any]) -> Any:
            # GIVEN a copy of the user landing in the error bucket after the quarantine
            # was filtered (as a delivery failure could write it)
            if params["Arguments"]["--step"] == "verify":
                cloud.s3.put_object(Bucket=cloud.cfg.errors_bucket, Key="late/1.json",
                                    Body=late)
            return job(params)

        registry.register("arn:aws:states:::glue:startJobRun.sync", job_then_late_copy)
        from local_aws.stepfunctions import AslExecutor
        from orchestration.erasure import load_erasure_definition

        executor = AslExecutor(load_erasure_definition(cloud.cfg), registry)
        # WHEN the erasure runs
        result = executor.run({"user_ids": [users[1]["login"]["uuid"]]})
        # THEN the verify found it and the execution failed, naming the layer, no id
        assert (result.status, result.error) == ("FAILED", "ErasureNotVerified")
        assert '"quarantine":' in (result.cause or "") and "occurrence" in (result.cause or "")
        assert users[1]["login"]["uuid"] not in (result.cause or "")
        assert "udp erasure NOT VERIFIED" in json.dumps(cloud.sns.messages())
        # AND the register still has the user pending
    assert main([*cli, "status"]) == 0


def test_a_day_another_run_holds_is_waited_for_then_named_and_left_untouched(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    cli = ["--state-dir", str(state)]
    day = (datetime.now(UTC).date() - timedelta(days=5)).isoformat()
    users = [generate_user("erase-sfn-held", 1, i) for i in range(8)]
    _ingest(tmp_path, cli, day, users)
    raw = sorted((state / "s3" / "udp-lake" / "raw" / "user_data" / f"p_date={day}").rglob("*"))
    before = {p: p.read_bytes() for p in raw if p.is_file()}
    with LocalCloud(state) as cloud:
        # GIVEN a nightly run holding the day
        cloud.dynamodb.put_item(TableName=cloud.cfg.lease_table, Item={
            "p_date": {"S": day}, "holder": {"S": "arn:nightly"},
            "started_at": {"S": "2026-12-07T01:00:00Z"}, "expires_at": {"N": "99999999999999"}})
        # WHEN the erasure runs (its waits not slept)
        result = cloud.erasure().executor(wait_scale=0).run(
            {"user_ids": [users[2]["login"]["uuid"]]})
    # THEN it failed as DateLeased, naming the day and the holder
    assert (result.status, result.error) == ("FAILED", "DateLeased"), result.cause
    assert day in (result.cause or "") and "arn:nightly" in (result.cause or "")
    # AND the day's raw objects are as they were
    assert {p: p.read_bytes() for p in raw if p.is_file()} == before
