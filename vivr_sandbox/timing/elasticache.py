"""ElastiCache under a timing profile: replication groups and cache clusters take AWS's time.

moto 5.2.5 reports ``available`` in the create response and applies a
modification at once; the sandbox's fix (vivr_sandbox/fixes/elasticache.py)
removes a deleted group after one describe.  On AWS a two-node Redis group is
``creating`` for about 12 minutes, ``modifying`` while a change with
ApplyImmediately is applied, and ``deleting`` until every node is gone (then
ReplicationGroupNotFoundFault).  ``replication_group_available`` keeps
polling on creating/modifying (it fails only on ``deleted``);
``replication_group_deleted`` keeps polling on ``deleting`` (it fails only on
``available``).  Cache clusters: ``cache_cluster_available`` keeps polling on
``creating``; ``cache_cluster_deleted`` on ``deleting``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.attributes import time_attribute
from vivr_sandbox.timing.clock import begin, forget, held, hold_deleted

GROUP = "elasticache_replication_group"
CLUSTER = "elasticache_cache_cluster"


def _already_deleting(kind: str, name: str) -> Exception:
    from moto.elasticache.exceptions import ElastiCacheException

    code = ("InvalidReplicationGroupState" if kind == GROUP else "InvalidCacheClusterState")
    return ElastiCacheException(code, f"{name} is being deleted.")


def _time_replication_groups() -> None:
    """ElastiCache: replication groups report creating / modifying / deleting for the
    profile's durations."""
    from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup

    time_attribute(ReplicationGroup, "status")

    @wrap(ElastiCacheBackend, "create_replication_group")
    def create_replication_group(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        group = original(self, *args, **kwargs)
        begin(group, GROUP, "create", {"status": "creating"})
        return group

    @wrap(ElastiCacheBackend, "modify_replication_group")
    def modify_replication_group(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        group = original(self, *args, **kwargs)
        begin(group, GROUP, "modify", {"status": "modifying"})
        return group

    @wrap(ElastiCacheBackend, "delete_replication_group")
    def delete_replication_group(original: Any, self: Any, replication_group_id: str,
                                 *args: Any, **kwargs: Any) -> Any:
        existing = self.replication_groups.get(replication_group_id)
        if existing is not None and held(existing):
            raise _already_deleting(GROUP, f"Replication group {replication_group_id}")
        group = original(self, replication_group_id, *args, **kwargs)
        forget(group)  # moto stores "deleting"

        def release() -> None:
            if self.replication_groups.get(replication_group_id) is group:
                del self.replication_groups[replication_group_id]
                self.tagging_service.delete_all_tags_for_resource(group.arn)

        hold_deleted(group, self.account_id, GROUP, release)
        return group


def _time_cache_clusters() -> None:
    """ElastiCache: cache clusters report creating / deleting for the profile's durations."""
    from moto.elasticache.models import CacheCluster, ElastiCacheBackend

    time_attribute(CacheCluster, "cache_cluster_status")

    @wrap(ElastiCacheBackend, "create_cache_cluster")
    def create_cache_cluster(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        begin(cluster, CLUSTER, "create", {"cache_cluster_status": "creating"})
        return cluster

    @wrap(ElastiCacheBackend, "delete_cache_cluster")
    def delete_cache_cluster(original: Any, self: Any, cache_cluster_id: str) -> Any:
        existing = self.cache_clusters.get(cache_cluster_id)
        if existing is not None and held(existing):
            raise _already_deleting(CLUSTER, f"Cache cluster {cache_cluster_id}")
        cluster = original(self, cache_cluster_id)
        forget(cluster)

        def release() -> None:
            if self.cache_clusters.get(cache_cluster_id) is cluster:
                del self.cache_clusters[cache_cluster_id]
                self.tagging_service.delete_all_tags_for_resource(cluster.arn)

        hold_deleted(cluster, self.account_id, CLUSTER, release)
        return cluster


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_replication_groups, _time_cache_clusters]
