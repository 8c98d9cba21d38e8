"""What `udp push` reports accepted reaches DynamoDB and the raw layer exactly once,
however `udp serve` stops: SIGTERM or Ctrl-C right after the push, or kill -9 and a
restart. Real processes: the server is a child `udp serve`, stopped by a real signal."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from push_api.client import push_file
from tests.functional.test_cli_push import Served, _serve, _users

N = 200


def _push(served: Served, tmp_path: Path) -> set[str]:
    """Push N users (a few made invalid); the ids the API reports accepted."""
    users = _users(N, seed="durable-push")
    for i in (5, 50, 150):
        del users[i]["login"]  # no user id: rejected by the contract
    path = tmp_path / "users.json"
    path.write_text(json.dumps(users))
    key = (served.state / "push" / "api-key").read_text().strip()
    url = json.loads((served.state / "push" / "endpoint.json").read_text())["url"]
    summary = push_file(url, path, key)
    bad = {r["index"] for r in summary.rejected} | {r["index"] for r in summary.undelivered}
    assert bad == {5, 50, 150}, summary.as_dict()
    assert summary.accepted == N - 3
    return {str(u["login"]["uuid"]) for i, u in enumerate(users) if i not in bad}  # type: ignore[index]


def _dynamodb_ids(state: Path) -> list[str]:
    """The users table as the DynamoDB twin keeps it between runs."""
    lines = (state / "push" / "users.jsonl").read_text().splitlines()
    return [json.loads(line)["user_id"]["S"] for line in lines if line.strip()]


def _raw_ids(state: Path) -> list[str]:
    files = sorted((state / "s3").rglob("raw/**/*.parquet"))
    assert files, "no raw objects written"
    ids: list[str] = []
    for f in files:
        ids += [str(login["uuid"]) for login in pq.read_table(f, columns=["login"])
                .column("login").to_pylist()]
    return ids


def _exactly_once(state: Path, accepted: set[str]) -> None:
    raw, dynamo = Counter(_raw_ids(state)), Counter(_dynamodb_ids(state))
    assert set(raw) == accepted and max(raw.values()) == 1, raw - Counter(accepted)
    assert set(dynamo) == accepted and max(dynamo.values()) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_graceful_stop_right_after_the_push_delivers_every_accepted_user(
        tmp_path: Path, sig: signal.Signals) -> None:
    served = _serve(tmp_path / "state", tmp_path / "serve.log")
    try:
        accepted = _push(served, tmp_path)
        assert served.stop(sig) == 0, served.output()
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    _exactly_once(served.state, accepted)
    assert not (served.state / "push" / "stream.log").exists()  # all consumed: compacted


def test_after_kill_9_the_next_start_delivers_every_accepted_user_once(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _serve(state, tmp_path / "serve-1.log")
    try:
        accepted = _push(first, tmp_path)
        first.proc.kill()
        first.proc.wait(timeout=60)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert (state / "push" / "stream.log").is_file()
    second = _serve(state, tmp_path / "serve-2.log")
    try:
        assert second.stop(signal.SIGTERM) == 0, second.output()
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    _exactly_once(state, accepted)
