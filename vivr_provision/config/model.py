"""The root config model: one environment of the platform.

Field-level rules live on each section (data.py, app.py, edge.py, ops.py,
network.py); this module adds the checks that span sections: availability
zones against the region, subnet/security-group/bucket/secret/log-group
references (and subnet tiers), capacity bounds, DR consistency. Every
message is ``section.path: reason`` (or ``section.path VALUE reason``) so a
user can find the line in the YAML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vivr_provision.config.app import (
    CLOUDFRONT_LOG_REGION,
    FARGATE_MEMORY,
    AcmConfig,
    AlbConfig,
    EcsConfig,
    IamConfig,
    LogsConfig,
)
from vivr_provision.config.archive import (
    VENDED_STATES_PREFIX,
    BackupToolingConfig,
    backup_tooling_problems,
)
from vivr_provision.config.base import ConfigProblems, Region, StrictModel, az_in_region
from vivr_provision.config.data import (
    KmsConfig,
    PgBouncerConfig,
    RdsConfig,
    RedisConfig,
    SecretsConfig,
)
from vivr_provision.config.edge import (
    CloudFrontConfig,
    Route53Config,
    S3Config,
    S3OriginConfig,
    WafConfig,
)
from vivr_provision.config.network import (
    FlowLogConfig,
    NetworkConfig,
    SecurityGroupConfig,
    SubnetTier,
)
from vivr_provision.config.ops import (
    DR_REDIS_RESOURCE,
    REPLICA_RESOURCE,
    CostConfig,
    DrConfig,
    MonitoringConfig,
    global_datastore_problem,
)
from vivr_provision.config.standby import standby_app_problems

Environment = Literal["production", "staging"]
RESERVED_TAGS = ("Project", "Environment", "ManagedBy", "Name")


class AwsConfig(StrictModel):
    """Where and how to call AWS; CLI flags override region and endpoint."""

    region: Region
    dr_region: Region
    retry_mode: Literal["standard", "adaptive"]
    max_attempts: Annotated[int, Field(ge=1, le=20)]
    max_calls_per_second: Annotated[float, Field(gt=0, le=1000)]
    #: documented: AWS's per-API budgets (vivr_provision/api_budgets.py), each
    #: capped by max_calls_per_second; flat: max_calls_per_second per service.
    api_budgets: Literal["documented", "flat"] = "documented"


class PlatformConfig(StrictModel):
    """One environment: every value a step needs, validated before any AWS call."""

    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")]
    environment: Environment
    aws: AwsConfig
    tags: dict[str, str]
    network: NetworkConfig
    security_groups: list[SecurityGroupConfig]
    # data tier (data.py)
    kms: KmsConfig
    secrets: SecretsConfig
    rds: RdsConfig
    pgbouncer: PgBouncerConfig
    redis: RedisConfig
    # application tier (app.py)
    iam: IamConfig
    logs: LogsConfig
    ecs: EcsConfig
    alb: AlbConfig
    acm: AcmConfig
    # edge (edge.py)
    cloudfront: CloudFrontConfig
    waf: WafConfig
    s3: S3Config
    route53: Route53Config
    # operations (ops.py)
    monitoring: MonitoringConfig
    dr: DrConfig
    cost: CostConfig
    # backup tooling that runs in AWS (archive.py); absent blocks build nothing
    backup: BackupToolingConfig = Field(default_factory=BackupToolingConfig)

    def dr_log_bucket_name(self) -> str | None:
        """The DR site's log bucket (``dr.logs_bucket``, with ``s3.name_suffix``), when
        the graph builds it: DR on and the section present."""
        logs = self.dr.logs_bucket
        if not self.dr.enabled or logs is None:
            return None
        return logs.name + self.s3.name_suffix

    def security_group(self, name: str) -> SecurityGroupConfig:
        for group in self.security_groups:
            if group.name == name:
                return group
        raise KeyError(name)

    @model_validator(mode="after")
    def _check_references(self) -> PlatformConfig:
        problems: list[str] = []
        region = self.aws.region
        if self.aws.dr_region == region:
            problems.append(f"aws.dr_region {region} must differ from aws.region")
        for subnet in self.network.subnets:
            if not az_in_region(subnet.availability_zone, region):
                problems.append(
                    f"network.subnets.{subnet.name}.availability_zone "
                    f"{subnet.availability_zone} is not in region {region}"
                )
        for key in self.tags:
            if key in RESERVED_TAGS:
                problems.append(f"tags.{key}: reserved tag key, set by the tool itself")
        problems += group_set_problems("security_groups", self.security_groups)
        for section in ("secrets", "rds", "redis", "cloudfront", "waf", "s3", "route53",
                        "monitoring"):
            problems += [f"{section}.{p}" for p in getattr(self, section).problems()]
        problems += _data_problems(self)
        problems += pgbouncer_timeout_problems(self)
        problems += pgbouncer_boot_watch_problems(self)
        problems += _app_problems(self)
        problems += _edge_problems(self)
        problems += _ops_problems(self)
        problems += backup_tooling_problems(self)
        if problems:
            raise ConfigProblems(problems)
        return self


# --------------------------------------------------------------------------- reference helpers


def group_set_problems(where: str, groups: list[SecurityGroupConfig]) -> list[str]:
    """Duplicate names, and rules naming a group outside the same set (one VPC's groups)."""
    problems: list[str] = []
    names = [g.name for g in groups]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}.{dup}: duplicate security group name")
    for group in groups:
        for direction in ("ingress", "egress"):
            for index, rule in enumerate(getattr(group, direction)):
                if rule.group is not None and rule.group not in names:
                    problems.append(
                        f"{where}.{group.name}.{direction}[{index}].group "
                        f"{rule.group!r} is not a security group of {where}"
                    )
    return problems


def _subnet_problems(
    config: PlatformConfig, refs: list[tuple[str, str]], tier: SubnetTier, user: str
) -> list[str]:
    """Each (path, subnet name) must name a subnet of ``tier``."""
    problems: list[str] = []
    for where, name in refs:
        subnet = next((s for s in config.network.subnets if s.name == name), None)
        if subnet is None:
            problems.append(f"{where} {name!r} is not a subnet of network.subnets")
        elif subnet.tier != tier:
            problems.append(f"{where} {name!r} is a {subnet.tier} subnet; {user} needs {tier}")
    return problems


