"""The right to erasure, end to end: users who arrived by pull and by push, in raw, the
quarantine, the transform layer, the warehouse and the push path's DynamoDB table are
erased with `udp erase`; a byte scan of the whole state folder then finds none of their
ids, e-mails, names or phones, nor after every affected day is rerun and backfilled; and
a partner pushing one of them again is refused."""

from __future__ import annotations

import copy
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from local_aws.cloud import LocalCloud
from local_aws.user_api.server import generate_user
from udp_cli.cli import main

pytestmark = pytest.mark.slow


def _values(user: dict[str, Any]) -> list[str]:
    return [user["login"]["uuid"], user["email"], user["phone"], user["cell"],
            f"{user['name']['first']} {user['name']['last']}"]


def _texts(path: Path) -> list[bytes]:
    """A file's bytes, and for Parquet each row's strings too (its pages are
    compressed, so its bytes alone could hide a value)."""
    body = path.read_bytes()
    out = [body]
    if body[:4] == b"PAR1" and body[-4:] == b"PAR1":
        for row in pq.read_table(io.BytesIO(body)).to_pylist():
            out.append(json.dumps(row, default=str, ensure_ascii=False).encode())
    return out


NAME_SPAN = 200
"""Bytes within which a first and a last name count as one person's name: in a JSON
record, a log line or a row they sit side by side; a file of many users holds other
people's first and last names far apart."""


def _near(text: bytes, first: bytes, last: bytes) -> bool:
    """Whether ``first`` and ``last`` occur within :data:`NAME_SPAN` bytes of each other."""
    at = text.find(first)
    while at != -1:
        window = text[max(0, at - NAME_SPAN):at + len(first) + NAME_SPAN]
        if last in window:
            return True
        at = text.find(first, at + 1)
    return False


def _found(state: Path, users: list[dict[str, Any]]) -> list[str]:
    """``path: value`` for every erased user's value anywhere under ``state``. A name
    counts as found when its first and last names are near each other in a file's bytes,
or in one row of a Parquet file.

    ``tmp/`` is left out only where it is this test process's own scratch (its Spark's
    shuffle files from runs before the erasure: every ``udp`` command is a process of
    its own, and the next one to start deletes a dead process's scratch); any other
    scratch is scanned."""
    own = {f"spark-{os.getpid()}", f"athena-{os.getpid()}"}
    needles = []
    for user in users:
        needles += [v.encode() for v in _values(user)[:4]]
        needles += [json.dumps(v).encode() for v in _values(user)[:4]]
    hits = []
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        parts = path.relative_to(state).parts
        if parts[0] == "tmp" and len(parts) > 1 and parts[1] in own:
            continue
        texts = _texts(path)
        for i, text in enumerate(texts):
            hits += [f"{path.relative_to(state)}: {n.decode()}" for n in needles if n in text]
            if i == 0 and len(texts) > 1:
                continue  # a Parquet file's names are checked row by row, not across columns
            for user in users:
                first, last = (user["name"][k].encode() for k in ("first", "last"))
                if len(first) > 3 and len(last) > 3 and _near(text, first, last):
                    hits.append(f"{path.relative_to(state)}: name of {user['login']['uuid']}")
    return sorted(set(hits))


def _page(users: list[dict[str, Any]], seed: str) -> dict[str, Any]:
    return {"results": users, "info": {"seed": seed, "results": len(users), "page": 1,
                                       "version": "1.4"}}


