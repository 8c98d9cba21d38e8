"""The local Spark's log4j2 file: quiet at start-up as well as after it."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from local_aws.glue.spark_session import LOG4J, _pass_stderr

ROOT = Path(__file__).resolve().parents[2]


def _properties() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in LOG4J.read_text(encoding="utf-8").splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_the_gateway_logger_holds_the_root_level_so_spark_does_not_lower_the_console() -> None:
    # GIVEN the file every local session starts with
    props = _properties()
    # THEN PySpark's gateway (the class Spark treats as a shell, which otherwise sets the
    # console to WARN and prints "Setting default log level" on every start) has its own
    # level, the root's
    names = {k.split(".")[1]: v for k, v in props.items()
             if k.startswith("logger.") and k.endswith(".name")}
    key = next(k for k, v in names.items()
               if v == "org.apache.spark.api.python.PythonGatewayServer")
    assert props[f"logger.{key}.level"] == props["rootLogger.level"] == "error"


def test_the_jvm_notice_of_incubator_modules_is_dropped_and_other_lines_pass(
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN what the Spark JVM writes to stderr at start and later
    jvm = io.BytesIO(b"WARNING: Using incubator modules: jdk.incubator.vector\n"
                     b"12:00:01 ERROR TaskSetManager: Task 1 failed\n"
                     b"caf\xc3\xa9 \xff\n")
    # WHEN it is passed through
    _pass_stderr(jvm)
    # THEN only the start-up notice is gone; errors and odd bytes still reach the user
    assert capsys.readouterr().err == ("12:00:01 ERROR TaskSetManager: Task 1 failed\n"
                                       "café \ufffd\n")


def test_a_fresh_local_spark_starts_without_the_incubator_notice() -> None:
    # GIVEN a new process WHEN it starts the project's local Spark and runs a job
    code = ("from local_aws.glue.spark_session import local_spark\n"
            "s = local_spark()\nassert s.range(10).count() == 10\ns.stop()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    # THEN it succeeds and its stderr holds no JVM start-up notice
    assert done.returncode == 0, done.stderr[-2000:]
    assert "incubator" not in done.stderr, done.stderr
