"""The Lambda handler's AWS wiring against moto (Firehose + S3) and the API twin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ingest_lambda.handler import handler
from local_aws.user_api.server import ApiOptions, generate_user, serve_user_api


@dataclass
class FakeLambdaContext:
    aws_request_id: str = "req-0001"
    function_name: str = "udp-ingest"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:udp-ingest"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="lake")
        s3.create_bucket(Bucket="errors")
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName="udp-user-data", DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::lake", "Prefix": "raw/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}})
        yield s3


def test_handler_delivers_valid_records_and_quarantines_bad_ones(
        aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the API twin corrupting 10% of records and the handler's environment
    options = ApiOptions(malformed_rate=0.1)
    with serve_user_api(options) as url:
        monkeypatch.setenv("API_URL", url)
        monkeypatch.setenv("DELIVERY_STREAM", "udp-user-data")
        monkeypatch.setenv("ERRORS_BUCKET", "errors")
        # WHEN invoked as EventBridge Scheduler would
        out = handler({"seed": "s1", "pages": 2, "page_size": 60}, FakeLambdaContext())
    # THEN counts add up, and the bytes that reached S3 hold no secret
    assert out["records_seen"] == 120
    assert out["records_valid"] + out["records_rejected"] == 120
    assert out["records_sent"] == out["records_valid"] and out["records_rejected"] > 0
    s3 = aws_env
    lake = [s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket="lake")["Contents"]]
    lines = [json.loads(x) for blob in lake for x in blob.decode().splitlines() if x.strip()]
    assert len(lines) == out["records_valid"]
    assert all(set(rec["login"]) == {"uuid", "username"} for rec in lines)
    assert all(rec["batch_id"] == "req-0001" for rec in lines)
    errs = s3.list_objects_v2(Bucket="errors")["Contents"]
    assert errs[0]["Key"].startswith("ingest/p_date=")
    blob = b"".join(lake) + b"".join(
        s3.get_object(Bucket="errors", Key=o["Key"])["Body"].read() for o in errs)
    secrets = {generate_user("s1", p, i, options)["login"]["password"]
               for p in (1, 2) for i in range(60)}
    assert not [s for s in secrets if s.encode() in blob]