def _indexed(where: str, names: list[str]) -> list[tuple[str, str]]:
    return [(f"{where}[{index}]", name) for index, name in enumerate(names)]


def _azs(config: PlatformConfig, names: list[str]) -> set[str]:
    return {s.availability_zone for s in config.network.subnets if s.name in names}


def _spread_problems(config: PlatformConfig, where: str, names: list[str], user: str) -> list[str]:
    zones = _azs(config, names)
    if len(zones) < 2:
        return [f"{where}: {user} needs subnets in two availability zones, got {sorted(zones)}"]
    return []


def _group_problems(config: PlatformConfig, refs: list[tuple[str, str]]) -> list[str]:
    known = {g.name for g in config.security_groups}
    return [
        f"{where} {name!r} is not a security group of this config"
        for where, name in refs
        if name not in known
    ]


def _ingress_problems(
    config: PlatformConfig, where: str, port: int, groups: list[str]
) -> list[str]:
    """The port a resource listens on must be open in one of its security groups."""
    return _open_port_problems(config.security_groups, where, port, groups)


def _open_port_problems(
    known: list[SecurityGroupConfig], where: str, port: int, groups: list[str]
) -> list[str]:
    """Like :func:`_ingress_problems`, for the groups of any site (primary or DR)."""
    existing = [g for g in known if g.name in groups]
    if not existing:
        return []  # unknown groups are reported by _group_problems
    for group in existing:
        for rule in group.ingress:
            if rule.protocol == "all":
                return []
            if rule.protocol == "tcp":
                low, high = rule.port_range
                if low <= port <= high:
                    return []
    return [f"{where} {port}: no ingress rule of {', '.join(groups)} allows tcp {port}"]


def _key_problems(where: str, key: str | None, known: Iterable[str], what: str) -> list[str]:
    if key is None or key in known:
        return []
    return [f"{where} {key!r} is not a key of {what}"]


# --------------------------------------------------------------------------- per tier


def _data_problems(c: PlatformConfig) -> list[str]:
    problems: list[str] = []
    rds, redis, pgb = c.rds, c.redis, c.pgbouncer
    db_subnets = rds.subnet_group.subnets
    problems += _subnet_problems(
        c, _indexed("rds.subnet_group.subnets", db_subnets), "database", "RDS"
    )
    problems += _spread_problems(c, "rds.subnet_group.subnets", db_subnets, "an RDS subnet group")
    problems += _group_problems(c, _indexed("rds.security_groups", rds.security_groups))
    problems += _ingress_problems(c, "rds.port", rds.port, rds.security_groups)
    db_zones = _azs(c, db_subnets)
    standby = rds.standby_availability_zone
    if standby is not None and standby not in db_zones:
        problems.append(
            f"rds.standby_availability_zone {standby} is not an AZ of rds.subnet_group "
            f"({', '.join(sorted(db_zones))})"
        )
    for index, replica in enumerate(rds.read_replicas):
        where = f"rds.read_replicas[{index}]"
        if not az_in_region(replica.availability_zone, replica.region):
            problems.append(
                f"{where}.availability_zone {replica.availability_zone} is not in region "
                f"{replica.region}"
            )
        elif replica.region == c.aws.region and replica.availability_zone not in db_zones:
            problems.append(
                f"{where}.availability_zone {replica.availability_zone} is not an AZ of "
                "rds.subnet_group"
            )
        if replica.region != c.aws.region:
            if not c.dr.enabled or replica.region != c.dr.region:
                problems.append(
                    f"{where}.region {replica.region}: a cross-region replica must be in "
                    f"dr.region {c.dr.region} with dr.enabled true"
                )
            if rds.storage_encrypted and not c.kms.multi_region:
                problems.append(
                    f"{where}.region {replica.region}: an encrypted cross-region replica "
                    "needs kms.multi_region true"
                )
    max_connections = rds.parameter_group.int_value("max_connections")
    if max_connections is not None and pgb.max_db_connections > max_connections:
        problems.append(
            f"pgbouncer.max_db_connections {pgb.max_db_connections} is above "
            f"rds.parameter_group max_connections {max_connections}"
        )
    problems += _subnet_problems(c, [("pgbouncer.subnet", pgb.subnet)], "private", "PgBouncer")
    problems += _group_problems(c, [("pgbouncer.security_group", pgb.security_group)])
    problems += _group_problems(
        c, _indexed("pgbouncer.boot_security_groups", pgb.boot_security_groups))
    problems += _ingress_problems(
        c, "pgbouncer.listen_port", pgb.listen_port, [pgb.security_group]
    )
    secrets = c.secrets.names()
    problems += _key_problems(
        "pgbouncer.datadog_api_key_secret", pgb.datadog_api_key_secret, secrets, "secrets"
    )
    cache_subnets = redis.subnet_group.subnets
    problems += _subnet_problems(
        c, _indexed("redis.subnet_group.subnets", cache_subnets), "cache", "ElastiCache"
    )
    if redis.multi_az:
        problems += _spread_problems(
            c, "redis.subnet_group.subnets", cache_subnets, "Multi-AZ ElastiCache"
        )
    problems += _group_problems(c, _indexed("redis.security_groups", redis.security_groups))
    problems += _ingress_problems(c, "redis.port", redis.port, redis.security_groups)
    problems += _key_problems(
        "redis.export_bucket", redis.export_bucket, c.s3.buckets, "s3.buckets"
    )
    problems += _key_problems(
        "redis.slow_log_group", redis.slow_log_group, c.logs.groups, "logs.groups"
    )
    problems += _key_problems(
        "redis.engine_log_group", redis.engine_log_group, c.logs.groups, "logs.groups"
    )
    return problems


def pgbouncer_idle_hold_s(pgb: PgBouncerConfig) -> int:
    """The longest a PgBouncer server connection may sit idle before PgBouncer closes it.

    From PgBouncer's janitor (``check_unused_servers`` in src/janitor.c):
    ``server_idle_timeout`` closes an idle connection only while the pool
    holds more than ``min_pool_size``; ``server_lifetime`` closes any
    released connection once it is that old (0: used once).  So with a
    ``min_pool_size`` (or no idle timeout) the bound is ``server_lifetime``.
    """
    if pgb.server_lifetime == 0:
        return 0
    if pgb.min_pool_size > 0 or pgb.server_idle_timeout == 0:
        return pgb.server_lifetime
    return min(pgb.server_idle_timeout, pgb.server_lifetime)


