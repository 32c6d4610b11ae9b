"""Compatibility fixes for moto 5.2.5, applied inside the sandbox server's own process.

The project rule (``/work/shared/notes/moto-5.2.5.md``): where a moto deviation
would make *correct* AWS code hang or fail in the local sandbox (a delete that
never completes, a waiter that can never succeed, an API that answers 500), the
sandbox may patch moto in-process.  The product's AWS code never learns it is
talking to an emulator: it keeps calling the real APIs and the real botocore
waiters.

Every fix below is a small wrapper or addition to moto's own backend/response
classes, following moto's patterns (backend methods hold the state, response
methods parse parameters and return an ``ActionResult`` that moto serialises
from the botocore service model).  Each fix's docstring says what moto 5.2.5
does, what AWS does, and why the fix is needed; its first paragraph is what
:func:`apply_moto_fixes` returns for logging.

moto is imported lazily (inside the fixes): the sandbox sets emulator
environment variables that moto reads at import time.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vivr_provision import sandbox_catalog, sandbox_dns, sandbox_logs

log = logging.getLogger(__name__)

#: The moto release these fixes were measured against (pinned in setup.cfg).
MOTO_VERSION = "5.2.5"

_lock = threading.Lock()
#: The lines of the fixes applied in this process (empty until the first call).
_applied: list[str] = []


def apply_moto_fixes() -> list[str]:
    """Patch moto in this process; return one line per fix.

    Idempotent: the first call patches, later calls return the same lines.
    Against any moto other than :data:`MOTO_VERSION` nothing is patched (the
    wrappers rely on 5.2.5 internals), and the single line returned says so.
    """
    with _lock:
        if not _applied:
            import moto

            if moto.__version__ != MOTO_VERSION:
                _applied.append(f"moto {moto.__version__} is not {MOTO_VERSION}: no "
                                "compatibility fixes applied (re-verify sandbox_compat.py)")
            for fix in _FIXES if moto.__version__ == MOTO_VERSION else []:
                fix()
                _applied.append(_summary(fix))
            for line in _applied:
                log.debug("moto compat: %s", line)
        return list(_applied)


def _summary(fix: Callable[[], None]) -> str:
    """The first paragraph of the fix's docstring, on one line."""
    paragraph = (fix.__doc__ or fix.__name__).strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())


# --------------------------------------------------------------------------- helpers

def _add(owner: type, name: str, function: object) -> None:
    """Add a method moto lacks; never replace one a newer moto may have."""
    if name not in vars(owner):
        setattr(owner, name, function)


