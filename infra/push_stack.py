"""The push path on AWS as one construct: API Gateway (REST) -> API Lambda -> Kinesis ->
Firehose (same raw table and ``p_date`` layout as the pull path) and consumer Lambda ->
DynamoDB ``users``; ``GET /users/{id}`` reads DynamoDB.

``UdpStack`` adds it with one line (see :func:`push_props_for`)::

    self.push = PushIngest(self, "Push", push_props_for(self))

Choices (docs/reference/push.md says why):
- Auth: IAM (SigV4) decides who may call: a partner assumes ``PushClientRole`` (trusted
  accounts in ``PushProps.client_accounts``), whose only right is ``execute-api:Invoke``
  on the two methods. An API key is required as well, but only to tie each partner to
  a usage plan (throttle and daily quota): AWS documents API keys as identification for
  usage plans, not as authentication. The stage throttles all clients together.
- Both functions run one container image (``push_api/Dockerfile``; the consumer
  overrides CMD): the contract needs pyarrow, far past a zip's comfortable size, and the
  ingest image already ships the same pinned dependencies.
- Kinesis on-demand, KMS (the pipeline's key); 7 days' retention so a batch named in the
  on-failure queue can still be read and replayed.
- Every policy statement is written out against named resources, no managed policy: the
  account-level CloudWatch role API Gateway needs for logging is built here inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contracts.erasure import REGISTER_KEY
from contracts.tables import RAW
from infra.assets import LAMBDA_IMAGE, REPO_ROOT, stage_context
from infra.policy import service_principal as _service
from infra.policy import statement as _statement
from infra.raw_delivery import destination_statements, raw_destination
from infra.retention import log_retention
from infra.suppressions import skip

__all__ = ["PUSH_IMAGE_CONTEXT", "PushIngest", "PushProps", "push_props_for",
           "stage_push_image_context"]

PUSH_IMAGE_CONTEXT = ("contracts", "ingest_lambda", "push_api")


def stage_push_image_context(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Copy the push image's build context into ``out_dir`` (CDK fingerprints it)."""
    return stage_context(out_dir, PUSH_IMAGE_CONTEXT, repo_root)


@dataclass(frozen=True)
class PushProps:
    """What the push path takes from the rest of the deployment, and its own knobs."""

    env_name: str
    key: kms.IKey
    lake: s3.IBucket
    errors: s3.IBucket
    raw_database: str
    salt_secret: secretsmanager.ISecret
    alert_topic: sns.ITopic
    image_context: Path
    raw_table: Any = None  # the CfnResource of the raw Glue table (Firehose depends on it)
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal: RemovalPolicy = RemovalPolicy.DESTROY
    stage_rate_limit: float = 200.0  # requests/s over all clients
    stage_burst_limit: int = 400
    partner_rate_limit: float = 50.0  # usage plan, per API key
    partner_burst_limit: int = 100
    partner_quota_per_day: int = 200_000
    firehose_buffer_mb: int = 64
    firehose_buffer_s: int = 300
    consumer_batch_size: int = 100
    consumer_retry_attempts: int = 5
    # None: no reservation (Lambda keeps 100 of the account's concurrency unreserved, which
    # a new account's quota cannot spare); EnvConfig's push_*_reserved_concurrency set them
    api_reserved_concurrency: int | None = None
    consumer_reserved_concurrency: int | None = None
    client_accounts: tuple[str, ...] = ()  # accounts that may assume PushClientRole


def push_props_for(stack: Any, **overrides: Any) -> PushProps:
    """Props from a ``UdpStack`` (its key, buckets, salt secret, alert topic)."""
    context = stage_push_image_context(Path(stack._image_context).parent / "push-image")
    props: dict[str, Any] = {
        "env_name": stack.env_cfg.name, "key": stack.key, "lake": stack.lake,
        "errors": stack.errors, "raw_database": stack.cfg.raw_database,
        "salt_secret": stack.salt_secret, "alert_topic": stack.topic,
        "image_context": context, "raw_table": stack.raw_table,
        "log_retention": log_retention(stack.env_cfg.log_retention_days), "removal": stack.removal,
        "firehose_buffer_mb": stack.env_cfg.firehose_buffer_mb,
        "firehose_buffer_s": stack.env_cfg.firehose_buffer_s,
        "api_reserved_concurrency": stack.env_cfg.push_api_reserved_concurrency,
        "consumer_reserved_concurrency": stack.env_cfg.push_consumer_reserved_concurrency}
    props.update(overrides)
    return PushProps(**props)


_IMAGE_PLATFORM = {"x86_64": ecr_assets.Platform.LINUX_AMD64,
                   "aarch64": ecr_assets.Platform.LINUX_ARM64}
_LAMBDA_ARCHITECTURE = {"x86_64": lambda_.Architecture.X86_64,
                        "aarch64": lambda_.Architecture.ARM_64}


