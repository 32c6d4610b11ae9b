"""The standby Redis in us-west-2 (``dr.cache*``), through the real CLI.

Spec "Disaster Recovery": the failover region runs a standby of the tier,
Redis included.  It is an independent replication group (Global Datastore
needs node types of size large and above; the primary is a cache.t3.small),
with the primary's settings (Redis 7.0, TLS, AUTH from the same secret
value, allkeys-lru) encrypted with the DR key, one node without Multi-AZ
(a cold cache).  Expected values are written here, not read from config, so
a wrong config fails.  One apply serves every assertion; then a re-apply
that changes nothing and a destroy.

What the group's description leaves out (its security groups, parameter
group, engine version: AWS reports them on member clusters) is checked in the
``CreateReplicationGroup`` request the CLI sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws
from tests.e2e.inventory import tags_of

pytestmark = pytest.mark.e2e

DR = "us-west-2"
CACHE = ("--target", "dr.cache*")
ALARMS = ("--target", "dr.alarm.vivr-production-dr-cache-*")
GROUP_ID = "vivr-dr-cache"
SUBNET_GROUP = "vivr-dr-cache-subnet-group"
PARAMETER_GROUP = "vivr-cache-pg"
CACHE_SG = "vivr-dr-cache-sg"
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
STANDBY_STEPS = {"dr.cache-subnet-group", "dr.cache-parameter-group", "dr.cache",
                 "dr.subnet.dr-cache-2a", "dr.subnet.dr-cache-2b", "dr.sg.vivr-dr-cache-sg",
                 "dr.sg-rules.vivr-dr-cache-sg", "dr.kms", "dr.sns.devops",
                 "dr.alarm.vivr-production-dr-cache-not-reporting",
                 "dr.alarm.vivr-production-dr-cache-engine-cpu-high"}


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _tags(aws: Aws, arn: str) -> dict[str, str]:
    reply = aws.client("elasticache", DR).list_tags_for_resource(ResourceName=arn)
    return {t["Key"]: t["Value"] for t in reply["TagList"]}


def _owned(tags: dict[str, str], name: str, step: str) -> None:
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    assert (tags.get("Name"), tags.get("vivr:step")) == (name, step)


def _sent_in(aws: Aws, operation: str, service: str = "elasticache") -> list[dict[str, Any]]:
    calls = [json.loads(line) for line in aws.record_path.read_text().splitlines()]
    return [c for c in calls if c["service"] == service and c["operation"] == operation]


def _assert_group(aws: Aws) -> dict[str, Any]:
    """The standby replication group as boto3 reads it in us-west-2."""
    ec, kms = aws.client("elasticache", DR), aws.client("kms", DR)
    [group] = ec.describe_replication_groups(ReplicationGroupId=GROUP_ID)["ReplicationGroups"]
    assert group["ARN"].split(":")[3] == DR
    assert (group["Status"], group["CacheNodeType"], group["ClusterEnabled"]) == \
        ("available", "cache.t3.small", False)
    [shard] = group["NodeGroups"]
    assert [m["CurrentRole"] for m in shard["NodeGroupMembers"]] == ["primary"], "one node"
    assert (group["MultiAZ"], group["AutomaticFailover"]) == ("disabled", "disabled")
    assert (group["AtRestEncryptionEnabled"], group["TransitEncryptionEnabled"],
            group["AuthTokenEnabled"]) == (True, True, True)
    dr_key = kms.describe_key(KeyId="alias/vivr-production")["KeyMetadata"]
    assert dr_key["Arn"].split(":")[3] == DR
    assert group["KmsKeyId"] == dr_key["Arn"], "encrypted with the DR key (its own region)"
    assert group["SnapshotRetentionLimit"] == 5, "the primary's 5 days"
    assert shard["PrimaryEndpoint"]["Port"] == 6379
    assert not group.get("LogDeliveryConfigurations"), "no log group in us-west-2"
    _owned(_tags(aws, group["ARN"]), GROUP_ID, "dr.cache")
    return dict(group)


def _assert_groups_of_the_cache(aws: Aws) -> None:
    """Subnet group over dr-cache-2a/2b of vivr-dr-vpc, parameter group, security group."""
    ec, ec2 = aws.client("elasticache", DR), aws.client("ec2", DR)
    [subnet_group] = ec.describe_cache_subnet_groups(
        CacheSubnetGroupName=SUBNET_GROUP)["CacheSubnetGroups"]
    subnets = ec2.describe_subnets(SubnetIds=[s["SubnetIdentifier"]
                                              for s in subnet_group["Subnets"]])["Subnets"]
    assert {tags_of(s)["Name"]: (s["CidrBlock"], s["AvailabilityZone"]) for s in subnets} == {
        "dr-cache-2a": ("10.1.30.0/24", "us-west-2a"),
        "dr-cache-2b": ("10.1.31.0/24", "us-west-2b")}
    [vpc] = ec2.describe_vpcs(VpcIds=[subnet_group["VpcId"]])["Vpcs"]
    assert (tags_of(vpc)["Name"], vpc["CidrBlock"]) == ("vivr-dr-vpc", "10.1.0.0/16")
    _owned(_tags(aws, subnet_group["ARN"]), SUBNET_GROUP, "dr.cache-subnet-group")

    [parameters] = ec.describe_cache_parameter_groups(
        CacheParameterGroupName=PARAMETER_GROUP)["CacheParameterGroups"]
    assert parameters["CacheParameterGroupFamily"] == "redis7"
    assert parameters["ARN"].split(":")[3] == DR
    user = ec.describe_cache_parameters(CacheParameterGroupName=PARAMETER_GROUP, Source="user")
    assert {p["ParameterName"]: p["ParameterValue"] for p in user["Parameters"]} == \
        {"maxmemory-policy": "allkeys-lru"}

    [group] = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [CACHE_SG]}])["SecurityGroups"]
    assert group["VpcId"] == vpc["VpcId"]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
    assert {(r["IsEgress"], r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4"))
            for r in rules} == {(False, "tcp", 6379, 6379, "10.1.0.0/16")}, "no egress"


def _assert_create_request(aws: Aws) -> None:
    """What moto does not return, checked in the request sent to us-west-2."""
    [call] = _sent_in(aws, "CreateReplicationGroup")
    sent = call["params"]
    assert call["region"] == DR
    [group] = aws.client("ec2", DR).describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [CACHE_SG]}])["SecurityGroups"]
    assert sent["SecurityGroupIds"] == [group["GroupId"]]
    assert (sent["EngineVersion"], sent["CacheSubnetGroupName"],
            sent["CacheParameterGroupName"]) == ("7.0", SUBNET_GROUP, PARAMETER_GROUP)
    assert (sent["NumNodeGroups"], sent["ReplicasPerNodeGroup"]) == (1, 0)
    assert (sent["MultiAZEnabled"], sent["AutomaticFailoverEnabled"]) == (False, False)
    assert "LogDeliveryConfigurations" not in sent
    secret = aws.client("secretsmanager").get_secret_value(
        SecretId="vivr/production/redis/auth-token")["SecretString"]
    same = sent.pop("AuthToken", None) == secret
    assert same, "the AUTH token sent is not the redis_auth_token secret's value"
    # Read from the secret's replica in us-west-2: no us-east-1 call is needed.
    [read] = [c for c in _sent_in(aws, "GetSecretValue", "secretsmanager")
              if "redis" in c["params"]["SecretId"]]
    assert (read["region"], read["params"]["SecretId"].split(":")[3]) == (DR, DR)


def _assert_alarms(aws: Aws, group: dict[str, Any]) -> None:
    """Two alarms in us-west-2 on the standby's node, to the DR copy of the devops topic."""
    alarms = {a["AlarmName"]: a for a in aws.client("cloudwatch", DR).describe_alarms(
        AlarmNamePrefix="vivr-production-dr-cache-")["MetricAlarms"]}
    topics = [t["TopicArn"] for t in aws.client("sns", DR).list_topics()["Topics"]]
    [devops] = [t for t in topics if t.endswith(":vivr-production-devops-alerts")]
    [member] = group["MemberClusters"]
    watched = {name: (a["Namespace"], a["MetricName"], a["Statistic"], a["ComparisonOperator"],
                      a["Threshold"], a["TreatMissingData"], a["Dimensions"], a["AlarmActions"])
               for name, a in alarms.items()}
    dims = [{"Name": "CacheClusterId", "Value": member}]
    assert watched == {
        "vivr-production-dr-cache-not-reporting": (
            "AWS/ElastiCache", "EngineCPUUtilization", "SampleCount", "LessThanThreshold", 1.0,
            "breaching", dims, [devops]),
        "vivr-production-dr-cache-engine-cpu-high": (
            "AWS/ElastiCache", "EngineCPUUtilization", "Average", "GreaterThanThreshold", 90.0,
            "missing", dims, [devops])}
    assert devops.split(":")[3] == DR, "an alarm notifies only topics of its own region"


