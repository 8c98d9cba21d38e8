"""IAM, sufficient and least: every role is granted exactly what it is derived to need.

For each role the test DERIVES what it needs, then compares with the synthesized policies
(action -> resources, both ways: nothing missing, nothing extra):

* code: the boto3 calls the role's entrypoint can reach (``iam_derive.code_actions``);
* definitions read from the synthesized template: each state machine's Task resources
  (with what ``.sync`` needs), each schedule's target and dead-letter queue, the
  Lambda's log group, tracing and dead-letter queue, each job's script, wheel, TempDir,
  secret and connection, Firehose's destination, format conversion and logging;
* AWS-documented service needs, each named with its source (the constants below).

What cannot be derived offline (Access Analyzer's policy validation, an AccessDenied
that only a real run shows) is listed in docs/reference/iam.md.

Why one file of ~780 lines: it is a table of every role's needs, one function a role,
each next to the documented needs it cites; the derivation machinery itself lives in
``iam_derive.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from contracts.erasure import REGISTER_KEY
from contracts.erasure_store import register_uri
from contracts.tables import DQ_RESULTS, MODEL_TABLES, RAW, RUN_OUTCOMES, USERS
from crawlers.specs import CrawlerSpec, default_specs
from glue_jobs.erasure_job import ERRORS_PREFIX
from orchestration.erasure import ERASURE_DEFINITION
from orchestration.state_machine import DEFINITION_PATH
from tests.infra import iam_derive as derive
from tests.infra.cfn import (
    logical_id,
    policy_statements,
    render,
    resources,
    service_principals,
    statements_of_role,
)
from tests.infra.conftest import Synth

pytestmark = pytest.mark.slow

Needs = dict[str, set[str]]

# ---------------------------------------------------------------- documented needs
# KMS: every role that touches the data key's resources (SSE-KMS objects, the KMS-encrypted
# SQS queues, SNS topic and secrets) needs Decrypt and GenerateDataKey, never Encrypt:
# S3 SSE-KMS and SQS/SNS producers call GenerateDataKey (and Decrypt for multipart uploads
# and reads); nobody here encrypts with the key directly. A read-only role needs Decrypt.
KMS_USE = ("kms:Decrypt", "kms:GenerateDataKey")
KMS_READ = ("kms:Decrypt",)
# Lambda execution role writing to its own (pre-created) log group: CreateLogStream,
# PutLogEvents (AWS's AWSLambdaBasicExecutionRole, minus CreateLogGroup).
LAMBDA_LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
# Active tracing: the function's role sends segments (Lambda "Using X-Ray" page).
LAMBDA_XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# Step Functions logging to CloudWatch Logs ("IAM policies for logging to CloudWatch Logs"):
# log deliveries are account-level, so these actions take no resource ARN.
SFN_LOGS = ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")
SFN_XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
            "xray:GetSamplingTargets")
# Firehose to S3 ("Grant Firehose access to an Amazon S3 destination"), split into the
# bucket-level and the object-level actions (an object action on a bucket ARN grants
# nothing). Format conversion ("Grant Firehose access to AWS Glue for data format
# conversion"): GetTable, GetTableVersion(s) on the table; Glue authorizes a table action
# against the catalog and database ARNs too ("Specifying AWS Glue resource ARNs").
FIREHOSE_S3_BUCKET = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
FIREHOSE_S3_OBJECT = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")
FIREHOSE_GLUE = ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions")
# Firehose with a Kinesis stream as source (Firehose developer guide, "Controlling access
# with Amazon Data Firehose", the S3 destination policy's statement for a Kinesis source):
# the stream's shards and records; KMS_READ for an encrypted stream's records.
FIREHOSE_KINESIS_SOURCE = ("kinesis:DescribeStream", "kinesis:GetShardIterator",
                           "kinesis:GetRecords", "kinesis:ListShards")
# Lambda's Kinesis event source mapping polls with the function's role (Lambda developer
# guide, "Process Amazon Kinesis Data Streams records with Lambda"): the stream's
# description, shards and records; SubscribeToShard only through an enhanced fan-out
# consumer (it is granted on the consumer's ARN). AWSLambdaKinesisExecutionRole also has
# kinesis:ListStreams, which the mapping of a named stream does not call.
ESM_KINESIS = ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
               "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards")
ESM_KINESIS_FAN_OUT = ("kinesis:SubscribeToShard",)
# An SQS on-failure destination: Lambda sends the batch's description with the function's
# role (Lambda guide, "Retain discarded batch records for a Kinesis Data Streams event
# source"); the queue is KMS-encrypted, so KMS_USE on its key (SQS producers).
ESM_ON_FAILURE_SQS = ("sqs:SendMessage",)
# API Gateway's account-level CloudWatch role (AWS::ApiGateway::Account): what AWS's
# AmazonAPIGatewayPushToCloudWatchLogs grants, for execution and access logs of every API
# of the account and region (so every log group of the account: it is one role for all).
APIGW_ACCOUNT_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream",
                      "logs:DescribeLogGroups", "logs:DescribeLogStreams",
                      "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents")
# A caller of an IAM-authorized API method: execute-api:Invoke on the method's ARN
# (API Gateway guide, "Control access for invoking an API").
EXECUTE_API = ("execute-api:Invoke",)
# A Glue job run: reads its script and --additional-python-modules wheels, uses TempDir,
# lists the buckets it reads (Spark/EMRFS), writes continuous logs (with a security
# configuration that encrypts CloudWatch logs, AssociateKmsKey on the group), publishes
# job metrics (namespace Glue; --enable-metrics / observability metrics).
GLUE_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
             "logs:AssociateKmsKey")
GLUE_TEMP = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
# --spark-event-logs-path (Spark UI, "Enabling the Apache Spark web UI for AWS Glue jobs"):
# Spark's event-log writer goes through the job's S3 filesystem, which writes an
# in-progress file and renames it (a copy, then a delete) every 30 seconds.
GLUE_SPARK_UI = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
# A job whose security configuration encrypts job bookmarks client-side with a KMS key
# (JobBookmarksEncryptionMode CSE-KMS): Glue encrypts and decrypts the bookmark with the
# job's role ("Setting up encryption in AWS Glue": kms:Decrypt and kms:Encrypt on the key).
GLUE_BOOKMARKS_CSE_KMS = ("kms:Encrypt", "kms:Decrypt")
# Explicit allow-list: the security configuration a job or crawler runs with is read with
# its role (AWSGlueServiceRole grants it; it takes no resource ARN).
GLUE_SECURITY_CONFIGURATION = ("glue:GetSecurityConfiguration",)
# GlueContext.create_dynamic_frame.from_catalog with push_down_predicate and
# catalogPartitionPredicate: the table, then its matching partitions.
FROM_CATALOG = ("glue:GetTable", "glue:GetPartitions")
# A job in a VPC through a NETWORK connection ("Setting up network access to data
# stores" / Glue's VPC prerequisites): read the connection, create and tag the ENIs in
# the connection's subnet and security group, describe the network (no resource ARNs).
GLUE_CONNECTION_DESCRIBE = ("ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables",
                            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                            "ec2:DescribeNetworkInterfaces")
GLUE_CONNECTION_VPC = ("ec2:DescribeVpcAttribute",)  # takes the VPC's ARN
GLUE_CONNECTION_ENI = ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                       "ec2:CreateTags", "ec2:DeleteTags")
# Crawler service calls the local crawler (local_aws/glue/crawl.py) does not make: AWS documents
# the crawler's catalog rights only as "the AWSGlueServiceRole managed policy, or a scoped-down
# version" (Glue Developer Guide, "Crawler prerequisites"), so the scoped-down version keeps,
# on the crawler's own database, the reads the service makes to match folders against tables
# and partitions, and UpdateTable, which the service calls to record a crawl on each table it
# touches whatever the SchemaChangePolicy (the policy, not IAM, decides what changes). Every
# other catalog write comes from the derivation below.
CRAWLER_SERVICE_READS = ("glue:GetTables", "glue:GetPartition", "glue:BatchGetPartition",
                         "glue:UpdateTable")
# The Redshift Data API with a secret (Redshift Management Guide, "Authorizing access to
# the Amazon Redshift Data API"): statements run on the workgroup; a statement's status
# and result take no resource ARN (AWS scopes them to their caller with
# redshift-data:statement-owner-iam-userid); the Data API reads the secret it is given
# with the caller's rights, so the caller needs GetSecretValue on it. The admin secret
# Redshift manages for a namespace is named redshift!<namespace>-<admin user> ("Managing
# Amazon Redshift admin passwords using AWS Secrets Manager").
DATA_API_SECRET = ("secretsmanager:GetSecretValue",)
DATA_API_OWN_STATEMENTS = ("redshift-data:DescribeStatement",
                           "redshift-data:GetStatementResult")
# Redshift COPY ... IAM_ROLE from S3: list the prefix, get the objects, decrypt them;
# GetBucketLocation lets Redshift find the bucket's region (AWS's COPY role examples).
COPY_S3 = ("s3:GetObject",)
# S3 authorizes a GetObject or DeleteObject that names a versionId as s3:GetObjectVersion /
# s3:DeleteObjectVersion (S3 User Guide, "Retrieving object versions" and "Deleting
# object versions from a versioning-enabled bucket"): the erasure job deletes the older
# versions of every object it rewrites or deletes, and its verify reads the noncurrent
# versions that are left. The method names alone do not show the versionId.
S3_VERSIONED = ("s3:GetObjectVersion", "s3:DeleteObjectVersion")
COPY_BUCKET = ("s3:ListBucket", "s3:GetBucketLocation")

# What the local crawler (local_aws/glue/crawl.py) calls, and when: the model of Glue's
# crawler that this project keeps (it runs the same CrawlerSpec). The keys must equal the
# Glue operations crawl.py calls (test below), so the table cannot drift from the code.
# CreateDatabase: only ensure_databases (local set-up); the template creates databases.
CRAWLER_CALLS: dict[str, Callable[[CrawlerSpec], bool]] = {
    "glue:GetDatabase": lambda s: True,
    "glue:GetTable": lambda s: True,
    "glue:GetPartitions": lambda s: True,
    "glue:CreateTable": lambda s: True,
    "glue:BatchCreatePartition": lambda s: True,
    "glue:CreateDatabase": lambda s: False,
    "glue:UpdateTable": lambda s: (s.update_behavior == "UPDATE_IN_DATABASE"
                                   or s.delete_behavior == "DEPRECATE_IN_DATABASE"),
    "glue:BatchGetPartition": lambda s: (s.update_behavior == "UPDATE_IN_DATABASE"
                                         or s.delete_behavior == "DEPRECATE_IN_DATABASE"),
    "glue:UpdatePartition": lambda s: (s.update_behavior == "UPDATE_IN_DATABASE"
                                       or s.delete_behavior == "DEPRECATE_IN_DATABASE"),
    "glue:BatchDeletePartition": lambda s: s.delete_behavior == "DELETE_FROM_DATABASE",
    "glue:DeleteTable": lambda s: s.delete_behavior == "DELETE_FROM_DATABASE",
}

# Roles CDK's own constructs make (not ours to derive): named, so a new role of ours
# cannot slip through unchecked. Their action names are still checked against the catalogue.
CDK_OWN_ROLES = (
    "CustomCDKBucketDeployment",
    # AwsCustomResource's singleton Lambda (CDK names it by this fixed hash): it looks up
    # S3's managed prefix list for the Redshift egress rule (docs/operate/deploy-checks.md (c));
    # its one statement is ec2:DescribeManagedPrefixLists, pinned in test_deploy_checks
    "AWS679f53fac002430cb0da5b7982bd2287",
)


# ---------------------------------------------------------------- helpers


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _add(needs: Needs, actions: Iterable[str], resources_: Iterable[str]) -> None:
    where = set(resources_)
    for action in actions:
        needs.setdefault(action, set()).update(where)


def _grants(template: dict[str, Any], role_id: str) -> Needs:
    out: Needs = {}
    for statement in statements_of_role(template, role_id):
        _add(out, _list(statement["Action"]), map(str, _list(statement["Resource"])))
    return out


class Arns:
    """The template's resources as the rendered policies name them."""

    def __init__(self, synth: Synth) -> None:
        self.t = synth.template
        self.env = synth.env
        self.cfg = synth.env.pipeline
        self.region, self.account = synth.env.region, synth.env.account

    def id(self, prefix: str, cfn_type: str | None = None) -> str:
        if prefix in self.t["Resources"]:  # L1 constructs at stack level keep their id
            return prefix
        return logical_id(self.t, prefix, cfn_type)

    def att(self, prefix: str, cfn_type: str | None = None) -> str:
        return f"<{self.id(prefix, cfn_type)}.Arn>"

    def ref(self, prefix: str, cfn_type: str | None = None) -> str:
        return f"<{self.id(prefix, cfn_type)}>"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def glue_table(self, database: str, table: str) -> set[str]:
        """What a Glue table action is authorized against: catalog, database, table."""
        return {self.arn("glue", "catalog"), self.arn("glue", f"database/{database}"),
                self.arn("glue", f"table/{database}/{table}")}

    def s3_objects(self, uri: str) -> str:
        """``s3://<bucket>/a/b/`` → the rendered object ARN pattern ``<Bucket.Arn>/a/b/*``."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return f"{self.bucket(bucket)}/{key}*"

    def s3_object(self, uri: str) -> str:
        """``s3://<bucket>/a/b.json`` → the rendered ARN of that one object."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return f"{self.bucket(bucket)}/{key}"

    def bucket(self, name: str) -> str:
        """A bucket by name or by rendered ``<Ref>`` → its rendered ``<Id.Arn>``."""
        if name.startswith("<") and name.endswith(">"):
            return f"{name[:-1]}.Arn>"
        for rid, res in resources(self.t, "AWS::S3::Bucket").items():
            if res["Properties"].get("BucketName") == name:
                return f"<{rid}.Arn>"
        raise AssertionError(f"no bucket named {name}")

    def queue_arn(self, arn: str) -> str:
        """A queue ARN written literally → the rendered ``<Queue.Arn>`` of that queue."""
        name = arn.rsplit(":", 1)[1]
        token = re.fullmatch(r"<(\w+)\.QueueName>", name)
        if token:
            return f"<{token.group(1)}.Arn>"
        for rid, res in resources(self.t, "AWS::SQS::Queue").items():
            if res["Properties"].get("QueueName") == name:
                return f"<{rid}.Arn>"
        raise AssertionError(f"no queue named {name}")

    def role_ref(self, role_prefix: str) -> str:
        return self.id(role_prefix, "AWS::IAM::Role")


