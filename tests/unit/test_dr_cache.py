"""The standby Redis (``dr.cache*``): config refusals, the graph, and its requests.

Config mistakes stop before any AWS call with the field path and the reason.
The requests are checked on Stubber clients (no sandbox): the create goes to
us-west-2 with the DR key, the DR site's groups and the primary's AUTH token,
and drift compares the key with ``dr.kms``, not the primary's ``kms``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, StubbedAws
from vivr_provision.config import PlatformConfig, parse_config
from vivr_provision.config.dr_redis import standby_redis
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.drift import NAME_KEY
from vivr_provision.steps.elasticache import CacheStep

REPO = Path(__file__).resolve().parents[2]
Mutation = Callable[[dict[str, Any]], object]
DR = "us-west-2"
GROUP_ID = "vivr-dr-cache"
GROUP_ARN = f"arn:aws:elasticache:{DR}:{ACCOUNT}:replicationgroup:{GROUP_ID}"
DR_KEY_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
DR_KEY_ARN = f"arn:aws:kms:{DR}:{ACCOUNT}:key/{DR_KEY_ID}"
PRIMARY_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{DR_KEY_ID}"
OTHER_KEY_ARN = f"arn:aws:kms:{DR}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:vivr/production/redis-AbCdEf"
TOKEN = "A" * 32
OUTPUTS: dict[str, dict[str, Any]] = {
    "dr.cache-subnet-group": {"name": "vivr-dr-cache-subnet-group"},
    "dr.cache-parameter-group": {"name": "vivr-cache-pg"},
    "dr.kms": {"key_arn": DR_KEY_ARN, "key_id": DR_KEY_ID},
    "dr.sg.vivr-dr-cache-sg": {"group_id": "sg-drcache"},
    "secret.redis_auth_token": {"arn": SECRET_ARN},
    # The primary's: the standby must not read them.
    "kms": {"key_arn": PRIMARY_KEY_ARN, "key_id": DR_KEY_ID},
    "cache-parameter-group": {"name": "not-the-standby-pg"},
}


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    return data


def _config(data: dict[str, Any]) -> PlatformConfig:
    return parse_config(data, "production.yaml")


def _dr_subnet(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["dr"]["network"]["subnets"] if s["name"] == name)


def _no_dr_redis_but_an_alarm(data: dict[str, Any]) -> None:
    data["dr"].pop("redis")
    data["dr"]["standby"]["redis"] = False


# (what is wrong, mutation, text the error must contain)
INVALID: list[tuple[str, Mutation, str]] = [
    ("standby promised, no section", lambda d: d["dr"].pop("redis"),
     "dr.standby.redis: the standby Redis needs a dr.redis section"),
    ("global datastore on a t3.small",
     lambda d: d["dr"]["redis"].update(mode="global_datastore"),
     "dr.redis.mode global_datastore: cache.t3.small cannot join a Global Datastore (it needs "
     "c7gn, m5, m6g, m7g, r5, r6g, r6gd, r7g in size large or above); this version builds "
     "the independent replication group only"),
    ("global datastore with two node types",
     lambda d: (d["redis"].update(node_type="cache.r6g.large"),
                d["dr"]["redis"].update(mode="global_datastore", node_type="cache.r6g.xlarge")),
     "both sides need the same node type (cache.r6g.large and cache.r6g.xlarge)"),
    ("cache in a database subnet",
     lambda d: d["dr"]["redis"]["subnet_group"].update(subnets=["dr-db-2a", "dr-cache-2b"]),
     "dr.redis.subnet_group.subnets[0] 'dr-db-2a' is a database subnet; ElastiCache needs "
     "cache"),
    ("cache in a primary subnet",
     lambda d: d["dr"]["redis"]["subnet_group"].update(subnets=["cache-1a", "dr-cache-2b"]),
     "dr.redis.subnet_group.subnets[0] 'cache-1a' is not a subnet of dr.network"),
    ("primary group on the standby",
     lambda d: d["dr"]["redis"].update(security_groups=["vivr-cache-sg"]),
     "dr.redis.security_groups[0] 'vivr-cache-sg' is not a group of dr.security_groups"),
    ("6379 closed", lambda d: d["dr"]["redis"].update(security_groups=["vivr-dr-db-sg"]),
     "dr.redis: redis.port 6379: no ingress rule of vivr-dr-db-sg allows tcp 6379"),
    ("Multi-AZ in one AZ", lambda d: (
        d["dr"]["redis"].update(replicas=1, automatic_failover=True, multi_az=True),
        _dr_subnet(d, "dr-cache-2b").update(availability_zone="us-west-2a")),
     "dr.redis.subnet_group.subnets: Multi-AZ ElastiCache needs subnets in two availability "
     "zones, got ['us-west-2a']"),
    ("failover without a replica", lambda d: d["dr"]["redis"].update(automatic_failover=True),
     "automatic_failover needs at least one replica"),
    ("cache subnet routed out", lambda d: d["dr"]["network"]["route_tables"][0][
        "subnets"].append("dr-cache-2a"),
     "'dr-cache-2a' is a cache subnet"),
    ("standby alarm without the standby", _no_dr_redis_but_an_alarm,
     "(vivr-production-dr-cache-not-reporting) watches the standby Redis (dr_redis), which "
     "needs dr.enabled, dr.standby.redis and dr.redis"),
]


@pytest.mark.parametrize(("what", "mutate", "expected"), INVALID, ids=[i[0] for i in INVALID])
def test_a_wrong_standby_cache_config_is_refused_with_its_path(
        production: dict[str, Any], what: str, mutate: Mutation, expected: str) -> None:
    data = copy.deepcopy(production)
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        _config(data)
    assert expected in str(caught.value), (what, str(caught.value))


def test_the_standby_is_the_primary_s_cache_sized_for_a_standby(
        production: dict[str, Any]) -> None:
    config = _config(production)
    standby, primary = standby_redis(config), config.redis
    assert standby is not None
    same = ("engine", "engine_version", "node_type", "port", "transit_encryption", "auth_token",
            "at_rest_encryption", "snapshot_retention_days", "snapshot_window",
            "maintenance_window", "cluster_mode", "shards")
    assert {k: getattr(standby, k) for k in same} == {k: getattr(primary, k) for k in same}
    assert standby.parameter_group == primary.parameter_group, "same name, its own region"
    assert (standby.replication_group_id, standby.replicas, standby.multi_az,
            standby.automatic_failover) == (GROUP_ID, 0, False, False)
    assert (standby.subnet_group.subnets, standby.security_groups) == \
        (["dr-cache-2a", "dr-cache-2b"], ["vivr-dr-cache-sg"])
    # What only the primary region has: log groups and the export bucket.
    assert (standby.slow_log_group, standby.engine_log_group, standby.export_to_s3_daily) == \
        (None, None, False)
    data = copy.deepcopy(production)
    data["dr"]["redis"].update(node_type="cache.t3.medium", snapshot_retention_days=0,
                               parameter_group_name="vivr-dr-cache-pg")
    bigger = standby_redis(_config(data))
    assert bigger is not None
    assert (bigger.node_type, bigger.snapshot_retention_days, bigger.parameter_group.name) == \
        ("cache.t3.medium", 0, "vivr-dr-cache-pg")


def test_the_standby_cache_steps_live_on_the_dr_site(production: dict[str, Any]) -> None:
    steps = {s.name: s for s in build_steps(_config(production))}
    standby = {"dr.cache-subnet-group", "dr.cache-parameter-group", "dr.cache"}
    assert {steps[name].region for name in standby} == {DR}
    assert set(steps["dr.cache"].depends_on()) == {
        "dr.cache-subnet-group", "dr.cache-parameter-group", "dr.kms",
        "secret.redis_auth_token", "dr.sg.vivr-dr-cache-sg", "dr.sg-rules.vivr-dr-cache-sg"}
    assert set(steps["dr.cache-subnet-group"].depends_on()) == {
        "dr.subnet.dr-cache-2a", "dr.subnet.dr-cache-2b"}
    assert set(steps["dr.alarm.vivr-production-dr-cache-not-reporting"].depends_on()) == {
        "dr.cache", "dr.sns.devops"}
    # The primary's cache is as it was.
    assert set(steps["cache"].depends_on()) == {
        "cache-subnet-group", "cache-parameter-group", "kms", "secret.redis_auth_token",
        "sg.vivr-cache-sg", "logs.cache", "logs-delivery-policy"}
    assert steps["cache"].region == "us-east-1"
    data = copy.deepcopy(production)
    data["dr"]["standby"]["redis"] = False
    data["monitoring"]["alarms"] = [a for a in data["monitoring"]["alarms"]
                                    if a["resource"] != "dr_redis"]
    names = {s.name for s in build_steps(_config(data))}
    assert not {n for n in names if n.startswith(("dr.cache", "dr.alarm.vivr-production-dr-cache"))}
    assert "dr.subnet.dr-cache-2a" in names, "the DR network is config of its own"


def _create_params() -> dict[str, Any]:
    step = _standby_step()
    return {
        "ReplicationGroupId": GROUP_ID,
        "ReplicationGroupDescription": "VIVR standby cache (us-west-2, cold until failover)",
        "Engine": "redis", "EngineVersion": "7.0", "CacheNodeType": "cache.t3.small",
        "NumNodeGroups": 1, "ReplicasPerNodeGroup": 0,
        "MultiAZEnabled": False, "AutomaticFailoverEnabled": False,
        "AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True,
        "SnapshotRetentionLimit": 5, "SnapshotWindow": "04:00-05:00",
        "PreferredMaintenanceWindow": "sun:06:00-sun:07:00",
        "CacheParameterGroupName": "vivr-cache-pg",
        "CacheSubnetGroupName": "vivr-dr-cache-subnet-group",
        "SecurityGroupIds": ["sg-drcache"], "Port": 6379,
        "Tags": aws_tags(step.tags()), "KmsKeyId": DR_KEY_ARN, "AuthToken": TOKEN,
    }


def _production() -> PlatformConfig:
    return _config(yaml.safe_load((REPO / "config" / "production.yaml").read_text()))


def _standby_step() -> CacheStep:
    config = _production()
    step = {s.name: s for s in build_steps(config)}["dr.cache"]
    assert isinstance(step, CacheStep)
    return step


@pytest.mark.parametrize(("secret_outputs", "read_in"), [
    # The secret has a replica in us-west-2: the token is read there (same value), so
    # the standby can be built while us-east-1 is down.
    ({"arn": SECRET_ARN, "dr_arn": SECRET_ARN.replace("us-east-1", DR)}, DR),
    # No replica (dr.standby.replicate_secrets off): the primary region's secret.
    ({"arn": SECRET_ARN}, "us-east-1"),
], ids=["replica", "primary"])
def test_the_standby_is_created_in_us_west_2_with_the_dr_key_and_the_same_token(
        secret_outputs: dict[str, str], read_in: str) -> None:
    """No log delivery (its groups are in us-east-1)."""
    step = _standby_step()
    aws = StubbedAws()
    aws.expect("secretsmanager", "get_secret_value", {"SecretString": TOKEN},
               {"SecretId": SECRET_ARN.replace("us-east-1", read_in)}, region=read_in)
    created = {"ReplicationGroupId": GROUP_ID, "ARN": GROUP_ARN, "Status": "creating"}
    aws.expect("elasticache", "create_replication_group", {"ReplicationGroup": created},
               _create_params(), region=DR)
    outputs = {**OUTPUTS, "secret.redis_auth_token": secret_outputs}
    with aws:
        resource = step.create(aws.context(step.config, outputs), "token")
    assert resource.id == GROUP_ID
    assert resource.data["TagMap"]["vivr:step"] == "dr.cache"


def _group(**edits: Any) -> dict[str, Any]:
    """The standby as the step reads it (converged), with no member described."""
    step = _standby_step()
    return {"ReplicationGroupId": GROUP_ID, "ARN": GROUP_ARN, "Status": "available",
            "Description": step.redis.description, "CacheNodeType": "cache.t3.small",
            "AutomaticFailover": "disabled", "MultiAZ": "disabled",
            "SnapshotRetentionLimit": 5, "SnapshotWindow": "04:00-05:00",
            "AuthTokenEnabled": True, "ClusterEnabled": False,
            "AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True,
            "KmsKeyId": DR_KEY_ARN, "MemberClusters": ["vivr-dr-cache-001"],
            "NodeGroups": [{"PrimaryEndpoint": {"Address": "p", "Port": 6379},
                            "NodeGroupMembers": [{}]}],
            "TagMap": step.tags(), "Member": {
                "CacheClusterId": "vivr-dr-cache-001", "EngineVersion": "7.0.7",
                "PreferredMaintenanceWindow": "sun:06:00-sun:07:00",
                "SecurityGroups": [{"SecurityGroupId": "sg-drcache", "Status": "active"}],
                "CacheParameterGroup": {"CacheParameterGroupName": "vivr-cache-pg"},
                "CacheSubnetGroupName": "vivr-dr-cache-subnet-group"},
            NAME_KEY: GROUP_ID, **edits}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    # Encrypted with another key of the region: a new group (the key cannot change).
    ({"KmsKeyId": OTHER_KEY_ARN}, [("kms_key", OTHER_KEY_ARN, DR_KEY_ARN, True)]),
    # Someone switched on Multi-AZ by hand: back to the standby's one node without it.
    ({"AutomaticFailover": "enabled", "MultiAZ": "enabled"},
     [("automatic_failover", True, False, False), ("multi_az", True, False, False)]),
])
def test_standby_drift_is_judged_against_the_dr_site(
        edits: dict[str, Any], expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = _standby_step()
    with StubbedAws() as aws:
        changes = step.diff(aws.context(step.config, OUTPUTS), Resource(GROUP_ID, _group(**edits)))
    shown = [(c.field, c.current, c.desired, c.replace) for c in changes]
    if expected and expected[0][0] == "kms_key":
        # any_of shows the key's ARN and id as the wanted value.
        assert [(f, cur, rep) for f, cur, _, rep in shown] == [("kms_key", OTHER_KEY_ARN, True)]
        assert DR_KEY_ARN in shown[0][2]
    else:
        assert shown == expected


def test_a_parameter_group_drift_points_the_standby_at_its_own_region_s_group() -> None:
    step = _standby_step()
    aws = StubbedAws()
    member = dict(_group()["Member"], CacheParameterGroup={"CacheParameterGroupName": "other"})
    aws.expect("elasticache", "describe_replication_groups",
               {"ReplicationGroups": [{"ReplicationGroupId": GROUP_ID, "Status": "available"}]},
               {"ReplicationGroupId": GROUP_ID}, region=DR)
    aws.expect("elasticache", "modify_replication_group",
               {"ReplicationGroup": {"ReplicationGroupId": GROUP_ID}},
               {"ReplicationGroupId": GROUP_ID, "ApplyImmediately": True,
                "CacheParameterGroupName": "vivr-cache-pg"}, region=DR)
    described = {k: v for k, v in _group().items() if k not in ("TagMap", "Member", NAME_KEY)}
    aws.expect("elasticache", "describe_replication_groups",
               {"ReplicationGroups": [described]}, {"ReplicationGroupId": GROUP_ID}, region=DR)
    aws.expect("elasticache", "list_tags_for_resource",
               {"TagList": aws_tags(step.tags())}, {"ResourceName": GROUP_ARN}, region=DR)
    aws.expect("elasticache", "describe_cache_clusters",
               {"CacheClusters": [_group()["Member"]]},
               {"CacheClusterId": "vivr-dr-cache-001"}, region=DR)
    with aws:
        ctx = aws.context(step.config, OUTPUTS)
        resource = Resource(GROUP_ID, _group(Member=member))
        changes = step.diff(ctx, resource)
        assert [(c.field, c.current, c.desired) for c in changes] == \
            [("parameter_group", "other", "vivr-cache-pg")]
        step.update(ctx, resource, changes)
