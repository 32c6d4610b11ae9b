"""Where a DR run lives in state (``state.dr``): start one, find the one to resume, close it.

``state.dr.promotion`` is the promotion in force: started, running,
failed or done, it stays there until a finished ``dr failback`` moves it
(and the failback) to ``history``.  So there is at most one promotion to
resume, and a second ``dr promote`` after a finished one is told so
instead of starting another.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from vivr_provision.dr_execute import iso, resume_at

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig
    from vivr_provision.dr_runbook import Stage
    from vivr_provision.state import DrRun, State


def new_run(config: PlatformConfig, kind: Literal["promotion", "failback"],
            stages: tuple[Stage, ...], now: datetime) -> DrRun:
    """A run with every stage pending, its budgets copied from the config of the day."""
    from vivr_provision.state import DrRun, DrStageRecord

    return DrRun(kind=kind, started_at=iso(now), rto_seconds=config.dr.rto_hours * 3600,
                 rpo_seconds=config.dr.rpo_hours * 3600,
                 stages={s.name: DrStageRecord() for s in stages})


def promotion_to_run(config: PlatformConfig, state: State, stages: tuple[Stage, ...],
                     now: datetime) -> tuple[DrRun, str | None]:
    """(the promotion to run, the stage it resumes at or None for a new one).

    A finished promotion is returned as it is with ``resume`` None; the
    caller tells the operator it is in force.
    """
    found = state.dr.promotion
    if found is not None:
        return found, resume_at(found, stages) if found.status != "done" else None
    state.dr.promotion = new_run(config, "promotion", stages, now)
    return state.dr.promotion, None


def close_failback(state: State) -> None:
    """A finished failback ends the promotion: both go to history; apply manages all again."""
    for run in (state.dr.promotion, state.dr.failback):
        if run is not None:
            state.dr.history.append(run)
    state.dr.promotion = state.dr.failback = None


__all__ = ["close_failback", "new_run", "promotion_to_run"]