def _props(template: dict[str, Any], rid: str) -> dict[str, Any]:
    props: dict[str, Any] = render(template["Resources"][rid]["Properties"])
    return props


def _uses_role(template: dict[str, Any], rid: str, role_id: str) -> bool:
    return f"<{role_id}.Arn>" in str(_props(template, rid))


# ---------------------------------------------------------------- per-role derivations


def ingest_needs(a: Arns) -> Needs:
    needs: Needs = {}
    fn = _props(a.t, a.id("IngestFunction", "AWS::Lambda::Function"))
    env = fn["Environment"]["Variables"]
    # code: the handler's boto3 calls, on the resources its environment names
    entry = "ingest_lambda.handler"
    paths = derive.import_closure(entry)
    services = derive.boto3_clients(paths)
    assert services == {"firehose", "s3"}, services
    where = {"firehose": [a.arn("firehose", f"deliverystream/{env['DELIVERY_STREAM']}")],
             "s3": [f"{a.bucket(env['ERRORS_BUCKET'])}/*"]}
    for service in services:
        actions = derive.code_actions(paths, [service], derive.reachable_bodies(entry))
        if service == "s3":  # reads only the erasure register; writes only errors
            _add(needs, actions & {"s3:GetObject"}, [a.s3_object(env["ERASURE_REGISTER"])])
            actions -= {"s3:GetObject"}
        _add(needs, actions, where[service])
    # definition: its log group, active tracing, dead-letter queue, encrypted resources
    _add(needs, LAMBDA_LOGS, [fn["LoggingConfig"]["LogGroup"].replace(">", ".Arn>")])
    if fn.get("TracingConfig", {}).get("Mode") == "Active":
        _add(needs, LAMBDA_XRAY, ["*"])
    _add(needs, ["sqs:SendMessage"], [fn["DeadLetterConfig"]["TargetArn"]])
    _add(needs, KMS_USE, [a.att("DataKey")])
    return needs