def pgbouncer_timeout_problems(c: PlatformConfig) -> list[str]:
    """PgBouncer must never keep a server connection idle longer than PostgreSQL allows it.

    PostgreSQL's ``idle_session_timeout`` (``rds.parameter_group``, in ms)
    terminates a session idle outside a transaction; a pooled connection
    killed that way is a reconnect (TLS and SCRAM again) and, in the instant
    between the kill and PgBouncer noticing, an error for the client handed
    it (``server_check_query`` after ``server_check_delay`` narrows that
    window, it does not close it).  The limit PgBouncer's connections live
    under is ``pgbouncer.server_idle_session_timeout`` when set (each
    connection sets it at connect; a ``session`` pool's ``DISCARD ALL``
    after every client resets it, so there it does not count), else the
    parameter group's.  ``idle_in_transaction_session_timeout`` is not
    compared: PgBouncer never holds a connection idle inside a transaction,
    only a client does, and RDS ending that is what it is for.
    """
    pgb = c.pgbouncer
    rds_ms = c.rds.parameter_group.int_value("idle_session_timeout")
    own = pgb.server_idle_session_timeout
    limit_s: float
    if own is not None and pgb.pool_mode != "session":
        limit_s, source = own, "pgbouncer.server_idle_session_timeout"
    else:
        limit_s, source = (rds_ms or 0) / 1000, "rds.parameter_group idle_session_timeout"
    if limit_s == 0:
        return []  # the server never closes idle sessions
    hold = pgbouncer_idle_hold_s(pgb)
    if hold < limit_s:
        return []
    why = (f"min_pool_size {pgb.min_pool_size} keeps them past server_idle_timeout, "
           f"up to server_lifetime {pgb.server_lifetime}" if pgb.min_pool_size > 0
           else f"server_idle_timeout {pgb.server_idle_timeout}, "
                f"server_lifetime {pgb.server_lifetime}")
    return [
        f"pgbouncer: server connections may stay idle {hold} s ({why}) but {source} "
        f"closes idle sessions after {limit_s:g} s; set pgbouncer.server_idle_session_timeout: 0 "
        f"(not with pool_mode session) or keep them idle less than {limit_s:g} s"
    ]


def pgbouncer_boot_watch_problems(c: PlatformConfig) -> list[str]:
    """A PgBouncer boot that fails must raise an alarm, not leave a silent broken pooler.

    The boot script publishes ``VIVR/PgBouncer pgbouncer_up`` only while
    PgBouncer answers; an alarm on it sees a boot that never finished only
    if missing data counts as breaching.
    """
    # Imported here: vivr_provision.pgbouncer imports this package.
    from vivr_provision.pgbouncer import HEARTBEAT_METRIC, METRICS_NAMESPACE

    for alarm in c.monitoring.alarms:
        if (alarm.resource, alarm.namespace, alarm.metric_name) == (
                "pgbouncer", METRICS_NAMESPACE, HEARTBEAT_METRIC) \
                and alarm.treat_missing_data == "breaching":
            return []
    return [f"monitoring.alarms: no alarm on {METRICS_NAMESPACE} {HEARTBEAT_METRIC} "
            "(resource pgbouncer) with treat_missing_data breaching; a failed PgBouncer boot "
            "would go unnoticed"]


#: The service that publishes flow logs with the role it is given (VPC User Guide).
FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"


def _flow_log_problems(c: PlatformConfig) -> list[str]:
    """Each site's flow log: its group and role exist, the role can deliver into that group."""
    problems: list[str] = []
    if c.network.flow_logs is not None and c.network.flow_logs.dr_group_name is not None:
        problems.append("network.flow_logs.dr_group_name: only dr.network.flow_logs has a "
                        "group of its own in the DR region")
    problems += _site_flow_log_problems(c, c.network.flow_logs, "network.flow_logs")
    dr_flow = c.dr.network.flow_logs if c.dr.network is not None else None
    if dr_flow is not None and dr_flow.dr_group_name is None:
        problems.append("dr.network.flow_logs.dr_group_name: the DR VPC's flow log needs a "
                        "group in its own region; name it here")
    return problems + _site_flow_log_problems(c, dr_flow, "dr.network.flow_logs")


#: WAF Developer Guide, "Logging web ACL traffic": every destination's name starts so.
WAF_LOG_PREFIX = "aws-waf-logs-"


def _waf_log_problems(c: PlatformConfig) -> list[str]:
    """WAF logs into a group named ``aws-waf-logs-...``, in the ACL's region (us-east-1
    for scope CLOUDFRONT; ``logs.groups`` are in ``aws.region``)."""
    key = c.waf.log_group
    if key is None:
        return []
    problems = _key_problems("waf.log_group", key, c.logs.groups, "logs.groups")
    if problems:
        return problems
    name = c.logs.group(key).name
    if not name.startswith(WAF_LOG_PREFIX):
        problems.append(f"waf.log_group {key}: WAF logs only into a group whose name starts "
                        f"with {WAF_LOG_PREFIX} (not {name})")
    if c.waf.scope == "CLOUDFRONT" and c.aws.region != "us-east-1":
        problems.append("waf.log_group: a CLOUDFRONT-scope web ACL logs only into a group in "
                        f"us-east-1, and logs.groups are in aws.region ({c.aws.region})")
    return problems


def _query_log_problems(c: PlatformConfig) -> list[str]:
    """Route 53 API reference, CreateQueryLoggingConfig: "You must create the log group
    in the us-east-1 region" (``logs.groups`` are in ``aws.region``)."""
    key = c.route53.query_log_group
    if key is None:
        return []
    problems = _key_problems("route53.query_log_group", key, c.logs.groups, "logs.groups")
    if c.aws.region != "us-east-1":
        problems.append("route53.query_log_group: Route 53 logs DNS queries only into a group "
                        f"in us-east-1, and logs.groups are in aws.region ({c.aws.region})")
    return problems


