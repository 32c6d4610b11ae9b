"""The backup tooling that runs in AWS, through the real CLI: the one-year archive
(AWS Backup vaults, plan, selection) and the daily Redis export (schedule, state
machine, roles, bucket grant).

One lifecycle on purpose (the suite's time budget): ``apply --target`` of the
two leaf steps pulls what they need, the read-back checks what AWS holds,
a second apply makes no mutating call, and destroy removes the selection
before the plan and the plan before the vaults.  The sandbox cannot run
the state machine (moto does not execute aws-sdk tasks) or take a backup:
the definition's calls are checked against botocore's model in
tests/unit/test_backup_tooling.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import REPO, Aws
from vivr_provision.config import load_config

pytestmark = pytest.mark.e2e

PLATFORM = load_config(REPO / "config" / "production.yaml", "production")
ARCHIVE = PLATFORM.backup.archive
EXPORT = PLATFORM.backup.redis_export
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
#: ElastiCache's canonical user in the regions enabled by default (user guide,
#: "Exporting a backup", step 2).
ELASTICACHE_ID = "540804c33a284a299d2547575ce1010f2312ef3da9b3a053c8bc45bf233e4353"
LEAVES = ("--target", "backup-selection", "--target", "redis-export-schedule")


def _steps(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s.get("action") or s.get("status") for s in report["steps"]}


def _errors(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["error"]) for s in report["steps"] if s.get("error")]


def _read_archive(aws: Aws) -> None:
    assert ARCHIVE is not None
    backup, dr_backup = aws.client("backup"), aws.client("backup", "us-west-2")
    kms_arn = aws.client("kms").describe_key(KeyId=PLATFORM.kms.alias)["KeyMetadata"]["Arn"]
    dr_kms_arn = aws.client("kms", "us-west-2").describe_key(
        KeyId=PLATFORM.kms.alias)["KeyMetadata"]["Arn"]
    vault = backup.describe_backup_vault(BackupVaultName=ARCHIVE.vault)
    dr_vault = dr_backup.describe_backup_vault(BackupVaultName=ARCHIVE.dr_vault)
    assert vault["EncryptionKeyArn"] == kms_arn
    assert dr_vault["EncryptionKeyArn"] == dr_kms_arn
    assert ":us-west-2:" in dr_vault["BackupVaultArn"]
    tags = backup.list_tags(ResourceArn=vault["BackupVaultArn"])["Tags"]
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP

    [listed] = [p for p in backup.list_backup_plans()["BackupPlansList"]
                if p["BackupPlanName"] == ARCHIVE.plan]
    plan = backup.get_backup_plan(BackupPlanId=listed["BackupPlanId"])["BackupPlan"]
    [rule] = plan["Rules"]
    year = {"DeleteAfterDays": 365}          # spec: "archive backups for compliance: 1 year"
    assert rule["RuleName"] == ARCHIVE.rule
    assert rule["TargetBackupVaultName"] == ARCHIVE.vault
    assert rule["ScheduleExpression"] == ARCHIVE.schedule
    assert rule["Lifecycle"] == year
    assert rule["CopyActions"] == [{"DestinationBackupVaultArn": dr_vault["BackupVaultArn"],
                                    "Lifecycle": year}]

    [selected] = backup.list_backup_selections(
        BackupPlanId=listed["BackupPlanId"])["BackupSelectionsList"]
    selection = backup.get_backup_selection(BackupPlanId=listed["BackupPlanId"],
                                            SelectionId=selected["SelectionId"])
    role = aws.client("iam").get_role(RoleName="vivr-backup-role")["Role"]
    database = aws.client("rds").describe_db_instances(
        DBInstanceIdentifier=PLATFORM.rds.identifier)["DBInstances"][0]
    assert selection["BackupSelection"]["IamRoleArn"] == role["Arn"]
    assert selection["BackupSelection"]["Resources"] == [database["DBInstanceArn"]]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": aws.account}}}]


def _read_export(aws: Aws) -> None:
    assert EXPORT is not None
    scheduler, sfn, iam = aws.client("scheduler"), aws.client("stepfunctions"), aws.client("iam")
    schedule = scheduler.get_schedule(Name=EXPORT.schedule, GroupName=EXPORT.schedule_group)
    [machine] = [m for m in sfn.list_state_machines()["stateMachines"]
                 if m["name"] == EXPORT.state_machine]
    assert schedule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == machine["stateMachineArn"]
    assert schedule["Target"]["RoleArn"] == iam.get_role(
        RoleName=EXPORT.scheduler_role)["Role"]["Arn"]

    described = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert described["roleArn"] == iam.get_role(RoleName=EXPORT.role)["Role"]["Arn"]
    states = json.loads(described["definition"])["States"]
    assert states["Export"]["Parameters"]["TargetBucket"] == "vivr-backups"
    assert states["CreateSnapshot"]["Parameters"]["ReplicationGroupId"] == "vivr-cache"

    # Confused deputy: each role trusts its service only for our machine / our group.
    group_arn = scheduler.get_schedule_group(Name=EXPORT.schedule_group)["Arn"]
    for role_name, source in ((EXPORT.role, machine["stateMachineArn"]),
                              (EXPORT.scheduler_role, group_arn)):
        trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"][0]["Condition"] == {
            "StringEquals": {"aws:SourceAccount": aws.account},
            "ArnLike": {"aws:SourceArn": source}}, role_name

    policy = iam.get_role_policy(RoleName=EXPORT.scheduler_role, PolicyName="vivr-grants")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"][0]["Action"] == ["states:StartExecution"]
    assert document["Statement"][0]["Resource"] == [machine["stateMachineArn"]]
    _read_export_logs_and_key(aws, described, document)

    acl = aws.client("s3").get_bucket_acl(Bucket="vivr-backups")
    granted = sorted(g["Permission"] for g in acl["Grants"]
                     if g["Grantee"].get("ID") == ELASTICACHE_ID)
    assert granted == ["READ", "READ_ACP", "WRITE"]
    assert any(g["Permission"] == "FULL_CONTROL" and g["Grantee"].get("ID") == acl["Owner"]["ID"]
               for g in acl["Grants"]), "the owner keeps full control"


def _read_export_logs_and_key(aws: Aws, machine: dict[str, Any],
                              scheduler_policy: dict[str, Any]) -> None:
    """Issue 12: the machine logs every transition (without its data) into a vended-logs
    group encrypted with the platform key, and is itself encrypted with that key; both
    roles may use the key for this machine only, and log delivery may write the group."""
    assert EXPORT is not None
    key_arn = aws.client("kms").describe_key(KeyId=PLATFORM.kms.alias)["KeyMetadata"]["Arn"]
    group_name = "/aws/vendedlogs/states/vivr-production-redis-export"
    [group] = aws.client("logs").describe_log_groups(logGroupNamePrefix=group_name)["logGroups"]
    assert (group["logGroupName"], group["kmsKeyId"], group["retentionInDays"]) == \
        (group_name, key_arn, 30)
    assert machine["loggingConfiguration"] == {
        "level": "ALL", "includeExecutionData": False,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group["arn"]}}]}
    assert group["arn"].endswith(":*")
    assert machine["encryptionConfiguration"] == {
        "type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": key_arn,
        "kmsDataKeyReusePeriodSeconds": 300}
    this_machine = {"StringEquals": {
        "kms:EncryptionContext:aws:states:stateMachineArn": machine["stateMachineArn"]}}
    role = aws.client("iam").get_role_policy(RoleName=EXPORT.role, PolicyName="vivr-grants")
    role_document = role["PolicyDocument"]
    role_document = json.loads(role_document) if isinstance(role_document, str) \
        else role_document
    for document in (role_document, scheduler_policy):
        [use] = [s for s in document["Statement"] if s["Resource"] == [key_arn]
                 and s["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]]
        assert use["Condition"] == this_machine
    assert "logs:CreateLogDelivery" in next(
        s for s in role_document["Statement"] if s["Sid"] == "SetUpLogDelivery")["Action"]
    key_policy = json.loads(aws.client("kms").get_key_policy(
        KeyId=key_arn, PolicyName="default")["Policy"])
    statements = {s["Sid"]: s for s in key_policy["Statement"]}
    assert statements["StepFunctionsLogDelivery"]["Principal"] == {
        "Service": "delivery.logs.amazonaws.com"}
    assert f"log-group:{group_name}" in " ".join(
        statements["CloudWatchLogsOfThisEnvironment"]["Condition"]["ArnLike"][
            "kms:EncryptionContext:aws:logs:arn"])
    delivery = {p["policyName"]: json.loads(p["policyDocument"]) for p in aws.client(
        "logs").describe_resource_policies()["resourcePolicies"]}["vivr-production-log-delivery"]
    assert f"log-group:{group_name}:log-stream:*" in " ".join(
        delivery["Statement"][0]["Resource"])


def test_archive_and_redis_export_lifecycle(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *LEAVES)
    assert code == 0, _errors(report)
    created = _steps(report)
    for step in ("backup-vault", "dr.backup-vault", "backup-plan", "backup-selection",
                 "iam.redis_export_role", "iam.redis_export_scheduler_role", "redis-export-acl",
                 "redis-export-state-machine", "redis-export-schedule-group",
                 "redis-export-schedule"):
        assert created[step] == "created", (step, created.get(step))

    _read_archive(aws)
    _read_export(aws)

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *LEAVES)
    assert code == 0, _errors(report)
    assert aws.mutating_calls(since=mark) == []

    code, report = aws.cli_json("destroy", "--yes", "--target", "backup-*",
                                "--target", "dr.backup-vault", "--target", "redis-export-*")
    assert code == 0, _errors(report)
    order = [s["step"] for s in report["steps"] if s.get("action") == "deleted"
             or s.get("status") == "deleted"]
    assert order.index("backup-selection") < order.index("backup-plan") \
        < order.index("backup-vault")
    assert order.index("redis-export-schedule") < order.index("redis-export-schedule-group")
    assert aws.client("backup").list_backup_vaults()["BackupVaultList"] == []
    assert aws.client("scheduler").list_schedules()["Schedules"] == []
    acl = aws.client("s3").get_bucket_acl(Bucket="vivr-backups")
    assert not [g for g in acl["Grants"] if g["Grantee"].get("ID") == ELASTICACHE_ID]
