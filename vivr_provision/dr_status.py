"""``dr status``: which region serves, how far the replicas are behind, what the standby holds.

Why it is built this way:

* **Read only, always.**  An operator runs it in the middle of an incident,
  possibly while a ``dr promote`` holds the state lock: it takes no lock,
  saves no state and calls only ``Describe``/``Get``/``List`` APIs (the e2e
  test counts the sandbox's mutating calls: zero).
* **State says where, AWS says how.**  The ids come from what apply
  recorded (each step's ``outputs``), so the report looks at the resources
  this tool built and not at look-alikes; their state is read live, in
  the region of each step.
* **A read that fails is a value, not a crash.**  During a regional
  outage the primary's APIs may not answer; the report still says what
  the DR side knows, and names the read that failed
  (``unreadable: <code>: <message>``).
* **Route 53's rules, applied to what was read.**  Which record answers is
  not something Route 53 reports; it follows from the records and their
  health checks (:func:`serving_side`), computed here the way Route 53
  decides it.

The document built here is what ``--output json`` prints; the text form
(:mod:`vivr_provision.dr_status_text`) only lays it out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from vivr_provision import aws_errors
from vivr_provision.aws import error_text

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig
    from vivr_provision.state import DrRun, State
    from vivr_provision.steps.base import Step

#: How far back a ReplicaLag datapoint counts: RDS publishes it every minute.
LAG_WINDOW = timedelta(minutes=5)
LAG_PERIOD_SECONDS = 60
#: Route 53 calls an endpoint healthy when more than this share of its checkers do.
HEALTHY_SHARE = 0.18
NO_DATAPOINT = "no datapoint"


class Clients(Protocol):
    """What the report needs of :class:`vivr_provision.aws.ClientFactory`."""

    def client(self, service: str, region: str | None = None) -> Any: ...


def unreadable(exc: BaseException) -> str:
    return f"unreadable: {error_text(exc)}"


def _read(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``call()``, or ``{"error": "unreadable: ..."}`` when AWS refused or could not answer."""
    try:
        return call()
    except (aws_errors.ClientError, aws_errors.BotoCoreError) as exc:
        return {"error": unreadable(exc)}


# --------------------------------------------------------------------------- Route 53

def successes(observations: Sequence[Mapping[str, Any]]) -> int:
    """How many of Route 53's checkers last saw the endpoint answer as required."""
    return sum(1 for o in observations
               if str((o.get("StatusReport") or {}).get("Status", "")).startswith("Success"))


def check_health(config: Mapping[str, Any], observations: Sequence[Mapping[str, Any]]
                 ) -> str:
    """``healthy``, ``unhealthy`` or ``unknown`` as Route 53 judges a check.

    More than 18 % of the checkers reporting success is healthy; a disabled
    check counts as healthy whatever it observed, and an inverted one
    reports the opposite (how ``dr promote`` can take traffic away from a
    primary that still answers).
    """
    if config.get("Disabled"):
        healthy: bool | None = True
    elif not observations:
        healthy = None
    else:
        healthy = successes(observations) / len(observations) > HEALTHY_SHARE
    if healthy is None:
        return "unknown"
    if config.get("Inverted"):
        healthy = not healthy
    return "healthy" if healthy else "unhealthy"


def serving_side(records: Mapping[str, Mapping[str, Any] | None]) -> tuple[str, str]:
    """(``primary`` | ``secondary`` | ``unknown`` | ``none``, why) for a failover pair.

    Route 53 answers the PRIMARY while it is healthy (a record without a
    check is always healthy), else a healthy SECONDARY; when both are
    unhealthy it answers the PRIMARY.
    """
    primary, secondary = records.get("primary"), records.get("secondary")
    if primary is None and secondary is None:
        return "none", "neither record exists: the name does not resolve"
    if primary is None:
        return "secondary", "only the SECONDARY record exists"
    health = primary.get("health", "healthy")
    if health == "healthy":
        why = ("the PRIMARY's health check is healthy" if primary.get("health_check_id")
               else "the PRIMARY has no health check (always healthy)")
        return "primary", why
    if health == "unknown":
        return "unknown", "the PRIMARY's health check state is unknown"
    if secondary is None:
        return "primary", "the PRIMARY is unhealthy and there is no SECONDARY"
    if secondary.get("health", "healthy") == "healthy":
        return "secondary", "the PRIMARY's health check is unhealthy"
    if secondary.get("health") == "unhealthy":
        return "primary", "both are unhealthy: Route 53 answers the PRIMARY"
    return "unknown", "the PRIMARY is unhealthy and the SECONDARY's state is unknown"


