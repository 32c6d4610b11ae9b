"""Logs reach the spec's groups: RDS exports, ElastiCache log delivery, CloudWatch deliveries.

Read back from the sandbox: the RDS export groups (retention, key) exist
before the instances export to them (request order from the recorded
calls); the replication group's LogDeliveryConfigurations; the delivery
sources, destinations and deliveries of CloudFront and the ALB; the log
delivery resource policy.  ``plan`` says where the spec's database group
went, and destroy removes what it made.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

EXPORT_GROUPS = {  # group -> region (RDS fixes the names: /aws/rds/instance/<id>/postgresql)
    "/aws/rds/instance/vivr-db/postgresql": "us-east-1",
    "/aws/rds/instance/vivr-db-replica-1/postgresql": "us-east-1",
    "/aws/rds/instance/vivr-db-dr/postgresql": "us-west-2",
}
CACHE_GROUP = "/vivr/production/cache"
DR = "us-west-2"


def _ordered_calls(aws: Aws) -> list[dict[str, Any]]:
    return [json.loads(line) for line in aws.record_path.read_text().splitlines()]


def _steps(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in report["steps"]}


def test_database_and_cache_logs_land_in_groups_with_the_spec_retention(aws: Aws) -> None:
    targets = ("--target", "rds.vivr-db-replica-1", "--target", "dr.rds.vivr-db-dr",
               "--target", "cache")
    before = aws.inventory()
    code, report = aws.cli_json("apply", *targets)
    assert code == 0, [(s["step"], s.get("error")) for s in report["steps"] if s.get("error")]

    keys = {region: aws.client("kms", region).describe_key(
        KeyId="alias/vivr-production")["KeyMetadata"]["Arn"] for region in ("us-east-1", DR)}
    for name, region in EXPORT_GROUPS.items():
        groups = aws.client("logs", region).describe_log_groups(
            logGroupNamePrefix=name)["logGroups"]
        assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(name, 7)]
        # Each under its region's key: the DR replica's with the DR key (issue 12).
        assert groups[0].get("kmsKeyId") == keys[region]
    assert not aws.client("logs").describe_log_groups(
        logGroupNamePrefix="/vivr/production/database")["logGroups"]

    # Each group was created (with its retention) before its instance was asked to export.
    calls = [(c["operation"], c["params"]) for c in _ordered_calls(aws)]
    position = {op_key: i for i, op_key in enumerate(
        (op, p.get("logGroupName") or p.get("DBInstanceIdentifier")) for op, p in calls)}
    for instance in ("vivr-db", "vivr-db-replica-1", "vivr-db-dr"):
        group = f"/aws/rds/instance/{instance}/postgresql"
        create = ("CreateDBInstance" if instance == "vivr-db"
                  else "CreateDBInstanceReadReplica", instance)
        assert position[("PutRetentionPolicy", group)] < position[create], instance
        sent = next(p for op, p in calls if (op, p.get("DBInstanceIdentifier")) == create)
        assert sent["EnableCloudwatchLogsExports"] == ["postgresql"]

    ec = aws.client("elasticache")
    group = ec.describe_replication_groups(ReplicationGroupId="vivr-cache")["ReplicationGroups"][0]
    assert {(c["LogType"], c["DestinationType"],
             c["DestinationDetails"]["CloudWatchLogsDetails"]["LogGroup"], c["LogFormat"])
            for c in group["LogDeliveryConfigurations"]} == {
        ("slow-log", "cloudwatch-logs", CACHE_GROUP, "json"),
        ("engine-log", "cloudwatch-logs", CACHE_GROUP, "json")}
    policies = {p["policyName"]: json.loads(p["policyDocument"]) for p in
                aws.client("logs").describe_resource_policies()["resourcePolicies"]}
    statement = policies["vivr-production-log-delivery"]["Statement"][0]
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert f"log-group:{CACHE_GROUP}:log-stream:*" in " ".join(statement["Resource"])
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": aws.account}

    # Each key admits CloudWatch Logs of its region for exactly the groups it encrypts.
    for region, instance in (("us-east-1", "vivr-db"), (DR, "vivr-db-dr")):
        policy = json.loads(aws.client("kms", region).get_key_policy(
            KeyId=keys[region], PolicyName="default")["Policy"])
        logs_statement = next(s for s in policy["Statement"]
                              if s["Sid"] == "CloudWatchLogsOfThisEnvironment")
        assert logs_statement["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
        admitted = logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        assert (f"arn:aws:logs:{region}:{aws.account}:log-group:/aws/rds/instance/{instance}/"
                "postgresql") in admitted
        assert all("*" not in arn for arn in admitted)

    # Engine log switched off behind the tool's back: reported, then converged.
    ec.modify_replication_group(ReplicationGroupId="vivr-cache", ApplyImmediately=True,
                                LogDeliveryConfigurations=[{"LogType": "engine-log",
                                                            "Enabled": False}])
    code, report = aws.cli_json("plan", "--target", "cache", "--target", "logs.vivr-db.postgresql")
    assert [c.split(":", 1)[0] for c in _steps(report)["cache"]["changes"]] == ["log_delivery"]
    # plan says where the spec's database group went.
    notes = _steps(report)["logs.vivr-db.postgresql"]["notes"]
    assert any("/vivr/production/database" in n and "/aws/rds/instance/vivr-db/postgresql" in n
               for n in notes), notes
    code, report = aws.cli_json("apply", "--target", "cache")
    assert code == 0 and _steps(report)["cache"]["action"] == "updated", report
    sent = aws.requests("ModifyReplicationGroup")[-1]
    assert sent["ApplyImmediately"] is True
    assert [c["LogType"] for c in sent["LogDeliveryConfigurations"]] == ["slow-log", "engine-log"]

    code, report = aws.cli_json("destroy", "--yes", "--skip-final-snapshot",
                                "--disable-deletion-protection", *targets,
                                "--target", "dr.logs.vivr-db-dr.postgresql",  # keyless
                                "--target", "logs-delivery-policy", "--target", "kms")
    assert code == 0, [(s["step"], s.get("error")) for s in report["steps"] if s.get("error")]
    after = aws.inventory()
    for region in ("us-east-1", "us-west-2"):
        assert after[region]["log_groups"] == before[region]["log_groups"]
    assert "vivr-production-log-delivery" not in {
        p["policyName"] for p in aws.client("logs").describe_resource_policies()[
            "resourcePolicies"]}


def test_cloudfront_and_alb_access_logs_are_delivered_into_their_groups(aws: Aws) -> None:
    targets = ("--target", "log-delivery.cloudfront", "--target", "log-delivery.alb")
    code, report = aws.cli_json("apply", *targets)
    assert code == 0, [(s["step"], s.get("error")) for s in report["steps"] if s.get("error")]
    logs = aws.client("logs")
    distribution = aws.client("cloudfront").list_distributions()["DistributionList"]["Items"][0]
    balancer = aws.client("elbv2").describe_load_balancers(Names=["vivr-alb"])[
        "LoadBalancers"][0]
    expected = {
        "vivr-production-cdn-access-logs": (distribution["ARN"], "ACCESS_LOGS",
                                            "vivr-production-cloudfront-logs",
                                            "/vivr/production/cloudfront"),
        "vivr-production-alb-access-logs": (balancer["LoadBalancerArn"], "ALB_ACCESS_LOGS",
                                            "vivr-production-alb-logs", "/vivr/production/alb"),
    }
    deliveries = {d["deliverySourceName"]: d for d in logs.describe_deliveries()["deliveries"]}
    assert set(deliveries) == set(expected)
    for source_name, (resource_arn, log_type, destination_name, group) in expected.items():
        source = logs.get_delivery_source(name=source_name)["deliverySource"]
        assert (source["resourceArns"], source["logType"]) == ([resource_arn], log_type)
        assert source["tags"]["ManagedBy"] == "vivr-provision"
        destination = logs.get_delivery_destination(name=destination_name)["deliveryDestination"]
        group_arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0][
            "logGroupArn"]
        assert destination["deliveryDestinationConfiguration"] == {
            "destinationResourceArn": group_arn}
        assert destination["outputFormat"] == "json"
        assert deliveries[source_name]["deliveryDestinationArn"] == destination["arn"]
    policy = {p["policyName"]: p for p in logs.describe_resource_policies()["resourcePolicies"]}
    streams = json.loads(policy["vivr-production-log-delivery"]["policyDocument"])[
        "Statement"][0]["Resource"]
    assert {s.split(":log-group:")[1] for s in streams} == {
        f"{g}:log-stream:*" for g in ("/vivr/production/alb", "/vivr/production/cache",
                                      "/vivr/production/cloudfront",
                                      "aws-waf-logs-vivr-production",  # waf-logging
                                      # issue 12: the Redis export's Step Functions logs
                                      "/aws/vendedlogs/states/vivr-production-redis-export")}

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *targets)
    assert code == 0 and aws.mutating_calls(since=mark) == []

    # A delivery deleted behind the tool's back is re-created; the source is kept.
    logs.delete_delivery(id=deliveries["vivr-production-alb-access-logs"]["id"])
    code, report = aws.cli_json("apply", *targets)
    assert _steps(report)["log-delivery.alb"]["action"] == "updated", report
    assert {d["deliverySourceName"] for d in logs.describe_deliveries()["deliveries"]} == \
        set(expected)

    # Destroy removes the deliveries before the distribution, the balancer and the groups
    # (the sandbox, like AWS, refuses to delete a source a delivery still uses).
    code, report = aws.cli_json("destroy", "--yes", "--target", "logs.cloudfront",
                                "--target", "logs.alb", "--target", "cloudfront")
    assert code == 0, [(s["step"], s.get("error")) for s in report["steps"] if s.get("error")]
    assert logs.describe_deliveries()["deliveries"] == []
    assert logs.describe_delivery_sources()["deliverySources"] == []
    assert logs.describe_delivery_destinations()["deliveryDestinations"] == []