def firehose_needs(a: Arns, stream_id: str = "DeliveryStream") -> Needs:
    needs: Needs = {}
    stream = _props(a.t, a.id(stream_id, "AWS::KinesisFirehose::DeliveryStream"))
    source = stream.get("KinesisStreamSourceConfiguration")
    if source is not None:  # the push path: Firehose reads the Kinesis stream
        _add(needs, FIREHOSE_KINESIS_SOURCE, [source["KinesisStreamARN"]])
    dest = stream["ExtendedS3DestinationConfiguration"]
    lake = dest["BucketARN"]
    _add(needs, FIREHOSE_S3_BUCKET, [lake])
    # objects under the static part of Prefix and ErrorOutputPrefix (before any !{...})
    static = [p.split("!{")[0].rsplit("/", 1)[0] + "/*"
              for p in (dest["Prefix"], dest["ErrorOutputPrefix"])]
    _add(needs, FIREHOSE_S3_OBJECT, [f"{lake}/{p}" for p in static])
    schema = dest["DataFormatConversionConfiguration"]["SchemaConfiguration"]
    _add(needs, FIREHOSE_GLUE, a.glue_table(schema["DatabaseName"], schema["TableName"]))
    logging = dest["CloudWatchLoggingOptions"]
    _add(needs, ["logs:PutLogEvents"], [a.arn(
        "logs", f"log-group:{logging['LogGroupName']}:log-stream:{logging['LogStreamName']}")])
    _add(needs, KMS_USE, [dest["EncryptionConfiguration"]["KMSEncryptionConfig"]
                          ["AWSKMSKeyARN"]])
    return needs


PUSH_ROOTS = (*derive.AWS_SIDE, "push_api")


def _lambda_definition_needs(a: Arns, fn: dict[str, Any]) -> Needs:
    """A function's log group, active tracing and (encrypted environment, KMS resources)."""
    needs: Needs = {}
    _add(needs, LAMBDA_LOGS, [fn["LoggingConfig"]["LogGroup"].replace(">", ".Arn>")])
    if fn.get("TracingConfig", {}).get("Mode") == "Active":
        _add(needs, LAMBDA_XRAY, ["*"])
    _add(needs, KMS_USE, [a.att("DataKey")])
    return needs


def _ref_arn(rendered_ref: str) -> str:
    """``<Id>`` (a name by Ref) → ``<Id.Arn>``."""
    return rendered_ref.replace(">", ".Arn>")