def _site_flow_log_problems(c: PlatformConfig, flow: FlowLogConfig | None,
                            where: str) -> list[str]:
    if flow is None:
        return []
    problems = _key_problems(f"{where}.log_group", flow.log_group, c.logs.groups, "logs.groups")
    role = c.iam.roles().get(flow.role)
    if role is None:
        return [*problems, f"{where}.role {flow.role!r} is not a role of iam"]
    if role.trust_service != FLOW_LOGS_SERVICE:
        problems.append(f"{where}.role {flow.role}: trust_service must be {FLOW_LOGS_SERVICE}")
    if not any(g.capability == "CloudWatchLogsDeliver" and flow.log_group in g.resources
               for g in role.grants):
        problems.append(f"{where}.role {flow.role}: needs CloudWatchLogsDeliver on "
                        f"{flow.log_group} (logs.groups) to publish into it")
    return problems


def _iam_problems(c: PlatformConfig) -> list[str]:
    problems: list[str] = _flow_log_problems(c) + _waf_log_problems(c) + _query_log_problems(c)
    secrets = c.secrets.names()
    for role_field, role in c.iam.roles().items():
        for index, grant in enumerate(role.grants):
            where = f"iam.{role_field}.grants[{index}].resources"
            if grant.capability.startswith("S3"):
                for key in grant.resources:
                    problems += _key_problems(where, key, c.s3.buckets, "s3.buckets")
                    bucket = c.s3.buckets.get(key)
                    if grant.capability == "S3Replication" and bucket is not None \
                            and bucket.replication is None:
                        problems.append(f"{where}: bucket {key!r} has no replication section")
            elif grant.capability == "SecretsManagerReadSecret":
                for key in grant.resources:
                    problems += _key_problems(where, key, secrets, "secrets")
            elif grant.capability in ("CloudWatchLogsDeliver", "CloudWatchLogsWrite"):
                for key in grant.resources:
                    problems += _key_problems(where, key, c.logs.groups, "logs.groups")
            elif grant.capability.startswith("KMS") and grant.resources:
                problems.append(
                    f"{where}: {grant.capability} applies to the platform key; "
                    "leave resources empty"
                )
            if not grant.resources and not grant.capability.startswith("KMS"):
                problems.append(f"{where}: {grant.capability} needs at least one resource")
    return problems


def _ecs_problems(c: PlatformConfig) -> list[str]:
    problems: list[str] = []
    ecs = c.ecs
    service, scaling, task = ecs.service, ecs.autoscaling, ecs.task_definition
    container = task.container
    problems += _subnet_problems(
        c, _indexed("ecs.service.subnets", service.subnets), "private", "the ECS service"
    )
    problems += _group_problems(c, _indexed("ecs.service.security_groups", service.security_groups))
    problems += _ingress_problems(
        c, "ecs.task_definition.container.port", container.port, service.security_groups
    )
    desired = service.desired_count
    if desired > scaling.max_capacity:
        problems.append(
            f"ecs.autoscaling: desired_count {desired} is above max_capacity {scaling.max_capacity}"
        )
    if desired < scaling.min_capacity:
        problems.append(
            f"ecs.autoscaling: desired_count {desired} is below min_capacity {scaling.min_capacity}"
        )
    secrets = c.secrets.names()
    for index, entry in enumerate(container.secrets):
        where = f"ecs.task_definition.container.secrets[{index}].secret"
        problems += _key_problems(where, entry.secret, secrets, "secrets")
    problems += _key_problems(
        "ecs.task_definition.container.log_group", container.log_group, c.logs.groups, "logs.groups"
    )
    problems += _endpoint_problems(c)
    if service.target_group != c.alb.target_group.name:
        problems.append(
            f"ecs.service.target_group {service.target_group!r} is not alb.target_group.name "
            f"{c.alb.target_group.name!r}"
        )
    if c.alb.target_group.port != container.port:
        problems.append(
            f"alb.target_group.port {c.alb.target_group.port} differs from "
            f"ecs.task_definition.container.port {container.port}"
        )
    if ecs.launch_type == "fargate":
        memory = FARGATE_MEMORY.get(task.cpu)
        if memory is None:
            problems.append(
                f"ecs.task_definition.cpu {task.cpu} is not a Fargate size "
                f"({', '.join(str(k) for k in FARGATE_MEMORY)})"
            )
        elif task.memory not in memory:
            problems.append(
                f"ecs.task_definition.memory {task.memory} is not valid with cpu {task.cpu} "
                f"on Fargate ({memory.start}-{memory.stop - 1} in steps of {memory.step})"
            )
        if c.alb.target_group.target_type != "ip":
            problems.append("alb.target_group.target_type must be ip for Fargate tasks")
    return problems


def _endpoint_problems(c: PlatformConfig) -> list[str]:
    """Endpoint variables name a resource of this config in the app's own region."""
    problems: list[str] = []
    local_dbs = [c.rds.identifier] + [
        r.identifier for r in c.rds.read_replicas if r.region == c.aws.region
    ]
    for env, entry in c.ecs.task_definition.container.endpoints.items():
        where = f"ecs.task_definition.container.endpoints.{env}.key"
        if entry.source == "rds" and entry.key not in local_dbs:
            problems.append(
                f"{where} {entry.key!r} is not an RDS instance in {c.aws.region} "
                f"({', '.join(local_dbs)})"
            )
        elif entry.source == "s3":
            problems += _key_problems(where, entry.key, c.s3.buckets, "s3.buckets")
    return problems