def _wrap(owner: type, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: replace ``owner.name`` by ``wrapper(original, self, ...)``."""

    def decorate(wrapper: Callable[..., Any]) -> Callable[..., Any]:
        original = vars(owner)[name]

        @functools.wraps(original)
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            return wrapper(original, self, *args, **kwargs)

        setattr(owner, name, patched)
        return patched

    return decorate


def _elasticache_error(code: str, message: str) -> Exception:
    """A moto service exception; moto takes the HTTP status from the botocore model."""
    from moto.elasticache.exceptions import ElastiCacheException

    return ElastiCacheException(code, message)


def _forget_after_first_look(backend: Any, store: dict[str, Any], shown: list[Any],
                             key: str, status_attr: str) -> None:
    """Drop resources in ``deleting`` once a describe has shown them that way."""
    for resource in shown:
        if getattr(resource, status_attr, None) == "deleting":
            store.pop(getattr(resource, key), None)
            backend.tagging_service.delete_all_tags_for_resource(resource.arn)


# --------------------------------------------------------------------------- ElastiCache

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
        _add(ElastiCacheBackend, name, method)
    for name, method in [
        ("create_cache_parameter_group", r_create),
        ("describe_cache_parameter_groups", r_describe_groups),
        ("modify_cache_parameter_group", r_modify),
        ("reset_cache_parameter_group", r_reset),
        ("delete_cache_parameter_group", r_delete),
        ("describe_cache_parameters", r_describe_parameters),
    ]:
        _add(ElastiCacheResponse, name, method)

    # Tags on a parameter group ARN: moto's ARN check knows no "parametergroup".
    @_wrap(ElastiCacheBackend, "list_tags_for_resource")
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

    @_wrap(ElastiCacheBackend, "describe_replication_groups")
    def describe_replication_groups(original: Any, self: Any, *args: Any,
                                    **kwargs: Any) -> Any:
        groups = original(self, *args, **kwargs)
        _forget_after_first_look(self, self.replication_groups, groups,
                                 "replication_group_id", "status")
        return groups

    @_wrap(ElastiCacheResponse, "delete_replication_group")
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

    @_wrap(ElastiCacheBackend, "describe_cache_clusters")
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

    _add(ElastiCacheBackend, "delete_cache_subnet_group", delete_cache_subnet_group)
    _add(ElastiCacheResponse, "delete_cache_subnet_group", r_delete_cache_subnet_group)


# --------------------------------------------------------------------------- RDS

def _fix_rds_read_replica() -> None:
    """RDS: a cross-region read replica resolves DBSubnetGroupName, AZ and security groups
    in its own region; replicas default to DeletionProtection=False.

    moto 5.2.5 copies the source instance and applies the request's parameters
    *before* it moves the copy to the replica's region, so
    ``DBSubnetGroupName=<group in us-west-2>`` is looked up in the source
    region (``DBSubnetGroupNotFoundFault``), and a replica created without an
    AZ or security groups keeps the source's (``us-east-1a``, us-east-1 SGs).
    AWS resolves all of these in the region the replica is created in.  The
    fix sets the replica's region first; without an explicit AZ the replica
    gets one in its region, without security groups the default group of its
    VPC.  The passed ``AvailabilityZone``/``KmsKeyId``/``VpcSecurityGroupIds``
    are applied as sent.

    moto also copies the source's ``DeletionProtection=True`` to the replica,
    so a replica created without the parameter (AWS default: False) cannot be
    deleted and ``db_instance_deleted`` fails; the fix defaults it to False.
    """
    from moto.ec2.models import ec2_backends
    from moto.rds.models import RDSBackend

    @_wrap(RDSBackend, "create_db_instance_read_replica")
    def create_db_instance_read_replica(original: Any, self: Any,
                                        db_kwargs: Any) -> Any:
        kwargs: dict[str, Any] = dict(db_kwargs)
        kwargs.setdefault("deletion_protection", False)
        source = str(kwargs["source_db_instance_identifier"])
        if self.arn_regex.match(source) and source.split(":")[3] != self.region_name:
            # ``backend`` first: DBInstance.update() applies kwargs in order, and the
            # subnet-group setter looks the group up in the instance's current region.
            kwargs = {"backend": self, **kwargs}
            kwargs.setdefault("availability_zone", f"{self.region_name}a")
            if not kwargs.get("vpc_security_group_ids"):
                ec2 = ec2_backends[self.account_id][self.region_name]
                subnet_group = kwargs.get("db_subnet_group_name")
                vpc_id = (self.describe_db_subnet_groups(subnet_group)[0].vpc_id
                          if subnet_group else ec2.default_vpc.id)
                default_group = ec2.get_default_security_group(vpc_id)
                if default_group is not None:
                    kwargs["vpc_security_group_ids"] = [default_group.id]
        return original(self, kwargs)


def _fix_rds_replica_bookkeeping() -> None:
    """RDS: deleting a cross-region replica, or a replica whose source is gone, succeeds.

    moto 5.2.5 records a cross-region replica on its source by ARN but removes
    it by identifier, so ``delete_db_instance`` of a cross-region replica
    fails with a 500 (ValueError) after the instance was already removed; and
    deleting a replica whose source was deleted first fails with
    ``DBInstanceNotFound`` for the *source*.  In AWS both deletes succeed
    (deleting a source promotes its replicas to standalone instances).  The
    fix removes either form of the reference, and promotes the replicas of a
    deleted source.
    """
    from moto.rds.models import DBInstance, RDSBackend

    @_wrap(DBInstance, "remove_replica")
    def remove_replica(original: Any, self: Any, replica: Any) -> None:
        for reference in (replica.db_instance_identifier, replica.db_instance_arn):
            if reference in self.replicas:
                self.replicas.remove(reference)

    @_wrap(RDSBackend, "delete_db_instance")
    def delete_db_instance(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        database = original(self, *args, **kwargs)
        for reference in list(database.replicas):
            try:
                replica = self.find_db_from_id(reference)
            except Exception:
                continue  # the replica is already gone: nothing to promote
            replica.is_replica = False
            replica.source_db_instance_identifier = None
        database.replicas = []
        return database


#: DB instance attributes moto's constructor receives but drops.
_PERFORMANCE_INSIGHTS_KWARGS = ("enable_performance_insights",
                                "performance_insights_retention_period",
                                "performance_insights_kms_key_id",
                                "database_insights_mode")


def _fix_rds_performance_insights() -> None:
    """RDS: Performance Insights settings (enabled, retention, KMS key) and
    DatabaseInsightsMode are persisted and returned.

    moto 5.2.5's DBInstance constructor drops ``EnablePerformanceInsights``,
    ``PerformanceInsightsRetentionPeriod``, ``PerformanceInsightsKMSKeyId`` (and
    ``DatabaseInsightsMode``) and never returns ``PerformanceInsightsEnabled``,
    so describe_db_instances cannot show what was configured and a
    read-compare-modify step sees a permanent difference.  AWS returns them
    (retention defaults to 7 days once enabled).  The fix keeps them on the
    instance at create; modify already stores the raw parameters, and
    ``PerformanceInsightsEnabled`` is read from the stored ``EnablePerformanceInsights``.
    """
    from moto.rds.models import DBInstance

    def apply_defaults(instance: Any) -> None:
        if (instance.__dict__.get("enable_performance_insights")
                and instance.__dict__.get("performance_insights_retention_period") is None):
            instance.performance_insights_retention_period = 7

    @_wrap(DBInstance, "__init__")
    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for key in _PERFORMANCE_INSIGHTS_KWARGS:
            if kwargs.get(key) is not None:
                setattr(self, key, kwargs[key])
        apply_defaults(self)

    @_wrap(DBInstance, "update")
    def update(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        apply_defaults(self)

    def performance_insights_enabled(self: Any) -> bool:
        return bool(self.__dict__.get("enable_performance_insights", False))

    _add(DBInstance, "performance_insights_enabled", property(performance_insights_enabled))


# --------------------------------------------------------------------------- ECS

#: What AWS returns for a REPLICA service created without deploymentConfiguration.
DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def _deployment_configuration(sent: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULT_DEPLOYMENT_CONFIGURATION, **dict(sent or {})}


def _settle_deployments(service: Any) -> None:
    """All desired tasks are running: the PRIMARY deployment is COMPLETED."""
    service.running_count = service.desired_count
    service.pending_count = 0
    for deployment in service.deployments:
        if deployment.get("status") == "PRIMARY":
            deployment.update(desiredCount=service.desired_count,
                              runningCount=service.desired_count, pendingCount=0,
                              rolloutState="COMPLETED",
                              rolloutStateReason=f"ECS deployment {deployment['id']} completed.")


def _fix_ecs_service_settings() -> None:
    """ECS: create_service keeps deploymentConfiguration, healthCheckGracePeriodSeconds,
    enableECSManagedTags and enableExecuteCommand.

    moto 5.2.5's create_service handler never reads these parameters, so
    describe_services omits them (update_service does store them).  AWS
    returns them, with defaults (maximumPercent 200, minimumHealthyPercent 100,
    circuit breaker off, managed tags and execute-command off) for what was
    not sent; without them a read-compare-update step sees a permanent
    difference.  The fix stores them on the service at create and fills the
    same defaults on update.
    """
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    @_wrap(EC2ContainerServiceResponse, "create_service")
    def create_service(original: Any, self: Any) -> Any:
        result = original(self)
        service = result.result["service"]
        service.deployment_configuration = _deployment_configuration(
            self._get_param("deploymentConfiguration"))
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service.health_check_grace_period_seconds = grace
        service.enable_ecs_managed_tags = bool(self._get_param("enableECSManagedTags", False))
        service.enable_execute_command = bool(self._get_param("enableExecuteCommand", False))
        return result

    @_wrap(EC2ContainerServiceBackend, "update_service")
    def update_service(original: Any, self: Any, service_properties: dict[str, Any]) -> Any:
        sent = service_properties.get("deployment_configuration")
        service = original(self, service_properties)
        if sent is not None:
            service.deployment_configuration = _deployment_configuration(sent)
        return service


def _fix_ecs_running_count() -> None:
    """ECS: runningCount follows desiredCount (pendingCount 0, deployment COMPLETED), so
    services_stable succeeds.

    moto 5.2.5 starts no tasks for a service: after create_service with
    desiredCount N > 0 it reports runningCount 0 / pendingCount N forever (and
    after update_service the PRIMARY deployment keeps its old counts), so the
    botocore waiter ``services_stable`` (one deployment and runningCount ==
    desiredCount) times out on correct code.  On AWS the scheduler starts the
    tasks and the service settles.  The fix settles it at once on create and
    update.  If the server was started with moto's own
    ``MOTO_ECS_SERVICE_RUNNING`` setting, create keeps moto's behaviour.
    """
    from moto.ecs.models import EC2ContainerServiceBackend, Service

    @_wrap(Service, "__init__")
    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if "MOTO_ECS_SERVICE_RUNNING" not in os.environ:
            _settle_deployments(self)

    # Wraps the update_service wrapper of _fix_ecs_service_settings (order: see _FIXES).
    @_wrap(EC2ContainerServiceBackend, "update_service")
    def update_service(original: Any, self: Any, service_properties: dict[str, Any]) -> Any:
        service = original(self, service_properties)
        _settle_deployments(service)
        return service


def _fix_rds_modify_db_subnet_group() -> None:
    """RDS: ModifyDBSubnetGroup keeps the group (moto removed it).

    moto 5.2.5 pops the group from its store to modify it and never puts it
    back, so after a correct ``modify_db_subnet_group`` (e.g. re-pointing the
    group at a subnet that was re-created) every describe answers
    ``DBSubnetGroupNotFoundFault``.  AWS modifies the group in place.  The
    fix stores the modified group again under its name.
    """
    from moto.rds.models import RDSBackend

    @_wrap(RDSBackend, "modify_db_subnet_group")
    def modify_db_subnet_group(original: Any, self: Any, subnet_name: str, *args: Any,
                               **kwargs: Any) -> Any:
        group = original(self, subnet_name, *args, **kwargs)
        self.subnet_groups[subnet_name] = group
        return group


_s3_names = threading.Lock()


def _fix_s3_account_namespaces() -> None:
    """S3: each sandbox account has its own bucket namespace.

    moto 5.2.5 keeps one name table for all accounts (``s3_backends.bucket_accounts``),
    as AWS does, and serves another account's bucket to anyone who names it.  The
    sandbox routes access keys to accounts so that test runs and demos sharing a
    server never see each other's resources; with S3 they do: the second account
    that applies the same config gets ``BucketAlreadyExists``, and after a delete
    ``HeadBucket`` still answers 200 from the other account's bucket, so the
    ``bucket_not_exists`` waiter never succeeds.  The fix keeps the name check and
    the lookups within the caller's account.  (Names taken by another account are
    tested with fault injection: ``VIVR_FAULT_FAIL=s3.CreateBucket``.)
    """
    from moto.s3.exceptions import BucketAlreadyExists, MissingBucket
    from moto.s3.models import S3Backend, s3_backends

    @_wrap(S3Backend, "get_bucket")
    def get_bucket(original: Any, self: Any, bucket_name: str) -> Any:
        if bucket_name in self.buckets or bucket_name in self.table_buckets:
            return original(self, bucket_name)
        raise MissingBucket(bucket=bucket_name)

    @_wrap(S3Backend, "create_bucket")
    def create_bucket(original: Any, self: Any, bucket_name: str, *args: Any,
                      **kwargs: Any) -> Any:
        with _s3_names:
            if bucket_name in self.buckets:
                raise BucketAlreadyExists(bucket=bucket_name)
            # The global table is only read by the uniqueness check bypassed here.
            s3_backends.bucket_accounts.pop(bucket_name, None)
            return original(self, bucket_name, *args, **kwargs)


def _blank(value: Any) -> Any:
    """xmltodict reads ``<Prefix></Prefix>`` as None; S3 answers an empty string."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items() if not k.startswith("@")}
    return value


