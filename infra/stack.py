"""The whole AWS deployment of the pipeline as one CDK stack.

Sections follow the data flow: encryption and storage, delivery (Firehose), catalog
(Glue databases, the raw table, crawlers), Glue jobs, ingest (Lambda + schedule),
orchestration (Step Functions + nightly schedule + alerts), warehouse (Redshift
Serverless), query (Athena). Every IAM policy is written out statement by statement
against named resources; ``tests/infra`` checks that no statement allows ``*`` actions
on ``*`` resources and which principal may do what.

Definitions the local twins run are deployed as they are: crawler properties come
from ``crawlers.specs``, the raw table from ``contracts.tables.RAW``, the state machines
from the ``.asl.json`` files (placeholders left in place, ``DefinitionSubstitutions``
set) and the schedules from ``orchestration.schedules``.

Why one file of ~900 lines: a reviewer of a deploy diff reads the stack top to bottom as
one story, the sections share the stack's key, buckets and ARN helpers, and every IAM
statement sits next to the resource it is for. Parts that stand alone live beside it:
the push path (``push_stack.py``), the raw-layer Firehose destination
(``raw_delivery.py``), settings (``config.py``), assets (``assets.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import (
    ArnFormat,
    Aspects,
    CfnResource,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Tags,
)
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_redshiftserverless as redshift
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from contracts.erasure import REGISTER_KEY
from contracts.erasure_store import register_uri
from contracts.locations import FIREHOSE_ERROR_PREFIX, FIREHOSE_PREFIX
from contracts.tables import DQ_RESULTS, MODEL_TABLES, RAW, RUN_OUTCOMES, USERS
from crawlers.specs import CrawlerSpec, default_specs
from glue_jobs.erasure_job import ERRORS_PREFIX
from glue_jobs.erasure_steps import EXECUTIONS_PREFIX
from infra.assets import BOOTSTRAP_HANDLER, LAMBDA_IMAGE, GlueAssets, StagedAssets
from infra.config import EnvConfig
from infra.policy import service_principal as _service
from infra.policy import statement as _statement
from infra.push_stack import PushIngest, push_props_for
from infra.raw_delivery import destination_statements, raw_destination
from infra.retention import log_retention
from infra.suppressions import SkipInScope, skip
from infra.translate import crawler_properties, glue_table_input
from ingest_lambda import METRICS_NAMESPACE, SERVICE_NAME
from orchestration.erasure import ERASURE_DEFINITION, erasure_placeholder_values
from orchestration.schedules import ingest_schedule, nightly_pipeline_schedule
from orchestration.state_machine import DEFINITION_PATH, placeholder_values

__all__ = [
    "BACKFILL_DEFINITION_PATH",
    "BACKFILL_STATE_MACHINE_NAME",
    "ERASE_STATE_MACHINE_NAME",
    "FIREHOSE_ERROR_PREFIX",
    "FIREHOSE_PREFIX",
    "GLUE_ASSETS_PREFIX",
    "GLUE_TEMP_PREFIX",
    "INGEST_FUNCTION_NAME",
    "PIPELINE_STATE_MACHINE_NAME",
    "SPARK_EVENT_LOGS_PREFIX",
    "UdpStack",
]

BACKFILL_DEFINITION_PATH = DEFINITION_PATH.with_name("backfill.asl.json")
GLUE_TEMP_PREFIX = "tmp/"
SPARK_EVENT_LOGS_PREFIX = "spark-event-logs/"  # in the KMS-encrypted scripts bucket, per job
# The Glue scripts and wheel: the asset deployment syncs (and prunes) this prefix only, so
# it never deletes what else lives in the bucket (the Spark UI event logs above).
GLUE_ASSETS_PREFIX = "glue-assets/"
INGEST_FUNCTION_NAME = "udp-ingest"
PIPELINE_STATE_MACHINE_NAME = "udp-pipeline"
BACKFILL_STATE_MACHINE_NAME = "udp-backfill"
ERASE_STATE_MACHINE_NAME = "udp-erase"
ERASURE_PREFIX = "_erasure/"


_IMAGE_PLATFORM = {"x86_64": ecr_assets.Platform.LINUX_AMD64,
                   "aarch64": ecr_assets.Platform.LINUX_ARM64}
_LAMBDA_ARCHITECTURE = {"x86_64": lambda_.Architecture.X86_64,
                        "aarch64": lambda_.Architecture.ARM_64}


class UdpStack(Stack):
    """Everything the pipeline needs in one AWS account and region.

    Parameters
    ----------
    env_cfg:
        The environment's settings (names, sizes, retention).
    assets:
        The staged Glue scripts and wheel and the image build context
        (see :func:`infra.assets.stage_all`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, env_cfg: EnvConfig,
                 assets: StagedAssets, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.env_cfg = env_cfg
        self.cfg = env_cfg.pipeline
        for key, value in env_cfg.tags:
            Tags.of(self).add(key, value)
        Tags.of(self).add("environment", env_cfg.name)
        self.removal = RemovalPolicy.RETAIN if env_cfg.removal_retain else RemovalPolicy.DESTROY

        self._encryption()
        self._storage()
        self._network()
        self._alerts()
        self._catalog()
        self._delivery()
        self._image_context = assets.image_context
        self._bootstrap_code = assets.bootstrap_code
        self._glue_jobs(assets.glue)
        self._warehouse()
        self._ingest()
        self.push = PushIngest(self, "Push", push_props_for(self))  # docs/reference/push.md
        self._orchestration()
        self._erasure()
        self._query()

    # ------------------------------------------------------------------ helpers

    def arn(self, service: str, resource: str, name: str = "", sep: str = "/") -> str:
        """An ARN in this stack's account and region."""
        fmt = {"/": "SLASH_RESOURCE_NAME", ":": "COLON_RESOURCE_NAME"}[sep]
        return self.format_arn(service=service, resource=resource, resource_name=name or None,
                               arn_format=getattr(ArnFormat, fmt))

    def glue_catalog_arns(self, database: str, tables: str = "*") -> list[str]:
        return [self.arn("glue", "catalog"), self.arn("glue", "database", database),
                self.arn("glue", "table", f"{database}/{tables}")]

    def log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        """A KMS-encrypted log group kept for the environment's retention (rounded up)."""
        return logs.LogGroup(self, construct_id, log_group_name=name, encryption_key=self.key,
                             retention=log_retention(self.env_cfg.log_retention_days),
                             removal_policy=self.removal)

    def kms_use(self, *, decrypt: bool = True, encrypt: bool = True) -> iam.PolicyStatement:
        """Use of the data key by a service on the role's behalf. S3 SSE-KMS writes and
        SQS/SNS producers call GenerateDataKey (and Decrypt for multipart uploads and
        reads); kms:Encrypt is granted only where a service encrypts with the key
        directly on the role's behalf (Glue's CSE-KMS job bookmarks)."""
        actions = (["kms:Decrypt"] if decrypt else []) + (
            ["kms:GenerateDataKey"] if encrypt else [])
        return _statement(actions, [self.key.key_arn])

    def queue(self, construct_id: str, name: str) -> sqs.Queue:
        return sqs.Queue(self, construct_id, queue_name=name,
                         encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key,
                         enforce_ssl=True, retention_period=Duration.days(14),
                         removal_policy=self.removal)

    # ------------------------------------------------------------------ encryption, storage

    def _encryption(self) -> None:
        self.key = kms.Key(self, "DataKey", alias=f"alias/udp-{self.env_cfg.name}",
                           description="Encrypts the pipeline's data, logs, queues and secrets.",
                           enable_key_rotation=True, removal_policy=self.removal)
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchLogsUseKey",
            principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
            actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                     "kms:DescribeKey"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                    self.arn("logs", "log-group", "*", sep=":")}}))
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToEncryptedTopic",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": self.account}}))

    def _bucket(self, construct_id: str, role: str, *, lifecycle: list[s3.LifecycleRule],
                kms_encrypted: bool = True) -> s3.Bucket:
        common: dict[str, Any] = {
            "bucket_name": self.env_cfg.bucket(role),
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "versioned": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": self.removal,
            "lifecycle_rules": [
                s3.LifecycleRule(id="abort-incomplete-uploads",
                                 abort_incomplete_multipart_upload_after=Duration.days(7)),
                s3.LifecycleRule(id="expire-noncurrent-versions",
                                 noncurrent_version_expiration=Duration.days(
                                     self.env_cfg.noncurrent_version_days)),
                *lifecycle,
            ],
        }
        if kms_encrypted:
            bucket = s3.Bucket(self, construct_id, encryption=s3.BucketEncryption.KMS,
                               encryption_key=self.key, bucket_key_enabled=True,
                               server_access_logs_bucket=self.access_logs,
                               server_access_logs_prefix=f"{role}/", **common)
        else:
            bucket = s3.Bucket(self, construct_id, encryption=s3.BucketEncryption.S3_MANAGED,
                               **common)
        return bucket

    def _storage(self) -> None:
        cfg = self.env_cfg
        self.access_logs = self._bucket(
            "AccessLogsBucket", "logs", kms_encrypted=False,
            lifecycle=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))])
        skip(self.access_logs,
             CKV_AWS_18="This is the access-log target; logging it into itself would loop.",)
        # Raw user data is PII: kept raw_retention_days (Standard-IA after raw_ia_after_days),
        # then deleted; error copies keep error_retention_days. Expiration on a versioned
        # bucket leaves a noncurrent version, which expire-noncurrent-versions removes
        # (S3 User Guide, "Lifecycle configuration elements"; docs/operate/deploy-checks.md (h)).
        self.lake = self._bucket("LakeBucket", "lake", lifecycle=[
            s3.LifecycleRule(id="raw-pii-retention", prefix=f"{RAW.prefix}/",
                             transitions=[s3.Transition(
                                 storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                 transition_after=Duration.days(cfg.raw_ia_after_days))],
                             expiration=Duration.days(cfg.raw_retention_days)),
            s3.LifecycleRule(id="expire-glue-temp", prefix=GLUE_TEMP_PREFIX,
                             expiration=Duration.days(cfg.temp_retention_days)),
            s3.LifecycleRule(id="expire-firehose-errors", prefix="errors/",
                             expiration=Duration.days(cfg.error_retention_days)),
        ])
        self.errors = self._bucket("ErrorsBucket", "errors", lifecycle=[
            s3.LifecycleRule(id="expire-quarantine",
                             expiration=Duration.days(cfg.error_retention_days))])
        self.scripts = self._bucket("ScriptsBucket", "scripts", lifecycle=[])
        self.athena_results = self._bucket("AthenaResultsBucket", "athena", lifecycle=[
            s3.LifecycleRule(id="expire-query-results",
                             expiration=Duration.days(cfg.athena_results_retention_days))])

    def _network(self) -> None:
        """VPC for Redshift Serverless (3 AZs required) and the bulk-import job.

        One NAT gateway: the bulk import installs its Python modules with pip and calls
        Secrets Manager; a NAT is cheaper than the interface endpoints both would need.
        S3 is reached through a free gateway endpoint (Redshift COPY with enhanced VPC
        routing, Glue reads).
        """
        region = self.env_cfg.region
        # AZs named in config (not looked up): synth stays offline and deterministic.
        self.vpc = ec2.Vpc(
            self, "Vpc", ip_addresses=ec2.IpAddresses.cidr(self.env_cfg.vpc_cidr),
            availability_zones=[f"{region}{letter}" for letter in self.env_cfg.az_letters],
            nat_gateways=self.env_cfg.nat_gateways, restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC,
                                        cidr_mask=24, map_public_ip_on_launch=False),
                ec2.SubnetConfiguration(name="private",
                                        subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                        cidr_mask=22),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(
                service=ec2.GatewayVpcEndpointAwsService.S3)})
        flow_logs = self.log_group("VpcFlowLogs", f"/udp/{self.env_cfg.name}/vpc-flow-logs")
        self.vpc.add_flow_log("FlowLog",
                              destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                              traffic_type=ec2.FlowLogTrafficType.REJECT)
        self.private_subnets = self.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets
        self.glue_sg = ec2.SecurityGroup(
            self, "GlueJobSecurityGroup", vpc=self.vpc, allow_all_outbound=True,
            description="Glue bulk-import job ENIs (egress to Redshift, NAT, S3 endpoint)")
        self.glue_sg.add_ingress_rule(self.glue_sg, ec2.Port.all_tcp(),
                                      "Glue requires a self-referencing rule between job nodes")
        self.redshift_sg = ec2.SecurityGroup(
            self, "RedshiftSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="Redshift Serverless workgroup: SQL from the bulk-import job only")
        self.redshift_sg.add_ingress_rule(self.glue_sg, ec2.Port.tcp(5439),
                                          "Bulk import connects to Redshift")
        # Enhanced VPC routing sends COPY's S3 reads through the workgroup's VPC ENIs
        # (Redshift Management Guide, "Enhanced VPC routing"): they reach S3 through the
        # gateway endpoint above, which the security group must let out - egress on 443
        # to S3's AWS-managed prefix list (EC2 SecurityGroupEgress DestinationPrefixListId;
        # docs/operate/deploy-checks.md (c)). CloudFormation cannot name a managed prefix list, so
        # its id is read at deploy time.
        # Written as its own resource: SecurityGroup.add_egress_rule with a deploy-time
        # prefix-list id would drop CDK's inline "no traffic" rule, and a group without
        # inline egress gets CloudFormation's default allow-all egress.
        self.s3_prefix_list_id = self._s3_prefix_list_id()
        ec2.CfnSecurityGroupEgress(
            self, "RedshiftS3Egress", group_id=self.redshift_sg.security_group_id,
            ip_protocol="tcp", from_port=443, to_port=443,
            destination_prefix_list_id=self.s3_prefix_list_id,
            description="COPY reads S3 through the gateway endpoint")

    def _s3_prefix_list_id(self) -> str:
        """The id of ``com.amazonaws.<region>.s3`` (DescribeManagedPrefixLists at deploy)."""
        name = f"com.amazonaws.{self.region}.s3"
        call = cr.AwsSdkCall(
            service="EC2", action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
            physical_resource_id=cr.PhysicalResourceId.of(name),
            output_paths=["PrefixLists.0.PrefixListId"])
        Aspects.of(self).add(SkipInScope(
            "AWS::Lambda::Function", "AWS679f53fac002430cb0da5b7982bd2287",
            CKV_AWS_115="CDK's AwsCustomResource handler runs only during deploys.",
            CKV_AWS_116="CDK's AwsCustomResource handler is invoked synchronously by "
                        "CloudFormation, which reports its failures.",
            CKV_AWS_117="CDK's AwsCustomResource handler only calls the EC2 API "
                        "(DescribeManagedPrefixLists)."))
        lookup = cr.AwsCustomResource(
            self, "S3PrefixListLookup", on_create=call, on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements([_statement(
                ["ec2:DescribeManagedPrefixLists"], ["*"])]),
            install_latest_aws_sdk=False)
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    def _alerts(self) -> None:
        self.topic = sns.Topic(self, "AlertTopic", topic_name=self.cfg.alert_topic,
                               display_name="udp pipeline alerts", master_key=self.key,
                               enforce_ssl=True)
        for email in self.env_cfg.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def _alarm_on_queue(self, construct_id: str, queue: sqs.Queue, what: str) -> None:
        alarm = cloudwatch.Alarm(
            self, construct_id, alarm_description=f"{what}: messages in {queue.queue_name}",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)),
            threshold=0, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))

    # ------------------------------------------------------------------ catalog

    def _catalog(self) -> None:
        cfg = self.cfg
        self.databases: dict[str, glue.CfnDatabase] = {}
        for construct_id, name, doc in (
                ("RawDatabase", cfg.raw_database, "Raw user data as delivered by Firehose."),
                ("TransformDatabase", cfg.transform_database, "Analyst-facing transform layer.")):
            self.databases[name] = glue.CfnDatabase(
                self, construct_id, catalog_id=self.account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=name, description=doc))
        self.raw_table = CfnResource(self, "RawTable", type="AWS::Glue::Table", properties={
            "CatalogId": self.account,
            "DatabaseName": cfg.raw_database,
            "TableInput": glue_table_input(RAW, cfg.raw_uri),
        })
        self.raw_table.add_resource_dependency(self.databases[cfg.raw_database])
        self.security_configuration = glue.CfnSecurityConfiguration(
            self, "GlueSecurityConfiguration", name=f"udp-{self.env_cfg.name}",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[glue.CfnSecurityConfiguration.S3EncryptionProperty(
                    s3_encryption_mode="SSE-KMS", kms_key_arn=self.key.key_arn)],
                cloud_watch_encryption=(
                    glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                        cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=self.key.key_arn)),
                job_bookmarks_encryption=(
                    glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                        job_bookmarks_encryption_mode="CSE-KMS",
                        kms_key_arn=self.key.key_arn))))
        self.crawlers: dict[str, CfnResource] = {}
        self.crawler_roles: dict[str, iam.Role] = {}
        for spec in default_specs(cfg):
            role = self._crawler_role(spec)
            crawler = CfnResource(self, f"Crawler-{spec.name}", type="AWS::Glue::Crawler",
                                  properties=crawler_properties(
                                      spec, role.role_arn, self.security_configuration.name))
            crawler.add_resource_dependency(self.databases[spec.database])
            crawler.add_resource_dependency(self.security_configuration)
            self.crawlers[spec.name] = crawler
            self.crawler_roles[spec.name] = role

    def _glue_logs_statement(self, kind: str) -> iam.PolicyStatement:
        """Glue's log groups of ``kind`` (``jobs`` or ``crawlers``); with a security
        configuration Glue appends its name, so the groups are matched by prefix."""
        return _statement(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                           "logs:AssociateKmsKey"],
                          [self.arn("logs", "log-group", f"/aws-glue/{kind}*", sep=":")])

    @staticmethod
    def _crawler_catalog_actions(spec: CrawlerSpec) -> list[str]:
        """What a crawler does to the catalog under its SchemaChangePolicy: it always
        reads and adds tables and partitions; it updates only when told to update or
        deprecate, deletes only when told to delete (tests/infra/test_iam_least.py
        derives the same from local_aws/glue/crawl.py)."""
        # AWS documents a crawler's catalog rights as AWSGlueServiceRole or a scoped-down
        # version ("Crawler prerequisites"): on its own database, the reads the service
        # makes and UpdateTable always; partition updates and deletes per the policy
        actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions",
                   "glue:GetPartition", "glue:BatchGetPartition", "glue:UpdateTable",
                   "glue:CreateTable", "glue:BatchCreatePartition"]
        if (spec.update_behavior == "UPDATE_IN_DATABASE"
                or spec.delete_behavior == "DEPRECATE_IN_DATABASE"):
            actions += ["glue:UpdatePartition"]
        if spec.delete_behavior == "DELETE_FROM_DATABASE":
            actions += ["glue:DeleteTable", "glue:BatchDeletePartition"]
        return actions

    def _crawler_role(self, spec: CrawlerSpec) -> iam.Role:
        name, database, targets = spec.name, spec.database, spec.targets
        role = iam.Role(self, f"CrawlerRole-{name}",
                        assumed_by=_service("glue.amazonaws.com", self.account),
                        description=f"Glue crawler {name}")
        prefixes = [t.split("/", 3)[3] for t in targets]  # s3://bucket/<prefix>
        role.add_to_policy(_statement(
            ["s3:GetObject"], [self.lake.arn_for_objects(f"{p}*") for p in prefixes]))
        role.add_to_policy(_statement(
            ["s3:ListBucket"], [self.lake.bucket_arn],
            {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}))
        role.add_to_policy(_statement(self._crawler_catalog_actions(spec),
                                      self.glue_catalog_arns(database)))
        role.add_to_policy(_statement(["glue:GetSecurityConfiguration"], ["*"]))
        role.add_to_policy(self._glue_logs_statement("crawlers"))
        role.add_to_policy(self.kms_use())
        return role

    # ------------------------------------------------------------------ delivery

    def _delivery(self) -> None:
        cfg, env = self.cfg, self.env_cfg
        log_group = self.log_group("FirehoseLogs", f"/aws/kinesisfirehose/{cfg.delivery_stream}")
        log_stream = logs.LogStream(self, "FirehoseDeliveryLogStream", log_group=log_group,
                                    log_stream_name="DestinationDelivery",
                                    removal_policy=self.removal)
        role = iam.Role(self, "FirehoseRole",
                        assumed_by=iam.ServicePrincipal(
                            "firehose.amazonaws.com",
                            conditions={"StringEquals": {"sts:ExternalId": self.account,
                                                         "aws:SourceAccount": self.account}}),
                        description="Firehose delivery to the raw layer")
        for statement in destination_statements(
                lake=self.lake, glue_arns=self.glue_catalog_arns(cfg.raw_database, RAW.name),
                log_stream_arn=self.arn(
                    "logs", "log-group",
                    f"{log_group.log_group_name}:log-stream:{log_stream.log_stream_name}",
                    sep=":")):
            role.add_to_policy(statement)
        role.add_to_policy(self.kms_use())
        destination = raw_destination(
            bucket_arn=self.lake.bucket_arn, role_arn=role.role_arn, key_arn=self.key.key_arn,
            buffer_mb=env.firehose_buffer_mb, buffer_s=env.firehose_buffer_s,
            log_group_name=log_group.log_group_name,
            log_stream_name=log_stream.log_stream_name, account=self.account,
            region=self.region, raw_database=cfg.raw_database)
        self.delivery_stream = firehose.CfnDeliveryStream(
            self, "DeliveryStream", delivery_stream_name=cfg.delivery_stream,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=(
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                    key_type="CUSTOMER_MANAGED_CMK", key_arn=self.key.key_arn)),
            extended_s3_destination_configuration=destination)
        self.delivery_stream.add_resource_dependency(self.raw_table)
        # CreateDeliveryStream checks the role's Glue access to the schema table when the
        # stream is created, so the stream must wait for the role's policy, not only the
        # role (Firehose Developer Guide, "Grant Firehose access to AWS Glue for data
        # format conversion"; docs/operate/deploy-checks.md (a)).
        policy = role.node.find_child("DefaultPolicy")
        self.delivery_stream.node.add_dependency(policy)
        self.firehose_role = role

    # ------------------------------------------------------------------ Glue jobs

    def _glue_job_role(self, construct_id: str, description: str, job: str) -> iam.Role:
        role = iam.Role(self, construct_id,
                        assumed_by=_service("glue.amazonaws.com", self.account),
                        description=description)
        role.add_to_policy(_statement(
            ["s3:GetObject"], [self.scripts.arn_for_objects(f"{GLUE_ASSETS_PREFIX}scripts/*"),
                               self.scripts.arn_for_objects(f"{GLUE_ASSETS_PREFIX}wheels/*")]))
        role.add_to_policy(_statement(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                                      [self.lake.arn_for_objects(f"{GLUE_TEMP_PREFIX}glue/*")]))
        # Spark UI event logs: this job's own prefix only (Spark writes, renames the
        # in-progress file when the job ends: a copy and a delete on S3)
        role.add_to_policy(_statement(
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [self.scripts.arn_for_objects(f"{SPARK_EVENT_LOGS_PREFIX}{job}/*")]))
        role.add_to_policy(_statement(
            ["s3:ListBucket"], [self.lake.bucket_arn, self.scripts.bucket_arn]))
        role.add_to_policy(self._glue_logs_statement("jobs"))
        role.add_to_policy(_statement(["cloudwatch:PutMetricData"], ["*"],
                                      {"StringEquals": {"cloudwatch:namespace": "Glue"}}))
        role.add_to_policy(_statement(["glue:GetSecurityConfiguration"], ["*"]))
        role.add_to_policy(self.kms_use())
        # The security configuration encrypts job bookmarks client-side with the key
        # (CSE-KMS): Glue encrypts and decrypts them with the job's role, so the role
        # holds kms:Encrypt as well (Glue Developer Guide, "Setting up encryption in AWS
        # Glue"; docs/operate/deploy-checks.md (m)).
        role.add_to_policy(_statement(["kms:Encrypt", "kms:Decrypt"], [self.key.key_arn]))
        return role

    def _common_job_args(self, modules: Sequence[str], job: str) -> dict[str, str]:
        """Special parameters every job gets (Glue "Using job parameters in AWS Glue jobs").

        Not set, because they do nothing on Glue 6.0: ``--enable-continuous-cloudwatch-log``
        (continuous logging is a Glue 4.0-and-earlier option; every 5.0 and later job logs
        in real time) and ``--job-language python`` (the default).
        docs/operate/deploy-checks.md (i).
        Spark UI event logs go to the encrypted scripts bucket under
        :data:`SPARK_EVENT_LOGS_PREFIX` + the job name ("Enabling the Apache Spark web UI
        for AWS Glue jobs"; the job's security configuration encrypts them).
        """
        return {
            "--job-bookmark-option": "job-bookmark-disable",  # runs are keyed by --p_date
            "--enable-metrics": "true",
            "--enable-observability-metrics": "true",
            "--enable-glue-datacatalog": "true",
            "--enable-spark-ui": "true",
            "--spark-event-logs-path": self.scripts.s3_url_for_object(
                f"{SPARK_EVENT_LOGS_PREFIX}{job}/"),
            "--TempDir": self.lake.s3_url_for_object(f"{GLUE_TEMP_PREFIX}glue/"),
            "--additional-python-modules": ",".join(modules),
            "--python-modules-installer-option": "--no-deps",
        }

    def _glue_jobs(self, assets: GlueAssets) -> None:
        cfg, env = self.cfg, self.env_cfg
        # `aws s3 sync --delete` of the staged folder to GLUE_ASSETS_PREFIX: pruning removes
        # scripts and wheels that are not staged any more, and reaches nothing outside that prefix
        # (docs/operate/deploy-checks.md (l)).
        deployment = s3deploy.BucketDeployment(
            self, "GlueAssets", sources=[s3deploy.Source.asset(str(assets.folder))],
            destination_bucket=self.scripts, destination_key_prefix=GLUE_ASSETS_PREFIX,
            prune=True, retain_on_delete=False, memory_limit=256)
        deployment.node.find_child("AwsCliLayer")  # fail loudly if the construct changes
        self.node.add_metadata("glue-wheel", assets.wheel_key)
        wheel_uri = self.scripts.s3_url_for_object(f"{GLUE_ASSETS_PREFIX}{assets.wheel_key}")
        self.salt_secret = secretsmanager.Secret(
            self, "EmailHashSalt", secret_name=f"udp/{env.name}/email-hash-salt",
            description="Salt of the email hash in the transform layer",
            encryption_key=self.key, removal_policy=self.removal,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48))

        transform_role = self._glue_job_role("TransformJobRole", "Glue transform job",
                                             cfg.transform_job)
        lake = self.lake
        transform_role.add_to_policy(_statement(["s3:GetObject"],
                                                [lake.arn_for_objects(f"{RAW.prefix}/*")]))
        transform_role.add_to_policy(_statement(
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [lake.arn_for_objects(f"{t.prefix}/*")
             for t in (*MODEL_TABLES, DQ_RESULTS, RUN_OUTCOMES)]))
        # raw, and the DQ gate's trailing window of dq_results, through
        # GlueContext.create_dynamic_frame.from_catalog (the table, then its partitions)
        for database, table in ((cfg.raw_database, RAW.name),
                                (cfg.transform_database, DQ_RESULTS.name)):
            transform_role.add_to_policy(_statement(
                ["glue:GetTable", "glue:GetPartitions"],
                self.glue_catalog_arns(database, table)))
        # publishing the transform tables (glue_jobs/publish.py's boto3 calls), and the DQ
        # gate asking the catalog whether dq_results has a partition in its window
        transform_role.add_to_policy(_statement(
            ["glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:GetPartition",
             "glue:GetPartitions", "glue:CreatePartition", "glue:UpdatePartition"],
            self.glue_catalog_arns(cfg.transform_database)))
        transform_role.add_to_policy(_statement(["secretsmanager:GetSecretValue"],
                                                [self.salt_secret.secret_arn]))
        # the erasure register: every rerun and backfill drops the users it names
        transform_role.add_to_policy(_statement(["s3:GetObject"],
                                                [lake.arn_for_objects(REGISTER_KEY)]))
        self.transform_role = transform_role
        self.transform_job = self._glue_job(
            "TransformJob", cfg.transform_job, transform_role,
            "Transform, check and publish one p_date of raw users (--p_date).",
            env.transform_worker_type, env.transform_workers,
            assets.script_keys["transform_users"], [wheel_uri],
            {"--lake_uri": f"s3://{cfg.lake_bucket}",
             "--salt_secret_id": self.salt_secret.secret_arn}, deployment)
        self._deployment = deployment
        self._wheel_uri = wheel_uri
        self._assets = assets

    # ------------------------------------------------------------------ warehouse

    def _warehouse(self) -> None:
        cfg, env = self.cfg, self.env_cfg
        # The nightly load logs in as its own user (sql/redshift/load_user.sql), never as
        # the admin, whose password Redshift keeps and rotates in Secrets Manager
        # (ManageAdminPassword; docs/operate/deploy-checks.md (g)).
        self.redshift_secret = secretsmanager.Secret(
            self, "RedshiftLoadSecret", secret_name=f"udp/{env.name}/redshift-load",
            description="Redshift login of the nightly load user and the endpoint (read by "
                        "the bulk import)",
            encryption_key=self.key, removal_policy=self.removal,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({
                    "username": env.redshift_load_user, "dbname": env.redshift_database,
                    "host": env.redshift_host, "port": 5439}),
                generate_string_key="password", password_length=32,
                exclude_characters="\"'@/\\ `", require_each_included_type=True))
        copy_role = iam.Role(
            self, "RedshiftCopyRole", description="Redshift COPY from the transform layer",
            assumed_by=iam.CompositePrincipal(
                _service("redshift.amazonaws.com", self.account),
                _service("redshift-serverless.amazonaws.com", self.account)))
        # the warehouse COPYs the users table only (sql/redshift/copy_users.redshift.sql)
        copy_role.add_to_policy(_statement(
            ["s3:GetObject"], [self.lake.arn_for_objects(f"{USERS.prefix}/*")]))
        copy_role.add_to_policy(_statement(
            ["s3:ListBucket", "s3:GetBucketLocation"], [self.lake.bucket_arn]))
        copy_role.add_to_policy(self.kms_use(encrypt=False))
        self.copy_role = copy_role
        self.namespace = redshift.CfnNamespace(
            self, "RedshiftNamespace", namespace_name=env.redshift_namespace,
            db_name=env.redshift_database, admin_username=env.redshift_admin_user,
            manage_admin_password=True, admin_password_secret_kms_key_id=self.key.key_arn,
            iam_roles=[copy_role.role_arn], default_iam_role_arn=copy_role.role_arn,
            kms_key_id=self.key.key_arn,
            log_exports=["userlog", "connectionlog", "useractivitylog"])
        self.workgroup = redshift.CfnWorkgroup(
            self, "RedshiftWorkgroup", workgroup_name=env.redshift_workgroup,
            namespace_name=env.redshift_namespace, base_capacity=env.redshift_base_rpu,
            max_capacity=env.redshift_max_rpu, enhanced_vpc_routing=True,
            publicly_accessible=False,
            subnet_ids=[s.subnet_id for s in self.private_subnets],
            security_group_ids=[self.redshift_sg.security_group_id],
            config_parameters=[
                redshift.CfnWorkgroup.ConfigParameterProperty(parameter_key="require_ssl",
                                                              parameter_value="true"),
                redshift.CfnWorkgroup.ConfigParameterProperty(
                    parameter_key="enable_user_activity_logging", parameter_value="true")])
        self.workgroup.add_resource_dependency(self.namespace)
        self._warehouse_bootstrap()

        # the bulk import job: in the VPC through a Glue NETWORK connection
        subnet = self.private_subnets[0]
        self.glue_connection = glue.CfnConnection(
            self, "GlueVpcConnection", catalog_id=self.account,
            connection_input=glue.CfnConnection.ConnectionInputProperty(
                name=f"udp-{env.name}-vpc", connection_type="NETWORK",
                description="Private subnet for the bulk import (reaches Redshift)",
                physical_connection_requirements=(
                    glue.CfnConnection.PhysicalConnectionRequirementsProperty(
                        availability_zone=subnet.availability_zone, subnet_id=subnet.subnet_id,
                        security_group_id_list=[self.glue_sg.security_group_id]))))
        load_role = self._glue_job_role("BulkImportJobRole", "Glue bulk import into Redshift",
                                        cfg.load_job)
        load_role.add_to_policy(_statement(["secretsmanager:GetSecretValue"],
                                           [self.redshift_secret.secret_arn]))
        # the import reads the day's published location from the catalog (versioned folders)
        load_role.add_to_policy(_statement(
            ["glue:GetPartition"], self.glue_catalog_arns(cfg.transform_database, USERS.name)))
        # and checks the version's COPY manifest and file sizes before the COPY
        # (glue_jobs.bulk_import.check_manifest: GetObject, ListObjectsV2 = s3:ListBucket)
        load_role.add_to_policy(_statement(
            ["s3:GetObject"], [self.lake.arn_for_objects(f"{USERS.prefix}/*")]))
        # and records each date's outcome (glue_jobs.outcomes.record_load_outcomes)
        load_role.add_to_policy(_statement(
            ["s3:PutObject"], [self.lake.arn_for_objects(f"{RUN_OUTCOMES.prefix}/*")]))
        self._vpc_job_grants(load_role)
        self.load_role = load_role
        self.load_job = self._glue_job(
            "BulkImportJob", cfg.load_job, load_role,
            "COPY one p_date into Redshift: staging, dedupe, MERGE (--p_date).",
            "G.1X", env.load_workers, self._assets.script_keys["bulk_import"],
            [self._wheel_uri, *env.glue_python_modules],
            {"--table_uri": cfg.users_uri, "--secret_id": self.redshift_secret.secret_arn,
             "--iam_role_arn": copy_role.role_arn}, self._deployment, in_vpc=True)
        self.load_job.node.add_dependency(self.warehouse_bootstrap)  # its login exists first

    def _glue_job(self, construct_id: str, name: str, role: iam.Role, description: str,
                  worker_type: str, workers: int, script_key: str, modules: list[str],
                  arguments: dict[str, str], deployment: s3deploy.BucketDeployment, *,
                  in_vpc: bool = False) -> glue.CfnJob:
        """A Glue 6.0 Spark job of the pipeline: no Glue retries (Step Functions retries
        it), the environment's timeout and run limit, the security configuration, the
        shared job arguments; ``in_vpc`` puts it behind the VPC's Glue connection. It is
        created after what it needs: its security configuration, the connection, and
        ``deployment`` (the scripts and the wheel it runs)."""
        env = self.env_cfg
        job = glue.CfnJob(
            self, construct_id, name=name, role=role.role_arn, description=description,
            glue_version="6.0", worker_type=worker_type, number_of_workers=workers,
            max_retries=0, timeout=env.job_timeout_minutes,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(
                max_concurrent_runs=env.max_concurrent_runs),
            security_configuration=self.security_configuration.name,
            connections=(glue.CfnJob.ConnectionsListProperty(
                connections=[f"udp-{env.name}-vpc"]) if in_vpc else None),
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3",
                script_location=self.scripts.s3_url_for_object(GLUE_ASSETS_PREFIX + script_key)),
            default_arguments={**self._common_job_args(modules, name), **arguments})
        if in_vpc:
            job.add_resource_dependency(self.glue_connection)
        job.add_resource_dependency(self.security_configuration)
        job.node.add_dependency(deployment)
        return job

    def _vpc_job_grants(self, role: iam.Role) -> None:
        """What a job in the VPC through the Glue NETWORK connection needs: the
        connection, the network's description, its ENIs in the connection's one subnet
        with its security group."""
        env, subnet = self.env_cfg, self.private_subnets[0]
        role.add_to_policy(_statement(
            ["glue:GetConnection"],
            [self.arn("glue", "catalog"), self.arn("glue", "connection", f"udp-{env.name}-vpc")]))
        role.add_to_policy(_statement(
            ["ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables", "ec2:DescribeSubnets",
             "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces"], ["*"]))
        role.add_to_policy(_statement(["ec2:DescribeVpcAttribute"],
                                      [self.arn("ec2", "vpc", self.vpc.vpc_id)]))
        role.add_to_policy(_statement(
            ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:CreateTags",
             "ec2:DeleteTags"],
            [self.arn("ec2", "network-interface", "*"),
             self.arn("ec2", "subnet", subnet.subnet_id),
             self.arn("ec2", "security-group", self.glue_sg.security_group_id)]))

    def _warehouse_bootstrap(self) -> None:
        """The load user, its schemas and grants, made by the deploy: a custom resource
        whose Lambda runs ``sql/redshift/load_user.sql`` through the Redshift Data API
        with the admin secret Redshift manages (``glue_jobs.warehouse_bootstrap``;
        docs/operate/deploy-checks.md (g)). It runs on create and whenever the script, the code
        or a property changes; it is idempotent."""
        env = self.env_cfg
        if self._bootstrap_code is None:
            raise ValueError("the warehouse bootstrap's code is not staged "
                             "(infra.assets.stage_all)")
        log_group = self.log_group("WarehouseBootstrapLogs",
                                   f"/aws/lambda/udp-{env.name}-warehouse-bootstrap")
        role = iam.Role(self, "WarehouseBootstrapRole",
                        assumed_by=_service("lambda.amazonaws.com", self.account),
                        description="Deploy-time warehouse bootstrap: the load user and "
                                    "its grants, as the admin, through the Data API")
        role.add_to_policy(_statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                                      [log_group.log_group_arn]))
        role.add_to_policy(_statement(["redshift-serverless:GetNamespace"],
                                      [self.namespace.attr_namespace_namespace_arn]))
        role.add_to_policy(_statement(
            ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            [self.workgroup.attr_workgroup_workgroup_arn]))
        # statements take no resource ARN; only the caller's own ("Authorizing access to
        # the Amazon Redshift Data API")
        role.add_to_policy(_statement(
            ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"], ["*"],
            {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}))
        # the load secret (read by the code) and the admin secret Redshift keeps as
        # redshift!<namespace>-<admin user> (read by the Data API with the caller's rights)
        role.add_to_policy(_statement(["secretsmanager:GetSecretValue"], [
            self.redshift_secret.secret_arn,
            self.arn("secretsmanager", "secret",
                     f"redshift!{env.redshift_namespace}-{env.redshift_admin_user}-*",
                     sep=":")]))
        role.add_to_policy(self.kms_use(encrypt=False))
        code = Path(self._bootstrap_code)
        digest = hashlib.sha256()
        for path in sorted(p for p in code.rglob("*") if p.is_file()):
            digest.update(path.relative_to(code).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
        fingerprint = digest.hexdigest()
        fn = lambda_.Function(
            self, "WarehouseBootstrapFunction",
            function_name=f"udp-{env.name}-warehouse-bootstrap",
            description="Deploy-time: load user, schemas and grants through the Data API",
            runtime=lambda_.Runtime.PYTHON_3_13, handler=BOOTSTRAP_HANDLER,
            code=lambda_.Code.from_asset(str(code)),
            architecture=_LAMBDA_ARCHITECTURE[LAMBDA_IMAGE.arch], role=role,
            log_group=log_group, memory_size=256, timeout=Duration.minutes(10),
            retry_attempts=0)
        skip(fn,
             CKV_AWS_115="Runs only when CloudFormation creates or updates the bootstrap.",
             CKV_AWS_116="Invoked by CloudFormation for a custom resource; the handler "
                         "always answers it, and CloudFormation reports a failure.",
             CKV_AWS_117="Calls only AWS APIs (Redshift Data API, Redshift Serverless, "
                         "Secrets Manager); in the VPC it would need the NAT.",
             CKV_AWS_173="No environment variables.")
        fn.node.add_dependency(role)
        self.warehouse_bootstrap = CustomResource(
            self, "WarehouseBootstrap", service_token=fn.function_arn,
            resource_type="Custom::WarehouseBootstrap",
            properties={"NamespaceName": env.redshift_namespace,
                        "WorkgroupName": env.redshift_workgroup,
                        "Database": env.redshift_database,
                        "LoadSecretArn": self.redshift_secret.secret_arn,
                        "CodeSha256": fingerprint})
        self.warehouse_bootstrap.node.add_dependency(self.workgroup)
        self.bootstrap_role = role

    # ------------------------------------------------------------------ ingest

    def _ingest(self) -> None:
        cfg, env = self.cfg, self.env_cfg
        log_group = self.log_group("IngestLogs", f"/aws/lambda/{INGEST_FUNCTION_NAME}")
        self.ingest_dlq = self.queue("IngestDlq", "udp-ingest-dlq")
        role = iam.Role(self, "IngestFunctionRole",
                        assumed_by=_service("lambda.amazonaws.com", self.account),
                        description="Ingest Lambda: fetch pages, put them to Firehose")
        role.add_to_policy(_statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                                      [f"{log_group.log_group_arn}"]))
        role.add_to_policy(_statement(["firehose:PutRecordBatch"],
                                      [self.arn("firehose", "deliverystream",
                                                cfg.delivery_stream)]))
        role.add_to_policy(_statement(["s3:PutObject"], [self.errors.arn_for_objects("*")]))
        # the erasure register: records of erased users are dropped, never delivered
        role.add_to_policy(_statement(["s3:GetObject"],
                                      [self.lake.arn_for_objects(REGISTER_KEY)]))
        # no cloudwatch:PutMetricData: Powertools Metrics writes EMF lines to the log
        role.add_to_policy(self.kms_use())
        self.ingest_role = role
        self.ingest_function = lambda_.DockerImageFunction(
            self, "IngestFunction", function_name=INGEST_FUNCTION_NAME,
            description="Fetch user-data pages, validate, scrub, deliver to Firehose",
            # built for, and run on, the CPU the image's wheels are resolved for
            code=lambda_.DockerImageCode.from_image_asset(
                str(self._image_context), file="ingest_lambda/Dockerfile",
                platform=_IMAGE_PLATFORM[LAMBDA_IMAGE.arch]),
            architecture=_LAMBDA_ARCHITECTURE[LAMBDA_IMAGE.arch],
            role=role, log_group=log_group, memory_size=env.ingest_memory_mb,
            timeout=Duration.seconds(env.ingest_timeout_s),
            # None (default): no reservation, which low-quota accounts cannot grant
            # (Lambda keeps >= 100 unreserved; docs/operate/deploy-checks.md (b))
            reserved_concurrent_executions=env.ingest_reserved_concurrency,
            dead_letter_queue=self.ingest_dlq, retry_attempts=0,
            tracing=lambda_.Tracing.ACTIVE, environment_encryption=self.key,
            environment={
                "API_URL": env.api_url,
                "DELIVERY_STREAM": cfg.delivery_stream,
                "ERRORS_BUCKET": cfg.errors_bucket,
                "ERASURE_REGISTER": register_uri(cfg.lake_uri),
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            })
        skip(self.ingest_function,
             CKV_AWS_117="Calls a public HTTPS API and Firehose; in a VPC it would need the "
                         "NAT for every page. It reaches no private resource.")
        if env.ingest_reserved_concurrency is None:
            skip(self.ingest_function,
                 CKV_AWS_115="Reserved concurrency is a setting (ingest_reserved_concurrency), "
                             "off by default: accounts on a new account's low concurrency "
                             "quota cannot reserve any (Lambda keeps 100 unreserved).")
        self.schedules_dlq = self.queue("ScheduleDlq", "udp-schedules-dlq")
        scheduler_role = self._scheduler_role("IngestScheduleRole", "Invoke the ingest Lambda")
        scheduler_role.add_to_policy(_statement(
            ["lambda:InvokeFunction"], [self.ingest_function.function_arn]))
        schedule = ingest_schedule(lambda_arn=self.ingest_function.function_arn,
                                   role_arn=scheduler_role.role_arn,
                                   dead_letter_arn=self._dlq_arn(self.schedules_dlq),
                                   every_minutes=env.ingest_every_minutes)
        self.ingest_schedule = CfnResource(self, "IngestSchedule",
                                           type="AWS::Scheduler::Schedule",
                                           properties=schedule.cfn_properties())
        self._alarm_on_queue("IngestDlqAlarm", self.ingest_dlq, "Failed ingest invocations")
        self._alarm_on_queue("ScheduleDlqAlarm", self.schedules_dlq, "Undeliverable schedules")

    def _lease_table(self) -> dynamodb.Table:
        """One item per p_date being run; on-demand (a few writes a day), KMS-encrypted."""
        return dynamodb.Table(
            self, "DateLeaseTable", table_name=self.cfg.lease_table,
            partition_key=dynamodb.Attribute(name="p_date", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=self.removal)

    def _dlq_arn(self, queue: sqs.Queue) -> str:
        """The queue ARN in a form ``orchestration.schedules`` accepts (literal prefix)."""
        return f"arn:aws:sqs:{self.region}:{self.account}:{queue.queue_name}"

    def _scheduler_role(self, construct_id: str, description: str) -> iam.Role:
        role = iam.Role(self, construct_id, description=description,
                        assumed_by=_service("scheduler.amazonaws.com", self.account))
        role.add_to_policy(_statement(["sqs:SendMessage"], [self.schedules_dlq.queue_arn]))
        role.add_to_policy(self.kms_use())
        return role

    # ------------------------------------------------------------------ orchestration

    def _orchestration(self) -> None:
        cfg, env = self.cfg, self.env_cfg
        text = DEFINITION_PATH.read_text(encoding="utf-8")
        substitutions = placeholder_values(cfg, env.account, env.region)
        substitutions["AlertTopicArn"] = self.topic.topic_arn
        role = iam.Role(self, "PipelineStateMachineRole",
                        assumed_by=_service("states.amazonaws.com", self.account),
                        description="Nightly pipeline state machine")
        role.add_to_policy(_statement(
            ["glue:StartCrawler", "glue:GetCrawler"],
            [self.arn("glue", "crawler", name) for name in self.crawlers]))
        role.add_to_policy(_statement(
            ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            [self.arn("glue", "job", cfg.transform_job), self.arn("glue", "job", cfg.load_job)]))
        role.add_to_policy(_statement(["sns:Publish"], [self.topic.topic_arn]))
        # one run per p_date: the conditional-write lease the definition takes and releases
        # (docs/adr/0008-one-run-per-date.md)
        self.lease_table = self._lease_table()
        role.add_to_policy(_statement(
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
            [self.lease_table.table_arn]))
        role.add_to_policy(self.kms_use())
        self.pipeline_role = role
        self.pipeline = sfn.StateMachine(
            self, "PipelineStateMachine", state_machine_name=PIPELINE_STATE_MACHINE_NAME,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(text),
            definition_substitutions=substitutions, role=role, tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group("PipelineLogs",
                                           f"/aws/vendedlogs/states/{PIPELINE_STATE_MACHINE_NAME}"),
                level=sfn.LogLevel.ERROR, include_execution_data=False))
        for job in (self.transform_job, self.load_job):
            self.pipeline.node.add_dependency(job)
        for crawler in self.crawlers.values():
            self.pipeline.node.add_dependency(crawler)
        self.pipeline.node.add_dependency(self.lease_table)

        # Range mode (backfill.asl.json): per chunk of dates the backfill crawls, runs the
        # transform and the bulk import, alerts itself and takes the dates' leases, so it
        # needs the nightly role's grants, not StartExecution of the nightly one.
        backfill_role = iam.Role(self, "BackfillStateMachineRole",
                                 assumed_by=_service("states.amazonaws.com", self.account),
                                 description="Backfill: crawls, transforms and loads chunks "
                                             "of dates")
        backfill_role.add_to_policy(_statement(
            ["glue:StartCrawler", "glue:GetCrawler"],
            [self.arn("glue", "crawler", name) for name in self.crawlers]))
        backfill_role.add_to_policy(_statement(
            ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            [self.arn("glue", "job", cfg.transform_job), self.arn("glue", "job", cfg.load_job)]))
        backfill_role.add_to_policy(_statement(["sns:Publish"], [self.topic.topic_arn]))
        # each chunk takes and releases the lease of each of its dates, like the nightly
        backfill_role.add_to_policy(_statement(
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
            [self.lease_table.table_arn]))
        backfill_role.add_to_policy(self.kms_use())
        self.backfill_role = backfill_role
        self.backfill = sfn.StateMachine(
            self, "BackfillStateMachine", state_machine_name=BACKFILL_STATE_MACHINE_NAME,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(
                BACKFILL_DEFINITION_PATH.read_text(encoding="utf-8")),
            definition_substitutions=substitutions,
            role=backfill_role, tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group("BackfillLogs",
                                           f"/aws/vendedlogs/states/{BACKFILL_STATE_MACHINE_NAME}"),
                level=sfn.LogLevel.ERROR, include_execution_data=False))
        for job in (self.transform_job, self.load_job):
            self.backfill.node.add_dependency(job)
        for crawler in self.crawlers.values():
            self.backfill.node.add_dependency(crawler)
        self.backfill.node.add_dependency(self.lease_table)

        for construct_id, machine in (("Pipeline", self.pipeline), ("Backfill", self.backfill)):
            self._alarm_on_executions(construct_id, machine)

        nightly_role = self._scheduler_role("NightlyScheduleRole", "Start the nightly pipeline")
        nightly_role.add_to_policy(_statement(["states:StartExecution"],
                                              [self.pipeline.state_machine_arn]))
        nightly = nightly_pipeline_schedule(
            state_machine_arn=self.pipeline.state_machine_arn, role_arn=nightly_role.role_arn,
            dead_letter_arn=self._dlq_arn(self.schedules_dlq), hour=env.nightly_hour,
            minute=env.nightly_minute, timezone=env.nightly_timezone)
        self.nightly_schedule = CfnResource(self, "NightlySchedule",
                                            type="AWS::Scheduler::Schedule",
                                            properties=nightly.cfn_properties())

    # ------------------------------------------------------------------ erasure

    def _erasure(self) -> None:
        """The right to erasure (docs/operate/erasure.md): the erasure Glue job, one run
        per step of ``orchestration/erasure.asl.json``, and that state machine."""
        cfg, env, lake = self.cfg, self.env_cfg, self.lake
        role = self._glue_job_role("EraseJobRole", "Glue erasure job", cfg.erase_job)
        # rewrites raw, the quarantine and the transform tables, and deletes the older
        # object versions of what it rewrites (DeleteObject with a versionId is
        # s3:DeleteObjectVersion); the verify reads the noncurrent versions left
        objects = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion",
                   "s3:DeleteObjectVersion"]
        role.add_to_policy(_statement(objects, [
            lake.arn_for_objects(f"{RAW.prefix}/*"),
            *[lake.arn_for_objects(f"{t.prefix}/*") for t in (*MODEL_TABLES, DQ_RESULTS)],
            lake.arn_for_objects(f"{ERRORS_PREFIX}*"),
            self.errors.arn_for_objects("*")]))
        # the register, the requests' progress, the executions' plans, the ids files
        role.add_to_policy(_statement(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                                      [lake.arn_for_objects(f"{ERASURE_PREFIX}*")]))
        role.add_to_policy(_statement(["s3:ListBucket", "s3:ListBucketVersions"],
                                      [lake.bucket_arn, self.errors.bucket_arn]))
        # the day's republish: the transform job's catalog reads and publish
        for database, table in ((cfg.raw_database, RAW.name),
                                (cfg.transform_database, DQ_RESULTS.name)):
            role.add_to_policy(_statement(["glue:GetTable", "glue:GetPartitions"],
                                          self.glue_catalog_arns(database, table)))
        role.add_to_policy(_statement(
            ["glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:GetPartition",
             "glue:GetPartitions", "glue:CreatePartition", "glue:UpdatePartition"],
            self.glue_catalog_arns(cfg.transform_database)))
        role.add_to_policy(_statement(["secretsmanager:GetSecretValue"],
                                      [self.salt_secret.secret_arn,
                                       self.redshift_secret.secret_arn]))
        role.add_to_policy(_statement(["dynamodb:DeleteItem", "dynamodb:GetItem"],
                                      [self.push.table.table_arn]))
        self._vpc_job_grants(role)
        self.erase_role = role
        self.erase_job = self._glue_job(
            "EraseJob", cfg.erase_job, role,
            "One step of an erasure request (--step), run by the udp-erase state machine.",
            env.transform_worker_type, env.transform_workers,
            self._assets.script_keys["erase_users"],
            [self._wheel_uri, *env.glue_python_modules],
            {"--lake_uri": f"s3://{cfg.lake_bucket}", "--errors_bucket": cfg.errors_bucket,
             "--salt_secret_id": self.salt_secret.secret_arn,
             "--secret_id": self.redshift_secret.secret_arn,
             "--user_table": self.push.names["table"]}, self._deployment, in_vpc=True)
        self.erase_job.node.add_dependency(self.warehouse_bootstrap)

        sm_role = iam.Role(self, "EraseStateMachineRole",
                           assumed_by=_service("states.amazonaws.com", self.account),
                           description="Erasure: runs the erasure job's steps under the "
                                       "dates' leases")
        sm_role.add_to_policy(_statement(
            ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            [self.arn("glue", "job", cfg.erase_job)]))
        sm_role.add_to_policy(_statement(
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
            [self.lease_table.table_arn]))
        sm_role.add_to_policy(_statement(["sns:Publish"], [self.topic.topic_arn]))
        # the plan and the verify's counts the job writes for the execution
        sm_role.add_to_policy(_statement(
            ["s3:GetObject"], [lake.arn_for_objects(f"{EXECUTIONS_PREFIX}*")]))
        sm_role.add_to_policy(self.kms_use())
        self.erase_state_machine_role = sm_role
        substitutions = erasure_placeholder_values(cfg, env.account, env.region)
        substitutions["AlertTopicArn"] = self.topic.topic_arn
        self.erasure = sfn.StateMachine(
            self, "EraseStateMachine", state_machine_name=ERASE_STATE_MACHINE_NAME,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(
                ERASURE_DEFINITION.read_text(encoding="utf-8")),
            definition_substitutions=substitutions, role=sm_role, tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group("EraseLogs",
                                           f"/aws/vendedlogs/states/{ERASE_STATE_MACHINE_NAME}"),
                level=sfn.LogLevel.ERROR, include_execution_data=False))
        self.erasure.node.add_dependency(self.erase_job)
        self.erasure.node.add_dependency(self.lease_table)
        self._alarm_on_executions("Erase", self.erasure)

    def _alarm_on_executions(self, construct_id: str, machine: sfn.StateMachine) -> None:
        """Alert when an execution fails, times out or is aborted (Step Functions
        metrics ExecutionsFailed/TimedOut/Aborted, "Monitoring Step Functions metrics
        using CloudWatch"; docs/operate/deploy-checks.md (f))."""
        for metric_name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
            alarm = cloudwatch.Alarm(
                self, f"{construct_id}{metric_name}Alarm",
                alarm_description=f"{metric_name} > 0 on {machine.node.id}",
                metric=machine.metric(metric_name, period=Duration.minutes(5),
                                      statistic="Sum"),
                threshold=0, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))

    # ------------------------------------------------------------------ query

    def _query(self) -> None:
        env = self.env_cfg
        self.athena_workgroup = athena.CfnWorkGroup(
            self, "AthenaWorkgroup", name=env.athena_workgroup, state="ENABLED",
            description="Analyst queries over the transform layer",
            recursive_delete_option=not env.removal_retain,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=env.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.athena_results.s3_url_for_object("results/"),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.key.key_arn))))
        # The BucketDeployment handler is CDK's (a singleton at stack level, id
        # "Custom::CDKBucketDeployment…"); its settings are not ours to choose.
        Aspects.of(self).add(SkipInScope(
            "AWS::Lambda::Function", "Custom::CDKBucketDeployment",
            CKV_AWS_115="CDK's BucketDeployment handler runs only during deploys.",
            CKV_AWS_116="CDK's BucketDeployment handler is invoked synchronously by "
                        "CloudFormation, which reports its failures.",
            CKV_AWS_117="CDK's BucketDeployment handler only talks to S3.",
            CKV_AWS_173="CDK's BucketDeployment handler has no secrets in its environment."))
