"""Sandbox fixes for EventBridge Scheduler (see :mod:`vivr_sandbox.fixes` for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_delete_missing_schedule_group() -> None:
    """EventBridge Scheduler: deleting a schedule group that is not there answers
    ResourceNotFoundException, as AWS does.

    moto 5.2.5 raises a KeyError (a 500 with an HTML page); AWS answers
    ``ResourceNotFoundException`` (botocore's scheduler model lists it for
    DeleteScheduleGroup), which is how a delete retried after a lost answer
    is known to be done.
    """
    from moto.scheduler.exceptions import ScheduleGroupNotFound
    from moto.scheduler.models import EventBridgeSchedulerBackend

    @wrap(EventBridgeSchedulerBackend, "delete_schedule_group")
    def delete_schedule_group(original: Any, self: Any, name: str | None) -> None:
        if (name or "default") not in self.schedule_groups:
            raise ScheduleGroupNotFound(name or "default")
        original(self, name)


FIXES: list[Callable[[], None]] = [_fix_delete_missing_schedule_group]
