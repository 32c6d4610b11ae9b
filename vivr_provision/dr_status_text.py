"""The text form of the ``dr status`` document: ``label: value`` lines grouped by section.

Every line fits :data:`WIDTH` columns (a terminal of 80, a pasted incident
note): labels take a fixed column, a value too long for the rest is
shortened in the middle as ids are elsewhere (``render.short_id``), so both
ends of an ARN or a DNS name stay readable.  Nothing is computed here that
the JSON document does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.dr_status import NO_DATAPOINT

WIDTH = 80
LABEL = 18
INDENT = "  "

Lines = list[str]


def _fit(value: str, room: int) -> str:
    from vivr_provision.render import short_id

    return short_id(value, room)


def _line(label: str, value: Any) -> str:
    room = WIDTH - len(INDENT) - LABEL
    return f"{INDENT}{label + ':':<{LABEL}}{_fit(str(value), room)}"


def _check(check: Mapping[str, Any] | None) -> str:
    if check is None:
        return "none (always healthy)"
    if "error" in check:
        return str(check["error"])
    flags = [f for f in ("inverted", "disabled") if check.get(f)]
    seen = f"{check.get('healthy_checkers')} of {check.get('checkers')} checkers ok"
    return f"{check['state']}, {seen}" + (f" ({', '.join(flags)})" if flags else "")


def _failover(section: Mapping[str, Any], report: Mapping[str, Any]) -> Lines:
    name = section.get("name") or section["step"]
    lines = [f"Traffic ({name})"]
    regions = {"primary": report["region"], "secondary": report["dr_region"]}
    side = str(section["side"])
    lines.append(_line("serving", f"{side} ({regions[side]})" if side in regions else side))
    lines.append(_line("because", section["why"]))
    for key in ("primary", "secondary"):
        record = section.get(key)
        if "error" in section or key not in section:
            continue
        if record is None:
            lines.append(_line(key.upper(), "no record"))
            continue
        lines.append(_line(key.upper(), f"{record['target']}, TTL {record['ttl']}"))
        lines.append(_line("  health check", _check(record.get("health_check"))))
        if record.get("health_check_id"):
            lines.append(_line("  check id", record["health_check_id"]))
    return lines


def _edge(edge: Mapping[str, Any]) -> Lines:
    """Where CloudFront sends application requests: the failover name, or an ALB itself."""
    lines = ["CloudFront (application origin)"]
    if "through" not in edge:
        return [*lines, _line("origin", edge["state"])]
    lines.append(_line("origin", f"{edge.get('origin_id')} -> {edge.get('origin_domain')}"))
    lines.append(_line("path", f"{edge['through']}, {edge['why']}"))
    return lines


def lag_text(replica: Mapping[str, Any]) -> str:
    if replica.get("lag_error"):
        return str(replica["lag_error"])
    if replica.get("lag_seconds") is None:
        return f"{NO_DATAPOINT} (last 5 minutes)"
    return f"{replica['lag_seconds']:g} s at {replica['lag_at']}"


def _rpo(rpo: Mapping[str, Any]) -> Lines:
    target_h = int(rpo["target_seconds"]) // 3600
    if rpo["seconds"] is None:
        return [_line("last replicated", "unknown (no lag datapoint)"),
                _line("RPO if promoted", f"unknown (target {target_h} h)")]
    verdict = "within" if rpo["within_target"] else "OVER"
    return [_line("last replicated", rpo["last_replicated_at"]),
            _line("RPO if promoted", f"{rpo['seconds']:g} s, {verdict} the {target_h} h target")]


def _replica(replica: Mapping[str, Any]) -> Lines:
    kind = "Cross-region replica" if replica.get("cross_region") else "Same-region replica"
    name = replica.get("identifier") or replica["step"]
    lines = [f"{kind} {name} ({replica['region']})", _line("status", replica["status"])]
    if "identifier" not in replica:
        return lines
    source = replica.get("source")
    lines.append(_line("source", source or "none (standalone: promoted or not a replica)"))
    lines.append(_line("replica lag", lag_text(replica)))
    if "rpo" in replica:
        lines += _rpo(replica["rpo"])
    return lines


def _part(part: Mapping[str, Any], describe: str) -> str:
    if "error" in part:
        return str(part["error"])
    if "name" not in part:
        return str(part["state"])
    return describe


def _standby(standby: Mapping[str, Any], region: str) -> Lines:
    alb, group, ecs = standby["alb"], standby["target_group"], standby["ecs_service"]
    cache = standby.get("redis", {"state": "not built"})
    return [
        f"Standby ({region})",
        _line("ALB", _part(alb, f"{alb.get('name')}: {alb.get('state')}")),
        _line("healthy targets", _part(
            group, f"{group.get('healthy')} of {group.get('registered')} registered "
                   f"({group.get('name')})")),
        _line("ECS service", _part(
            ecs, f"{ecs.get('name')}: {ecs.get('state')}, {ecs.get('running')} running of "
                 f"{ecs.get('desired')} desired")),
        _line("Redis", _part(
            cache, f"{cache.get('name')}: {cache.get('state')}, {cache.get('nodes')} x "
                   f"{cache.get('node_type')}")),
    ]


def _promotion(run: Mapping[str, Any]) -> Lines:
    """The promotion journal: where it is, how long it has taken against the RTO."""
    state = str(run["state"])
    if state == "in progress":
        state += f" at {run['stage']}"
    elif state == "failed":
        state += f" at {run['stage']}: {run['error']}"
    elif run["failed_back"]:
        state += ", failed back"
    rto_h = int(run["rto_seconds"]) // 3600
    elapsed = run.get("elapsed_seconds")
    verdict = "within" if run["within_rto"] else "OVER"
    lines = [f"Promotion {run['id']}", _line("state", state),
             _line("started", run["started_at"])]
    if run.get("finished_at") and run["state"] == "done":
        lines.append(_line("finished", run["finished_at"]))
    lines.append(_line("elapsed", f"{elapsed} s, {verdict} the {rto_h} h RTO"))
    for stage in run["stages"]:
        detail = f"{stage['status']}" + (f": {stage['error']}" if stage.get("error") else "")
        lines.append(_line(f"  {stage['name']}", detail))
    return lines


def _failback(run: Mapping[str, Any]) -> Lines:
    """A failback in progress: where it stands (``stop-writes`` waits for ``--switch``)."""
    state = str(run["state"])
    if state == "in progress" and run["stage"] == "stop-writes":
        state = "waiting for `dr failback --switch`"
    elif state != "done":
        state += f" at {run['stage']}" + (f": {run['error']}" if run.get("error") else "")
    return [f"Failback {run['id']}", _line("state", state),
            _line("started", run["started_at"]),
            *(_line(f"  {s['name']}", s["status"]) for s in run["stages"])]


def report_lines(report: Mapping[str, Any]) -> Lines:
    """The whole report, one section after another, separated by blank lines."""
    head = (f"dr status {report['project']} {report['environment']}: {report['region']} -> "
            f"{report['dr_region']}, at {report['checked_at']}")
    sections: list[Lines] = [[head]]
    if report.get("promotion"):
        sections.append(_promotion(report["promotion"]))
    if report.get("failback"):
        sections.append(_failback(report["failback"]))
    sections.append(_edge(report["edge"]))
    sections += [_failover(s, report) for s in report["failover"]]
    ordered = sorted(report["replicas"], key=lambda r: not r.get("cross_region"))
    sections += [_replica(r) for r in ordered]
    sections.append(_standby(report["standby"], report["dr_region"]))
    targets = report["targets"]
    sections.append(["Targets", _line("RTO", f"{targets['rto_hours']} h"),
                     _line("RPO", f"{targets['rpo_hours']} h")])
    lines: Lines = []
    for section in sections:
        lines += [*([""] if lines else []), *section]
    return lines


__all__ = ["WIDTH", "lag_text", "report_lines"]
