"""`udp serve`, `udp push FILE|-` and `udp get USER_ID` against the real local push stack
(moto server, the gateway, the Firehose twin and the consumer).

`serve` runs in a child process, as a user runs it, and is stopped by a signal; `push`
and `get` run in this process through `main`, finding the server by its state folder.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_aws.processes import running_push_server
from local_aws.push.endpoint import write_push_endpoint
from local_aws.push.stack import start_push_stack
from local_aws.user_api.server import generate_user
from tests.functional.push_helpers import ThrottlingKinesis
from udp_cli.cli import main

REPO = Path(__file__).resolve().parents[2]
START_S = 120.0  # a loaded 2-core machine imports moto slowly; this is a deadline, not a bound


@dataclass
class Served:
    state: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def _serve(state: Path, log: Path) -> Served:
    """`udp --state-dir STATE serve` in a child process, once its endpoint is recorded."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from udp_cli.cli import main; "
             "sys.exit(main(sys.argv[1:]))", "--state-dir", str(state), "serve"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Served(state, proc, log)
    deadline = time.monotonic() + START_S
    while running_push_server(state) is None or "API key in" not in served.output():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"udp serve did not start (rc {proc.poll()}): {served.output()}")
        time.sleep(0.2)
    return served


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = _serve(tmp_path / "state", tmp_path / "serve.log")
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def _users(n: int, seed: str = "cli-push") -> list[dict[str, object]]:
    return [generate_user(seed, 1, i) for i in range(n)]


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("udp: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def _get_when_consumed(state: Path, user_id: str, capsys: pytest.CaptureFixture[str]
                       ) -> tuple[int, str]:
    """`udp get` until the consumer has written the user (it reads the stream async)."""
    deadline = time.monotonic() + 60
    while True:
        rc = main(["--state-dir", str(state), "get", user_id, "--format", "json"])
        captured = capsys.readouterr()
        if rc != 1 or time.monotonic() > deadline:
            return rc, captured.out
        time.sleep(0.2)


def test_serve_push_get_and_stop_on_sigterm(served: Served, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    state = served.state
    users = _users(30)
    ndjson = tmp_path / "users.ndjson"
    ndjson.write_text("".join(json.dumps(u) + "\n" for u in users))
    # GIVEN `udp serve` running: it printed its URL and where the key is
    endpoint = running_push_server(state)
    assert endpoint is not None and endpoint.pid == served.proc.pid
    assert f"push API on {endpoint.url}" in served.output()
    assert str(state / "push" / "api-key") in served.output()
    # AND `udp status` lists it
    assert main(["--state-dir", str(state), "status"]) == 0
    assert f"push: pid {served.proc.pid}, API at {endpoint.url}" in capsys.readouterr().out
    # AND a second `udp serve` on the same state folder refuses, in one line
    assert main(["--state-dir", str(state), "serve"]) == 2
    _one_line_error(capsys, "already runs", endpoint.url)

    # WHEN an NDJSON file is pushed THEN every user is accepted, exit 0
    assert main(["--state-dir", str(state), "push", str(ndjson)]) == 0
    out = capsys.readouterr().out
    assert f"pushed {ndjson}: sent 30, accepted 30, rejected 0, undelivered 0" in out
    # AND a JSON array on stdin too, with --json giving the whole summary
    sys_stdin = sys.stdin
    sys.stdin = io.StringIO(json.dumps(users[:5]))
    try:
        assert main(["--state-dir", str(state), "push", "-", "--json"]) == 0
    finally:
        sys.stdin = sys_stdin
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sent"], summary["accepted"], summary["rejected"]) == (5, 5, [])

    # WHEN a pushed user is looked up THEN `udp get` prints its minimised row, exit 0
    user = users[7]
    uuid = str(user["login"]["uuid"])  # type: ignore[index]
    rc, out = _get_when_consumed(state, uuid, capsys)
    assert rc == 0
    row = json.loads(out)
    assert row["user_id"] == uuid
    assert row["email_domain"] == str(user["email"]).split("@")[1]
    assert "email" not in row and "login" not in row  # never the raw record
    # AND an unknown id exits 1, a malformed one 2 in one line
    assert main(["--state-dir", str(state), "get", "00000000-no-such-user"]) == 1
    assert "no user 00000000-no-such-user" in capsys.readouterr().err
    assert main(["--state-dir", str(state), "get", "has space"]) == 2
    _one_line_error(capsys, "1..36 printable")

    # WHEN the server gets SIGTERM THEN it stops cleanly, exit 0
    assert served.stop(signal.SIGTERM) == 0
    assert "push server stopped" in served.output()
    assert "Traceback" not in served.output()
    # AND it is gone from the state folder and from `udp status`
    assert running_push_server(state) is None
    assert not (state / "push" / "endpoint.json").exists()
    assert main(["--state-dir", str(state), "status"]) == 0
    assert "push:" not in capsys.readouterr().out
    # AND DynamoDB was saved and Firehose wrote the raw layer
    saved = [json.loads(line) for line in (state / "push" / "users.jsonl").read_text()
             .splitlines()]
    assert {item["user_id"]["S"] for item in saved} == {str(u["login"]["uuid"])  # type: ignore[index]
                                                       for u in users}
    assert list((state / "s3" / "udp-lake" / "raw" / "user_data").rglob("*.parquet"))
    # AND pushing now says, in one line, that no server runs
    assert main(["--state-dir", str(state), "push", str(ndjson)]) == 2
    _one_line_error(capsys, "no push server is running", "udp --state-dir")


def test_serve_stops_on_ctrl_c(tmp_path: Path) -> None:
    # GIVEN `udp serve` running
    served = _serve(tmp_path / "state", tmp_path / "serve.log")
    # WHEN it gets Ctrl-C (SIGINT) THEN it stops cleanly with exit 0 and no traceback
    assert served.stop(signal.SIGINT) == 0
    assert "push server stopped" in served.output()
    assert "Traceback" not in served.output()
    assert running_push_server(served.state) is None


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, object]]:
    state = tmp_path / "state"
    with start_push_stack(state) as push:
        yield state, push