def push_api_needs(a: Arns) -> Needs:
    fn = _props(a.t, a.id("PushApiFunction", "AWS::Lambda::Function"))
    env = fn["Environment"]["Variables"]
    needs = _lambda_definition_needs(a, fn)
    # code: the API handler's boto3 calls (push_api.api.ports_from_env: Kinesis for POST,
    # DynamoDB for GET, S3 for the quarantine under the errors bucket's push/ prefix)
    entry = "push_api.api"
    paths = derive.import_closure(entry, PUSH_ROOTS)
    services = derive.boto3_clients(paths)
    assert services == {"kinesis", "dynamodb", "s3"}, services
    where = {"kinesis": [_ref_arn(env["STREAM_NAME"])],
             "dynamodb": [_ref_arn(env["USERS_TABLE"])],
             "s3": [f"{a.bucket(env['ERRORS_BUCKET'])}/push/*"]}
    bodies = derive.reachable_bodies(entry, PUSH_ROOTS)
    for service in services:
        actions = derive.code_actions(paths, [service], bodies)
        if service == "s3":  # reads only the erasure register; writes only push/ errors
            _add(needs, actions & {"s3:GetObject"}, [a.s3_object(env["ERASURE_REGISTER"])])
            actions -= {"s3:GetObject"}
        _add(needs, actions, where[service])
    return needs


def push_consumer_needs(a: Arns) -> Needs:
    fid = a.id("PushConsumerFunction", "AWS::Lambda::Function")
    fn = _props(a.t, fid)
    env = fn["Environment"]["Variables"]
    needs = _lambda_definition_needs(a, fn)
    # code: the consumer's boto3 calls (the salt once, conditional writes per user)
    entry = "push_api.consumer"
    paths = derive.import_closure(entry, PUSH_ROOTS)
    services = derive.boto3_clients(paths)
    assert services == {"dynamodb", "secretsmanager"}, services
    where = {"dynamodb": [_ref_arn(env["USERS_TABLE"])],
             "secretsmanager": [env["SALT_SECRET_ID"]]}
    bodies = derive.reachable_bodies(entry, PUSH_ROOTS)
    for service in services:
        _add(needs, derive.code_actions(paths, [service], bodies), where[service])
    # definition: every event source mapping of the function polls with its role
    mappings = [_props(a.t, rid) for rid in resources(a.t, "AWS::Lambda::EventSourceMapping")
                if _props(a.t, rid)["FunctionName"] == f"<{fid}>"]
    assert mappings, fid
    for esm in mappings:
        source = str(esm["EventSourceArn"])
        _add(needs, ESM_KINESIS, [source])
        if "/consumer/" in source:
            _add(needs, ESM_KINESIS_FAN_OUT, [source])
        destination = esm.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            assert a.t["Resources"][destination.strip("<>").split(".")[0]]["Type"] == (
                "AWS::SQS::Queue"), destination
            _add(needs, ESM_ON_FAILURE_SQS, [destination])
    return needs


def apigw_account_logs_needs(a: Arns) -> Needs:
    (account,) = resources(a.t, "AWS::ApiGateway::Account")
    assert _props(a.t, account)["CloudWatchRoleArn"] == (
        f"<{a.role_ref('PushApiGatewayLogsRole')}.Arn>")
    return {action: {a.arn("logs", "log-group:*")} for action in APIGW_ACCOUNT_LOGS}


def _method_path(a: Arns, resource_ref: str) -> str:
    """A method's resource → its path, ``{param}`` parts as ``*`` (an execute-api ARN)."""
    parts: list[str] = []
    rid = resource_ref.strip("<>")
    while rid in a.t["Resources"] and (
            a.t["Resources"][rid]["Type"] == "AWS::ApiGateway::Resource"):
        props = _props(a.t, rid)
        part = props["PathPart"]
        parts.append("*" if part.startswith("{") else part)
        rid = str(props["ParentId"]).strip("<>")
    return "/".join(reversed(parts))


def push_client_needs(a: Arns) -> Needs:
    # every IAM-authorized method of the push API, on its deployed stage
    api = a.id("PushApi", "AWS::ApiGateway::RestApi")
    (stage,) = [_props(a.t, rid) for rid in resources(a.t, "AWS::ApiGateway::Stage")
                if _props(a.t, rid)["RestApiId"] == f"<{api}>"]
    needs: Needs = {}
    for rid in resources(a.t, "AWS::ApiGateway::Method"):
        method = _props(a.t, rid)
        if method["RestApiId"] != f"<{api}>" or method["AuthorizationType"] != "AWS_IAM":
            continue
        path = _method_path(a, str(method["ResourceId"]))
        _add(needs, EXECUTE_API, [a.arn(
            "execute-api", f"<{api}>/{stage['StageName']}/{method['HttpMethod']}/{path}")])
    assert needs, "no IAM-authorized method"
    return needs


def crawler_needs(a: Arns, spec: CrawlerSpec) -> Needs:
    needs: Needs = {}
    for target in spec.targets:
        _add(needs, ["s3:GetObject"], [a.s3_objects(target)])
    _add(needs, ["s3:ListBucket"], [a.bucket(a.cfg.lake_bucket)])
    writes = {action for action, when in CRAWLER_CALLS.items() if when(spec)}
    _add(needs, writes | set(CRAWLER_SERVICE_READS), a.glue_table(spec.database, "*"))
    _add(needs, GLUE_SECURITY_CONFIGURATION, ["*"])
    _add(needs, GLUE_LOGS, [a.arn("logs", "log-group:/aws-glue/crawlers*")])
    _add(needs, KMS_USE, [a.att("DataKey")])
    return needs


def _glue_job_base(a: Arns, job: dict[str, Any]) -> Needs:
    needs: Needs = {}
    args = job["DefaultArguments"]
    code = [job["Command"]["ScriptLocation"], *args["--additional-python-modules"].split(",")]
    ours = [u for u in code if u.startswith("s3://")]
    _add(needs, ["s3:GetObject"], {a.s3_objects(u.rsplit("/", 1)[0] + "/") for u in ours})
    _add(needs, GLUE_TEMP, [a.s3_objects(args["--TempDir"])])
    written = [args["--TempDir"]]
    if "--spark-event-logs-path" in args:
        path = args["--spark-event-logs-path"]
        _add(needs, GLUE_SPARK_UI, [a.s3_objects(path if path.endswith("/") else f"{path}/")])
        written.append(path)
    buckets = {u.removeprefix("s3://").split("/")[0] for u in [*ours, *written]}
    _add(needs, ["s3:ListBucket"], {a.bucket(b) for b in buckets})
    _add(needs, GLUE_LOGS, [a.arn("logs", "log-group:/aws-glue/jobs*")])
    if args.get("--enable-metrics") == "true":
        _add(needs, ["cloudwatch:PutMetricData"], ["*"])
    if job.get("SecurityConfiguration"):
        _add(needs, GLUE_SECURITY_CONFIGURATION, ["*"])
        (config,) = [_props(a.t, rid) for rid in resources(a.t, "AWS::Glue::SecurityConfiguration")
                     if _props(a.t, rid)["Name"] == job["SecurityConfiguration"]]
        bookmarks = config["EncryptionConfiguration"].get("JobBookmarksEncryption", {})
        if bookmarks.get("JobBookmarksEncryptionMode") == "CSE-KMS":
            _add(needs, GLUE_BOOKMARKS_CSE_KMS, [bookmarks["KmsKeyArn"]])
    _add(needs, KMS_USE, [a.att("DataKey")])
    return needs


