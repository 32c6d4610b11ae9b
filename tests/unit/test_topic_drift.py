"""SNS topic drift on the drift engine: tags and display name as rows, subscriptions apart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource, Site
from vivr_provision.steps.monitoring import TopicStep

ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:vivr-production-team-alerts"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-1234abcd"
DR_KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/mrk-1234abcd"
#: The topics' key steps' outputs (issue 12: topics are encrypted with the site's key).
OUTPUTS = {"kms": {"key_arn": KEY_ARN}, "dr.kms": {"key_arn": DR_KEY_ARN}}
SUBSCRIBED = [{"Protocol": "email", "Endpoint": "team@vivr.example.com",
               "SubscriptionArn": f"{ARN}:0b1c"}]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _data(step: TopicStep, **edits: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"Attributes": {"DisplayName": "VIVR team alerts",
                                           "KmsMasterKeyId": KEY_ARN},
                            "TagMap": step.tags(), "Subscriptions": SUBSCRIBED}
    data.update(edits)
    return data


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"Attributes": {"DisplayName": "renamed", "KmsMasterKeyId": KEY_ARN}},
     [("display_name", "renamed", "VIVR team alerts")]),
    # Encryption turned off by hand (GetTopicAttributes then omits the key).
    ({"Attributes": {"DisplayName": "VIVR team alerts"}}, [("kms_key", "", KEY_ARN)]),
    ({"Subscriptions": []}, [("subscriptions", [], ["email:team@vivr.example.com"])]),
    # An e-mail not yet confirmed exists: subscribing again would only mail again.
    ({"Subscriptions": [{**SUBSCRIBED[0], "SubscriptionArn": "PendingConfirmation"}]}, []),
])
def test_topic_drift(config: PlatformConfig, edits: dict[str, Any],
                     expected: list[tuple[str, Any, Any]]) -> None:
    step = TopicStep(config, "team", config.monitoring.topics["team"])
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS), Resource(ARN, _data(step, **edits)))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def test_update_converges_each_change_with_its_own_call(config: PlatformConfig) -> None:
    step = TopicStep(config, "team", config.monitoring.topics["team"])
    drifted = _data(step, Attributes={"DisplayName": "renamed"}, TagMap={}, Subscriptions=[])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(ARN, drifted))
        assert [c.field for c in changes] == ["tags", "display_name", "kms_key", "subscriptions"]
        aws.expect("sns", "tag_resource", {}, {"ResourceArn": ARN, "Tags": [
            {"Key": k, "Value": v} for k, v in sorted(step.tags().items())]})
        aws.expect("sns", "set_topic_attributes", {}, {
            "TopicArn": ARN, "AttributeName": "DisplayName",
            "AttributeValue": "VIVR team alerts"})
        aws.expect("sns", "set_topic_attributes", {}, {
            "TopicArn": ARN, "AttributeName": "KmsMasterKeyId", "AttributeValue": KEY_ARN})
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


def test_a_topic_is_created_encrypted_with_its_sites_key(config: PlatformConfig) -> None:
    """The DR copy (dr.sns.devops) takes dr.kms: a topic's key is in the topic's region."""
    step = TopicStep(config, "devops", config.monitoring.topics["devops"],
                     site=Site(prefix="dr.", region="us-west-2"))
    assert step.depends_on() == ("dr.kms",)
    dr_arn = f"arn:aws:sns:us-west-2:{ACCOUNT}:vivr-production-devops-alerts"
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("sns", "create_topic", {"TopicArn": dr_arn}, {
            "Name": "vivr-production-devops-alerts",
            "Attributes": {"DisplayName": "VIVR DevOps alerts", "KmsMasterKeyId": DR_KEY_ARN},
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(step.tags().items())]},
            region="us-west-2")
        for _ in range(2):   # read back after the create, then after subscribing
            aws.expect("sns", "get_topic_attributes", {"Attributes": {
                "KmsMasterKeyId": DR_KEY_ARN}}, {"TopicArn": dr_arn}, region="us-west-2")
            aws.expect("sns", "list_tags_for_resource", {"Tags": [
                {"Key": k, "Value": v} for k, v in step.tags().items()]},
                {"ResourceArn": dr_arn}, region="us-west-2")
            aws.expect("sns", "list_subscriptions_by_topic", {"Subscriptions": [
                {"Protocol": "email", "Endpoint": "devops@vivr.example.com",
                 "SubscriptionArn": "PendingConfirmation"}]}, {"TopicArn": dr_arn},
                region="us-west-2")
        created = step.create(ctx, "token")
    assert created.data["Attributes"]["KmsMasterKeyId"] == DR_KEY_ARN


def _tagged(*pairs: tuple[TopicStep, str]) -> dict[str, Any]:
    """A tag batch (GetResources) answer holding each step's topic with its tags."""
    return {"ResourceTagMappingList": [
        {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in step.tags().items()]}
        for step, arn in pairs]}


