"""The archive and the Redis export without a sandbox: requests, drift, definition, config.

What the sandbox cannot show is proven here: the state machine's AWS SDK
calls against botocore's ElastiCache model (moto never runs aws-sdk
tasks), the exact CreateBackupPlan request, a vault that holds recovery
points being kept, and the bucket ACL keeping its other grants.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.config.loader import parse_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps.backup_archive import (
    BackupPlanStep,
    BackupSelectionStep,
    BackupVaultStep,
)
from vivr_provision.steps.base import Resource, Site
from vivr_provision.steps.redis_export import ELASTICACHE_CANONICAL_IDS, ExportBucketAclStep
from vivr_provision.steps.redis_export_machine import definition, sdk_calls

DR_VAULT_ARN = f"arn:aws:backup:us-west-2:{ACCOUNT}:backup-vault:vivr-archive-dr"
PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-plan:plan-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/vivr-backup-role"
DB_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:vivr-db"
OUTPUTS = {
    "dr.backup-vault": {"arn": DR_VAULT_ARN},
    "backup-plan": {"plan_id": "plan-1"},
    "iam.backup_role": {"role_arn": ROLE_ARN},
    "rds.vivr-db": {"arn": DB_ARN},
    "kms": {"key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"},
}
ELASTICACHE = ELASTICACHE_CANONICAL_IDS["aws"]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _machine(config: PlatformConfig) -> dict[str, Any]:
    assert config.backup.redis_export is not None
    return definition(config.backup.redis_export, "vivr-cache", "vivr-backups")


# --------------------------------------------------------------------------- state machine


def test_every_sdk_task_is_a_real_elasticache_call_with_real_parameters(
        config: PlatformConfig) -> None:
    model = botocore.session.get_session().get_service_model("elasticache")
    calls = sdk_calls(_machine(config))
    assert [action for action, _ in calls] == [
        "createSnapshot", "describeSnapshots", "copySnapshot", "describeSnapshots",
        "deleteSnapshot"]
    for action, parameters in calls:
        operation = model.operation_model(action[0].upper() + action[1:])
        members = operation.input_shape.members
        given = {key.removesuffix(".$") for key in parameters}
        assert given <= set(members), (action, given - set(members))
        assert set(operation.input_shape.required_members) <= given, action


def test_the_export_copies_to_the_bucket_under_a_name_of_the_day(config: PlatformConfig) -> None:
    states = _machine(config)["States"]
    name = states["CreateSnapshot"]["Parameters"]["SnapshotName.$"]
    assert name.startswith("States.Format('{}-{}-{}', 'vivr-cache-export', ")
    assert "$$.Execution.StartTime" in name and "$$.Execution.Name" in name
    assert states["Export"]["Parameters"] == {
        "SourceSnapshotName.$": "$.snapshot.SnapshotName",
        "TargetSnapshotName.$": "$.snapshot.SnapshotName", "TargetBucket": "vivr-backups"}
    assert states["WaitForSnapshot"]["Seconds"] == 60
    assert _machine(config)["TimeoutSeconds"] == 6 * 3600, "a stuck snapshot ends the run"


def test_every_transition_names_a_state_and_every_state_is_reached(
        config: PlatformConfig) -> None:
    document = _machine(config)
    states = document["States"]
    targets = {document["StartAt"]}
    for state in states.values():
        targets.update(t for t in (state.get("Next"), state.get("Default")) if t)
        targets.update(choice["Next"] for choice in state.get("Choices", []))
    assert targets == set(states)
    ends = [n for n, s in states.items() if s.get("End") or s["Type"] == "Fail"]
    assert ends == ["SnapshotFailed", "ExportFailed", "DeleteSnapshot"]


# --------------------------------------------------------------------------- AWS Backup


def test_the_plan_keeps_a_year_and_copies_to_the_dr_vault(config: PlatformConfig) -> None:
    step = BackupPlanStep(config)
    year = {"DeleteAfterDays": 365}
    request = {"BackupPlan": {"BackupPlanName": "vivr-compliance-archive", "Rules": [{
        "RuleName": "daily-archive", "TargetBackupVaultName": "vivr-archive",
        "ScheduleExpression": "cron(0 7 * * ? *)", "ScheduleExpressionTimezone": "Etc/UTC",
        "StartWindowMinutes": 60, "CompletionWindowMinutes": 1440, "Lifecycle": year,
        "CopyActions": [{"DestinationBackupVaultArn": DR_VAULT_ARN, "Lifecycle": year}]}]},
        "BackupPlanTags": step.tags(), "CreatorRequestId": "token"}
    listed = {"BackupPlansList": [{"BackupPlanName": "vivr-compliance-archive",
                                   "BackupPlanId": "plan-1", "BackupPlanArn": PLAN_ARN}]}
    with StubbedAws() as aws:
        aws.expect("backup", "create_backup_plan", {"BackupPlanId": "plan-1"}, request)
        aws.expect("backup", "list_backup_plans", listed, {})
        aws.expect("backup", "get_backup_plan",
                   {"BackupPlanId": "plan-1", "BackupPlanArn": PLAN_ARN,
                    "BackupPlan": request["BackupPlan"]}, {"BackupPlanId": "plan-1"})
        aws.expect("backup", "list_tags", {"Tags": step.tags()}, {"ResourceArn": PLAN_ARN})
        created = step.create(aws.context(config, OUTPUTS), "token")
    assert step.outputs(created) == {"id": "plan-1", "plan_id": "plan-1", "arn": PLAN_ARN}


def test_a_changed_retention_updates_the_plan_in_place(config: PlatformConfig) -> None:
    step = BackupPlanStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        current = step.desired_plan(ctx)
        current["Rules"][0]["Lifecycle"] = {"DeleteAfterDays": 90}
        # what AWS adds to each rule is not drift
        current["Rules"][0]["RuleId"] = "rule-1"
        data = {"BackupPlan": current, "BackupPlanArn": PLAN_ARN, "TagMap": step.tags()}
        changes = step.diff(ctx, Resource("plan-1", data))
    assert [(c.field, c.current, c.desired) for c in changes] == [
        ("plan.Rules[0].Lifecycle.DeleteAfterDays", 90, 365)]


def test_a_vault_holding_recovery_points_is_kept_and_said(config: PlatformConfig) -> None:
    step = BackupVaultStep(config, site=Site(prefix="dr.", region="us-west-2"))
    with StubbedAws() as aws:
        kept = step.delete(aws.context(config), Resource(
            DR_VAULT_ARN, {"NumberOfRecoveryPoints": 12}))
    assert kept is not None and len(kept) == 1
    assert "vivr-archive-dr (us-west-2) holds 12 recovery points and is kept" in kept[0]
    assert "KMS key" in kept[0]


def test_an_empty_vault_is_deleted(config: PlatformConfig) -> None:
    step = BackupVaultStep(config)
    with StubbedAws() as aws:
        aws.expect("backup", "delete_backup_vault", {}, {"BackupVaultName": "vivr-archive"})
        assert step.delete(aws.context(config), Resource("arn", {"NumberOfRecoveryPoints": 0})) \
            is None


def test_the_selection_names_the_primary_with_the_backup_role(config: PlatformConfig) -> None:
    step = BackupSelectionStep(config)
    assert step.depends_on() == ("backup-plan", "iam.backup_role", "rds.vivr-db")
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        assert step.desired(ctx) == {"SelectionName": "vivr-primary-database",
                                     "IamRoleArn": ROLE_ARN, "Resources": [DB_ARN]}
        other = Resource("sel-1", {"IamRoleArn": "arn:aws:iam::1:role/other",
                                   "Resources": [DB_ARN]})
        [change] = step.diff(ctx, other)
    assert change.field == "iam_role" and change.replace
    assert step.replace_automatically, "a selection holds no data: replaced without asking"


def test_recorded_plan_and_selection_are_read_by_id_without_listing(
        config: PlatformConfig) -> None:
    plan, selection = BackupPlanStep(config), BackupSelectionStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, {**OUTPUTS, "backup-plan": {"plan_id": "plan-1"}})
        aws.expect("backup", "get_backup_plan", {
            "BackupPlanId": "plan-1", "BackupPlanArn": PLAN_ARN,
            "BackupPlan": {"BackupPlanName": "vivr-compliance-archive", "Rules": []}},
            {"BackupPlanId": "plan-1"})
        aws.expect("backup", "list_tags", {"Tags": plan.tags()}, {"ResourceArn": PLAN_ARN})
        found = plan.find(ctx, "plan-1")
        aws.expect("backup", "get_backup_selection", {
            "SelectionId": "sel-1", "BackupPlanId": "plan-1",
            "BackupSelection": {"SelectionName": "vivr-primary-database",
                                "IamRoleArn": ROLE_ARN, "Resources": [DB_ARN]}},
            {"BackupPlanId": "plan-1", "SelectionId": "sel-1"})
        chosen = selection.find(ctx, "sel-1")
    assert found is not None and found.id == "plan-1"
    assert chosen is not None and chosen.id == "sel-1" and selection.diff(ctx, chosen) == []


def test_a_recorded_plan_that_was_renamed_is_found_by_name(config: PlatformConfig) -> None:
    plan = BackupPlanStep(config)
    with StubbedAws() as aws:
        aws.expect("backup", "get_backup_plan", {
            "BackupPlanId": "plan-0", "BackupPlanArn": PLAN_ARN,
            "BackupPlan": {"BackupPlanName": "someone-elses-name", "Rules": []}},
            {"BackupPlanId": "plan-0"})
        aws.expect("backup", "list_backup_plans", {"BackupPlansList": []}, {})
        assert plan.find(aws.context(config, OUTPUTS), "plan-0") is None


# --------------------------------------------------------------------------- bucket grant


def test_the_grant_keeps_the_bucket_s_other_grants(config: PlatformConfig) -> None:
    step = ExportBucketAclStep(config)
    owner = {"ID": "owner-id"}
    full = {"Grantee": {"Type": "CanonicalUser", "ID": "owner-id"}, "Permission": "FULL_CONTROL"}
    ours = [{"Grantee": {"Type": "CanonicalUser", "ID": ELASTICACHE}, "Permission": p}
            for p in ("READ", "READ_ACP", "WRITE")]
    with StubbedAws() as aws:
        aws.expect("s3", "get_bucket_acl", {"Owner": owner, "Grants": [full]},
                   {"Bucket": "vivr-backups"})
        aws.expect("s3", "put_bucket_acl", {}, {
            "Bucket": "vivr-backups",
            "AccessControlPolicy": {"Grants": [full, *ours], "Owner": owner}})
        aws.expect("s3", "get_bucket_acl", {"Owner": owner, "Grants": [full, *ours]},
                   {"Bucket": "vivr-backups"})
        created = step.create(aws.context(config), "token")
    assert created.id == "vivr-backups"


# --------------------------------------------------------------------------- config


def _raw(config_name: str = "production") -> dict[str, Any]:
    import yaml

    from tests.unit.stubbed import REPO

    return dict(yaml.safe_load((REPO / "config" / f"{config_name}.yaml").read_text()))


def test_the_spec_s_daily_export_is_never_silently_without_its_mechanism() -> None:
    raw = _raw()
    del raw["backup"]["redis_export"]
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "production.yaml")
    assert "redis.export_to_s3_daily needs a backup.redis_export block" in str(error.value)


def test_the_archive_needs_the_dr_region() -> None:
    raw = _raw("staging")
    raw["backup"] = {"archive": dict(_raw()["backup"]["archive"])}
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "staging.yaml")
    assert "backup.archive copies to the DR region: it needs dr.enabled: true" \
        in str(error.value)



# --------------------------------------------------------------------------- cost


def test_the_archive_is_priced_in_both_vaults_and_only_where_configured(
        config: PlatformConfig) -> None:
    from vivr_provision.cost.derive import computed_lines
    from vivr_provision.cost.prices import load_prices

    table = load_prices()
    lines = [line for line in computed_lines(config, table)
             if line.service == "AWS Backup archive"]
    assert [(line.region, line.quantity, line.monthly) for line in lines] == [
        ("us-east-1", 100, 9.5), ("us-west-2", 100, 9.5)]
    assert all(not line.verified and "assumption" in line.detail for line in lines)
    staging = parse_config(_raw("staging"), "staging.yaml")
    assert not [line for line in computed_lines(staging, table)
                if line.service == "AWS Backup archive"]
