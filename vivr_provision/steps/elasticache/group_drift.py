"""The replication group's drift: its settings as a table, and how one update converges them.

Which settings ModifyReplicationGroup changes in place (with
``ApplyImmediately``) and which only a new group can change is each row's
``effect``; the classification is the module docstring's of
:mod:`vivr_provision.steps.elasticache`.

Cluster-level settings (engine version, security groups, parameter group,
maintenance window, subnet group) are reported on each member cache
cluster, not on the group: their rows read ``data["Member"]`` and are not
judged (``UNREPORTED``) when no member could be described.

A few rows compare in a way no plain comparison expresses (a ``7`` in the
config accepts any 7.x; a window differing only in case; the key ARN of
the same key id), so the table is built for one config and one context
and those rows show AWS's value in the config's spelling when the two
mean the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from vivr_provision.config.data import RedisConfig
from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.drift import NAME, UNREPORTED, Field, tags_row
from vivr_provision.steps.log_delivery import (
    cache_log_deliveries,
    cache_log_update,
    log_delivery_map,
)

if TYPE_CHECKING:
    from vivr_provision.steps.elasticache.replication_group import CacheStep

Move = Literal["same", "upgrade", "replace"]


def _version(text: str) -> tuple[int, ...]:
    """``"7.0.7"`` -> ``(7, 0)``: major.minor, the part the config pins."""
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def engine_move(version: str, wanted: str) -> Move:
    """What it takes to go from AWS's engine version to the config's.

    A major ("7") accepts any 7.x: a newer minor at AWS is no reason to
    upgrade.  Upgrades within a major version are in place; AWS never
    downgrades, and a major version change is a new group.
    """
    current, desired = _version(version), _version(wanted)
    if current == desired or (len(desired) == 1 and current[:1] == desired):
        return "same"
    return "upgrade" if current[:1] == desired[:1] and current < desired else "replace"


def _enabled(status: str | None) -> bool:
    """AutomaticFailover/MultiAZ report enabled|enabling|disabled|disabling."""
    return status in ("enabled", "enabling")


def _member(read: Callable[[Mapping[str, Any]], Any]) -> Callable[[Mapping[str, Any]], Any]:
    """A row's ``current`` reading the first member cache cluster (UNREPORTED without one)."""
    return lambda d: UNREPORTED if d.get("Member") is None else read(d["Member"])


def _port(data: Mapping[str, Any]) -> Any:
    node_groups = data.get("NodeGroups") or []
    endpoint = (node_groups[0].get("PrimaryEndpoint") if node_groups else None) \
        or data.get("ConfigurationEndpoint") or {}
    return UNREPORTED if endpoint.get("Port") is None else endpoint["Port"]


