"""Scale-out policy and dashboard drift from their field tables (alarms and topics have theirs).

Each case is what AWS describes (edited as someone changed it by hand),
the changes plan lists and, when something drifted, the exact request apply
sends (one PutScalingPolicy / PutDashboard, whatever drifted).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.monitoring import DashboardStep, ScaleOutPolicyStep, alarm_placements

POLICY_ARN = (f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:1a2b:resource/ecs/"
              "service/vivr-prod/vivr-app:policyName/vivr-app-scale-out")
DASHBOARD_ARN = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/vivr-production"


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _policy(step: ScaleOutPolicyStep, **edits: Any) -> dict[str, Any]:
    """DescribeScalingPolicies' entry for the policy as put (AWS answers floats as given)."""
    configuration = {**step.desired_configuration(), **edits.pop("configuration", {})}
    return {"PolicyARN": POLICY_ARN, "PolicyName": step.policy_name, "ServiceNamespace": "ecs",
            "ResourceId": step.scalable_resource_id,
            "ScalableDimension": "ecs:service:DesiredCount",
            "PolicyType": "StepScaling", "StepScalingPolicyConfiguration": configuration,
            "CreationTime": "2026-12-01T00:00:00Z", **edits}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    # Bounds come back as numbers, whichever kind was sent.
    ({"configuration": {"StepAdjustments": [{"MetricIntervalLowerBound": 0,
                                             "ScalingAdjustment": 1}]}}, []),
    ({"configuration": {"Cooldown": 300}}, [("Cooldown", 300, 60)]),
    ({"configuration": {"StepAdjustments": [{"MetricIntervalLowerBound": 0.0,
                                             "ScalingAdjustment": 3}]}},
     [("StepAdjustments", [(0.0, None, 3)], [(0.0, None, 1)])]),
    # Another type of policy: its settings mean nothing here, only the type is named.
    ({"PolicyType": "TargetTrackingScaling", "configuration": {"Cooldown": 300}},
     [("PolicyType", "TargetTrackingScaling", "StepScaling")]),
])
def test_scale_out_policy_drift(config: PlatformConfig, edits: dict[str, Any],
                                expected: list[tuple[str, Any, Any]]) -> None:
    step = ScaleOutPolicyStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = step.diff(ctx, Resource(POLICY_ARN, _policy(step, **edits)))
        assert [(c.field, c.current, c.desired) for c in changes] == expected
        if not changes:
            return
        aws.expect("application-autoscaling", "put_scaling_policy", {"PolicyARN": POLICY_ARN}, {
            "PolicyName": "vivr-app-scale-out", "ServiceNamespace": "ecs",
            "ResourceId": step.scalable_resource_id,
            "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity", "Cooldown": 60,
                "MetricAggregationType": "Average",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0,
                                     "ScalingAdjustment": 1}]}})
        aws.expect("application-autoscaling", "describe_scaling_policies",
                   {"ScalingPolicies": [_policy(step)]})
        step.update(ctx, Resource(POLICY_ARN, _policy(step, **edits)), changes)


def _outputs(config: PlatformConfig) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {
        p.step: {"alarm_arn": f"arn:aws:cloudwatch:{p.site.region or 'us-east-1'}:{ACCOUNT}:"
                              f"alarm:{p.name}"}
        for p in alarm_placements(config)}
    outputs["alb"] = {"arn_suffix": "app/vivr-alb/50dc6c495c0c9188"}
    return outputs


def _edited(body: dict[str, Any], what: str) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    graphs = [w for w in body["widgets"] if w["type"] != "text"]
    if what == "graph removed":
        body["widgets"].remove(graphs[-1])
    elif what == "graph moved":
        graphs[0]["x"] += 1
    return body


@pytest.mark.parametrize(("edit", "expected"), [
    ("nothing", []),
    ("graph moved", [("body", "differs", "the configured widgets")]),
    # A missing graph is named by its title; the rest of the body is then not compared.
    ("graph removed", [("widgets", "titles without the last", "titles")]),
])
def test_dashboard_drift(config: PlatformConfig, edit: str,
                         expected: list[tuple[str, Any, Any]]) -> None:
    step = DashboardStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, _outputs(config))
        body = step.body(ctx)
        titles = [str(w["properties"]["title"]) for w in body["widgets"] if w["type"] != "text"]
        shown = {"titles": titles, "titles without the last": titles[:-1]}
        changes = step.diff(ctx, Resource(DASHBOARD_ARN, {"Body": _edited(body, edit)}))
        assert [(c.field, c.current, c.desired) for c in changes] == [
            (field, shown.get(current, current), shown.get(desired, desired))
            for field, current, desired in expected]
        if not changes:
            return
        aws.expect("cloudwatch", "put_dashboard", {}, {"DashboardName": "vivr-production",
                                                       "DashboardBody": json.dumps(body)})
        aws.expect("cloudwatch", "get_dashboard", {
            "DashboardArn": DASHBOARD_ARN, "DashboardName": "vivr-production",
            "DashboardBody": json.dumps(body)}, {"DashboardName": "vivr-production"})
        step.update(ctx, Resource(DASHBOARD_ARN, {"Body": _edited(body, edit)}), changes)
