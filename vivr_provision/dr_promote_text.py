"""The text form of the ``dr promote --dry-run`` document: the stages, then the budgets.

Every line fits :data:`WIDTH` columns (an 80-column terminal, a pasted
incident note).  Unlike ``dr status``'s values, the runbook's lines are
sentences an operator must read whole (a reason a stage cannot run, the
source of a figure), so they wrap under their label instead of being
shortened.  Nothing is computed here that the JSON document does not hold.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

WIDTH = 80
INDENT = "   "
LABEL = 12

Lines = list[str]


def duration_text(seconds: int) -> str:
    """``45 s``, ``16 min 32 s``, ``1 h 25 min``: a person's reading of a duration."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")


def _field(label: str, text: str) -> Lines:
    head = f"{INDENT}{label + ':':<{LABEL}}" if label else INDENT
    return textwrap.wrap(text, width=WIDTH, initial_indent=head,
                         subsequent_indent=" " * len(head), break_on_hyphens=False)


def _stage(stage: Mapping[str, Any]) -> Lines:
    left = f"{stage['number']}. {stage['name']}"
    right = (f"~{duration_text(int(stage['typical_seconds']))}, "
             f"up to {duration_text(int(stage['upper_seconds']))}")
    lines = [f"{left:<{WIDTH - len(right)}}{right}", *_field("", str(stage["does"]))]
    if not stage["possible"]:
        lines += _field("", f"not possible yet: {stage['why_not']}")
    if stage.get("decision"):
        lines += _field("decide", str(stage["decision"]))
    calls = ", ".join(stage["operations"]) or "none (state only)"
    lines += _field("calls", calls)
    lines += _field("reversible", ("yes: " if stage["reversible"] else "no: ")
                    + str(stage["reversal"]))
    lines += _field("source", str(stage["source"]))
    return lines


def _rto(rto: Mapping[str, Any]) -> Lines:
    hours = rto["hours"]
    margin = int(rto["margin_seconds"])
    verdict = (f"within the {hours} h RTO, {duration_text(margin)} left for detection and "
               "the decision to fail over" if rto["within_rto"] else
               f"OVER the {hours} h RTO by {duration_text(-margin)}")
    return [f"RTO budget ({hours} h)",
            *_field("stages", f"~{duration_text(int(rto['typical_seconds']))} typical, up to "
                              f"{duration_text(int(rto['upper_seconds']))}"),
            *_field("verdict", verdict),
            *_field("possible", f"{rto['possible']} of {rto['stages']} stages now"
                                + ("" if rto["possible"] == rto["stages"] else
                                   " (the others say why not)"))]


def _rpo(rpo: Mapping[str, Any]) -> Lines:
    hours = rpo["hours"]
    lines = [f"RPO budget ({hours} h)"]
    if rpo.get("replica"):
        lines += _field("replica", f"{rpo['replica']} ({rpo['region']}): {rpo['status']}")
    if not rpo["readable"]:
        return [*lines, *_field("verdict", f"not readable: {rpo['why']}")]
    verdict = "within" if rpo["within_target"] else "OVER"
    return [
        *lines,
        *_field("lag", f"{rpo['lag_seconds']:g} s at {rpo['lag_at']}"),
        *_field("replicated", f"last transaction at {rpo['last_replicated_at']}"),
        *_field("verdict", f"a promotion now loses {rpo['lag_seconds']:g} s, {verdict} "
                           f"the {hours} h target")]


def dry_run_lines(document: Mapping[str, Any]) -> Lines:
    """The whole dry run: a heading, each stage, then the RTO and RPO budgets."""
    lines = [f"dr promote --dry-run {document['project']} {document['environment']}: "
             f"{document['region']} -> {document['dr_region']}",
             f"checked at {document['checked_at']}; nothing was changed", ""]
    for stage in document["stages"]:
        lines += [*_stage(stage), ""]
    return [*lines, *_rto(document["rto"]), "", *_rpo(document["rpo"])]


def failback_lines(document: Mapping[str, Any]) -> Lines:
    """``dr failback --dry-run``: a heading, the promotion it undoes, each stage, the total."""
    promotion = document.get("promotion")
    if promotion is None or not promotion.get("in_force"):
        recorded = "no promotion is recorded: there is nothing to fail back from yet"
    else:
        recorded = (f"promotion {promotion['id']} ({promotion['state']}, started "
                    f"{promotion['started_at']})")
    lines = [f"dr failback --dry-run {document['project']} {document['environment']}: "
             f"{document['dr_region']} -> {document['region']}",
             f"checked at {document['checked_at']}; nothing was changed",
             *textwrap.wrap(recorded, width=WIDTH), ""]
    for stage in document["stages"]:
        lines += [*_stage(stage), ""]
    return [*lines, f"Total: ~{duration_text(int(document['typical_seconds']))} typical, up "
                    f"to {duration_text(int(document['upper_seconds']))}; `dr failback` "
                    "stops after catch-up,", "`dr failback --switch` runs the rest (a write "
                    "outage from stop-writes to move-traffic-back)."]


__all__ = ["WIDTH", "dry_run_lines", "duration_text", "failback_lines"]
