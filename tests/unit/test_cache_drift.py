"""ElastiCache drift on the drift engine: subnet group, parameter group, replication group.

Each case is AWS's description (edits of a converged one), a config
override, and the changes plan shows; converging cases also announce the
exact requests update sends (``Stubber`` checks every parameter and the
order).  What ModifyReplicationGroup changes in place (ApplyImmediately)
and what only a new group can change is pinned by the ``replace`` flags.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.drift import NAME_KEY
from vivr_provision.steps.elasticache import (
    CacheParameterGroupStep,
    CacheStep,
    CacheSubnetGroupStep,
)
from vivr_provision.steps.log_delivery import cache_log_deliveries

PREFIX = f"arn:aws:elasticache:us-east-1:{ACCOUNT}"
SUBNET_GROUP = "vivr-cache-subnet-group"
SUBNET_ARN = f"{PREFIX}:subnetgroup:{SUBNET_GROUP}"
PARAMETER_GROUP = "vivr-cache-pg"
PARAMETER_ARN = f"{PREFIX}:parametergroup:{PARAMETER_GROUP}"
GROUP_ID = "vivr-cache"
GROUP_ARN = f"{PREFIX}:replicationgroup:{GROUP_ID}"
MEMBER = "vivr-cache-001"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:vivr/production/redis-AbCdEf"
OUTPUTS: dict[str, dict[str, Any]] = {
    "subnet.cache-1a": {"subnet_id": "subnet-a"},
    "subnet.cache-1b": {"subnet_id": "subnet-b"},
    "cache-subnet-group": {"name": SUBNET_GROUP},
    "cache-parameter-group": {"name": PARAMETER_GROUP},
    "kms": {"key_arn": KEY_ARN, "key_id": KEY_ID},
    "sg.vivr-cache-sg": {"group_id": "sg-cache"},
    "secret.redis_auth_token": {"arn": SECRET_ARN},
}

Expected = list[tuple[str, Any, Any, bool]]


def _config(**redis: Any) -> PlatformConfig:
    """The production config with ``redis`` settings overridden."""
    config = production_config()
    return config.model_copy(update={"redis": config.redis.model_copy(update=redis)})


def _shown(changes: list[Any]) -> Expected:
    assert all(c.when == "" for c in changes), "ElastiCache applies everything at once"
    return [(c.field, c.current, c.desired, c.replace) for c in changes]


def _described(data: dict[str, Any]) -> dict[str, Any]:
    """What AWS returns: the step's description without what the step adds."""
    return {k: v for k, v in data.items()
            if k not in ("TagMap", "Member", "UserParameters", NAME_KEY)}


# --------------------------------------------------------------------------- subnet group


def _subnet_group(step: CacheSubnetGroupStep, **edits: Any) -> dict[str, Any]:
    return {"CacheSubnetGroupName": SUBNET_GROUP, "ARN": SUBNET_ARN, "VpcId": "vpc-1",
            "CacheSubnetGroupDescription": "VIVR cache subnets",
            # AWS lists the subnets in its own order.
            "Subnets": [{"SubnetIdentifier": "subnet-b"}, {"SubnetIdentifier": "subnet-a"}],
            "TagMap": step.tags(), NAME_KEY: SUBNET_GROUP, **edits}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"CacheSubnetGroupDescription": "edited"},
     [("description", "edited", "VIVR cache subnets", False)]),
    ({"Subnets": [{"SubnetIdentifier": "subnet-c"}, {"SubnetIdentifier": "subnet-a"}]},
     [("subnets", ["subnet-a", "subnet-c"], ["subnet-a", "subnet-b"], False)]),
    # Only our tags count: others' tags are left alone.
    ({"TagMap": {"team": "theirs"}}, "tags"),
    # Renamed in the config: the group state recorded is another resource.
    ({"CacheSubnetGroupName": "vivr-old-subnets", NAME_KEY: "vivr-old-subnets"},
     [("name", "vivr-old-subnets", SUBNET_GROUP, True)]),
])
def test_subnet_group_drift(edits: dict[str, Any], expected: Expected | str) -> None:
    config = production_config()
    step = CacheSubnetGroupStep(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(SUBNET_GROUP, _subnet_group(step, **edits)))
    if expected == "tags":
        expected = [("tags", dict.fromkeys(step.tags()), step.tags(), False)]
    assert _shown(changes) == expected