def _fix_s3_replication_round_trip() -> None:
    """S3: GetBucketReplication returns each rule's Filter, DeleteMarkerReplication and
    SourceSelectionCriteria as they were put.

    moto 5.2.5 stores the whole rule but answers ``DeleteMarkerReplication:
    Disabled`` and ``Filter: {Prefix: ""}`` for every rule and drops
    ``SourceSelectionCriteria`` (SSE-KMS objects) and ``ExistingObjectReplication``.
    AWS returns what was put, so a tool that compares the configuration with
    its config sees drift after every apply.  The fix answers from the stored rule.
    """
    from moto.core.responses import ActionResult
    from moto.s3.responses import S3Response

    @_wrap(S3Response, "get_bucket_replication")
    def get_bucket_replication(original: Any, self: Any) -> Any:
        replication = self.backend.get_bucket_replication(self.bucket_name)
        if not replication:
            return original(self)  # ReplicationConfigurationNotFoundError
        rules = []
        for rule in replication["Rule"]:
            shaped = {"ID": rule["ID"], "Priority": rule["Priority"], "Status": rule["Status"],
                      "Destination": _blank(rule["Destination"])}
            for key in ("Filter", "Prefix", "DeleteMarkerReplication",
                        "SourceSelectionCriteria", "ExistingObjectReplication"):
                if key in rule:
                    shaped[key] = _blank(rule[key])
            rules.append(shaped)
        self.data["Action"] = "GetBucketReplication"
        return self.serialized(ActionResult({"ReplicationConfiguration": {
            "Role": replication["Role"], "Rules": rules}}))