def _app_problems(c: PlatformConfig) -> list[str]:
    problems = _iam_problems(c) + _ecs_problems(c)
    prefix = f"/{c.project}/{c.environment}/"
    export = c.backup.redis_export
    for key, group in c.logs.groups.items():
        # WAF's group cannot be under a path: its name is fixed to start aws-waf-logs-.
        wanted = f"{WAF_LOG_PREFIX}{c.project}-{c.environment}" if key == c.waf.log_group \
            else prefix
        if export is not None and key == export.log_group:
            # Step Functions' vended-logs path, then the environment (issue 12).
            wanted = f"{VENDED_STATES_PREFIX}{c.project}-{c.environment}-"
        rotation = c.secrets.origin_verify.rotation
        if rotation is not None and key == rotation.log_group:
            # Lambda's group is named after the function (checked with the rotation).
            continue
        if not group.name.startswith(wanted):
            problems.append(
                f"logs.groups.{key}.name {group.name} is not under {wanted} "
                "(log groups are per environment)"
            )
    for key, delivery in c.logs.deliveries.items():
        # CloudFront standard logging (v2) is configured through CloudWatch Logs
        # in us-east-1 only (CloudFront Developer Guide, "Configure standard
        # logging (v2)"), and a CloudWatch Logs destination is in its region.
        if delivery.source == "cloudfront" and c.aws.region != CLOUDFRONT_LOG_REGION:
            problems.append(f"logs.deliveries.{key}: CloudFront delivers standard logs "
                            f"through CloudWatch Logs in {CLOUDFRONT_LOG_REGION} only, "
                            f"not {c.aws.region}")
    alb = c.alb
    problems += _subnet_problems(c, _indexed("alb.subnets", alb.subnets), "public", "the ALB")
    problems += _spread_problems(c, "alb.subnets", alb.subnets, "an ALB")
    problems += _group_problems(c, _indexed("alb.security_groups", alb.security_groups))
    for index, listener in enumerate(alb.listeners):
        problems += _ingress_problems(
            c, f"alb.listeners[{index}].port", listener.port, alb.security_groups
        )
    logs_key = alb.access_logs.bucket
    problems += _key_problems("alb.access_logs.bucket", logs_key, c.s3.buckets, "s3.buckets")
    bucket = c.s3.buckets.get(logs_key) if logs_key is not None else None
    if bucket is not None and alb.access_logs.enabled:
        if bucket.encryption != "AES256":
            problems.append(
                f"alb.access_logs.bucket {logs_key!r}: ALB access logs need SSE-S3 (AES256) "
                f"encryption, the bucket uses {bucket.encryption}"
            )
        if bucket.policy != "alb-log-delivery":
            problems.append(
                f"alb.access_logs.bucket {logs_key!r}: s3.buckets.{logs_key}.policy must be "
                "alb-log-delivery"
            )
    if c.acm.validation_method == "DNS":
        for name in [c.acm.domain_name, *c.acm.subject_alternative_names]:
            if not c.route53.in_zone(name.removeprefix("*.")):
                problems.append(
                    f"acm: {name} is outside route53.hosted_zone {c.route53.hosted_zone.name}, "
                    "so DNS validation records cannot be created"
                )
    return problems


def _edge_problems(c: PlatformConfig) -> list[str]:
    problems: list[str] = []
    cf, buckets, secrets = c.cloudfront, c.s3.buckets, c.secrets.names()
    for index, origin in enumerate(cf.origins):
        where = f"cloudfront.origins[{index}]"
        if origin.kind == "s3":
            problems += _key_problems(f"{where}.bucket", origin.bucket, buckets, "s3.buckets")
            bucket = buckets.get(origin.bucket)
            if bucket is not None and bucket.policy != "cloudfront-oai":
                problems.append(
                    f"{where}.bucket {origin.bucket!r}: s3.buckets.{origin.bucket}.policy must "
                    "be cloudfront-oai for the OAI to read it"
                )
        else:
            for h_index, header in enumerate(origin.custom_headers):
                problems += _key_problems(
                    f"{where}.custom_headers[{h_index}].secret", header.secret, secrets, "secrets"
                )
    problems += _fle_problems(c)
    for index, alias in enumerate(cf.aliases):
        if not c.acm.covers(alias):
            problems.append(f"cloudfront.aliases[{index}] {alias} is not covered by acm")
    if cf.web_acl != c.waf.web_acl_name:
        problems.append(f"cloudfront.web_acl {cf.web_acl!r} is not waf.web_acl_name")
    if c.waf.scope != "CLOUDFRONT":
        problems.append("waf.scope must be CLOUDFRONT to protect the distribution")
    log_key = cf.logging.bucket
    problems += _key_problems("cloudfront.logging.bucket", log_key, buckets, "s3.buckets")
    log_bucket = buckets.get(log_key)
    if cf.logging.enabled and log_bucket and log_bucket.object_ownership == "BucketOwnerEnforced":
        problems.append(
            f"cloudfront.logging.bucket {log_key!r}: standard logging writes with ACLs; "
            f"s3.buckets.{log_key}.object_ownership must not be BucketOwnerEnforced"
        )
    for key, bucket in buckets.items():
        replication = bucket.replication
        if replication is None:
            continue
        where = f"s3.buckets.{key}.replication"
        if not c.dr.enabled or replication.destination_region != c.dr.region:
            problems.append(
                f"{where}.destination_region {replication.destination_region}: replication "
                f"goes to dr.region {c.dr.region} with dr.enabled true"
            )
        if bucket.encryption == "aws:kms" and not (
            replication.replicate_kms_encrypted and c.kms.multi_region
        ):
            problems.append(
                f"{where}: a KMS-encrypted bucket needs replicate_kms_encrypted and "
                "kms.multi_region true"
            )
    for index, record in enumerate(c.route53.records):
        if record.target == "cloudfront" and record.name not in cf.aliases:
            problems.append(
                f"route53.records[{index}].name {record.name} is not in cloudfront.aliases"
            )
    for index, failover in enumerate(c.route53.failover_records):
        where = f"route53.failover_records[{index}]"
        if failover.ttl_seconds != c.dr.failover_ttl_seconds:
            problems.append(
                f"{where}.ttl_seconds {failover.ttl_seconds} differs from "
                f"dr.failover_ttl_seconds {c.dr.failover_ttl_seconds}"
            )
        if not (c.dr.enabled and c.dr.standby.alb):
            problems.append(f"{where}: failover needs dr.enabled and dr.standby.alb")
        check = failover.health_check
        if not any(
            listener.protocol == check.type and listener.port == check.port
            for listener in c.alb.listeners
        ):
            problems.append(
                f"{where}.health_check: no alb listener serves {check.type} {check.port}"
            )
    return problems


