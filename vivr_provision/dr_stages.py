"""The actions of ``dr promote``'s stages (the runbook, as data, is :mod:`dr_runbook`).

Each action reads before it acts, so a stage run again after a kill does
nothing twice (see :mod:`vivr_provision.dr_execute`); each saves what the
way back needs (the revision it replaced, the count it scaled from, the
check's setting) with :meth:`StageContext.journal` *before* its mutating
call.  The waits are bounded by the stage's own allowance in the runbook
(``Duration.upper_seconds``), not by botocore's default waiter budgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vivr_provision.dr_execute import Action, Skipped, StageContext, StageRefused, parse_iso
from vivr_provision.dr_runbook import PROMOTION, Stage
from vivr_provision.errors import ProvisionError

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig

#: Poll intervals: RDS's own db_instance_available waiter polls every 30 s, ECS's
#: services_stable every 15 s (botocore waiters-2.json); Route 53 checkers report
#: every request interval (10 or 30 s), so 10 s sees a flip within one interval.
RDS_DELAY_S = 30
ECS_DELAY_S = 15
ROUTE53_DELAY_S = 10

#: Endpoint outputs that name the database, as ``ecs.task_definition.container.endpoints``
#: reads them (rds steps: address/port; the PgBouncer instance: private_ip/port).
DATABASE_SOURCES = ("rds", "pgbouncer")
HOST_OUTPUTS = ("address", "private_ip")


def _stage(name: str) -> Stage:
    return next(s for s in PROMOTION if s.name == name)


def budget(config: PlatformConfig, stage: str, delay: int) -> dict[str, int]:
    """A WaiterConfig that waits up to the stage's allowance, ``delay`` seconds apart."""
    upper = _stage(stage).expected(config).upper_seconds
    return {"Delay": delay, "MaxAttempts": max(1, upper // delay)}


def _replica(ctx: StageContext) -> tuple[str, str, dict[str, Any]]:
    """(step, region, outputs) of the cross-region replica; fails when there is none."""
    cross = [(step, region) for step, region, is_cross in ctx.found.replicas if is_cross]
    if not cross:
        raise ProvisionError("no cross-region replica in the graph (dr.rds.*): nothing to "
                             "promote")
    step, region = cross[0]
    outputs = ctx.step_outputs(step)
    if outputs is None:
        raise ProvisionError(f"{step} is not applied: nothing to promote (`vivr-provision "
                             f"apply --target {step}`)")
    return step, region, outputs


def _describe_db(rds: Any, identifier: str) -> dict[str, Any]:
    [db] = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    return dict(db)


# --------------------------------------------------------------------------- check-rpo

def check_rpo(ctx: StageContext) -> Mapping[str, Any]:
    """Read the replica's lag: the RPO this promotion achieves; refuse beyond dr.rpo_hours.

    A lag over the target, or one that cannot be read (no datapoint: the
    metric stops when replication does), is refused unless the operator
    passed ``--accept-rpo-loss``: losing more than the promised hour of
    writes is a business decision, not the tool's.
    """
    from vivr_provision.dr_promote import rpo_budget

    step, _, _ = _replica(ctx)
    rpo = rpo_budget(ctx.config, ctx.state, ctx.found, ctx.clients, ctx.clock())
    hours = ctx.config.dr.rpo_hours
    outputs: dict[str, Any] = {"replica": rpo.get("replica"), "step": step,
                               "lag_seconds": rpo.get("lag_seconds"),
                               "lag_at": rpo.get("lag_at"),
                               "last_replicated_at": rpo.get("last_replicated_at"),
                               "target_seconds": rpo["target_seconds"]}
    if not rpo["readable"] and not rpo.get("source") \
            and str(rpo.get("status", "")).startswith("available") \
            and "standalone" in str(rpo.get("why")):
        return {**outputs, "standalone": True,
                "summary": f"{rpo['replica']} is already standalone: replication has ended"}
    if rpo["readable"] and rpo["within_target"]:
        return {**outputs, "summary": f"RPO {rpo['lag_seconds']:g} s, within the {hours} h "
                                      "target"}
    problem = (f"the replica lags {rpo['lag_seconds']:g} s, over the {hours} h RPO"
               if rpo["readable"] else f"the RPO is not readable: {rpo['why']}")
    if not ctx.accept_rpo_loss:
        raise StageRefused(f"{problem}; nothing was changed: rerun with --accept-rpo-loss to "
                           "promote anyway (writes not yet replicated are lost)")
    ctx.say(f"check-rpo: {problem}; accepted (--accept-rpo-loss)")
    return {**outputs, "accepted_loss": True, "summary": f"accepted: {problem}"}


# --------------------------------------------------------------------------- promote-db

def promote_db(ctx: StageContext) -> Mapping[str, Any]:
    """PromoteReadReplica on the DR replica unless already standalone; wait; verify."""
    _, region, outputs = _replica(ctx)
    identifier = str(outputs.get("identifier") or outputs["id"])
    return promote_instance(ctx, "promote-db", identifier, region)


def promote_instance(ctx: StageContext, stage: str, identifier: str,
                     region: str) -> dict[str, Any]:
    """Promote ``identifier`` (unless already standalone or already promoting); wait; verify.

    The promoted instance becomes the only writable database, so it takes
    the primary's backup settings (``rds.backup``): PromoteReadReplica's
    BackupRetentionPeriod defaults to 1 day (RDS API reference), which
    would silently cut the spec's 30-day automated snapshots.  Shared by
    ``dr promote`` (promote-db) and ``dr failback`` (promote-primary).
    """
    rds = ctx.clients.client("rds", region)
    db = _describe_db(rds, identifier)
    source = db.get("ReadReplicaSourceDBInstanceIdentifier")
    promoted = False
    journalled = ctx.outputs_of(stage).get("source")
    if source and db.get("DBInstanceStatus") == "available":
        ctx.journal(identifier=identifier, region=region, source=source)
        backup = ctx.config.rds.backup
        rds.promote_read_replica(DBInstanceIdentifier=identifier,
                                 BackupRetentionPeriod=backup.retention_days,
                                 PreferredBackupWindow=backup.window)
        promoted = True
    elif source:
        ctx.say(f"{stage}: {identifier} is {db.get('DBInstanceStatus')}: waiting for it")
    rds.get_waiter("db_instance_available").wait(
        DBInstanceIdentifier=identifier,
        WaiterConfig=budget(ctx.config, "promote-db", RDS_DELAY_S))
    db = _describe_db(rds, identifier)
    if db.get("ReadReplicaSourceDBInstanceIdentifier"):
        raise ProvisionError(f"{identifier} is available but still a replica of "
                             f"{db['ReadReplicaSourceDBInstanceIdentifier']}")
    endpoint = db.get("Endpoint") or {}
    return {"identifier": identifier, "region": region, "arn": db.get("DBInstanceArn"),
            "address": endpoint.get("Address"), "port": endpoint.get("Port"),
            "promoted_now": promoted, "source": source or journalled,
            "summary": f"{identifier} is standalone and writable" + (
                "" if promoted else " (promoted by the interrupted run)" if journalled
                else " (it already was)")}


# --------------------------------------------------------------------------- point-app

def standby_service(ctx: StageContext) -> tuple[dict[str, Any], Any]:
    """The standby service's outputs and its ECS client; Skipped when there is none."""
    step = ctx.found.standby_ecs
    if step is None:
        from vivr_provision.dr_promote import needs

        expected = needs(ctx.config, ctx.found)["standby_ecs"].expected
        raise Skipped(f"no standby ECS service in the graph ({expected}): pilot light "
                      "without ECS")
    outputs = ctx.step_outputs(step)
    if outputs is None:
        raise Skipped(f"{step} is not applied")
    return outputs, ctx.clients.client("ecs", ctx.config.dr.region)


def service_of(ecs: Any, outputs: Mapping[str, Any]) -> dict[str, Any]:
    services = ecs.describe_services(cluster=outputs["cluster_name"],
                                     services=[outputs["service_name"]])["services"]
    if not services:
        raise ProvisionError(f"the standby service {outputs['service_name']} is not found in "
                             f"cluster {outputs['cluster_name']}")
    return dict(services[0])


def database_variables(config: PlatformConfig) -> dict[str, str]:
    """The standby container's variables that name the database: env -> ``host`` | ``port``.

    The standby's own ``dr.standby.app.endpoints`` when it has them (they name
    the DR replica, whose address becomes the writable one), else the
    primary's, which the standby's task definition copies.
    """
    found = {}
    app = config.dr.standby.app
    endpoints = app.endpoints if app is not None and app.endpoints else \
        config.ecs.task_definition.container.endpoints
    for env, entry in endpoints.items():
        if entry.source in DATABASE_SOURCES:
            if entry.output in HOST_OUTPUTS:
                found[env] = "host"
            elif entry.output == "port":
                found[env] = "port"
    return found


def repointed(definition: Mapping[str, Any], values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The definition's containers with each database variable set to ``values``."""
    containers = []
    for container in definition["containerDefinitions"]:
        environment = [dict(e) for e in container.get("environment") or []]
        present = {e["name"] for e in environment}
        for item in environment:
            if item["name"] in values:
                item["value"] = values[item["name"]]
        environment += [{"name": n, "value": v} for n, v in values.items()
                        if n not in present and container.get("essential", True)]
        containers.append({**container, "environment": environment})
    return containers


def _register_request(ecs: Any, definition: Mapping[str, Any], tags: list[Any],
                      containers: list[dict[str, Any]]) -> dict[str, Any]:
    """RegisterTaskDefinition's parameters from a description: only the members the
    operation takes (botocore's model), so read-only fields (revision, status,
    registeredAt ...) are dropped however ECS extends the description."""
    members = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    request = {k: v for k, v in definition.items() if k in members}
    request["containerDefinitions"] = containers
    if tags:
        request["tags"] = tags
    return request


def point_app(ctx: StageContext) -> Mapping[str, Any]:
    """Register a revision of the standby's task definition whose database variables name
    the promoted instance, and roll the service onto it (the old revision journalled)."""
    outputs, ecs = standby_service(ctx)
    db = ctx.outputs_of("promote-db")
    wanted = {"host": str(db["address"]), "port": str(db["port"])}
    values = {env: wanted[kind] for env, kind in database_variables(ctx.config).items()}
    service = service_of(ecs, outputs)
    current = str(service["taskDefinition"])
    described = ecs.describe_task_definition(taskDefinition=current, include=["TAGS"])
    definition = described["taskDefinition"]
    containers = repointed(definition, values)
    if containers == list(definition["containerDefinitions"]):
        return {"task_definition": current, "summary": f"{current.rsplit('/', 1)[-1]} "
                                                       "already names the promoted database"}
    registered = ctx.outputs_of("point-app").get("registered")
    if not registered:
        ctx.journal(previous_task_definition=current)
        reply = ecs.register_task_definition(**_register_request(
            ecs, definition, described.get("tags") or [], containers))
        registered = str(reply["taskDefinition"]["taskDefinitionArn"])
        ctx.journal(registered=registered)
    ecs.update_service(cluster=outputs["cluster_name"], service=outputs["service_name"],
                       taskDefinition=registered)
    return {"task_definition": registered, "variables": sorted(values),
            "summary": f"{outputs['service_name']} runs {registered.rsplit('/', 1)[-1]}"}


# --------------------------------------------------------------------------- scale-standby

def _healthy(elbv2: Any, target_group_arn: str) -> int:
    targets = elbv2.describe_target_health(
        TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return sum(1 for t in targets if (t.get("TargetHealth") or {}).get("State") == "healthy")


def scale_standby(ctx: StageContext) -> Mapping[str, Any]:
    """Scale the standby to the primary's ``ecs.service.desired_count``; wait for the
    deployment to settle and for that many healthy targets in the standby group."""
    outputs, ecs = standby_service(ctx)
    desired = ctx.config.ecs.service.desired_count
    service = service_of(ecs, outputs)
    if service.get("desiredCount") != desired:
        ctx.journal(previous_desired_count=service.get("desiredCount"))
        ecs.update_service(cluster=outputs["cluster_name"], service=outputs["service_name"],
                           desiredCount=desired)
    config = budget(ctx.config, "scale-standby", ECS_DELAY_S)
    ecs.get_waiter("services_stable").wait(cluster=outputs["cluster_name"],
                                           services=[outputs["service_name"]],
                                           WaiterConfig=config)
    group = ctx.step_outputs(ctx.found.standby_target_group)
    if group is None:
        raise ProvisionError("the standby target group is not applied: healthy targets "
                             "cannot be counted")
    elbv2 = ctx.clients.client("elbv2", ctx.config.dr.region)
    healthy = _healthy(elbv2, str(group["target_group_arn"]))
    for _ in range(config["MaxAttempts"]):
        if healthy >= desired:
            break
        ctx.sleep(ECS_DELAY_S)
        healthy = _healthy(elbv2, str(group["target_group_arn"]))
    if healthy < desired:
        raise ProvisionError(f"{healthy} of {desired} standby targets healthy after "
                             f"{config['Delay'] * config['MaxAttempts']} s")
    return {"desired_count": desired, "healthy": healthy,
            "summary": f"{desired} tasks, {healthy} healthy targets"}


# --------------------------------------------------------------------------- move-traffic

def _failover(ctx: StageContext) -> list[dict[str, Any]]:
    records = [o for o in (ctx.step_outputs(s) for s in ctx.found.failover) if o]
    if not records:
        raise ProvisionError("no failover record is applied (dns-failover.*): traffic "
                             "cannot be moved")
    return records


def _host(name: Any) -> str:
    return str(name or "").lower().rstrip(".")


def move_traffic(ctx: StageContext) -> Mapping[str, Any]:
    """Invert the PRIMARY's health check, then wait until Route 53 judges it unhealthy
    and answers each failover name with the standby ALB (TestDNSAnswer).

    Inverting rather than deleting the PRIMARY keeps the failover pair intact,
    so failback is one UpdateHealthCheck; the check's version is sent
    (HealthCheckVersion) so a concurrent edit is refused, not overwritten.
    """
    return steer(ctx, "move-traffic", inverted=True)


def steer(ctx: StageContext, stage: str, *, inverted: bool) -> dict[str, Any]:
    """Set the PRIMARY check's ``Inverted`` (journalled first) and wait for DNS to follow:
    inverted, the check is unhealthy and the names answer the SECONDARY's target;
    not inverted, healthy and the PRIMARY's (``dr failback``'s move-traffic-back)."""
    from vivr_provision.dr_status import check_health

    records = _failover(ctx)
    route53 = ctx.clients.client("route53")
    check_id = str(records[0]["health_check_id"])
    check = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
    settings = check.get("HealthCheckConfig") or {}
    if bool(settings.get("Inverted")) != inverted:
        ctx.journal(health_check_id=check_id, previous_inverted=not inverted)
        route53.update_health_check(HealthCheckId=check_id,
                                    HealthCheckVersion=check["HealthCheckVersion"],
                                    Inverted=inverted)
        settings = {**settings, "Inverted": inverted}
    want_health, target = (("unhealthy", "secondary_target") if inverted
                           else ("healthy", "primary_target"))
    config = budget(ctx.config, "move-traffic", ROUTE53_DELAY_S)
    answers: dict[str, str] = {}
    for attempt in range(config["MaxAttempts"]):
        observations = route53.get_health_check_status(
            HealthCheckId=check_id).get("HealthCheckObservations") or []
        if check_health(settings, observations) == want_health:
            answers = {_host(r["name"]): _answer(route53, r) for r in records}
            if all(answers[_host(r["name"])] == _host(r[target]) for r in records):
                break
        if attempt + 1 < config["MaxAttempts"]:
            ctx.sleep(ROUTE53_DELAY_S)
    else:
        raise ProvisionError(f"after {config['Delay'] * config['MaxAttempts']} s Route 53 "
                             f"answers {answers or 'as before'}: the check {check_id} is "
                             f"{'inverted' if inverted else 'not inverted'}, traffic has "
                             "not moved")
    return {"health_check_id": check_id, "inverted": inverted, "answers": answers,
            "summary": ", ".join(f"{name} -> {value}" for name, value in answers.items())}


def _answer(route53: Any, record: Mapping[str, Any]) -> str:
    """What Route 53 answers for a failover name (the config allows CNAME pairs only)."""
    reply = route53.test_dns_answer(HostedZoneId=str(record["zone_id"]).rsplit("/", 1)[-1],
                                    RecordName=str(record["name"]), RecordType="CNAME")
    data = reply.get("RecordData") or []
    return _host(data[0]) if data else ""


# --------------------------------------------------------------------------- record-rto

def record_rto(ctx: StageContext) -> Mapping[str, Any]:
    """The elapsed time since the promotion started, against dr.rto_hours."""
    elapsed = int((ctx.clock() - parse_iso(ctx.run.started_at)).total_seconds())
    rto = ctx.run.rto_seconds
    verdict = "within" if elapsed <= rto else "OVER"
    return {"elapsed_seconds": elapsed, "rto_seconds": rto, "within_rto": elapsed <= rto,
            "summary": f"{elapsed} s elapsed, {verdict} the {rto // 3600} h RTO"}


ACTIONS: dict[str, Action] = {
    "check-rpo": check_rpo, "promote-db": promote_db, "point-app": point_app,
    "scale-standby": scale_standby, "move-traffic": move_traffic, "record-rto": record_rto,
}

__all__ = [
    "ACTIONS",
    "budget",
    "database_variables",
    "promote_instance",
    "repointed",
    "service_of",
    "standby_service",
    "steer",
]
