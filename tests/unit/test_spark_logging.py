"""The local Spark's log4j2 file: quiet at start-up as well as after it."""

from __future__ import annotations

from local_aws.glue.spark_session import LOG4J


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
