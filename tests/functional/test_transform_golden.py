"""The transform job's output, compared with a capture of it: any change to how the job
plans its Spark work (jobs run side by side, answers taken from the catalog, fewer
scans) must publish the same rows and reach the same DQ verdicts with the same messages.

The capture (``golden_transform.json`` beside this file) holds, for a fixed raw lake, the
rows of every table each day published and each day's DQ results. It runs the three
ways a day is transformed: a day with no trailing history, a day with one day of it,
and a backfill chunk of eight days, two of which breach (a row-count drop the trailing
rule catches, an age out of range). ``UDP_WRITE_GOLDEN=1`` rewrites it from the job as
it is (only when the job's output is meant to change, said in the commit).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from contracts.tables import MODEL_TABLES
from glue_jobs.transform_job import run_transform, transform_chunk
from tests.functional.test_transform_chunk import _doctor
from tests.functional.test_transform_job import (
    DAYS,
    Lake,
    history,  # noqa: F401  (the module-scoped 30-day raw lake)
)

GOLDEN = Path(__file__).with_name("golden_transform.json")


def _rows(lake: Lake, day: str) -> dict[str, list[str]]:
    return {c.name: sorted(repr(tuple(r)) for r in lake.query(
        f"select * from {c.name} where p_date = '{day}'")) for c in MODEL_TABLES}


def _verdicts(dq: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["table_name"], r["rule"], r["rule_type"], r["passed"], r["observed"],
             r["allowed"], r["message"]] for r in dq]


def _capture(lake: Lake) -> dict[str, Any]:
    """Run the three cases on ``lake``; what each day published and its DQ results."""
    out: dict[str, Any] = {}
    for day in DAYS[:2]:  # no trailing history, then one day of it
        result = run_transform(lake.runtime, day, lake.settings, run_id=f"golden-{day:%m%d}")
        out[day.isoformat()] = {"status": "SUCCEEDED",
                                "dq": _verdicts([r.as_dict() for r in result.dq])}
    chunk = transform_chunk(lake.runtime, DAYS[2:10], lake.settings, run_key="golden-chunk")
    for d in chunk:
        out[d["p_date"]] = {"status": d["status"], "cause": d.get("cause"),
                            "dq": _verdicts(d["dq"])}
    for p_date, entry in out.items():
        entry["rows"] = _rows(lake, p_date)
    return out


@pytest.fixture()
def golden_lake(history: Path, tmp_path: Path, spark: Any) -> Lake:  # noqa: F811
    shutil.copytree(history, tmp_path / "lake")
    lake = Lake(tmp_path / "lake", spark)
    _doctor(lake)  # the breaching days fall inside the chunk (DAYS[5], DAYS[8])
    return lake


def test_the_job_publishes_and_judges_as_the_capture_says(golden_lake: Lake) -> None:
    # GIVEN the fixed raw lake WHEN the job transforms its days in the three ways
    got = json.loads(json.dumps(_capture(golden_lake), default=str))
    if os.environ.get("UDP_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    # THEN the same days published the same rows, with the same verdicts and messages
    assert sorted(got) == sorted(want)
    assert {d: e["status"] for d, e in got.items()} == {d: e["status"] for d, e in want.items()}
    assert [e["status"] for e in got.values()].count("FAILED") == 2  # the capture breaches
    for day in want:
        assert got[day]["dq"] == want[day]["dq"], day
        assert got[day].get("cause") == want[day].get("cause"), day
        assert got[day]["rows"] == want[day]["rows"], day
