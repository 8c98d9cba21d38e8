"""The DynamoDB twin answers as DynamoDB does through boto3, and the local Step Functions
names those answers as Step Functions names a service integration's errors.

The twin's refusals are held to moto's DynamoDB behind a real boto3 client: the same
exception class, ``response["Error"]["Code"]``, message and operation name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_aws.dynamodb.table import LocalDynamoDb
from local_aws.stepfunctions import AslExecutor, TaskRegistry, error_name, sdk_task

TABLE = "date-leases"
HELD = {"p_date": {"S": "2024-05-01"}, "holder": {"S": "a"}}

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "a failed condition on put": ("put_item", {
        "TableName": TABLE, "Item": {"p_date": {"S": "2024-05-01"}},
        "ConditionExpression": "attribute_not_exists(p_date)"}),
    "a failed condition on delete": ("delete_item", {
        "TableName": TABLE, "Key": {"p_date": {"S": "2024-05-01"}},
        "ConditionExpression": "holder = :me",
        "ExpressionAttributeValues": {":me": {"S": "b"}}}),
    "an unknown table (put)": ("put_item", {
        "TableName": "other-table", "Item": {"p_date": {"S": "2024-05-01"}}}),
    "an unknown table (get)": ("get_item", {
        "TableName": "other-table", "Key": {"p_date": {"S": "2024-05-01"}}}),
    "a key of the wrong type": ("put_item", {
        "TableName": TABLE, "Item": {"p_date": {"N": "5"}}}),
    "an item without its key": ("put_item", {
        "TableName": TABLE, "Item": {"holder": {"S": "a"}}}),
}


def _answer(client: Any, method: str, params: dict[str, Any]) -> tuple[str, str, str, str]:
    with pytest.raises(ClientError) as info:
        getattr(client, method)(**params)
    e = info.value
    return (type(e).__name__, e.response["Error"]["Code"], e.response["Error"]["Message"],
            e.operation_name)


@pytest.fixture(scope="module")
def moto_answers() -> dict[str, tuple[str, str, str, str]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "p_date", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "p_date",
                                                   "AttributeType": "S"}])
        client.put_item(TableName=TABLE, Item=HELD)
        return {case: _answer(client, method, params)
                for case, (method, params) in CASES.items()}


@pytest.mark.parametrize("case", CASES)
def test_the_twin_refuses_as_dynamodb_through_boto3_does(
        case: str, moto_answers: dict[str, tuple[str, str, str, str]], tmp_path: Path) -> None:
    # GIVEN the twin's table holding the same item as moto's
    twin = LocalDynamoDb(tmp_path, {TABLE: "p_date"})
    twin.put_item(TableName=TABLE, Item=HELD)
    method, params = CASES[case]
    # WHEN the same request is refused by both
    # THEN class, code, message and operation agree
    assert _answer(twin, method, params) == moto_answers[case]


def test_a_failed_condition_is_the_modeled_exception_with_its_fields(tmp_path: Path) -> None:
    twin = LocalDynamoDb(tmp_path, {TABLE: "p_date"})
    twin.put_item(TableName=TABLE, Item=HELD)
    # WHEN a conditional put is refused
    with pytest.raises(ClientError) as info:
        twin.put_item(**CASES["a failed condition on put"][1])
    # THEN it parses as botocore parses DynamoDB's reply: the client's modeled class (as
    # ``client.exceptions`` builds it), the modeled member and the status
    assert type(info.value).__name__ == "ConditionalCheckFailedException"
    assert type(info.value).__module__ == "botocore.errorfactory"
    assert info.value.response["message"] == "The conditional request failed"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_key_of_the_wrong_type_in_a_get_is_refused(tmp_path: Path) -> None:
    twin = LocalDynamoDb(tmp_path, {TABLE: "p_date"})
    with pytest.raises(ClientError) as info:
        twin.get_item(TableName=TABLE, Key={"p_date": {"N": "5"}})
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "The provided key element does not match the schema"}


def test_a_request_outside_the_api_is_refused_by_botocores_model(tmp_path: Path) -> None:
    from botocore.exceptions import ParamValidationError

    twin = LocalDynamoDb(tmp_path, {TABLE: "p_date"})
    with pytest.raises(ParamValidationError):
        twin.put_item(TableName=TABLE, Item=HELD, Conditions="nope")


LEASE = "arn:aws:states:::dynamodb:putItem"


def _machine(catch: str) -> dict[str, Any]:
    return {"StartAt": "TakeLease", "States": {
        "TakeLease": {"Type": "Task", "Resource": LEASE,
                      "Parameters": {"TableName": TABLE,
                                     "Item": {"p_date": {"S.$": "$.p_date"}},
                                     "ConditionExpression": "attribute_not_exists(p_date)"},
                      "ResultPath": None,
                      "Catch": [{"ErrorEquals": [catch], "ResultPath": "$.error",
                                 "Next": "Busy"}],
                      "End": True},
        "Busy": {"Type": "Pass", "End": True}}}


@pytest.mark.parametrize(("catch", "status"), [
    ("DynamoDB.ConditionalCheckFailedException", "SUCCEEDED"),
    ("DynamoDb.ConditionalCheckFailedException", "FAILED"),  # the aws-sdk spelling
])
def test_the_executor_names_a_refusal_as_step_functions_does(
        tmp_path: Path, catch: str, status: str) -> None:
    # GIVEN a date already leased in the twin
    twin = LocalDynamoDb(tmp_path, {TABLE: "p_date"})
    twin.put_item(TableName=TABLE, Item={"p_date": {"S": "2024-05-01"}})
    executor = AslExecutor(_machine(catch), TaskRegistry({LEASE: sdk_task(twin.put_item)}))
    # WHEN the state machine asks for it again
    result = executor.run({"p_date": "2024-05-01"})
    # THEN only the optimized integration's name catches the refusal
    assert result.status == status
    if status == "SUCCEEDED":
        assert result.output["error"] == {"Error": "DynamoDB.ConditionalCheckFailedException",
                                          "Cause": "The conditional request failed"}
    else:
        assert result.error == "DynamoDB.ConditionalCheckFailedException"


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


@pytest.mark.parametrize(("resource", "code", "expected"), [
    ("arn:aws:states:::dynamodb:putItem", "RequestLimitExceeded",
     "DynamoDB.RequestLimitExceeded"),
    ("arn:aws:states:::glue:startJobRun.sync", "ConcurrentRunsExceededException",
     "Glue.ConcurrentRunsExceededException"),
    ("arn:aws:states:::aws-sdk:glue:startCrawler", "CrawlerRunningException",
     "Glue.CrawlerRunningException"),
    ("arn:aws:states:::aws-sdk:s3:createBucket", "BucketAlreadyExists",
     "S3.BucketAlreadyExistsException"),
    ("arn:aws:states:::aws-sdk:acmpca:deleteCertificateAuthority",
     "ResourceNotFoundException", "AcmPca.ResourceNotFoundException"),
    ("arn:aws:states:::aws-sdk:dynamodb:putItem", "ConditionalCheckFailedException",
     "DynamoDb.ConditionalCheckFailedException"),
])
def test_error_names_follow_the_integration_kind(resource: str, code: str,
                                                 expected: str) -> None:
    assert error_name(resource, _client_error(code)) == (expected, "m")
