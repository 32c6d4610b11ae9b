"""The Auto Scaling service-linked role and the key policy that names it (Stubber clients)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.kms import KmsKeyStep
from vivr_provision.steps.service_linked_roles import AUTOSCALING_SLR_STEP, ServiceLinkedRoleStep

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
ROLE_ARN = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling")
ROLE = {"Path": "/aws-service-role/autoscaling.amazonaws.com/",
        "RoleName": "AWSServiceRoleForAutoScaling", "RoleId": "AROAEXAMPLEEXAMPLE1",
        "Arn": ROLE_ARN, "CreateDate": "2026-01-01T00:00:00Z"}


def _config(launch_type: str) -> PlatformConfig:
    config = load_config(REPO / "config" / "production.yaml", "production")
    return config.model_copy(update={"ecs": config.ecs.model_copy(
        update={"launch_type": launch_type})})


class _Clients:
    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str, region: str | None = None) -> Any:
        return self._client


def _context(config: PlatformConfig, client: Any = None) -> StepContext:
    outputs = {AUTOSCALING_SLR_STEP: {"role_arn": ROLE_ARN}}
    return StepContext(config, _Clients(client), outputs.get,  # type: ignore[arg-type]
                       account_id=ACCOUNT)


@pytest.mark.parametrize("launch_type", ["fargate", "ec2"])
def test_the_key_policy_names_the_auto_scaling_role_exactly_with_the_ec2_launch_type(
        launch_type: str) -> None:
    config = _config(launch_type)
    step = KmsKeyStep(config)
    statements = json.loads(step.key_policy(_context(config)))["Statement"]
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
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    step = ServiceLinkedRoleStep(config, "autoscaling", config.iam.autoscaling_service_linked_role)
    with Stubber(iam) as stub:
        stub.add_client_error(
            "create_service_linked_role", "InvalidInput",
            "Service role name AWSServiceRoleForAutoScaling has been taken in this account, "
            "please try a different suffix.",
            expected_params={"AWSServiceName": "autoscaling.amazonaws.com",
                             "Description": config.iam.autoscaling_service_linked_role.description})
        stub.add_response("get_role", {"Role": ROLE},
                          {"RoleName": "AWSServiceRoleForAutoScaling"})
        found = step.create(_context(config, iam), "token")
        stub.assert_no_pending_responses()
    assert found.id == ROLE_ARN


def test_a_same_named_role_that_is_not_service_linked_is_refused() -> None:
    config = _config("ec2")
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    step = ServiceLinkedRoleStep(config, "autoscaling", config.iam.autoscaling_service_linked_role)
    with Stubber(iam) as stub:
        stub.add_response("get_role", {"Role": {**ROLE, "Path": "/"}},
                          {"RoleName": "AWSServiceRoleForAutoScaling"})
        with pytest.raises(RuntimeError, match="not the service-linked role"):
            step.find(_context(config, iam), None)
