"""A DB instance's managed settings as drift rows: where DescribeDBInstances
reports each one, and what changing it means.

Row names are ``ModifyDBInstance`` parameter names (what ``plan`` shows and
what the converging call sends).  Effects follow the RDS user guide's
"Settings for DB instances" table:

* ``in_place``: safe to change at once (backups, windows, monitoring,
  Performance Insights, log exports, IAM auth, deletion protection, the
  storage autoscaling ceiling, security groups, public accessibility),
  sent in one ``ModifyDBInstance`` with ``ApplyImmediately=True``;
* ``maintenance``: they restart or fail over the instance (class,
  Multi-AZ, parameter group, storage size or type, minor engine version),
  queued in one ``ModifyDBInstance`` with ``ApplyImmediately=False``;
* ``replace``: RDS cannot change them (engine, database name, master
  user, encryption, subnet group, a replica's source); apply refuses.

A value RDS has accepted but not applied yet (``PendingModifiedValues``)
counts as current, so a queued change equal to the config is not re-sent.
A setting the description does not carry is :data:`UNREPORTED` (nothing
to compare against).  The instance steps (:mod:`~vivr_provision.steps.rds`)
keep ``desired()``, the settings as ``ModifyDBInstance`` names them; a row
is in a step's table only when its ``desired()`` has it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vivr_provision.steps.base import StepContext
from vivr_provision.steps.drift import UNREPORTED, Compare, Effect, Field

Reader = Callable[[Mapping[str, Any]], Any]

#: The converging method of every modifiable row (``DbInstanceBase.modify_instance``).
MODIFY = "modify_instance"


def pending_first(pending_key: str, read: Reader) -> Reader:
    """``read``, unless a pending modification (``PendingModifiedValues``) carries the value."""

    def current(data: Mapping[str, Any]) -> Any:
        pending = data.get("PendingModifiedValues") or {}
        return pending[pending_key] if pending_key in pending else read(data)

    return current


def reported(key: str) -> Reader:
    """The description's ``key``, or :data:`UNREPORTED` when it does not carry it."""
    return lambda data: data.get(key, UNREPORTED)


def _security_groups(data: Mapping[str, Any]) -> list[str]:
    # A group being removed ("removing") is already on its way out.
    return sorted(g["VpcSecurityGroupId"] for g in data.get("VpcSecurityGroups", [])
                  if g.get("Status") != "removing")


def _parameter_group(data: Mapping[str, Any]) -> Any:
    return (data.get("DBParameterGroups") or [{}])[0].get("DBParameterGroupName")


def _log_exports(data: Mapping[str, Any]) -> list[str]:
    return sorted(data.get("EnabledCloudwatchLogsExports") or [])


def _monitoring_role(data: Mapping[str, Any]) -> Any:
    # RDS keeps the role after monitoring is turned off; without an interval it is unused.
    if "MonitoringRoleArn" not in data:
        return UNREPORTED
    return data["MonitoringRoleArn"] if data.get("MonitoringInterval") else None


def _kms_key_spellings(step: Any, ctx: StepContext) -> tuple[str, str]:
    # DescribeDBInstances reports the Performance Insights key as its ARN or its id.
    arn = str(step.desired(ctx)["PerformanceInsightsKMSKeyId"])
    return arn, arn.rsplit("/", 1)[-1]


def setting(name: str, reported_as: str | None = None, *, read: Reader | None = None,
            effect: Effect = "in_place", compare: Compare = "exact") -> Field:
    """A row for the ``ModifyDBInstance`` parameter ``name``, reported as ``reported_as``
    (default: the same name), or read by ``read``; pending value first."""
    key = reported_as or name
    return Field(name, pending_first(key, read or reported(key)),
                 lambda step, ctx: step.desired(ctx)[name], compare=compare, effect=effect,
                 apply=MODIFY)


#: Every modifiable setting, in the order ``plan`` lists them.
SETTINGS: tuple[Field, ...] = (
    setting("DBInstanceClass", effect="maintenance"),
    setting("MultiAZ", effect="maintenance"),
    setting("AllocatedStorage", effect="maintenance"),
    setting("StorageType", effect="maintenance"),
    setting("BackupRetentionPeriod"),
    setting("PreferredBackupWindow"),
    setting("PreferredMaintenanceWindow"),
    setting("DeletionProtection"),
    setting("VpcSecurityGroupIds", read=_security_groups, compare="unordered"),
    setting("DBParameterGroupName", read=_parameter_group, effect="maintenance"),
    setting("CloudwatchLogsExports", read=_log_exports, compare="unordered"),
    setting("EnableIAMDatabaseAuthentication", "IAMDatabaseAuthenticationEnabled"),
    setting("CopyTagsToSnapshot"),
    setting("AutoMinorVersionUpgrade"),
    setting("MonitoringInterval"),
    setting("MonitoringRoleArn", read=_monitoring_role),
    setting("EnablePerformanceInsights", "PerformanceInsightsEnabled"),
    setting("PerformanceInsightsRetentionPeriod"),
    Field("PerformanceInsightsKMSKeyId",
          pending_first("PerformanceInsightsKMSKeyId", reported("PerformanceInsightsKMSKeyId")),
          _kms_key_spellings, compare="any_of", apply=MODIFY),
    setting("MaxAllocatedStorage"),
    # Provisioned storage performance: "doesn't result in an outage" (ModifyDBInstance docs).
    setting("Iops"),
    setting("StorageThroughput"),
)


def fixed(name: str, read: Reader, want: Callable[[Any], Any], *,
          effect: Effect = "replace") -> Field:
    """A row read from the description only (no pending value), wanted from the config;
    a replacement unless ``effect`` says otherwise."""
    return Field(name, read, lambda step, ctx: want(step.config.rds), effect=effect,
                 apply=MODIFY if effect != "replace" else None)


def _subnet_group(data: Mapping[str, Any]) -> Any:
    return (data.get("DBSubnetGroup") or {}).get("DBSubnetGroupName") or UNREPORTED


#: What a primary was created with and RDS cannot change (PubliclyAccessible aside).
PRIMARY_FIXED: tuple[Field, ...] = (
    fixed("Engine", reported("Engine"), lambda rds: rds.engine),
    fixed("DBName", reported("DBName"), lambda rds: rds.db_name),
    fixed("MasterUsername", reported("MasterUsername"), lambda rds: rds.master_username),
    fixed("StorageEncrypted", reported("StorageEncrypted"), lambda rds: rds.storage_encrypted),
    fixed("PubliclyAccessible", reported("PubliclyAccessible"),
          lambda rds: rds.publicly_accessible, effect="in_place"),
    fixed("DBSubnetGroupName", _subnet_group, lambda rds: rds.subnet_group.name),
)


def replica_source(primary: str) -> Field:
    """A replica's source: the primary, named by identifier (same region) or ARN (DR)."""

    def current(data: Mapping[str, Any]) -> Any:
        source = data.get("ReadReplicaSourceDBInstanceIdentifier")
        if not source:
            return UNREPORTED
        return primary if source.endswith(f":db:{primary}") else source

    return Field("source", current, lambda step, ctx: primary, effect="replace")


__all__ = ["MODIFY", "PRIMARY_FIXED", "SETTINGS", "fixed", "pending_first", "replica_source",
           "reported", "setting"]