def test_standby_redis_applies_in_the_dr_region_reapplies_unchanged_and_destroys(
        aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--yes", *CACHE, *ALARMS)
    assert code == 0, [(s["step"], s["error"]) for s in report["steps"] if s.get("error")]
    actions = _actions(report)
    assert {actions[s] for s in STANDBY_STEPS} == {"created"}
    assert "cache" not in actions, "the primary's cache is not a dependency of the standby"
    assert aws.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []

    group = _assert_group(aws)
    _assert_groups_of_the_cache(aws)
    _assert_create_request(aws)
    _assert_alarms(aws, group)
    # The standby ECS tier reads the endpoint under the primary cache's output keys.
    result = aws.cli("output", "dr_redis_primary_endpoint")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    assert aws.cli("output", "dr_redis_port").stdout.strip() == "6379"
    # dr status reads it live in us-west-2 among the standby's resources.
    code, status = aws.cli_json("dr", "status")
    assert code == 0, status
    assert {k: status["standby"]["redis"][k] for k in ("state", "nodes", "node_type")} == \
        {"state": "available", "nodes": 1, "node_type": "cache.t3.small"}

    # A second apply finds everything as it is and changes nothing.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--yes", *CACHE, *ALARMS)
    assert code == 0, report
    assert set(_actions(report).values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []

    # Destroy: the alarms, the group (with a final snapshot, as the primary's), its groups.
    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes", *CACHE)
    assert code == 0, report
    deleted_steps = {step for step, action in _actions(report).items() if action == "deleted"}
    assert {"dr.cache", "dr.cache-subnet-group", "dr.cache-parameter-group",
            "dr.alarm.vivr-production-dr-cache-not-reporting",
            "dr.alarm.vivr-production-dr-cache-engine-cpu-high"} <= deleted_steps
    [deleted] = _sent_in(aws, "DeleteReplicationGroup")
    assert deleted["region"] == DR
    assert deleted["params"]["FinalSnapshotIdentifier"].startswith(f"{GROUP_ID}-final-")
    ec = aws.client("elasticache", DR)
    assert ec.describe_replication_groups()["ReplicationGroups"] == []
    assert ec.describe_cache_subnet_groups()["CacheSubnetGroups"] == []
    assert PARAMETER_GROUP not in {g["CacheParameterGroupName"] for g in
                                   ec.describe_cache_parameter_groups()["CacheParameterGroups"]}
    assert "elasticache.DeleteCacheSubnetGroup" in aws.mutating_calls(since=mark)
