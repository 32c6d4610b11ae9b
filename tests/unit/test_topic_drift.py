"""SNS topic drift on the drift engine: tags and display name as rows, subscriptions apart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.monitoring import TopicStep

ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:vivr-production-team-alerts"
SUBSCRIBED = [{"Protocol": "email", "Endpoint": "team@vivr.example.com",
               "SubscriptionArn": f"{ARN}:0b1c"}]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _data(step: TopicStep, **edits: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"Attributes": {"DisplayName": "VIVR team alerts"},
                            "TagMap": step.tags(), "Subscriptions": SUBSCRIBED}
    data.update(edits)
    return data


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"Attributes": {"DisplayName": "renamed"}}, [("display_name", "renamed",
                                                  "VIVR team alerts")]),
    ({"Subscriptions": []}, [("subscriptions", [], ["email:team@vivr.example.com"])]),
    # An e-mail not yet confirmed exists: subscribing again would only mail again.
    ({"Subscriptions": [{**SUBSCRIBED[0], "SubscriptionArn": "PendingConfirmation"}]}, []),
])
def test_topic_drift(config: PlatformConfig, edits: dict[str, Any],
                     expected: list[tuple[str, Any, Any]]) -> None:
    step = TopicStep(config, "team", config.monitoring.topics["team"])
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config), Resource(ARN, _data(step, **edits)))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def test_update_converges_each_change_with_its_own_call(config: PlatformConfig) -> None:
    step = TopicStep(config, "team", config.monitoring.topics["team"])
    drifted = _data(step, Attributes={"DisplayName": "renamed"}, TagMap={}, Subscriptions=[])
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = step.diff(ctx, Resource(ARN, drifted))
        assert [c.field for c in changes] == ["tags", "display_name", "subscriptions"]
        aws.expect("sns", "tag_resource", {}, {"ResourceArn": ARN, "Tags": [
            {"Key": k, "Value": v} for k, v in sorted(step.tags().items())]})
        aws.expect("sns", "set_topic_attributes", {}, {
            "TopicArn": ARN, "AttributeName": "DisplayName",
            "AttributeValue": "VIVR team alerts"})
        aws.expect("sns", "subscribe", {"SubscriptionArn": "PendingConfirmation"}, {
            "TopicArn": ARN, "Protocol": "email", "Endpoint": "team@vivr.example.com",
            "ReturnSubscriptionArn": True})
        aws.expect("sns", "get_topic_attributes", {"Attributes": {"DisplayName": "x"}},
                   {"TopicArn": ARN})
        aws.expect("sns", "list_tags_for_resource", {"Tags": [
            {"Key": k, "Value": v} for k, v in step.tags().items()]}, {"ResourceArn": ARN})
        aws.expect("sns", "list_subscriptions_by_topic", {"Subscriptions": SUBSCRIBED},
                   {"TopicArn": ARN})
        step.update(ctx, Resource(ARN, drifted), changes)
