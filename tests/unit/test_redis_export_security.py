"""The Redis export's logging and encryption (issue 12), on Stubber clients.

The sandbox keeps both configurations and reads them back
(tests/e2e/test_backup_tooling.py), but evaluates none of what AWS checks
around them: that the role may set up log delivery, that the roles and log
delivery may use the key, that the group's ARN has the ``:*`` form.  Here:
the exact CreateStateMachine request, drift in either setting repaired by
one UpdateStateMachine, the roles' and key's statements, and the config rules.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.config.loader import parse_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.kms import KmsKeyStep
from vivr_provision.steps.redis_export import ExportRoleStep, ExportStateMachineStep

KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GROUP = "/aws/vendedlogs/states/vivr-production-redis-export"
GROUP_ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{GROUP}"
MACHINE_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:vivr-redis-export"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/vivr-redis-export-role"
OUTPUTS = {"kms": {"key_arn": KEY_ARN}, "logs.redis_export": {"arn": GROUP_ARN},
           "iam.redis_export_role": {"role_arn": ROLE_ARN},
           "redis-export-state-machine": {"arn": MACHINE_ARN}}
LOGGING = {"level": "ALL", "includeExecutionData": False,
           "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": f"{GROUP_ARN}:*"}}]}
ENCRYPTION = {"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": KEY_ARN,
              "kmsDataKeyReusePeriodSeconds": 300}
THIS_MACHINE = {"StringEquals": {
    "kms:EncryptionContext:aws:states:stateMachineArn": MACHINE_ARN}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _machine(config: PlatformConfig) -> ExportStateMachineStep:
    return ExportStateMachineStep(config)


def _described(step: ExportStateMachineStep, **edits: Any) -> dict[str, Any]:
    return {"stateMachineArn": MACHINE_ARN, "name": "vivr-redis-export",
            "definition": json.dumps(step.desired_definition()), "roleArn": ROLE_ARN,
            "type": "STANDARD", "creationDate": "2026-12-06T10:00:00Z",
            "loggingConfiguration": LOGGING, "encryptionConfiguration": ENCRYPTION, **edits}


def _expect_lookup(aws: StubbedAws, step: ExportStateMachineStep, **edits: Any) -> None:
    aws.expect("stepfunctions", "list_state_machines", {"stateMachines": [{
        "stateMachineArn": MACHINE_ARN, "name": "vivr-redis-export", "type": "STANDARD",
        "creationDate": "2026-12-06T10:00:00Z"}]}, {})
    aws.expect("stepfunctions", "describe_state_machine", _described(step, **edits),
               {"stateMachineArn": MACHINE_ARN})
    aws.expect("stepfunctions", "list_tags_for_resource", {"tags": [
        {"key": k, "value": v} for k, v in step.tags().items()]},
        {"resourceArn": MACHINE_ARN})


def test_the_machine_is_created_logging_into_its_group_and_under_the_platform_key(
        config: PlatformConfig) -> None:
    step = _machine(config)
    assert {"kms", "logs.redis_export", "logs-delivery-policy"} <= set(step.depends_on())
    with StubbedAws() as aws:
        aws.expect("stepfunctions", "create_state_machine", {
            "stateMachineArn": MACHINE_ARN, "creationDate": "2026-12-06T10:00:00Z"}, {
            "name": "vivr-redis-export", "definition": json.dumps(step.desired_definition()),
            "roleArn": ROLE_ARN, "type": "STANDARD", "loggingConfiguration": LOGGING,
            "encryptionConfiguration": ENCRYPTION,
            "tags": aws_tags(step.tags(), "key", "value")})
        _expect_lookup(aws, step)
        created = step.create(aws.context(config, OUTPUTS), "token")
    assert created.id == MACHINE_ARN


@pytest.mark.parametrize(("edits", "rows"), [
    ({}, []),
    ({"loggingConfiguration": {"level": "OFF", "includeExecutionData": False}}, ["logging"]),
    ({"loggingConfiguration": {**LOGGING, "includeExecutionData": True}}, ["logging"]),
    ({"encryptionConfiguration": {"type": "AWS_OWNED_KEY"}}, ["encryption"]),
    ({"encryptionConfiguration": {**ENCRYPTION, "kmsDataKeyReusePeriodSeconds": 900}},
     ["encryption"]),
])
def test_logging_or_encryption_changed_by_hand_is_put_back_by_one_update(
        config: PlatformConfig, edits: dict[str, Any], rows: list[str]) -> None:
    step = _machine(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(MACHINE_ARN, {**_described(step, **edits),
                                                        "TagMap": step.tags()}))
        assert [c.field for c in changes] == rows
        if not rows:
            return
        aws.expect("stepfunctions", "update_state_machine", {
            "updateDate": "2026-12-06T10:00:00Z"}, {
            "stateMachineArn": MACHINE_ARN,
            "definition": json.dumps(step.desired_definition()), "roleArn": ROLE_ARN,
            "loggingConfiguration": LOGGING, "encryptionConfiguration": ENCRYPTION})
        _expect_lookup(aws, step)
        step.update(ctx, Resource(MACHINE_ARN, _described(step, **edits)), changes)


def _statements(config: PlatformConfig, name: str) -> dict[str, dict[str, Any]]:
    [role] = [s for s in build_steps(config)
              if isinstance(s, ExportRoleStep) and s.name == name]
    with StubbedAws() as aws:
        document = role.inline_policy(aws.context(config, OUTPUTS))
    assert document is not None
    return {s["Sid"]: s for s in document["Statement"]}


def test_both_roles_may_use_the_key_for_this_machine_only(config: PlatformConfig) -> None:
    machine = _statements(config, "iam.redis_export_role")
    scheduler = _statements(config, "iam.redis_export_scheduler_role")
    for use in (machine["UseThePlatformKeyForThisMachine"],
                scheduler["StartEncryptedExecutions"]):
        assert (use["Action"], use["Resource"], use["Condition"]) == (
            ["kms:Decrypt", "kms:GenerateDataKey"], [KEY_ARN], THIS_MACHINE)
    # Step Functions developer guide, "Logging in CloudWatch Logs": the role sets up
    # the delivery; these actions take no resource.
    assert machine["SetUpLogDelivery"]["Resource"] == ["*"]
    assert "logs:CreateLogDelivery" in machine["SetUpLogDelivery"]["Action"]
    assert machine["EncryptedLogDelivery"]["Action"] == ["kms:GenerateDataKey"]


def test_the_key_admits_log_delivery_of_this_account_and_the_group(
        config: PlatformConfig) -> None:
    with StubbedAws() as aws:
        policy = json.loads(KmsKeyStep(config).key_policy(aws.context(config)))
    statements = {s["Sid"]: s for s in policy["Statement"]}
    delivery = statements["StepFunctionsLogDelivery"]
    assert (delivery["Principal"], delivery["Action"]) == (
        {"Service": "delivery.logs.amazonaws.com"}, ["kms:Decrypt"])
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert GROUP_ARN in statements["CloudWatchLogsOfThisEnvironment"]["Condition"][
        "ArnLike"]["kms:EncryptionContext:aws:logs:arn"]


def test_without_logging_or_the_key_nothing_of_either_is_asked_for(
        config: PlatformConfig) -> None:
    export = config.backup.redis_export
    assert export is not None
    plain = config.model_copy(update={"backup": config.backup.model_copy(update={
        "redis_export": export.model_copy(update={"log_group": None,
                                                  "encrypt_with_platform_key": False})})})
    step = _machine(plain)
    with StubbedAws() as aws:
        ctx = aws.context(plain, OUTPUTS)
        assert step.desired_logging(ctx) == {"level": "OFF", "includeExecutionData": False}
        assert step.desired_encryption(ctx) == {"type": "AWS_OWNED_KEY"}
        policy = json.loads(KmsKeyStep(plain).key_policy(ctx))
    assert "kms" not in step.depends_on() and "logs-delivery-policy" not in step.depends_on()
    assert "StepFunctionsLogDelivery" not in {s["Sid"] for s in policy["Statement"]}
    assert set(_statements(plain, "iam.redis_export_role")).isdisjoint(
        {"SetUpLogDelivery", "UseThePlatformKeyForThisMachine", "EncryptedLogDelivery"})


def _raw() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((REPO / "config" / "production.yaml").read_text()))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda raw: raw["backup"]["redis_export"].update(log_group="nope"),
     "backup.redis_export.log_group nope is not a key of logs.groups"),
    (lambda raw: raw["logs"]["groups"]["redis_export"].update(
        name="/vivr/production/redis-export"),
     "is not under /aws/vendedlogs/states/vivr-production-"),
    (lambda raw: raw["backup"]["redis_export"].update(data_key_reuse_seconds=30),
     "data_key_reuse_seconds"),
])
def test_a_wrong_logging_or_key_setting_is_refused(edit: Any, message: str) -> None:
    raw = _raw()
    edit(raw)
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, "production.yaml")
    assert message in str(refused.value)


def test_a_recorded_machine_is_described_by_its_arn_without_listing() -> None:
    step = ExportStateMachineStep(production_config())
    with StubbedAws() as aws:
        aws.expect("stepfunctions", "describe_state_machine", _described(step),
                   {"stateMachineArn": MACHINE_ARN})
        aws.expect("stepfunctions", "list_tags_for_resource", {"tags": [
            {"key": k, "value": v} for k, v in step.tags().items()]},
            {"resourceArn": MACHINE_ARN})
        found = step.find(aws.context(step.config), MACHINE_ARN)
    assert found is not None and found.id == MACHINE_ARN
