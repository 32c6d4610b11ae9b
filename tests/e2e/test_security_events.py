"""Issue 12 through the real CLI: encrypted alert topics, protected replicas, RDS events.

One apply of the two event subscriptions pulls everything they stand on
(the devops topics of both regions and their keys, the primary and both
replicas), and every setting is read back from the sandbox.  Expected
values are written here (the topic and subscription names, the replicas'
identifiers, the publishers' principals), not read from config, so a wrong
config fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

PRIMARY, DR = "us-east-1", "us-west-2"
TARGETS = ("--target", "rds-events", "--target", "dr.rds-events")
DEVOPS = "vivr-production-devops-alerts"
SUBSCRIPTION = "vivr-production-db-events"
#: The services that publish to the topics: CloudWatch alarms and RDS events.
PUBLISHERS = {"cloudwatch.amazonaws.com", "events.rds.amazonaws.com"}


def _topic(aws: Aws, region: str) -> str:
    [arn] = [t["TopicArn"] for t in aws.client("sns", region).list_topics()["Topics"]
             if t["TopicArn"].endswith(f":{DEVOPS}")]
    return str(arn)


def _publishers(aws: Aws, region: str, key_id: str) -> dict[str, Any]:
    policy = json.loads(aws.client("kms", region).get_key_policy(
        KeyId=key_id, PolicyName="default")["Policy"])
    [grant] = [s for s in policy["Statement"]
               if set(s["Principal"].get("Service") or []) == PUBLISHERS]
    return dict(grant)


def test_topics_are_encrypted_replicas_protected_and_rds_events_reach_devops(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, [(s["step"], s["error"]) for s in report["steps"] if s["error"]]

    for region in (PRIMARY, DR):
        key = aws.client("kms", region).describe_key(KeyId="alias/vivr-production")["KeyMetadata"]
        assert key["Arn"].split(":")[3] == region, "a topic's key is in the topic's region"
        topic = _topic(aws, region)
        attributes = aws.client("sns", region).get_topic_attributes(TopicArn=topic)["Attributes"]
        assert attributes["KmsMasterKeyId"] == key["Arn"]
        grant = _publishers(aws, region, key["KeyId"])
        assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": aws.account}}

        replicas = {PRIMARY: "vivr-db-replica-1", DR: "vivr-db-dr"}
        [replica] = aws.client("rds", region).describe_db_instances(
            DBInstanceIdentifier=replicas[region])["DBInstances"]
        assert replica["DeletionProtection"] is True

        [subscription] = aws.client("rds", region).describe_event_subscriptions(
            SubscriptionName=SUBSCRIPTION)["EventSubscriptionsList"]
        assert subscription["SnsTopicArn"] == topic, "to that region's DevOps topic"
        assert subscription["SourceType"] == "db-instance"
        sources = {PRIMARY: ["vivr-db", "vivr-db-replica-1"], DR: ["vivr-db-dr"]}
        assert sorted(subscription["SourceIdsList"]) == sources[region]
        # Every category (failure, failover, low storage, maintenance ...): none named.
        assert subscription.get("EventCategoriesList", []) == []
        assert subscription["Enabled"] is True

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0 and aws.mutating_calls(since=mark) == [], "re-apply only reads"
