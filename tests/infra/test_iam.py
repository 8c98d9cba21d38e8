"""Least privilege: no wildcard grants, and which principal may do what on which resource."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.tables import MODEL_TABLES, RAW, USERS
from tests.infra.cfn import (
    logical_id,
    managed_policies,
    policy_statements,
    resources,
    service_principals,
    statements_of_role,
)
from tests.infra.conftest import Synth

pytestmark = pytest.mark.slow


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def test_no_statement_allows_wildcard_actions_on_wildcard_resources(
        synth: Synth, template: dict[str, Any]) -> None:
    # GIVEN every statement of every policy document in the template
    offenders = []
    for rid, statement in policy_statements(template):
        if statement.get("Effect") != "Allow" or "Resource" not in statement:
            continue  # denies and trust policies grant nothing
        actions = _list(statement.get("Action", []))
        on_everything = "*" in _list(statement["Resource"])
        if on_everything and any(_is_wildcard_action(a) for a in actions):
            principal = statement.get("Principal", {}).get("AWS")
            # The key policy's delegation to the account (AWS's default key policy): it
            # lets IAM policies, which this test also checks, decide who uses the key.
            if (template["Resources"][rid]["Type"] == "AWS::KMS::Key" and actions == ["kms:*"]
                    and principal == f"arn:aws:iam::{synth.env.account}:root"):
                continue
            offenders.append((rid, statement))
    # THEN there are none
    assert offenders == []


def test_the_wildcard_check_catches_a_wildcard(template: dict[str, Any]) -> None:
    # GIVEN a copy of the template with one over-broad statement added
    broken = {"Resources": dict(template["Resources"])}
    broken["Resources"]["Bad"] = {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:*",
                                          "Resource": "*"}]}}}
    # THEN the statement scan sees it
    found = [s for rid, s in policy_statements(broken) if rid == "Bad"]
    assert found and _is_wildcard_action(found[0]["Action"])


def test_only_cdks_deploy_helper_attaches_a_managed_policy(template: dict[str, Any]) -> None:
    # Managed policies are invisible to the statement scan, so they are allowed only where
    # CDK attaches one itself: the basic-logging policy of the BucketDeployment handler and
    # of the AwsCustomResource handler (the S3 prefix-list lookup).
    attached = managed_policies(template)
    assert all(rid.startswith(("CustomCDKBucketDeployment", "AWS679f53fac002430cb0da5b7982bd2287"))
               for rid in attached), attached
    assert {arn for arns in attached.values() for arn in arns} == {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}


def _grants(template: dict[str, Any], role_prefix: str) -> dict[str, set[str]]:
    """action → resources, for the role built from construct id ``role_prefix``."""
    out: dict[str, set[str]] = {}
    for statement in statements_of_role(template, logical_id(template, role_prefix,
                                                             "AWS::IAM::Role")):
        for action in _list(statement["Action"]):
            out.setdefault(action, set()).update(map(str, _list(statement["Resource"])))
    return out


def _who_can(template: dict[str, Any], action: str, resource_part: str) -> set[str]:
    """Roles (logical ids) with an Allow of ``action`` on a resource containing a string."""
    roles = set()
    for rid, role in resources(template, "AWS::IAM::Role").items():
        del role
        for statement in statements_of_role(template, rid):
            if action in _list(statement["Action"]) and any(
                    resource_part in str(r) for r in _list(statement["Resource"])):
                roles.add(rid)
    return {r[:-8] for r in roles}


def test_each_role_is_assumed_by_its_own_service(template: dict[str, Any]) -> None:
    expected = {
        "FirehoseRole": {"firehose.amazonaws.com"},
        "IngestFunctionRole": {"lambda.amazonaws.com"},
        "TransformJobRole": {"glue.amazonaws.com"},
        "BulkImportJobRole": {"glue.amazonaws.com"},
        "PipelineStateMachineRole": {"states.amazonaws.com"},
        "BackfillStateMachineRole": {"states.amazonaws.com"},
        "NightlyScheduleRole": {"scheduler.amazonaws.com"},
        "IngestScheduleRole": {"scheduler.amazonaws.com"},
        "RedshiftCopyRole": {"redshift.amazonaws.com", "redshift-serverless.amazonaws.com"},
    }
    for prefix, services in expected.items():
        assert service_principals(template, logical_id(template, prefix)) == services, prefix


def test_ingest_lambda_only_puts_to_its_stream_and_the_errors_bucket(
        template: dict[str, Any]) -> None:
    grants = _grants(template, "IngestFunctionRole")
    assert grants["firehose:PutRecordBatch"] == {
        "arn:aws:firehose:eu-west-1:111111111111:deliverystream/udp-user-data"}
    assert grants["s3:PutObject"] == {f"<{logical_id(template, 'ErrorsBucket')}.Arn>/*"}
    assert not any(a.startswith(("glue:", "secretsmanager:", "redshift")) for a in grants)


def test_only_firehose_and_the_erasure_write_the_raw_layer(template: dict[str, Any]) -> None:
    lake = logical_id(template, "LakeBucket")
    # the pull path's delivery stream and the push path's (Kinesis as source); and the
    # erasure job, which rewrites a day's raw objects without the erased users
    assert _who_can(template, "s3:PutObject", f"<{lake}.Arn>/{RAW.prefix}/") == {
        "FirehoseRole", "PushFirehoseRole", "EraseJobRole"}
    for role in ("FirehoseRole", "PushFirehoseRole"):
        grants = _grants(template, role)
        assert grants["glue:GetTable"] >= {
            f"arn:aws:glue:eu-west-1:111111111111:table/{RAW.database}/{RAW.name}"}, role
        assert not any(a.startswith("s3:Delete") for a in grants), role


def test_transform_job_reads_raw_and_writes_only_the_transform_layer(
        template: dict[str, Any]) -> None:
    grants = _grants(template, "TransformJobRole")
    lake = f"<{logical_id(template, 'LakeBucket')}.Arn>"
    written = grants["s3:PutObject"]
    assert f"{lake}/{MODEL_TABLES[0].prefix}/*" in written
    assert not any(f"/{RAW.prefix}" in r for r in written)
    assert "secretsmanager:GetSecretValue" in grants
    assert grants["secretsmanager:GetSecretValue"] == {
        f"<{logical_id(template, 'EmailHashSalt')}>"}


def test_only_the_load_its_bootstrap_and_the_erasure_read_the_redshift_secret(
        template: dict[str, Any]) -> None:
    # the bulk import logs in with it; the deploy's warehouse bootstrap sets that login;
    # the erasure job logs in with it to delete the erased users' rows
    secret = logical_id(template, "RedshiftLoadSecret")
    assert _who_can(template, "secretsmanager:GetSecretValue", f"<{secret}>") == {
        "BulkImportJobRole", "WarehouseBootstrapRole", "EraseJobRole"}


def test_redshift_copy_role_reads_the_copied_table_only(template: dict[str, Any]) -> None:
    # the warehouse COPYs the users table only (test_iam_least derives it from the SQL)
    grants = _grants(template, "RedshiftCopyRole")
    lake = f"<{logical_id(template, 'LakeBucket')}.Arn>"
    assert grants["s3:GetObject"] == {f"{lake}/{USERS.prefix}/*"}
    assert not any(a in grants for a in ("s3:PutObject", "s3:DeleteObject"))


def test_state_machine_runs_the_pipeline_jobs_and_crawlers_only(
        synth: Synth, template: dict[str, Any]) -> None:
    cfg = synth.env.pipeline
    grants = _grants(template, "PipelineStateMachineRole")
    glue = "arn:aws:glue:eu-west-1:111111111111"
    assert grants["glue:StartJobRun"] == {f"{glue}:job/{cfg.transform_job}",
                                          f"{glue}:job/{cfg.load_job}"}
    assert grants["glue:StartCrawler"] == {f"{glue}:crawler/{cfg.raw_crawler}",
                                           f"{glue}:crawler/{cfg.transform_crawler}"}
    assert grants["sns:Publish"] == {f"<{logical_id(template, 'AlertTopic')}>"}


def test_schedules_can_start_only_their_target(template: dict[str, Any]) -> None:
    pipeline = logical_id(template, "PipelineStateMachine", "AWS::StepFunctions::StateMachine")
    assert _grants(template, "NightlyScheduleRole")["states:StartExecution"] == {
        f"<{pipeline}>"}
    # the range backfill runs its chunks itself: it does not start the nightly machine
    assert _who_can(template, "states:StartExecution", f"<{pipeline}>") == {
        "NightlyScheduleRole"}
    ingest = _grants(template, "IngestScheduleRole")
    assert "states:StartExecution" not in ingest
    assert all("IngestFunction" in r for r in ingest["lambda:InvokeFunction"])
