"""ElastiCache Redis: the cache subnet group, the parameter group and the replication group.

Three steps, in dependency order:

* ``cache-subnet-group``: the subnets the cache nodes live in (config
  ``redis.subnet_group``; subnet ids come from the ``subnet.<name>`` steps).
* ``cache-parameter-group``: the Redis parameters the spec fixes
  (``maxmemory-policy allkeys-lru``), in a group of the configured family.
* ``cache``: the replication group itself (cluster mode disabled, one shard
  of a primary plus ``redis.replicas`` replicas), encrypted at rest with the
  platform KMS key and in transit with TLS, AUTH token from Secrets Manager.

None of these APIs takes an idempotency token; their names are unique per
account and region, so a create repeated after a crash is prevented by
looking the name up first, and a same-named resource that does not carry our
ownership tags is refused, never adopted.

What is verified against the config on every apply (``diff``), and what is not:

* verified and converged in place: description, node type, replica count,
  automatic failover, Multi-AZ, snapshot retention and window, maintenance
  window, security groups, parameter group, AUTH enabled, minor engine
  version upgrades, tags, every configured parameter value;
* verified, reported as "replace" (AWS cannot change it in place, and this is
  a data store, so apply stops and says so): at-rest encryption, KMS key,
  engine major version (or a downgrade), in-transit encryption (AWS needs a
  two-step ``TransitEncryptionMode`` migration), cluster mode, shard count,
  port, subnet group;
* not verifiable: the AUTH token's *value* (AWS never returns it; rotating it
  is a deliberate ``ROTATE``/``SET`` operation, not drift).

Spec items ElastiCache manages itself, which no API call here configures:

* ``rdb_snapshot_interval_minutes`` (15): ElastiCache takes one automatic
  snapshot a day, in ``snapshot_window``, kept ``snapshot_retention_days``;
  the ``save`` parameter that would set an RDB interval is not modifiable.
  Replicas (Multi-AZ with automatic failover) are what bounds data loss.
* ``aof`` (false): Redis ≥ 2.8.22 on ElastiCache does not support AOF
  (``appendonly`` is not modifiable), so "disabled" is what it gets.
* ``multi_threaded_io``: enhanced I/O multiplexing is switched on by
  ElastiCache for Redis ≥ 7 on node types with enough vCPUs; there is no
  setting for it.
* ``export_to_s3_daily``: exporting a snapshot is ``CopySnapshot`` with a
  ``TargetBucket``, run by a schedule; it belongs to the backup tooling, not
  to the replication group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    tag_drift,
    tag_map,
    timestamp,
)
from vivr_provision.steps.kinds import (
    CACHE_CLUSTER,
    CACHE_PARAMETER_GROUP,
    CACHE_SUBNET_GROUP,
    REPLICATION_GROUP,
)
from vivr_provision.steps.log_delivery import (
    cache_log_changes,
    cache_log_deliveries,
    cache_log_dependencies,
    cache_log_update,
)
from vivr_provision.steps.secrets import read_secret_string

events = structlog.get_logger("vivr.elasticache")

#: ListTagsForResource/AddTagsToResource answer this while a group is not ``available``.
NOT_AVAILABLE = ("InvalidReplicationGroupState",)
#: Statuses a replication group leaves by itself; waiting on them makes sense.
TRANSITIONAL = frozenset({"creating", "modifying", "snapshotting"})
#: ModifyCacheParameterGroup and ResetCacheParameterGroup take at most 20 parameters.
PARAMETERS_PER_CALL = 20
#: A group whose replication group was just deleted may still be held for a moment.
GROUP_RELEASING = policy(
    {"CacheSubnetGroupInUse", "InvalidCacheParameterGroupState"},
    "a cache subnet/parameter group stays in use until its replication group is gone",
    deadline_s=900, max_attempts=60,
)


def _chunks(items: list[dict[str, str]], size: int) -> Iterable[list[dict[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class ElastiCacheStep(Step):
    """What the three ElastiCache steps share: the client and ARN-based tags."""

    service = "elasticache"
    expected_seconds = 3.0

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config)

    @property
    def redis(self) -> RedisConfig:
        return self.config.redis

    def ec(self, ctx: StepContext) -> Any:
        return ctx.client("elasticache", self.region)

    def read_tags(self, ctx: StepContext, arn: str) -> dict[str, str] | None:
        """The resource's tags, or None when AWS cannot list them right now.

        ElastiCache refuses tag operations on a replication group that is not
        ``available`` (InvalidReplicationGroupState).
        """
        reply = absent_on(NOT_AVAILABLE, self.ec(ctx).list_tags_for_resource, ResourceName=arn)
        return None if reply is None else tag_map(reply.get("TagList"))

    def write_tags(self, ctx: StepContext, arn: str, tags: dict[str, str]) -> None:
        self.ec(ctx).add_tags_to_resource(ResourceName=arn, Tags=aws_tags(tags))

    def rename_changes(self, resource: Resource) -> list[Change]:
        """The name is the id: one renamed in the config is a new resource.

        The engine looks the recorded id up first, so without this the old
        resource would be diffed (and kept) under the new name.
        """
        if resource.id == self.resource_name():
            return []
        return [Change("name", resource.id, self.resource_name(), replace=True)]

    def owned(self, ctx: StepContext, what: str, data: dict[str, Any]) -> dict[str, str]:
        """The tags of a resource found by name, after checking it is ours."""
        tags = self.read_tags(ctx, data["ARN"]) or {}
        require_owned(self, what, tags)
        return tags


# --------------------------------------------------------------------------- subnet group


class CacheSubnetGroupStep(ElastiCacheStep):
    """The cache subnet group over the configured (cache tier) subnets."""

    family = "cache-subnet-group"

    def resource_name(self) -> str:
        return self.redis.subnet_group.name

    def depends_on(self) -> tuple[str, ...]:
        return tuple(f"subnet.{name}" for name in self.redis.subnet_group.subnets)

    def subnet_ids(self, ctx: StepContext) -> list[str]:
        return [str(ctx.output(f"subnet.{name}", "subnet_id"))
                for name in self.redis.subnet_group.subnets]

    def _describe(self, ctx: StepContext, name: str) -> Resource | None:
        reply = absent_on(CACHE_SUBNET_GROUP.not_found, self.ec(ctx).describe_cache_subnet_groups,
                          CacheSubnetGroupName=name)
        if not reply or not reply.get("CacheSubnetGroups"):
            return None
        data = dict(reply["CacheSubnetGroups"][0])
        data["Tags"] = self.owned(ctx, f"cache subnet group {name}", data)
        return Resource(data["CacheSubnetGroupName"], data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._describe(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._describe(ctx, self.resource_name())

    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.redis.subnet_group
        self.ec(ctx).create_cache_subnet_group(
            CacheSubnetGroupName=group.name,
            CacheSubnetGroupDescription=group.description,
            SubnetIds=self.subnet_ids(ctx),
            Tags=aws_tags(self.tags()),
        )
        created = self._describe(ctx, group.name)
        assert created is not None, "a cache subnet group just created is describable"
        return created

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        changes = self.rename_changes(resource)
        changes += tag_drift(self, data.get("Tags", {}))
        group = self.redis.subnet_group
        if data.get("CacheSubnetGroupDescription") != group.description:
            changes.append(Change("description", data.get("CacheSubnetGroupDescription"),
                                  group.description))
        current = sorted(s["SubnetIdentifier"] for s in data.get("Subnets", []))
        desired = sorted(self.subnet_ids(ctx))
        if current != desired:
            changes.append(Change("subnets", current, desired))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        fields = {c.field: c for c in changes}
        if "description" in fields or "subnets" in fields:
            self.ec(ctx).modify_cache_subnet_group(
                CacheSubnetGroupName=resource.id,
                CacheSubnetGroupDescription=self.redis.subnet_group.description,
                SubnetIds=self.subnet_ids(ctx),
            )
        if "tags" in fields:
            self.write_tags(ctx, resource.data["ARN"], fields["tags"].desired)
        updated = self._describe(ctx, resource.id)
        assert updated is not None
        return updated

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        GROUP_RELEASING.call("delete cache subnet group", gone_on, CACHE_SUBNET_GROUP.not_found,
                             self.ec(ctx).delete_cache_subnet_group,
                             CacheSubnetGroupName=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": resource.id, "arn": resource.data.get("ARN"),
                "vpc_id": resource.data.get("VpcId"),
                "subnet_ids": sorted(s["SubnetIdentifier"]
                                     for s in resource.data.get("Subnets", []))}


# --------------------------------------------------------------------------- parameter group


class CacheParameterGroupStep(ElastiCacheStep):
    """The Redis parameter group (``maxmemory-policy`` and whatever else the config sets).

    ``Source=user`` parameters are the ones set on the group, so a value
    changed by hand, or one set by hand and absent from the config (reset
    to the engine default), is drift.
    """

    family = "cache-parameter-group"

    def resource_name(self) -> str:
        return self.redis.parameter_group.name

    def _describe(self, ctx: StepContext, name: str) -> Resource | None:
        reply = absent_on(CACHE_PARAMETER_GROUP.not_found,
                          self.ec(ctx).describe_cache_parameter_groups,
                          CacheParameterGroupName=name)
        if not reply or not reply.get("CacheParameterGroups"):
            return None
        data = dict(reply["CacheParameterGroups"][0])
        data["Tags"] = self.owned(ctx, f"cache parameter group {name}", data)
        return Resource(data["CacheParameterGroupName"], data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._describe(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._describe(ctx, self.resource_name())

    def user_parameters(self, ctx: StepContext, name: str) -> dict[str, str | None]:
        pages = self.ec(ctx).get_paginator("describe_cache_parameters").paginate(
            CacheParameterGroupName=name, Source="user")
        return {p["ParameterName"]: p.get("ParameterValue")
                for page in pages for p in page.get("Parameters", [])}

    def _set(self, ctx: StepContext, name: str, parameters: dict[str, str]) -> None:
        values = [{"ParameterName": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
        for chunk in _chunks(values, PARAMETERS_PER_CALL):
            self.ec(ctx).modify_cache_parameter_group(CacheParameterGroupName=name,
                                                      ParameterNameValues=chunk)

    def _reset(self, ctx: StepContext, name: str, parameters: Iterable[str]) -> None:
        values = [{"ParameterName": k} for k in sorted(parameters)]
        for chunk in _chunks(values, PARAMETERS_PER_CALL):
            self.ec(ctx).reset_cache_parameter_group(CacheParameterGroupName=name,
                                                     ResetAllParameters=False,
                                                     ParameterNameValues=chunk)

    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.redis.parameter_group
        self.ec(ctx).create_cache_parameter_group(
            CacheParameterGroupName=group.name,
            CacheParameterGroupFamily=group.family,
            Description=group.description,
            Tags=aws_tags(self.tags()),
        )
        if group.parameters:
            self._set(ctx, group.name, group.parameters)
        created = self._describe(ctx, group.name)
        assert created is not None, "a cache parameter group just created is describable"
        return created

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        group = self.redis.parameter_group
        changes = self.rename_changes(resource)
        changes += tag_drift(self, data.get("Tags", {}))
        # Neither can change: ModifyCacheParameterGroup only takes parameter values.
        for field_name, current, desired in (
            ("family", data.get("CacheParameterGroupFamily"), group.family),
            ("description", data.get("Description"), group.description),
        ):
            if current != desired:
                changes.append(Change(field_name, current, desired, replace=True))
        current_values = self.user_parameters(ctx, resource.id)
        wrong = {k: v for k, v in group.parameters.items() if current_values.get(k) != v}
        extra = sorted(set(current_values) - set(group.parameters))
        if wrong:
            changes.append(Change("parameters", {k: current_values.get(k) for k in wrong},
                                  wrong))
        if extra:
            changes.append(Change("extra_parameters", {k: current_values[k] for k in extra},
                                  "engine default"))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        fields = {c.field: c for c in changes}
        if "parameters" in fields:
            self._set(ctx, resource.id, dict(fields["parameters"].desired))
        if "extra_parameters" in fields:
            self._reset(ctx, resource.id, fields["extra_parameters"].current)
        if "tags" in fields:
            self.write_tags(ctx, resource.data["ARN"], fields["tags"].desired)
        updated = self._describe(ctx, resource.id)
        assert updated is not None
        return updated

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        GROUP_RELEASING.call("delete cache parameter group", gone_on,
                             CACHE_PARAMETER_GROUP.not_found,
                             self.ec(ctx).delete_cache_parameter_group,
                             CacheParameterGroupName=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": resource.id, "arn": resource.data.get("ARN"),
                "family": resource.data.get("CacheParameterGroupFamily")}


# --------------------------------------------------------------------------- replication group


def _version(text: str) -> tuple[int, ...]:
    """``"7.0.7"`` -> ``(7, 0)``: major.minor, the part the config pins."""
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def _enabled(status: str | None) -> bool:
    """AutomaticFailover/MultiAZ report enabled|enabling|disabled|disabling."""
    return status in ("enabled", "enabling")


class CacheStep(ElastiCacheStep):
    """The Redis replication group: one shard, primary + replicas, encrypted, AUTH on.

    Cluster-level settings (security groups, parameter group, engine
    version, maintenance window, subnet group) are not in the replication
    group's description: AWS reports them on each member cache cluster, so
    ``diff`` reads the first member that can be described.  If none can be
    (a member being replaced, or an endpoint that does not list members),
    those settings are not judged on that run instead of being reported as
    drift on every run.
    """

    family = "cache"
    #: Creating a Multi-AZ group takes 10-20 minutes on AWS: schedule it early.
    expected_seconds = 900.0
    #: Above botocore's 10 minutes: creates, node type changes and deletes can take longer.
    wait_budget_s = 3600.0
    #: ElastiCache operations take minutes; a 5 s poll is at most 720 describes per budget.
    poll_s = 5.0

    def resource_name(self) -> str:
        return self.redis.replication_group_id

    def depends_on(self) -> tuple[str, ...]:
        deps = ["cache-subnet-group", "cache-parameter-group"]
        if self.redis.at_rest_encryption:
            deps.append("kms")
        if self.redis.auth_token:
            deps.append("secret.redis_auth_token")
        deps += [f"sg.{name}" for name in self.redis.security_groups]
        deps += cache_log_dependencies(self.config)
        return tuple(deps)

    # -- reading ------------------------------------------------------------
    def _group(self, ctx: StepContext, group_id: str) -> dict[str, Any] | None:
        reply = absent_on(REPLICATION_GROUP.not_found, self.ec(ctx).describe_replication_groups,
                          ReplicationGroupId=group_id)
        groups = (reply or {}).get("ReplicationGroups") or []
        return dict(groups[0]) if groups else None

    def _member(self, ctx: StepContext, data: dict[str, Any]) -> dict[str, Any] | None:
        """The first describable member cache cluster (cluster-level settings live there)."""
        for cluster_id in data.get("MemberClusters", []):
            reply = absent_on(CACHE_CLUSTER.not_found, self.ec(ctx).describe_cache_clusters,
                              CacheClusterId=cluster_id)
            clusters = (reply or {}).get("CacheClusters") or []
            if clusters:
                return dict(clusters[0])
        return None

    def _resource(self, ctx: StepContext, data: dict[str, Any], *,
                  from_state: bool) -> Resource | None:
        """Wrap a described group, with its tags and first member, after an ownership check.

        Tags cannot be listed while the group is not ``available``.  A group
        whose id this tool recorded is ours already.  One only found by name
        is waited on until its tags can be read, because adopting it (and
        later deleting it) on a guess is what ``require_owned`` prevents;
        if it is being deleted, it is nobody's to manage any more (None).
        """
        group_id = data["ReplicationGroupId"]
        tags = self.read_tags(ctx, data["ARN"])
        if tags is None and not from_state and data.get("Status") == "deleting":
            return None
        if tags is None and not from_state and data.get("Status") in TRANSITIONAL:
            events.info("cache.waiting_to_check_ownership", step=self.name, group=group_id,
                        status=data.get("Status"))
            self._await_available(ctx, group_id)
            fresh = self._group(ctx, group_id)
            if fresh is not None:
                data = fresh
            tags = self.read_tags(ctx, data["ARN"])
        if tags is not None or not from_state:
            require_owned(self, f"replication group {group_id}", tags or {})
        data["Tags"] = tags
        data["Member"] = self._member(ctx, data)
        return Resource(group_id, data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        data = self._group(ctx, resource_id)
        return None if data is None else self._resource(ctx, data, from_state=True)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        data = self._group(ctx, self.resource_name())
        return None if data is None else self._resource(ctx, data, from_state=False)

    def refresh(self, ctx: StepContext, group_id: str) -> Resource:
        data = self._group(ctx, group_id)
        found = None if data is None else self._resource(ctx, data, from_state=True)
        if found is None:
            raise RuntimeError(f"replication group {group_id} disappeared")
        return found

    def _await_available(self, ctx: StepContext, group_id: str) -> None:
        ctx.wait("elasticache", "replication_group_available", budget_s=self.wait_budget_s,
                 delay_s=self.poll_s, region=self.region, ReplicationGroupId=group_id)

    # -- creating -----------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """CreateReplicationGroup; the engine then waits for ``available``.

        One shard with ``NumNodeGroups=1, ReplicasPerNodeGroup=replicas``
        (valid for cluster mode disabled), so the replica count has a single
        meaning for create, diff and IncreaseReplicaCount.
        """
        cfg = self.redis
        params: dict[str, Any] = {
            "ReplicationGroupId": cfg.replication_group_id,
            "ReplicationGroupDescription": cfg.description,
            "Engine": cfg.engine,
            # Resolved at plan time from DescribeCacheEngineVersions ("7" -> newest 7.x).
            "EngineVersion": ctx.catalog.value("redis.engine_version", cfg.engine_version),
            "CacheNodeType": cfg.node_type,
            "NumNodeGroups": cfg.shards,
            "ReplicasPerNodeGroup": cfg.replicas,
            "MultiAZEnabled": cfg.multi_az,
            "AutomaticFailoverEnabled": cfg.automatic_failover,
            "AtRestEncryptionEnabled": cfg.at_rest_encryption,
            "TransitEncryptionEnabled": cfg.transit_encryption,
            "SnapshotRetentionLimit": cfg.snapshot_retention_days,
            "SnapshotWindow": cfg.snapshot_window,
            "PreferredMaintenanceWindow": cfg.maintenance_window,
            "CacheParameterGroupName": ctx.output("cache-parameter-group", "name"),
            "CacheSubnetGroupName": ctx.output("cache-subnet-group", "name"),
            "SecurityGroupIds": self.security_group_ids(ctx),
            "Port": cfg.port,
            "Tags": aws_tags(self.tags()),
        }
        if cfg.at_rest_encryption:
            params["KmsKeyId"] = ctx.output("kms", "key_arn")
        if cfg.auth_token:
            params["AuthToken"] = self.auth_token(ctx)
        if cache_log_deliveries(self.config):
            params["LogDeliveryConfigurations"] = cache_log_deliveries(self.config)
        created = self.ec(ctx).create_replication_group(**params)["ReplicationGroup"]
        # Tags are not listable until the group is available; they were just sent.
        data = dict(created)
        data.setdefault("MemberClusters", [])
        data["Tags"] = self.tags()
        data["Member"] = None
        return Resource(created["ReplicationGroupId"], data)

    def auth_token(self, ctx: StepContext) -> str:
        """The AUTH token from Secrets Manager (registered for log redaction on read)."""
        return read_secret_string(ctx, str(ctx.output("secret.redis_auth_token", "arn")))

    def security_group_ids(self, ctx: StepContext) -> list[str]:
        return [str(ctx.output(f"sg.{name}", "group_id")) for name in self.redis.security_groups]

    def is_ready(self, resource: Resource) -> bool:
        """Serving traffic: a daily backup (``snapshotting``) is no reason to wait."""
        return resource.data.get("Status") in ("available", "snapshotting")

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        self._await_available(ctx, resource.id)
        return self.refresh(ctx, resource.id)

    # -- drift ----------------------------------------------------------------
    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data, cfg = resource.data, self.redis
        status = data.get("Status")
        if status in ("deleting", "create-failed"):
            # Neither becomes available again: the group has to go first.
            return [Change("status", status, "available", replace=True)]
        changes = self.rename_changes(resource)
        if data.get("Tags") is not None:
            changes += tag_drift(self, data["Tags"])

        def check(name: str, current: Any, desired: Any, *, replace: bool = False) -> None:
            if current != desired:
                changes.append(Change(name, current, desired, replace=replace))

        check("description", data.get("Description"), cfg.description)
        check("node_type", data.get("CacheNodeType"), cfg.node_type)
        check("automatic_failover", _enabled(data.get("AutomaticFailover")),
              cfg.automatic_failover)
        check("multi_az", _enabled(data.get("MultiAZ")), cfg.multi_az)
        check("snapshot_retention_days", data.get("SnapshotRetentionLimit"),
              cfg.snapshot_retention_days)
        if cfg.snapshot_retention_days:
            check("snapshot_window", data.get("SnapshotWindow"), cfg.snapshot_window)
        check("auth_token", bool(data.get("AuthTokenEnabled")), cfg.auth_token,
              replace=not cfg.auth_token)
        node_groups = data.get("NodeGroups") or []
        replicas = sorted({len(g.get("NodeGroupMembers", [])) - 1 for g in node_groups})
        if node_groups and replicas != [cfg.replicas]:
            changes.append(Change("replicas", replicas, cfg.replicas))
        check("shards", len(node_groups), cfg.shards, replace=True)
        check("cluster_mode_enabled", bool(data.get("ClusterEnabled")),
              cfg.cluster_mode == "enabled", replace=True)
        check("at_rest_encryption", bool(data.get("AtRestEncryptionEnabled")),
              cfg.at_rest_encryption, replace=True)
        check("transit_encryption", bool(data.get("TransitEncryptionEnabled")),
              cfg.transit_encryption, replace=True)
        if cfg.at_rest_encryption and data.get("AtRestEncryptionEnabled"):
            key_arn, key_id = ctx.output("kms", "key_arn"), ctx.output("kms", "key_id")
            current_key = data.get("KmsKeyId")
            if current_key not in (key_arn, key_id) and \
                    not str(current_key or "").endswith(f"/{key_id}"):
                changes.append(Change("kms_key", current_key, key_arn, replace=True))
        endpoint = (node_groups[0].get("PrimaryEndpoint") if node_groups else None) \
            or data.get("ConfigurationEndpoint") or {}
        if endpoint.get("Port") is not None:
            check("port", endpoint["Port"], cfg.port, replace=True)
        changes += cache_log_changes(data.get("LogDeliveryConfigurations"), self.config)
        member = data.get("Member")
        if member is not None:
            changes += self._member_changes(ctx, member)
        return changes

    def _member_changes(self, ctx: StepContext, member: dict[str, Any]) -> list[Change]:
        """Settings AWS reports per member cache cluster."""
        cfg = self.redis
        changes: list[Change] = []
        version = str(member.get("EngineVersion") or "")
        current, desired = _version(version), _version(cfg.engine_version)
        # A major ("7") accepts any 7.x: a newer minor at AWS is no reason to upgrade.
        any_minor = len(desired) == 1 and current[:1] == desired
        if version and current != desired and not any_minor:
            # Upgrades within a major version are in place; AWS never downgrades.
            in_place = current[:1] == desired[:1] and current < desired
            changes.append(Change("engine_version", version, cfg.engine_version,
                                  replace=not in_place))
        groups = sorted(g["SecurityGroupId"] for g in member.get("SecurityGroups", [])
                        if g.get("Status") != "removing")
        desired_groups = sorted(self.security_group_ids(ctx))
        if groups != desired_groups:
            changes.append(Change("security_groups", groups, desired_groups))
        parameter_group = (member.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
        desired_pg = ctx.output("cache-parameter-group", "name")
        if parameter_group != desired_pg:
            changes.append(Change("parameter_group", parameter_group, desired_pg))
        window = str(member.get("PreferredMaintenanceWindow") or "")
        if window.lower() != cfg.maintenance_window.lower():
            changes.append(Change("maintenance_window", window or None, cfg.maintenance_window))
        subnet_group = member.get("CacheSubnetGroupName")
        desired_sg = ctx.output("cache-subnet-group", "name")
        if subnet_group != desired_sg:
            changes.append(Change("subnet_group", subnet_group, desired_sg, replace=True))
        return changes

    # -- converging -----------------------------------------------------------
    def _modify(self, ctx: StepContext, group_id: str, **params: Any) -> None:
        """One ModifyReplicationGroup call, once the group accepts modifications."""
        self._await_available(ctx, group_id)
        self.ec(ctx).modify_replication_group(ReplicationGroupId=group_id,
                                              ApplyImmediately=True, **params)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """Converge in-place drift with ApplyImmediately, one operation at a time.

        ElastiCache rejects a modification while the group is ``modifying``
        (InvalidReplicationGroupState), so each call waits for ``available``
        first.  Replicas are added before failover is switched on and
        removed after it is switched off; node type and engine version
        (long, disruptive operations) go in calls of their own.
        """
        cfg, group_id = self.redis, resource.id
        fields = {c.field: c for c in changes}
        settings: dict[str, Any] = {}
        for field_name, param, value in (
            ("description", "ReplicationGroupDescription", cfg.description),
            ("automatic_failover", "AutomaticFailoverEnabled", cfg.automatic_failover),
            ("multi_az", "MultiAZEnabled", cfg.multi_az),
            ("snapshot_retention_days", "SnapshotRetentionLimit", cfg.snapshot_retention_days),
            ("snapshot_window", "SnapshotWindow", cfg.snapshot_window),
            ("maintenance_window", "PreferredMaintenanceWindow", cfg.maintenance_window),
        ):
            if field_name in fields:
                settings[param] = value
        if "multi_az" in fields or "automatic_failover" in fields:
            # They constrain each other: always send the consistent pair.
            settings["AutomaticFailoverEnabled"] = cfg.automatic_failover
            settings["MultiAZEnabled"] = cfg.multi_az
        if "security_groups" in fields:
            settings["SecurityGroupIds"] = self.security_group_ids(ctx)
        if "parameter_group" in fields:
            settings["CacheParameterGroupName"] = ctx.output("cache-parameter-group", "name")
        if "log_delivery" in fields:  # AWS: log delivery changes need ApplyImmediately
            settings["LogDeliveryConfigurations"] = cache_log_update(
                resource.data.get("LogDeliveryConfigurations"), self.config)
        if "auth_token" in fields:
            # ROTATE adds a token to a TLS group that has none (AWS: "modifying the AUTH token").
            settings["AuthToken"] = self.auth_token(ctx)
            settings["AuthTokenUpdateStrategy"] = "ROTATE"
        replicas = fields.get("replicas")
        adding = replicas is not None and min(replicas.current) < cfg.replicas
        if replicas is not None and adding:
            self._set_replicas(ctx, group_id, increase=True)
        if settings:
            self._modify(ctx, group_id, **settings)
        if replicas is not None and not adding:
            self._set_replicas(ctx, group_id, increase=False)
        if "node_type" in fields:
            self._modify(ctx, group_id, CacheNodeType=cfg.node_type)
        if "engine_version" in fields:
            self._modify(ctx, group_id, EngineVersion=cfg.engine_version)
        if "tags" in fields:
            self._await_available(ctx, group_id)
            self.write_tags(ctx, resource.data["ARN"], fields["tags"].desired)
        return self.refresh(ctx, group_id)

    def _set_replicas(self, ctx: StepContext, group_id: str, *, increase: bool) -> None:
        self._await_available(ctx, group_id)
        call = (self.ec(ctx).increase_replica_count if increase
                else self.ec(ctx).decrease_replica_count)
        call(ReplicationGroupId=group_id, NewReplicaCount=self.redis.replicas,
             ApplyImmediately=True)

    # -- deleting -------------------------------------------------------------
    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Delete with a final snapshot (unless the operator skipped it) and wait until gone.

        A group already ``deleting`` (a destroy interrupted while waiting) is
        only waited on.  One in transition is waited on until it accepts the
        delete.  The final snapshot is only possible when the group takes
        backups (retention > 0); it is kept until someone deletes it.
        """
        group_id = resource.id
        status = resource.data.get("Status")
        kept: list[str] = []
        if status != "deleting":
            if status in TRANSITIONAL:
                self._await_available(ctx, group_id)
            retention = resource.data.get("SnapshotRetentionLimit",
                                          self.redis.snapshot_retention_days)
            params: dict[str, Any] = {"ReplicationGroupId": group_id,
                                      "RetainPrimaryCluster": False}
            snapshot = None
            if not ctx.destroy_options.skip_final_snapshot and retention:
                snapshot = f"{group_id}-final-{timestamp()}"
                params["FinalSnapshotIdentifier"] = snapshot
            if not gone_on(REPLICATION_GROUP.not_found,
                           self.ec(ctx).delete_replication_group, **params):
                return []
            if snapshot:
                kept.append(f"final snapshot {snapshot} of replication group {group_id} "
                            "(kept until deleted: `aws elasticache delete-snapshot "
                            f"--snapshot-name {snapshot}`)")
        ctx.wait("elasticache", "replication_group_deleted", budget_s=self.wait_budget_s,
                 delay_s=self.poll_s, region=self.region, ReplicationGroupId=group_id)
        return kept

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """Endpoints for the application; the AUTH token stays in its secret."""
        data = resource.data
        node_groups = data.get("NodeGroups") or []
        primary = (node_groups[0].get("PrimaryEndpoint") if node_groups else None) or {}
        reader = (node_groups[0].get("ReaderEndpoint") if node_groups else None) or {}
        outputs: dict[str, Any] = {
            "id": resource.id,
            "replication_group_id": resource.id,
            "arn": data.get("ARN"),
            "primary_endpoint": primary.get("Address"),
            "port": primary.get("Port", self.redis.port),
            # Clients must speak TLS when AWS reports in-transit encryption on.
            "transit_encryption": bool(data.get("TransitEncryptionEnabled")),
        }
        if reader.get("Address"):
            outputs["reader_endpoint"] = reader["Address"]
        return outputs


def elasticache_steps(config: PlatformConfig) -> list[Step]:
    """Subnet group and parameter group first, then the replication group."""
    return [CacheSubnetGroupStep(config), CacheParameterGroupStep(config), CacheStep(config)]


__all__ = ["CacheParameterGroupStep", "CacheStep", "CacheSubnetGroupStep", "elasticache_steps"]
