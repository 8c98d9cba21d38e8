"""``replace`` travels from the execution input to the bulk import's ``--replace``: the
deployed definitions on the local executor, Glue faked (as test_state_machine_local)."""

from __future__ import annotations

from typing import Any

import pytest

from local_aws.cloud import pipeline_input
from local_aws.sns.client import LocalSns
from local_aws.stepfunctions import (
    AslExecutor,
    load_definition,
    substitute_placeholders,
)
from local_aws.stepfunctions.history import HistoryStore
from tests.functional.test_state_machine_local import DEFINITION, NAMES, FakeGlue, registry


class RecordingGlue(FakeGlue):
    """Keeps every job run's Arguments."""

    def __init__(self) -> None:
        super().__init__(polls=1)
        self.arguments: list[tuple[str, dict[str, str]]] = []

    def job_sync(self, params: dict[str, Any]) -> dict[str, Any]:
        self.arguments.append((params["JobName"], dict(params["Arguments"])))
        return super().job_sync(params)

    def load_args(self) -> list[dict[str, str]]:
        return [a for job, a in self.arguments if job == "load-job"]


@pytest.fixture
def glue() -> RecordingGlue:
    return RecordingGlue()


@pytest.fixture
def executor(glue: RecordingGlue, tmp_path: Any) -> AslExecutor:
    definition = substitute_placeholders(load_definition(DEFINITION), NAMES)
    return AslExecutor(definition, registry(glue, LocalSns(tmp_path / "alerts")),
                       history=HistoryStore(tmp_path / "runs"), name="udp-pipeline")


@pytest.mark.parametrize(("execution_input", "expected"), [
    ({"p_date": "2024-05-07"}, "false"),                       # manual run, no replace
    ({"p_date": "2024-05-07", "replace": False}, "false"),
    ({"p_date": "2024-05-07", "replace": True}, "true"),       # udp run --replace
    ({"scheduled_time": "2024-05-08T02:00:00Z"}, "false"),     # the nightly schedule
])
def test_the_load_job_gets_replace_from_the_input(executor: AslExecutor, glue: RecordingGlue,
                                                  execution_input: dict[str, Any],
                                                  expected: str) -> None:
    # GIVEN an execution input with or without replace WHEN the pipeline runs
    result = executor.run(execution_input)
    # THEN it succeeds and the bulk import (only it) got --replace as the Glue string,
    # both jobs the execution's name as the key of their run_outcomes records
    assert result.status == "SUCCEEDED", result.cause
    [load] = glue.load_args()
    assert load == {"--p_date": "2024-05-07", "--replace": expected,
                    "--run_key": result.run_id}
    transform = [a for job, a in glue.arguments if job == "transform-job"]
    assert transform == [{"--p_date": "2024-05-07", "--run_key": result.run_id}]


@pytest.mark.parametrize("bad", ["true", "yes", 1, None, {"x": 1}])
def test_a_replace_that_is_not_a_boolean_fails_before_any_work(
        executor: AslExecutor, glue: RecordingGlue, bad: Any) -> None:
    # GIVEN replace given as something other than true/false WHEN the pipeline runs
    result = executor.run({"p_date": "2024-05-07", "replace": bad})
    # THEN it fails in InvalidReplace, naming the field, and nothing was started
    assert (result.status, result.error, result.failed_state) == (
        "FAILED", "InvalidInput", "InvalidReplace")
    assert "replace" in (result.cause or "")
    assert glue.calls == []


def test_pipeline_input_leaves_replace_out_unless_asked() -> None:
    assert pipeline_input("2024-05-07") == {"p_date": "2024-05-07"}
    assert pipeline_input("2024-05-07", replace=True) == {"p_date": "2024-05-07",
                                                          "replace": True}


# The backfill's replace reaching every date's load (range mode, one load run per chunk) is
# tested in tests/functional/test_backfill_range.py::test_the_replace_field_flows_to_the_load.
