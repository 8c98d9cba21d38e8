"""``udp ingest`` closes the local stack even when the ingest fails or is interrupted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from udp_cli.cli import main


class ClosableStack:
    """Stands in for ``LocalCloud``: the parts ``udp ingest`` touches, and whether it closed."""

    def __init__(self) -> None:
        self.s3 = object()
        self.cfg = SimpleNamespace(errors_bucket="errors")
        self.closed = 0

    def delivery_stream(self) -> object:
        return object()

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(("failure", "exit_code"), [
    (RuntimeError("the ingest broke"), None),  # a bug: propagates, stack still closed
    (KeyboardInterrupt(), 130),                 # Ctrl-C: exit 130, stack still closed
])
@pytest.mark.parametrize(("mode", "patched"), [
    ("day", "simulate_days"),
    ("users", "ingest_users"),
    ("replay", "replay_pages"),
])
def test_an_ingest_that_raises_still_closes_the_stack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, patched: str,
        failure: BaseException, exit_code: int | None) -> None:
    # GIVEN a local stack and an ingest step (day, --users or --replay) that raises
    stack = ClosableStack()
    monkeypatch.setattr("udp_cli.cli._stack", lambda _state, _args=None: stack)

    def raising(*_args: Any, **_kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(f"local_aws.scheduler.ingest.{patched}", raising)
    replay = tmp_path / "pages.json"
    replay.write_text('{"results": []}\n', encoding="utf-8")
    argv = {"day": ["--date", "2026-11-22"],
            "users": ["--date", "2026-11-22", "--users", "3"],
            "replay": ["--replay", str(replay)]}[mode]
    command = ["--state-dir", str(tmp_path / "state"), "ingest", *argv]
    # WHEN udp ingest runs
    if exit_code is None:
        with pytest.raises(RuntimeError, match="the ingest broke"):
            main(command)
    else:
        assert main(command) == exit_code
    # THEN the stack was closed exactly once: no warehouse or crawl threads left behind
    assert stack.closed == 1