def test_erased_users_are_gone_from_every_layer_and_stay_gone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    cli = ["--state-dir", str(state)]
    today = datetime.now(UTC).date()
    d1, d2 = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=1)).isoformat()
    pulled = [generate_user("erase-e2e", 1, i) for i in range(40)]
    pushed = [generate_user("erase-push", 1, i) for i in range(30)]
    erased_pull, erased_push = pulled[5], pushed[7]
    broken = copy.deepcopy(erased_pull)
    broken["dob"] = "not a date of birth"  # quarantined on day 2
    # GIVEN two days pulled (replays of saved pages), one user quarantined on day 2
    (tmp_path / "d1.json").write_text(json.dumps(_page(pulled[:30], "d1")))
    (tmp_path / "d2.json").write_text(json.dumps(_page([*pulled[25:], broken], "d2")))
    for day, name in ((d1, "d1.json"), (d2, "d2.json")):
        assert main([*cli, "ingest", "--replay", str(tmp_path / name), "--date", day]) == 0
    # AND users pushed by a partner today
    (tmp_path / "push.json").write_text(json.dumps(pushed))
    with LocalCloud(state) as cloud:
        push = cloud.start_push()
        assert main([*cli, "push", str(tmp_path / "push.json")]) == 0
        push.drain()
    # AND every day run through to the warehouse
    days = [d1, d2, today.isoformat()]
    for day in days:
        assert main([*cli, "run", "--date", day]) == 0, capsys.readouterr().err
    capsys.readouterr()
    users = [erased_pull, erased_push]
    ids = [u["login"]["uuid"] for u in users]
    before = _found(state, users)
    for layer in ("raw/", "transform/", "udp-errors/", "warehouse/", "push/users.jsonl"):
        assert any(layer in hit for hit in before), (layer, before)

    # WHEN both are erased (one on the command line, one from a file)
    (tmp_path / "ids.txt").write_text(f"# request 1\n{ids[1]}\n")
    assert main([*cli, "erase", ids[0], "--from-file", str(tmp_path / "ids.txt")]) == 0, \
        capsys.readouterr().err
    out = capsys.readouterr().out
    assert "2 user(s)" in out and not any(i in out for i in ids)
    # THEN no byte of the state folder holds any of their values
    assert _found(state, users) == [], out
    # AND the verify finds none, layer by layer
    for uid in ids:
        assert main([*cli, "erase", "--verify", uid, "--format", "json"]) == 0
        counts = json.loads(capsys.readouterr().out)["occurrences"]
        assert set(counts) >= {"raw", "transform", "quarantine", "warehouse"}
        assert sum(counts.values()) == 0, counts
    # AND the others are still there
    assert main([*cli, "query", "select count(distinct user_id) as n from users",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 40 + 30 - 2}]

    # WHEN every affected day is rerun, and backfilled
    for day in days:
        assert main([*cli, "run", "--date", day, "--replace"]) == 0
    assert main([*cli, "backfill", "--from", d1, "--to", today.isoformat(), "--force"]) == 0
    capsys.readouterr()
    # THEN they are still gone
    assert _found(state, users) == []

    # WHEN the partner pushes the erased user again
    (tmp_path / "again.json").write_text(json.dumps([erased_push, pushed[0]]))
    with LocalCloud(state) as cloud:
        cloud.start_push()
        main([*cli, "push", str(tmp_path / "again.json")])
        out = capsys.readouterr().out
    # THEN `udp push` lists it as refused, erased
    assert "rejected 1" in out and "erased" in out, out


def test_an_erasure_leaves_a_day_another_run_holds_and_a_rerun_finishes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    cli = ["--state-dir", str(state)]
    day = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    users = [generate_user("erase-lease", 1, i) for i in range(12)]
    (tmp_path / "d.json").write_text(json.dumps(_page(users, "d")))
    assert main([*cli, "ingest", "--replay", str(tmp_path / "d.json"), "--date", day]) == 0
    assert main([*cli, "run", "--date", day]) == 0
    uid = users[2]["login"]["uuid"]
    # GIVEN another run holding the day's lease
    with LocalCloud(state) as cloud:
        cloud.dynamodb.put_item(**{"TableName": cloud.cfg.lease_table, "Item": {
            "p_date": {"S": day}, "holder": {"S": "other-run"},
            "started_at": {"S": "now"}, "expires_at": {"N": "99999999999999"}}})
    capsys.readouterr()
    # WHEN the user is erased: the day is left alone, and the command says to rerun
    assert main([*cli, "erase", uid]) == 75
    assert "run the same `udp erase` again" in capsys.readouterr().err
    assert main([*cli, "status"]) == 0
    assert "erasures: 1 requested, 0 completed, 1 pending" in capsys.readouterr().out
    with LocalCloud(state) as cloud:
        cloud.dynamodb.delete_item(**{"TableName": cloud.cfg.lease_table,
                                    "Key": {"p_date": {"S": day}}})
    # THEN once the day is free, the same command finishes the erasure
    assert main([*cli, "erase", uid]) == 0
    capsys.readouterr()
    assert _found(state, [users[2]]) == []
    assert main([*cli, "erase", "--verify", uid]) == 0
    assert main([*cli, "status"]) == 0
    assert "erasures: 1 requested, 1 completed, 0 pending" in capsys.readouterr().out
