"""Cross-field checks of the standby application tier (``dr.standby.app``).

Kept apart from :mod:`vivr_provision.config.model` (which calls
:func:`standby_app_problems`) because they concern one block: where the
standby's tasks run in the DR network, what they reach, and what they read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vivr_provision.config.app import rds_export_group_name

if TYPE_CHECKING:
    from vivr_provision.config.model import PlatformConfig
    from vivr_provision.config.ops import StandbyAlarmConfig

#: Endpoint sources the standby can read in its own region: the DR replica
#: (``rds`` with a replica identifier of dr.region), the standby Redis
#: (``dr.cache``) and the buckets (global names, served from aws.region).
#: No PgBouncer: the DR site has none, the tasks connect to the replica.
STANDBY_SOURCES = ("rds", "redis", "s3")


def standby_app_problems(c: PlatformConfig) -> list[str]:
    """What would leave the standby tier unable to start or unreachable."""
    dr = c.dr
    app = dr.standby.app
    problems: list[str] = []
    if dr.enabled and dr.standby.ecs and app is None:
        problems.append("dr.standby.ecs: the standby ECS tier needs a dr.standby.app section "
                        "(names, desired_count, subnets, groups, log group, endpoints)")
    if app is None or not (dr.enabled and dr.standby.ecs):
        return problems
    if dr.alb is None or not dr.standby.alb:
        problems.append("dr.standby.app: the standby service registers with the standby ALB's "
                        "target group; it needs dr.standby.alb and a dr.alb section")
    if dr.network is None:
        return [*problems, "dr.standby.app: the standby tasks need dr.network"]
    subnets = {s.name: s for s in dr.network.subnets}
    egress = {name for t in dr.network.route_tables if t.default_route != "none"
              for name in t.subnets}
    for index, name in enumerate(app.subnets):
        where = f"dr.standby.app.subnets[{index}] {name!r}"
        subnet = subnets.get(name)
        if subnet is None:
            problems.append(f"{where} is not a subnet of dr.network")
        elif subnet.tier != "private" and not app.assign_public_ip:
            problems.append(f"{where} is a {subnet.tier} subnet; the tasks run in private ones")
        elif name not in egress:
            # Fargate pulls the image and reads the secrets over HTTPS at
            # start: a subnet with no default route starts no task.
            problems.append(f"{where} has no default route (NAT gateway): Fargate could not "
                            "pull the image or read the secrets")
    groups = [g.name for g in dr.security_groups]
    for index, name in enumerate(app.security_groups):
        if name not in groups:
            problems.append(f"dr.standby.app.security_groups[{index}] {name!r} is not a group "
                            "of dr.security_groups")
    dr_replicas = {r.identifier for r in c.rds.read_replicas if r.region == dr.region}
    for env, entry in app.endpoints.items():
        where = f"dr.standby.app.endpoints.{env}"
        if entry.source not in STANDBY_SOURCES:
            problems.append(f"{where}: source {entry.source} has no standby in {dr.region} "
                            f"(one of {', '.join(STANDBY_SOURCES)})")
        elif entry.source == "rds" and entry.key not in dr_replicas:
            problems.append(f"{where}: key {entry.key!r} is not a read replica in {dr.region} "
                            f"({', '.join(sorted(dr_replicas)) or 'none'})")
        elif entry.source == "s3" and entry.key not in c.s3.buckets:
            problems.append(f"{where}: key {entry.key!r} is not a bucket key of s3.buckets")
    container = c.ecs.task_definition.container
    secret_envs = {s.env for s in container.secrets}
    for env in sorted((set(app.endpoints) | set(app.environment)) & secret_envs):
        problems.append(f"dr.standby.app: {env} is a container secret; it cannot also be an "
                        "endpoint or an environment variable")
    for env in sorted(set(app.endpoints) & set(app.environment)):
        problems.append(f"dr.standby.app: {env} is set by both environment and endpoints")
    topics = c.monitoring.actions
    for index, alarm in enumerate(app.alarms):
        if alarm.action == "scale_out" or alarm.action not in topics:
            problems.append(f"dr.standby.app.alarms[{index}].action {alarm.action}: a standby "
                            "alarm notifies topics (an action of monitoring.actions), it does "
                            "not scale")
    return problems




def standby_ecs_built(c: PlatformConfig) -> bool:
    """Whether the graph holds the standby ECS tier (``dr.ecs-*``): DR on, the
    switch on, its settings given, and the standby ALB it registers with."""
    dr = c.dr
    return (dr.enabled and dr.standby.ecs and dr.standby.app is not None
            and dr.standby.alb and dr.alb is not None)


def standby_log_group_names(c: PlatformConfig) -> list[str]:
    """The DR region's log groups encrypted with the DR key (the replica key's policy
    must admit CloudWatch Logs for exactly these)."""
    if not c.kms.multi_region:
        return []
    names = []
    app = c.dr.standby.app
    if app is not None and standby_ecs_built(c):
        names.append(app.log_group.name)
    names += dr_flow_log_group_names(c)
    names += dr_rds_log_group_names(c)
    return names


def dr_rds_log_group_names(c: PlatformConfig) -> list[str]:
    """The groups RDS exports the DR replica's logs into (issue 12: encrypted with the
    DR key, as the primary's are with the platform key), in ``dr.region``."""
    if not c.dr.enabled:
        return []
    return [rds_export_group_name(replica.identifier, log_type)
            for replica in c.rds.read_replicas if replica.region == c.dr.region
            for log_type in sorted(c.rds.log_exports)]


def dr_flow_log_group_names(c: PlatformConfig) -> list[str]:
    """The DR VPC's flow-log group (``dr.network.flow_logs.dr_group_name``), if built."""
    flow = c.dr.network.flow_logs if c.dr.enabled and c.dr.network is not None else None
    return [flow.dr_group_name] if flow is not None and flow.dr_group_name else []


def standby_alarms(c: PlatformConfig) -> list[StandbyAlarmConfig]:
    """The standby alarms that are built: none without the tier, and a row that
    ``needs_tasks`` only while ``desired_count`` is above 0 (a pilot light has
    no targets, so "no healthy host" would alarm for good)."""
    app = c.dr.standby.app
    if app is None or not standby_ecs_built(c):
        return []
    return [alarm for alarm in app.alarms if app.desired_count > 0 or not alarm.needs_tasks]


__all__ = ["STANDBY_SOURCES", "dr_rds_log_group_names", "standby_alarms",
           "standby_app_problems", "standby_ecs_built", "standby_log_group_names"]
