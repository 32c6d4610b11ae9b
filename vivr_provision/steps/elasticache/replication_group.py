"""The Redis replication group: read with its first member, created, converged, deleted.

Cluster mode disabled, one shard of a primary plus ``redis.replicas``
replicas, encrypted at rest with the platform KMS key and in transit with
TLS, AUTH token from Secrets Manager.  What is compared, and how a drift is
converged, is :mod:`vivr_provision.steps.elasticache.group_drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jmespath

from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.log import get_logger
from vivr_provision.steps.base import Change, Resource, Site, StepContext
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    read_tags,
    require_owned,
    timestamp,
)
from vivr_provision.steps.drift import NAME_KEY, converge, drift
from vivr_provision.steps.durations import Operation
from vivr_provision.steps.elasticache.base import ElastiCacheStep
from vivr_provision.steps.elasticache.group_drift import Modification, replication_group_fields
from vivr_provision.steps.kinds import CACHE_CLUSTER, REPLICATION_GROUP, Kind
from vivr_provision.steps.log_delivery import cache_log_deliveries, cache_log_dependencies
from vivr_provision.steps.secrets import read_secret_string
from vivr_provision.tag_batch import batched_tags

events = get_logger("vivr.elasticache")

#: ListTagsForResource/AddTagsToResource answer this while a group is not ``available``.
NOT_AVAILABLE = ("InvalidReplicationGroupState",)
#: The AUTH token's secret: one value for the primary and the standby, read from the
#: primary region's secret when a group is created (or its token added).
AUTH_SECRET_STEP = "secret.redis_auth_token"
#: Statuses a replication group leaves by itself; waiting on them makes sense.
TRANSITIONAL = frozenset({"creating", "modifying", "snapshotting"})


def described(ctx: StepContext, kind: Kind, name: str, region: str) -> dict[str, Any] | None:
    """One resource of ``kind`` described by name as the kind declares (None: not found)."""
    read = kind.read
    assert read is not None, f"{kind.noun}: no read declared"
    client = ctx.client(kind.service, region)
    reply = absent_on(kind.not_found, getattr(client, read.operation), **read.request(name))
    item = jmespath.search(read.item, reply) if reply else None
    return dict(item) if item else None


class CacheStep(ElastiCacheStep):
    """The Redis replication group: one shard, primary + replicas, encrypted, AUTH on.

    Cluster-level settings (security groups, parameter group, engine
    version, maintenance window, subnet group) are not in the replication
    group's description: AWS reports them on each member cache cluster, so
    reading the group also reads the first member that can be described.  If
    none can be (a member being replaced, or an endpoint that does not list
    members), those settings are not judged on that run instead of being
    reported as drift on every run.
    """

    family = "cache"
    kind = REPLICATION_GROUP
    #: Creating a Multi-AZ group takes 10-20 minutes on AWS: schedule it early.
    expected_seconds = 900.0
    timing_kind = "elasticache_replication_group"
    #: Above botocore's 10 minutes: creates, node type changes and deletes can take longer.
    wait_budget_s = 3600.0
    #: The longest sleep between polls: ElastiCache operations take minutes and the wait
    #: polls densely near their expected end (wait_schedule.py), so early polls can be
    #: 30 s apart, as RDS's (at most ~130 describes per budget; a fixed 5 s made 720).
    poll_s = 30.0

    def __init__(self, config: PlatformConfig, redis: RedisConfig | None = None, *,
                 site: Site | None = None, after: tuple[str, ...] = ()) -> None:
        super().__init__(config, redis, site=site)
        #: Ordering-only dependencies (the standby's group rules: see steps.dr).
        self.after = after

    def resource_name(self) -> str:
        return self.redis.replication_group_id

    def depends_on(self) -> tuple[str, ...]:
        site = self.site
        deps = [site.step("cache-subnet-group"), site.step("cache-parameter-group")]
        if self.redis.at_rest_encryption:
            deps.append(site.step("kms"))  # a key of the group's own region (dr.kms)
        if self.redis.auth_token:
            deps.append(AUTH_SECRET_STEP)
        deps += [site.step(f"sg.{name}") for name in self.redis.security_groups]
        deps += cache_log_dependencies(self.config, self.redis)
        deps += self.after
        return tuple(dict.fromkeys(deps))

    # -- reading ------------------------------------------------------------
    # Not KindStep.lookup: tags cannot be listed while the group is not available.
    def _tags(self, ctx: StepContext, arn: str) -> dict[str, str] | None:
        """Its tags (from the tag batch on the first read), or None while AWS refuses
        to list them (InvalidReplicationGroupState)."""
        batched = batched_tags(ctx, self.name, arn, self.tags())
        if batched is not None:
            return batched
        return absent_on(NOT_AVAILABLE, read_tags, self.ec(ctx), self.kind, arn)

    def _member(self, ctx: StepContext, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first describable member cache cluster (cluster-level settings live there)."""
        for cluster_id in data.get("MemberClusters", []):
            member = described(ctx, CACHE_CLUSTER, cluster_id, self.region)
            if member is not None:
                return member
        return None

    def _resource(self, ctx: StepContext, data: dict[str, Any], *,
                  from_state: bool) -> Resource | None:
        """Wrap a described group, with its tags and first member, after an ownership check.

        A group being deleted is nobody's to manage any more (None), however
        it was found: a destroy killed while it waited moves on (what follows,
        the subnet group, retries until the group is gone).  Tags cannot be
        listed while the group is not ``available``.  A group whose id this
        tool recorded is ours already.  One only found by name is waited on
        until its tags can be read, because adopting it (and later deleting
        it) on a guess is what ``require_owned`` prevents.
        """
        group_id = data["ReplicationGroupId"]
        if data.get("Status") == "deleting":
            return None
        tags = self._tags(ctx, data["ARN"])
        if tags is None and not from_state and data.get("Status") in TRANSITIONAL:
            events.info("cache.waiting_to_check_ownership", step=self.name, group=group_id,
                        status=data.get("Status"))
            self.await_available(ctx, group_id)
            fresh = described(ctx, self.kind, group_id, self.region)
            if fresh is not None:
                data = fresh
            tags = self._tags(ctx, data["ARN"])
        if tags is not None or not from_state:
            require_owned(self, f"replication group {group_id}", tags or {})
        data["TagMap"] = tags
        data[NAME_KEY] = group_id
        data["Member"] = self._member(ctx, data)
        return Resource(group_id, data)

    def _read(self, ctx: StepContext, group_id: str, *, from_state: bool) -> Resource | None:
        data = described(ctx, self.kind, group_id, self.region)
        return None if data is None else self._resource(ctx, data, from_state=from_state)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._read(ctx, resource_id, from_state=True)

    def lookup(self, ctx: StepContext, name: str | None = None) -> Resource | None:
        return self._read(ctx, name or self.resource_name(), from_state=False)

    def refresh(self, ctx: StepContext, group_id: str) -> Resource:
        found = self._read(ctx, group_id, from_state=True)
        if found is None:
            raise RuntimeError(f"replication group {group_id} disappeared")
        return found

    def await_available(self, ctx: StepContext, group_id: str,
                        operation: Operation = "modify") -> None:
        ctx.wait("elasticache", "replication_group_available", budget_s=self.wait_budget_s,
                 delay_s=self.poll_s, expected_s=self.aws_seconds(operation),
                 region=self.region, ReplicationGroupId=group_id)

    # -- creating -----------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """CreateReplicationGroup; the engine then waits for ``available``.

        One shard with ``NumNodeGroups=1, ReplicasPerNodeGroup=replicas``
        (valid for cluster mode disabled), so the replica count has a single
        meaning for create, diff and IncreaseReplicaCount.
        """
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        cfg = self.redis
        params: dict[str, Any] = {
            "ReplicationGroupId": cfg.replication_group_id,
            "ReplicationGroupDescription": cfg.description,
            "Engine": cfg.engine,
            # Resolved at plan time from DescribeCacheEngineVersions ("7" -> newest 7.x).
            "EngineVersion": ctx.catalog.value(f"{self.site.prefix}redis.engine_version",
                                               cfg.engine_version),
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
            "CacheParameterGroupName": ctx.output(self.site.step("cache-parameter-group"),
                                                  "name"),
            "CacheSubnetGroupName": ctx.output(self.site.step("cache-subnet-group"), "name"),
            "SecurityGroupIds": self.security_group_ids(ctx),
            "Port": cfg.port,
            "Tags": aws_tags(self.tags()),
        }
        if cfg.at_rest_encryption:
            params["KmsKeyId"] = ctx.output(self.site.step("kms"), "key_arn")
        if cfg.auth_token:
            params["AuthToken"] = self.auth_token(ctx)
        if cache_log_deliveries(self.config, cfg):
            params["LogDeliveryConfigurations"] = cache_log_deliveries(self.config, cfg)
        created = self.ec(ctx).create_replication_group(**params)["ReplicationGroup"]
        # Tags are not listable until the group is available; they were just sent.
        data = dict(created)
        data.setdefault("MemberClusters", [])
        data["TagMap"] = self.tags()
        data["Member"] = None
        return Resource(created["ReplicationGroupId"], data)

    def auth_token(self, ctx: StepContext) -> str:
        """The AUTH token from Secrets Manager (registered for log redaction on read).

        A cache of another site reads the secret's replica in its own region
        when there is one (``dr_arn``, same value), so the standby can be
        built or repaired while the primary region is down.
        """
        replica = str((ctx.outputs_of(AUTH_SECRET_STEP) or {}).get("dr_arn") or "")
        if self.site.region is not None and replica.split(":")[3:4] == [self.region]:
            return read_secret_string(ctx, replica, self.region)
        return read_secret_string(ctx, str(ctx.output(AUTH_SECRET_STEP, "arn")))

    def security_group_ids(self, ctx: StepContext) -> list[str]:
        return [str(ctx.output(self.site.step(f"sg.{name}"), "group_id"))
                for name in self.redis.security_groups]

    def is_ready(self, resource: Resource) -> bool:
        """Serving traffic: a daily backup (``snapshotting``) is no reason to wait."""
        return resource.data.get("Status") in ("available", "snapshotting")

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        self.await_available(ctx, resource.id, "create" if resource.data.get("Status") ==
                             "creating" else "modify")
        return self.refresh(ctx, resource.id)

    # -- drift ----------------------------------------------------------------
    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        status = resource.data.get("Status")
        if status in ("deleting", "create-failed"):
            # Neither becomes available again: the group has to go first.
            return [Change("status", status, "available", replace=True)]
        return drift(self, ctx, resource.data, replication_group_fields(self, ctx))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """Converge in-place drift with ApplyImmediately (see :class:`Modification`)."""
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        modification = Modification(self, ctx)
        converge(modification, ctx, resource, changes, replication_group_fields(self, ctx))
        modification.run(resource)
        return self.refresh(ctx, resource.id)

    def modify(self, ctx: StepContext, group_id: str, **params: Any) -> None:
        """One ModifyReplicationGroup call, once the group accepts modifications."""
        self.await_available(ctx, group_id)
        self.ec(ctx).modify_replication_group(ReplicationGroupId=group_id,
                                              ApplyImmediately=True, **params)

    def set_replicas(self, ctx: StepContext, group_id: str, *, increase: bool) -> None:
        self.await_available(ctx, group_id)
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
                self.await_available(ctx, group_id)
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
                 delay_s=self.poll_s, expected_s=self.aws_seconds("delete"),
                 region=self.region, ReplicationGroupId=group_id)
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
        # What the cache alarms watch (ElastiCache's metrics are per member cluster), as
        # this run read them: the alarms need not describe the group again.
        outputs["member_clusters"] = sorted(data.get("MemberClusters") or [])
        return outputs


__all__ = ["CacheStep", "described"]