def test_subnet_group_description_and_subnets_go_in_one_modify_and_tags_apart() -> None:
    config = production_config()
    step = CacheSubnetGroupStep(config)
    drifted = _subnet_group(step, CacheSubnetGroupDescription="edited", TagMap={},
                            Subnets=[{"SubnetIdentifier": "subnet-c"}])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(SUBNET_GROUP, drifted))
        assert [c.field for c in changes] == ["tags", "description", "subnets"]
        aws.expect("elasticache", "add_tags_to_resource", {}, {
            "ResourceName": SUBNET_ARN, "Tags": aws_tags(step.tags())})
        aws.expect("elasticache", "modify_cache_subnet_group", {}, {
            "CacheSubnetGroupName": SUBNET_GROUP,
            "CacheSubnetGroupDescription": "VIVR cache subnets",
            "SubnetIds": ["subnet-a", "subnet-b"]})
        aws.expect("elasticache", "describe_cache_subnet_groups",
                   {"CacheSubnetGroups": [_described(_subnet_group(step))]},
                   {"CacheSubnetGroupName": SUBNET_GROUP})
        aws.expect("elasticache", "list_tags_for_resource",
                   {"TagList": aws_tags(step.tags())}, {"ResourceName": SUBNET_ARN})
        updated = step.update(ctx, Resource(SUBNET_GROUP, drifted), changes)
    assert updated.data["TagMap"] == step.tags()


def test_a_group_renamed_in_the_config_is_read_under_the_recorded_name() -> None:
    config = production_config()
    step = CacheSubnetGroupStep(config)
    old = _described(_subnet_group(step, CacheSubnetGroupName="vivr-old-subnets"))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("elasticache", "describe_cache_subnet_groups", {"CacheSubnetGroups": [old]},
                   {"CacheSubnetGroupName": "vivr-old-subnets"})
        aws.expect("elasticache", "list_tags_for_resource",
                   {"TagList": aws_tags(step.tags())}, {"ResourceName": SUBNET_ARN})
        found = step.find(ctx, "vivr-old-subnets")
        assert found is not None and found.id == "vivr-old-subnets"
        assert _shown(step.diff(ctx, found)) == [
            ("name", "vivr-old-subnets", SUBNET_GROUP, True)]


# --------------------------------------------------------------------------- parameter group


def _parameter_group(step: CacheParameterGroupStep, **edits: Any) -> dict[str, Any]:
    return {"CacheParameterGroupName": PARAMETER_GROUP, "ARN": PARAMETER_ARN,
            "CacheParameterGroupFamily": "redis7", "Description": "VIVR Redis 7 parameters",
            "TagMap": step.tags(), NAME_KEY: PARAMETER_GROUP, **edits}


def _user_parameters(aws: StubbedAws, values: dict[str, str]) -> None:
    aws.expect("elasticache", "describe_cache_parameters", {"Parameters": [
        {"ParameterName": k, "ParameterValue": v, "Source": "user"} for k, v in values.items()]},
        {"CacheParameterGroupName": PARAMETER_GROUP, "Source": "user"})


CONVERGED = {"maxmemory-policy": "allkeys-lru"}


