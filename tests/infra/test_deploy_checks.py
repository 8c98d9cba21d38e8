"""Template defects found in review, each pinned.

docs/operate/deploy-checks.md has the AWS sources.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from contracts.tables import RAW
from infra.assets import BOOTSTRAP_HANDLER, LAMBDA_IMAGE, stage_bootstrap_code
from infra.config import EnvConfig, EnvConfigError
from infra.stack import GLUE_ASSETS_PREFIX, SPARK_EVENT_LOGS_PREFIX
from ingest_lambda import METRICS_NAMESPACE
from orchestration.state_machine import DEFINITION_PATH
from tests.infra.cfn import logical_id, render, resources, statements_of_role
from tests.infra.conftest import Synth

pytestmark = pytest.mark.slow  # uses the session's one synth

ROOT = DEFINITION_PATH.parents[1]


def _role_id(template: dict[str, Any], prefix: str) -> str:
    return logical_id(template, prefix, "AWS::IAM::Role")


def _grants(template: dict[str, Any], role_prefix: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for st in statements_of_role(template, _role_id(template, role_prefix)):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for action in actions:
            out.setdefault(action, set()).update(str(r) for r in res)
    return out


def _job_args(template: dict[str, Any], name: str) -> dict[str, Any]:
    (props,) = [j["Properties"] for j in resources(template, "AWS::Glue::Job").values()
                if j["Properties"]["Name"] == name]
    return dict(render(props["DefaultArguments"]))


# (a) ----------------------------------------------------------------- Firehose ordering

def test_delivery_streams_wait_for_their_roles_policy(template: dict[str, Any]) -> None:
    # GIVEN the delivery streams (the pull path's and the push path's) and their roles
    streams = resources(template, "AWS::KinesisFirehose::DeliveryStream")
    assert len(streams) == 2
    for stream_id, stream in streams.items():
        role_arn = render(stream["Properties"]["ExtendedS3DestinationConfiguration"]["RoleARN"])
        role_id = str(role_arn).strip("<>").split(".")[0]
        (policy_id,) = [rid for rid, p in resources(template, "AWS::IAM::Policy").items()
                        if {"Ref": role_id} in p["Properties"]["Roles"]]
        # THEN CloudFormation creates each stream only after its policy (Glue access) exists
        assert policy_id in stream.get("DependsOn", []), stream_id


# (b) ----------------------------------------------------------------- reserved concurrency

def test_no_function_reserves_concurrency_unless_a_setting_asks(
        synth: Synth, template: dict[str, Any]) -> None:
    # GIVEN every Lambda function of the template (ours and CDK's deploy-time handlers)
    functions = resources(template, "AWS::Lambda::Function")
    assert len(functions) >= 3
    # AND the settings that may ask for a reservation, all unset in the shipped config
    settings = ("ingest_reserved_concurrency", "push_api_reserved_concurrency",
                "push_consumer_reserved_concurrency")
    assert all(getattr(synth.env, name) is None for name in settings)
    # THEN no function reserves any (a reservation a new account's quota cannot spare
    # rolls the stack back)
    reserving = {rid for rid, fn in functions.items()
                 if "ReservedConcurrentExecutions" in fn["Properties"]}
    assert reserving == set()


@pytest.mark.parametrize("setting", ["ingest_reserved_concurrency",
                                     "push_api_reserved_concurrency",
                                     "push_consumer_reserved_concurrency"])
@pytest.mark.parametrize("value", [0, -1])
def test_reserved_concurrency_settings_reject_values_that_disable_a_function(
        setting: str, value: int) -> None:
    with pytest.raises(EnvConfigError, match=setting):
        overrides: dict[str, Any] = {setting: value}
        EnvConfig(name="dev", account="111111111111", region="eu-west-1", **overrides)


# (c) ----------------------------------------------------------------- Redshift egress

def test_redshift_security_group_lets_copy_reach_s3_through_the_endpoint(
        template: dict[str, Any]) -> None:
    # GIVEN the Redshift workgroup's security group
    sg_id = logical_id(template, "RedshiftSecurityGroup", "AWS::EC2::SecurityGroup")
    inline = template["Resources"][sg_id]["Properties"]["SecurityGroupEgress"]
    # THEN its inline egress is CDK's "no traffic" rule, so CloudFormation adds no
    # allow-all default
    assert [(e["CidrIp"], e["IpProtocol"]) for e in inline] == [("255.255.255.255/32", "icmp")]
    # AND its one real egress is HTTPS to S3's managed prefix list, looked up at deploy
    lookup = logical_id(template, "S3PrefixListLookup")
    egress = [render(e["Properties"]) for e in
              resources(template, "AWS::EC2::SecurityGroupEgress").values()
              if render(e["Properties"]["GroupId"]) == f"<{sg_id}.GroupId>"]
    assert egress == [{
        "GroupId": f"<{sg_id}.GroupId>", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "DestinationPrefixListId": f"<{lookup}.PrefixLists.0.PrefixListId>",
        "Description": "COPY reads S3 through the gateway endpoint"}]
    call = json.loads(template["Resources"][lookup]["Properties"]["Create"])
    assert call["action"] == "describeManagedPrefixLists"
    assert call["parameters"]["Filters"] == [
        {"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-west-1.s3"]}]
    # AND the private subnets route S3 through a gateway endpoint
    (endpoint,) = resources(template, "AWS::EC2::VPCEndpoint").values()
    assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
    workgroup, = resources(template, "AWS::RedshiftServerless::Workgroup").values()
    assert workgroup["Properties"]["EnhancedVpcRouting"] is True


# (d) is pinned in tests/unit/test_crawler_specs.py (the transform crawler's targets).

def test_transform_crawler_reads_only_what_it_crawls(synth: Synth,
                                                     template: dict[str, Any]) -> None:
    crawler = [c["Properties"] for c in resources(template, "AWS::Glue::Crawler").values()
               if c["Properties"]["Name"] == synth.env.pipeline.transform_crawler]
    (props,) = crawler
    assert [t["Path"] for t in props["Targets"]["S3Targets"]] == [
        f"s3://{synth.env.pipeline.lake_bucket}/transform/dq_results/"]
    assert [t.get("Exclusions") for t in props["Targets"]["S3Targets"]] == [["_staging/**"]]


# (e) ----------------------------------------------------------------- metrics namespace

def test_one_metrics_namespace_for_code_and_environment(template: dict[str, Any]) -> None:
    fn = template["Resources"][logical_id(template, "IngestFunction", "AWS::Lambda::Function")]
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    # Powertools Metrics writes embedded-metric-format lines to the function's log, which
    # CloudWatch turns into metrics: the role needs no cloudwatch:PutMetricData at all
    # (test_iam_least derives the role's needs and would flag the grant)
    assert not [s for s in statements_of_role(template, _role_id(template, "IngestFunctionRole"))
                if "cloudwatch:PutMetricData" in str(s["Action"])]
    from ingest_lambda.handler import metrics
    assert metrics.namespace == METRICS_NAMESPACE


# (f) ----------------------------------------------------------------- execution alarms

@pytest.mark.parametrize("machine", ["PipelineStateMachine", "BackfillStateMachine"])
def test_failed_timed_out_and_aborted_executions_alert(machine: str,
                                                       template: dict[str, Any]) -> None:
    sm = logical_id(template, machine, "AWS::StepFunctions::StateMachine")
    topic = f"<{logical_id(template, 'AlertTopic')}>"
    alarms = {a["Properties"]["MetricName"]: a["Properties"]
              for a in resources(template, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("Namespace") == "AWS/States"
              and render(a["Properties"]["Dimensions"]) == [
                  {"Name": "StateMachineArn", "Value": f"<{sm}>"}]}
    assert set(alarms) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for props in alarms.values():
        assert props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Statistic"] == "Sum"
        assert [render(a) for a in props["AlarmActions"]] == [topic]


@pytest.mark.parametrize("name", ["state_machine.asl.json", "backfill.asl.json",
                                  "erasure.asl.json"])
def test_both_definitions_end_executions_that_run_too_long(name: str) -> None:
    definition = json.loads((ROOT / "orchestration" / name).read_text())
    timeout = definition.get("TimeoutSeconds")
    # a positive integer, below Standard workflows' one-year maximum duration
    assert isinstance(timeout, int) and 0 < timeout < 365 * 24 * 3600


def test_pipeline_timeout_leaves_room_for_both_jobs(synth: Synth) -> None:
    definition = json.loads(DEFINITION_PATH.read_text())
    jobs = 2 * synth.env.job_timeout_minutes * 60
    assert jobs < definition["TimeoutSeconds"] < 24 * 3600  # ends before the next night


# (g) ----------------------------------------------------------------- warehouse logins

def test_load_logs_in_as_its_own_user_and_admin_password_is_managed(
        synth: Synth, template: dict[str, Any]) -> None:
    env = synth.env
    (namespace,) = resources(template, "AWS::RedshiftServerless::Namespace").values()
    ns = render(namespace["Properties"])
    assert ns["ManageAdminPassword"] is True
    assert ns["AdminUsername"] == env.redshift_admin_user
    assert ns["AdminPasswordSecretKmsKeyId"] == f"<{logical_id(template, 'DataKey')}.Arn>"
    assert "AdminUserPassword" not in ns
    secret = template["Resources"][logical_id(template, "RedshiftLoadSecret")]["Properties"]
    fields = json.loads(secret["GenerateSecretString"]["SecretStringTemplate"])
    assert fields["username"] == env.redshift_load_user != env.redshift_admin_user
    load_args = _job_args(template, env.pipeline.load_job)
    assert load_args["--secret_id"] == f"<{logical_id(template, 'RedshiftLoadSecret')}>"


def test_the_deploy_makes_the_load_user_before_the_load_job_runs(
        synth: Synth, template: dict[str, Any]) -> None:
    env = synth.env
    # GIVEN the one warehouse bootstrap custom resource
    (rid,) = [k for k, v in template["Resources"].items()
              if v["Type"] == "Custom::WarehouseBootstrap"]
    bootstrap = template["Resources"][rid]
    props = render(bootstrap["Properties"])
    fn_id = logical_id(template, "WarehouseBootstrapFunction", "AWS::Lambda::Function")
    # THEN our function runs it with the names the environment deploys
    assert props["ServiceToken"] == f"<{fn_id}.Arn>"
    assert (props["NamespaceName"], props["WorkgroupName"], props["Database"]) == (
        env.redshift_namespace, env.redshift_workgroup, env.redshift_database)
    assert props["LoadSecretArn"] == f"<{logical_id(template, 'RedshiftLoadSecret')}>"
    assert len(props["CodeSha256"]) == 64  # a change of the script or code reruns it
    # AND it waits for the workgroup, and the load job waits for it
    assert "RedshiftWorkgroup" in bootstrap["DependsOn"]
    (load_id,) = [k for k, v in resources(template, "AWS::Glue::Job").items()
                  if v["Properties"]["Name"] == env.pipeline.load_job]
    assert rid in template["Resources"][load_id]["DependsOn"]
    fn = template["Resources"][fn_id]["Properties"]
    assert (fn["Handler"], fn["Runtime"]) == (BOOTSTRAP_HANDLER, "python3.13")
    assert "ReservedConcurrentExecutions" not in fn


def test_the_bootstrap_lambda_imports_from_its_own_code_alone(tmp_path: Any) -> None:
    # GIVEN the bootstrap Lambda's code as the stack ships it
    folder = stage_bootstrap_code(tmp_path / "bootstrap")
    # WHEN its handler is imported by an isolated interpreter from that folder alone
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import glue_jobs.warehouse_bootstrap as m; "
            "print(len(m.grant_statements('udp_load', 'udp'))); "
            "print(sorted(n for n, x in sys.modules.items() if getattr(x, '__file__', None) "
            "and n.split('.')[0] not in sys.stdlib_module_names "
            "and not x.__file__.startswith(sys.argv[1])))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(folder)],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    # THEN it reads load_user.sql from the folder and loads nothing from outside it
    assert out[0] == "7"
    assert out[1] == "[]"
    assert sorted(p.name for p in folder.iterdir()) == ["glue_jobs", "sql"]


# (h) ----------------------------------------------------------------- raw PII retention

def test_raw_pii_moves_to_ia_then_expires(synth: Synth, template: dict[str, Any]) -> None:
    env = synth.env
    lake = template["Resources"][logical_id(template, "LakeBucket")]["Properties"]
    rules = {r["Id"]: r for r in lake["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-pii-retention"]
    assert raw["Prefix"] == f"{RAW.prefix}/"
    assert raw["ExpirationInDays"] == env.raw_retention_days
    assert raw["Transitions"] == [{"StorageClass": "STANDARD_IA",
                                   "TransitionInDays": env.raw_ia_after_days}]
    assert rules["expire-firehose-errors"]["ExpirationInDays"] == env.error_retention_days
    assert "NoncurrentVersionExpiration" in rules["expire-noncurrent-versions"]


@pytest.mark.parametrize(("change", "message"), [
    ({"raw_ia_after_days": 10}, "raw_ia_after_days"),
    ({"raw_retention_days": 30}, "raw_retention_days"),
    ({"redshift_load_user": "udp_admin"}, "redshift_load_user"),
])
def test_retention_and_login_settings_are_checked(change: dict[str, Any],
                                                  message: str) -> None:
    base = EnvConfig(name="dev", account="111111111111", region="eu-west-1")
    with pytest.raises(EnvConfigError, match=message):
        replace(base, **change)


# (i), (5) ------------------------------------------------------------ Glue arguments

def test_glue_jobs_pass_no_arguments_that_glue_5_ignores(synth: Synth,
                                                        template: dict[str, Any]) -> None:
    for job in (synth.env.pipeline.transform_job, synth.env.pipeline.load_job):
        args = _job_args(template, job)
        assert "--enable-continuous-cloudwatch-log" not in args
        assert "--job-language" not in args


def test_both_jobs_write_spark_ui_event_logs_to_their_own_encrypted_prefix(
        synth: Synth, template: dict[str, Any]) -> None:
    scripts = f"<{logical_id(template, 'ScriptsBucket')}>"
    bucket = template["Resources"][logical_id(template, "ScriptsBucket")]["Properties"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    for job, role in ((synth.env.pipeline.transform_job, "TransformJobRole"),
                      (synth.env.pipeline.load_job, "BulkImportJobRole")):
        args = _job_args(template, job)
        assert args["--enable-spark-ui"] == "true"
        assert args["--spark-event-logs-path"] == (
            f"s3://{scripts}/{SPARK_EVENT_LOGS_PREFIX}{job}/")
        puts = _grants(template, role)["s3:PutObject"]
        scripts_puts = {r for r in puts if "ScriptsBucket" in r}
        assert scripts_puts == {
            f"<{logical_id(template, 'ScriptsBucket')}.Arn>/{SPARK_EVENT_LOGS_PREFIX}{job}/*"}


# (j) ----------------------------------------------------------------- trust policies

def test_every_service_role_trusts_its_service_for_this_account_only(
        synth: Synth, template: dict[str, Any]) -> None:
    services = {"firehose.amazonaws.com", "glue.amazonaws.com", "states.amazonaws.com",
                "scheduler.amazonaws.com", "redshift.amazonaws.com",
                "redshift-serverless.amazonaws.com", "lambda.amazonaws.com"}
    seen: set[str] = set()
    for rid, role in resources(template, "AWS::IAM::Role").items():
        for st in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            principal = st.get("Principal", {}).get("Service")
            names = principal if isinstance(principal, list) else [principal]
            ours = [n for n in names if n in services]
            # CDK's own handlers (BucketDeployment, AwsCustomResource) are not ours to set
            if not ours or rid.startswith(("CustomCDKBucketDeployment", "AWS679f53fac")):
                continue
            seen.update(ours)
            assert st.get("Condition", {}).get("StringEquals", {}).get(
                "aws:SourceAccount") == synth.env.account, (rid, st)
    assert seen == services


# (1) ----------------------------------------------------------------- image platform

def test_image_asset_platform_matches_the_function_architecture(
        synth: Synth, template: dict[str, Any]) -> None:
    manifest = json.loads((synth.outdir / f"{synth.env.stack_name}.assets.json").read_text())
    images = list(manifest["dockerImages"].values())  # the ingest image and the push image
    functions = [f for f in resources(template, "AWS::Lambda::Function").values()
                 if f["Properties"].get("PackageType") == "Image"]
    assert len(images) == 2 and len(functions) == 3  # ingest, push API, push consumer
    platform, architecture = {"x86_64": ("linux/amd64", "x86_64"),
                              "aarch64": ("linux/arm64", "arm64")}[LAMBDA_IMAGE.arch]
    for image in images:
        assert image["source"]["platform"] == platform, image["source"]["dockerFile"]
    for fn in functions:
        assert fn["Properties"]["Architectures"] == [architecture]


# (l) ----------------------------------------------------------------- asset deployment

def test_asset_deployment_prunes_only_its_own_prefix(synth: Synth,
                                                     template: dict[str, Any]) -> None:
    scripts = logical_id(template, "ScriptsBucket")
    # GIVEN the one asset deployment into the scripts bucket (aws s3 sync --delete)
    (deployment,) = [r["Properties"] for r in template["Resources"].values()
                     if r["Type"] == "Custom::CDKBucketDeployment"]
    assert render(deployment["DestinationBucketName"]) == f"<{scripts}>"
    assert deployment.get("Prune", True) is True
    # THEN it syncs to its own prefix, never the bucket's root
    prefix = deployment.get("DestinationBucketKeyPrefix", "")
    assert prefix == GLUE_ASSETS_PREFIX and prefix.endswith("/")
    # AND what the jobs read from it lies under that prefix
    for job in (synth.env.pipeline.transform_job, synth.env.pipeline.load_job):
        (props,) = [j["Properties"] for j in resources(template, "AWS::Glue::Job").values()
                    if j["Properties"]["Name"] == job]
        code = [render(props["Command"]["ScriptLocation"]),
                *render(props["DefaultArguments"]["--additional-python-modules"]).split(",")]
        for uri in (u for u in code if u.startswith("s3://")):
            assert uri.startswith(f"s3://<{scripts}>/{prefix}"), uri
        # AND what the jobs write into the same bucket (Spark UI event logs) lies outside it
        logs = _job_args(template, job)["--spark-event-logs-path"]
        assert logs.startswith(f"s3://<{scripts}>/")
        assert not logs.removeprefix(f"s3://<{scripts}>/").startswith(prefix), logs


# (m) ----------------------------------------------------------------- bookmark encryption

def test_job_roles_can_use_the_key_their_bookmarks_are_encrypted_with(
        template: dict[str, Any]) -> None:
    # GIVEN the jobs' security configuration and its bookmark encryption
    configs = {c["Properties"]["Name"]: render(c["Properties"]["EncryptionConfiguration"])
               for c in resources(template, "AWS::Glue::SecurityConfiguration").values()}
    jobs = resources(template, "AWS::Glue::Job")
    assert len(jobs) == 3  # transform, bulk import, erasure
    for job in jobs.values():
        props = job["Properties"]
        bookmarks = configs[props["SecurityConfiguration"]].get("JobBookmarksEncryption", {})
        mode = bookmarks.get("JobBookmarksEncryptionMode", "DISABLED")
        role_id = str(render(props["Role"])).strip("<>").split(".")[0]
        grants: dict[str, set[str]] = {}
        for st in statements_of_role(template, role_id):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            for action in actions:
                grants.setdefault(action, set()).update(str(r) for r in res)
        # THEN a CSE-KMS bookmark's key is one the role may encrypt and decrypt with
        if mode == "CSE-KMS":
            key = str(bookmarks["KmsKeyArn"])
            assert key in grants.get("kms:Encrypt", set()), props["Name"]
            assert key in grants.get("kms:Decrypt", set()), props["Name"]
        else:
            assert mode == "DISABLED", mode