def _entry_actions(entry: str) -> tuple[set[str], set[str]]:
    paths = derive.import_closure(entry)
    services = derive.boto3_clients(paths)
    return services, derive.code_actions(paths, services, derive.reachable_bodies(entry))


def transform_needs(a: Arns) -> Needs:
    job = _props(a.t, a.id("TransformJob", "AWS::Glue::Job"))
    needs = _glue_job_base(a, job)
    services, actions = _entry_actions("glue_jobs.entrypoints.transform_users")
    assert services == {"glue", "secretsmanager", "s3"}, services
    # its S3 client reads the erasure register and writes run_outcomes, nothing else
    assert {x for x in actions if x.startswith("s3:")} == {"s3:GetObject",
                                                           "s3:PutObject"}, actions
    _add(needs, ["s3:GetObject"],
         [a.s3_object(register_uri(job["DefaultArguments"]["--lake_uri"]))])
    # its catalog client publishes the transform tables; its secret is the salt
    _add(needs, {x for x in actions if x.startswith("glue:")},
         a.glue_table(a.cfg.transform_database, "*"))
    _add(needs, {x for x in actions if x.startswith("secretsmanager:")},
         [job["DefaultArguments"]["--salt_secret_id"]])
    # Spark: raw through the catalog (from_catalog), files read under the raw table's
    # location, the model tables, dq results and run outcomes written under --lake_uri
    _add(needs, FROM_CATALOG, a.glue_table(RAW.database, RAW.name))
    # ... and the data-quality gate's trailing window: dq_results through the catalog too
    # (glue_jobs/transform_job.py, runtime.read_partitions(DQ_RESULTS, window))
    _add(needs, FROM_CATALOG, a.glue_table(DQ_RESULTS.database, DQ_RESULTS.name))
    _add(needs, ["s3:GetObject"], [a.s3_objects(a.cfg.raw_uri)])
    lake = job["DefaultArguments"]["--lake_uri"]
    _add(needs, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         [a.s3_objects(f"{lake}/{t.prefix}/")
          for t in (*MODEL_TABLES, DQ_RESULTS, RUN_OUTCOMES)])
    return needs


def bulk_import_needs(a: Arns) -> Needs:
    job = _props(a.t, a.id("BulkImportJob", "AWS::Glue::Job"))
    needs = _glue_job_base(a, job)
    services, actions = _entry_actions("glue_jobs.entrypoints.bulk_import")
    assert services == {"glue", "s3", "secretsmanager"}, services
    # the S3 client reads the published version's COPY manifest and lists its files
    # (ListObjectsV2 is s3:ListBucket on the lake bucket, in every job's base)
    _add(needs, {x for x in actions if x == "s3:GetObject"},
         [a.s3_objects(job["DefaultArguments"]["--table_uri"])])
    # and puts each date's run_outcomes record beside the table, in the same bucket
    lake = "s3://" + job["DefaultArguments"]["--table_uri"].removeprefix("s3://").split("/")[0]
    _add(needs, {x for x in actions if x == "s3:PutObject"},
         [a.s3_objects(f"{lake}/{RUN_OUTCOMES.prefix}/")])
    # the catalog client reads where the users day is published; the secret is the login
    _add(needs, {x for x in actions if x.startswith("glue:")},
         a.glue_table(USERS.database, USERS.name))
    _add(needs, {x for x in actions if x.startswith("secretsmanager:")},
         [job["DefaultArguments"]["--secret_id"]])
    _connection_needs(a, job, needs)
    return needs


def _connection_needs(a: Arns, job: dict[str, Any], needs: Needs) -> None:
    """A job in the VPC through its Glue NETWORK connection(s)."""
    for name in job["Connections"]["Connections"]:
        _add(needs, ["glue:GetConnection"],
             [a.arn("glue", "catalog"), a.arn("glue", f"connection/{name}")])
        connection = next(
            _props(a.t, rid) for rid in resources(a.t, "AWS::Glue::Connection")
            if _props(a.t, rid)["ConnectionInput"]["Name"] == name)
        physical = connection["ConnectionInput"]["PhysicalConnectionRequirements"]
        _add(needs, GLUE_CONNECTION_DESCRIBE, ["*"])
        _add(needs, GLUE_CONNECTION_VPC, [a.arn("ec2", f"vpc/{a.ref('Vpc', 'AWS::EC2::VPC')}")])
        # the job's ENIs go in the connection's one subnet and security group(s)
        _add(needs, GLUE_CONNECTION_ENI, [
            a.arn("ec2", "network-interface/*"),
            a.arn("ec2", f"subnet/{physical['SubnetId']}"),
            *[a.arn("ec2", f"security-group/{g}") for g in physical["SecurityGroupIdList"]]])


