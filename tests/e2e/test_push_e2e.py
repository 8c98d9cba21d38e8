"""Pushed users through the nightly run, the way a user drives it: the local stack serves
the push API, `udp push` posts a file, the push path's Firehose twin writes the raw layer,
`udp run` takes them through the unchanged state machine to the transform layer and the
warehouse, `udp query` / `udp warehouse sql` find them, and `udp get` / GET answer the
same minimised values the warehouse holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_aws.cloud import LocalCloud
from local_aws.processes import running_push_server
from local_aws.user_api.server import generate_user
from push_api.client import get_user
from udp_cli.cli import main

pytestmark = pytest.mark.slow

COMPARED = ("gender", "nationality", "birth_year", "email_domain", "email_hash",
            "phone_masked", "city", "country", "postcode", "tz_offset_minutes")


def _json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_pushed_users_reach_the_warehouse_and_the_lookup_agrees(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    cli = ["--state-dir", str(state)]
    users = [generate_user("push-e2e", 1, i) for i in range(150)]
    ids = {u["login"]["uuid"] for u in users}
    first, again = tmp_path / "users.ndjson", tmp_path / "again.json"
    first.write_text("".join(json.dumps(u) + "\n" for u in users))
    again.write_text(json.dumps(users[:50]))
    # GIVEN the local stack serving the push API (as `udp serve` does)
    with LocalCloud(state) as cloud:
        push = cloud.start_push()
        assert running_push_server(state) is not None
        # (its Firehose writes through the cloud's one S3 twin)
        assert push.firehose.s3 is cloud.s3
        # WHEN a partner pushes 150 users as NDJSON, then 50 of them again as a JSON array
        # (a client retrying would), with `udp push`
        assert main([*cli, "push", str(first)]) == 0
        assert "sent 150, accepted 150, rejected 0" in capsys.readouterr().out
        assert main([*cli, "push", str(again)]) == 0
        assert "sent 50, accepted 50, rejected 0" in capsys.readouterr().out
        # AND Firehose and the consumer have read the stream
        push.drain()
        looked_up = {i: get_user(push.url, i, push.api_key) for i in ids}
        one = users[3]["login"]["uuid"]
        assert main([*cli, "get", one, "--format", "json"]) == 0
        via_cli = _json_out(capsys)
    # (closing the stack stops the push server: Firehose writes its buffer)
    assert running_push_server(state) is None
    day = datetime.now(UTC).date().isoformat()
    # WHEN the nightly state machine runs for the day with `udp run`
    assert main([*cli, "run", "--date", day]) == 0, capsys.readouterr().err
    assert "SUCCEEDED" in capsys.readouterr().out
    # THEN `udp query` finds every pushed user in the transform layer, once
    assert main([*cli, "query", "select count(*) as n, count(distinct user_id) as users "
                 f"from users where p_date = '{day}'", "--format", "json"]) == 0
    assert _json_out(capsys) == [{"n": 150, "users": 150}]
    assert main([*cli, "query", f"select user_id from users where p_date = '{day}'",
                 "--format", "json"]) == 0
    assert {r["user_id"] for r in _json_out(capsys)} == ids
    # AND the warehouse holds each once
    cols = ", ".join(("user_id", *COMPARED))
    assert main([*cli, "warehouse", "sql", f"select {cols} from analytics.users "
                 f"where p_date = '{day}'", "--format", "json"]) == 0
    rows = _json_out(capsys)
    assert {r["user_id"] for r in rows} == ids and len(rows) == 150
    # AND GET answered, for each, what the warehouse now holds (and `udp get` the same)
    for row in rows:
        status, answer = looked_up[row["user_id"]]
        assert status == 200
        assert {c: answer[c] for c in COMPARED} == {c: row[c] for c in COMPARED}, row
    assert via_cli == looked_up[one][1]