def replication_group_fields(step: CacheStep, ctx: StepContext) -> tuple[Field, ...]:
    """The rows, in the order plan lists changes; ``apply`` names a :class:`Modification` part.

    Sibling steps are named through the step's site (``kms`` or ``dr.kms`` ...).
    """
    cfg: RedisConfig = step.redis
    kms_step = step.site.step("kms")

    def replicas(data: Mapping[str, Any]) -> Any:
        node_groups = data.get("NodeGroups") or []
        if not node_groups:
            return UNREPORTED
        counts = sorted({len(g.get("NodeGroupMembers", [])) - 1 for g in node_groups})
        return cfg.replicas if counts == [cfg.replicas] else counts

    def kms_key(data: Mapping[str, Any]) -> Any:
        if not data.get("AtRestEncryptionEnabled"):
            return UNREPORTED
        key = data.get("KmsKeyId")
        # Any ARN ending in the key's id names it too (any_of lists only its ARN and id).
        same = str(key or "").endswith(f"/{ctx.output(kms_step, 'key_id')}")
        return ctx.output(kms_step, "key_arn") if same else key

    def engine_version(move: Move) -> Callable[[Mapping[str, Any]], Any]:
        def current(member: Mapping[str, Any]) -> Any:
            version = str(member.get("EngineVersion") or "")
            if not version:
                return UNREPORTED
            return version if engine_move(version, cfg.engine_version) == move \
                else cfg.engine_version
        return _member(current)

    def window(member: Mapping[str, Any]) -> Any:
        found = str(member.get("PreferredMaintenanceWindow") or "")
        return cfg.maintenance_window if found.lower() == cfg.maintenance_window.lower() \
            else found or None

    rows = [
        NAME,
        # Tags cannot be listed while the group is not available (TagMap None).
        tags_row(lambda d: UNREPORTED if d.get("TagMap") is None else d["TagMap"]),
        Field("description", lambda d: d.get("Description"),
              lambda s, c: s.redis.description, apply="description"),
        Field("node_type", lambda d: d.get("CacheNodeType"),
              lambda s, c: s.redis.node_type, apply="node_type"),
        Field("automatic_failover", lambda d: _enabled(d.get("AutomaticFailover")),
              lambda s, c: s.redis.automatic_failover, apply="failover"),
        Field("multi_az", lambda d: _enabled(d.get("MultiAZ")),
              lambda s, c: s.redis.multi_az, apply="failover"),
        Field("snapshot_retention_days", lambda d: d.get("SnapshotRetentionLimit"),
              lambda s, c: s.redis.snapshot_retention_days, apply="snapshot_retention"),
    ]
    if cfg.snapshot_retention_days:  # without snapshots the window means nothing
        rows.append(Field("snapshot_window", lambda d: d.get("SnapshotWindow"),
                          lambda s, c: s.redis.snapshot_window, apply="snapshot_window"))
    rows += [
        # Adding AUTH to a TLS group is in place (ROTATE); taking it away is not.
        Field("auth_token", lambda d: bool(d.get("AuthTokenEnabled")),
              lambda s, c: s.redis.auth_token,
              effect="in_place" if cfg.auth_token else "replace", apply="auth_token"),
        Field("replicas", replicas, lambda s, c: s.redis.replicas, apply="replicas"),
        Field("shards", lambda d: len(d.get("NodeGroups") or []),
              lambda s, c: s.redis.shards, effect="replace"),
        Field("cluster_mode_enabled", lambda d: bool(d.get("ClusterEnabled")),
              lambda s, c: s.redis.cluster_mode == "enabled", effect="replace"),
        Field("at_rest_encryption", lambda d: bool(d.get("AtRestEncryptionEnabled")),
              lambda s, c: s.redis.at_rest_encryption, effect="replace"),
        # AWS needs a two-step TransitEncryptionMode migration: not done here.
        Field("transit_encryption", lambda d: bool(d.get("TransitEncryptionEnabled")),
              lambda s, c: s.redis.transit_encryption, effect="replace"),
    ]
    if cfg.at_rest_encryption:
        rows.append(Field("kms_key", kms_key, lambda s, c: (c.output(kms_step, "key_arn"),
                                                            c.output(kms_step, "key_id")),
                          compare="any_of", effect="replace"))
    rows += [
        Field("port", _port, lambda s, c: s.redis.port, effect="replace"),
        Field("log_delivery", lambda d: log_delivery_map(d.get("LogDeliveryConfigurations")),
              lambda s, c: log_delivery_map(cache_log_deliveries(s.config, s.redis)),
              apply="log_delivery"),
        # Two rows, one name: whichever way the version has to move, one of them reports it.
        Field("engine_version", engine_version("upgrade"), lambda s, c: s.redis.engine_version,
              apply="engine_version"),
        Field("engine_version", engine_version("replace"), lambda s, c: s.redis.engine_version,
              effect="replace"),
        Field("security_groups", _member(lambda m: sorted(
            g["SecurityGroupId"] for g in m.get("SecurityGroups", [])
            if g.get("Status") != "removing")),
              lambda s, c: sorted(s.security_group_ids(c)), apply="security_groups"),
        Field("parameter_group", _member(
            lambda m: (m.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")),
              lambda s, c: c.output(s.site.step("cache-parameter-group"), "name"),
              apply="parameter_group"),
        Field("maintenance_window", _member(window), lambda s, c: s.redis.maintenance_window,
              apply="maintenance_window"),
        Field("subnet_group", _member(lambda m: m.get("CacheSubnetGroupName")),
              lambda s, c: c.output(s.site.step("cache-subnet-group"), "name"),
              effect="replace"),
    ]
    return tuple(rows)


class Modification:
    """One update of the replication group, gathered from the table, then made in order.

    :func:`~vivr_provision.steps.drift.converge` calls one part per drifted
    kind of setting; each part only records.  :meth:`run` then calls AWS the
    way ElastiCache needs: it rejects a modification while the group is
    ``modifying`` (each call waits for ``available``), replicas are added
    before failover is switched on and removed after it is switched off,
    node type and engine version (long, disruptive operations) go in calls
    of their own, and tags go last (not writable until ``available``).
    """

    def __init__(self, step: CacheStep, ctx: StepContext) -> None:
        self.step, self.ctx, self.cfg = step, ctx, step.redis
        #: One ModifyReplicationGroup call with these settings.
        self.settings: dict[str, Any] = {}
        #: The replica counts found, when the count drifted.
        self.replica_counts: list[int] | None = None
        #: ModifyReplicationGroup calls of their own, in order.
        self.alone: list[dict[str, Any]] = []
        self.tags: list[Change] = []

    # -- parts, named by the rows' ``apply`` -------------------------------------
    def description(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.settings["ReplicationGroupDescription"] = self.cfg.description

    def failover(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        # They constrain each other: always send the consistent pair.
        self.settings["AutomaticFailoverEnabled"] = self.cfg.automatic_failover
        self.settings["MultiAZEnabled"] = self.cfg.multi_az

    def snapshot_retention(self, ctx: StepContext, resource: Resource,
                           changes: list[Change]) -> None:
        self.settings["SnapshotRetentionLimit"] = self.cfg.snapshot_retention_days

    def snapshot_window(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        self.settings["SnapshotWindow"] = self.cfg.snapshot_window

    def maintenance_window(self, ctx: StepContext, resource: Resource,
                           changes: list[Change]) -> None:
        self.settings["PreferredMaintenanceWindow"] = self.cfg.maintenance_window

    def security_groups(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        self.settings["SecurityGroupIds"] = self.step.security_group_ids(ctx)

    def parameter_group(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        self.settings["CacheParameterGroupName"] = ctx.output(
            self.step.site.step("cache-parameter-group"), "name")

    def log_delivery(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        # AWS: log delivery changes need ApplyImmediately (every call here sends it).
        self.settings["LogDeliveryConfigurations"] = cache_log_update(
            resource.data.get("LogDeliveryConfigurations"), self.step.config, self.cfg)

    def auth_token(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        # ROTATE adds a token to a TLS group that has none (AWS: "modifying the AUTH token").
        self.settings["AuthToken"] = self.step.auth_token(ctx)
        self.settings["AuthTokenUpdateStrategy"] = "ROTATE"

    def replicas(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.replica_counts = list(changes[0].current)

    def node_type(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.alone.append({"CacheNodeType": self.cfg.node_type})

    def engine_version(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self.alone.append({"EngineVersion": self.cfg.engine_version})

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self.tags = changes

    # -- the calls ---------------------------------------------------------------
    def run(self, resource: Resource) -> None:
        step, ctx, group_id = self.step, self.ctx, resource.id
        counts = self.replica_counts
        adding = counts is not None and min(counts) < self.cfg.replicas
        if adding:
            step.set_replicas(ctx, group_id, increase=True)
        if self.settings:
            step.modify(ctx, group_id, **self.settings)
        if counts is not None and not adding:
            step.set_replicas(ctx, group_id, increase=False)
        for params in self.alone:
            step.modify(ctx, group_id, **params)
        if self.tags:
            step.await_available(ctx, group_id)
            step.converge_tags(ctx, resource, self.tags)


__all__ = ["Modification", "engine_move", "replication_group_fields"]