@jsii.implements(lambda_.IEventSourceDlq)
class _OnFailureQueue:
    """The event source mapping's SQS on-failure destination, granting nothing itself.

    CDK's ``SqsDlq`` grants ``queue.grant_send_messages``: GetQueueAttributes, GetQueueUrl
    and, for a KMS queue, Encrypt/ReEncrypt*/GenerateDataKey* on the key. Lambda needs only
    ``sqs:SendMessage`` on the queue (and kms:Decrypt/GenerateDataKey for its key): the
    consumer role's statements say exactly that (tests/infra/test_iam_least.py).
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(self, target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
             ) -> lambda_.DlqDestinationConfig:
        return lambda_.DlqDestinationConfig(destination=self.queue.queue_arn)


class PushIngest(Construct):
    """API Gateway + API Lambda + Kinesis + Firehose + consumer Lambda + DynamoDB."""

    def __init__(self, scope: Construct, construct_id: str, props: PushProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        stack = Stack.of(self)
        self.names = {
            "stream": f"udp-{props.env_name}-user-push",
            "table": f"udp-{props.env_name}-users",
            "delivery": f"udp-{props.env_name}-user-push",
            "api_fn": f"udp-{props.env_name}-push-api",
            "consumer_fn": f"udp-{props.env_name}-push-consumer",
            "on_failure": f"udp-{props.env_name}-push-consumer-failures",
        }
        self.arn_prefix = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}"
        self.account = stack.account
        self._stream()
        self._table()
        self._delivery()
        self._functions()
        self._api()
        self._alarms()

    # ------------------------------------------------------------------ helpers

    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        return logs.LogGroup(self, construct_id, log_group_name=name,
                             encryption_key=self.props.key, retention=self.props.log_retention,
                             removal_policy=self.props.removal)

    def _kms(self, *actions: str) -> iam.PolicyStatement:
        return _statement(list(actions), [self.props.key.key_arn])

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.IMetric,
               threshold: float) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, construct_id, alarm_description=description, metric=metric,
            threshold=threshold, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(cw_actions.SnsAction(self.props.alert_topic))
        return alarm

    # ------------------------------------------------------------------ stream, table

    def _stream(self) -> None:
        self.stream = kinesis.Stream(
            self, "Stream", stream_name=self.names["stream"],
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            encryption=kinesis.StreamEncryption.KMS, encryption_key=self.props.key,
            retention_period=Duration.days(7))
        self.stream.apply_removal_policy(self.props.removal)

    def _table(self) -> None:
        self.table = dynamodb.Table(
            self, "UsersTable", table_name=self.names["table"],
            partition_key=dynamodb.Attribute(name="user_id",
                                             type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.props.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=self.props.removal == RemovalPolicy.RETAIN,
            removal_policy=self.props.removal)

    # ------------------------------------------------------------------ Firehose from Kinesis

    def _delivery(self) -> None:
        """The raw delivery stream's destination settings, with the stream as source."""
        p, stack = self.props, Stack.of(self)
        log_group = self._log_group("FirehoseLogs",
                                    f"/aws/kinesisfirehose/{self.names['delivery']}")
        log_stream = logs.LogStream(self, "FirehoseDeliveryLogStream", log_group=log_group,
                                    log_stream_name="DestinationDelivery",
                                    removal_policy=p.removal)
        role = iam.Role(self, "FirehoseRole",
                        assumed_by=_service("firehose.amazonaws.com", stack.account),
                        description="Firehose: push stream to the raw layer")
        # a Kinesis stream as source (Firehose guide, "Controlling access": the S3
        # destination policy's Kinesis statement)
        role.add_to_policy(_statement(
            ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords",
             "kinesis:ListShards"], [self.stream.stream_arn]))
        for statement in destination_statements(
                lake=p.lake,
                glue_arns=[stack.format_arn(service="glue", resource="catalog"),
                           stack.format_arn(service="glue", resource="database",
                                            resource_name=p.raw_database),
                           stack.format_arn(service="glue", resource="table",
                                            resource_name=f"{p.raw_database}/{RAW.name}")],
                log_stream_arn=(f"{self.arn_prefix}:log-group:{log_group.log_group_name}"
                                f":log-stream:{log_stream.log_stream_name}")):
            role.add_to_policy(statement)
        role.add_to_policy(self._kms("kms:Decrypt", "kms:GenerateDataKey"))
        self.firehose_role = role
        destination = raw_destination(
            bucket_arn=p.lake.bucket_arn, role_arn=role.role_arn, key_arn=p.key.key_arn,
            buffer_mb=p.firehose_buffer_mb, buffer_s=p.firehose_buffer_s,
            log_group_name=log_group.log_group_name,
            log_stream_name=log_stream.log_stream_name, account=stack.account,
            region=stack.region, raw_database=p.raw_database)
        self.delivery_stream = firehose.CfnDeliveryStream(
            self, "DeliveryStream", delivery_stream_name=self.names["delivery"],
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=(
                firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                    kinesis_stream_arn=self.stream.stream_arn, role_arn=role.role_arn)),
            extended_s3_destination_configuration=destination)
        # Firehose checks its role when the stream is created: the policy must exist first
        self.delivery_stream.node.add_dependency(role)
        if p.raw_table is not None:
            self.delivery_stream.add_resource_dependency(p.raw_table)

    # ------------------------------------------------------------------ functions

    def _function(self, construct_id: str, name: str, description: str, cmd: list[str],
                  role: iam.Role, environment: dict[str, str], reserved: int | None
                  ) -> lambda_.DockerImageFunction:
        log_group = self._log_group(f"{construct_id}Logs", f"/aws/lambda/{name}")
        role.add_to_policy(_statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                                      [log_group.log_group_arn]))
        fn = lambda_.DockerImageFunction(
            self, construct_id, function_name=name, description=description,
            code=lambda_.DockerImageCode.from_image_asset(
                str(self.props.image_context), file="push_api/Dockerfile", cmd=cmd,
                platform=_IMAGE_PLATFORM[LAMBDA_IMAGE.arch]),
            architecture=_LAMBDA_ARCHITECTURE[LAMBDA_IMAGE.arch], role=role,
            log_group=log_group, memory_size=512,
            timeout=Duration.seconds(29), reserved_concurrent_executions=reserved,
            tracing=lambda_.Tracing.ACTIVE, environment_encryption=self.props.key,
            environment={**environment, "POWERTOOLS_METRICS_NAMESPACE": "udp"})
        skip(fn, CKV_AWS_117="Reaches only AWS APIs (Kinesis, DynamoDB, S3, Secrets "
                             "Manager); in a VPC it would need endpoints or the NAT.",
             CKV_AWS_116="Invoked synchronously (API Gateway) or by an event source "
                         "mapping whose on-failure destination is the SQS queue; a "
                         "function DLQ only serves asynchronous invocations.")
        if reserved is None:
            skip(fn, CKV_AWS_115="Reserved concurrency is a setting "
                                 "(push_*_reserved_concurrency), off by default: accounts on "
                                 "a new account's low concurrency quota cannot reserve any "
                                 "(Lambda keeps 100 unreserved).")
        return fn

    def _functions(self) -> None:
        p = self.props
        api_role = iam.Role(self, "ApiFunctionRole",
                            assumed_by=_service("lambda.amazonaws.com", self.account),
                            description="Push API: put users to the stream, read DynamoDB")
        api_role.add_to_policy(_statement(["kinesis:PutRecords"],  # push_api.stream
                                          [self.stream.stream_arn]))
        api_role.add_to_policy(_statement(["dynamodb:GetItem"], [self.table.table_arn]))
        api_role.add_to_policy(_statement(["s3:PutObject"],
                                          [p.errors.arn_for_objects("push/*")]))
        # the erasure register: a pushed record of an erased user is refused
        api_role.add_to_policy(_statement(["s3:GetObject"],
                                          [p.lake.arn_for_objects(REGISTER_KEY)]))
        api_role.add_to_policy(self._kms("kms:Decrypt", "kms:GenerateDataKey"))
        self.api_function = self._function(
            "ApiFunction", self.names["api_fn"],
            "POST /users to Kinesis (pull-path validation), GET /users/{id} from DynamoDB",
            ["push_api.api.handler"], api_role,
            {"STREAM_NAME": self.stream.stream_name, "USERS_TABLE": self.table.table_name,
             "ERRORS_BUCKET": p.errors.bucket_name,
             "ERASURE_REGISTER": f"s3://{p.lake.bucket_name}/{REGISTER_KEY}",
             "POWERTOOLS_SERVICE_NAME": "udp-push-api"},
            p.api_reserved_concurrency)

        self.on_failure = sqs.Queue(
            self, "ConsumerOnFailure", queue_name=self.names["on_failure"],
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=p.key,
            enforce_ssl=True, retention_period=Duration.days(14), removal_policy=p.removal)
        consumer_role = iam.Role(self, "ConsumerFunctionRole",
                                 assumed_by=_service("lambda.amazonaws.com", self.account),
                                 description="Push consumer: stream to DynamoDB users")
        consumer_role.add_to_policy(_statement(
            ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
             "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"],
            [self.stream.stream_arn]))
        consumer_role.add_to_policy(_statement(["dynamodb:PutItem"], [self.table.table_arn]))
        consumer_role.add_to_policy(_statement(["secretsmanager:GetSecretValue"],
                                               [p.salt_secret.secret_arn]))
        consumer_role.add_to_policy(_statement(["sqs:SendMessage"],
                                               [self.on_failure.queue_arn]))
        consumer_role.add_to_policy(self._kms("kms:Decrypt", "kms:GenerateDataKey"))
        self.consumer_function = self._function(
            "ConsumerFunction", self.names["consumer_fn"],
            "Kinesis users to DynamoDB, latest fetched_at wins",
            ["push_api.consumer.handler"], consumer_role,
            {"USERS_TABLE": self.table.table_name, "SALT_SECRET_ID": p.salt_secret.secret_arn,
             "POWERTOOLS_SERVICE_NAME": "udp-push-consumer"},
            p.consumer_reserved_concurrency)
        self.event_source = lambda_.EventSourceMapping(
            self, "ConsumerEventSource", target=self.consumer_function,
            event_source_arn=self.stream.stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=p.consumer_batch_size, max_batching_window=Duration.seconds(1),
            report_batch_item_failures=True, bisect_batch_on_error=True,
            retry_attempts=p.consumer_retry_attempts, max_record_age=Duration.days(1),
            parallelization_factor=1,
            on_failure=_OnFailureQueue(self.on_failure))
        self.event_source.node.add_dependency(consumer_role)

    # ------------------------------------------------------------------ API Gateway

    def _api(self) -> None:
        p, stack = self.props, Stack.of(self)
        access_logs = self._log_group("ApiAccessLogs", f"/udp/{p.env_name}/push-api-access")
        # API Gateway logs through one role per account and region (AWS::ApiGateway::Account)
        cw_role = iam.Role(self, "ApiGatewayLogsRole",
                           assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                           description="API Gateway account role: write execution logs")
        cw_role.add_to_policy(_statement(
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
             "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents",
             "logs:FilterLogEvents"],
            [f"{self.arn_prefix}:log-group:*"]))
        account = apigw.CfnAccount(self, "ApiGatewayAccount",
                                   cloud_watch_role_arn=cw_role.role_arn)
        account.node.add_dependency(cw_role)
        self.api = apigw.RestApi(
            self, "Api", rest_api_name=f"udp-{p.env_name}-push",
            description="Push users; look one up by id",
            cloud_watch_role=False,
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[apigw.EndpointType.REGIONAL]),
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            default_method_options=apigw.MethodOptions(
                api_key_required=True, authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name="v1", throttling_rate_limit=p.stage_rate_limit,
                throttling_burst_limit=p.stage_burst_limit, tracing_enabled=True,
                metrics_enabled=True, logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True,
                    request_time=True, resource_path=True, response_length=True,
                    status=True, user=False)))
        self.api.deployment_stage.node.add_dependency(account)
        integration = apigw.LambdaIntegration(self.api_function, proxy=True)
        users = self.api.root.add_resource("users")
        users.add_method("POST", integration)
        users.add_resource("{user_id}").add_method("GET", integration)
        self.usage_plan = self.api.add_usage_plan(
            "PartnerUsagePlan", name=f"udp-{p.env_name}-push-partners",
            description="Per-partner throttle and daily quota",
            throttle=apigw.ThrottleSettings(rate_limit=p.partner_rate_limit,
                                            burst_limit=p.partner_burst_limit),
            quota=apigw.QuotaSettings(limit=p.partner_quota_per_day, period=apigw.Period.DAY))
        self.usage_plan.add_api_stage(stage=self.api.deployment_stage)
        self.api_key = self.api.add_api_key("PartnerKey",
                                            api_key_name=f"udp-{p.env_name}-push-partner")
        self.usage_plan.add_api_key(self.api_key)
        client_role = iam.Role(
            self, "ClientRole", description="Partners: call POST /users and GET /users/{id}",
            assumed_by=iam.CompositePrincipal(*[iam.AccountPrincipal(a) for a in
                                                (p.client_accounts or (stack.account,))]))
        client_role.add_to_policy(_statement(["execute-api:Invoke"], [
            self.api.arn_for_execute_api("POST", "/users", "v1"),
            self.api.arn_for_execute_api("GET", "/users/*", "v1")]))
        self.client_role = client_role
        skip(self.api.deployment_stage,
             CKV_AWS_120="No cache: GET must answer the latest version the consumer wrote, "
                         "and POST is never cacheable.")

    # ------------------------------------------------------------------ alarms

    def _alarms(self) -> None:
        self._alarm("ConsumerOnFailureAlarm",
                    f"Push records the consumer gave up on: messages in "
                    f"{self.names['on_failure']}",
                    self.on_failure.metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(5)), 0)
        self._alarm("ConsumerIteratorAgeAlarm",
                    "Push consumer more than 15 minutes behind the stream",
                    self.consumer_function.metric("IteratorAge", statistic="Maximum",
                                                  period=Duration.minutes(5)),
                    15 * 60 * 1000)
