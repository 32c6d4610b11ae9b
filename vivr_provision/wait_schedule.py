"""When a wait polls: sparsely early, densely near the step's expected end, then backing off.

A fixed delay is either wasteful or late: an RDS create polled every 30 s
costs 30 describes for a 15-minute create and is seen up to 30 s after it
became available (at ``sandbox start --time-scale 0.002`` the fixed delays,
not AWS, made a production apply 20x its critical path).  The schedule here
reads the step's expected duration (AWS's typical figure,
:mod:`vivr_provision.steps.durations`), never the emulator's:

* the first poll is at once (a resource already ready costs one call), the
  second after ``floor_s``: many operations settle in seconds whatever their
  typical figure (deleting what is already going, a small modification,
  every resource of the sandbox without a timing profile), and one early
  look costs one call where waiting for the sparse schedule would cost up to
  a whole delay;
* before the expected end it sleeps ``share`` of the time left, at least
  ``floor_s`` and at most the step's delay, so polls are the delay apart
  early on and close together as the end approaches;
* after the expected end it sleeps as long as it is already late (at least
  the floor, at most the delay): a geometric back-off, so a resource that is
  late by ``x`` is seen within about ``x`` more.

It is a pure function of the elapsed time, so a unit test checks every poll
on a fake clock.  The number of polls is bounded (:meth:`WaitSchedule.max_polls`).

``VIVR_TIME_SCALE=F`` multiplies every duration of a wait (expected end,
delay, floor and budget) by ``F``: for a sandbox started with ``--time-scale F``,
whose resources take AWS's time x F.  It is the operator's statement, not a
value read from the emulator; on AWS it is 1.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from vivr_provision.errors import ConfigError

#: Shortest sleep between two polls at AWS's pace: a describe every 2 s stays far below
#: every service's read budget (RDS: 12/s sustained, vivr_provision/api_budgets.py).
FLOOR_S = 2.0
#: Share of the expected time left that a wait sleeps before the expected end.
SHARE = 0.5
#: The environment variable that compresses every wait (see the module docstring).
SCALE_VARIABLE = "VIVR_TIME_SCALE"


@dataclass(frozen=True)
class WaitSchedule:
    """The sleeps of one wait, all in seconds of the run's clock (already scaled)."""

    expected_s: float
    delay_s: float
    floor_s: float = FLOOR_S
    share: float = SHARE

    @classmethod
    def scaled(cls, expected_s: float, delay_s: float, scale: float) -> WaitSchedule:
        """The schedule for a step's AWS figures on a clock running ``scale`` x AWS's."""
        delay = max(delay_s, 0.0) * scale
        return cls(expected_s=max(expected_s, 0.0) * scale, delay_s=delay,
                   floor_s=min(FLOOR_S * scale, delay))

    def sleep_after(self, elapsed_s: float) -> float:
        """How long to sleep after an unsuccessful poll ``elapsed_s`` into the wait."""
        if elapsed_s < self.floor_s:
            return self.floor_s  # the quick second look
        left = self.expected_s - elapsed_s
        wanted = self.share * left if left > 0 else -left
        return min(self.delay_s, max(self.floor_s, wanted))

    def max_polls(self, budget_s: float) -> int:
        """An upper bound on the polls of a wait that never succeeds within ``budget_s``.

        At most one poll per delay, plus the quick second look, the halving approach
        to the expected end (``log2(delay / floor)`` polls) and the doubling back-off
        after it (as many).
        """
        if self.delay_s <= 0:
            return 1
        steps = math.ceil(math.log2(max(self.delay_s / self.floor_s, 1.0))) if self.floor_s else 0
        return math.ceil(budget_s / self.delay_s) + 2 * steps + 4


def scale_from_environment() -> float:
    """``$VIVR_TIME_SCALE`` (default 1): how much faster than AWS resources settle."""
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not 0 < scale <= 1:
        raise ConfigError(f"{SCALE_VARIABLE}={raw!r}: expected a number in (0, 1], the "
                          "sandbox's --time-scale (1 on AWS)")
    return scale


__all__ = ["FLOOR_S", "SCALE_VARIABLE", "SHARE", "WaitSchedule", "scale_from_environment"]
