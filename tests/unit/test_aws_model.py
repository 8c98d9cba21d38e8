"""The twins answer to botocore's service models (AWS's own API definitions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError

from local_aws.aws_model import aws_shaped, require_operation
from local_aws.sns import LocalSns

TOPIC = "arn:aws:sns:eu-west-1:123456789012:udp-alerts"


def test_every_boto3_named_method_of_the_twins_is_checked() -> None:
    # GIVEN the twins the AWS-side code talks to through boto3-shaped clients
    from local_aws.firehose import LocalFirehose
    from local_aws.glue.catalog import LocalGlueCatalog
    from local_aws.glue.crawlers import LocalCrawlers
    from local_aws.s3 import LocalS3

    for cls, ops in [(LocalGlueCatalog, {"get_partitions": "GetPartitions",
                                         "batch_create_partition": "BatchCreatePartition"}),
                     (LocalCrawlers, {"start_crawler": "StartCrawler",
                                      "get_crawler": "GetCrawler"}),
                     (LocalFirehose, {"put_record_batch": "PutRecordBatch"}),
                     (LocalS3, {"put_object": "PutObject"}),
                     (LocalSns, {"publish": "Publish"})]:
        # THEN each such method carries the operation it is held to
        for method, op in ops.items():
            assert getattr(getattr(cls, method), "__aws_operation__", None) == op, (cls, method)


def test_a_wrong_parameter_name_or_type_fails_before_the_twin_runs(tmp_path: Path) -> None:
    sns: Any = LocalSns(tmp_path)  # deliberately called wrongly: not for the type checker
    with pytest.raises(ParamValidationError, match="Unknown parameter in input: \"Topic\""):
        sns.publish(Topic=TOPIC, Message="m")
    with pytest.raises(ParamValidationError, match="Message"):
        sns.publish(TopicArn=TOPIC, Message=42)
    with pytest.raises(TypeError, match="keyword arguments only"):
        sns.publish(TOPIC, "m")
    assert not list(tmp_path.iterdir())  # nothing was recorded
    assert sns.publish(TopicArn=TOPIC, Message="m")["MessageId"]


def test_an_answer_aws_could_not_give_fails_the_twin() -> None:
    @aws_shaped("sns")
    class Broken:
        def publish(self, **_: object) -> dict[str, object]:
            return {"MessageId": 7}  # MessageId is a string in SNS's model

    with pytest.raises(ParamValidationError, match="not AWS-shaped"):
        Broken().publish(TopicArn=TOPIC, Message="m")


def test_operation_lookup_refuses_non_operations() -> None:
    assert require_operation("glue", "start_job_run").name == "StartJobRun"
    with pytest.raises(LookupError):
        require_operation("glue", "start_job_run_sync")