def _fix_s3_create_bucket_tags() -> None:
    """S3: CreateBucket applies CreateBucketConfiguration.Tags to the new bucket.

    moto 5.2.5 ignores them.  AWS tags the bucket atomically with its creation
    (general purpose buckets, since 2025), which is what lets a tool recognise
    a bucket it created just before a crash by its ownership tags.  The fix
    tags a bucket the call created (not an existing one a repeated us-east-1
    create returns).
    """
    import xmltodict
    from moto.s3.responses import S3Response

    @_wrap(S3Response, "_bucket_response_put")
    def _bucket_response_put(original: Any, self: Any, request: Any, bucket_name: str,
                             querystring: dict[str, Any]) -> Any:
        existed = bucket_name in self.backend.buckets
        result = original(self, request, bucket_name, querystring)
        if querystring or existed or not self.body or bucket_name not in self.backend.buckets:
            return result
        config = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
        tags = (config.get("Tags") or {}).get("Tag") or []
        tags = [tags] if isinstance(tags, dict) else tags
        if tags:
            self.backend.put_bucket_tagging(
                bucket_name, {t["Key"]: t.get("Value") or "" for t in tags})
        return result


# --------------------------------------------------------------------------- CloudFront

def _cloudfront_error(code: str, message: str) -> Exception:
    """A moto service exception; the HTTP status comes from the botocore model."""
    from moto.cloudfront.exceptions import CloudFrontException

    return CloudFrontException(code, message)


