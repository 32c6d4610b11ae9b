"""The service's scaling policies: one DescribeScalingPolicies answers both policy steps.

``ecs-autoscaling`` and ``scaling-policy.scale-out`` read policies on the same
scalable target; the target's one listing (no ``PolicyNames``) answers both
first lookups, each with exactly what its own direct read gives.  A policy the
listing lacks, and any later lookup, is read directly.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, Unbatched, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource, StepContext
from vivr_provision.steps.ecs.autoscaling import EcsAutoscalingStep
from vivr_provision.steps.monitoring import ScaleOutPolicyStep

SERVICE = "application-autoscaling"
DIMENSION = "ecs:service:DesiredCount"


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _policy(resource_id: str, name: str, kind: str, **settings: Any) -> dict[str, Any]:
    return {"PolicyARN": f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:1a2b:"
                         f"resource/ecs/{resource_id}:policyName/{name}",
            "PolicyName": name, "ServiceNamespace": "ecs", "ResourceId": resource_id,
            "ScalableDimension": DIMENSION, "PolicyType": kind,
            "CreationTime": "2026-12-01T00:00:00Z", **settings}


def _policies(target: EcsAutoscalingStep, scale_out: ScaleOutPolicyStep,
              with_scale_out: bool = True) -> list[dict[str, Any]]:
    rid = target.resource_id
    tracking = [_policy(rid, name, "TargetTrackingScaling",
                        TargetTrackingScalingPolicyConfiguration=configuration)
                for name, configuration in target.desired_policies().items()]
    step = [_policy(rid, scale_out.policy_name, "StepScaling",
                    StepScalingPolicyConfiguration=scale_out.desired_configuration())]
    return tracking + (step if with_scale_out else [])


def _expect_target(aws: StubbedAws, target: EcsAutoscalingStep) -> None:
    aws.expect(SERVICE, "describe_scalable_targets", {"ScalableTargets": [{
        "ServiceNamespace": "ecs", "ResourceId": target.resource_id,
        "ScalableDimension": DIMENSION, "MinCapacity": 3, "MaxCapacity": 10,
        "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/scaling",
        "CreationTime": "2026-12-01T00:00:00Z"}]},
        {"ServiceNamespace": "ecs", "ResourceIds": [target.resource_id],
         "ScalableDimension": DIMENSION})


def _expect_listing(aws: StubbedAws, target: EcsAutoscalingStep,
                    policies: list[dict[str, Any]]) -> None:
    aws.expect(SERVICE, "describe_scaling_policies", {"ScalingPolicies": policies},
               {"ServiceNamespace": "ecs", "ResourceId": target.resource_id,
                "ScalableDimension": DIMENSION})


def _expect_by_name(aws: StubbedAws, scale_out: ScaleOutPolicyStep,
                    policies: list[dict[str, Any]]) -> None:
    aws.expect(SERVICE, "describe_scaling_policies", {"ScalingPolicies": [
        p for p in policies if p["PolicyName"] == scale_out.policy_name]},
        {"ServiceNamespace": "ecs", "ResourceId": scale_out.scalable_resource_id,
         "ScalableDimension": DIMENSION, "PolicyNames": [scale_out.policy_name]})


def _lookups(ctx: StepContext, target: EcsAutoscalingStep,
             scale_out: ScaleOutPolicyStep) -> tuple[Resource | None, Resource | None]:
    return target.lookup(ctx), scale_out.lookup(ctx)


def test_one_listing_answers_both_policy_steps_as_their_direct_reads_do(
        config: PlatformConfig) -> None:
    target, scale_out = EcsAutoscalingStep(config), ScaleOutPolicyStep(config)
    policies = _policies(target, scale_out)
    with StubbedAws() as aws:  # one DescribeScalingPolicies for the two steps
        _expect_target(aws, target)
        _expect_listing(aws, target, policies)
        batched = _lookups(aws.context(config, batched=True), target, scale_out)
    with StubbedAws() as aws:  # each step reading on its own
        _expect_target(aws, target)
        _expect_listing(aws, target, policies)
        _expect_by_name(aws, scale_out, policies)
        ctx = aws.context(config, batched=True)
        ctx.reads = Unbatched()
        direct = _lookups(ctx, target, scale_out)
    assert batched == direct
    found_target, found_policy = batched
    assert found_target is not None and found_policy is not None
    assert sorted(found_target.data["policies"]) == sorted(p["PolicyName"] for p in policies)
    assert found_policy.id == policies[-1]["PolicyARN"]


def test_a_scale_out_policy_the_listing_lacks_is_read_by_name(config: PlatformConfig) -> None:
    """Never taken for absent on the listing's word: made since, it is found by name."""
    target, scale_out = EcsAutoscalingStep(config), ScaleOutPolicyStep(config)
    policies = _policies(target, scale_out)
    with StubbedAws() as aws:
        _expect_target(aws, target)
        _expect_listing(aws, target, _policies(target, scale_out, with_scale_out=False))
        _expect_by_name(aws, scale_out, policies)
        _, found = _lookups(aws.context(config, batched=True), target, scale_out)
    assert found == Resource(policies[-1]["PolicyARN"], policies[-1])


def test_a_second_lookup_reads_directly(config: PlatformConfig) -> None:
    """After an update each step reads again: the listing is handed to each step once."""
    target, scale_out = EcsAutoscalingStep(config), ScaleOutPolicyStep(config)
    policies = _policies(target, scale_out)
    with StubbedAws() as aws:
        _expect_target(aws, target)
        _expect_listing(aws, target, policies)
        _expect_target(aws, target)
        _expect_listing(aws, target, policies)
        _expect_by_name(aws, scale_out, policies)
        ctx = aws.context(config, batched=True)
        first = _lookups(ctx, target, scale_out)
        assert target.lookup(ctx) == first[0]
        assert scale_out.lookup(ctx) == first[1]
