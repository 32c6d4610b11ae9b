"""RDS PostgreSQL: subnet groups, parameter groups, the primary and its read replicas.

Identity is the natural key RDS enforces (instance identifier, group name),
so a resource created just before a crash is found by name, and adopted only
if it carries our ownership tags.  Every setting of the spec is sent on
create.  Drift is a table of rows (:mod:`~vivr_provision.steps.rds_settings`
for an instance): settings safe to change at once go in one
``ModifyDBInstance`` with ``ApplyImmediately=True``, disruptive ones (class,
Multi-AZ, parameter group, storage, minor engine version) in one queued for
the maintenance window (a pending value equal to the config is not re-sent),
and what RDS cannot change (engine, encryption, database name, master user,
subnet group) is a replacement, which apply refuses to do on a database.

Destroy never loses data silently: a final snapshot is taken unless
``--skip-final-snapshot``, deletion protection is lifted only with
``--disable-deletion-protection``, and replicas go before the primary
(they depend on it, so the reversed graph orders them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from vivr_provision.catalog import is_major, major_of, version_key
from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import ReadReplicaConfig, SubnetGroupConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.common import KindStep, aws_tags, gone_on, timestamp
from vivr_provision.steps.drift import MAINTENANCE_WINDOW, NAME, TAGS, Field, converge, drift
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import DB_INSTANCE, DB_PARAMETER_GROUP, DB_SUBNET_GROUP
from vivr_provision.steps.list_reads import db_instances_by_id
from vivr_provision.steps.logs import rds_export_step_names
from vivr_provision.steps.rds_settings import MODIFY, PRIMARY_FIXED, SETTINGS, replica_source
from vivr_provision.steps.secrets import read_secret_string

#: RDS refuses some calls while an instance is still modifying or backing up.
INSTANCE_BUSY = policy({"InvalidDBInstanceState", "InvalidDBInstanceStateFault"},
                       "the instance is busy (modifying, backing up); RDS accepts the call after",
                       deadline_s=1800, max_attempts=60, initial_s=5.0, max_wait_s=60.0)
SUBNET_GROUP_BUSY = policy({"InvalidDBSubnetGroupStateFault", "InvalidDBSubnetGroupState"},
                           "the subnet group is still used by an instance being deleted",
                           deadline_s=900, max_attempts=40, initial_s=5.0)
PARAMETERS_PER_CALL = 20  # ModifyDBParameterGroup's limit


def _rds(ctx: StepContext, region: str) -> Any:
    return ctx.client("rds", region)


# --------------------------------------------------------------------------- subnet group


class DbSubnetGroupStep(KindStep):
    """A DB subnet group over the configured subnets of its site."""

    family = "rds-subnet-group"
    service = "rds"
    kind = DB_SUBNET_GROUP

    def __init__(self, config: PlatformConfig, group: SubnetGroupConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, site=site)
        self.group = group

    def resource_name(self) -> str:
        return self.group.name

    def depends_on(self) -> tuple[str, ...]:
        return tuple(self.site.step(f"subnet.{s}") for s in self.group.subnets)

    def subnet_ids(self, ctx: StepContext) -> list[str]:
        return sorted(str(ctx.output(self.site.step(f"subnet.{s}"), "subnet_id"))
                      for s in self.group.subnets)

    def create(self, ctx: StepContext, token: str) -> Resource:
        _rds(ctx, self.region).create_db_subnet_group(
            DBSubnetGroupName=self.group.name,
            DBSubnetGroupDescription=self.group.description,
            SubnetIds=self.subnet_ids(ctx),
            Tags=aws_tags(self.tags()),
        )
        return self.reread(ctx)

    #: Subnets (in any order) and description travel in one ModifyDBSubnetGroup.
    FIELDS = (
        NAME,
        TAGS,
        Field("subnets", lambda d: sorted(s["SubnetIdentifier"] for s in d.get("Subnets", [])),
              lambda s, ctx: s.subnet_ids(ctx), compare="unordered", apply="modify_group"),
        Field("description", lambda d: d.get("DBSubnetGroupDescription"),
              lambda s, ctx: s.group.description, apply="modify_group"),
    )

    def modify_group(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        _rds(ctx, self.region).modify_db_subnet_group(
            DBSubnetGroupName=self.group.name, DBSubnetGroupDescription=self.group.description,
            SubnetIds=self.subnet_ids(ctx))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        SUBNET_GROUP_BUSY.call("delete db subnet group", gone_on, DB_SUBNET_GROUP.not_found,
                               _rds(ctx, self.region).delete_db_subnet_group,
                               DBSubnetGroupName=self.group.name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": self.group.name, "name": self.group.name}


# --------------------------------------------------------------------------- parameter group


class DbParameterGroupStep(KindStep):
    """``vivr-db-pg``: the spec's PostgreSQL settings (timezone, memory, connections, SSL)."""

    family = "rds-parameter-group"
    service = "rds"
    kind = DB_PARAMETER_GROUP

    def resource_name(self) -> str:
        return self.config.rds.parameter_group.name

    def _user_parameters(self, ctx: StepContext) -> dict[str, str]:
        pages = _rds(ctx, self.region).get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=self.config.rds.parameter_group.name, Source="user")
        return {p["ParameterName"]: str(p.get("ParameterValue"))
                for page in pages for p in page.get("Parameters", [])}

    def _set(self, ctx: StepContext, names: Iterable[str]) -> None:
        group = self.config.rds.parameter_group
        wanted = [{"ParameterName": name, "ParameterValue": group.parameters[name].value,
                   "ApplyMethod": group.parameters[name].apply_method} for name in sorted(names)]
        for start in range(0, len(wanted), PARAMETERS_PER_CALL):
            _rds(ctx, self.region).modify_db_parameter_group(
                DBParameterGroupName=group.name,
                Parameters=wanted[start:start + PARAMETERS_PER_CALL])

    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.config.rds.parameter_group
        _rds(ctx, self.region).create_db_parameter_group(
            DBParameterGroupName=group.name,
            DBParameterGroupFamily=group.family,
            Description=group.description,
            Tags=aws_tags(self.tags()),
        )
        self._set(ctx, group.parameters)
        return self.reread(ctx)

    def fields(self) -> tuple[Field, ...]:
        """Tags, the family (fixed at creation), our parameters with our values, and the
        user-set parameters the config does not name (reset to the family's default).

        The parameters are not in DescribeDBParameterGroups: :meth:`diff` adds the
        user-set ones (``Source="user"``) to the description as ``UserParameters``.
        """
        wanted = {name: p.value for name, p in self.config.rds.parameter_group.parameters.items()}
        return (
            NAME,
            TAGS,
            Field("family", lambda d: d.get("DBParameterGroupFamily"),
                  lambda s, ctx: s.config.rds.parameter_group.family, effect="replace"),
            # Compared as tags are: ours present with our values; others' are the next row's.
            Field("parameters", lambda d: d["UserParameters"], lambda s, ctx: wanted,
                  compare="tags", apply="set_parameters"),
            Field("parameters_not_in_config",
                  lambda d: sorted(set(d["UserParameters"]) - set(wanted)) or None,
                  lambda s, ctx: None, apply="reset_parameters"),
        )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = {**resource.data, "UserParameters": self._user_parameters(ctx)}
        return drift(self, ctx, data, self.fields())

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields())
        return self.reread(ctx)

    def set_parameters(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self._set(ctx, changes[-1].desired)

    def reset_parameters(self, ctx: StepContext, resource: Resource,
                         changes: list[Change]) -> None:
        names = list(changes[-1].current)
        for start in range(0, len(names), PARAMETERS_PER_CALL):
            _rds(ctx, self.region).reset_db_parameter_group(
                DBParameterGroupName=self.resource_name(),
                Parameters=[{"ParameterName": n, "ApplyMethod": "pending-reboot"}
                            for n in names[start:start + PARAMETERS_PER_CALL]])

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        INSTANCE_BUSY.call("delete db parameter group", gone_on, DB_PARAMETER_GROUP.not_found,
                           _rds(ctx, self.region).delete_db_parameter_group,
                           DBParameterGroupName=self.resource_name())

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": self.resource_name(), "name": self.resource_name()}


# --------------------------------------------------------------------------- instances

class DbInstanceBase(KindStep):
    """What the primary and the replicas share: waiting, drift, deletion."""

    family = "rds"
    service = "rds"
    kind = DB_INSTANCE
    expected_seconds = 900.0
    wait_budget_s = 3600.0

    def __init__(self, config: PlatformConfig, identifier: str, *,
                 site: Site | None = None) -> None:
        super().__init__(config, identifier, site=site)
        self.identifier = identifier

    def resource_name(self) -> str:
        return self.identifier

    def rds(self, ctx: StepContext) -> Any:
        return _rds(ctx, self.region)

    def is_live(self, item: Mapping[str, Any]) -> bool:
        return item.get("DBInstanceStatus") != "deleting"

    def batched_item(self, ctx: StepContext, request: dict[str, Any]) -> Mapping[str, Any] | None:
        """From one ``DescribeDBInstances`` per site filtered on its instances' identifiers."""
        identifiers = [s.identifier for s in rds_steps(self.config)
                       if isinstance(s, DbInstanceBase) and s.site.prefix == self.site.prefix]
        return ctx.reads.take(("rds", self.region, "instances"),
                              str(request["DBInstanceIdentifier"]),
                              lambda: db_instances_by_id(self.rds(ctx), identifiers), self.name)

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("DBInstanceStatus") == "available"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        creating = resource.data.get("DBInstanceStatus") == "creating"
        ctx.wait("rds", "db_instance_available", budget_s=self.wait_budget_s, delay_s=30,
                 expected_s=self.aws_seconds("create" if creating else "modify"),
                 region=self.region,
                 DBInstanceIdentifier=self.identifier)
        return self.reread(ctx)

    # -- the settings every instance of ours carries ------------------------
    def _security_group_ids(self, ctx: StepContext, names: list[str]) -> list[str]:
        return sorted(str(ctx.output(self.site.step(f"sg.{n}"), "group_id")) for n in names)

    def _monitoring(self, ctx: StepContext) -> dict[str, Any]:
        interval = self.config.rds.enhanced_monitoring_interval
        if not interval:
            return {"MonitoringInterval": 0}
        return {"MonitoringInterval": interval,
                "MonitoringRoleArn": ctx.output("iam.rds_monitoring_role", "role_arn")}

    def _insights(self, key_step: str, ctx: StepContext) -> dict[str, Any]:
        insights = self.config.rds.performance_insights
        if not insights.enabled:
            return {"EnablePerformanceInsights": False}
        return {"EnablePerformanceInsights": True,
                "PerformanceInsightsRetentionPeriod": insights.retention_days,
                "PerformanceInsightsKMSKeyId": ctx.output(key_step, "key_arn")}

    def common_settings(self, ctx: StepContext, key_step: str) -> dict[str, Any]:
        rds = self.config.rds
        return {
            "EnableIAMDatabaseAuthentication": rds.iam_auth,
            "CopyTagsToSnapshot": rds.backup.copy_tags_to_snapshot,
            "AutoMinorVersionUpgrade": rds.auto_minor_version_upgrade,
            **self._monitoring(ctx),
            **self._insights(key_step, ctx),
        }

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        """Every modifiable setting as ModifyDBInstance names it."""
        raise NotImplementedError

    def dependencies_for(self, key_step: str, sg_names: list[str]) -> list[str]:
        deps = [key_step, *(self.site.step(f"sg.{n}") for n in sg_names)]
        if self.config.rds.enhanced_monitoring_interval:
            deps.append("iam.rds_monitoring_role")
        return deps

    # -- drift -----------------------------------------------------------------
    @property
    def key_step(self) -> str:
        """The KMS key step of this instance's site (Performance Insights, encryption)."""
        return self.site.step("kms")

    def fixed_fields(self, data: Mapping[str, Any]) -> tuple[Field, ...]:
        """Rows of what the instance was created with (most of it RDS cannot change)."""
        return ()

    def fields(self, ctx: StepContext, data: Mapping[str, Any]) -> tuple[Field, ...]:
        """Tags, the fixed rows, then each modifiable setting :meth:`desired` names."""
        wanted = self.desired(ctx)
        return (NAME, TAGS, *self.fixed_fields(data),
                *(row for row in SETTINGS if row.name in wanted))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(ctx, resource.data))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        converge(self, ctx, resource, changes, self.fields(ctx, resource.data))
        return self.reread(ctx)

    def modify_instance(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        """In-place rows in one ModifyDBInstance applied at once, then the maintenance
        rows in one queued for the window (in this order: ``ApplyImmediately=True``
        applies "any pending modifications" too, per the ModifyDBInstance docs).

        Log exports go as the types to enable and to disable; the monitoring
        interval and its role go together (RDS requires the role with a
        non-zero interval), and so do the Performance Insights settings when
        it is turned on or off (without ``PerformanceInsightsKMSKeyId`` RDS
        uses the account's default key, per the ModifyDBInstance docs).
        """
        now = {c.field: c.desired for c in changes if c.when != MAINTENANCE_WINDOW}
        later = {c.field: c.desired for c in changes if c.when == MAINTENANCE_WINDOW}
        current = {c.field: c.current for c in changes}
        if "CloudwatchLogsExports" in now:
            wanted = set(now.pop("CloudwatchLogsExports"))
            have = set(current["CloudwatchLogsExports"])
            now["CloudwatchLogsExportConfiguration"] = {
                "EnableLogTypes": sorted(wanted - have), "DisableLogTypes": sorted(have - wanted)}
        if "MonitoringInterval" in now or "MonitoringRoleArn" in now:
            now.update(self._monitoring(ctx))
        if "EnablePerformanceInsights" in now:
            now.update(self._insights(self.key_step, ctx))
        rds = self.rds(ctx)
        if now:
            INSTANCE_BUSY.call(f"modify {self.identifier}", ROLE_PROPAGATION.call,
                               f"modify {self.identifier}", rds.modify_db_instance,
                               DBInstanceIdentifier=self.identifier, ApplyImmediately=True,
                               **now)
        if later:
            INSTANCE_BUSY.call(f"modify {self.identifier}", rds.modify_db_instance,
                               DBInstanceIdentifier=self.identifier, ApplyImmediately=False,
                               **later)

    # -- teardown --------------------------------------------------------------
    def delete_blockers(self, ctx: StepContext, resource: Resource) -> list[str]:
        if resource.data.get("DeletionProtection") and \
                not ctx.destroy_options.disable_deletion_protection:
            return [f"{self.identifier} has deletion protection; rerun destroy with "
                    "--disable-deletion-protection to lift it (a final snapshot is still "
                    "taken unless --skip-final-snapshot)"]
        return []

    def _lift_protection(self, ctx: StepContext, resource: Resource) -> None:
        if not resource.data.get("DeletionProtection"):
            return
        if blockers := self.delete_blockers(ctx, resource):
            raise RuntimeError(blockers[0])
        INSTANCE_BUSY.call(f"unprotect {self.identifier}", self.rds(ctx).modify_db_instance,
                           DBInstanceIdentifier=self.identifier, DeletionProtection=False,
                           ApplyImmediately=True)

    def _delete_and_wait(self, ctx: StepContext, **params: Any) -> None:
        INSTANCE_BUSY.call(f"delete {self.identifier}", gone_on, DB_INSTANCE.not_found,
                           self.rds(ctx).delete_db_instance,
                           DBInstanceIdentifier=self.identifier, **params)
        ctx.wait("rds", "db_instance_deleted", budget_s=self.wait_budget_s, delay_s=30,
                 expected_s=self.aws_seconds("delete"), region=self.region,
                 DBInstanceIdentifier=self.identifier)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        endpoint = resource.data.get("Endpoint") or {}
        return {"id": self.identifier, "identifier": self.identifier,
                "arn": resource.data.get("DBInstanceArn"),
                "resource_id": resource.data.get("DbiResourceId"),
                "address": endpoint.get("Address"), "port": endpoint.get("Port"),
                "region": self.region}


class DbPrimaryStep(DbInstanceBase):
    """``vivr-db``: PostgreSQL 16, Multi-AZ, encrypted, IAM auth, PI, enhanced monitoring."""

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config, config.rds.identifier)

    def aws_kind(self) -> str:
        return "rds_instance_multi_az" if self.config.rds.multi_az else "rds_instance"

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """The base's, plus ``role``: what ``output`` tells the writer from the replicas by."""
        return {**super().outputs(resource), "role": "writer"}

    def depends_on(self) -> tuple[str, ...]:
        rds = self.config.rds
        return ("rds-subnet-group", "rds-parameter-group", "secret.database_credentials",
                *self.dependencies_for("kms", rds.security_groups),
                # Its export groups exist (with retention) before it exports to them.
                *rds_export_step_names(self.config, self.identifier))

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        rds = self.config.rds
        settings: dict[str, Any] = {
            "DBInstanceClass": rds.instance_class,
            "MultiAZ": rds.multi_az,
            "AllocatedStorage": rds.storage.allocated_gb,
            "StorageType": rds.storage.type,
            "BackupRetentionPeriod": rds.backup.retention_days,
            "PreferredBackupWindow": rds.backup.window,
            "PreferredMaintenanceWindow": rds.maintenance_window,
            "DeletionProtection": rds.deletion_protection,
            "VpcSecurityGroupIds": self._security_group_ids(ctx, rds.security_groups),
            "DBParameterGroupName": rds.parameter_group.name,
            "CloudwatchLogsExports": sorted(rds.log_exports),
            **self.common_settings(ctx, "kms"),
        }
        if rds.storage.autoscaling:
            settings["MaxAllocatedStorage"] = rds.storage.max_allocated_gb
        if rds.storage.provisioned_performance:
            settings["Iops"] = rds.storage.iops
            settings["StorageThroughput"] = rds.storage.throughput_mbps
        return settings

    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        rds = self.config.rds
        credentials = json.loads(read_secret_string(
            ctx, str(ctx.output("secret.database_credentials", "arn"))))
        settings = self.desired(ctx)
        settings["EnableCloudwatchLogsExports"] = settings.pop("CloudwatchLogsExports")
        params: dict[str, Any] = {
            "DBInstanceIdentifier": self.identifier,
            "Engine": rds.engine,
            "EngineVersion": self.engine_version(ctx),
            "DBName": rds.db_name,
            "Port": rds.port,
            "MasterUsername": credentials["username"],
            "MasterUserPassword": credentials["password"],
            "StorageEncrypted": rds.storage_encrypted,
            "PubliclyAccessible": rds.publicly_accessible,
            "DBSubnetGroupName": rds.subnet_group.name,
            "Tags": aws_tags(self.tags()),
            **settings,
        }
        if rds.storage_encrypted:
            params["KmsKeyId"] = ctx.output("kms", "key_arn")
        if not rds.option_group.startswith("default:"):
            params["OptionGroupName"] = rds.option_group
        reply = ROLE_PROPAGATION.call(f"create {self.identifier}",
                                      self.rds(ctx).create_db_instance, **params)
        return Resource(self.identifier, {**reply["DBInstance"], "TagMap": self.tags()})

    def engine_version(self, ctx: StepContext) -> str:
        """The version to create: resolved from AWS's catalog at plan time (``"16"`` ->
        the newest 16.x), or the config's own when nothing was resolved."""
        return ctx.catalog.value("rds.engine_version", self.config.rds.engine_version)

    def version_change(self, data: Mapping[str, Any]) -> Change | None:
        """Engine version drift, judged against the config's intent, not the newest minor.

        A major (``"16"``) is satisfied by any 16.x: an instance is never
        upgraded just because AWS released a newer minor (an engine upgrade
        restarts the database, both Multi-AZ nodes at once; AWS applies minor
        upgrades itself in the maintenance window when
        ``auto_minor_version_upgrade`` is on).  A pinned minor above the
        running one is queued for the maintenance window; below it, RDS
        cannot downgrade, so it is only reported (see :meth:`notes`).  A
        different major is a major upgrade: apply refuses it (deliberate).
        """
        wanted = self.config.rds.engine_version
        have = str((data.get("PendingModifiedValues") or {}).get("EngineVersion")
                   or data.get("EngineVersion") or "")
        if not have:
            return None
        if major_of(have) != major_of(wanted):
            return Change("EngineVersion", have, wanted, replace=True)
        if is_major(wanted) or version_key(have) >= version_key(wanted):
            return None
        return Change("EngineVersion", have, wanted, when="in the maintenance window")

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """How the running engine version relates to what AWS creates now."""
        if resource is None:
            return []
        rds = self.config.rds
        have = str(resource.data.get("EngineVersion") or "")
        if not have:
            return []
        if not is_major(rds.engine_version) and major_of(have) == major_of(
                rds.engine_version) and version_key(have) > version_key(rds.engine_version):
            return [f"{self.identifier} runs {rds.engine} {have}, newer than the pinned "
                    f"{rds.engine_version}; RDS cannot downgrade: pin {have!r} or name the "
                    f"major ({major_of(have)!r})"]
        # Resolved this run, else as state recorded it: a no-op does not ask AWS again.
        known = ctx.catalog.known("rds.engine_version")
        if known is None:
            return []
        newest, when = known
        if not is_major(rds.engine_version) or major_of(have) != major_of(newest) or \
                version_key(have) >= version_key(newest):
            return []
        if rds.auto_minor_version_upgrade:
            how = (f"auto minor version upgrade moves it to the target AWS designates, in the "
                   f"maintenance window {rds.maintenance_window}")
        else:
            how = (f"auto minor version upgrade is off: pin engine_version {newest!r} to "
                   f"queue the upgrade for the maintenance window {rds.maintenance_window}")
        creates = "creates" if when == "now" else "created"
        return [f"{self.identifier} runs {rds.engine} {have}; RDS {creates} {newest} {when}. "
                f"Apply does not upgrade a running database for a newer minor; {how}"]

    def fixed_fields(self, data: Mapping[str, Any]) -> tuple[Field, ...]:
        """The engine version rule (:meth:`version_change`) as a row, then what RDS
        cannot change (and PubliclyAccessible, which it can, at once)."""
        version = self.version_change(data)
        if version is None:
            return PRIMARY_FIXED
        return (Field("EngineVersion", lambda d: version.current, lambda s, ctx: version.desired,
                      effect="replace" if version.replace else "maintenance",
                      apply=None if version.replace else MODIFY), *PRIMARY_FIXED)

    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        self._lift_protection(ctx, resource)
        if ctx.destroy_options.skip_final_snapshot:
            self._delete_and_wait(ctx, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
            return []
        snapshot = f"{self.identifier}-{self.config.environment}-final-{timestamp()}"
        self._delete_and_wait(ctx, SkipFinalSnapshot=False,
                              FinalDBSnapshotIdentifier=snapshot, DeleteAutomatedBackups=True)
        return [f"final snapshot {snapshot} of {self.identifier} ({self.region}); restore "
                "with `aws rds restore-db-instance-from-db-snapshot`, delete it when not needed"]


class DbReplicaStep(DbInstanceBase):
    """A read replica of the primary: same region, or the DR region (cross-region)."""

    expected_seconds = 1200.0
    wait_budget_s = 5400.0

    def __init__(self, config: PlatformConfig, replica: ReadReplicaConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, replica.identifier, site=site)
        self.replica = replica

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {**super().outputs(resource), "role": "reader"}

    @property
    def cross_region(self) -> bool:
        return self.replica.region != self.config.aws.region

    def aws_kind(self) -> str:
        return "rds_cross_region_replica" if self.cross_region else "rds_read_replica"

    @property
    def security_group_names(self) -> list[str]:
        if self.cross_region:
            assert self.config.dr.database is not None, "validated with the replica"
            return self.config.dr.database.security_groups
        return self.config.rds.security_groups

    def depends_on(self) -> tuple[str, ...]:
        deps = [f"rds.{self.config.rds.identifier}",
                *self.dependencies_for(self.key_step, self.security_group_names)]
        if self.cross_region:
            deps += [self.site.step("rds-subnet-group"), self.site.step("rds-parameter-group")]
        deps += rds_export_step_names(self.config, self.identifier)
        return tuple(deps)

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        rds = self.config.rds
        settings: dict[str, Any] = {
            "DBInstanceClass": self.replica.instance_class or rds.instance_class,
            # From the config, always sent: AWS creates replicas unprotected
            # and some implementations copy the source's protection. Destroy
            # lifts it only with --disable-deletion-protection (delete_blockers).
            "DeletionProtection": self.replica.deletion_protection,
            "VpcSecurityGroupIds": self._security_group_ids(ctx, self.security_group_names),
            "DBParameterGroupName": rds.parameter_group.name,
            "CloudwatchLogsExports": sorted(rds.log_exports),
            **self.common_settings(ctx, self.key_step),
        }
        if rds.storage.autoscaling:
            settings["MaxAllocatedStorage"] = rds.storage.max_allocated_gb
        return settings

    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        settings = self.desired(ctx)
        settings["EnableCloudwatchLogsExports"] = settings.pop("CloudwatchLogsExports")
        params: dict[str, Any] = {
            "DBInstanceIdentifier": self.identifier,
            "AvailabilityZone": self.replica.availability_zone,
            "MultiAZ": False,
            "PubliclyAccessible": self.config.rds.publicly_accessible,
            "StorageType": self.config.rds.storage.type,
            "Tags": aws_tags(self.tags()),
            **settings,
        }
        if self.cross_region:
            assert self.config.dr.database is not None
            params.update(
                SourceDBInstanceIdentifier=ctx.output(f"rds.{self.config.rds.identifier}", "arn"),
                SourceRegion=self.config.aws.region,
                DBSubnetGroupName=self.config.dr.database.subnet_group.name,
                KmsKeyId=ctx.output(self.key_step, "key_arn"),
            )
        else:
            params["SourceDBInstanceIdentifier"] = self.config.rds.identifier
        reply = ROLE_PROPAGATION.call(f"create {self.identifier}",
                                      self.rds(ctx).create_db_instance_read_replica, **params)
        return Resource(self.identifier, {**reply["DBInstance"], "TagMap": self.tags()})

    def fixed_fields(self, data: Mapping[str, Any]) -> tuple[Field, ...]:
        return (replica_source(self.config.rds.identifier),)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        self._lift_protection(ctx, resource)
        # A replica has no final snapshot: its data is the primary's.
        self._delete_and_wait(ctx, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)


def rds_steps(config: PlatformConfig) -> list[Step]:
    """Groups, the primary, then each replica (the DR one on the DR site)."""
    steps: list[Step] = [
        DbSubnetGroupStep(config, config.rds.subnet_group),
        DbParameterGroupStep(config),
        DbPrimaryStep(config),
    ]
    dr = Site(prefix="dr.", region=config.dr.region)
    if any(r.region == config.dr.region for r in config.rds.read_replicas):
        assert config.dr.database is not None, "validated: a DR replica needs dr.database"
        steps += [DbSubnetGroupStep(config, config.dr.database.subnet_group, site=dr),
                  DbParameterGroupStep(config, site=dr)]
    for replica in config.rds.read_replicas:
        site = dr if replica.region != config.aws.region else None
        steps.append(DbReplicaStep(config, replica, site=site))
    return steps
