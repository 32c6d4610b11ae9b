"""RDS fixes: read replicas, Performance Insights settings, subnet-group changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import add_missing, wrap


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

    @wrap(RDSBackend, "create_db_instance_read_replica")
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

    @wrap(DBInstance, "remove_replica")
    def remove_replica(original: Any, self: Any, replica: Any) -> None:
        for reference in (replica.db_instance_identifier, replica.db_instance_arn):
            if reference in self.replicas:
                self.replicas.remove(reference)

    @wrap(RDSBackend, "delete_db_instance")
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

    @wrap(DBInstance, "__init__")
    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for key in _PERFORMANCE_INSIGHTS_KWARGS:
            if kwargs.get(key) is not None:
                setattr(self, key, kwargs[key])
        apply_defaults(self)

    @wrap(DBInstance, "update")
    def update(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        apply_defaults(self)

    def performance_insights_enabled(self: Any) -> bool:
        return bool(self.__dict__.get("enable_performance_insights", False))

    add_missing(DBInstance, "performance_insights_enabled", property(performance_insights_enabled))



def _fix_rds_modify_db_subnet_group() -> None:
    """RDS: ModifyDBSubnetGroup keeps the group (moto removed it).

    moto 5.2.5 pops the group from its store to modify it and never puts it
    back, so after a correct ``modify_db_subnet_group`` (e.g. re-pointing the
    group at a subnet that was re-created) every describe answers
    ``DBSubnetGroupNotFoundFault``.  AWS modifies the group in place.  The
    fix stores the modified group again under its name.
    """
    from moto.rds.models import RDSBackend

    @wrap(RDSBackend, "modify_db_subnet_group")
    def modify_db_subnet_group(original: Any, self: Any, subnet_name: str, *args: Any,
                               **kwargs: Any) -> Any:
        group = original(self, subnet_name, *args, **kwargs)
        self.subnet_groups[subnet_name] = group
        return group


def _fix_rds_promote_read_replica() -> None:
    """RDS: PromoteReadReplica ends replication: the instance loses
    ReadReplicaSourceDBInstanceIdentifier and leaves its source's replica list.

    moto 5.2.5 only flips an internal flag, so describe_db_instances still
    names the source and the source still lists the replica.  AWS makes the
    promoted instance standalone ("Promoting a read replica to be a
    standalone DB instance", RDS user guide): no source, not listed by the
    source.  ``dr promote`` checks exactly that after its wait.  The fix
    clears both, whichever region the source is in.
    """
    from moto.rds.models import RDSBackend

    @wrap(RDSBackend, "promote_read_replica")
    def promote_read_replica(original: Any, self: Any, db_kwargs: Any) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        source = database.source_db_instance_identifier
        promoted = original(self, db_kwargs)
        if source:
            try:
                primary = self.find_db_from_id(source)
            except Exception:
                primary = None  # the source is gone: nothing lists the replica any more
            if primary is not None:
                primary.remove_replica(promoted)
            promoted.source_db_instance_identifier = None
        return promoted


def _fix_rds_enhanced_monitoring_arn() -> None:
    """RDS: an instance with Enhanced Monitoring reports its EnhancedMonitoringResourceArn.

    moto 5.2.5 keeps ``MonitoringInterval`` and ``MonitoringRoleArn`` but never
    returns ``EnhancedMonitoringResourceArn``, which AWS sets once monitoring is
    on: the CloudWatch Logs stream the OS metrics go to, named by the
    instance's resource id in the ``RDSOSMetrics`` group (RDS User Guide,
    "Viewing OS metrics using CloudWatch Logs"; DBInstance in the RDS API
    reference).  Auditors read that field (Prowler
    ``rds_instance_enhanced_monitoring_enabled``), so without it every
    monitored instance looks unmonitored.  The fix derives it while the
    interval is above 0, as AWS does.
    """
    from moto.rds.models import DBInstance

    def enhanced_monitoring_resource_arn(self: Any) -> str | None:
        if not self.monitoring_interval:
            return None
        partition = "aws-cn" if self.region.startswith("cn-") else "aws"
        return (f"arn:{partition}:logs:{self.region}:{self.account_id}:log-group:"
                f"RDSOSMetrics:log-stream:{self.dbi_resource_id}")

    add_missing(DBInstance, "enhanced_monitoring_resource_arn",
                property(enhanced_monitoring_resource_arn))


#: The fixes of this module, in application order.
FIXES: list[Callable[[], None]] = [
    _fix_rds_read_replica,
    _fix_rds_replica_bookkeeping,
    _fix_rds_performance_insights,
    _fix_rds_modify_db_subnet_group,
    _fix_rds_promote_read_replica,
    _fix_rds_enhanced_monitoring_arn,
]
