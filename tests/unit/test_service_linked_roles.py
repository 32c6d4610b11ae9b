"""The Auto Scaling service-linked role and the key policy that names it (Stubber clients)."""

from __future__ import annotations

import json

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps import build_steps
from vivr_provision.steps.kms import KmsKeyStep
from vivr_provision.steps.service_linked_roles import AUTOSCALING_SLR_STEP, ServiceLinkedRoleStep

ROLE_ARN = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling")
ROLE = {"Path": "/aws-service-role/autoscaling.amazonaws.com/",
        "RoleName": "AWSServiceRoleForAutoScaling", "RoleId": "AROAEXAMPLEEXAMPLE1",
        "Arn": ROLE_ARN, "CreateDate": "2026-01-01T00:00:00Z"}
OUTPUTS = {AUTOSCALING_SLR_STEP: {"role_arn": ROLE_ARN}}


def _config(launch_type: str) -> PlatformConfig:
    config = production_config()
    return config.model_copy(update={"ecs": config.ecs.model_copy(
        update={"launch_type": launch_type})})


@pytest.mark.parametrize("launch_type", ["fargate", "ec2"])
def test_the_key_policy_names_the_auto_scaling_role_exactly_with_the_ec2_launch_type(
        launch_type: str) -> None:
    config = _config(launch_type)
    step = KmsKeyStep(config)
    with StubbedAws() as aws:
        statements = json.loads(step.key_policy(aws.context(config, OUTPUTS)))["Statement"]
    admitted = [s for s in statements if s["Principal"] == {"AWS": ROLE_ARN}]
    names = {s.name for s in build_steps(config)}
    if launch_type == "fargate":
        assert admitted == []
        assert AUTOSCALING_SLR_STEP not in step.depends_on() and AUTOSCALING_SLR_STEP not in names
        return
    assert AUTOSCALING_SLR_STEP in step.depends_on() and AUTOSCALING_SLR_STEP in names
    use, grant = admitted
    assert use["Action"] == ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                             "kms:GenerateDataKey*", "kms:DescribeKey"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_a_role_another_creator_made_meanwhile_is_adopted() -> None:
    config = _config("ec2")
    step = ServiceLinkedRoleStep(config, "autoscaling", config.iam.autoscaling_service_linked_role)
    with StubbedAws() as aws:
        aws.expect_error(
            "iam", "create_service_linked_role", "InvalidInput",
            "Service role name AWSServiceRoleForAutoScaling has been taken in this account, "
            "please try a different suffix.",
            params={"AWSServiceName": "autoscaling.amazonaws.com",
                    "Description": config.iam.autoscaling_service_linked_role.description})
        aws.expect("iam", "get_role", {"Role": ROLE}, {"RoleName": "AWSServiceRoleForAutoScaling"})
        found = step.create(aws.context(config, OUTPUTS), "token")
    assert found.id == ROLE_ARN


def test_a_same_named_role_that_is_not_service_linked_is_refused() -> None:
    config = _config("ec2")
    step = ServiceLinkedRoleStep(config, "autoscaling", config.iam.autoscaling_service_linked_role)
    with StubbedAws() as aws:
        aws.expect("iam", "get_role", {"Role": {**ROLE, "Path": "/"}},
                   {"RoleName": "AWSServiceRoleForAutoScaling"})
        with pytest.raises(RuntimeError, match="not the service-linked role"):
            step.find(aws.context(config, OUTPUTS), None)
