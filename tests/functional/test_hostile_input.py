"""Every input bounded and shaped: each bad input gets one line and exit
code 2, never a traceback, and nothing is written on a refusal; replays are streamed."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_lambda import replay
from ingest_lambda.replay import ReplayError, iter_replay_pages
from udp_cli import cli

EVENTS = Path(__file__).resolve().parents[1] / "events"
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


class WouldWrite(Exception):
    """Raised where the CLI would start the local stack: validation let the input pass."""


@pytest.fixture
def no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(state_dir: Path, _args: Any = None) -> Any:
        raise WouldWrite(str(state_dir))
    monkeypatch.setattr(cli, "_stack", refuse)


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime)
            for p in root.rglob("*")}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, int, str]:
    """('refused', code, stderr) | ('accepted', 0, '') | ('usage', 2, stderr)."""
    try:
        code = cli.main(argv)
    except WouldWrite:
        return "accepted", 0, ""
    except SystemExit as exc:  # argparse: a usage line and an error line, exit 2
        return "usage", int(exc.code or 0), capsys.readouterr().err
    return "refused", code, capsys.readouterr().err


def assert_one_line_refusal(code: int, err: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("udp: error: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("make_argv", [
    lambda d: ["ingest", "--replay", str(d)],                                  # a folder
    lambda d: ["ingest", "--replay", str(d / "ints.json")],                    # [1, 2, 3]
    lambda d: ["ingest", "--replay", str(d / "no_results.json")],              # no results
    lambda d: ["ingest", "--replay", str(d / "empty.json")],
    lambda d: ["ingest", "--replay", str(d / "missing.json")],
    lambda d: ["ingest", "--replay", str(d / "page.json"), "--date", "2026-02-30"],
    lambda d: ["--state-dir", str(d / "a_file"), "ingest", "--date", "2026-01-01"],
    lambda d: ["--state-dir", str(d / "a_file" / "sub"), "ingest", "--date", "2026-01-01"],
    lambda d: ["--state-dir", str(d / "a_file"), "run", "--date", "2026-01-01"],
    lambda d: ["--state-dir", str(d / "a_file"), "query", "select 1"],
    lambda d: ["ingest", "--date", "2026-01-01", "--faults", "latency=-5"],
    lambda d: ["ingest", "--date", "2026-01-01", "--faults", "latency=nan"],
    lambda d: ["ingest", "--date", "2026-01-01", "--faults", "seed=1.5"],
    lambda d: ["ingest", "--date", "2026-01-01", "--pages", "201"],
    lambda d: ["ingest", "--date", "2026-01-01", "--pages", "0"],
    lambda d: ["ingest", "--date", "2026-01-01", "--page-size", "5001"],
    lambda d: ["ingest", "--date", "2026-01-01", "--invocations", "1441"],
    lambda d: ["demo", "--pages", "10000000"],
])
def test_each_bad_input_gets_one_line_exit_2_and_writes_nothing(
        tmp_path: Path, make_argv: Any, no_stack: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN inputs a user might give by mistake, and a state folder with data in it
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "ints.json").write_text("[1, 2, 3]")
    (inputs / "no_results.json").write_text('{"info": {"seed": "x"}}')
    (inputs / "empty.json").write_text("  ")
    (inputs / "page.json").write_text((EVENTS / "randomuser_page.json").read_text())
    (inputs / "a_file").write_text("not a folder")
    state = tmp_path / "state"
    (state / "s3").mkdir(parents=True)
    (state / "s3" / "kept.txt").write_text("data")
    before = snapshot(tmp_path)
    # WHEN udp is run with one of them
    outcome, code, err = run_cli(["--state-dir", str(state), *make_argv(inputs)], capsys)
    # THEN it refuses with one line and exit 2, and no file changed
    assert outcome == "refused", (outcome, err)
    assert_one_line_refusal(code, err)
    assert snapshot(tmp_path) == before


def test_a_state_folder_you_cannot_write_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_stack: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a state folder the user may not write (simulated: the suite may run as root)
    real_access = cli.os.access
    monkeypatch.setattr(cli.os, "access", lambda p, mode: Path(p) != tmp_path
                        and real_access(p, mode))
    # WHEN a command needs it THEN one line, exit 2
    for argv in (["run", "--date", "2026-01-01"], ["ingest", "--date", "2026-01-01"]):
        outcome, code, err = run_cli(["--state-dir", str(tmp_path), *argv], capsys)
        assert outcome == "refused"
        assert_one_line_refusal(code, err)
        assert "not writable" in err


_FAULT_ITEM = st.one_of(
    st.builds(lambda k, v: f"{k}={v}",
              st.sampled_from(["error", "throttle", "slow", "latency", "malformed",
                               "retry_after", "seed", "bogus", ""]),
              st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                        st.integers(-10, 10**12).map(str), st.text(max_size=4))),
    st.text(max_size=6))
_INT_TEXT = st.one_of(st.integers(-10, 10**9).map(str), st.text(max_size=4))
_DATE_TEXT = st.one_of(st.dates().map(str), st.text(max_size=12))


@SETTINGS
@given(invocations=_INT_TEXT, pages=_INT_TEXT, page_size=_INT_TEXT,
       faults=st.lists(_FAULT_ITEM, max_size=3).map(",".join), day=_DATE_TEXT,
       rate=st.one_of(st.floats(allow_nan=True).map(str), st.text(max_size=4)))
def test_ingest_arguments_never_traceback_and_never_write_on_refusal(
        tmp_path: Path, no_stack: None, capsys: pytest.CaptureFixture[str],
        invocations: str, pages: str, page_size: str, faults: str, day: str,
        rate: str) -> None:
    # GIVEN arbitrary values for every ingest option
    state = tmp_path / "state"
    argv = ["--state-dir", str(state), "ingest", "--date", day, "--invocations", invocations,
            "--pages", pages, "--page-size", page_size, "--faults", faults,
            "--firehose-failure-rate", rate]
    # WHEN udp ingest reads them
    outcome, code, err = run_cli(argv, capsys)
    # THEN it is accepted, refused with one line, or a usage error; never a traceback
    if outcome == "refused":
        assert_one_line_refusal(code, err)
    elif outcome == "usage":
        assert code == 2 and "Traceback" not in err
    # AND nothing was written either way (the stack, which writes, is never reached on
    # a refusal; here it is not even created when accepted)
    assert not state.exists()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=7), inner,
                                                                 max_size=3),
    max_leaves=10)
_PAGE = st.fixed_dictionaries({"results": st.lists(_JSON, max_size=3)},
                              optional={"info": _JSON})
_DOCUMENT = st.one_of(_JSON, _PAGE, st.lists(_PAGE, max_size=3),
                      st.lists(st.one_of(_PAGE, _JSON), min_size=1, max_size=3))


def _is_pages(doc: Any) -> bool:
    def page(p: Any) -> bool:
        return isinstance(p, dict) and "results" in p
    return page(doc) or (isinstance(doc, list) and bool(doc) and all(map(page, doc)))


@SETTINGS
@given(doc=_DOCUMENT, ndjson=st.booleans())
def test_replay_documents_are_pages_or_one_line_refusals(
        tmp_path: Path, no_stack: None, capsys: pytest.CaptureFixture[str], doc: Any,
        ndjson: bool) -> None:
    # GIVEN an arbitrary JSON document saved as a replay (as NDJSON when it is a list)
    path = tmp_path / "replay.json"
    as_lines = ndjson and isinstance(doc, list) and bool(doc)
    path.write_text("\n".join(json.dumps(d) for d in doc) if as_lines else json.dumps(doc))
    state = tmp_path / "state"
    # WHEN it is replayed
    outcome, code, err = run_cli(["--state-dir", str(state), "ingest", "--replay", str(path)],
                                 capsys)
    # THEN only API pages are accepted; anything else is one line, exit 2, nothing written
    expected = _is_pages(doc) and (not as_lines or all(isinstance(d, dict) for d in doc))
    assert outcome == ("accepted" if expected else "refused"), (doc, err)
    if outcome == "refused":
        assert_one_line_refusal(code, err)
    assert not state.exists()


@SETTINGS
@given(data=st.binary(max_size=64))
def test_replay_bytes_never_traceback(tmp_path: Path, no_stack: None,
                                      capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "replay.bin"
    path.write_bytes(data)
    outcome, code, err = run_cli(["--state-dir", str(tmp_path / "s"), "ingest", "--replay",
                                  str(path)], capsys)
    if outcome == "refused":
        assert_one_line_refusal(code, err)


def test_replays_are_streamed_one_page_at_a_time(tmp_path: Path) -> None:
    # GIVEN a replay of 40 pages of ~250 KB each (10 MB) whose last page is broken
    page = json.loads((EVENTS / "randomuser_page.json").read_text())
    big = {**page, "results": page["results"] * 200}
    page_bytes = len(json.dumps(big))
    path = tmp_path / "replay.json"
    with path.open("w") as out:
        out.write("[" + ",".join(json.dumps(big) for _ in range(40)) + ", 7]")
    # WHEN it is read page by page
    tracemalloc.start()
    seen = 0
    with pytest.raises(ReplayError, match="item 41 is int"):
        for p in iter_replay_pages(path):
            assert len(p["results"]) == 800
            seen += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # THEN every good page came out before the bad one was reached, and memory stayed
    # near a few pages, far below the 10 MB file decoded whole
    assert seen == 40
    assert peak < 40 * page_bytes / 3, (peak, page_bytes)


def test_replay_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    path.write_text((EVENTS / "randomuser_page.json").read_text())
    monkeypatch.setattr(replay, "MAX_REPLAY_BYTES", 100)
    with pytest.raises(ReplayError, match="the limit is 100"):
        list(iter_replay_pages(path))
    monkeypatch.setattr(replay, "MAX_REPLAY_BYTES", 1 << 30)
    monkeypatch.setattr(replay, "MAX_PAGE_BYTES", 100)
    with pytest.raises(ReplayError, match="page 1 is larger than 100 bytes"):
        list(iter_replay_pages(path))
    monkeypatch.setattr(replay, "MAX_PAGE_BYTES", 64 << 20)
    page = json.loads(path.read_text())
    path.write_text(json.dumps({"results": page["results"] * 1251}))  # 5,004 > 5,000
    with pytest.raises(ReplayError, match="at most 5,000 per page"):
        list(iter_replay_pages(path))


def test_a_replay_with_a_date_lands_on_that_day(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN captured API pages, as NDJSON
    page = json.loads((EVENTS / "randomuser_page.json").read_text())
    path = tmp_path / "captured.ndjson"
    path.write_text(json.dumps(page) + "\n" + json.dumps(page) + "\n")
    state = tmp_path / "state"
    # WHEN they are replayed as a backfill of 2026-03-04
    code = cli.main(["--state-dir", str(state), "ingest", "--replay", str(path),
                     "--date", "2026-03-04"])
    # THEN they land in that day's raw partition (not today's), every valid record once
    assert code == 0, capsys.readouterr().err
    days = sorted(p.name for p in (state / "s3/udp-lake/raw/user_data").iterdir())
    assert days == ["p_date=2026-03-04"]
    files = list((state / "s3/udp-lake/raw/user_data/p_date=2026-03-04").glob("*.parquet"))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    assert 0 < rows <= 2 * len(page["results"])