def test_one_subscription_listing_answers_every_topic_of_the_region(
        config: PlatformConfig) -> None:
    team = TopicStep(config, "team", config.monitoring.topics["team"])
    other_key = next(k for k in config.monitoring.topics if k != "team")
    other = TopicStep(config, other_key, config.monitoring.topics[other_key])
    other_arn = f"arn:aws:sns:us-east-1:{ACCOUNT}:{other.topic.name}"
    theirs = {"Protocol": "sqs", "Endpoint": "arn:aws:sqs:us-east-1:1:q",
              "SubscriptionArn": f"{other_arn}:9f", "TopicArn": other_arn}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS, batched=True)
        aws.expect("sns", "get_topic_attributes", {"Attributes": {"DisplayName": "x"}},
                   {"TopicArn": ARN})
        aws.expect("resourcegroupstaggingapi", "get_resources",
                   _tagged((team, ARN), (other, other_arn)))
        aws.expect("sns", "list_subscriptions", {"Subscriptions": [
            {**SUBSCRIBED[0], "TopicArn": ARN}, theirs]}, {})
        assert team.describe_by_id(ctx, ARN).data["Subscriptions"] == [  # type: ignore[union-attr]
            {**SUBSCRIBED[0], "TopicArn": ARN}]
        aws.expect("sns", "get_topic_attributes", {"Attributes": {"DisplayName": "x"}},
                   {"TopicArn": other_arn})
        found = other.describe_by_id(ctx, other_arn)
    assert found is not None and found.data["Subscriptions"] == [theirs]


def test_a_region_with_more_subscriptions_than_the_batch_lists_each_topics_own(
        config: PlatformConfig) -> None:
    step = TopicStep(config, "team", config.monitoring.topics["team"])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS, batched=True)
        aws.expect("sns", "get_topic_attributes", {"Attributes": {"DisplayName": "x"}},
                   {"TopicArn": ARN})
        aws.expect("resourcegroupstaggingapi", "get_resources", _tagged((step, ARN)))
        aws.expect("sns", "list_subscriptions", {"Subscriptions": [
            {"Protocol": "sqs", "Endpoint": f"e{i}", "SubscriptionArn": f"s{i}",
             "TopicArn": "arn:aws:sns:us-east-1:1:elsewhere"} for i in range(100)],
            "NextToken": "more"}, {})
        aws.expect("sns", "list_subscriptions", {"Subscriptions": [
            {"Protocol": "sqs", "Endpoint": f"e{i}", "SubscriptionArn": f"t{i}",
             "TopicArn": "arn:aws:sns:us-east-1:1:elsewhere"} for i in range(100)],
            "NextToken": "still-more"}, {"NextToken": "more"})
        aws.expect("sns", "list_subscriptions_by_topic", {"Subscriptions": SUBSCRIBED},
                   {"TopicArn": ARN})
        found = step.describe_by_id(ctx, ARN)
    assert found is not None and found.data["Subscriptions"] == SUBSCRIBED
