"""Confused-deputy conditions on every role's trust policy, and where none is possible.

A service role trusted without ``aws:SourceAccount`` / ``aws:SourceArn`` can be
borrowed by the same service acting for another account (IAM user guide,
"Cross-service confused deputy prevention").  These tests read the trust
policies the steps send for the repository's configs, the exact request that
puts the conditions back after a hand edit, and the config errors that keep a
condition off EC2 (which sends no source keys).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.config.app import IamRoleConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.iam import INLINE_POLICY, IamRoleStep, iam_steps
from vivr_provision.steps.redis_export import role_steps


def _condition(*arns: str) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    if arns:
        condition["ArnLike"] = {"aws:SourceArn": arns[0] if len(arns) == 1 else list(arns)}
    return condition


#: What production's roles trust, and for whom (None: EC2, no condition possible).
PRODUCTION = {
    "task_execution_role": _condition(),
    "task_role": _condition(f"arn:aws:ecs:us-east-1:{ACCOUNT}:*",
                            f"arn:aws:ecs:us-west-2:{ACCOUNT}:*"),
    "backup_role": _condition(),
    "cloudfront_role": _condition(f"arn:aws:cloudfront::{ACCOUNT}:distribution/*"),
    "rds_monitoring_role": _condition(f"arn:aws:rds:us-east-1:{ACCOUNT}:db:*",
                                      f"arn:aws:rds:us-west-2:{ACCOUNT}:db:*"),
    "s3_replication_role": _condition(),
    "pgbouncer_instance_role": None,
    "vpc_flow_logs_role": _condition(f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-flow-log/*",
                                     f"arn:aws:ec2:us-west-2:{ACCOUNT}:vpc-flow-log/*"),
    "redis_export_role": _condition(
        f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:vivr-redis-export"),
    "redis_export_scheduler_role": _condition(
        f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/vivr-backups"),
}


def _roles(config: PlatformConfig) -> dict[str, IamRoleStep]:
    steps = [*iam_steps(config)]
    if config.backup.redis_export is not None and config.redis.export_to_s3_daily:
        steps += role_steps(config)
    return {s.key: s for s in steps if isinstance(s, IamRoleStep) and s.key is not None}


def test_every_production_role_trusts_its_service_only_for_this_account() -> None:
    roles = _roles(production_config())
    conditions = {key: step.trust_policy(ACCOUNT)["Statement"][0].get("Condition")
                  for key, step in roles.items()}
    assert conditions == PRODUCTION


@pytest.mark.parametrize("env", ["production", "staging"])
def test_no_role_but_ec2_ones_is_trusted_without_the_source_account(env: str) -> None:
    config = load_config(REPO / "config" / f"{env}.yaml", env)
    unguarded = sorted(step.role.name for step in _roles(config).values()
                       if step.role.trust_service != "ec2.amazonaws.com"
                       and "Condition" not in step.trust_policy(ACCOUNT)["Statement"][0])
    assert unguarded == []


def test_staging_without_the_dr_site_pins_the_primary_region_only() -> None:
    config = load_config(REPO / "config" / "staging.yaml", "staging")
    assert not config.dr.enabled
    task = _roles(config)["task_role"].trust_policy(ACCOUNT)["Statement"][0]
    assert task["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:ecs:{config.aws.region}:{ACCOUNT}:*"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"trust_service": "ec2.amazonaws.com", "trust_source_account": True},
     "ec2.amazonaws.com does not send aws:SourceAccount or aws:SourceArn"),
    ({"trust_source_arns": ["arn:aws:ecs:{region}:{acount}:*"]},
     "unknown placeholder(s) acount (use {account}, {region}, {s3_suffix})"),
    ({"trust_source_arns": ["ecs:*"]}, "'ecs:*' is not an ARN pattern"),
], ids=["ec2 sends no source keys", "misspelt placeholder", "not an ARN"])
def test_a_trust_condition_that_cannot_hold_is_a_config_error(
        fields: dict[str, Any], message: str) -> None:
    role = {"name": "r", "description": "d", "trust_service": "ecs-tasks.amazonaws.com",
            "managed_policies": [], "grants": [], **fields}
    with pytest.raises(ValidationError) as error:
        IamRoleConfig.model_validate(role)
    assert message in str(error.value)


def test_conditions_removed_by_hand_are_put_back_with_one_request() -> None:
    """The flow-logs role (no instance profile, no outputs): GetRole shows the bare
    trust policy, plan names it, apply sends UpdateAssumeRolePolicy with the conditions."""
    config = production_config()
    step = _roles(config)["vpc_flow_logs_role"]
    name = step.role.name
    arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    bare = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    tags = [{"Key": k, "Value": v} for k, v in step.tags().items()]
    role = {"Path": "/", "RoleName": name, "RoleId": "AROAEXAMPLEEXAMPLE1", "Arn": arn,
            "CreateDate": "2026-01-01T00:00:00Z", "AssumeRolePolicyDocument": bare,
            "Description": step.role.description, "Tags": tags,
            "TagMap": step.tags()}
    with StubbedAws() as aws:
        ctx = aws.context(config)
        inline = step.inline_policy(ctx)
        aws.expect("iam", "list_attached_role_policies", {"AttachedPolicies": []},
                   {"RoleName": name})
        aws.expect("iam", "get_role_policy", {
            "RoleName": name, "PolicyName": INLINE_POLICY,
            "PolicyDocument": quote(json.dumps(inline))},
            {"RoleName": name, "PolicyName": INLINE_POLICY})
        drifted = Resource(arn, role)
        changes = step.diff(ctx, drifted)
        assert [c.field for c in changes] == ["trust_policy"]
        wanted = step.trust_policy(ACCOUNT)
        aws.expect("iam", "update_assume_role_policy", {},
                   {"RoleName": name, "PolicyDocument": json.dumps(wanted)})
        reply = {k: v for k, v in role.items() if k != "TagMap"}
        aws.expect("iam", "get_role", {"Role": {
            **reply, "AssumeRolePolicyDocument": quote(json.dumps(wanted))}},
            {"RoleName": name})
        step.update(ctx, drifted, changes)
    assert wanted["Statement"][0]["Condition"] == PRODUCTION["vpc_flow_logs_role"]