@pytest.mark.parametrize(("edits", "parameters", "expected"), [
    ({}, CONVERGED, []),
    ({}, {"maxmemory-policy": "volatile-lru"},
     [("parameters", {"maxmemory-policy": "volatile-lru"}, CONVERGED, False)]),
    ({}, {}, [("parameters", {"maxmemory-policy": None}, CONVERGED, False)]),
    # Set by hand, absent from the config: reset to the engine default.
    ({}, {**CONVERGED, "timeout": "30"},
     [("extra_parameters", {"timeout": "30"}, "engine default", False)]),
    # ModifyCacheParameterGroup only takes values: family and description need a new group.
    ({"CacheParameterGroupFamily": "redis6.x"}, CONVERGED,
     [("family", "redis6.x", "redis7", True)]),
    ({"Description": "edited"}, CONVERGED,
     [("description", "edited", "VIVR Redis 7 parameters", True)]),
])
def test_parameter_group_drift(edits: dict[str, Any], parameters: dict[str, str],
                               expected: Expected) -> None:
    config = production_config()
    step = CacheParameterGroupStep(config)
    with StubbedAws() as aws:
        _user_parameters(aws, parameters)
        changes = step.diff(aws.context(config),
                            Resource(PARAMETER_GROUP, _parameter_group(step, **edits)))
    assert _shown(changes) == expected


def test_parameter_values_are_set_extras_reset_in_chunks_of_20_and_tags_apart() -> None:
    config = production_config()
    step = CacheParameterGroupStep(config)
    extras = {f"p{n:02d}": "1" for n in range(25)}
    drifted = _parameter_group(step, TagMap={})
    with StubbedAws() as aws:
        ctx = aws.context(config)
        _user_parameters(aws, {"maxmemory-policy": "volatile-lru", **extras})
        changes = step.diff(ctx, Resource(PARAMETER_GROUP, drifted))
        assert [c.field for c in changes] == ["tags", "parameters", "extra_parameters"]
        aws.expect("elasticache", "add_tags_to_resource", {}, {
            "ResourceName": PARAMETER_ARN, "Tags": aws_tags(step.tags())})
        aws.expect("elasticache", "modify_cache_parameter_group", {}, {
            "CacheParameterGroupName": PARAMETER_GROUP, "ParameterNameValues": [
                {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}]})
        for chunk in (sorted(extras)[:20], sorted(extras)[20:]):
            aws.expect("elasticache", "reset_cache_parameter_group", {}, {
                "CacheParameterGroupName": PARAMETER_GROUP, "ResetAllParameters": False,
                "ParameterNameValues": [{"ParameterName": name} for name in chunk]})
        aws.expect("elasticache", "describe_cache_parameter_groups",
                   {"CacheParameterGroups": [_described(_parameter_group(step))]},
                   {"CacheParameterGroupName": PARAMETER_GROUP})
        aws.expect("elasticache", "list_tags_for_resource",
                   {"TagList": aws_tags(step.tags())}, {"ResourceName": PARAMETER_ARN})
        step.update(ctx, Resource(PARAMETER_GROUP, drifted), changes)


# --------------------------------------------------------------------------- replication group


def _member(**edits: Any) -> dict[str, Any]:
    """A member cache cluster as DescribeCacheClusters reports it, converged."""
    return {"CacheClusterId": MEMBER, "EngineVersion": "7.0.7",
            "PreferredMaintenanceWindow": "sun:06:00-sun:07:00",
            "SecurityGroups": [{"SecurityGroupId": "sg-cache", "Status": "active"}],
            "CacheParameterGroup": {"CacheParameterGroupName": PARAMETER_GROUP},
            "CacheSubnetGroupName": SUBNET_GROUP, **edits}


def _group(config: PlatformConfig, **edits: Any) -> dict[str, Any]:
    """The replication group as the step reads it (with ``TagMap`` and ``Member``), converged."""
    redis = config.redis
    return {"ReplicationGroupId": GROUP_ID, "ARN": GROUP_ARN, "Status": "available",
            "Description": redis.description, "CacheNodeType": redis.node_type,
            "AutomaticFailover": "enabled", "MultiAZ": "enabled", "SnapshotRetentionLimit": 5,
            "SnapshotWindow": redis.snapshot_window, "AuthTokenEnabled": True,
            "ClusterEnabled": False, "AtRestEncryptionEnabled": True,
            "TransitEncryptionEnabled": True, "KmsKeyId": KEY_ARN,
            "MemberClusters": [MEMBER],
            "NodeGroups": [{"PrimaryEndpoint": {"Address": "p", "Port": 6379},
                            "NodeGroupMembers": [{}, {}]}],
            # Slow and engine log into the cache group, as configured.
            "LogDeliveryConfigurations": _delivering(config),
            "TagMap": CacheStep(config).tags(), "Member": _member(), NAME_KEY: GROUP_ID,
            **edits}


