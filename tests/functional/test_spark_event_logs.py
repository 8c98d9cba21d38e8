"""A local Glue job run leaves a Spark event log under the state folder.

docs/operate/spark-ui.md says how to open it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local_aws.glue.spark_session import event_log_settings

ROOT = Path(__file__).resolve().parents[2]

# A fresh process: event logging is a start-up setting of the SparkContext, and this test
# process may already hold a session started without it (tests/conftest.py).
_RUN_TRANSFORM = """
import json, sys
from datetime import date
from pathlib import Path
from local_aws.cloud import LocalCloud
from local_aws.scheduler.ingest import DayPlan, simulate_days
with LocalCloud(Path(sys.argv[1])) as cloud:
    plan = DayPlan(date(2026, 11, 21), invocations=1, pages_per_invocation=1, page_size=20)
    simulate_days([plan], cloud)
    cloud.crawlers.start_crawler(Name=cloud.cfg.raw_crawler)
    cloud.crawlers.wait(cloud.cfg.raw_crawler)
    run = cloud.jobs.start_job_run_sync(JobName=cloud.cfg.transform_job,
                                        Arguments={"--p_date": "2026-11-21"})
    cloud.spark.stop()  # the event log is renamed from .inprogress when the app ends
print(json.dumps({"state": run["JobRunState"], "error": run.get("ErrorMessage")}))
"""


def test_event_log_settings_create_the_folder(tmp_path: Path) -> None:
    # GIVEN a folder that does not exist yet WHEN the settings are made
    settings = event_log_settings(tmp_path / "state" / "spark-events")
    # THEN event logging points at it as a file URI, and it now exists
    assert settings == {"spark.eventLog.enabled": "true",
                        "spark.eventLog.dir": (tmp_path / "state" / "spark-events").as_uri(),
                        "spark.eventLog.rolling.enabled": "false",
                        "spark.eventLog.compress": "false"}
    assert (tmp_path / "state" / "spark-events").is_dir()
    assert event_log_settings(None) == {}


def test_a_local_transform_run_leaves_a_spark_event_log_in_the_state_folder(
        tmp_path: Path) -> None:
    # GIVEN a fresh state folder (no spark-events folder yet) and one small ingested day
    state = tmp_path / "state"
    # WHEN the local transform job runs one day in its own process
    done = subprocess.run([sys.executable, "-c", _RUN_TRANSFORM, str(state)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "SUCCEEDED", outcome
    # THEN <state>/spark-events holds one finished application log the history server
    # reads: JSON lines from the application's start to its end, with Spark jobs in between
    logs = [p for p in (state / "spark-events").iterdir() if not p.name.startswith(".")]
    assert len(logs) == 1 and not logs[0].name.endswith(".inprogress"), logs
    # (split on newlines only: event text may hold U+2028, which splitlines() splits on)
    lines = logs[0].read_text(encoding="utf-8").split("\n")
    events = [json.loads(line)["Event"] for line in lines if line]
    assert events[0] == "SparkListenerLogStart"
    assert "SparkListenerApplicationStart" in events
    assert "SparkListenerJobStart" in events
    assert events[-1] == "SparkListenerApplicationEnd"