def _fle_problems(c: PlatformConfig) -> list[str]:
    """Field-level encryption: the key pair it names, and behaviours that can carry it.

    CloudFront encrypts fields at the edge and sends them on only over HTTPS:
    a behaviour with field-level encryption needs a viewer protocol policy of
    https-only or redirect-to-https and an origin that CloudFront reaches with
    https-only (CloudFront Developer Guide, "Use field-level encryption to help
    protect sensitive data"; UpdateDistribution refuses the others with
    IllegalFieldLevelEncryptionConfigAssociationWithCacheBehavior).
    """
    fle = c.cloudfront.security.field_level_encryption
    where = "cloudfront.security.field_level_encryption"
    if not fle.enabled:
        return []
    problems = _key_problems(f"{where}.private_key_secret", fle.private_key_secret,
                             c.secrets.key_pairs, "secrets.key_pairs")
    carrying = c.cloudfront.fle_behaviours()
    if not carrying:
        problems.append(f"{where}: no cache behaviour forwards POST to a custom origin, so "
                        "none would carry it")
    origins = {o.id: o for o in c.cloudfront.origins}
    for behaviour in carrying:
        origin = origins.get(behaviour.target_origin)
        if behaviour.viewer_protocol_policy == "allow-all":
            problems.append(f"cloudfront.behaviours {behaviour.path_pattern}: field-level "
                            "encryption needs viewer_protocol_policy https-only or "
                            "redirect-to-https")
        if origin is not None and getattr(origin, "protocol_policy", None) != "https-only":
            problems.append(f"cloudfront.origins {origin.id}: field-level encryption on "
                            f"{behaviour.path_pattern} needs protocol_policy https-only")
    return problems


def _dr_network_problems(c: PlatformConfig) -> list[str]:
    """The DR network: AZs in dr.region, group references, the replica's subnet group."""
    dr = c.dr
    problems: list[str] = []
    if dr.network is None:
        if dr.database is not None or dr.security_groups:
            problems.append("dr.network: dr.database and dr.security_groups need dr.network")
        return problems
    for subnet in dr.network.subnets:
        if not az_in_region(subnet.availability_zone, dr.region):
            problems.append(
                f"dr.network.subnets.{subnet.name}.availability_zone "
                f"{subnet.availability_zone} is not in region {dr.region}"
            )
    problems += group_set_problems("dr.security_groups", dr.security_groups)
    names = [g.name for g in dr.security_groups]
    if dr.database is not None:
        where = "dr.database.subnet_group.subnets"
        subnets = {s.name: s for s in dr.network.subnets}
        for index, name in enumerate(dr.database.subnet_group.subnets):
            member = subnets.get(name)
            if member is None:
                problems.append(f"{where}[{index}] {name!r} is not a subnet of dr.network")
            elif member.tier != "database":
                problems.append(f"{where}[{index}] {name!r} is a {member.tier} subnet; "
                                "RDS needs database")
        zones = {subnets[n].availability_zone for n in dr.database.subnet_group.subnets
                 if n in subnets}
        if len(zones) < 2:
            problems.append(f"{where}: an RDS subnet group needs two availability zones")
        for index, name in enumerate(dr.database.security_groups):
            if name not in names:
                problems.append(f"dr.database.security_groups[{index}] {name!r} is not a "
                                "group of dr.security_groups")
        for index, replica in enumerate(c.rds.read_replicas):
            if replica.region == dr.region and replica.availability_zone not in zones:
                problems.append(
                    f"rds.read_replicas[{index}].availability_zone "
                    f"{replica.availability_zone} is not an AZ of dr.database.subnet_group"
                )
    return problems


def _dr_secret_problems(c: PlatformConfig) -> list[str]:
    """Replicated secrets need the DR key: the multi-Region key's replica in ``dr.region``
    (a single-Region key has none, and the replicas must not fall back to AWS's key)."""
    dr = c.dr
    if dr.enabled and dr.standby.replicate_secrets and not c.kms.multi_region:
        return ["dr.standby.replicate_secrets: the replicas are encrypted with the key's "
                "replica in dr.region, which needs kms.multi_region: true"]
    return []


def _topic_key_problems(c: PlatformConfig) -> list[str]:
    """Encrypted topics in the DR region (``dr.sns.*``) need a key there: SNS takes
    only a key of the topic's region, here the multi-Region key's replica."""
    if c.monitoring.encrypt_topics and c.dr.enabled and not c.kms.multi_region:
        return ["monitoring.encrypt_topics: the topics in dr.region are encrypted with the "
                "key's replica there, which needs kms.multi_region: true"]
    return []


def _dr_alb_problems(c: PlatformConfig) -> list[str]:
    """The standby ALB: declared when promised, placed in the DR network like the primary's.

    ``dr.standby.alb`` promises the failover SECONDARY a target, so it needs
    the ``dr.alb`` section; the balancer needs public subnets of
    ``dr.network`` in two AZs (routed to its internet gateway when
    internet-facing), groups of ``dr.security_groups`` that open its
    listener ports, and no access logs: an ALB logs only to a bucket in its
    own region, and every bucket of ``s3.buckets`` is in ``aws.region``.
    """
    dr = c.dr
    problems: list[str] = []
    if dr.enabled and dr.standby.alb and dr.alb is None:
        problems.append("dr.standby.alb: the standby ALB needs a dr.alb section (subnets, "
                        "security groups, target group, listeners)")
    alb = dr.alb
    if alb is None:
        return problems
    if dr.network is None:
        problems.append("dr.alb: the standby ALB needs dr.network (public subnets in dr.region)")
        return problems
    subnets = {s.name: s for s in dr.network.subnets}
    routed = {name for table in dr.network.route_tables
              if table.default_route == "internet_gateway" for name in table.subnets}
    for where, name in _indexed("dr.alb.subnets", alb.subnets):
        member = subnets.get(name)
        if member is None:
            problems.append(f"{where} {name!r} is not a subnet of dr.network")
        elif member.tier != "public":
            problems.append(f"{where} {name!r} is a {member.tier} subnet; the ALB needs public")
        elif alb.scheme == "internet-facing" and name not in routed:
            problems.append(f"{where} {name!r} has no route table to dr.network's internet "
                            "gateway; an internet-facing ALB needs one")
    zones = {subnets[n].availability_zone for n in alb.subnets if n in subnets}
    if len(zones) < 2:
        problems.append(f"dr.alb.subnets: an ALB needs subnets in two availability zones, "
                        f"got {sorted(zones)}")
    names = [g.name for g in dr.security_groups]
    for where, name in _indexed("dr.alb.security_groups", alb.security_groups):
        if name not in names:
            problems.append(f"{where} {name!r} is not a group of dr.security_groups")
    for index, listener in enumerate(alb.listeners):
        problems += _open_port_problems(dr.security_groups, f"dr.alb.listeners[{index}].port",
                                        listener.port, alb.security_groups)
    logs, key = dr.logs_bucket, alb.access_logs.bucket
    if alb.access_logs.enabled and (logs is None or key != logs.settings_of):
        problems.append(
            f"dr.alb.access_logs: an ALB writes access logs only to a bucket in its own region "
            f"({dr.region}) and s3.buckets are in {c.aws.region}: set bucket to "
            "dr.logs_bucket.settings_of (the DR site's log bucket, dr.logs_bucket), or "
            "enabled: false")
    return problems


