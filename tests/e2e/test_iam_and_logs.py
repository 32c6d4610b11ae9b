"""IAM roles and CloudWatch log groups through the real CLI, against the spec.

The spec's four roles ("IAM Roles & Policies") and five log groups
("Monitoring & Logging"), read back with boto3; every policy document the tool
created is walked for wildcard resources.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

SPEC_ROLES = {
    "vivr-ecs-task-execution-role": "ecs-tasks.amazonaws.com",
    "vivr-ecs-task-role": "ecs-tasks.amazonaws.com",
    # AWS Backup's role for the one-year archive (backup.archive)
    "vivr-backup-role": "backup.amazonaws.com",
    "vivr-cloudfront-role": "cloudfront.amazonaws.com",
    "vivr-rds-monitoring-role": "monitoring.rds.amazonaws.com",
    "vivr-s3-replication-role": "s3.amazonaws.com",
    "vivr-pgbouncer-instance-role": "ec2.amazonaws.com",
}
# CloudWatchLogsFullAccess and AmazonSSMReadOnlyAccess gave way to inline grants (issue 12).
SPEC_EXECUTION_POLICIES = {"AmazonEC2ContainerRegistryReadOnly"}


def trust_conditions(account: str) -> dict[str, Any]:
    """The confused-deputy conditions each role's trust carries (EC2 sends no source keys)."""
    def pinned(*arns: str) -> dict[str, Any]:
        condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account}}
        if arns:
            condition["ArnLike"] = {"aws:SourceArn": arns[0] if len(arns) == 1 else list(arns)}
        return condition
    ecs = pinned(f"arn:aws:ecs:us-east-1:{account}:*", f"arn:aws:ecs:us-west-2:{account}:*")
    return {
        "vivr-ecs-task-execution-role": pinned(), "vivr-ecs-task-role": ecs,
        "vivr-backup-role": pinned(),
        "vivr-cloudfront-role": pinned(f"arn:aws:cloudfront::{account}:distribution/*"),
        "vivr-rds-monitoring-role": pinned(f"arn:aws:rds:us-east-1:{account}:db:*",
                                           f"arn:aws:rds:us-west-2:{account}:db:*"),
        "vivr-s3-replication-role": pinned(),
    }
# The spec's database group (7 days) is RDS's own export group: see test_log_delivery.py.
SPEC_LOG_RETENTION = {
    "/vivr/production/app": 30, "/vivr/production/cache": 7,
    "/vivr/production/alb": 30, "/vivr/production/cloudfront": 30,
}


def _document(raw: Any) -> dict[str, Any]:
    return dict(json.loads(unquote(raw)) if isinstance(raw, str) else raw)


