"""The promotion runbook as data: the stages ``dr promote`` goes through, in order.

Why data and not code:

* **One list, three readers.**  ``dr promote --dry-run`` prints it, the
  README documents it, and the executor (:mod:`vivr_provision.dr_execute`)
  runs it stage by stage; keeping the stages, their AWS operations, their
  expected durations and the source of each figure in one table means the
  three cannot disagree.  (The way back, ``dr failback``, is
  :mod:`vivr_provision.dr_failback_runbook`.)
* **Figures carry their source.**  An expected duration is only as good as
  where it comes from, so each :class:`Duration` says it: an AWS document,
  a figure computed from the config (Route 53's failure threshold times its
  interval, the target group's healthy threshold times its interval), or
  our own estimate, named as such.
* **Missing pieces are stated, not hidden.**  A stage names what it
  ``needs`` (the DR replica, the standby ECS service ...) as keys that
  :mod:`vivr_provision.dr_promote` resolves against the step graph and
  the state; a stage whose resource is not built yet is shown as
  "not possible yet: <why>".

How a run is journalled in state (schema 4, ``state.dr``; built in
:mod:`vivr_provision.dr_execute`, :mod:`vivr_provision.dr_journal`): each
stage goes ``pending`` -> ``running`` (saved *before* the first mutating
call, as ``creating`` is) -> ``done`` | ``skipped`` | ``failed``; a rerun
resumes at the first stage neither done nor skipped, and every stage reads
before it acts, so running it twice is harmless.  ``outputs`` hold what
later stages, ``dr status`` and the way back need (the achievable RPO, the
writable endpoint, the task definition revision that was replaced); never
secrets.  The executed actions are :mod:`vivr_provision.dr_stages`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig


@dataclass(frozen=True)
class Duration:
    """How long a stage is expected to take: a typical figure, an allowance, and their source."""

    typical_seconds: int
    upper_seconds: int
    source: str


#: A duration fixed in the table, or one worked out from the config it depends on.
Estimate = Duration | Callable[["PlatformConfig"], Duration]

# What a stage needs, resolved against the step graph and the state by dr_promote.
DR_REPLICA = "dr_replica"
FAILOVER = "failover"
STANDBY_ECS = "standby_ecs"
STANDBY_TARGET_GROUP = "standby_target_group"


@dataclass(frozen=True)
class Stage:
    """One stage of a runbook.

    ``does`` is one line and may name config facts (``{desired}``: the
    primary service's task count, ``{dr_region}``).  ``mutating`` says
    whether the stage changes AWS (a dry run calls only the reads of the
    stages that do not).  ``reversal`` says how to undo it, or why it
    cannot be undone.
    """

    name: str
    does: str
    operations: tuple[str, ...]
    duration: Estimate
    reversible: bool
    reversal: str
    mutating: bool
    needs: tuple[str, ...] = ()
    decision: str = ""
    """What the operator must decide before or at this stage (failback's runbook); empty
    when the stage needs no decision."""

    def expected(self, config: PlatformConfig) -> Duration:
        return self.duration if isinstance(self.duration, Duration) else self.duration(config)


# --------------------------------------------------------------------------- derived figures

#: Starting a Fargate task (image pull from ECR, container start): our estimate, not AWS's.
TASK_START = Duration(120, 600, "estimate: Fargate task start with its image pull")


def _healthy_targets(config: PlatformConfig) -> Duration:
    """Task start, then the target group's ``healthy_threshold`` checks ``interval`` apart."""
    alb = config.dr.alb or config.alb
    check = alb.target_group.health_check
    healthy = check.healthy_threshold * check.interval_seconds
    return Duration(
        TASK_START.typical_seconds + healthy, TASK_START.upper_seconds + 2 * healthy,
        f"{TASK_START.source} ({TASK_START.typical_seconds} s, up to "
        f"{TASK_START.upper_seconds} s) + ELB guide 'Health checks for Application Load "
        f"Balancer target groups': healthy after {check.healthy_threshold} checks "
        f"{check.interval_seconds} s apart ({alb.target_group.name})")


#: Route 53 applies a health check or record change to its servers within about a minute.
ROUTE53_PROPAGATION_SECONDS = 60


def _traffic_moves(config: PlatformConfig) -> Duration:
    """Route 53 sees the inverted check fail, then resolvers let the old answer expire."""
    records = config.route53.failover_records
    if not records:
        return Duration(ROUTE53_PROPAGATION_SECONDS, ROUTE53_PROPAGATION_SECONDS,
                        "no failover record in the config")
    record = max(records, key=lambda r: r.health_check.failure_threshold
                 * r.health_check.request_interval_seconds + r.ttl_seconds)
    check = record.health_check
    flips = check.failure_threshold * check.request_interval_seconds
    return Duration(
        flips + record.ttl_seconds, flips + record.ttl_seconds + ROUTE53_PROPAGATION_SECONDS,
        f"Route 53 guide 'How Route 53 determines whether a health check is healthy': "
        f"{check.failure_threshold} failures {check.request_interval_seconds} s apart, then "
        f"the record's TTL {record.ttl_seconds} s in resolvers; up to "
        f"{ROUTE53_PROPAGATION_SECONDS} s more for the change to reach Route 53's servers "
        f"(ChangeInfo PENDING -> INSYNC)")


# --------------------------------------------------------------------------- the runbook

PROMOTION: tuple[Stage, ...] = (
    Stage(
        name="check-rpo",
        does="Read the DR replica's state and lag: the RPO a promotion now achieves.",
        operations=("rds:DescribeDBInstances", "cloudwatch:GetMetricStatistics"),
        duration=Duration(1, 10, "measured: `dr promote --dry-run` made these 2 reads and "
                                 "the account check in 0.7 s on the sandbox; 10 s allows for "
                                 "retries against a slow region"),
        reversible=True, reversal="reads only, nothing to undo", mutating=False,
        needs=(DR_REPLICA,)),
    Stage(
        name="promote-db",
        does="Promote the {dr_region} replica to a standalone instance; wait until writable.",
        operations=("rds:PromoteReadReplica", "waiter db_instance_available"),
        duration=Duration(600, 3600,
                          "AWS RDS guide 'Promoting a read replica to be a standalone DB "
                          "instance': RDS reboots it, 'several minutes or longer, depending "
                          "on the size of the read replica' (10 min typical and 1 h allowed "
                          "are our estimates)"),
        reversible=False,
        reversal="a promoted instance never becomes a replica again; the way back is "
                 "`dr failback` (a new replica in the primary region)",
        mutating=True, needs=(DR_REPLICA,)),
    Stage(
        name="point-app",
        does="Point the standby task definition at the promoted, writable database.",
        operations=("ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition",
                    "ecs:UpdateService"),
        duration=Duration(60, 600, "estimate: both calls answer in seconds; a warm "
                                   "standby's running tasks are replaced by a deployment"),
        reversible=True, reversal="update the service back to the revision it ran "
                                  "(journalled in the stage's outputs)",
        mutating=True, needs=(STANDBY_ECS,)),
    Stage(
        name="scale-standby",
        does="Scale the standby service to the primary's {desired} tasks; wait for "
             "{desired} healthy targets.",
        operations=("ecs:UpdateService", "waiter services_stable",
                    "elbv2:DescribeTargetHealth"),
        duration=_healthy_targets,
        reversible=True, reversal="scale back to the standby count (`dr failback` does)",
        mutating=True, needs=(STANDBY_ECS, STANDBY_TARGET_GROUP)),
    Stage(
        name="move-traffic",
        does="Invert the primary's health check so the failover answers the SECONDARY; "
             "verify what DNS answers.",
        operations=("route53:UpdateHealthCheck", "route53:GetHealthCheckStatus",
                    "route53:TestDNSAnswer"),
        duration=_traffic_moves,
        reversible=True,
        reversal="un-invert the check; writes made in {dr_region} since then exist only "
                 "there",
        mutating=True, needs=(FAILOVER,)),
    Stage(
        name="record-rto",
        does="Record the elapsed time against the {rto_hours} h RTO in state.",
        operations=(),
        duration=Duration(1, 5, "one state save"),
        reversible=True, reversal="a record only, nothing to undo", mutating=False),
)


__all__ = ["DR_REPLICA", "FAILOVER", "PROMOTION", "STANDBY_ECS", "STANDBY_TARGET_GROUP",
           "Duration", "Estimate", "Stage"]
