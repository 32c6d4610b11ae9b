"""``dr promote --dry-run``: the promotion runbook against this environment, and its budgets.

Why it is built this way:

* **The runbook is data** (:mod:`vivr_provision.dr_runbook`); this module
  only resolves it against the step graph and the state: which resource
  each stage acts on, and whether it can act yet.  A stage whose resource
  has no step in the graph (the standby ECS service before the standby
  tier exists) or no outputs in state is kept in the list, marked
  "not possible yet" with the reason, because an operator reading the
  runbook in an incident must see the gap, not a shorter runbook.
* **The budgets are the point of a dry run.**  The stages' durations are
  summed twice (typical, and the allowance of each figure) and set against
  ``dr.rto_hours``; the DR replica's lag, read exactly as ``dr status``
  reads it (:func:`vivr_provision.dr_status.replica_section`), is set
  against ``dr.rpo_hours``.  A lag that cannot be read is said to be
  unreadable, with why; it is never taken as zero.
* **Reads only.**  The only calls are the DR replica's describe and its
  ReplicaLag metric (and the account check before them); the e2e test
  counts the sandbox's mutating calls: zero.

The document built here is what ``--output json`` prints; the text form
(:mod:`vivr_provision.dr_promote_text`) only lays it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vivr_provision.dr_runbook import (
    DR_REPLICA,
    FAILOVER,
    PROMOTION,
    STANDBY_ECS,
    STANDBY_TARGET_GROUP,
    Stage,
)
from vivr_provision.dr_status import Clients, DrSteps, replica_section, rpo_view

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig
    from vivr_provision.state import State


@dataclass(frozen=True)
class Need:
    """A resource a stage acts on: what it is, its step (None: not in the graph), and
    the step name the graph would give it."""

    what: str
    step: str | None
    expected: str


def needs(config: PlatformConfig, found: DrSteps) -> dict[str, Need]:
    """Each need of the runbook, resolved against the graph's DR steps."""
    from vivr_provision.steps.alb.common import TG_STEP
    from vivr_provision.steps.dr import dr_site
    from vivr_provision.steps.ecs.common import SERVICE_STEP

    site = dr_site(config)
    cross = [step for step, _, is_cross in found.replicas if is_cross]
    return {
        DR_REPLICA: Need("the cross-region replica", cross[0] if cross else None, "dr.rds.*"),
        FAILOVER: Need("the failover record", found.failover[0] if found.failover else None,
                       "dns-failover.*"),
        STANDBY_ECS: Need("the standby ECS service", found.standby_ecs,
                          site.step(SERVICE_STEP)),
        STANDBY_TARGET_GROUP: Need("the standby target group", found.standby_target_group,
                                   site.step(TG_STEP)),
    }


def _applied(state: State, step: str) -> bool:
    record = state.steps.get(step)
    return record is not None and bool(record.outputs)


def blocker(stage: Stage, resolved: Mapping[str, Need], state: State) -> str | None:
    """Why ``stage`` cannot run yet (the first need missing), or None when it can."""
    for key in stage.needs:
        need = resolved[key]
        if need.step is None:
            return f"{need.what} is not built yet (no {need.expected} step in the graph)"
        if not _applied(state, need.step):
            return (f"{need.what} is not applied ({need.step}: "
                    f"`vivr-provision apply --target {need.step}`)")
    return None


def _facts(config: PlatformConfig) -> dict[str, Any]:
    return {"desired": config.ecs.service.desired_count, "dr_region": config.dr.region,
            "rto_hours": config.dr.rto_hours, "region": config.aws.region,
            "identifier": config.rds.identifier}


def stage_views(config: PlatformConfig, state: State, found: DrSteps,
                stages: tuple[Stage, ...] = PROMOTION) -> list[dict[str, Any]]:
    """Each stage as the document shows it, numbered in order, with what blocks it."""
    resolved, facts = needs(config, found), _facts(config)
    views = []
    for number, stage in enumerate(stages, start=1):
        duration = stage.expected(config)
        why = blocker(stage, resolved, state)
        views.append({
            "number": number, "name": stage.name, "does": stage.does.format(**facts),
            "operations": list(stage.operations), "mutating": stage.mutating,
            "typical_seconds": duration.typical_seconds,
            "upper_seconds": duration.upper_seconds, "source": duration.source,
            "reversible": stage.reversible, "reversal": stage.reversal.format(**facts),
            "steps": [resolved[k].step for k in stage.needs if resolved[k].step],
            "possible": why is None, "why_not": why,
            "decision": stage.decision.format(**facts) or None})
    return views