def _delivering(config: PlatformConfig) -> list[dict[str, Any]]:
    """The configured deliveries as DescribeReplicationGroups reports them."""
    return [{**{k: v for k, v in c.items() if k != "Enabled"}, "Status": "active"}
            for c in cache_log_deliveries(config)]



SLOW_AND_ENGINE = {t: ["cloudwatch-logs", "/vivr/production/cache", "json"]
                   for t in ("slow-log", "engine-log")}

#: (edits of the group, edits of its member, config override, expected changes)
GROUP_CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], Expected]] = [
    ({}, {}, {}, []),
    # In place, with ModifyReplicationGroup.
    ({"Description": "x"}, {}, {},
     [("description", "x", "VIVR cache (sessions, products, carts, rate limits)", False)]),
    ({"CacheNodeType": "cache.t3.micro"}, {}, {},
     [("node_type", "cache.t3.micro", "cache.t3.small", False)]),
    ({"AutomaticFailover": "disabling", "MultiAZ": "disabled"}, {}, {},
     [("automatic_failover", False, True, False), ("multi_az", False, True, False)]),
    ({"AutomaticFailover": "enabling"}, {}, {}, []),
    ({"SnapshotRetentionLimit": 1, "SnapshotWindow": "01:00-02:00"}, {}, {},
     [("snapshot_retention_days", 1, 5, False),
      ("snapshot_window", "01:00-02:00", "04:00-05:00", False)]),
    # Without snapshots the window is not judged.
    ({"SnapshotRetentionLimit": 0, "SnapshotWindow": "01:00-02:00"}, {},
     {"snapshot_retention_days": 0}, []),
    # AUTH added in place (ROTATE); taken away only by a new group.
    ({"AuthTokenEnabled": False}, {}, {}, [("auth_token", False, True, False)]),
    ({}, {}, {"auth_token": False}, [("auth_token", True, False, True)]),
    ({"NodeGroups": [{"PrimaryEndpoint": {"Port": 6379}, "NodeGroupMembers": [{}]}]}, {}, {},
     [("replicas", [0], 1, False)]),
    ({"LogDeliveryConfigurations": []}, {}, {},
     [("log_delivery", {}, SLOW_AND_ENGINE, False)]),
    # Replacements: AWS cannot change these in place.
    ({"NodeGroups": []}, {}, {}, [("shards", 0, 1, True)]),
    ({"ClusterEnabled": True}, {}, {}, [("cluster_mode_enabled", True, False, True)]),
    ({"AtRestEncryptionEnabled": False}, {}, {}, [("at_rest_encryption", False, True, True)]),
    ({"TransitEncryptionEnabled": False}, {}, {},
     [("transit_encryption", False, True, True)]),
    ({"NodeGroups": [{"PrimaryEndpoint": {"Port": 6380}, "NodeGroupMembers": [{}, {}]}]},
     {}, {}, [("port", 6380, 6379, True)]),
    # The key by id, or by an ARN ending in its id, is the configured key.
    ({"KmsKeyId": KEY_ID}, {}, {}, []),
    ({"KmsKeyId": f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{KEY_ID}"}, {}, {}, []),
    ({"KmsKeyId": "arn:aws:kms:us-east-1:1:key/other"}, {}, {},
     [("kms_key", "arn:aws:kms:us-east-1:1:key/other", KEY_ARN, True)]),
    ({"KmsKeyId": "arn:aws:kms:us-east-1:1:key/other"}, {}, {"at_rest_encryption": False},
     [("at_rest_encryption", True, False, True)]),
    # Member cache cluster settings.
    ({}, {"EngineVersion": "7.0.15"}, {}, []),
    ({}, {"EngineVersion": "7.1.0"}, {"engine_version": "7"}, []),    # any 7.x
    ({}, {"EngineVersion": "7.0.7"}, {"engine_version": "7.1"},
     [("engine_version", "7.0.7", "7.1", False)]),                     # upgrade in place
    ({}, {"EngineVersion": "7.1.0"}, {}, [("engine_version", "7.1.0", "7.0", True)]),  # down
    ({}, {"EngineVersion": "6.2.6"}, {}, [("engine_version", "6.2.6", "7.0", True)]),  # major
    ({}, {"SecurityGroups": [{"SecurityGroupId": "sg-cache", "Status": "active"},
                             {"SecurityGroupId": "sg-old", "Status": "removing"}]}, {}, []),
    ({}, {"SecurityGroups": [{"SecurityGroupId": "sg-other", "Status": "active"}]}, {},
     [("security_groups", ["sg-other"], ["sg-cache"], False)]),
    ({}, {"CacheParameterGroup": {"CacheParameterGroupName": "default.redis7"}}, {},
     [("parameter_group", "default.redis7", PARAMETER_GROUP, False)]),
    ({}, {"PreferredMaintenanceWindow": "SUN:06:00-SUN:07:00"}, {}, []),
    ({}, {"PreferredMaintenanceWindow": "mon:01:00-mon:02:00"}, {},
     [("maintenance_window", "mon:01:00-mon:02:00", "sun:06:00-sun:07:00", False)]),
    ({}, {"CacheSubnetGroupName": "other"}, {}, [("subnet_group", "other", SUBNET_GROUP, True)]),
    # Not judged: no member described, tags not listable, no endpoint port.
    ({"Member": None, "TagMap": None, "NodeGroups": [{"NodeGroupMembers": [{}, {}]}]}, {}, {},
     []),
    ({"ReplicationGroupId": "vivr-old-cache", NAME_KEY: "vivr-old-cache"}, {}, {},
     [("name", "vivr-old-cache", GROUP_ID, True)]),
    # A group being deleted (or failed) has to go first: nothing else is judged.
    ({"Status": "deleting", "Description": "x"}, {}, {},
     [("status", "deleting", "available", True)]),
]


@pytest.mark.parametrize(("edits", "member", "redis", "expected"), GROUP_CASES)
def test_replication_group_drift(edits: dict[str, Any], member: dict[str, Any],
                                 redis: dict[str, Any], expected: Expected) -> None:
    config = _config(**redis)
    data = _group(config, **edits)
    if member:
        data["Member"] = _member(**member)
    with StubbedAws() as aws:  # comparing reads nothing
        changes = CacheStep(config).diff(aws.context(config, OUTPUTS), Resource(GROUP_ID, data))
    assert _shown(changes) == expected


def test_replication_group_tags_are_ours_only() -> None:
    config = production_config()
    step = CacheStep(config)
    tags = {**step.tags(), "CostCenter": "someone-else", "team": "theirs"}
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(GROUP_ID, _group(config, TagMap=tags)))
    assert _shown(changes) == [("tags", {"CostCenter": "someone-else"},
                                {"CostCenter": "vivr-ecommerce"}, False)]


def test_member_cluster_drift_is_classified_update_or_replace() -> None:
    """Settings AWS reports on member cache clusters (moto lists none): which apply
    converges in place and which it refuses as a replacement.  Moved from tests/e2e."""
    config = production_config()
    drifted = _member(EngineVersion="6.2.6", PreferredMaintenanceWindow="mon:01:00-mon:02:00",
                      SecurityGroups=[{"SecurityGroupId": "sg-other", "Status": "active"}],
                      CacheParameterGroup={"CacheParameterGroupName": "default.redis7"},
                      CacheSubnetGroupName="other")
    data = _group(config, Member=drifted, KmsKeyId="arn:aws:kms:us-east-1:1:key/k2",
                  NodeGroups=[{"NodeGroupMembers": [{}]}])
    with StubbedAws() as aws:
        changes = CacheStep(config).diff(aws.context(config, OUTPUTS), Resource(GROUP_ID, data))
    assert {c.field: c.replace for c in changes} == {
        "engine_version": True,        # a major version change is a new group
        "security_groups": False, "parameter_group": False, "maintenance_window": False,
        "subnet_group": True, "kms_key": True, "replicas": False,
    }


# -- converging: the requests, in order -----------------------------------------------------


def _available(aws: StubbedAws) -> None:
    """One poll of the replication_group_available waiter, answered ``available``."""
    aws.expect("elasticache", "describe_replication_groups",
               {"ReplicationGroups": [{"Status": "available"}]}, {"ReplicationGroupId": GROUP_ID})


def _modify(aws: StubbedAws, **params: Any) -> None:
    _available(aws)
    aws.expect("elasticache", "modify_replication_group", {}, {
        "ReplicationGroupId": GROUP_ID, "ApplyImmediately": True, **params})


def _replicas(aws: StubbedAws, operation: str, count: int) -> None:
    _available(aws)
    aws.expect("elasticache", operation, {}, {"ReplicationGroupId": GROUP_ID,
                                              "NewReplicaCount": count,
                                              "ApplyImmediately": True})


def _reread(aws: StubbedAws, config: PlatformConfig) -> None:
    """The re-read after an update: group, its tags, its first member."""
    group = _described(_group(config))
    aws.expect("elasticache", "describe_replication_groups", {"ReplicationGroups": [group]},
               {"ReplicationGroupId": GROUP_ID})
    aws.expect("elasticache", "list_tags_for_resource",
               {"TagList": aws_tags(CacheStep(config).tags())}, {"ResourceName": GROUP_ARN})
    aws.expect("elasticache", "describe_cache_clusters", {"CacheClusters": [_member()]},
               {"CacheClusterId": MEMBER})


def _update(config: PlatformConfig, data: dict[str, Any], fields: list[str],
            announce: Any) -> Resource:
    step = CacheStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(GROUP_ID, data))
        assert [c.field for c in changes] == fields
        announce(aws)
        _reread(aws, config)
        return step.update(ctx, Resource(GROUP_ID, data), changes)