@dataclass(frozen=True)
class _PolicyKind:
    """One kind of CloudFront policy: its botocore names and AWS's error codes."""

    noun: str            # CachePolicy, OriginRequestPolicy
    method: str          # cache_policy: create_<method>, get_<method>_config ...
    plural: str          # cache_policies: list_<plural>
    path: str            # the REST path segment: cache-policy, origin-request-policy
    store: str           # attribute holding the policies on the backend
    behaviour_attr: str  # the moto cache-behaviour attribute that references one

    @property
    def config_key(self) -> str:
        return f"{self.noun}Config"


_POLICY_KINDS = (
    _PolicyKind("CachePolicy", "cache_policy", "cache_policies", "cache-policy",
                "vivr_cache_policies", "cache_policy_id"),
    _PolicyKind("OriginRequestPolicy", "origin_request_policy", "origin_request_policies",
                "origin-request-policy", "vivr_origin_request_policies",
                "origin_request_policy_id"),
)


@dataclass
class CloudFrontPolicy:
    """A custom cache or origin request policy: id, ETag and the config as sent."""

    id: str
    etag: str
    config: dict[str, Any]
    last_modified_time: Any = None

    def body(self, kind: _PolicyKind) -> dict[str, Any]:
        return {"Id": self.id, "LastModifiedTime": self.last_modified_time,
                kind.config_key: self.config}