def test_roles_carry_the_spec_trust_and_least_privilege_policies(aws: Aws) -> None:
    targets = [arg for step in ("iam.task_execution_role", "iam.task_role", "iam.backup_role",
                                "iam.cloudfront_role", "iam.rds_monitoring_role",
                                "iam.pgbouncer_instance_role", "iam.s3_replication_role",
                                "secret-policy.stripe")
               for arg in ("--target", step)]
    code, report = aws.cli_json("apply", *targets)
    assert code == 0, report
    iam = aws.client("iam")
    account = aws.account
    created = [r for r in iam.list_roles()["Roles"]
               if {t["Key"]: t["Value"] for t in iam.list_role_tags(
                   RoleName=r["RoleName"])["Tags"]}.get("ManagedBy") == "vivr-provision"]
    names = {r["RoleName"] for r in created}
    assert set(SPEC_ROLES) <= names
    conditions = trust_conditions(account)
    for name, service in SPEC_ROLES.items():
        trust = _document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
        statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service},
                                     "Action": "sts:AssumeRole"}
        if name in conditions:   # confused deputy: only for this account's resources
            statement["Condition"] = conditions[name]
        assert trust["Statement"] == [statement], name
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(
        RoleName="vivr-ecs-task-execution-role")["AttachedPolicies"]}
    assert attached == SPEC_EXECUTION_POLICIES
    execution = _document(iam.get_role_policy(RoleName="vivr-ecs-task-execution-role",
                                              PolicyName="vivr-grants")["PolicyDocument"])
    # "write logs": the app group's streams, here and in the standby's region
    assert {s["Sid"]: s for s in execution["Statement"]}["CloudWatchLogsWrite"] == {
        "Sid": "CloudWatchLogsWrite", "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [f"arn:aws:logs:us-east-1:{account}:log-group:/vivr/production/app:*",
                     f"arn:aws:logs:us-west-2:{account}:log-group:/vivr/production/dr/app:*"]}

    statements = 0
    for role in sorted(names):
        for policy_name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = _document(iam.get_role_policy(
                RoleName=role, PolicyName=policy_name)["PolicyDocument"])
            for statement in document["Statement"]:
                statements += 1
                resources = statement["Resource"]
                resources = [resources] if isinstance(resources, str) else resources
                for resource in resources:
                    assert resource != "*", (role, statement)
                    assert resource.startswith("arn:aws:"), (role, resource)
                    if not resource.startswith("arn:aws:s3:::"):
                        assert f":{account}:" in resource, (role, resource)
    assert statements >= 8

    task_role = _document(iam.get_role_policy(RoleName="vivr-ecs-task-role",
                                              PolicyName="vivr-grants")["PolicyDocument"])
    by_sid = {s["Sid"]: s for s in task_role["Statement"]}
    assert by_sid["S3GetObject"]["Resource"] == ["arn:aws:s3:::vivr-assets/*",
                                                 "arn:aws:s3:::vivr-temp/*"]
    secrets = aws.client("secretsmanager")
    assert f"{secrets.describe_secret(SecretId='vivr/production/stripe')['ARN']}" in \
        by_sid["SecretsManagerReadSecret"]["Resource"]
    backup = _document(iam.get_role_policy(RoleName="vivr-backup-role",
                                           PolicyName="vivr-grants")["PolicyDocument"])
    keys = sorted(aws.client("kms", region).describe_key(
        KeyId="alias/vivr-production")["KeyMetadata"]["Arn"] for region in ("us-east-1",
                                                                              "us-west-2"))
    # AWS Backup copies the database's encrypted snapshots to the DR vault's key
    assert {s["Sid"]: s["Resource"] for s in backup["Statement"]} == {
        "KMSBackupCopyUseKeys": keys, "KMSBackupCopyGrants": keys}

    # The secret's resource policy: nobody of another account, none of our roles
    # without a grant on it (the app's two roles read Stripe's key).
    policy = json.loads(secrets.get_resource_policy(SecretId="vivr/production/stripe")[
        "ResourcePolicy"])
    deny = {s["Sid"]: s["Condition"] for s in policy["Statement"]}
    assert deny["DenyOtherAccounts"]["StringNotEquals"] == {"aws:PrincipalAccount": account}
    refused = deny["DenyRolesWithoutGrant"]["ArnLike"]["aws:PrincipalArn"]
    assert f"arn:aws:iam::{account}:role/vivr-pgbouncer-instance-role" in refused
    assert not [arn for arn in refused if "ecs-task" in arn]

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *targets)
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    # Every role, its policies and instance profile from one account-wide listing.
    iam_reads = Counter(c["operation"] for c in aws.calls()[mark:] if c["service"] == "iam")
    assert iam_reads == {"GetAccountAuthorizationDetails": 1, "ListRoles": 1}, iam_reads

    # Someone drops the conditions by hand: status names it, apply puts them back.
    iam.update_assume_role_policy(RoleName="vivr-ecs-task-role", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    code, report = aws.cli_json("status", "--refresh")
    by_step = {s["step"]: s for s in report["steps"]}
    assert by_step["iam.task_role"]["action"] == "drifted"
    assert [c.split(":")[0] for c in by_step["iam.task_role"]["changes"]] == ["trust_policy"]
    code, report = aws.cli_json("apply", "--target", "iam.task_role")
    assert code == 0, report
    trust = _document(iam.get_role(RoleName="vivr-ecs-task-role")["Role"][
        "AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Condition"] == conditions["vivr-ecs-task-role"]

    # Destroying the policy leaves the secret, without a policy.
    code, report = aws.cli_json("destroy", "--yes", "--target", "secret-policy.stripe")
    assert code == 0, report
    assert {s["step"] for s in report["steps"]} == {"secret-policy.stripe"}
    assert "ResourcePolicy" not in secrets.get_resource_policy(SecretId="vivr/production/stripe")


def test_log_groups_have_the_spec_retention_and_the_platform_key(aws: Aws) -> None:
    targets = [arg for key in ("app", "cache", "alb", "cloudfront")
               for arg in ("--target", f"logs.{key}")]
    before = aws.inventory()
    code, report = aws.cli_json("apply", *targets)
    assert code == 0, report
    logs = aws.client("logs")
    key_arn = aws.client("kms").describe_key(KeyId="alias/vivr-production")["KeyMetadata"]["Arn"]
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(
        logGroupNamePrefix="/vivr/production/")["logGroups"]}
    assert {n: g.get("retentionInDays") for n, g in groups.items()} == SPEC_LOG_RETENTION
    assert {g.get("kmsKeyId") for g in groups.values()} == {key_arn}

    logs.put_retention_policy(logGroupName="/vivr/production/app", retentionInDays=1)
    mark = len(aws.calls())
    code, report = aws.cli_json("status", "--refresh")
    described = [c for c in aws.calls()[mark:] if c["operation"] == "DescribeLogGroups"]
    # One call for the four groups, one direct read confirming the drift it showed.
    assert len(described) == 2
    by_step = {s["step"]: s for s in report["steps"]}
    assert by_step["logs.app"]["action"] == "drifted"
    assert by_step["logs.app"]["changes"] == ["retention_days: 1 -> 30 (update)"]
    code, report = aws.cli_json("apply", *targets)
    assert {s["step"]: s["action"] for s in report["steps"]}["logs.app"] == "updated"
    assert logs.describe_log_groups(logGroupNamePrefix="/vivr/production/app")[
        "logGroups"][0]["retentionInDays"] == 30

    code, report = aws.cli_json("destroy", "--yes", *targets, "--target", "kms")
    assert code == 0, report
    assert aws.inventory() == before


def _ec2_launch_type(aws: Aws) -> Path:
    data = yaml.safe_load(aws.config.read_text())
    data["ecs"]["launch_type"] = "ec2"
    path = aws.workdir / "production-ec2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _operations(aws: Aws) -> list[str]:
    """Every operation the CLI sent, in order."""
    return [json.loads(line)["operation"] for line in aws.record_path.read_text().splitlines()]


def test_the_key_admits_the_auto_scaling_role_it_waits_for_with_the_ec2_launch_type(
        aws: Aws) -> None:
    # Fargate (the default): no Auto Scaling group, so no such role and no statement.
    code, report = aws.cli_json("apply", "--target", "kms")
    assert code == 0, report
    assert "iam-slr.autoscaling" not in {s["step"] for s in report["steps"]}
    kms = aws.client("kms")
    key = kms.describe_key(KeyId="alias/vivr-production")["KeyMetadata"]["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    sids = {s["Sid"] for s in policy["Statement"]}
    assert not any(s.startswith("AutoScaling") for s in sids)

    # EC2 launch type: the role is made first, then the key policy names it.
    ec2 = _ec2_launch_type(aws)
    code, report = aws.cli_json("apply", "--target", "kms", config=ec2)
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert (actions["iam-slr.autoscaling"], actions["kms"]) == ("created", "updated")
    role = aws.client("iam").get_role(RoleName="AWSServiceRoleForAutoScaling")["Role"]
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"] == (f"arn:aws:iam::{aws.account}:role/aws-service-role/"
                           "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
    [sent] = aws.requests("CreateServiceLinkedRole")
    assert sent["AWSServiceName"] == "autoscaling.amazonaws.com"
    # AWS rejects a key policy naming a principal that does not exist yet; the
    # emulator does not, so the order of the requests is what shows it.
    operations = _operations(aws)
    assert operations.index("CreateServiceLinkedRole") < operations.index("PutKeyPolicy")
    statements = {s["Sid"]: s for s in json.loads(
        kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])["Statement"]}
    use, grants = statements["AutoScalingServiceLinkedRoleUse"], \
        statements["AutoScalingServiceLinkedRoleGrants"]
    assert use["Principal"] == grants["Principal"] == {"AWS": role["Arn"]}
    assert set(use["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                  "kms:GenerateDataKey*", "kms:DescribeKey"}
    assert grants["Action"] == "kms:CreateGrant"
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}

    # Destroy keeps the account-wide role and says so; a new key is created after it.
    code, report = aws.cli_json("destroy", "--yes", "--target", "iam-slr.autoscaling",
                                config=ec2)
    assert code == 0, report
    [kept] = {s["step"]: s for s in report["steps"]}["iam-slr.autoscaling"]["retained"]
    assert "AWSServiceRoleForAutoScaling kept" in kept and "account-wide" in kept
    assert aws.client("iam").get_role(RoleName="AWSServiceRoleForAutoScaling")
    aws.record_path.unlink()
    code, report = aws.cli_json("apply", "--target", "kms", config=ec2)
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["iam-slr.autoscaling"] == "adopted"
    assert aws.requests("CreateServiceLinkedRole") == []
