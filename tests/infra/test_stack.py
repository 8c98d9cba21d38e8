"""aws_cdk.assertions over the synthesized dev stack, one test group per resource family."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from contracts.tables import RAW
from crawlers.specs import default_specs
from infra.stack import BACKFILL_DEFINITION_PATH, FIREHOSE_ERROR_PREFIX, FIREHOSE_PREFIX
from infra.translate import crawler_properties
from orchestration.schedules import ingest_schedule, nightly_pipeline_schedule
from orchestration.state_machine import DEFINITION_PATH, placeholder_values
from tests.infra.cfn import logical_id, render, resources
from tests.infra.conftest import Synth

pytestmark = pytest.mark.slow  # the session's one synth takes ~30 s


# ------------------------------------------------------------------ storage

def test_every_bucket_is_private_tls_only_and_encrypted(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 5
    for rid, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True}, rid
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        assert algorithm == ("AES256" if rid.startswith("AccessLogs") else "aws:kms"), rid
    policies = {render(p["Properties"]["Bucket"]): p["Properties"]["PolicyDocument"]
                for p in resources(template, "AWS::S3::BucketPolicy").values()}
    for rid in buckets:
        denies = [s for s in policies[f"<{rid}>"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in denies), rid


def test_error_and_temp_data_expire(synth: Synth, template: dict[str, Any]) -> None:
    env = synth.env
    rules = {rid: {r["Id"]: r for r in b["Properties"]["LifecycleConfiguration"]["Rules"]}
             for rid, b in resources(template, "AWS::S3::Bucket").items()}
    lake = rules[logical_id(template, "LakeBucket")]
    assert lake["expire-glue-temp"]["Prefix"] == "tmp/"
    assert lake["expire-glue-temp"]["ExpirationInDays"] == env.temp_retention_days
    assert lake["expire-firehose-errors"]["Prefix"] == "errors/"
    errors = rules[logical_id(template, "ErrorsBucket")]
    assert errors["expire-quarantine"]["ExpirationInDays"] == env.error_retention_days
    athena = rules[logical_id(template, "AthenaResultsBucket")]
    assert athena["expire-query-results"]["ExpirationInDays"] == env.athena_results_retention_days


def test_bucket_names_are_the_pipeline_config_names(synth: Synth, assertions: Any) -> None:
    cfg = synth.env.pipeline
    for name in (cfg.lake_bucket, cfg.errors_bucket):
        assertions.has_resource_properties("AWS::S3::Bucket", {"BucketName": name})


# ------------------------------------------------------------------ delivery

def test_firehose_converts_to_parquet_with_the_raw_table(synth: Synth, assertions: Any,
                                                         template: dict[str, Any]) -> None:
    # the pull path's (DirectPut) and the push path's (the Kinesis stream as source)
    assertions.resource_count_is("AWS::KinesisFirehose::DeliveryStream", 2)
    assertions.has_resource_properties("AWS::KinesisFirehose::DeliveryStream", {
        "DeliveryStreamName": synth.env.pipeline.delivery_stream,
        "DeliveryStreamType": "DirectPut",
        "ExtendedS3DestinationConfiguration": Match.object_like({
            "Prefix": FIREHOSE_PREFIX,
            "ErrorOutputPrefix": FIREHOSE_ERROR_PREFIX,
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 300},
            "CompressionFormat": "UNCOMPRESSED",
            "CloudWatchLoggingOptions": Match.object_like({"Enabled": True}),
            "DataFormatConversionConfiguration": {
                "Enabled": True,
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": Match.any_value()}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {
                    "Compression": "SNAPPY"}}},
                "SchemaConfiguration": Match.object_like({
                    "DatabaseName": RAW.database, "TableName": RAW.name,
                    "VersionId": "LATEST"}),
            },
        }),
    })
    streams = {s["Properties"]["DeliveryStreamType"]: s["Properties"] for s in
               resources(template, "AWS::KinesisFirehose::DeliveryStream").values()}
    assert set(streams) == {"DirectPut", "KinesisStreamAsSource"}
    dest = streams["DirectPut"]["ExtendedS3DestinationConfiguration"]
    assert dest["Prefix"] == "raw/user_data/p_date=!{timestamp:yyyy-MM-dd}/"
    assert "!{firehose:error-output-type}" in dest["ErrorOutputPrefix"]
    assert render(dest["BucketARN"]) == f"<{logical_id(template, 'LakeBucket')}.Arn>"
    # AND pushed users land in the same raw table, layout and format (the nightly takes
    # them with no change): the push stream's destination differs only in its role, log
    # group and stream
    push = streams["KinesisStreamAsSource"]["ExtendedS3DestinationConfiguration"]
    same = ("BucketARN", "Prefix", "ErrorOutputPrefix", "BufferingHints", "CompressionFormat",
            "EncryptionConfiguration")
    assert {k: render(push[k]) for k in same} == {k: render(dest[k]) for k in same}
    conversion = {k: v for k, v in render(dest["DataFormatConversionConfiguration"]).items()
                  if k != "SchemaConfiguration"}
    assert {k: v for k, v in render(push["DataFormatConversionConfiguration"]).items()
            if k != "SchemaConfiguration"} == conversion
    schema = render(push["DataFormatConversionConfiguration"]["SchemaConfiguration"])
    assert (schema["DatabaseName"], schema["TableName"]) == (RAW.database, RAW.name)


# ------------------------------------------------------------------ catalog

def test_raw_table_is_declared_from_the_contract(synth: Synth, template: dict[str, Any]) -> None:
    (table,) = resources(template, "AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    assert table["Properties"]["DatabaseName"] == RAW.database
    assert table_input["StorageDescriptor"]["Columns"] == RAW.glue_columns()
    assert table_input["PartitionKeys"] == RAW.partition_keys
    assert table_input["StorageDescriptor"]["Location"] == synth.env.pipeline.raw_uri


def test_crawlers_are_built_from_the_specs(synth: Synth, template: dict[str, Any]) -> None:
    crawlers = {c["Properties"]["Name"]: c["Properties"]
                for c in resources(template, "AWS::Glue::Crawler").values()}
    specs = default_specs(synth.env.pipeline)
    assert set(crawlers) == {s.name for s in specs}
    for spec in specs:
        deployed = dict(crawlers[spec.name])
        role = deployed.pop("Role")
        assert render(role).startswith("<CrawlerRole"), role
        assert deployed == {k: v for k, v in crawler_properties(spec, role, "udp-dev").items()
                            if k != "Role"}


def test_glue_databases_and_security_configuration(synth: Synth, assertions: Any) -> None:
    cfg = synth.env.pipeline
    for name in (cfg.raw_database, cfg.transform_database):
        assertions.has_resource_properties("AWS::Glue::Database", {
            "DatabaseInput": Match.object_like({"Name": name})})
    assertions.has_resource_properties("AWS::Glue::SecurityConfiguration", {
        "EncryptionConfiguration": {
            "S3Encryptions": [Match.object_like({"S3EncryptionMode": "SSE-KMS"})],
            "CloudWatchEncryption": Match.object_like({"CloudWatchEncryptionMode": "SSE-KMS"}),
            "JobBookmarksEncryption": Match.object_like(
                {"JobBookmarksEncryptionMode": "CSE-KMS"})}})


# ------------------------------------------------------------------ Glue jobs

@pytest.mark.parametrize("job", ["transform_job", "load_job"])
def test_glue_jobs_are_glue6_date_driven_and_sized_for_backfills(
        synth: Synth, template: dict[str, Any], job: str) -> None:
    name = getattr(synth.env.pipeline, job)
    (props,) = [j["Properties"] for j in resources(template, "AWS::Glue::Job").values()
                if j["Properties"]["Name"] == name]
    args = render(props["DefaultArguments"])
    assert props["GlueVersion"] == "6.0"
    assert props["ExecutionProperty"] == {"MaxConcurrentRuns": synth.env.max_concurrent_runs}
    assert props["SecurityConfiguration"] == "udp-dev"
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert args["--enable-metrics"] == "true"
    assert "--p_date" not in args  # each run passes its own date
    wheel = args["--additional-python-modules"].split(",")[0]
    assert wheel.endswith("/wheels/user_data_pipeline-0.1.0-py3-none-any.whl")
    assert args["--python-modules-installer-option"] == "--no-deps"
    assert render(props["Command"]["ScriptLocation"]).startswith("s3://<ScriptsBucket")


def test_bulk_import_gets_its_table_secret_and_copy_role(synth: Synth,
                                                         template: dict[str, Any]) -> None:
    (props,) = [j["Properties"] for j in resources(template, "AWS::Glue::Job").values()
                if j["Properties"]["Name"] == synth.env.pipeline.load_job]
    args = render(props["DefaultArguments"])
    assert args["--table_uri"] == synth.env.pipeline.users_uri
    assert args["--secret_id"] == f"<{logical_id(template, 'RedshiftLoadSecret')}>"
    assert args["--iam_role_arn"] == f"<{logical_id(template, 'RedshiftCopyRole')}.Arn>"
    assert "redshift_connector==2.2.0" in args["--additional-python-modules"].split(",")
    assert props["Connections"] == {"Connections": ["udp-dev-vpc"]}


def test_scripts_and_wheel_are_deployed_to_the_scripts_bucket(synth: Synth,
                                                              template: dict[str, Any]) -> None:
    (deployment,) = resources(template, "Custom::CDKBucketDeployment").values()
    assert render(deployment["Properties"]["DestinationBucketName"]) == (
        f"<{logical_id(template, 'ScriptsBucket')}>")
    staged = synth.outdir.parent / "staging" / "glue"
    assert sorted(p.name for p in (staged / "scripts").iterdir()) == [
        "bulk_import.py", "erase_users.py", "transform_users.py"]


# ------------------------------------------------------------------ ingest

def test_ingest_lambda_is_a_container_with_dlq(
        synth: Synth, template: dict[str, Any]) -> None:
    fn = template["Resources"][logical_id(template, "IngestFunction", "AWS::Lambda::Function")]
    props = fn["Properties"]
    assert props["PackageType"] == "Image"
    assert render(props["DeadLetterConfig"]["TargetArn"]) == (
        f"<{logical_id(template, 'IngestDlq', 'AWS::SQS::Queue')}.Arn>")
    env = props["Environment"]["Variables"]
    assert env["DELIVERY_STREAM"] == synth.env.pipeline.delivery_stream
    assert env["ERRORS_BUCKET"] == synth.env.pipeline.errors_bucket
    assert env["API_URL"] == synth.env.api_url


def test_image_asset_is_staged_not_built(synth: Synth) -> None:
    # GIVEN the cloud assembly's asset manifest
    manifest = json.loads((synth.outdir / f"{synth.env.stack_name}.assets.json").read_text())
    images = {i["source"]["dockerFile"]: i for i in manifest["dockerImages"].values()}
    # THEN each image (the ingest Lambda's; the push API's and consumer's, one image) is
    # described for the deploy to build, from a context with its Dockerfile and only
    # the packages it ships
    assert set(images) == {"ingest_lambda/Dockerfile", "push_api/Dockerfile"}
    for dockerfile, packages in (("ingest_lambda/Dockerfile", ["contracts", "ingest_lambda"]),
                                 ("push_api/Dockerfile",
                                  ["contracts", "ingest_lambda", "push_api"])):
        context = synth.outdir / images[dockerfile]["source"]["directory"]
        assert (context / dockerfile).is_file()
        assert sorted(p.name for p in context.iterdir()) == packages


def test_schedules_are_the_orchestration_schedules(synth: Synth, template: dict[str, Any]) -> None:
    deployed = {s["Properties"]["Name"]: render(s["Properties"])
                for s in resources(template, "AWS::Scheduler::Schedule").values()}
    dlq = "arn:aws:sqs:eu-west-1:111111111111:queue"
    expected = {
        "udp-ingest": ingest_schedule(lambda_arn="x", role_arn="r", dead_letter_arn=dlq,
                                      every_minutes=synth.env.ingest_every_minutes),
        "udp-nightly-pipeline": nightly_pipeline_schedule(
            state_machine_arn="x", role_arn="r", dead_letter_arn=dlq,
            hour=synth.env.nightly_hour, minute=synth.env.nightly_minute,
            timezone=synth.env.nightly_timezone),
    }
    assert set(deployed) == set(expected)
    for name, schedule in expected.items():
        want = schedule.cfn_properties()
        got = deployed[name]
        for key in ("ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow",
                    "State"):
            assert got[key] == want[key], (name, key)
        assert got["Target"]["RetryPolicy"] == want["Target"]["RetryPolicy"]
        assert got["Target"]["Input"] == want["Target"]["Input"]
        assert "ScheduleDlq" in got["Target"]["DeadLetterConfig"]["Arn"]
    assert deployed["udp-nightly-pipeline"]["Target"]["Arn"] == (
        f"<{logical_id(template, 'PipelineStateMachine', 'AWS::StepFunctions::StateMachine')}>")


# ------------------------------------------------------------------ orchestration

def _machine(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    rid = logical_id(template, prefix, "AWS::StepFunctions::StateMachine")
    props: dict[str, Any] = template["Resources"][rid]["Properties"]
    return props


def test_pipeline_state_machine_is_the_asl_file_with_only_placeholders_substituted(
        synth: Synth, template: dict[str, Any]) -> None:
    # GIVEN the deployed state machine
    props = _machine(template, "PipelineStateMachine")
    # THEN its definition is the file's text, unchanged
    assert props["DefinitionString"] == DEFINITION_PATH.read_text(encoding="utf-8")
    # AND the substitutions are the local run's values; the topic is the deployed one
    subs = render(props["DefinitionSubstitutions"])
    local = placeholder_values(synth.env.pipeline, synth.env.account, synth.env.region)
    assert set(subs) == set(local)
    assert {k: v for k, v in subs.items() if k != "AlertTopicArn"} == {
        k: v for k, v in local.items() if k != "AlertTopicArn"}
    assert subs["AlertTopicArn"] == f"<{logical_id(template, 'AlertTopic', 'AWS::SNS::Topic')}>"
    # AND substituting them yields valid JSON that names the deployed jobs
    text = props["DefinitionString"]
    for key, value in local.items():
        text = text.replace("${" + key + "}", value)
    definition = json.loads(text)
    assert definition["States"]["RunTransformJob"]["Parameters"]["JobName"] == (
        synth.env.pipeline.transform_job)
    assert "${" not in text


def test_date_lease_table_is_the_one_the_definition_locks(synth: Synth,
                                                         template: dict[str, Any]) -> None:
    # GIVEN the deployed lease table and the pipeline definition
    [(rid, props)] = [(r, t["Properties"])
                      for r, t in resources(template, "AWS::DynamoDB::Table").items()
                      if t["Properties"].get("TableName") == synth.env.pipeline.lease_table]
    definition = json.loads(DEFINITION_PATH.read_text(encoding="utf-8"))
    acquire = definition["States"]["AcquireDateLease"]
    # THEN it is keyed by p_date, on demand, KMS-encrypted with the data key, recoverable
    assert props["TableName"] == synth.env.pipeline.lease_table
    assert props["KeySchema"] == [{"AttributeName": "p_date", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert render(props["SSESpecification"]["KMSMasterKeyId"]) == (
        f"<{logical_id(template, 'DataKey', 'AWS::KMS::Key')}.Arn>")
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    # AND the definition's conditional put names it and refuses a live lease
    assert acquire["Resource"] == "arn:aws:states:::dynamodb:putItem"
    assert acquire["Parameters"]["TableName"] == "${LeaseTableName}"
    assert acquire["Parameters"]["ConditionExpression"] == (
        "attribute_not_exists(p_date) OR expires_at < :now")
    # AND the state machine is created after the table it locks
    machine_id = logical_id(template, "PipelineStateMachine", "AWS::StepFunctions::StateMachine")
    assert rid in template["Resources"][machine_id]["DependsOn"]


def test_backfill_state_machine_gets_the_nightly_names(template: dict[str, Any]) -> None:
    # GIVEN the deployed range backfill THEN it is the file, with the nightly machine's
    # substitutions (it crawls, runs both jobs and alerts like the nightly run)
    props = _machine(template, "BackfillStateMachine")
    assert props["DefinitionString"] == BACKFILL_DEFINITION_PATH.read_text(encoding="utf-8")
    nightly = _machine(template, "PipelineStateMachine")
    assert render(props["DefinitionSubstitutions"]) == render(
        nightly["DefinitionSubstitutions"])


def test_erasure_state_machine_is_the_file_with_its_job_table_bucket_and_topic(
        synth: Synth, template: dict[str, Any]) -> None:
    # GIVEN the deployed erasure state machine THEN it is the file, its placeholders set
    # to the erasure job, the lease table the nightly takes, the lake and the alert topic
    from orchestration.erasure import ERASURE_DEFINITION, ERASURE_PLACEHOLDERS

    props = _machine(template, "EraseStateMachine")
    assert props["DefinitionString"] == ERASURE_DEFINITION.read_text(encoding="utf-8")
    subs = render(props["DefinitionSubstitutions"])
    assert set(subs) == ERASURE_PLACEHOLDERS
    cfg = synth.env.pipeline
    assert (subs["EraseJobName"], subs["LeaseTableName"], subs["LakeBucketName"]) == (
        cfg.erase_job, cfg.lease_table, cfg.lake_bucket)
    assert subs["AlertTopicArn"] == f"<{logical_id(template, 'AlertTopic', 'AWS::SNS::Topic')}>"
    # AND its job is a Glue 6.0 Spark job in the VPC, at most as many runs at once as
    # the Map erases days at once
    job = render(template["Resources"]["EraseJob"]["Properties"])
    assert (job["GlueVersion"], job["Command"]["Name"]) == ("6.0", "glueetl")
    assert job["Connections"]["Connections"]
    definition = json.loads(ERASURE_DEFINITION.read_text(encoding="utf-8"))
    assert definition["States"]["EraseEachDay"]["MaxConcurrency"] <= (
        job["ExecutionProperty"]["MaxConcurrentRuns"])


def test_state_machines_log_and_trace(template: dict[str, Any]) -> None:
    for prefix in ("PipelineStateMachine", "BackfillStateMachine", "EraseStateMachine"):
        props = _machine(template, prefix)
        assert props["StateMachineType"] == "STANDARD"
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_alert_topic_is_encrypted_and_dlqs_alarm_into_it(synth: Synth,
                                                         template: dict[str, Any]) -> None:
    topic_id = logical_id(template, "AlertTopic", "AWS::SNS::Topic")
    topic = template["Resources"][topic_id]["Properties"]
    assert topic["TopicName"] == synth.env.pipeline.alert_topic
    assert "KmsMasterKeyId" in topic
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    assert {render(a["Properties"]["AlarmActions"][0]) for a in alarms} == {f"<{topic_id}>"}
    # two DLQ alarms + failed/timed-out/aborted executions of the three state machines +
    # the push consumer's on-failure queue and iterator age
    assert len(alarms) == 2 + 3 * 3 + 2


# ------------------------------------------------------------------ warehouse, query

def test_redshift_serverless_is_private_and_the_load_has_its_own_secret(
        synth: Synth, template: dict[str, Any], assertions: Any) -> None:
    env = synth.env
    (namespace,) = resources(template, "AWS::RedshiftServerless::Namespace").values()
    ns = render(namespace["Properties"])
    secret_id = logical_id(template, "RedshiftLoadSecret")
    assert ns["ManageAdminPassword"] is True and "AdminUserPassword" not in ns
    assert ns["DefaultIamRoleArn"] == f"<{logical_id(template, 'RedshiftCopyRole')}.Arn>"
    assert ns["NamespaceName"] == env.redshift_namespace
    assertions.has_resource_properties("AWS::RedshiftServerless::Workgroup", {
        "WorkgroupName": env.redshift_workgroup, "NamespaceName": env.redshift_namespace,
        "PubliclyAccessible": False, "BaseCapacity": env.redshift_base_rpu,
        "EnhancedVpcRouting": True,
        "SubnetIds": Match.any_value()})
    (workgroup,) = resources(template, "AWS::RedshiftServerless::Workgroup").values()
    assert len(workgroup["Properties"]["SubnetIds"]) == 3
    secret = template["Resources"][secret_id]["Properties"]
    fields = json.loads(secret["GenerateSecretString"]["SecretStringTemplate"])
    # the bulk import's secret parser needs host, port, dbname, username (+ password)
    assert fields == {"username": env.redshift_load_user, "dbname": env.redshift_database,
                      "host": env.redshift_host, "port": 5439}
    assert env.redshift_host.startswith(f"{env.redshift_workgroup}.{env.account}.")


def test_athena_workgroup_enforces_encrypted_results(template: dict[str, Any],
                                                     assertions: Any) -> None:
    assertions.has_resource_properties("AWS::Athena::WorkGroup", {
        "Name": "udp-dev",
        "WorkGroupConfiguration": Match.object_like({
            "EnforceWorkGroupConfiguration": True,
            "ResultConfiguration": {
                "OutputLocation": Match.any_value(),
                "EncryptionConfiguration": Match.object_like({"EncryptionOption": "SSE_KMS"})},
        })})
    (group,) = resources(template, "AWS::Athena::WorkGroup").values()
    location = render(group["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]
                      ["OutputLocation"])
    assert location == f"s3://<{logical_id(template, 'AthenaResultsBucket')}>/results/"
