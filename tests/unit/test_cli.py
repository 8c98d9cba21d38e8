"""User mistakes get one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from udp_cli.cli import main


@pytest.mark.parametrize("argv", [
    ["run", "--date", "2026-02-30"],
    ["run", "--date", "22/11/2026"],
    ["ingest", "--date", "yesterday"],
    ["ingest", "--date", "2026-11-22", "--invocations", "0"],
    ["ingest", "--date", "2026-11-22", "--faults", "error=2"],
    ["ingest", "--date", "2026-11-22", "--faults", "bogus=0.1"],
    ["ingest"],
    ["backfill", "--from", "2026-11-22", "--to", "2026-11-01"],
    ["backfill", "--from", "2026-11-01", "--to", "nope"],
    ["backfill", "--from", "2026-11-01", "--to", "2026-11-08", "--chunk", "0"],
    ["backfill", "--from", "2026-11-01", "--to", "2026-11-08", "--chunk", "32"],
    ["ingest", "--date", "2026-11-22", "--users", "0"],
    ["status"],
    ["query", "select 1"],
])
def test_user_mistakes_exit_2_with_one_line(tmp_path: Path, argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a state folder that does not exist
    state = tmp_path / "missing"
    # WHEN the command runs THEN it fails with code 2 and a single readable line
    assert main(["--state-dir", str(state), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("udp: error: ") and "\n" not in err and "Traceback" not in err


def test_missing_state_folder_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path / "nope"), "status"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_replay_file_errors_are_one_line(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for path in (bad, tmp_path / "absent.json"):
        assert main(["--state-dir", str(tmp_path / "s"), "ingest", "--replay", str(path)]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_unknown_table_and_bad_sql_are_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "s"
    state.mkdir()
    assert main(["--state-dir", str(state), "query", "select * from no_such_table"]) == 2
    err = capsys.readouterr().err
    assert "no_such_table" in err and err.count("\n") == 1
    assert main(["--state-dir", str(state), "query", "selec 1 frm"]) == 2
    assert capsys.readouterr().err.startswith("udp: error:")


def test_usage_errors_use_argparse_exit_code_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
