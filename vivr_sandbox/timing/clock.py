"""When each timed resource leaves its transitional state: phases, holds and the active profile.

A *phase* is attached to a moto model object when the resource is created,
modified or deleted through a timed sandbox: until its end, the attributes
it names (``status``, ``state``, ``running_count`` ...) read as AWS's
transitional values (:mod:`vivr_sandbox.timing.attributes`).  A *hold*
keeps a deleted resource in moto's store (listed as ``deleting``) until the
delete's scaled duration has passed, then removes it.

Which profile applies is per request, not per process: the sandbox app sets
:data:`ACTIVE` while it serves a request, so a timed sandbox and the plain
one can share moto's (process-wide) backends, as the test suite does; a
request of a plain sandbox records nothing, and a resource without a phase
reads exactly as moto stores it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from vivr_sandbox.timing.profile import Operation, Profile
from vivr_sandbox.timing.throttling import TokenBuckets

#: Attribute names under which phases and holds are kept on moto's objects.
PHASE_ATTRIBUTE = "_vivr_phase"
HOLD_ATTRIBUTE = "_vivr_hold"

#: An override: a fixed value, or ``f(obj, stored)`` computing it from what moto stores.
Override = Any


@dataclass(frozen=True)
class Phase:
    """One timed transition of one resource."""

    kind: str
    operation: Operation
    until: float
    #: attribute name -> value (or ``f(obj, stored) -> value``) while the phase lasts.
    overrides: Mapping[str, Override] = field(default_factory=dict)
    #: The clock ``until`` is read on (the timing's).
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def active(self) -> bool:
        return self.clock() < self.until


@dataclass(frozen=True)
class Hold:
    """A deleted resource kept visible until ``until``; ``release`` then removes it."""

    account: str
    until: float
    release: Callable[[], None]


class Timing:
    """A profile at a time scale, the holds of the resources it is deleting, and the
    API's pace (latency, token buckets) when the profile has one.

    ``scale`` multiplies every resource figure: 1.0 is AWS's own pace, 0.0005
    turns a 15-minute RDS create into 0.45 s.  Latency and buckets are not
    scaled (:mod:`vivr_sandbox.timing.throttling`).  ``clock`` is what phases
    and holds are measured on: the monotonic clock, or in tests a virtual one
    that advances per request, so that what a test sees does not depend on
    how loaded the machine is.
    """

    def __init__(self, profile: Profile, scale: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not scale > 0:
            raise ValueError(f"the time scale must be positive, not {scale}")
        self.profile = profile
        self.scale = scale
        self.clock = clock
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        api = profile.api
        #: Seconds added to every request (0: none).
        self.latency_s = api.latency.milliseconds / 1000 if api and api.latency else 0.0
        #: AWS's request rate limits (None: nothing is throttled).
        self.buckets = TokenBuckets(api) if api and api.throttling else None

    def admits(self, account: str, region: str | None, service: str | None, operation: str,
               mutating: bool) -> bool:
        """Wait the request's latency; False if AWS would throttle it (answer it so)."""
        if self.latency_s:
            time.sleep(self.latency_s)
        return self.buckets is None or self.buckets.take(account, region, service, operation,
                                                         mutating)

    def seconds(self, kind: str, operation: Operation) -> float | None:
        """The scaled duration, or None when the profile does not time it."""
        figure = self.profile.seconds(kind, operation)
        return None if figure is None else figure * self.scale

    def hold(self, account: str, seconds: float, release: Callable[[], None]) -> None:
        with self._lock:
            self._holds.append(Hold(account, self.clock() + seconds, release))

    def release_due(self, account: str) -> None:
        """Remove the held resources of ``account`` whose delete has finished.

        Called by the sandbox app under the account's lock, before it serves
        the account's next request (moto's backends are not thread-safe).
        """
        now = self.clock()
        with self._lock:
            due = [h for h in self._holds if h.account == account and h.until <= now]
            self._holds = [h for h in self._holds if h not in due]
        for hold in due:
            hold.release()


#: The timing of the sandbox serving the current request (None: a plain sandbox).
ACTIVE: ContextVar[Timing | None] = ContextVar("vivr_sandbox_timing", default=None)


def phase_of(obj: object) -> Phase | None:
    """The phase attached to a moto object, active or not."""
    phase: Phase | None = getattr(obj, "__dict__", {}).get(PHASE_ATTRIBUTE)
    return phase


def active_phase(obj: object) -> Phase | None:
    """The phase of ``obj`` if it has not ended yet."""
    phase = phase_of(obj)
    return phase if phase is not None and phase.active() else None


def begin(obj: object, kind: str, operation: Operation,
          overrides: Mapping[str, Override]) -> Phase | None:
    """Start a phase on ``obj`` if the current request's profile times ``kind.operation``.

    Returns the phase, or None when the sandbox is not timed or the profile
    leaves the operation instant (then nothing changes on the object).
    """
    timing = ACTIVE.get()
    seconds = timing.seconds(kind, operation) if timing is not None else None
    if timing is None or seconds is None:
        return None
    phase = Phase(kind, operation, timing.clock() + seconds, dict(overrides), timing.clock)
    vars(obj)[PHASE_ATTRIBUTE] = phase
    return phase


def forget(obj: object) -> None:
    """Drop a phase copied from another object (moto builds replicas by ``copy.copy``)."""
    vars(obj).pop(PHASE_ATTRIBUTE, None)


def hold_deleted(obj: object, account: str, kind: str, release: Callable[[], None]) -> bool:
    """Keep a deleted ``obj`` listed for the profile's delete duration, then ``release`` it.

    Returns False (nothing held: the caller removes it now) when the sandbox
    is not timed or the profile leaves the delete instant.
    """
    timing = ACTIVE.get()
    seconds = timing.seconds(kind, "delete") if timing is not None else None
    if timing is None or seconds is None:
        return False
    vars(obj)[HOLD_ATTRIBUTE] = True
    timing.hold(account, seconds, release)
    return True


def held(obj: object) -> bool:
    """Whether ``obj`` is a deleted resource a timed sandbox still lists."""
    return bool(getattr(obj, "__dict__", {}).get(HOLD_ATTRIBUTE))


__all__ = ["ACTIVE", "Hold", "Phase", "Timing", "active_phase", "begin", "forget", "held",
           "hold_deleted", "phase_of"]