def totals(views: list[dict[str, Any]], rto_hours: int) -> dict[str, Any]:
    """The stages' durations summed, against the RTO.

    ``within_rto`` judges the allowance (the sum of each figure's upper
    bound), not the typical sum: the RTO is a promise, and what is left of
    it (``margin_seconds``) is the time for detecting the outage and
    deciding to fail over, which no stage counts.
    """
    typical = sum(int(v["typical_seconds"]) for v in views)
    upper = sum(int(v["upper_seconds"]) for v in views)
    rto = rto_hours * 3600
    return {"typical_seconds": typical, "upper_seconds": upper, "rto_seconds": rto,
            "within_rto": upper <= rto, "margin_seconds": rto - upper,
            "stages": len(views), "possible": sum(1 for v in views if v["possible"])}


def rpo_budget(config: PlatformConfig, state: State, found: DrSteps, clients: Clients | None,
               now: datetime) -> dict[str, Any]:
    """The RPO a promotion now would achieve, or why it is not readable."""
    target = config.dr.rpo_hours * 3600
    need = needs(config, found)[DR_REPLICA]
    base: dict[str, Any] = {"target_seconds": target, "replica": None, "lag_seconds": None,
                            "last_replicated_at": None, "within_target": None}
    if need.step is None:
        return {**base, "readable": False,
                "why": f"no cross-region replica in the graph ({need.expected})"}
    record = state.steps.get(need.step)
    if record is None or not record.outputs or clients is None:
        return {**base, "step": need.step, "readable": False,
                "why": f"{need.step} is not applied"}
    region = next(r for s, r, _ in found.replicas if s == need.step)
    replica = replica_section(need.step, record.outputs, region, clients, now)
    status = str(replica.get("status") or "unknown")
    view = {**base, "step": need.step, "replica": replica["identifier"], "region": region,
            "status": status, "source": replica.get("source")}
    if status.startswith("unreadable"):
        return {**view, "readable": False, "why": status}
    if not replica.get("source"):
        return {**view, "readable": False,
                "why": f"{replica['identifier']} has no source: already standalone "
                       "(promoted) or not a replica"}
    if replica.get("lag_error"):
        return {**view, "readable": False, "why": str(replica["lag_error"])}
    rpo = rpo_view(replica.get("lag_seconds"), replica.get("lag_at"), config.dr.rpo_hours)
    if rpo["seconds"] is None:
        return {**view, "readable": False,
                "why": "no ReplicaLag datapoint in the last 5 minutes"}
    return {**view, "readable": True, "why": None, "lag_seconds": rpo["seconds"],
            "lag_at": replica.get("lag_at"), "last_replicated_at": rpo["last_replicated_at"],
            "within_target": rpo["within_target"]}


def dry_run(config: PlatformConfig, state: State, found: DrSteps, clients: Clients | None,
            now: datetime | None = None) -> dict[str, Any]:
    """The whole ``dr promote --dry-run`` document (README "dr promote --dry-run")."""
    now = now or datetime.now(UTC)
    views = stage_views(config, state, found)
    return {
        "project": config.project, "environment": config.environment,
        "region": config.aws.region, "dr_region": config.dr.region,
        "checked_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dry_run": True, "stages": views,
        "rto": {"hours": config.dr.rto_hours, **totals(views, config.dr.rto_hours)},
        "rpo": {"hours": config.dr.rpo_hours,
                **rpo_budget(config, state, found, clients, now)},
    }


def failback_dry_run(config: PlatformConfig, state: State, found: DrSteps,
                     now: datetime | None = None) -> dict[str, Any]:
    """The ``dr failback --dry-run`` document: the stages, their decisions, the promotion."""
    from vivr_provision.dr_failback_runbook import FAILBACK
    from vivr_provision.dr_status import run_view

    now = now or datetime.now(UTC)
    views = stage_views(config, state, found, FAILBACK)
    return {
        "project": config.project, "environment": config.environment,
        "region": config.aws.region, "dr_region": config.dr.region,
        "checked_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dry_run": True, "stages": views, "promotion": run_view(state, now),
        "failback": None if state.dr.failback is None else state.dr.failback.id,
        "typical_seconds": sum(int(v["typical_seconds"]) for v in views),
        "upper_seconds": sum(int(v["upper_seconds"]) for v in views),
    }


__all__ = ["Need", "blocker", "dry_run", "failback_dry_run", "needs", "rpo_budget",
           "stage_views", "totals"]