def _dr_logs_bucket_problems(c: PlatformConfig) -> list[str]:
    """The DR site's log bucket: the settings it copies fit a log bucket, its name is free.

    ALB access logs and S3 server access logs both need SSE-S3 in the
    target (ELB User Guide, "Enable access logs": "The only server-side
    encryption option that's supported is ... SSE-S3"; S3 User Guide,
    "Enabling Amazon S3 server access logging"), and the ALB's delivery
    needs the ``alb-log-delivery`` policy.  A replicated bucket's DR copy is
    already ``dr.s3.<key>``, so its settings cannot name this one too.
    """
    logs = c.dr.logs_bucket
    if logs is None:
        return []
    where = "dr.logs_bucket.settings_of"
    source = c.s3.buckets.get(logs.settings_of)
    if source is None:
        return [f"{where} {logs.settings_of!r} is not a key of s3.buckets"]
    problems = []
    if source.encryption != "AES256":
        problems.append(f"{where} {logs.settings_of!r}: ALB and S3 access logs need SSE-S3 "
                        f"(AES256) in their bucket, s3.buckets.{logs.settings_of} uses "
                        f"{source.encryption}")
    if source.policy != "alb-log-delivery":
        problems.append(f"{where} {logs.settings_of!r}: s3.buckets.{logs.settings_of}.policy "
                        "must be alb-log-delivery (the standby ALB writes here)")
    if source.replication is not None:
        problems.append(f"{where} {logs.settings_of!r}: a replicated bucket's DR copy is "
                        f"already dr.s3.{logs.settings_of}")
    name = logs.name + c.s3.name_suffix
    taken = [c.s3.bucket_name(k) for k in c.s3.buckets] + [
        n for k in c.s3.buckets if (n := c.s3.replica_bucket_name(k)) is not None]
    if name in taken:
        problems.append(f"dr.logs_bucket.name: bucket name {name!r} is used twice")
    return problems


def _dr_redis_problems(c: PlatformConfig) -> list[str]:
    """The standby Redis: declared when promised, in cache subnets and groups of the DR network.

    ``global_datastore`` is refused with its reason: AWS needs a node type
    of size large or above on both sides, and this version builds only the
    independent replication group.
    """
    dr = c.dr
    problems: list[str] = []
    if dr.enabled and dr.standby.redis and dr.redis is None:
        problems.append("dr.standby.redis: the standby Redis needs a dr.redis section "
                        "(replication group id, subnet group, security groups)")
    standby = dr.redis
    if standby is None:
        return problems
    if dr.network is None:
        return [*problems, "dr.redis: the standby Redis needs dr.network (cache subnets in "
                "dr.region)"]
    subnets = {s.name: s for s in dr.network.subnets}
    for where, name in _indexed("dr.redis.subnet_group.subnets", standby.subnet_group.subnets):
        member = subnets.get(name)
        if member is None:
            problems.append(f"{where} {name!r} is not a subnet of dr.network")
        elif member.tier != "cache":
            problems.append(f"{where} {name!r} is a {member.tier} subnet; ElastiCache needs "
                            "cache")
    if standby.multi_az:
        zones = {subnets[n].availability_zone for n in standby.subnet_group.subnets
                 if n in subnets}
        if len(zones) < 2:
            problems.append("dr.redis.subnet_group.subnets: Multi-AZ ElastiCache needs subnets "
                            f"in two availability zones, got {sorted(zones)}")
    names = [g.name for g in dr.security_groups]
    for where, name in _indexed("dr.redis.security_groups", standby.security_groups):
        if name not in names:
            problems.append(f"{where} {name!r} is not a group of dr.security_groups")
    problems += _open_port_problems(dr.security_groups, "dr.redis: redis.port", c.redis.port,
                                    standby.security_groups)
    if standby.mode == "global_datastore":
        node_type = standby.node_type or c.redis.node_type
        reasons = [r for r in {global_datastore_problem(c.redis.node_type),
                               global_datastore_problem(node_type)} if r]
        if node_type != c.redis.node_type:
            reasons.append(f"both sides need the same node type ({c.redis.node_type} and "
                           f"{node_type})")
        reasons.append("this version builds the independent replication group only")
        problems.append("dr.redis.mode global_datastore: " + "; ".join(sorted(reasons)))
    return problems


