"""After ``dr promote``, apply, plan and destroy must not undo the promotion.

Once a promotion has acted, the config no longer describes the truth: the
DR replica (``dr.rds.<id>``) is a standalone, writable instance that apply
would see as a replica to re-create or "fix", the primary's health check is
inverted on purpose and drift correction would set ``Inverted`` back (moving
traffic to a region that may be down), and the standby service runs the
primary's count on a revision pointed at the promoted database.  Destroy
would delete the only writable database as "a replica".

So while ``state.dr.promotion`` is recorded (it is cleared only by a
finished ``dr failback``), a command whose selection includes a step that a
started stage changed is refused before any AWS call, in one line naming
``dr failback``.  A promotion refused at ``check-rpo`` changed nothing and
protects nothing.  Steps the promotion did not touch stay manageable
(``--target`` them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from vivr_provision.errors import ConfigError

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig
    from vivr_provision.dr_status import DrSteps
    from vivr_provision.state import State

#: Stage statuses that mean the stage may have changed AWS.
ACTED = ("running", "done", "failed")


def protected_steps(config: PlatformConfig, found: DrSteps, state: State) -> list[str]:
    """The steps the recorded promotion changed (empty when there is none)."""
    from vivr_provision.steps.dr import dr_site
    from vivr_provision.steps.ecs.common import SERVICE_STEP, TASK_DEFINITION_STEP
    from vivr_provision.steps.records.common import HEALTH_CHECK_STEP

    promotion = state.dr.promotion
    if promotion is None:
        return []
    site = dr_site(config)
    changes = {
        "promote-db": [f"rds.{config.rds.identifier}",
                       *(step for step, _, cross in found.replicas if cross)],
        "point-app": [site.step(TASK_DEFINITION_STEP), site.step(SERVICE_STEP)],
        "scale-standby": [site.step(SERVICE_STEP)],
        "move-traffic": [HEALTH_CHECK_STEP],
    }
    steps: list[str] = []
    for stage, names in changes.items():
        record = promotion.stages.get(stage)
        if record is not None and record.status in ACTED:
            steps += [n for n in names if n not in steps]
    return steps


def refuse_undoing_promotion(config: PlatformConfig, found: DrSteps, state: State,
                             selected: Iterable[str], command: str) -> None:
    """Raise ConfigError (exit 2, nothing called) when ``selected`` touches a promoted step."""
    selection = set(selected)
    hit = [step for step in protected_steps(config, found, state) if step in selection]
    if not hit:
        return
    promotion = state.dr.promotion
    assert promotion is not None
    raise ConfigError(
        f"{command} would undo promotion {promotion.id} ({promotion.status}, started "
        f"{promotion.started_at}) on {', '.join(hit)}; nothing was changed: run `vivr-provision "
        "dr failback` first, or --target steps outside the promotion")


__all__ = ["ACTED", "protected_steps", "refuse_undoing_promotion"]
