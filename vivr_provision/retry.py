"""Step-level retries for the AWS conditions botocore does not retry.

botocore's standard/adaptive modes already retry throttling, 5xx and
connection errors inside each call.  What remains are *semantic* transient
errors: eventual consistency right after a create (``InvalidVpcID.NotFound``),
dependencies still draining on delete (``DependencyViolation``), IAM roles not
yet assumable.  Each call site declares which codes it tolerates, for how
long, and why; every retry is logged (at ``-vv``: a retry that runs out
fails its step, and that failure is what is shown by default).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from vivr_provision.aws import error_code, error_text

if TYPE_CHECKING:
    import tenacity
from vivr_provision.log import get_logger

P = ParamSpec("P")
T = TypeVar("T")

log = get_logger("vivr.retry")


@dataclass(frozen=True)
class RetryPolicy:
    """Which AWS error codes to retry, within what deadline, and why."""

    codes: frozenset[str]
    reason: str
    deadline_s: float = 300.0
    max_attempts: int = 30
    initial_s: float = 1.0
    max_wait_s: float = 30.0
    #: When set, only errors whose message matches (case-insensitive) are retried:
    #: codes like InvalidParameterValue are transient only for one cause.
    message: str | None = None

    def matches(self, exc: BaseException) -> bool:
        code = error_code(exc)
        if code is None or code not in self.codes:
            return False
        if self.message is None:
            return True
        return re.search(self.message, error_text(exc), re.IGNORECASE) is not None

    def retrying(self, operation: str) -> tenacity.Retrying:
        """A tenacity controller: full-jitter exponential backoff, bounded in time and tries.

        tenacity is imported here, by the first call made under a policy: step
        modules declare their policies at import time, and the commands that
        make no AWS call should not load it (nor asyncio, which it imports).
        """
        import tenacity

        def _log(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.debug(
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


def until_found(operation: str, find: Callable[[], T | None], *, deadline_s: float = 120.0,
                initial_s: float = 0.5, max_wait_s: float = 10.0) -> T:
    """Call ``find`` until it returns something: read-after-create on APIs with no waiter.

    Raises RuntimeError naming ``operation`` when the deadline passes.
    """
    import tenacity  # see RetryPolicy.retrying

    def _log(state: tenacity.RetryCallState) -> None:
        log.debug("aws.poll", what=operation, attempt=state.attempt_number)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda found: found is None),
        wait=tenacity.wait_random_exponential(multiplier=initial_s, max=max_wait_s),
        stop=tenacity.stop_after_delay(deadline_s),
        before_sleep=_log,
        retry_error_callback=lambda state: None,
    )
    found = retrying(find)
    if found is None:
        raise RuntimeError(f"{operation}: not visible after {deadline_s:.0f}s")
    return found