def erase_needs(a: Arns) -> Needs:
    job = _props(a.t, a.id("EraseJob", "AWS::Glue::Job"))
    needs = _glue_job_base(a, job)
    services, actions = _entry_actions("glue_jobs.entrypoints.erase_users")
    assert services == {"glue", "s3", "secretsmanager", "dynamodb"}, services
    args = job["DefaultArguments"]
    lake, errors = args["--lake_uri"], f"s3://{args['--errors_bucket']}/"
    listing = {"s3:ListBucket", "s3:ListBucketVersions"}
    objects = {x for x in actions if x.startswith("s3:")} - listing
    assert objects == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, objects
    # what it rewrites, with the older versions of what it rewrites: raw, the model
    # tables and dq results (the day's republish), the quarantine in both places
    rewritten = [f"{lake}/{t.prefix}/" for t in (RAW, *MODEL_TABLES, DQ_RESULTS)]
    _add(needs, objects | set(S3_VERSIONED),
         [a.s3_objects(u) for u in [*rewritten, f"{lake}/{ERRORS_PREFIX}", errors]])
    # the register, the requests' progress, the executions' plans and the ids files
    _add(needs, objects, [a.s3_objects(f"{lake}/{REGISTER_KEY.split('/', 1)[0]}/")])
    _add(needs, listing & actions, [a.bucket(lake.removeprefix("s3://")),
                                    a.bucket(args["--errors_bucket"])])
    # the republish is the transform's: its catalog writes, raw and dq results read
    _add(needs, {x for x in actions if x.startswith("glue:")} - {"glue:GetConnection"},
         a.glue_table(a.cfg.transform_database, "*"))
    _add(needs, FROM_CATALOG, a.glue_table(RAW.database, RAW.name))
    _add(needs, FROM_CATALOG, a.glue_table(DQ_RESULTS.database, DQ_RESULTS.name))
    _add(needs, {x for x in actions if x.startswith("secretsmanager:")},
         [args["--salt_secret_id"], args["--secret_id"]])
    [table] = [rid for rid, res in resources(a.t, "AWS::DynamoDB::Table").items()
               if _props(a.t, rid).get("TableName") == args["--user_table"]]
    # the DynamoDB client is the user table's alone (DynamoUserTable); Glue's create_table
    # and update_table share their method names with DynamoDB's, so the scan of the
    # whole job would name those too
    import ast
    import inspect

    from glue_jobs.erasure_job import DynamoUserTable

    dynamo = derive.code_actions([], ["dynamodb"],
                                 [ast.parse(inspect.getsource(DynamoUserTable))])
    assert dynamo == {"dynamodb:DeleteItem", "dynamodb:GetItem"} <= actions, dynamo
    _add(needs, dynamo, [f"<{table}.Arn>"])
    _connection_needs(a, job, needs)
    return needs


def bootstrap_needs(a: Arns) -> Needs:
    fn = _props(a.t, a.id("WarehouseBootstrapFunction", "AWS::Lambda::Function"))
    (bootstrap,) = [_props(a.t, rid) for rid in resources(a.t, "Custom::WarehouseBootstrap")]
    (workgroup,) = [rid for rid in resources(a.t, "AWS::RedshiftServerless::Workgroup")
                    if _props(a.t, rid)["WorkgroupName"] == bootstrap["WorkgroupName"]]
    (namespace,) = [rid for rid in resources(a.t, "AWS::RedshiftServerless::Namespace")
                    if _props(a.t, rid)["NamespaceName"] == bootstrap["NamespaceName"]]
    services, actions = _entry_actions("glue_jobs.warehouse_bootstrap")
    assert services == {"redshift-data", "redshift-serverless", "secretsmanager"}, services
    # the code's calls, each on what the custom resource's properties name
    where = {
        "redshift-data:ExecuteStatement": [f"<{workgroup}.Workgroup.WorkgroupArn>"],
        "redshift-data:BatchExecuteStatement": [f"<{workgroup}.Workgroup.WorkgroupArn>"],
        **{action: ["*"] for action in DATA_API_OWN_STATEMENTS},
        "redshift-serverless:GetNamespace": [f"<{namespace}.Namespace.NamespaceArn>"],
        "secretsmanager:GetSecretValue": [bootstrap["LoadSecretArn"]]}
    needs: Needs = {}
    for action in actions:
        _add(needs, [action], where[action])  # a new call needs its resource named here
    admin = _props(a.t, namespace)["AdminUsername"]
    _add(needs, DATA_API_SECRET, [a.arn(
        "secretsmanager", f"secret:redshift!{bootstrap['NamespaceName']}-{admin}-*")])
    _add(needs, LAMBDA_LOGS, [fn["LoggingConfig"]["LogGroup"].replace(">", ".Arn>")])
    _add(needs, KMS_READ, [a.att("DataKey")])  # both secrets are under the data key
    return needs


def _resolve(value: str, subs: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: subs[m.group(1)], value)


def state_machine_needs(a: Arns, prefix: str, definition_path: Any) -> Needs:
    rid = a.id(prefix, "AWS::StepFunctions::StateMachine")
    props = _props(a.t, rid)
    subs = {k: str(v) for k, v in props.get("DefinitionSubstitutions", {}).items()}
    needs: Needs = {}
    for resource, args in derive.asl_task_resources(derive.load_asl(definition_path)):
        target = _task_target(a, resource, {k: _resolve(str(v), subs) for k, v in args.items()
                                            if isinstance(v, str)})
        for action, kind in derive.task_actions(resource).items():
            if kind == "target":
                _add(needs, [action], [target])
            elif kind == "executions":
                name = _state_machine_name(a, target)
                _add(needs, [action], [a.arn("states", f"execution:{name}:*")])
            else:  # the managed rule Step Functions keeps for .sync child executions
                _add(needs, [action], [a.arn(
                    "events", "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")])
            if action == "sns:Publish" or action.startswith("dynamodb:"):  # KMS-encrypted
                _add(needs, KMS_USE, [a.att("DataKey")])
            if action == "s3:GetObject":  # an SSE-KMS object read
                _add(needs, KMS_READ, [a.att("DataKey")])
    if props.get("LoggingConfiguration"):
        _add(needs, SFN_LOGS, ["*"])
    if props.get("TracingConfiguration", {}).get("Enabled"):
        _add(needs, SFN_XRAY, ["*"])
    return needs


def _task_target(a: Arns, resource: str, args: dict[str, str]) -> str:
    if resource.startswith("arn:aws:states:::aws-sdk:glue:") and "Crawler" in resource:
        return a.arn("glue", f"crawler/{args['Name']}")
    if ":::glue:startJobRun" in resource:
        return a.arn("glue", f"job/{args['JobName']}")
    if ":::sns:publish" in resource:
        return args["TopicArn"]
    if ":::states:startExecution" in resource:
        return args["StateMachineArn"]
    if resource.startswith("arn:aws:states:::aws-sdk:s3:"):
        # a literal Key, or the literal start of a States.Format one (then any key under it)
        key = args.get("Key")
        if key is None:
            start = re.match(r"States\.Format\('([^{']*)", args["Key.$"])
            assert start, args
            key = start[1] + "*"
        return f"{a.bucket(args['Bucket'])}/{key}"
    if ":::dynamodb:" in resource:
        [rid] = [rid for rid, res in resources(a.t, "AWS::DynamoDB::Table").items()
                 if res["Properties"].get("TableName") == args["TableName"]]
        return f"<{rid}.Arn>"
    raise AssertionError(f"no target rule for {resource}")


def _state_machine_name(a: Arns, rendered_ref: str) -> str:
    rid = rendered_ref.strip("<>")
    name: str = a.t["Resources"][rid]["Properties"]["StateMachineName"]
    return name


