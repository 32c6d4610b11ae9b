"""CloudWatch log groups: the spec's ``/vivr/<env>/...`` groups and RDS's export groups.

Each group gets its retention and, in the platform key's region, is
encrypted with the platform key (the key policy of the ``kms`` step lets
CloudWatch Logs use it for exactly the groups :func:`encrypted_log_groups`
names).  ``CreateLogGroup`` has no token; the name is the identity, and a
same-named group without our tags is refused rather than adopted.

RDS exports a log type only to ``/aws/rds/instance/<identifier>/<type>``
and, when that group is missing, creates it itself with no expiry.  So a
group per instance (primary and every replica) and exported type is a step
of its own here, on the instance's site (the cross-region replica's group is
in the DR region), and the instance's step depends on it: the group exists
with the spec's database retention before the instance exports to it, and
destroy removes the instance before its group.  The spec's
``/vivr/<env>/database`` is not created: nothing could write to it (RDS takes
no group name, and CloudWatch Logs cannot forward a group into another:
subscription filters deliver to Kinesis, Firehose or Lambda only).
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import LogGroupConfig, rds_export_group_name
from vivr_provision.config.standby import dr_rds_log_group_names, standby_ecs_built
from vivr_provision.log import get_logger
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, NamedStep, Resource, Site, Step, StepContext
from vivr_provision.steps.common import KindTaggedStep, gone_on, require_owned, step_tags
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import LOG_GROUP
from vivr_provision.steps.list_reads import log_groups_by_name
from vivr_provision.steps.log_delivery import log_delivery_steps

events = get_logger("vivr.logs")
#: A key just created or a policy just changed can be refused for a short while.
KEY_PROPAGATION = policy({"AccessDeniedException", "InvalidParameterException"},
                         "CloudWatch Logs may not see a new KMS key or key policy yet",
                         deadline_s=120, message=r"kms|key")


class LogGroupStep(KindTaggedStep, NamedStep):
    """One log group with its retention, KMS key (if ``key_step``) and tags."""

    family = "logs"
    service = "logs"
    kind = LOG_GROUP
    #: Whether a same-named group without any ManagedBy tag is adopted (RDS's own groups).
    adopt_untagged: bool = False

    def __init__(self, config: PlatformConfig, key: str, group: LogGroupConfig, *,
                 key_step: str | None = "kms", site: Site | None = None) -> None:
        super().__init__(config, key, site=site)
        self.group = group
        self.key_step = key_step

    def resource_name(self) -> str:
        return self.group.name

    def depends_on(self) -> tuple[str, ...]:
        return (self.key_step,) if self.key_step else ()

    def logs(self, ctx: StepContext) -> Any:
        return ctx.client("logs", self.region)

    def lookup(self, ctx: StepContext) -> Resource | None:
        """By name through a prefix listing: DescribeLogGroups has no exact-name filter
        (``logGroupNamePrefix`` also matches longer names), so no :class:`Read` fits.
        The run's first lookup takes the group from one call per site that names
        every group of the site (:func:`site_log_group_names`)."""
        names = site_log_group_names(self.config, self.site.prefix)
        batched = ctx.reads.take(("logs", self.region, "groups"), self.group.name,
                                 lambda: log_groups_by_name(self.logs(ctx), names), self.name)
        if batched is not None:
            return self._found(ctx, dict(batched))
        pages = self.logs(ctx).get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=self.group.name)
        for page in pages:
            for group in page.get("logGroups", []):
                if group["logGroupName"] == self.group.name:
                    return self._found(ctx, group)
        return None

    def _found(self, ctx: StepContext, group: dict[str, Any]) -> Resource:
        """The group with its tags, once its ownership is checked."""
        arn = str(group["arn"]).removesuffix(":*")
        tags = step_tags(ctx, self, self.logs(ctx), LOG_GROUP, arn)
        if self.adopt_untagged and "ManagedBy" not in tags:
            events.info("logs.adopting_untagged_group", step=self.name, group=self.group.name)
        else:
            require_owned(self, f"{LOG_GROUP.noun} {self.group.name}", tags)
        return Resource(arn, {**group, "TagMap": tags})

    def key_arn(self, ctx: StepContext) -> str | None:
        return str(ctx.output(self.key_step, "key_arn")) if self.key_step else None

    def create(self, ctx: StepContext, token: str) -> Resource:
        logs = self.logs(ctx)
        params: dict[str, Any] = {"logGroupName": self.group.name, "tags": self.tags()}
        key_arn = self.key_arn(ctx)
        if key_arn:
            params["kmsKeyId"] = key_arn
        KEY_PROPAGATION.call(f"create {self.group.name}", logs.create_log_group, **params)
        logs.put_retention_policy(logGroupName=self.group.name,
                                  retentionInDays=self.group.retention_days)
        return until_found(f"log group {self.group.name}", lambda: self.lookup(ctx))

    #: The managed settings (see :mod:`vivr_provision.steps.drift`).
    FIELDS = (
        TAGS,
        Field("retention_days", lambda d: d.get("retentionInDays"),
              lambda s, ctx: s.group.retention_days, apply="put_retention"),
        Field("kms_key", lambda d: d.get("kmsKeyId"), lambda s, ctx: s.key_arn(ctx),
              apply="set_key"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return until_found(f"log group {self.group.name}", lambda: self.lookup(ctx))

    def put_retention(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self.logs(ctx).put_retention_policy(logGroupName=self.group.name,
                                            retentionInDays=self.group.retention_days)

    def set_key(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """Associate the wanted key, or disassociate when the config wants none."""
        logs, wanted = self.logs(ctx), changes[0].desired
        if wanted:
            KEY_PROPAGATION.call(f"encrypt {self.group.name}", logs.associate_kms_key,
                                 logGroupName=self.group.name, kmsKeyId=wanted)
        else:
            logs.disassociate_kms_key(logGroupName=self.group.name)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(LOG_GROUP.not_found, self.logs(ctx).delete_log_group, logGroupName=self.group.name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": self.group.name, "arn": resource.id,
                "region": self.region}

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        if self.key is None or self.key not in self.config.logs.groups:
            return []
        writers = group_writers(self.config).get(self.key, [])
        if writers:
            return []
        return [f"nothing delivers into {self.group.name}: no service of this config writes "
                "to it (see logs.deliveries, redis.*_log_group, the ECS container's log_group)"]


class RdsExportLogGroupStep(LogGroupStep):
    """``/aws/rds/instance/<identifier>/<type>``: where RDS exports one log type of an instance.

    A group RDS created itself (exports enabled before this step existed)
    carries no tags; it belongs to the instance, so it is adopted and given
    our tags, the retention and the key instead of being refused.
    """

    adopt_untagged = True

    def __init__(self, config: PlatformConfig, identifier: str, log_type: str, *,
                 key_step: str | None, site: Site | None = None) -> None:
        database = config.logs.database
        group = LogGroupConfig(name=rds_export_group_name(identifier, log_type),
                               description=database.description,
                               retention_days=database.retention_days)
        super().__init__(config, f"{identifier}.{log_type}", group, key_step=key_step, site=site)
        self.identifier = identifier
        self.log_type = log_type

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        prefix = f"/{self.config.project}/{self.config.environment}/"
        notes = [f"RDS exports {self.identifier}'s {self.log_type} log only into "
                 f"{self.group.name} (a name RDS fixes); it stands for the spec's "
                 f"{prefix}database, which is not created: CloudWatch Logs cannot forward "
                 "one group into another"]
        if self.key_step is None:
            notes.append(f"{self.group.name} ({self.region}) uses CloudWatch Logs' own "
                         "encryption: no key of ours in that region (kms.multi_region off)")
        return notes


def rds_export_steps(config: PlatformConfig) -> list[RdsExportLogGroupStep]:
    """One group per instance that exports and per exported type, on the instance's site.

    Every replica exports the primary's ``rds.log_exports``
    (CreateDBInstanceReadReplica takes EnableCloudwatchLogsExports), into its
    own region.  Groups in the platform key's region use the key; the DR
    replica's use the DR key (``dr.kms``, whose own policy admits CloudWatch
    Logs for exactly these groups: :func:`dr_rds_log_group_names`) when the
    key is multi-Region, else CloudWatch Logs' default encryption (a DR
    region without a key of ours).  The group exists before the replica (its
    step depends on it), so RDS never creates it unencrypted.
    """
    rds = config.rds
    steps = [RdsExportLogGroupStep(config, rds.identifier, t, key_step="kms")
             for t in sorted(rds.log_exports)]
    dr_keyed = set(dr_rds_log_group_names(config)) if config.kms.multi_region else set()
    for replica in rds.read_replicas:
        site = None
        if replica.region != config.aws.region:
            site = Site(prefix="dr.", region=replica.region)
        for log_type in sorted(rds.log_exports):
            name = rds_export_group_name(replica.identifier, log_type)
            key_step = ("dr.kms" if name in dr_keyed else None) if site else "kms"
            steps.append(RdsExportLogGroupStep(config, replica.identifier, log_type,
                                               key_step=key_step, site=site))
    return steps


def rds_export_step_names(config: PlatformConfig, identifier: str) -> tuple[str, ...]:
    """The group steps an instance's step must follow (it exports into them)."""
    return tuple(s.name for s in rds_export_steps(config) if s.identifier == identifier)


