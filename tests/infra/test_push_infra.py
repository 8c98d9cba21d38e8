"""The push construct alone in a small stack: assertions, least privilege, cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.tables import RAW
from tests.infra.cfn import logical_id, render, resources, statements_of_role

pytestmark = pytest.mark.slow  # one synth (~20 s)

REGION, ACCOUNT = "eu-west-1", "111111111111"


def _build(outdir: Path, staging: Path, **overrides: Any) -> dict[str, Any]:
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_secretsmanager as secretsmanager
    from aws_cdk import aws_sns as sns

    from infra.push_stack import PushIngest, PushProps, stage_push_image_context

    app = cdk.App(outdir=str(outdir), analytics_reporting=False)
    stack = cdk.Stack(app, "push-only", env=cdk.Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    lake = s3.Bucket(stack, "Lake", encryption=s3.BucketEncryption.KMS, encryption_key=key)
    errors = s3.Bucket(stack, "Errors", encryption=s3.BucketEncryption.KMS, encryption_key=key)
    PushIngest(stack, "Push", PushProps(
        env_name="dev", key=key, lake=lake, errors=errors, raw_database=RAW.database,
        salt_secret=secretsmanager.Secret(stack, "Salt", encryption_key=key),
        alert_topic=sns.Topic(stack, "Alerts", master_key=key),
        image_context=stage_push_image_context(staging), **overrides))
    app.synth()
    return json.loads((outdir / "push-only.template.json").read_text())


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("push-synth")
    template = _build(root / "cdk.out", root / "image")
    return root / "cdk.out" / "push-only.template.json", template


@pytest.fixture(scope="module")
def template(synth: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return synth[1]


def _one(template: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    found = list(resources(template, cfn_type).values())
    assert len(found) == 1, cfn_type
    return found[0]["Properties"]


def test_stream_is_on_demand_and_kms_encrypted(template: dict[str, Any]) -> None:
    props = _one(template, "AWS::Kinesis::Stream")
    assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert props["StreamEncryption"]["EncryptionType"] == "KMS"
    assert "ShardCount" not in props
    assert props["RetentionPeriodHours"] == 168


def test_table_is_on_demand_with_pitr_and_the_customer_key(template: dict[str, Any]) -> None:
    props = _one(template, "AWS::DynamoDB::Table")
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "user_id", "KeyType": "HASH"}]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"


def test_firehose_reads_the_stream_into_the_raw_layout_as_parquet(
        template: dict[str, Any]) -> None:
    from infra.stack import FIREHOSE_ERROR_PREFIX, FIREHOSE_PREFIX

    props = render(_one(template, "AWS::KinesisFirehose::DeliveryStream"))
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"].startswith("<PushStream")
    dest = props["ExtendedS3DestinationConfiguration"]
    # the same prefixes as the pull path's delivery stream: the nightly run needs no change
    assert (dest["Prefix"], dest["ErrorOutputPrefix"]) == (FIREHOSE_PREFIX,
                                                           FIREHOSE_ERROR_PREFIX)
    conversion = dest["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["SchemaConfiguration"]["TableName"] == RAW.name
    assert conversion["SchemaConfiguration"]["DatabaseName"] == RAW.database
    assert conversion["OutputFormatConfiguration"]["Serializer"] == {
        "ParquetSerDe": {"Compression": "SNAPPY"}}


def test_consumer_mapping_reports_item_failures_bisects_and_has_a_destination(
        template: dict[str, Any]) -> None:
    props = render(_one(template, "AWS::Lambda::EventSourceMapping"))
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 5
    assert props["StartingPosition"] == "TRIM_HORIZON"
    queue = logical_id(template, "PushConsumerOnFailure", "AWS::SQS::Queue")
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == f"<{queue}.Arn>"
    alarms = [render(a["Properties"]) for a in resources(template,
                                                         "AWS::CloudWatch::Alarm").values()]
    on_queue = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    assert len(on_queue) == 1 and on_queue[0]["AlarmActions"]


def test_api_wants_a_key_throttles_and_logs_access(template: dict[str, Any]) -> None:
    methods = [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()]
    assert sorted(m["HttpMethod"] for m in methods) == ["GET", "POST"]
    assert all(m["ApiKeyRequired"] is True for m in methods)
    assert all(m["AuthorizationType"] == "AWS_IAM" for m in methods)
    assert all(m["Integration"]["Type"] == "AWS_PROXY" for m in methods)
    stage = _one(template, "AWS::ApiGateway::Stage")
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]
    settings = stage["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    plan = _one(template, "AWS::ApiGateway::UsagePlan")
    assert plan["Throttle"]["RateLimit"] > 0 and plan["Quota"]["Period"] == "DAY"
    assert len(resources(template, "AWS::ApiGateway::ApiKey")) == 1
    assert len(resources(template, "AWS::ApiGateway::UsagePlanKey")) == 1


def _actions(template: dict[str, Any], role_prefix: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in statements_of_role(template, logical_id(template, role_prefix, "AWS::IAM::Role")):
        for action in s["Action"] if isinstance(s["Action"], list) else [s["Action"]]:
            resources_ = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            out.setdefault(action, set()).update(map(str, resources_))
    return out


def test_roles_are_least_privilege(template: dict[str, Any]) -> None:
    stream = f"<{logical_id(template, 'PushStream', 'AWS::Kinesis::Stream')}.Arn>"
    table = f"<{logical_id(template, 'PushUsersTable', 'AWS::DynamoDB::Table')}.Arn>"
    api = _actions(template, "PushApiFunctionRole")
    assert api["kinesis:PutRecords"] == {stream}
    assert api["dynamodb:GetItem"] == {table}
    assert not any(a.startswith(("dynamodb:Put", "secretsmanager:", "kinesis:Get")) for a in api)
    consumer = _actions(template, "PushConsumerFunctionRole")
    assert consumer["dynamodb:PutItem"] == {table}
    assert "kinesis:PutRecords" not in consumer and "dynamodb:GetItem" not in consumer
    assert len(consumer["secretsmanager:GetSecretValue"]) == 1
    firehose = _actions(template, "PushFirehoseRole")
    assert firehose["kinesis:GetRecords"] == {stream}
    assert any(f"/{RAW.prefix}/*" in r for r in firehose["s3:PutObject"])
    client = _actions(template, "PushClientRole")
    assert set(client) == {"execute-api:Invoke"}
    invoke = client["execute-api:Invoke"]
    assert len(invoke) == 2 and all("/v1/" in r for r in invoke), invoke
    # no managed policy anywhere, no * action
    assert not any(r["Properties"].get("ManagedPolicyArns")
                   for r in resources(template, "AWS::IAM::Role").values())
    for role in resources(template, "AWS::IAM::Role"):
        for statement in statements_of_role(template, role):
            assert "*" not in statement["Action"], role


def test_functions_are_one_container_image_with_two_commands(template: dict[str, Any]) -> None:
    functions = [f["Properties"] for f in resources(template, "AWS::Lambda::Function").values()]
    assert len(functions) == 2
    assert all(f["PackageType"] == "Image" for f in functions)
    assert sorted(f["ImageConfig"]["Command"][0] for f in functions) == [
        "push_api.api.handler", "push_api.consumer.handler"]
    # no reservation unless asked (tests/infra/test_deploy_checks.py checks the whole stack)
    assert all("ReservedConcurrentExecutions" not in f for f in functions)


def test_a_reservation_is_made_only_when_its_setting_asks(tmp_path: Path) -> None:
    # GIVEN the push path built with both reservations asked for
    template = _build(tmp_path / "cdk.out", tmp_path / "image", api_reserved_concurrency=7,
                      consumer_reserved_concurrency=3)
    # THEN each function reserves what its setting says
    reserved = sorted((f["Properties"]["ImageConfig"]["Command"][0],
                       f["Properties"].get("ReservedConcurrentExecutions"))
                      for f in resources(template, "AWS::Lambda::Function").values())
    assert reserved == [("push_api.api.handler", 7), ("push_api.consumer.handler", 3)]


def test_cfn_lint_is_clean(synth: tuple[Path, dict[str, Any]]) -> None:
    from infra.checks import run_cfn_lint

    assert run_cfn_lint(synth[0], regions=[REGION]) == []


def test_checkov_finds_nothing_in_the_construct_and_each_skip_is_used(
        synth: tuple[Path, dict[str, Any]], template: dict[str, Any]) -> None:
    from infra.checks import run_checkov

    # WHEN checkov scans the template offline (the scaffolding buckets are not ours)
    result = run_checkov(synth[0])
    ours = [f for f in result.failed if f[1].startswith("Push")]
    # THEN the construct has no finding, and every skip it declares silences one
    assert ours == []
    declared = {(e["id"], rid) for rid, r in template["Resources"].items()
                for e in r.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    assert declared == {s for s in result.skipped if s[1].startswith("Push")}
    assert result.passed > 50


def test_push_props_for_fits_the_real_stack(tmp_path: Path) -> None:
    # GIVEN the dev stack as infra.app builds it, plus the one line that adds the push path
    from infra.app import build_app
    from infra.checks import run_cfn_lint
    from infra.config import env_config
    from infra.push_stack import PushIngest, push_props_for

    env = env_config("dev")
    app, stack = build_app(env, tmp_path / "cdk.out", staging_dir=tmp_path / "staging")
    if stack.node.try_find_child("Push") is None:  # until UdpStack adds it itself
        PushIngest(stack, "Push", push_props_for(stack))
    # WHEN synthesized
    app.synth()
    path = tmp_path / "cdk.out" / f"{env.stack_name}.template.json"
    template = json.loads(path.read_text())
    # THEN cfn-lint is clean, and the push Firehose waits for the raw table it converts with
    assert run_cfn_lint(path, regions=[env.region]) == []
    push_firehose = logical_id(template, "PushDeliveryStream")
    assert "RawTable" in template["Resources"][push_firehose]["DependsOn"]
    # (the stack's other table is the pipeline's date lease, ADR 0008)
    [table] = [r["Properties"] for r in resources(template, "AWS::DynamoDB::Table").values()
               if r["Properties"]["TableName"] != env.pipeline.lease_table]
    assert table["TableName"] == f"udp-{env.name}-users"


@pytest.mark.parametrize(("days", "kept"), [
    (1, "ONE_DAY"), (2, "THREE_DAYS"), (3, "THREE_DAYS"), (31, "TWO_MONTHS"),
    (120, "SIX_MONTHS"), (365, "ONE_YEAR"), (400, "ONE_YEAR")])
def test_log_retention_rounds_up_to_a_cloudwatch_period(days: int, kept: str) -> None:
    from aws_cdk import aws_logs as logs

    from infra.retention import log_retention

    # GIVEN an environment's log retention in days (both stacks' log groups use it)
    # WHEN it is turned into a CloudWatch retention
    # THEN it is the next period CloudWatch offers, a year at most
    assert log_retention(days) == getattr(logs.RetentionDays, kept)