def scheduler_needs(a: Arns, role_id: str) -> Needs:
    needs: Needs = {}
    schedules = [rid for rid in resources(a.t, "AWS::Scheduler::Schedule")
                 if _uses_role(a.t, rid, role_id)]
    assert schedules, role_id
    for rid in schedules:
        target = _props(a.t, rid)["Target"]
        arn = str(target["Arn"])
        kind = a.t["Resources"][arn.strip("<>").split(".")[0]]["Type"]
        action = {"AWS::Lambda::Function": "lambda:InvokeFunction",
                  "AWS::StepFunctions::StateMachine": "states:StartExecution"}[kind]
        _add(needs, [action], [arn])
        _add(needs, ["sqs:SendMessage"], [a.queue_arn(target["DeadLetterConfig"]["Arn"])])
        _add(needs, KMS_USE, [a.att("DataKey")])  # the dead-letter queue is KMS-encrypted
    return needs


def copy_role_needs(a: Arns) -> Needs:
    # the tables the warehouse COPYs: `copy stage_<table>` in the Redshift SQL
    copied = set()
    for path in (derive.PROJECT_ROOT / "sql" / "redshift").glob("*.redshift.sql"):
        copied |= set(re.findall(r"^copy\s+stage_(\w+)", path.read_text(), re.M | re.I))
    assert copied == {USERS.name}, copied
    needs: Needs = {}
    lake = a.bucket(a.cfg.lake_bucket)
    _add(needs, COPY_S3, [f"{lake}/{t.prefix}/*" for t in MODEL_TABLES if t.name in copied])
    _add(needs, COPY_BUCKET, [lake])
    _add(needs, KMS_READ, [a.att("DataKey")])
    return needs


def flow_log_needs(a: Arns) -> Needs:
    # CDK's FlowLog construct into an existing group (VPC flow logs "IAM role for
    # publishing flow logs to CloudWatch Logs", minus the group-creating actions)
    return {action: {a.att("VpcFlowLogs")} for action in (
        "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")}


def derived_needs(synth: Synth) -> dict[str, tuple[str, Needs]]:
    """Role construct id → (service principal, needs)."""
    a = Arns(synth)
    out: dict[str, tuple[str, Needs]] = {
        "IngestFunctionRole": ("lambda.amazonaws.com", ingest_needs(a)),
        "FirehoseRole": ("firehose.amazonaws.com", firehose_needs(a)),
        "TransformJobRole": ("glue.amazonaws.com", transform_needs(a)),
        "BulkImportJobRole": ("glue.amazonaws.com", bulk_import_needs(a)),
        "EraseJobRole": ("glue.amazonaws.com", erase_needs(a)),
        "EraseStateMachineRole": ("states.amazonaws.com", state_machine_needs(
            a, "EraseStateMachine", ERASURE_DEFINITION)),
        "PipelineStateMachineRole": ("states.amazonaws.com", state_machine_needs(
            a, "PipelineStateMachine", DEFINITION_PATH)),
        "BackfillStateMachineRole": ("states.amazonaws.com", state_machine_needs(
            a, "BackfillStateMachine", DEFINITION_PATH.with_name("backfill.asl.json"))),
        "IngestScheduleRole": ("scheduler.amazonaws.com",
                               scheduler_needs(a, a.role_ref("IngestScheduleRole"))),
        "NightlyScheduleRole": ("scheduler.amazonaws.com",
                                scheduler_needs(a, a.role_ref("NightlyScheduleRole"))),
        "RedshiftCopyRole": ("redshift.amazonaws.com", copy_role_needs(a)),
        "VpcFlowLogIAMRole": ("vpc-flow-logs.amazonaws.com", flow_log_needs(a)),
        "WarehouseBootstrapRole": ("lambda.amazonaws.com", bootstrap_needs(a)),
        # the push path (infra/push_stack.py)
        "PushFirehoseRole": ("firehose.amazonaws.com",
                             firehose_needs(a, "PushDeliveryStream")),
        "PushApiFunctionRole": ("lambda.amazonaws.com", push_api_needs(a)),
        "PushConsumerFunctionRole": ("lambda.amazonaws.com", push_consumer_needs(a)),
        "PushApiGatewayLogsRole": ("apigateway.amazonaws.com", apigw_account_logs_needs(a)),
        "PushClientRole": ("", push_client_needs(a)),  # assumed by partner accounts
    }
    for spec in default_specs(synth.env.pipeline):
        out[f"CrawlerRole-{spec.name}"] = ("glue.amazonaws.com", crawler_needs(a, spec))
    return out


def _role_id(template: dict[str, Any], construct_id: str) -> str:
    return logical_id(template, re.sub(r"[^A-Za-z0-9]", "", construct_id), "AWS::IAM::Role")


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def needs(synth: Synth) -> dict[str, tuple[str, Needs]]:
    return derived_needs(synth)


def test_every_role_in_the_template_is_derived_or_named_as_cdks(
        template: dict[str, Any], needs: dict[str, tuple[str, Needs]]) -> None:
    # GIVEN every role of the template
    roles = set(resources(template, "AWS::IAM::Role"))
    # WHEN the derived roles and CDK's own are taken away
    derived = {_role_id(template, name) for name in needs}
    cdk = {r for r in roles if r.startswith(CDK_OWN_ROLES)}
    # THEN nothing is left unchecked
    assert roles - derived - cdk == set()


@pytest.mark.parametrize("role", [
    "IngestFunctionRole", "FirehoseRole", "TransformJobRole", "BulkImportJobRole",
    "PipelineStateMachineRole", "BackfillStateMachineRole", "IngestScheduleRole",
    "NightlyScheduleRole", "RedshiftCopyRole", "VpcFlowLogIAMRole",
    "CrawlerRole-udp-raw-crawler", "CrawlerRole-udp-transform-crawler",
    "PushFirehoseRole", "PushApiFunctionRole", "PushConsumerFunctionRole",
    "PushApiGatewayLogsRole", "PushClientRole", "WarehouseBootstrapRole", "EraseJobRole",
    "EraseStateMachineRole"])
def test_role_is_granted_exactly_what_it_needs(
        role: str, template: dict[str, Any], needs: dict[str, tuple[str, Needs]]) -> None:
    # GIVEN what the role's code and definitions derive to need
    _principal, need = needs[role]
    # WHEN its synthesized policies are read as action -> resources
    granted = _grants(template, _role_id(template, role))
    # THEN nothing is missing and nothing is extra, action by action
    missing, excess = _compare(need, granted)
    assert missing == {}, f"{role} lacks {missing}"
    assert excess == {}, f"{role} has grants nothing needs: {excess}"


