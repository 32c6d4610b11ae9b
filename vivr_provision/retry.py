"""Step-level retries for the AWS conditions botocore does not retry.

botocore's standard/adaptive modes already retry throttling, 5xx and
connection errors inside each call.  What remains are *semantic* transient
errors: eventual consistency right after a create (``InvalidVpcID.NotFound``),
dependencies still draining on delete (``DependencyViolation``), IAM roles not
yet assumable.  Each call site declares which codes it tolerates, for how
long, and why; every retry is logged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog
import tenacity

from vivr_provision.aws import error_code, error_text

P = ParamSpec("P")
T = TypeVar("T")

log = structlog.get_logger("vivr.retry")


@dataclass(frozen=True)
class RetryPolicy:
    """Which AWS error codes to retry, within what deadline, and why."""

    codes: frozenset[str]
    reason: str
    deadline_s: float = 300.0
    max_attempts: int = 30
    initial_s: float = 1.0
    max_wait_s: float = 30.0

    def matches(self, exc: BaseException) -> bool:
        code = error_code(exc)
        return code is not None and code in self.codes

    def retrying(self, operation: str) -> tenacity.Retrying:
        """A tenacity controller: full-jitter exponential backoff, bounded in time and tries."""

        def _log(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "retrying",
                operation=operation,
                attempt=state.attempt_number,
                error=error_text(exc) if exc else None,
                reason=self.reason,
                sleep_s=round(state.next_action.sleep, 2) if state.next_action else None,
            )

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(self.matches),
            wait=tenacity.wait_random_exponential(multiplier=self.initial_s, max=self.max_wait_s),
            stop=tenacity.stop_after_delay(self.deadline_s)
            | tenacity.stop_after_attempt(self.max_attempts),
            before_sleep=_log,
            reraise=True,
        )

    def call(self, operation: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``func`` under this policy."""
        return self.retrying(operation)(func, *args, **kwargs)


def policy(codes: Iterable[str], reason: str, **kwargs: Any) -> RetryPolicy:
    return RetryPolicy(frozenset(codes), reason, **kwargs)


def retry_on(
    codes: Iterable[str], reason: str, **kwargs: Any
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of :class:`RetryPolicy` for thin one-call wrappers."""
    rule = policy(codes, reason, **kwargs)

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kw: P.kwargs) -> T:
            return rule.retrying(func.__name__)(func, *args, **kw)

        return wrapper

    return decorate


# Shared policies, named for the condition they absorb.
READ_AFTER_CREATE = policy(
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidNatGatewayID.NotFound",
    },
    "EC2 is eventually consistent: a resource just created may not be visible yet",
    deadline_s=120,
)
DEPENDENCY_DRAINING = policy(
    {"DependencyViolation", "InvalidIPAddress.InUse"},
    "dependent ENIs, addresses or rules are still being released",
    deadline_s=900,
    max_attempts=60,
)