def _policy_store(backend: Any, kind: _PolicyKind) -> dict[str, CloudFrontPolicy]:
    """The per-account store, kept on the backend (so /moto-api/reset clears it)."""
    store: dict[str, CloudFrontPolicy] = backend.__dict__.setdefault(kind.store, {})
    return store


def _behaviours_of(distribution: Any) -> list[Any]:
    config = distribution.distribution_config
    behaviours = [config.DefaultCacheBehavior]
    return behaviours + list((config.CacheBehaviors or {}).get("Items") or [])


def _policy_lookup(backend: Any, kind: _PolicyKind, policy_id: str) -> CloudFrontPolicy:
    found = _policy_store(backend, kind).get(policy_id)
    if found is None:
        raise _cloudfront_error(f"NoSuch{kind.noun}",
                                f"The {kind.path.replace('-', ' ')} does not exist.")
    return found


def _policy_check_if_match(found: CloudFrontPolicy, if_match: str | None) -> None:
    if not if_match:
        raise _cloudfront_error("InvalidIfMatchVersion",
                                "The If-Match version is missing or not valid for the resource.")
    if if_match != found.etag:
        raise _cloudfront_error("PreconditionFailed", "The precondition given in one or more "
                                "of the request-header fields evaluated to false.")


def _policy_check_name(backend: Any, kind: _PolicyKind, name: str,
                       policy_id: str | None) -> None:
    for other in _policy_store(backend, kind).values():
        if other.config.get("Name") == name and other.id != policy_id:
            raise _cloudfront_error(f"{kind.noun}AlreadyExists",
                                    f"A {kind.path.replace('-', ' ')} with the name {name} "
                                    "already exists.")


def _install_policy_backend(kind: _PolicyKind) -> None:
    """Backend methods (the state) for one policy kind."""
    from moto.cloudfront.models import CloudFrontBackend, random_id
    from moto.core.utils import utcnow
    from moto.moto_api._internal import mock_random

    def create(self: Any, config: dict[str, Any]) -> CloudFrontPolicy:
        _policy_check_name(self, kind, str(config.get("Name")), None)
        found = CloudFrontPolicy(str(mock_random.uuid4()), random_id(), dict(config), utcnow())
        _policy_store(self, kind)[found.id] = found
        return found

    def get(self: Any, policy_id: str) -> CloudFrontPolicy:
        return _policy_lookup(self, kind, policy_id)

    def update(self: Any, policy_id: str, config: dict[str, Any],
               if_match: str | None) -> CloudFrontPolicy:
        found = _policy_lookup(self, kind, policy_id)
        _policy_check_if_match(found, if_match)
        _policy_check_name(self, kind, str(config.get("Name")), policy_id)
        found.config, found.etag, found.last_modified_time = dict(config), random_id(), utcnow()
        return found

    def delete(self: Any, policy_id: str, if_match: str | None) -> None:
        found = _policy_lookup(self, kind, policy_id)
        _policy_check_if_match(found, if_match)
        users = [d.distribution_id for d in self.distributions.values()
                 if any(getattr(b, kind.behaviour_attr, None) == policy_id
                        for b in _behaviours_of(d))]
        if users:
            raise _cloudfront_error(f"{kind.noun}InUse", f"The {kind.path.replace('-', ' ')} "
                                    f"is in use by {', '.join(users)}.")
        del _policy_store(self, kind)[policy_id]

    def list_all(self: Any, policy_type: str | None) -> list[CloudFrontPolicy]:
        return [] if policy_type == "managed" else list(_policy_store(self, kind).values())

    for name, function in [(f"create_{kind.method}", create), (f"get_{kind.method}", get),
                           (f"update_{kind.method}", update),
                           (f"delete_{kind.method}", delete), (f"list_{kind.plural}", list_all)]:
        _add(CloudFrontBackend, name, function)