def test_in_place_settings_go_in_one_modify_and_tags_last() -> None:
    config = production_config()
    member = _member(SecurityGroups=[], PreferredMaintenanceWindow="mon:01:00-mon:02:00",
                     CacheParameterGroup={"CacheParameterGroupName": "default.redis7"})
    data = _group(config, Description="x", SnapshotRetentionLimit=1, TagMap={},
                  LogDeliveryConfigurations=[{"LogType": "slow-log", "Status": "active",
                                              "DestinationType": "kinesis-firehose"}],
                  Member=member)

    def announce(aws: StubbedAws) -> None:
        _modify(aws, ReplicationGroupDescription=config.redis.description,
                SnapshotRetentionLimit=5, SecurityGroupIds=["sg-cache"],
                CacheParameterGroupName=PARAMETER_GROUP,
                PreferredMaintenanceWindow="sun:06:00-sun:07:00",
                LogDeliveryConfigurations=cache_log_deliveries(config))
        _available(aws)
        aws.expect("elasticache", "add_tags_to_resource", {}, {
            "ResourceName": GROUP_ARN, "Tags": aws_tags(CacheStep(config).tags())})

    updated = _update(config, data, ["tags", "description", "snapshot_retention_days",
                                     "log_delivery", "security_groups", "parameter_group",
                                     "maintenance_window"], announce)
    assert updated.data["Member"] == _member()


