"""ElastiCache fixes: parameter groups, deletions that complete, the reader endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vivr_sandbox.fixes.patching import add_missing, wrap


def _elasticache_error(code: str, message: str) -> Exception:
    """A moto service exception; moto takes the HTTP status from the botocore model."""
    from moto.elasticache.exceptions import ElastiCacheException

    return ElastiCacheException(code, message)


def _forget_after_first_look(backend: Any, store: dict[str, Any], shown: list[Any],
                             key: str, status_attr: str) -> None:
    """Drop resources in ``deleting`` once a describe has shown them that way.

    Except under a timing profile, which keeps a deleted resource listed for
    AWS's delete duration (:func:`vivr_sandbox.timing.clock.hold_deleted`).
    """
    from vivr_sandbox.timing.clock import held

    for resource in shown:
        if getattr(resource, status_attr, None) == "deleting" and not held(resource):
            store.pop(getattr(resource, key), None)
            backend.tagging_service.delete_all_tags_for_resource(resource.arn)



#: CacheParameterGroupFamily values AWS accepts (botocore's CreateCacheParameterGroup doc).
CACHE_PARAMETER_GROUP_FAMILIES = frozenset({
    "memcached1.4", "memcached1.5", "memcached1.6", "redis2.6", "redis2.8", "redis3.2",
    "redis4.0", "redis5.0", "redis6.x", "redis7", "valkey7", "valkey8",
})


@dataclass
class CacheParameterGroup:
    """A cache parameter group; attribute names follow the botocore shape (snake_case)."""

    cache_parameter_group_name: str
    cache_parameter_group_family: str
    description: str
    arn: str
    is_global: bool = False
    #: Parameters the user set (name -> value); engine defaults are not modelled.
    user_parameters: dict[str, str] = field(default_factory=dict)

    def parameters(self) -> list[dict[str, Any]]:
        return [{"ParameterName": name, "ParameterValue": value, "Description": "",
                 "Source": "user", "DataType": "string", "IsModifiable": True,
                 "ChangeType": "immediate"}
                for name, value in sorted(self.user_parameters.items())]


def _parameter_groups(backend: Any) -> dict[str, CacheParameterGroup]:
    """The per account+region store, kept on the backend (so /moto-api/reset clears it)."""
    groups: dict[str, CacheParameterGroup] = backend.__dict__.setdefault(
        "cache_parameter_groups", {})
    return groups


def _parameter_group(backend: Any, name: str) -> CacheParameterGroup:
    group = _parameter_groups(backend).get(name)
    if group is None:
        raise _elasticache_error("CacheParameterGroupNotFound",
                                 f"Cache parameter group {name} not found.")
    return group


def _users_of(backend: Any, attribute: str, name: str) -> list[str]:
    """IDs of replication groups and cache clusters whose ``attribute`` is ``name``."""
    groups = [group.replication_group_id for group in backend.replication_groups.values()
              if getattr(group, attribute, None) == name and group.status != "deleting"]
    clusters = [cluster.cache_cluster_id for cluster in backend.cache_clusters.values()
                if getattr(cluster, attribute, None) == name
                and cluster.cache_cluster_status != "deleting"]
    return groups + clusters


def _fix_elasticache_parameter_groups() -> None:
    """ElastiCache: cache parameter groups implemented (Create/Describe/Modify/Reset/Delete
    CacheParameterGroup(s), DescribeCacheParameters).

    moto 5.2.5 has none of these operations: every call is a 500
    NotImplementedError, so a step that models ``maxmemory-policy=allkeys-lru``
    in a parameter group cannot run in the sandbox.  AWS stores the group per
    account and region, rejects a duplicate name with
    ``CacheParameterGroupAlreadyExists`` and an unknown one with
    ``CacheParameterGroupNotFound`` (HTTP 404), returns user-set parameters with
    ``Source=user``, and refuses to delete a group in use
    (``InvalidCacheParameterGroupState``).  Modelled here: name, family (checked
    against AWS's list), description, tags, user-set parameters.  Not modelled:
    engine-default parameters (``DescribeCacheParameters`` returns only
    user-set ones, as moto's RDS does) and AWS's ``default.*`` groups.
    """
    from moto.core.responses import ActionResult, EmptyResult, PaginatedResult
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    # Backend: the state.
    def create_cache_parameter_group(self: Any, name: str, family: str, description: str,
                                     tags: list[dict[str, str]] | None) -> CacheParameterGroup:
        groups = _parameter_groups(self)
        if name in groups:
            raise _elasticache_error("CacheParameterGroupAlreadyExists",
                                     f"Cache Parameter Group {name} already exists.")
        if family not in CACHE_PARAMETER_GROUP_FAMILIES:
            raise _elasticache_error(
                "InvalidParameterValue",
                f"The parameter CacheParameterGroupFamily {family} is not a valid cache "
                "parameter group family.")
        arn = f"arn:aws:elasticache:{self.region_name}:{self.account_id}:parametergroup:{name}"
        group = CacheParameterGroup(name, family, description, arn)
        if tags:
            self.tagging_service.tag_resource(arn, tags)
        groups[name] = group
        return group

    def describe_cache_parameter_groups(self: Any,
                                        name: str | None = None) -> list[CacheParameterGroup]:
        if name:
            return [_parameter_group(self, name)]
        return list(_parameter_groups(self).values())

    def modify_cache_parameter_group(self: Any, name: str,
                                     values: list[dict[str, str]]) -> CacheParameterGroup:
        group = _parameter_group(self, name)
        for value in values:
            group.user_parameters[value["ParameterName"]] = value["ParameterValue"]
        return group

    def reset_cache_parameter_group(self: Any, name: str, reset_all: bool,
                                    values: list[dict[str, str]]) -> CacheParameterGroup:
        group = _parameter_group(self, name)
        if reset_all:
            group.user_parameters.clear()
        for value in values:
            group.user_parameters.pop(value["ParameterName"], None)
        return group

    def delete_cache_parameter_group(self: Any, name: str) -> None:
        group = _parameter_group(self, name)
        if users := _users_of(self, "cache_parameter_group_name", name):
            raise _elasticache_error(
                "InvalidCacheParameterGroupState",
                f"Cache parameter group {name} is in use by {', '.join(users)}.")
        del _parameter_groups(self)[name]
        self.tagging_service.delete_all_tags_for_resource(group.arn)

    def describe_cache_parameters(self: Any, name: str,
                                  source: str | None = None) -> list[dict[str, Any]]:
        group = _parameter_group(self, name)
        return group.parameters() if source in (None, "user") else []

    # Responses: parameter parsing and the botocore output shape.
    def r_create(self: Any) -> Any:
        group = self.elasticache_backend.create_cache_parameter_group(
            self._get_param("CacheParameterGroupName"),
            self._get_param("CacheParameterGroupFamily"),
            self._get_param("Description"),
            self._get_param("Tags", []))
        return ActionResult({"CacheParameterGroup": group})

    def r_describe_groups(self: Any) -> Any:
        groups = self.elasticache_backend.describe_cache_parameter_groups(
            self._get_param("CacheParameterGroupName"))
        return PaginatedResult({"CacheParameterGroups": groups})

    def r_modify(self: Any) -> Any:
        group = self.elasticache_backend.modify_cache_parameter_group(
            self._get_param("CacheParameterGroupName"),
            self._get_param("ParameterNameValues", []))
        return ActionResult({"CacheParameterGroupName": group.cache_parameter_group_name})

    def r_reset(self: Any) -> Any:
        group = self.elasticache_backend.reset_cache_parameter_group(
            self._get_param("CacheParameterGroupName"),
            bool(self._get_bool_param("ResetAllParameters")),
            self._get_param("ParameterNameValues", []))
        return ActionResult({"CacheParameterGroupName": group.cache_parameter_group_name})

    def r_delete(self: Any) -> Any:
        self.elasticache_backend.delete_cache_parameter_group(
            self._get_param("CacheParameterGroupName"))
        return EmptyResult()

    def r_describe_parameters(self: Any) -> Any:
        parameters = self.elasticache_backend.describe_cache_parameters(
            self._get_param("CacheParameterGroupName"), self._get_param("Source"))
        return PaginatedResult({"Parameters": parameters})

    for name, method in [
        ("create_cache_parameter_group", create_cache_parameter_group),
        ("describe_cache_parameter_groups", describe_cache_parameter_groups),
        ("modify_cache_parameter_group", modify_cache_parameter_group),
        ("reset_cache_parameter_group", reset_cache_parameter_group),
        ("delete_cache_parameter_group", delete_cache_parameter_group),
        ("describe_cache_parameters", describe_cache_parameters),
    ]:
        add_missing(ElastiCacheBackend, name, method)
    for name, method in [
        ("create_cache_parameter_group", r_create),
        ("describe_cache_parameter_groups", r_describe_groups),
        ("modify_cache_parameter_group", r_modify),
        ("reset_cache_parameter_group", r_reset),
        ("delete_cache_parameter_group", r_delete),
        ("describe_cache_parameters", r_describe_parameters),
    ]:
        add_missing(ElastiCacheResponse, name, method)

    # Tags on a parameter group ARN: moto's ARN check knows no "parametergroup".
    @wrap(ElastiCacheBackend, "list_tags_for_resource")
    def list_tags_for_resource(original: Any, self: Any, arn: str) -> Any:
        if ":parametergroup:" in arn:
            return self.tagging_service.list_tags_for_resource(arn)
        return original(self, arn)


def _fix_elasticache_replication_group_delete() -> None:
    """ElastiCache: a deleted replication group is listed as `deleting` once, then gone
    (ReplicationGroupNotFoundFault); FinalSnapshotIdentifier takes a snapshot.

    moto 5.2.5 sets Status ``deleting`` and keeps the group forever, so the
    botocore waiter ``replication_group_deleted`` (success only on
    ``ReplicationGroupNotFoundFault``) always times out, the group blocks
    re-creation of its ID and the teardown of its subnet group.  AWS shows
    ``deleting`` for a while, then the group disappears.  Here the first
    describe after the delete still shows ``deleting`` (so callers see the
    asynchronous transition), and the group (with its tags) is removed right
    after.  moto also ignores ``FinalSnapshotIdentifier``; AWS takes a manual
    snapshot before deleting, so the fix takes one with moto's own
    ``create_snapshot`` (which also rejects a name already used).
    """
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    @wrap(ElastiCacheBackend, "describe_replication_groups")
    def describe_replication_groups(original: Any, self: Any, *args: Any,
                                    **kwargs: Any) -> Any:
        groups = original(self, *args, **kwargs)
        _forget_after_first_look(self, self.replication_groups, groups,
                                 "replication_group_id", "status")
        return groups

    @wrap(ElastiCacheResponse, "delete_replication_group")
    def delete_replication_group(original: Any, self: Any) -> Any:
        final_snapshot = self._get_param("FinalSnapshotIdentifier")
        group_id = self._get_param("ReplicationGroupId")
        if final_snapshot and group_id in self.elasticache_backend.replication_groups:
            self.elasticache_backend.create_snapshot(
                snapshot_name=final_snapshot, replication_group_id=group_id,
                cache_cluster_id=None, kms_key_id=None, tags=None)
        return original(self)


def _fix_elasticache_cache_cluster_delete() -> None:
    """ElastiCache: a deleted cache cluster is listed as `deleting` once, then gone
    (CacheClusterNotFound).

    moto 5.2.5 keeps a deleted cache cluster with CacheClusterStatus
    ``deleting`` forever, so the botocore waiter ``cache_cluster_deleted``
    always times out.  AWS removes the cluster once it is deleted.  Same
    treatment as replication groups: shown as ``deleting`` on the first
    describe after the delete, then removed.
    """
    from moto.elasticache.models import ElastiCacheBackend

    @wrap(ElastiCacheBackend, "describe_cache_clusters")
    def describe_cache_clusters(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        clusters = original(self, *args, **kwargs)
        _forget_after_first_look(self, self.cache_clusters, clusters,
                                 "cache_cluster_id", "cache_cluster_status")
        return clusters


def _fix_elasticache_delete_cache_subnet_group() -> None:
    """ElastiCache: DeleteCacheSubnetGroup implemented (CacheSubnetGroupNotFoundFault,
    CacheSubnetGroupInUse).

    moto 5.2.5 answers 500 NotImplementedError and never removes the group, so
    a correct teardown fails and leaves the group behind.  AWS removes it,
    answers ``CacheSubnetGroupNotFoundFault`` for an unknown name and
    ``CacheSubnetGroupInUse`` while a cluster or replication group still uses it.
    """
    from moto.core.responses import EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    def delete_cache_subnet_group(self: Any, cache_subnet_group_name: str) -> None:
        group = self.cache_subnet_groups.get(cache_subnet_group_name)
        if group is None:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)
        if users := _users_of(self, "cache_subnet_group_name", cache_subnet_group_name):
            raise _elasticache_error(
                "CacheSubnetGroupInUse",
                f"Cache subnet group {cache_subnet_group_name} is currently in use by "
                f"{', '.join(users)}.")
        del self.cache_subnet_groups[cache_subnet_group_name]
        self.tagging_service.delete_all_tags_for_resource(group.arn)

    def r_delete_cache_subnet_group(self: Any) -> Any:
        self.elasticache_backend.delete_cache_subnet_group(
            self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    add_missing(ElastiCacheBackend, "delete_cache_subnet_group", delete_cache_subnet_group)
    add_missing(ElastiCacheResponse, "delete_cache_subnet_group", r_delete_cache_subnet_group)



def _fix_elasticache_reader_endpoint() -> None:
    """ElastiCache: describe_replication_groups reports NodeGroups[].ReaderEndpoint for
    cluster-mode-disabled groups.

    moto 5.2.5 computes the reader address of such a group
    (``replica.<group>...``) but never serialises it, so the node group has a
    PrimaryEndpoint and no ReaderEndpoint.  AWS reports both for a Redis
    group with cluster mode disabled (botocore model ``NodeGroup.ReaderEndpoint``:
    "The endpoint of the replica nodes in this node group (shard)"; the
    ElastiCache guide "Finding connection endpoints": the reader endpoint
    spreads connections over the read replicas).  An application configured
    from it reads the replicas; without the fix such a config could not be
    applied in the sandbox.  The fix exposes moto's own reader address.
    """
    from moto.elasticache.models import ReplicationGroup

    @wrap(ReplicationGroup, "__init__")
    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for node_group in self.node_groups:
            address = node_group.get("reader_endpoint_address")
            if address and "reader_endpoint" not in node_group:
                node_group["reader_endpoint"] = {"address": address,
                                                 "port": node_group.get("port", self.port)}


def _member_of(backend: Any, cluster_id: str) -> Any:
    """The replication group ``cluster_id`` is a member of, or None."""
    for group in backend.replication_groups.values():
        if cluster_id in group.member_clusters:
            return group
    return None


def member_cluster(group: Any, cluster_id: str, *, node_info: bool) -> dict[str, Any]:
    """How AWS describes one member cache cluster of ``group`` (botocore shape
    ``CacheCluster``): the group's cluster-level settings, as they are now."""
    node: dict[str, Any] = next((m for g in group.node_groups
                                 for m in g["node_group_members"]
                                 if m["cache_cluster_id"] == cluster_id), {})
    parameter_group = {"CacheParameterGroupName": group.cache_parameter_group_name,
                       "ParameterApplyStatus": "in-sync", "CacheNodeIdsToReboot": []}
    cluster: dict[str, Any] = {
        "CacheClusterId": cluster_id, "ReplicationGroupId": group.replication_group_id,
        "CacheNodeType": group.cache_node_type, "Engine": group.engine,
        "EngineVersion": group.engine_version, "CacheClusterStatus": group.status,
        "NumCacheNodes": 1, "PreferredAvailabilityZone": node.get("preferred_availability_zone"),
        "CacheClusterCreateTime": group.replication_group_create_time,
        "PreferredMaintenanceWindow": group.preferred_maintenance_window,
        "CacheSecurityGroups": [], "CacheParameterGroup": parameter_group,
        "CacheSubnetGroupName": group.cache_subnet_group_name,
        "AutoMinorVersionUpgrade": group.auto_minor_version_upgrade,
        "SecurityGroups": [{"SecurityGroupId": i, "Status": "active"}
                           for i in group.security_group_ids or []],
        "SnapshotRetentionLimit": group.snapshot_retention_limit,
        "SnapshotWindow": group.snapshot_window,
        "AuthTokenEnabled": group.auth_token_enabled,
        "TransitEncryptionEnabled": group.transit_encryption_enabled,
        "AtRestEncryptionEnabled": group.at_rest_encryption_enabled,
        "ARN": group.arn.replace(f":replicationgroup:{group.replication_group_id}",
                                 f":cluster:{cluster_id}"),
        "ReplicationGroupLogDeliveryEnabled": bool(group.log_delivery_configurations),
        "LogDeliveryConfigurations": group.log_delivery_configurations or [],
        "NetworkType": group.network_type, "IpDiscovery": group.ip_discovery,
    }
    if node_info:  # ShowCacheNodeInfo: the node and its endpoint
        endpoint = node.get("read_endpoint") or {}
        cluster["CacheNodes"] = [{
            "CacheNodeId": "0001", "CacheNodeStatus": group.status,
            "CacheNodeCreateTime": group.replication_group_create_time,
            "Endpoint": {"Address": endpoint.get("address"),
                         "Port": endpoint.get("port", group.port)},
            "ParameterGroupStatus": "in-sync",
            "CustomerAvailabilityZone": node.get("preferred_availability_zone")}]
    return cluster


#: ModifyReplicationGroup parameters AWS applies to the group's member clusters
#: (botocore model), and the group attribute the member description reads.
MEMBER_SETTINGS = {"SecurityGroupIds": "security_group_ids",
                   "CacheParameterGroupName": "cache_parameter_group_name",
                   "PreferredMaintenanceWindow": "preferred_maintenance_window",
                   "EngineVersion": "engine_version"}


def _fix_elasticache_member_clusters() -> None:
    """ElastiCache: DescribeCacheClusters describes a replication group's member clusters
    (CacheClusterId of a member, ShowCacheNodeInfo honoured), and ModifyReplicationGroup
    changes the settings they report.

    moto 5.2.5 keeps the members' ids in the group's ``MemberClusters`` but
    makes no cache cluster for them, so describing one answers
    CacheClusterNotFound (404).  AWS makes each member a cache cluster named
    in ``MemberClusters`` and describes it by id (ElastiCache API reference,
    DescribeCacheClusters: "individual cache clusters ... including those in
    replication groups"); the cluster-level settings (security groups,
    parameter group, engine version, maintenance window, subnet group) are
    reported there only.  The fix describes a member from its group as the
    group is now (status, settings; ``CacheNodes`` with ShowCacheNodeInfo).
    moto's ModifyReplicationGroup also drops SecurityGroupIds,
    CacheParameterGroupName, PreferredMaintenanceWindow and EngineVersion,
    which AWS applies to every member; the fix applies them to the group.
    Listing every cluster (no CacheClusterId) is left as moto does it.
    """
    from moto.core.responses import PaginatedResult
    from moto.elasticache.responses import ElastiCacheResponse

    @wrap(ElastiCacheResponse, "describe_cache_clusters")
    def describe_cache_clusters(original: Any, self: Any) -> Any:
        cluster_id = self._get_param("CacheClusterId")
        backend = self.elasticache_backend
        group = None if not cluster_id or cluster_id in backend.cache_clusters \
            else _member_of(backend, cluster_id)
        if group is None:
            return original(self)
        node_info = str(self._get_param("ShowCacheNodeInfo", False)).lower() == "true"
        return PaginatedResult({"CacheClusters": [
            member_cluster(group, cluster_id, node_info=node_info)]})

    @wrap(ElastiCacheResponse, "modify_replication_group")
    def modify_replication_group(original: Any, self: Any) -> Any:
        result = original(self)
        group = result.result["ReplicationGroup"]
        sent = self._get_params()
        for param, attribute in MEMBER_SETTINGS.items():
            if sent.get(param) is not None:
                setattr(group, attribute, sent[param])
        return result


#: The fixes of this module, in application order.
FIXES: list[Callable[[], None]] = [
    _fix_elasticache_parameter_groups,
    _fix_elasticache_replication_group_delete,
    _fix_elasticache_cache_cluster_delete,
    _fix_elasticache_delete_cache_subnet_group,
    _fix_elasticache_reader_endpoint,
    _fix_elasticache_member_clusters,
]
