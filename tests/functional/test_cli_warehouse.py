"""`udp warehouse` against the real embedded PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from udp_cli.cli import main


def test_sql_prints_rows_and_errors_are_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "s"
    state.mkdir()
    # WHEN a statement runs THEN its rows print in the chosen format, text exactly
    assert main(["--state-dir", str(state), "warehouse", "sql",
                 "select 1 as one, 'Zürich' as city", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["one,city", "1,Zürich"]
    # AND a bad statement is one line with exit code 2
    assert main(["--state-dir", str(state), "warehouse", "sql", "select * from nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("udp: error:") and "nope" in err and err.count("\n") == 1


def test_psql_runs_against_the_local_warehouse(tmp_path: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "s"
    state.mkdir()
    assert main(["--state-dir", str(state), "warehouse", "psql", "--", "-tAc",
                 "select 40 + 2"]) == 0
    assert capfd.readouterr().out.strip() == "42"