def test_replicas_are_added_before_failover_is_switched_on() -> None:
    config = production_config()
    data = _group(config, AutomaticFailover="disabled", MultiAZ="disabled",
                  NodeGroups=[{"PrimaryEndpoint": {"Port": 6379}, "NodeGroupMembers": [{}]}])

    def announce(aws: StubbedAws) -> None:
        _replicas(aws, "increase_replica_count", 1)
        _modify(aws, AutomaticFailoverEnabled=True, MultiAZEnabled=True)

    _update(config, data, ["automatic_failover", "multi_az", "replicas"], announce)


def test_replicas_are_removed_after_failover_is_switched_off() -> None:
    config = _config(replicas=0, automatic_failover=False, multi_az=False)
    data = _group(config)

    def announce(aws: StubbedAws) -> None:
        # Multi-AZ alone drifted: the pair is still sent together.
        _modify(aws, AutomaticFailoverEnabled=False, MultiAZEnabled=False)
        _replicas(aws, "decrease_replica_count", 0)

    _update(config, data, ["automatic_failover", "multi_az", "replicas"], announce)


def test_node_type_and_engine_upgrade_go_in_calls_of_their_own_after_the_settings() -> None:
    config = _config(engine_version="7.1")
    data = _group(config, CacheNodeType="cache.t3.micro", SnapshotWindow="01:00-02:00")

    def announce(aws: StubbedAws) -> None:
        _modify(aws, SnapshotWindow="04:00-05:00")
        _modify(aws, CacheNodeType="cache.t3.small")
        _modify(aws, EngineVersion="7.1")

    _update(config, data, ["node_type", "snapshot_window", "engine_version"], announce)


