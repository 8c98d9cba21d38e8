"""Which Java local Spark 4.1 gets, and the one-line refusal when the machine has none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local_aws.glue import java
from local_aws.glue.java import JavaMissing, find_java, parse_java_version
from udp_cli import cli


@pytest.mark.parametrize(("banner", "version"), [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('java version "1.8.0_392"', 8),
    ('openjdk version "21" 2023-09-19', 21),
    ('openjdk version "25.0.2" 2026-01-20 LTS', 25),
    ("no version here", None),
])
def test_parse_java_version(banner: str, version: int | None) -> None:
    assert parse_java_version(banner) == version


def _fake_java(folder: Path, banner: str, modules: str) -> Path:
    """A ``bin/java`` script answering ``-version`` and ``--list-modules`` like a JDK."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "java"
    script.write_text("#!/bin/sh\n"
                      f'if [ "$1" = "-version" ]; then echo \'{banner}\' >&2; exit 0; fi\n'
                      f"printf '{modules}'\n")
    script.chmod(0o755)
    return folder


def test_a_jre_without_the_vector_module_is_refused_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN JAVA_HOME at a Java 17 lacking jdk.incubator.vector, and no java on PATH
    home = _fake_java(tmp_path / "jre", 'openjdk version "17.0.9"', "java.base@17.0.9\\n")
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    # WHEN looked for, THEN refused with the module named and what to install
    with pytest.raises(JavaMissing, match=r"lacks the jdk\.incubator\.vector module") as err:
        find_java()
    assert "openjdk-17-jre-headless" in str(err.value)


def test_java_8_is_refused_and_java_17_with_the_module_accepted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    old = _fake_java(tmp_path / "j8", 'java version "1.8.0_392"', "")
    monkeypatch.setenv("JAVA_HOME", str(old))
    with pytest.raises(JavaMissing, match="is Java 8"):
        find_java()
    good = _fake_java(tmp_path / "j17", 'openjdk version "17.0.15"',
                      "java.base@17.0.15\\njdk.incubator.vector@17.0.15\\n")
    monkeypatch.setenv("JAVA_HOME", str(good))
    assert find_java() == java.JavaRuntime(home=good, version=17)


def test_udp_run_without_a_usable_java_says_so_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a state folder and a machine with no Java at all
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(java, "_CHOSEN", None)

    def no_stack(_state: Path, _args: object = None) -> None:
        raise AssertionError("the stack must not start without Java")
    monkeypatch.setattr(cli, "_stack", no_stack)
    # WHEN a run is asked for
    code = cli.main(["--state-dir", str(state), "run", "--date", "2026-11-01"])
    # THEN exit 2 and one line that names what to install, no traceback
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("udp: error: local Spark needs Java 17+")
    assert "apt-get install openjdk-17-jre-headless" in err[0]
    assert os.environ.get("JAVA_HOME") is None