def site_log_group_names(config: PlatformConfig, site_prefix: str) -> list[str]:
    """The log groups this config's steps manage on one site (``""`` the primary,
    ``"dr."`` the DR one): what one batched ``DescribeLogGroups`` of its region names.
    A group left out here is still found, by its own step's read."""
    names = [g.name for g in config.logs.groups.values()] if not site_prefix else []
    names += [s.group.name for s in rds_export_steps(config) if s.site.prefix == site_prefix]
    if site_prefix and config.dr.enabled:
        flow = config.dr.network.flow_logs if config.dr.network is not None else None
        if flow is not None and flow.dr_group_name:
            names.append(flow.dr_group_name)
        app = config.dr.standby.app
        if app is not None and standby_ecs_built(config):
            names.append(app.log_group.name)
    return sorted(set(names))


def encrypted_log_groups(config: PlatformConfig) -> list[str]:
    """Names of the groups this tool encrypts with the platform key (its region only)."""
    names = [g.name for g in config.logs.groups.values()]
    names += [s.group.name for s in rds_export_steps(config) if s.key_step is not None]
    return sorted(names)


def group_writers(config: PlatformConfig) -> dict[str, list[str]]:
    """What writes into each group of ``logs.groups`` (by key), as the operator would say it."""
    writers: dict[str, list[str]] = {}

    def add(key: str | None, what: str) -> None:
        if key is not None:
            writers.setdefault(key, []).append(what)

    add(config.ecs.task_definition.container.log_group, "ECS tasks (awslogs)")
    add(config.redis.slow_log_group, "ElastiCache slow-log")
    add(config.redis.engine_log_group, "ElastiCache engine-log")
    for delivery in config.logs.deliveries.values():
        add(delivery.group, f"{delivery.source} {delivery.log_type} delivery")
    if config.network.flow_logs is not None:
        add(config.network.flow_logs.log_group, "VPC flow logs")
    add(config.waf.log_group, "WAF web ACL logs")
    add(config.route53.query_log_group, "Route 53 DNS query logs")
    export = config.backup.redis_export
    if export is not None and config.redis.export_to_s3_daily:
        add(export.log_group, "the Redis export's Step Functions logs")
    rotation = config.secrets.origin_verify.rotation
    if rotation is not None:
        add(rotation.log_group, f"Lambda function {rotation.function}")
    return writers


def log_steps(config: PlatformConfig) -> list[Step]:
    """The spec's groups, RDS's export groups and the CloudWatch Logs deliveries."""
    steps: list[Step] = [LogGroupStep(config, key, group)
                         for key, group in config.logs.groups.items()]
    steps += rds_export_steps(config)
    return steps + log_delivery_steps(config)


__all__ = ["LogGroupStep", "RdsExportLogGroupStep", "encrypted_log_groups",
           "group_writers", "log_steps", "rds_export_group_name", "rds_export_step_names"]