def _compare(need: Needs, granted: Needs) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(missing, excess): action -> resources needed but not granted / granted unneeded."""
    missing = {a: sorted(r - granted.get(a, set())) for a, r in need.items()
               if r - granted.get(a, set())}
    excess = {a: sorted(r - need.get(a, set())) for a, r in granted.items()
              if r - need.get(a, set())}
    return missing, excess


def test_the_comparison_catches_an_extra_and_a_missing_grant(
        template: dict[str, Any], needs: dict[str, tuple[str, Needs]]) -> None:
    # GIVEN the ingest role's grants with one action widened and one grant dropped
    _principal, need = needs["IngestFunctionRole"]
    granted = {a: set(r) for a, r in _grants(
        template, _role_id(template, "IngestFunctionRole")).items()}
    granted["firehose:PutRecordBatch"].add("*")
    del granted["sqs:SendMessage"]
    # WHEN compared with what it needs
    missing, excess = _compare(need, granted)
    # THEN both are reported
    assert excess == {"firehose:PutRecordBatch": ["*"]}
    assert list(missing) == ["sqs:SendMessage"]


@pytest.mark.parametrize("role", [
    "IngestFunctionRole", "FirehoseRole", "TransformJobRole", "BulkImportJobRole",
    "PipelineStateMachineRole", "BackfillStateMachineRole", "IngestScheduleRole",
    "NightlyScheduleRole", "VpcFlowLogIAMRole",
    "CrawlerRole-udp-raw-crawler", "CrawlerRole-udp-transform-crawler",
    "PushFirehoseRole", "PushApiFunctionRole", "PushConsumerFunctionRole",
    "PushApiGatewayLogsRole", "EraseJobRole", "EraseStateMachineRole"])
def test_trust_policy_names_the_service_that_runs_the_role(
        role: str, template: dict[str, Any], needs: dict[str, tuple[str, Needs]]) -> None:
    principal, _need = needs[role]
    rid = _role_id(template, role)
    assert service_principals(template, rid) == {principal}
    statements = _list(template["Resources"][rid]["Properties"]["AssumeRolePolicyDocument"]
                       ["Statement"])
    assert [s["Action"] for s in statements] == ["sts:AssumeRole"]


def test_the_copy_role_trusts_redshift_and_redshift_serverless_only(
        template: dict[str, Any]) -> None:
    # Redshift Serverless assumes a namespace's role as redshift.amazonaws.com (COPY)
    # and as redshift-serverless.amazonaws.com; nothing else may.
    rid = _role_id(template, "RedshiftCopyRole")
    assert service_principals(template, rid) == {"redshift.amazonaws.com",
                                                 "redshift-serverless.amazonaws.com"}


def test_the_push_client_role_is_assumed_by_the_partner_accounts_only(
        synth: Synth, template: dict[str, Any]) -> None:
    # PushProps.client_accounts (none configured: this account) may assume it; no service
    rid = _role_id(template, "PushClientRole")
    assert service_principals(template, rid) == set()
    statements = _list(template["Resources"][rid]["Properties"]["AssumeRolePolicyDocument"]
                       ["Statement"])
    assert [(s["Action"], render(s["Principal"])) for s in statements] == [
        ("sts:AssumeRole", {"AWS": f"arn:aws:iam::{synth.env.account}:root"})]


def test_grants_on_every_resource_are_only_for_actions_without_resource_arns(
        template: dict[str, Any]) -> None:
    # Resource "*" is least privilege only where IAM offers no resource ARN for the action
    # (the catalogue lists none) or a condition key narrows it.
    from policy_sentry.querying.actions import get_action_data

    offenders = []
    for rid, statement in policy_statements(template):
        if (statement.get("Effect") != "Allow" or statement.get("Resource") != "*"
                or "Principal" in statement or statement.get("Condition")):
            continue
        for action in _list(statement["Action"]):
            service, _, name = action.partition(":")
            rows = get_action_data(service, name)[service]
            if any(row["resource_arn_format"] != "*" for row in rows):
                offenders.append((rid, action))
    assert sorted(offenders) == []


def test_every_action_in_the_template_exists_in_the_iam_catalogue(
        template: dict[str, Any]) -> None:
    # GIVEN every action named by any policy of the template (identity, key, trust)
    actions = {a for _rid, s in policy_statements(template)
               for a in _list(s.get("Action", [])) + _list(s.get("NotAction", []))}
    # THEN each names at least one action of AWS's Service Authorization Reference, as
    # policy_sentry's bundled database has it (a typo grants nothing and fails silently)
    assert actions
    assert sorted(a for a in actions if not derive.known_action(a)) == []


def test_the_catalogue_check_rejects_a_misspelled_action() -> None:
    assert derive.known_action("glue:GetTable")
    assert derive.known_action("kms:GenerateDataKey*")
    assert not derive.known_action("glue:GetTabel")
    assert not derive.known_action("firehose:PutRecords")


def test_crawler_call_table_matches_what_the_local_crawler_calls() -> None:
    # GIVEN the Glue operations local_aws/glue/crawl.py calls (the model of Glue's crawler)
    paths = derive.import_closure("local_aws.glue.crawl", roots=(*derive.AWS_SIDE, "local_aws"))
    called = derive.code_actions(paths, ["glue"])
    # THEN the behaviour table above covers exactly those
    assert called == set(CRAWLER_CALLS)


def test_every_asl_task_resource_has_a_derivation() -> None:
    for path in (DEFINITION_PATH, DEFINITION_PATH.with_name("backfill.asl.json"),
                 ERASURE_DEFINITION):
        for resource, _args in derive.asl_task_resources(derive.load_asl(path)):
            assert derive.task_actions(resource), resource


def test_code_scan_finds_a_client_call_through_a_helper() -> None:
    # The derivation follows calls through the functions an entrypoint reaches and maps
    # boto3 method names to IAM actions with botocore's model (including a paginator).
    assert derive.iam_action("glue", derive.operation_names("glue")["get_partitions"]) == (
        "glue:GetPartitions")
    _services, actions = _entry_actions("glue_jobs.entrypoints.bulk_import")
    assert "glue:GetPartition" in actions and "glue:CreateTable" not in actions
    crawl = derive.import_closure("local_aws.glue.crawl", roots=(*derive.AWS_SIDE, "local_aws"))
    assert derive.code_actions(crawl, ["glue"]) >= {
        "glue:GetPartitions"}  # called only through get_paginator("get_partitions")
