"""Client-side call budgets: AWS's documented token buckets, slowed further when AWS throttles.

Why on the client: AWS throttles per account (and region) with token
buckets per API category, and a wide parallel apply can empty one in a
second: botocore then retries with backoff, but a run that keeps hitting
the bucket spends its attempts and fails.  So every request first takes a
token from the buckets its operation draws on (:mod:`vivr_provision.api_budgets`
says which, from AWS's documentation), and when AWS still answers
"throttled" (other tools share the account's budget) those buckets halve
their rate and climb back linearly: additive increase, multiplicative
decrease, as TCP does and as botocore's own ``adaptive`` retry mode does
per client (which knows nothing of AWS's categories).

Every bucket's rate is also capped by ``aws.max_calls_per_second``, so an
operator who shares the account with other automation can lower them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from vivr_provision import api_budgets
from vivr_provision.api_budgets import Budget

#: How long a halved bucket takes to climb back to its full rate.
RECOVERY_SECONDS = 30.0
#: No bucket slows below this, however often AWS throttles (calls per second).
FLOOR_RATE = 0.2


class RateLimiter:
    """A token bucket: at most ``rate`` calls per second, bursts up to ``burst``.

    :meth:`throttled` halves the rate (never below :data:`FLOOR_RATE`) and
    empties the bucket; the rate then climbs back to its nominal value over
    :data:`RECOVERY_SECONDS`.  ``clock`` and ``sleep`` are injectable so the
    arithmetic is tested without waiting.
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.nominal = rate
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()
        self.throttles = 0

    def _advance(self, now: float) -> None:
        """Refill for the time since the last call and let a slowed rate recover."""
        elapsed = max(0.0, now - self._stamp)
        if self.rate < self.nominal:
            self.rate = min(self.nominal, self.rate + elapsed * self.nominal / RECOVERY_SECONDS)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._stamp = now

    def acquire(self) -> float:
        """Take one token, sleeping if the bucket is empty; returns the seconds slept."""
        with self._lock:
            self._advance(self._clock())
            self._tokens -= 1
            delay = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if delay:
            self._sleep(delay)
        return delay

    def throttled(self) -> None:
        """AWS said "slow down" for a call that drew on this bucket: halve the rate."""
        with self._lock:
            self._advance(self._clock())
            self.rate = max(min(FLOOR_RATE, self.nominal), self.rate / 2)
            self._tokens = min(self._tokens, 0.0)
            self.throttles += 1

    def before_send(self, **_: Any) -> None:
        """botocore ``before-send`` handler: returning None lets the request go out."""
        self.acquire()


class CallBudgets:
    """The buckets of one run, shared by every client and thread.

    A bucket is keyed by service, its scope (the region, or ``global`` for
    the account-wide budgets of global services) and its name; each
    operation's list of buckets is resolved once.
    """

    def __init__(self, max_calls_per_second: float, *, documented: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cap = max_calls_per_second
        #: False: one flat bucket per service and region (an endpoint that is not
        #: AWS, whose budgets the table does not describe).
        self.documented = documented
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], RateLimiter] = {}
        self._routes: dict[tuple[str, str, str], tuple[RateLimiter, ...]] = {}

    def _bucket(self, service: str, region: str, operation: str, budget: Budget) -> RateLimiter:
        scope = "global" if budget.scope == "global" else region
        name = f"{budget.name}:{operation}" if budget.per_operation else budget.name
        key = (service, scope, name)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = min(budget.rate, self.cap)
            burst = min(budget.burst, max(1.0, 2 * self.cap))
            bucket = RateLimiter(rate, burst, clock=self._clock, sleep=self._sleep)
            self._buckets[key] = bucket
        return bucket

    def buckets(self, service: str, region: str, operation: str) -> tuple[RateLimiter, ...]:
        """The buckets a call of ``operation`` takes a token from (at least one)."""
        key = (service, region, operation)
        route = self._routes.get(key)
        if route is None:
            with self._lock:
                budgets = (api_budgets.budgets_for(service, operation, self.cap)
                           if self.documented else [api_budgets.flat(self.cap)])
                route = tuple(self._bucket(service, region, operation, budget)
                              for budget in budgets)
                self._routes[key] = route
        return route

    def acquire(self, service: str, region: str, operation: str) -> float:
        """Take a token from each of the call's buckets; the seconds slept in all."""
        return sum(bucket.acquire() for bucket in self.buckets(service, region, operation))

    def throttled(self, service: str, region: str, operation: str) -> None:
        for bucket in self.buckets(service, region, operation):
            bucket.throttled()

    def throttle_counts(self) -> dict[str, int]:
        """How often AWS throttled per service this run (only services that did)."""
        counts: dict[str, int] = {}
        with self._lock:
            for (service, _, _), bucket in self._buckets.items():
                if bucket.throttles:
                    counts[service] = counts.get(service, 0) + bucket.throttles
        return dict(sorted(counts.items()))
