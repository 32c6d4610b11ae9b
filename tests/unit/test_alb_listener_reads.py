"""Listeners of one balancer: one DescribeListeners answers the first read of every
listener step, with the same Resource the step's own read gives."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from tests.unit.test_alb_drift import LB_ARN, OUTPUTS, TG_ARN
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.alb import ListenerStep
from vivr_provision.steps.base import Resource
from vivr_provision.steps.common import aws_tags

LISTENERS = {80: f"{LB_ARN}-listener-80", 443: f"{LB_ARN}-listener-443"}
RULE_ARN = f"{LISTENERS[443]}/rule/open-paths"


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _steps(config: PlatformConfig) -> dict[int, ListenerStep]:
    return {li.port: ListenerStep(config, config.alb, li) for li in config.alb.listeners}


def _listener(port: int) -> dict[str, Any]:
    return {"ListenerArn": LISTENERS[port], "LoadBalancerArn": LB_ARN, "Port": port,
            "Protocol": "HTTPS" if port == 443 else "HTTP"}


def _rules(port: int) -> dict[str, Any]:
    default = {"RuleArn": f"{LISTENERS[port]}/default", "Priority": "default",
               "IsDefault": True, "Conditions": [], "Actions": []}
    ours = {"RuleArn": RULE_ARN, "Priority": "2", "IsDefault": False,
            "Conditions": [{"Field": "path-pattern", "Values": ["/api/health"]}],
            "Actions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}
    return {"Rules": [default, ours] if port == 443 else [default]}


def _tags(steps: dict[int, ListenerStep], arns: list[str]) -> dict[str, Any]:
    tags = {LISTENERS[80]: steps[80].tags(), LISTENERS[443]: steps[443].tags(),
            RULE_ARN: steps[443].rule_tags("open-paths")}
    return {"TagDescriptions": [{"ResourceArn": a, "Tags": aws_tags(tags[a])} for a in arns]}


def _expect_tags_and_rules(aws: StubbedAws, steps: dict[int, ListenerStep], port: int) -> None:
    """What each step reads after the listener itself: its tags, rules, the rules' tags
    (the tag batch, announced once per test, lists nothing here)."""
    aws.expect("elbv2", "describe_tags", _tags(steps, [LISTENERS[port]]),
               {"ResourceArns": [LISTENERS[port]]})
    aws.expect("elbv2", "describe_rules", _rules(port), {"ListenerArn": LISTENERS[port]})
    if port == 443:
        aws.expect("elbv2", "describe_tags", _tags(steps, [RULE_ARN]),
                   {"ResourceArns": [RULE_ARN]})


def test_one_listing_per_balancer_gives_each_listener_what_its_own_read_gives(
        config: PlatformConfig) -> None:
    steps = _steps(config)
    aws = StubbedAws()
    aws.expect_tag_batch(steps[80].tags())
    aws.expect("elbv2", "describe_listeners", {"Listeners": [_listener(80), _listener(443)]},
               {"LoadBalancerArn": LB_ARN})
    for port in (80, 443):
        _expect_tags_and_rules(aws, steps, port)
    # Each step's second read goes to AWS on its own, by the listener's ARN.
    for port in (80, 443):
        aws.expect("elbv2", "describe_listeners", {"Listeners": [_listener(port)]},
                   {"ListenerArns": [LISTENERS[port]]})
        _expect_tags_and_rules(aws, steps, port)
    with aws:
        ctx = aws.context(config, OUTPUTS, batched=True)
        batched = {p: steps[p].describe_by_id(ctx, LISTENERS[p]) for p in (80, 443)}
        direct = {p: steps[p].describe_by_id(ctx, LISTENERS[p]) for p in (80, 443)}
    assert batched == direct
    found = batched[443]
    assert isinstance(found, Resource) and list(found.data["Rules"]) == ["open-paths"]
    assert found.data["ForeignRules"] == [] and found.data["TagMap"] == steps[443].tags()


def test_a_listener_of_another_balancer_is_read_on_its_own(config: PlatformConfig) -> None:
    step = _steps(config)[80]
    other = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2"
    aws = StubbedAws()
    aws.expect("elbv2", "describe_listeners", {"Listeners": []}, {"LoadBalancerArn": LB_ARN})
    aws.expect("elbv2", "describe_listeners", {"Listeners": []}, {"ListenerArns": [other]})
    with aws:
        assert step.describe_by_id(aws.context(config, OUTPUTS, batched=True), other) is None