def _origin_verify_problems(c: PlatformConfig) -> list[str]:
    """The ALBs' origin check agrees with what CloudFront sends and what probes them.

    Each ALB with ``origin_verify`` serves only requests carrying its header
    with the value of its secret, so CloudFront's ALB origin must send that
    header from that same secret (otherwise every request is denied), the
    secret must exist, and the path the Route 53 health check probes on the
    primary ALB must be an open path: health checkers send no custom
    header, and a 403 would fail the primary over for good.  The standby
    (``dr.alb``) is compared with the same CloudFront origin: it serves
    CloudFront's requests once the origin points at it.
    """
    problems: list[str] = []
    secrets = c.secrets.names()
    senders = [(f"cloudfront.origins[{i}]", o) for i, o in enumerate(c.cloudfront.origins)
               if o.kind == "alb"]
    albs = [("alb", c.alb)] + ([("dr.alb", c.dr.alb)] if c.dr.alb is not None else [])
    for where, alb in albs:
        verify = alb.origin_verify
        if verify is None:
            continue
        problems += _key_problems(f"{where}.origin_verify.secret", verify.secret, secrets,
                                  "secrets")
        if not senders:
            problems.append(f"{where}.origin_verify: no cloudfront origin of kind alb sends "
                            f"{verify.header}, so every request would be denied")
        for origin_where, origin in senders:
            assert origin.kind == "alb"
            sent = [h for h in origin.custom_headers if h.name.lower() == verify.header.lower()]
            if not sent:
                problems.append(
                    f"{where}.origin_verify.header {verify.header}: {origin_where} does not "
                    "send it (custom_headers), so every request would be denied")
            elif sent[0].secret != verify.secret:
                problems.append(
                    f"{where}.origin_verify.secret {verify.secret!r}: {origin_where} sends "
                    f"{verify.header} from secret {sent[0].secret!r}, so every request "
                    "would be denied")
    verify = c.alb.origin_verify
    if verify is not None:
        for index, failover in enumerate(c.route53.failover_records):
            path = failover.health_check.resource_path.split("?", 1)[0]
            if path not in verify.open_paths:
                problems.append(
                    f"route53.failover_records[{index}].health_check.resource_path {path}: "
                    f"Route 53 health checkers cannot send {verify.header}, so the primary "
                    "ALB would answer them 403 and fail over for good; add it to "
                    "alb.origin_verify.open_paths")
    return problems


def _failover_path_problems(c: PlatformConfig) -> list[str]:
    """CloudFront's way to the failover pair, and the standby's own check (issue 11).

    An origin's ``failover_record`` must be a record this config writes
    (otherwise CloudFront's origin name would resolve to nothing). A
    SECONDARY health check probes the standby ALB, which, like the primary,
    answers 403 to anything without the origin header: its path must be one
    of ``dr.alb.origin_verify.open_paths``, or the check fails for good.
    """
    problems: list[str] = []
    names = [r.name for r in c.route53.failover_records]
    for index, origin in enumerate(c.cloudfront.origins):
        if origin.kind != "alb" or origin.failover_record is None:
            continue
        if origin.failover_record not in names:
            problems.append(
                f"cloudfront.origins[{index}].failover_record {origin.failover_record} is not "
                "a name of route53.failover_records, so the origin would not resolve")
    verify = c.dr.alb.origin_verify if c.dr.alb is not None else None
    for index, record in enumerate(c.route53.failover_records):
        check = record.secondary_health_check
        if check is None or verify is None:
            continue
        path = check.resource_path.split("?", 1)[0]
        if path not in verify.open_paths:
            problems.append(
                f"route53.failover_records[{index}].secondary_health_check.resource_path "
                f"{path}: Route 53 health checkers cannot send {verify.header}, so the standby "
                "ALB would answer them 403 and the SECONDARY would never be healthy; add it to "
                "dr.alb.origin_verify.open_paths")
    return problems


def _rotation_problems(c: PlatformConfig) -> list[str]:
    """``secrets.origin_verify.rotation``: its log group is the one Lambda writes to,
    and there is something to rotate (an origin sending the header, a rule checking it)."""
    rotation = c.secrets.origin_verify.rotation
    if rotation is None:
        return []
    where = "secrets.origin_verify.rotation"
    problems = _key_problems(f"{where}.log_group", rotation.log_group, c.logs.groups,
                             "logs.groups")
    group = c.logs.groups.get(rotation.log_group)
    expected = f"/aws/lambda/{rotation.function}"
    if group is not None and group.name != expected:
        problems.append(f"{where}.log_group: logs.groups.{rotation.log_group}.name must be "
                        f"{expected} (where Lambda writes the function's logs)")
    sends = any(h.secret == "origin_verify" for o in c.cloudfront.origins
                if not isinstance(o, S3OriginConfig) for h in o.custom_headers)
    verify = c.alb.origin_verify
    if not sends or verify is None or verify.secret != "origin_verify":
        problems.append(f"{where}: the rotation needs a cloudfront origin sending the "
                        "origin_verify secret and alb.origin_verify checking it")
    return problems


def _ops_problems(c: PlatformConfig) -> list[str]:
    problems: list[str] = (_dr_network_problems(c) + _dr_alb_problems(c)
                           + _dr_secret_problems(c) + _topic_key_problems(c)
                           + _dr_redis_problems(c) + _dr_logs_bucket_problems(c)
                           + _origin_verify_problems(c) + _failover_path_problems(c)
                           + _rotation_problems(c)
                           + standby_app_problems(c))
    dr = c.dr
    for index, alarm in enumerate(c.monitoring.alarms):
        if alarm.resource == REPLICA_RESOURCE and not c.rds.read_replicas:
            problems.append(f"monitoring.alarms[{index}] ({alarm.name}) watches every "
                            "rds_replica, and rds.read_replicas is empty")
        if alarm.resource == DR_REDIS_RESOURCE and not (
                dr.enabled and dr.standby.redis and dr.redis is not None):
            problems.append(f"monitoring.alarms[{index}] ({alarm.name}) watches the standby "
                            "Redis (dr_redis), which needs dr.enabled, dr.standby.redis and "
                            "dr.redis")
    if dr.region != c.aws.dr_region:
        problems.append(f"dr.region {dr.region} differs from aws.dr_region {c.aws.dr_region}")
    if dr.enabled and any(r.region == dr.region for r in c.rds.read_replicas) \
            and dr.database is None:
        problems.append("dr.database: a cross-region read replica needs dr.network and "
                        "dr.database (its subnet group in the DR region)")
    if dr.enabled:
        automated = dr.snapshot_retention.automated_days
        if c.rds.backup.retention_days < automated:
            problems.append(
                f"rds.backup.retention_days {c.rds.backup.retention_days} is below "
                f"dr.snapshot_retention.automated_days {automated}"
            )
        if not any(r.region == dr.region for r in c.rds.read_replicas):
            problems.append(f"dr.enabled: rds.read_replicas has no replica in {dr.region}")
        if c.redis.rdb_snapshot_interval_minutes > dr.rpo_hours * 60:
            problems.append(
                f"redis.rdb_snapshot_interval_minutes {c.redis.rdb_snapshot_interval_minutes} "
                f"exceeds dr.rpo_hours {dr.rpo_hours}"
            )
    return problems
