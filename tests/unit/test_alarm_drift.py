"""Alarm drift from one field table: plan's changes, and one PutMetricAlarm however many drift."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.monitoring import AlarmStep

NAME = "vivr-production-db-connections"
ARN = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{NAME}"


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> AlarmStep:
    [alarm] = [a for a in config.monitoring.alarms if a.name == NAME]
    return AlarmStep(config, alarm)


def _outputs(step: AlarmStep) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {
        s: {"topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:{s}"} for s in step.topic_steps}
    outputs["rds.vivr-db"] = {"identifier": "vivr-db"}
    return outputs


def _as_described(step: AlarmStep, aws: StubbedAws, **changes: Any) -> dict[str, Any]:
    """What DescribeAlarms answers for an alarm created exactly as configured."""
    request = step.request(aws.context(step.config, _outputs(step)))
    return {**request, "AlarmArn": ARN, "TagMap": step.tags(), **changes}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"Threshold": 170.0}, ["Threshold"]),
    ({"Threshold": 170.0, "EvaluationPeriods": 3, "TreatMissingData": "ignore"},
     ["EvaluationPeriods", "Threshold", "TreatMissingData"]),
    ({"TagMap": {}}, ["tags"]),
])
def test_plan_lists_each_drifted_setting(config: PlatformConfig, edits: dict[str, Any],
                                         expected: list[str]) -> None:
    step = _step(config)
    with StubbedAws() as aws:  # comparing reads nothing from AWS
        data = _as_described(step, aws, **edits)
        changes = step.diff(aws.context(config, _outputs(step)), Resource(ARN, data))
    assert sorted(c.field for c in changes) == expected


def test_apply_sends_one_put_metric_alarm_for_every_setting_and_tags_apart(
        config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, _outputs(step))
        drifted = _as_described(step, aws, Threshold=170.0, EvaluationPeriods=3, TagMap={})
        changes = step.diff(ctx, Resource(ARN, drifted))
        assert len(changes) == 3
        aws.expect("cloudwatch", "tag_resource", {}, {
            "ResourceARN": ARN, "Tags": [{"Key": k, "Value": v}
                                         for k, v in sorted(step.tags().items())]})
        aws.expect("cloudwatch", "put_metric_alarm", {}, step.request(ctx))
        aws.expect("cloudwatch", "describe_alarms", {"MetricAlarms": [
            {k: v for k, v in drifted.items() if k != "TagMap"}]}, {"AlarmNames": [NAME]})
        aws.expect("cloudwatch", "list_tags_for_resource", {"Tags": [
            {"Key": k, "Value": v} for k, v in step.tags().items()]}, {"ResourceARN": ARN})
        step.update(ctx, Resource(ARN, drifted), changes)


def test_a_cache_alarm_reads_its_members_once_per_plan(config: PlatformConfig) -> None:
    """The wanted view comes from the request, which asks ElastiCache for the members:
    one DescribeReplicationGroups per comparison, not one per compared setting."""
    [template] = [a for a in config.monitoring.alarms if a.name == NAME]
    alarm = template.model_copy(update={"name": "vivr-production-cache-cpu",
                                        "resource": "redis", "namespace": "AWS/ElastiCache"})
    step = AlarmStep(config, alarm)
    outputs = {**_outputs(step), "cache": {"replication_group_id": "vivr-cache"}}
    members = {"ReplicationGroups": [{"ReplicationGroupId": "vivr-cache",
                                      "MemberClusters": ["vivr-cache-001", "vivr-cache-002"]}]}
    with StubbedAws() as aws:
        ctx = aws.context(config, outputs)
        aws.expect("elasticache", "describe_replication_groups", members,
                   {"ReplicationGroupId": "vivr-cache"})
        described = {**step.request(ctx), "AlarmArn": ARN, "TagMap": step.tags()}
        aws.expect("elasticache", "describe_replication_groups", members,
                   {"ReplicationGroupId": "vivr-cache"})
        assert step.diff(ctx, Resource(ARN, described)) == []


def test_a_cache_alarm_takes_the_members_the_cache_step_read_this_run(
        config: PlatformConfig) -> None:
    """With the cache step's ``member_clusters`` output, no DescribeReplicationGroups."""
    [template] = [a for a in config.monitoring.alarms if a.name == NAME]
    alarm = template.model_copy(update={"name": "vivr-production-cache-cpu",
                                        "resource": "redis", "namespace": "AWS/ElastiCache"})
    step = AlarmStep(config, alarm)
    outputs = {**_outputs(step), "cache": {
        "replication_group_id": "vivr-cache",
        "member_clusters": ["vivr-cache-002", "vivr-cache-001"]}}
    with StubbedAws() as aws:  # no call announced: any call fails the test
        ctx = aws.context(config, outputs)
        assert [d[0]["Value"] for d in step.dimension_sets(ctx)] == [
            "vivr-cache-001", "vivr-cache-002"]