def _health_check(route53: Any, check_id: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        check = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
        settings = check.get("HealthCheckConfig") or {}
        observations = route53.get_health_check_status(
            HealthCheckId=check_id).get("HealthCheckObservations") or []
        return {"id": check_id, "state": check_health(settings, observations),
                "checkers": len(observations), "healthy_checkers": successes(observations),
                "inverted": bool(settings.get("Inverted")),
                "disabled": bool(settings.get("Disabled")),
                "target": settings.get("FullyQualifiedDomainName"),
                "path": settings.get("ResourcePath")}

    found = _read(read)
    return found if "error" not in found else {"id": check_id, "state": "unknown", **found}


def _record_view(record: Mapping[str, Any], route53: Any) -> dict[str, Any]:
    values = [str(v.get("Value")) for v in record.get("ResourceRecords") or []]
    alias = record.get("AliasTarget") or {}
    check_id = record.get("HealthCheckId")
    view: dict[str, Any] = {"target": values[0] if values else alias.get("DNSName"),
                            "ttl": record.get("TTL"), "health_check_id": check_id}
    if check_id:
        view["health_check"] = _health_check(route53, str(check_id))
        view["health"] = view["health_check"]["state"]
    else:
        view["health"] = "healthy"
    return view


def failover_section(outputs: Mapping[str, Any], route53: Any) -> dict[str, Any]:
    """The failover pair's live records, their checks and which one Route 53 answers."""
    name = str(outputs["name"])
    section: dict[str, Any] = {"name": name, "zone_id": outputs.get("zone_id")}

    def read() -> dict[str, Any]:
        fqdn = name.rstrip(".") + "."
        reply = route53.list_resource_record_sets(
            HostedZoneId=outputs["zone_id"], StartRecordName=fqdn, MaxItems="10")
        return {"sets": [r for r in reply.get("ResourceRecordSets", [])
                         if str(r.get("Name", "")).lower() == fqdn.lower() and r.get("Failover")]}

    found = _read(read)
    if "error" in found:
        return {**section, "side": "unknown", "why": found["error"], "error": found["error"]}
    records: dict[str, dict[str, Any] | None] = {"primary": None, "secondary": None}
    for record in found["sets"]:
        records[str(record["Failover"]).lower()] = {
            "type": record.get("Type"), **_record_view(record, route53)}
    side, why = serving_side(records)
    return {**section, "side": side, "why": why, **records}


# --------------------------------------------------------------------------- RDS

def _latest_lag(cloudwatch: Any, identifier: str, now: datetime) -> dict[str, Any]:
    """The newest ReplicaLag datapoint of the last :data:`LAG_WINDOW`, or none."""
    def read() -> dict[str, Any]:
        reply = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
            StartTime=now - LAG_WINDOW, EndTime=now, Period=LAG_PERIOD_SECONDS,
            Statistics=["Maximum"])
        points = sorted(reply.get("Datapoints") or [], key=lambda p: p["Timestamp"])
        if not points:
            return {"lag_seconds": None, "lag_at": None}
        newest = points[-1]
        return {"lag_seconds": float(newest["Maximum"]), "lag_at": _iso(newest["Timestamp"])}

    return _read(read)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rpo_view(lag_seconds: float | None, lag_at: str | None, rpo_hours: int) -> dict[str, Any]:
    """What a promotion now would lose: the lag, as of its datapoint, against the target."""
    target = rpo_hours * 3600
    if lag_seconds is None or lag_at is None:
        return {"seconds": None, "last_replicated_at": None, "target_seconds": target,
                "within_target": None}
    at = datetime.strptime(lag_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return {"seconds": lag_seconds,
            "last_replicated_at": _iso(at - timedelta(seconds=lag_seconds)),
            "target_seconds": target, "within_target": lag_seconds <= target}


def replica_section(step: str, outputs: Mapping[str, Any], region: str, clients: Clients,
                    now: datetime) -> dict[str, Any]:
    """One read replica: its status, its source and its newest lag."""
    identifier = str(outputs.get("identifier") or outputs.get("id"))
    section: dict[str, Any] = {"step": step, "identifier": identifier, "region": region}

    def read() -> dict[str, Any]:
        [db] = clients.client("rds", region).describe_db_instances(
            DBInstanceIdentifier=identifier)["DBInstances"]
        return {"status": db.get("DBInstanceStatus"),
                "source": db.get("ReadReplicaSourceDBInstanceIdentifier"),
                "endpoint": (db.get("Endpoint") or {}).get("Address")}

    described = _read(read)
    if "error" in described:
        return {**section, "status": described["error"], "source": None, "lag_seconds": None,
                "lag_at": None}
    lag = _latest_lag(clients.client("cloudwatch", region), identifier, now)
    if "error" in lag:
        lag = {"lag_seconds": None, "lag_at": None, "lag_error": lag["error"]}
    return {**section, **described, **lag}


# --------------------------------------------------------------------------- standby

def alb_section(outputs: Mapping[str, Any], region: str, clients: Clients) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        [lb] = clients.client("elbv2", region).describe_load_balancers(
            LoadBalancerArns=[outputs["load_balancer_arn"]])["LoadBalancers"]
        return {"state": (lb.get("State") or {}).get("Code"), "dns_name": lb.get("DNSName")}

    return {"name": outputs.get("name"), **_read(read)}


def target_group_section(outputs: Mapping[str, Any], region: str,
                         clients: Clients) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        targets = clients.client("elbv2", region).describe_target_health(
            TargetGroupArn=outputs["target_group_arn"])["TargetHealthDescriptions"]
        states = [str((t.get("TargetHealth") or {}).get("State")) for t in targets]
        return {"healthy": states.count("healthy"), "registered": len(states)}

    return {"name": outputs.get("name"), **_read(read)}


def ecs_section(outputs: Mapping[str, Any], region: str, clients: Clients) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        services = clients.client("ecs", region).describe_services(
            cluster=outputs["cluster_name"], services=[outputs["service_name"]])["services"]
        if not services:
            return {"state": "missing"}
        service = services[0]
        return {"state": str(service.get("status", "")).lower(),
                "desired": service.get("desiredCount"), "running": service.get("runningCount"),
                "pending": service.get("pendingCount")}

    return {"name": outputs.get("service_name"), "cluster": outputs.get("cluster_name"),
            **_read(read)}


def cache_section(outputs: Mapping[str, Any], region: str, clients: Clients) -> dict[str, Any]:
    """The standby Redis: its status, size and endpoint (cold: empty until a failover)."""
    def read() -> dict[str, Any]:
        groups = clients.client("elasticache", region).describe_replication_groups(
            ReplicationGroupId=outputs["replication_group_id"])["ReplicationGroups"]
        group = groups[0]
        shards = group.get("NodeGroups") or [{}]
        endpoint = (shards[0].get("PrimaryEndpoint") or {}).get("Address")
        return {"state": group.get("Status"), "node_type": group.get("CacheNodeType"),
                "nodes": len(group.get("MemberClusters") or []), "endpoint": endpoint}

    return {"name": outputs.get("replication_group_id"), **_read(read)}


# --------------------------------------------------------------------------- CloudFront

def origin_path(domain: str | None, failover_names: Sequence[str],
                primary_alb: str | None, standby_alb: str | None) -> tuple[str, str]:
    """(``failover`` | ``primary-alb`` | ``standby-alb`` | ``other``, why) for the app origin.

    Only an origin on the failover name follows Route 53 to the standby;
    one on an ALB's own DNS name stays there whatever the health checks say.
    """
    def same(a: str | None, b: str | None) -> bool:
        return bool(a and b and a.lower().rstrip(".") == b.lower().rstrip("."))

    if any(same(domain, name) for name in failover_names):
        return "failover", "follows the side Route 53 answers"
    if same(domain, primary_alb):
        return "primary-alb", "the ALB itself: a failover does not move it"
    if same(domain, standby_alb):
        return "standby-alb", "the ALB itself, in the DR region"
    return "other", "not the failover name nor an ALB of this stack"


def edge_section(outputs: Mapping[str, Any], origin_id: str, failover_names: Sequence[str],
                 albs: tuple[str | None, str | None], cloudfront: Any) -> dict[str, Any]:
    """Where CloudFront's application origin points, read live (``GetDistribution``)."""
    section: dict[str, Any] = {"distribution_id": outputs.get("distribution_id"),
                               "origin_id": origin_id}

    def read() -> dict[str, Any]:
        reply = cloudfront.get_distribution(Id=outputs["distribution_id"])
        config = reply["Distribution"].get("DistributionConfig") or {}
        items = (config.get("Origins") or {}).get("Items") or []
        found = [o for o in items if o.get("Id") == origin_id]
        return {"origin_domain": found[0].get("DomainName") if found else None}

    found = _read(read)
    if "error" in found:
        return {**section, "through": "unknown", "why": found["error"], **found}
    if found["origin_domain"] is None:
        return {**section, **found, "through": "none",
                "why": f"the distribution has no origin {origin_id}"}
    through, why = origin_path(found["origin_domain"], failover_names, *albs)
    return {**section, **found, "through": through, "why": why}


# --------------------------------------------------------------------------- assembly

@dataclass(frozen=True)
class DrSteps:
    """The steps the report reads, found in the graph by their classes and sites."""

    failover: tuple[str, ...]
    replicas: tuple[tuple[str, str, bool], ...]  # (step, region, cross-region)
    standby_alb: str | None
    standby_target_group: str | None
    standby_ecs: str | None
    #: The distribution (``cloudfront``), its application origin's id and the
    #: failover names an origin may be on; not part of :meth:`names`: a
    #: distribution alone is no DR side.
    cloudfront: str | None = None
    app_origin: str | None = None
    failover_names: tuple[str, ...] = ()
    #: The standby Redis (``dr.cache``).
    standby_cache: str | None = None

    @classmethod
    def of(cls, config: PlatformConfig, steps: Mapping[str, Step]) -> DrSteps:
        from vivr_provision.steps.alb.common import TG_STEP
        from vivr_provision.steps.cloudfront.common import DISTRIBUTION_STEP
        from vivr_provision.steps.dr import dr_site, standby_alb_step
        from vivr_provision.steps.ecs.common import SERVICE_STEP
        from vivr_provision.steps.rds import DbReplicaStep
        from vivr_provision.steps.records.failover import FailoverRecordStep

        site = dr_site(config)

        def present(name: str) -> str | None:
            return name if name in steps else None

        return cls(
            failover=tuple(n for n, s in steps.items() if isinstance(s, FailoverRecordStep)),
            replicas=tuple((n, s.region, s.cross_region) for n, s in steps.items()
                           if isinstance(s, DbReplicaStep)),
            standby_alb=present(standby_alb_step(config)),
            standby_target_group=present(site.step(TG_STEP)),
            standby_ecs=present(site.step(SERVICE_STEP)),
            cloudfront=present(DISTRIBUTION_STEP),
            app_origin=next((o.id for o in config.cloudfront.origins if o.kind == "alb"), None),
            failover_names=tuple(r.name for r in config.route53.failover_records),
            standby_cache=present(site.step("cache")))

    def names(self) -> list[str]:
        return [*self.failover, *(r[0] for r in self.replicas),
                *(n for n in (self.standby_alb, self.standby_target_group, self.standby_ecs,
                              self.standby_cache) if n)]


def _outputs(state: State, step: str) -> dict[str, Any] | None:
    record = state.steps.get(step)
    return dict(record.outputs) if record is not None and record.outputs else None


NOT_BUILT = "not built"
NOT_APPLIED = "not applied"


def _standby_part(state: State, step: str | None,
                  read: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A standby resource: ``not built`` (no step in the graph), ``not applied``, or read."""
    if step is None:
        return {"state": NOT_BUILT}
    outputs = _outputs(state, step)
    if outputs is None:
        return {"step": step, "state": NOT_APPLIED}
    return {"step": step, **read(outputs)}


def applied(state: State, found: DrSteps) -> list[str]:
    """The steps of ``found`` that state records as applied (with outputs)."""
    return [name for name in found.names() if _outputs(state, name) is not None]


def _edge(state: State, found: DrSteps, clients: Clients) -> dict[str, Any]:
    """CloudFront's application origin: ``not built`` / ``not applied`` / read live."""
    if found.cloudfront is None or found.app_origin is None:
        return {"state": NOT_BUILT}
    outputs = _outputs(state, found.cloudfront)
    if outputs is None:
        return {"step": found.cloudfront, "state": NOT_APPLIED}
    albs = ((_outputs(state, "alb") or {}).get("dns_name"),
            (_outputs(state, found.standby_alb) or {}).get("dns_name")
            if found.standby_alb else None)
    return {"step": found.cloudfront,
            **edge_section(outputs, found.app_origin, found.failover_names, albs,
                           clients.client("cloudfront"))}


def _journal_view(run: DrRun, runbook: Sequence[Any], now: datetime) -> dict[str, Any]:
    """One DR run as ``dr status`` shows it: its stages in runbook order and where it is."""
    # The state file's keys are sorted: the runbook gives the order.
    order = [s.name for s in runbook if s.name in run.stages]
    order += [name for name in run.stages if name not in order]
    stages = [{"name": name, "status": r.status, "started_at": r.started_at,
               "finished_at": r.finished_at, "error": r.error}
              for name in order for r in (run.stages[name],)]
    current = next((s for s in stages if s["status"] not in ("done", "skipped")), None)
    started = datetime.strptime(run.started_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    label = {"running": "in progress", "failed": "failed", "done": "done"}[run.status]
    return {"id": run.id, "state": label, "started_at": run.started_at,
            "finished_at": run.finished_at, "stage": current["name"] if current else None,
            "error": current["error"] if current else None,
            "elapsed_seconds": int((now - started).total_seconds()), "stages": stages}


def run_view(state: State, now: datetime) -> dict[str, Any] | None:
    """The recorded promotion (or the last one, from history), as the journal holds it.

    ``state`` is ``in progress`` (a stage running: this run or one that was
    killed, the lock tells which), ``failed`` (a rerun resumes at ``stage``)
    or ``done``; ``elapsed_seconds`` is record-rto's figure once done, else
    the time since the start.
    """
    from vivr_provision.dr_runbook import PROMOTION

    run = state.dr.promotion
    in_force = run is not None
    if run is None:
        run = next((r for r in reversed(state.dr.history) if r.kind == "promotion"), None)
    if run is None:
        return None
    view = _journal_view(run, PROMOTION, now)
    if run.status == "done" and "record-rto" in run.stages:
        view["elapsed_seconds"] = run.stages["record-rto"].outputs.get("elapsed_seconds")
    elapsed = view["elapsed_seconds"]
    return {**view, "in_force": in_force, "failed_back": not in_force,
            "rto_seconds": run.rto_seconds,
            "within_rto": elapsed is not None and elapsed <= run.rto_seconds}


def failback_view(state: State, now: datetime) -> dict[str, Any] | None:
    """A failback in progress (``dr failback`` stops after catch-up: ``in progress at
    stop-writes`` until ``--switch``), or None."""
    from vivr_provision.dr_failback_runbook import FAILBACK

    run = state.dr.failback
    return None if run is None else _journal_view(run, FAILBACK, now)


def build_report(config: PlatformConfig, state: State, found: DrSteps, clients: Clients,
                 now: datetime | None = None) -> dict[str, Any]:
    """The whole ``dr status`` document (see README "dr status" for its fields)."""
    now = now or datetime.now(UTC)
    dr = config.dr
    route53 = clients.client("route53")
    failover = []
    for step in found.failover:
        outputs = _outputs(state, step)
        failover.append({"step": step, "side": "unknown", "why": NOT_APPLIED}
                        if outputs is None else {"step": step,
                                                 **failover_section(outputs, route53)})
    replicas = []
    for step, region, cross in found.replicas:
        outputs = _outputs(state, step)
        if outputs is None:
            replicas.append({"step": step, "region": region, "cross_region": cross,
                             "status": NOT_APPLIED})
            continue
        replica = replica_section(step, outputs, region, clients, now)
        replica["cross_region"] = cross
        if cross:
            replica["rpo"] = rpo_view(replica.get("lag_seconds"), replica.get("lag_at"),
                                      dr.rpo_hours)
        replicas.append(replica)
    return {
        "project": config.project, "environment": config.environment,
        "region": config.aws.region, "dr_region": dr.region, "checked_at": _iso(now),
        "targets": {"rto_hours": dr.rto_hours, "rpo_hours": dr.rpo_hours},
        "edge": _edge(state, found, clients),
        "promotion": run_view(state, now),
        "failback": failback_view(state, now),
        "failover": failover,
        "replicas": replicas,
        "standby": {
            "alb": _standby_part(state, found.standby_alb,
                                 lambda o: alb_section(o, dr.region, clients)),
            "target_group": _standby_part(state, found.standby_target_group,
                                          lambda o: target_group_section(o, dr.region,
                                                                         clients)),
            "ecs_service": _standby_part(state, found.standby_ecs,
                                         lambda o: ecs_section(o, dr.region, clients)),
            "redis": _standby_part(state, found.standby_cache,
                                   lambda o: cache_section(o, dr.region, clients)),
        },
    }


__all__ = ["NO_DATAPOINT", "DrSteps", "applied", "build_report", "check_health",
           "edge_section", "failback_view", "origin_path", "rpo_view", "run_view",
           "serving_side"]