def test_bad_files_exit_2_in_one_line(stack: tuple[Path, object], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    state, _ = stack
    cli = ["--state-dir", str(state), "push"]
    # GIVEN a running server; WHEN the file is missing THEN exit 2, one line naming it
    assert main([*cli, str(tmp_path / "absent.json")]) == 2
    _one_line_error(capsys, "absent.json")
    # WHEN the file is neither JSON nor NDJSON THEN exit 2 with the line that is not JSON
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(_users(1)[0]) + "\n{broken\n")
    assert main([*cli, str(bad)]) == 2
    _one_line_error(capsys, "line 2 is not JSON")
    # WHEN the file holds no record THEN exit 2
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    assert main([*cli, str(empty)]) == 2
    _one_line_error(capsys, "no record")
    # WHEN the API refuses a whole request (a body over 5 MiB) THEN exit 2, reason shown
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps([{**_users(1)[0], "pad": "x" * (6 * 1024 * 1024)}]))
    assert main([*cli, str(huge)]) == 2
    _one_line_error(capsys, "HTTP 413", "at most 5242880")


def test_rejected_records_are_listed_and_not_an_error(
        stack: tuple[Path, object], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    state, _ = stack
    # GIVEN a file with two good users and one without a login
    good = _users(2)
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([good[0], {"gender": "female"}, good[1]]))
    # WHEN it is pushed THEN the good ones are accepted and the bad one listed by position
    assert main(["--state-dir", str(state), "push", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sent 3, accepted 2, rejected 1, undelivered 0" in out
    assert "missing_required" in out and "│ 1 " in out


def test_no_server_stale_record_and_unreachable_url(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    # GIVEN no server ever started: push and get say so in one line, exit 2
    assert main(["--state-dir", str(state), "push", "-"]) == 2
    _one_line_error(capsys, "no push server is running")
    assert main(["--state-dir", str(state), "get", "someone"]) == 2
    _one_line_error(capsys, "no push server is running")
    # GIVEN the record of a server that was killed (its pid is gone)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_push_endpoint(state, "http://127.0.0.1:9", pid=dead.pid)
    # THEN it does not count as running
    assert running_push_server(state) is None
    assert main(["--state-dir", str(state), "get", "someone"]) == 2
    _one_line_error(capsys, "no push server is running")
    # GIVEN an explicit URL where nothing listens THEN exit 2, one line naming it
    assert main(["--state-dir", str(state), "get", "someone", "--url",
                 "http://127.0.0.1:9", "--api-key", "k"]) == 2
    _one_line_error(capsys, "cannot reach the push API at http://127.0.0.1:9")


def test_undelivered_records_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    # GIVEN a stack whose Kinesis refuses every record (throttled)
    state = tmp_path / "state"
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_users(1)))
    with start_push_stack(state, kinesis_wrapper=lambda c: ThrottlingKinesis(c, 1.0)):
        # WHEN a user is pushed THEN after the API's retries and the client's resends it
        # is reported undelivered, exit 1
        assert main(["--state-dir", str(state), "push", str(path)]) == 1
    captured = capsys.readouterr()
    assert "accepted 0, rejected 0, undelivered 1" in captured.out
    assert "not delivered" in captured.err