def _install_policy_responses(kind: _PolicyKind) -> None:
    """Response methods (parameters in, botocore shapes out) and URL routes for one kind."""
    from moto.cloudfront import urls
    from moto.cloudfront.responses import CloudFrontResponse
    from moto.core.responses import ActionResult, EmptyResult

    def backend_call(response: Any, verb: str) -> Any:
        return getattr(response.backend, f"{verb}_{kind.method}")

    def r_create(self: Any) -> Any:
        found = backend_call(self, "create")(self._get_param(kind.config_key, {}))
        location = f"https://cloudfront.amazonaws.com/2020-05-31/{kind.path}/{found.id}"
        return ActionResult({kind.noun: found.body(kind), "ETag": found.etag,
                             "Location": location})

    def r_get(self: Any) -> Any:
        found = backend_call(self, "get")(self._get_param("Id"))
        return ActionResult({kind.noun: found.body(kind), "ETag": found.etag})

    def r_get_config(self: Any) -> Any:
        found = backend_call(self, "get")(self._get_param("Id"))
        return ActionResult({kind.config_key: found.config, "ETag": found.etag})

    def r_update(self: Any) -> Any:
        found = backend_call(self, "update")(self._get_param("Id"),
                                             self._get_param(kind.config_key, {}),
                                             self._get_param("IfMatch"))
        return ActionResult({kind.noun: found.body(kind), "ETag": found.etag})

    def r_delete(self: Any) -> Any:
        backend_call(self, "delete")(self._get_param("Id"), self._get_param("IfMatch"))
        return EmptyResult()

    def r_list(self: Any) -> Any:
        found = getattr(self.backend, f"list_{kind.plural}")(self._get_param("Type"))
        items = [{"Type": "custom", kind.noun: p.body(kind)} for p in found]
        return ActionResult({f"{kind.noun}List": {
            "MaxItems": self._get_int_param("MaxItems") or 100, "Quantity": len(items),
            "Items": items or None}})

    for name, function in [(f"create_{kind.method}", r_create), (f"get_{kind.method}", r_get),
                           (f"get_{kind.method}_config", r_get_config),
                           (f"update_{kind.method}", r_update),
                           (f"delete_{kind.method}", r_delete),
                           (f"list_{kind.plural}", r_list)]:
        _add(CloudFrontResponse, name, function)
    # Server-mode routes; the operation is then matched by botocore's own URI model.
    for suffix in ("", "/(?P<Id>[^/]+)", "/(?P<Id>[^/]+)/config"):
        urls.url_paths.setdefault(f"{{0}}/2020-05-31/{kind.path}{suffix}$",
                                  CloudFrontResponse.dispatch)


def _fix_cloudfront_policies() -> None:
    """CloudFront: cache policies and origin request policies implemented (Create, Get,
    GetConfig, List, Update, Delete for CachePolicy and OriginRequestPolicy).

    moto 5.2.5 has no URL routes for these operations: every call is a 404 in
    server mode, so a tool that creates its own policies (TTLs no managed
    policy has) cannot run in the sandbox.  AWS keeps them per account: a
    duplicate name is ``<Kind>AlreadyExists`` (409), an unknown id
    ``NoSuch<Kind>`` (404); Update and Delete need ``IfMatch`` with the
    current ETag (``InvalidIfMatchVersion`` when missing, ``PreconditionFailed``
    412 when stale) and every update issues a new ETag; a policy that a
    distribution's cache behaviour uses cannot be deleted (``<Kind>InUse``).
    ``List*`` with ``Type=custom`` lists these.  Not modelled: AWS-managed
    policies (``Type=managed``; they can still be referenced by their
    published IDs, unchecked, as before) and config validation beyond names.
    """
    for kind in _POLICY_KINDS:
        _install_policy_backend(kind)
        _install_policy_responses(kind)


