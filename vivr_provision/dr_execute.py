"""Run a DR runbook (``dr promote``, ``dr failback``) as journalled stages in state.

Why it is built this way:

* **Journal before acting.**  A stage is saved as ``running`` before its
  action makes any call, and an action that is about to make its mutating
  call saves what the way back needs first (:meth:`StageContext.journal`),
  the same rule as the engine's ``creating`` before a create.  A process
  killed at any point leaves a state that says where it was.
* **Resume at the first stage not settled.**  ``done`` and ``skipped``
  stages are settled; a ``running`` or ``failed`` one runs again.  Every
  action reads before it acts (a replica already standalone is not
  promoted again, a check already inverted is left), so running a stage
  twice is harmless.
* **A stage that cannot act is skipped, not fatal, when the runbook says
  so** (:class:`Skipped`): a pilot light without a standby ECS service
  still wants its database promoted and its traffic moved.  A stage that
  fails stops the run (``failed``, the error in state); a rerun retries it.
* **The actions are plain functions** (:mod:`vivr_provision.dr_stages`,
  :mod:`vivr_provision.dr_failback`) of a :class:`StageContext`, so unit
  tests run them on botocore ``Stubber`` clients with a state in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vivr_provision.aws import error_text
from vivr_provision.errors import ProvisionError, VivrError

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig
    from vivr_provision.dr_runbook import Stage
    from vivr_provision.dr_status import Clients, DrSteps
    from vivr_provision.state import DrRun, DrStageRecord, State

#: Stage statuses a resumed run does not run again.
SETTLED = ("done", "skipped")


class Skipped(Exception):
    """The stage cannot act here (its resource is not built); the run goes on."""


class StageRefused(VivrError):
    """The stage will not act without the operator's say (RPO beyond target ...)."""

    exit_code = 1


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass
class StageContext:
    """What a stage's action works with: config, state, clients, the run, and time."""

    config: PlatformConfig
    state: State
    clients: Clients
    found: DrSteps
    run: DrRun
    save: Callable[[], None]
    say: Callable[[str], None]
    accept_rpo_loss: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = field(default=lambda seconds: None)
    #: The record of the stage being run (set by :func:`execute`).
    record: DrStageRecord | None = None

    def step_outputs(self, step: str | None) -> dict[str, Any] | None:
        """What apply recorded for ``step``, or None (not in the graph, not applied)."""
        if step is None:
            return None
        record = self.state.steps.get(step)
        return dict(record.outputs) if record is not None and record.outputs else None

    def outputs_of(self, stage: str) -> dict[str, Any]:
        """An earlier stage's outputs in this run (empty when it has none)."""
        record = self.run.stages.get(stage)
        return dict(record.outputs) if record is not None else {}

    def journal(self, **values: Any) -> None:
        """Record ``values`` in the current stage's outputs and save, before a mutating call."""
        assert self.record is not None
        self.record.outputs = {**self.record.outputs, **values}
        self.save()


Action = Callable[[StageContext], Mapping[str, Any]]


def resume_at(run: DrRun, stages: tuple[Stage, ...]) -> str | None:
    """The first stage of ``stages`` that is not settled in ``run``, or None (all are)."""
    for stage in stages:
        record = run.stages.get(stage.name)
        if record is None or record.status not in SETTLED:
            return stage.name
    return None


def execute(ctx: StageContext, stages: tuple[Stage, ...], actions: Mapping[str, Action], *,
            last: bool = True) -> None:
    """Run the stages not yet settled, in order, journalling every transition.

    ``last`` False: ``stages`` are the first part of the runbook (failback
    before its switch), so the run stays ``running`` when they are done.

    Raises the stage's error (ProvisionError for an AWS failure, a
    StageRefused as it is) after saving the stage and the run as ``failed``.
    """
    from vivr_provision.state import DrStageRecord

    run = ctx.run
    run.status, run.finished_at = "running", None
    for stage in stages:
        record = run.stages.setdefault(stage.name, DrStageRecord())
        if record.status in SETTLED:
            continue
        record.status, record.started_at, record.error = "running", iso(ctx.clock()), None
        record.finished_at = None
        ctx.record = record
        ctx.save()  # running is durable before the action's first call
        try:
            outputs = actions[stage.name](ctx)
        except Skipped as why:
            record.status, record.error = "skipped", str(why)
            record.finished_at = iso(ctx.clock())
            ctx.save()
            ctx.say(f"{stage.name}: skipped: {why}")
            continue
        except BaseException as exc:
            record.status, record.error = "failed", error_text(exc)
            record.finished_at = iso(ctx.clock())
            run.status = "failed"
            ctx.save()
            if isinstance(exc, VivrError):
                raise
            if isinstance(exc, Exception):
                raise ProvisionError(
                    f"{run.kind} {run.id} stage {stage.name} failed: {error_text(exc)}; "
                    "state saved, rerun to resume at this stage") from exc
            raise
        record.outputs = {**record.outputs, **outputs}
        record.status, record.finished_at = "done", iso(ctx.clock())
        ctx.save()
        ctx.say(f"{stage.name}: done" + (f" ({outputs['summary']})"
                                         if outputs.get("summary") else ""))
    if last:
        run.status, run.finished_at = "done", iso(ctx.clock())
    ctx.save()


__all__ = ["SETTLED", "Action", "Skipped", "StageContext", "StageRefused", "execute", "iso",
           "parse_iso", "resume_at"]
