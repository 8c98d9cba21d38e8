"""Cross-check with moto's Step Functions (moto 5, ``execute_state_machine`` enabled).

moto cannot run the Glue ``.sync`` integration, so: (1) its API accepts the deployed
definitions after placeholder substitution; (2) a small pure-flow definition (Pass,
Choice, Wait, Map, intrinsics, Fail) gives the same outputs / errors in both engines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_aws.stepfunctions import (
    AslExecutor,
    TaskRegistry,
    load_definition,
    substitute_placeholders,
)

ORCH = Path(__file__).resolve().parents[2] / "orchestration"
ROLE = "arn:aws:iam::123456789012:role/udp-sfn"
NAMES = {"RawCrawlerName": "raw", "TransformCrawlerName": "tr", "TransformJobName": "tj",
         "LoadJobName": "lj", "AlertTopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
         "PipelineStateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:udp",
         "LeaseTableName": "udp-date-leases", "EraseJobName": "ej",
         "LakeBucketName": "udp-lake"}

PURE_FLOW: dict[str, Any] = {
    "StartAt": "Describe",
    "States": {
        "Describe": {"Type": "Pass", "Parameters": {
            "p_date.$": "$.p_date", "n.$": "States.ArrayLength($.items)",
            "label.$": "States.Format('{} ({} items)', $.p_date, States.ArrayLength($.items))",
            "items.$": "$.items"}, "ResultPath": "$.info", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Route"},
        "Route": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.info.n", "NumericGreaterThan": 0},
                     {"Not": {"Variable": "$.mode", "StringEquals": "reject"}}],
             "Next": "EachItem"},
            {"Variable": "$.mode", "StringEquals": "reject", "Next": "Rejected"}],
            "Default": "Empty"},
        "EachItem": {"Type": "Map", "ItemsPath": "$.info.items", "MaxConcurrency": 2,
                     "ItemSelector": {"value.$": "$$.Map.Item.Value",
                                      "index.$": "$$.Map.Item.Index", "day.$": "$.p_date"},
                     "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Tag",
                                       "States": {"Tag": {"Type": "Pass", "Parameters": {
                                           "key.$": "States.Format('{}#{}', $.day, $.value)",
                                           "index.$": "$.index"}, "End": True}}},
                     "ResultPath": "$.tagged", "OutputPath": "$.tagged", "Next": "Done"},
        "Empty": {"Type": "Pass", "Result": {"empty": True}, "ResultPath": "$.r", "Next": "Done"},
        "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "mode was reject"},
        "Done": {"Type": "Succeed"},
    },
}

CASES = [
    {"p_date": "2024-01-02", "items": ["a", "b", "c"], "mode": "normal"},
    {"p_date": "2024-01-03", "items": [], "mode": "normal"},
    {"p_date": "2024-01-04", "items": ["x"], "mode": "reject"},
]


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def run_in_moto(sfn: Any, definition: dict[str, Any], data: Any) -> dict[str, Any]:
    arn = sfn.create_state_machine(name=f"m{time.monotonic_ns()}", roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(data))["executionArn"]
    for _ in range(200):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.05)
    pytest.fail("moto execution did not finish")


@pytest.mark.parametrize("name", ["state_machine.asl.json", "backfill.asl.json",
                                  "erasure.asl.json"])
def test_moto_accepts_the_deployed_definitions_after_substitution(sfn: Any, name: str) -> None:
    # GIVEN a deployed definition with this environment's names substituted
    definition = load_definition(ORCH / name)
    names = {k: v for k, v in NAMES.items() if f"${{{k}}}" in json.dumps(definition)}
    body = json.dumps(substitute_placeholders(definition, names))
    # WHEN created through the Step Functions API (moto)
    arn = sfn.create_state_machine(name=name.split(".")[0], definition=body,
                                   roleArn=ROLE)["stateMachineArn"]
    # THEN it is stored as sent
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == body


@pytest.mark.parametrize("data", CASES, ids=["three-items", "empty", "reject"])
def test_pure_flow_matches_moto(sfn: Any, data: dict[str, Any]) -> None:
    # GIVEN the same pure-flow definition and input for both engines
    local = AslExecutor(PURE_FLOW, TaskRegistry()).run(data)
    # WHEN moto runs it too
    remote = run_in_moto(sfn, PURE_FLOW, data)
    # THEN status, output or error/cause agree
    assert local.status == remote["status"]
    if local.succeeded:
        assert local.output == json.loads(remote["output"])
    else:
        assert (local.error, local.cause) == (remote.get("error"), remote.get("cause"))
