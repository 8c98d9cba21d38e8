"""The twins answer to botocore's service models (AWS's own API definitions)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from local_aws.aws_model import (
    _compact,
    aws_shaped,
    require_operation,
    validate_request,
    validate_response,
)
from local_aws.sns.client import LocalSns

TOPIC = "arn:aws:sns:eu-west-1:123456789012:udp-alerts"


def test_every_boto3_named_method_of_the_twins_is_checked() -> None:
    # GIVEN the twins the AWS-side code talks to through boto3-shaped clients
    from local_aws.firehose.delivery import LocalFirehose
    from local_aws.glue.catalog import LocalGlueCatalog
    from local_aws.glue.crawlers import LocalCrawlers
    from local_aws.s3.client import LocalS3

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


# ------------------------------------------------------------------ the compact check

_VALUES = st.one_of(st.binary(max_size=3), st.text(max_size=2), st.integers(-2, 2),
                    st.none(), st.booleans(), st.lists(st.integers(), max_size=1))
_ITEM = st.one_of(
    st.dictionaries(st.sampled_from(["Data", "PartitionKey", "ExplicitHashKey", "Nope"]),
                    _VALUES, max_size=4),
    _VALUES)


@settings(max_examples=300, deadline=None)
@given(records=st.lists(_ITEM, max_size=12),
       op=st.sampled_from([("firehose", "put_record_batch", "Records"),
                           ("kinesis", "put_records", "Records")]))
def test_the_compact_check_gives_botocores_verdict_and_report(
        records: list[Any], op: tuple[str, str, str]) -> None:
    # GIVEN a batch of any records, well-formed or not (Kinesis's PartitionKey has a
    # minimum length of 1, so an empty one is wrong where a non-empty one is not)
    service, method, field = op
    model = require_operation(service, method)
    stream = "StreamName" if service == "kinesis" else "DeliveryStreamName"
    params = {stream: "s", field: records}
    # WHEN the twins' check runs, and botocore's own validator on the whole batch
    full = ParamValidator().validate(params, model.input_shape)
    try:
        validate_request(model, params)
        ours = None
    except ParamValidationError as exc:
        ours = str(exc)
    # THEN both agree on valid or not, and on every word of the report
    if full.has_errors():
        assert ours == str(ParamValidationError(report=full.generate_report()))
    else:
        assert ours is None


def test_a_batch_of_alike_records_is_checked_as_one() -> None:
    # GIVEN 500 well-formed records and one bad one at the end
    model = require_operation("firehose", "put_record_batch")
    good = [{"Data": b"x" * i} for i in range(500)]
    # THEN the compact value holds one record per distinct shape of record
    assert _compact({"DeliveryStreamName": "s", "Records": good}, model.input_shape) == {
        "DeliveryStreamName": "s", "Records": [{"Data": b""}]}
    # AND the bad record is still found, under its own index
    with pytest.raises(ParamValidationError, match=r"Records\[500\]\.Data"):
        validate_request(model, {"DeliveryStreamName": "s", "Records": [*good, {"Data": 5}]})


def test_a_nan_is_not_taken_for_a_value_below_the_minimum() -> None:
    # GIVEN a twin's GetCrawlerMetrics answer whose first crawler has a NaN time left
    # (no minimum to break: NaN < 0 is false) and whose second has -1 (below min 0)
    model = require_operation("glue", "get_crawler_metrics")
    body = {"CrawlerMetricsList": [{"CrawlerName": "a", "TimeLeftSeconds": math.nan},
                                   {"CrawlerName": "b", "TimeLeftSeconds": -1.0}]}
    full = ParamValidator().validate(body, model.output_shape)
    assert full.has_errors()
    # WHEN the twins' check runs on it
    # THEN it refuses it as botocore does, naming the second crawler
    with pytest.raises(ParamValidationError, match=r"CrawlerMetricsList\[1\]\.TimeLeftSeconds"):
        validate_response(model, body)