def _fix_cloudfront_origin_access_control() -> None:
    """CloudFront: an origin keeps its S3OriginConfig and OriginAccessControlId; an origin
    access control in use, or unknown, cannot be deleted.

    moto 5.2.5 drops both from every origin of a distribution, so
    GetDistributionConfig never shows which origin access control signs the
    requests to a bucket and a tool comparing its config sees drift after
    every apply.  AWS returns them as sent.  moto also deletes an origin
    access control that a distribution still uses (AWS:
    ``OriginAccessControlInUse``, 409) and answers an unknown id with a 500
    (AWS: ``NoSuchOriginAccessControl``, 404).
    """
    from moto.cloudfront.models import CloudFrontBackend, Origin

    @_wrap(Origin, "__init__")
    def init(original: Any, self: Any, origin: dict[str, Any]) -> None:
        original(self, origin)
        if "S3OriginConfig" in origin:
            self.s3_origin_config = {
                "OriginAccessIdentity": origin["S3OriginConfig"].get("OriginAccessIdentity")
                or ""}
        if origin.get("OriginAccessControlId"):
            self.origin_access_control_id = origin["OriginAccessControlId"]

    @_wrap(CloudFrontBackend, "delete_origin_access_control")
    def delete_origin_access_control(original: Any, self: Any, control_id: str) -> None:
        self.get_origin_access_control(control_id)  # NoSuchOriginAccessControl
        users = [d.distribution_id for d in self.distributions.values()
                 if any(getattr(o, "origin_access_control_id", None) == control_id
                        for o in d.distribution_config.Origins.get("Items") or [])]
        if users:
            raise _cloudfront_error("OriginAccessControlInUse",
                                    f"The origin access control is in use by {', '.join(users)}.")
        original(self, control_id)


def _fix_cloudfront_delete_enabled_distribution() -> None:
    """CloudFront: deleting a distribution that is still enabled is refused
    (DistributionNotDisabled).

    moto 5.2.5 deletes an enabled distribution at once.  AWS refuses with
    ``DistributionNotDisabled`` (409) until the distribution has been
    disabled (and the disabled config deployed), so a teardown that skips
    the disable step works in the sandbox and fails on AWS.  The fix refuses
    the delete while ``Enabled`` is true.
    """
    from moto.cloudfront.models import CloudFrontBackend

    @_wrap(CloudFrontBackend, "delete_distribution")
    def delete_distribution(original: Any, self: Any, distribution_id: str,
                            if_match: Any) -> None:
        found = self.distributions.get(distribution_id)
        if found is not None and if_match and str(found.distribution_config.Enabled).lower() \
                in ("true", "1"):
            raise _cloudfront_error("DistributionNotDisabled", "The distribution you are "
                                    "trying to delete has not been disabled.")
        original(self, distribution_id, if_match)


def _sandbox_modules() -> list[Callable[[], None]]:
    """Fixes kept in their own ``sandbox_<topic>`` modules (imported here, applied lazily)."""
    from vivr_provision.sandbox_elasticache import fix_elasticache_reader_endpoint

    return [fix_elasticache_reader_endpoint]


#: The fixes, in application order.
_FIXES: list[Callable[[], None]] = [
    _fix_elasticache_parameter_groups,
    _fix_elasticache_replication_group_delete,
    _fix_elasticache_cache_cluster_delete,
    _fix_elasticache_delete_cache_subnet_group,
    _fix_rds_read_replica,
    _fix_rds_replica_bookkeeping,
    _fix_rds_performance_insights,
    _fix_rds_modify_db_subnet_group,
    _fix_s3_account_namespaces,
    _fix_s3_replication_round_trip,
    _fix_s3_create_bucket_tags,
    _fix_ecs_service_settings,
    _fix_ecs_running_count,
    _fix_cloudfront_policies,
    _fix_cloudfront_origin_access_control,
    _fix_cloudfront_delete_enabled_distribution,
    # AWS's catalogs (engine versions, orderable classes, TLS policies): sandbox_catalog.py
    sandbox_catalog.install_rds,
    sandbox_catalog.install_elasticache,
    sandbox_catalog.install_elbv2,
    *sandbox_logs.FIXES,
    *_sandbox_modules(),
    sandbox_dns.fix_acm_validation_needs_delegation,
]