def test_auth_is_added_with_the_secret_s_token_by_rotate() -> None:
    config = production_config()
    data = _group(config, AuthTokenEnabled=False)

    def announce(aws: StubbedAws) -> None:
        aws.expect("secretsmanager", "get_secret_value",
                   {"SecretString": "t" * 32}, {"SecretId": SECRET_ARN})
        _modify(aws, AuthToken="t" * 32, AuthTokenUpdateStrategy="ROTATE")

    _update(config, data, ["auth_token"], announce)


def test_a_recorded_group_whose_tags_cannot_be_listed_yet_is_read_without_them() -> None:
    """ElastiCache refuses tag calls while a group is not available: tags are not judged."""
    config = production_config()
    step = CacheStep(config)
    group = _described(_group(config, Status="modifying"))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("elasticache", "describe_replication_groups", {"ReplicationGroups": [group]},
                   {"ReplicationGroupId": GROUP_ID})
        aws.expect_error("elasticache", "list_tags_for_resource", "InvalidReplicationGroupState",
                         params={"ResourceName": GROUP_ARN})
        aws.expect("elasticache", "describe_cache_clusters", {"CacheClusters": [_member()]},
                   {"CacheClusterId": MEMBER})
        found = step.describe_by_id(ctx, GROUP_ID)
        assert found is not None and found.data["TagMap"] is None
        assert step.diff(ctx, found) == []



@pytest.mark.parametrize("status", ["deleting", "modifying"])
def test_a_group_found_by_name_is_only_adopted_once_its_tags_can_be_read(status: str) -> None:
    """Being deleted: nobody's any more.  Modifying: waited on, then checked for our tags."""
    config = production_config()
    step = CacheStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("elasticache", "describe_replication_groups", {"ReplicationGroups": [
            _described(_group(config, Status=status))]}, {"ReplicationGroupId": GROUP_ID})
        if status == "modifying":
            aws.expect_error("elasticache", "list_tags_for_resource",
                             "InvalidReplicationGroupState", params={"ResourceName": GROUP_ARN})
            _available(aws)
            _reread(aws, config)
        found = step.lookup(ctx)
    if status == "deleting":
        assert found is None
    else:
        assert found is not None and found.data["TagMap"] == step.tags()


def test_a_group_state_recorded_that_is_being_deleted_counts_as_gone() -> None:
    """A destroy killed while the group was deleting: the rerun moves on, whatever
    ListTagsForResource would answer (the sandbox lists a deleting group's tags empty)."""
    config = production_config()
    step = CacheStep(config)
    with StubbedAws() as aws:
        aws.expect("elasticache", "describe_replication_groups", {"ReplicationGroups": [
            _described(_group(config, Status="deleting"))]}, {"ReplicationGroupId": GROUP_ID})
        assert step.describe_by_id(aws.context(config, OUTPUTS), GROUP_ID) is None
