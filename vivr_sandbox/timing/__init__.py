"""AWS's pace in the sandbox: resources pass through their transitional states for real durations.

``vivr-provision sandbox start --timing profiles/aws.yaml --time-scale F``
loads a profile (:mod:`~vivr_sandbox.timing.profile`: per resource kind, how
long create, modify and delete take on AWS, with sources) and installs the
hooks of this package: one module per service wraps moto's create, modify
and delete methods to start a *phase* on the resource
(:mod:`~vivr_sandbox.timing.clock`), and the attributes moto serialises
read as AWS's transitional values while it lasts
(:mod:`~vivr_sandbox.timing.attributes`).  So the tool's real botocore
waiters poll real states: ``creating``, ``modifying``, ``deleting``,
``pending``, ``provisioning``, ``InProgress``, ``PENDING_VALIDATION``, an
ECS deployment IN_PROGRESS.

The hooks go on top of the compatibility fixes (:mod:`vivr_sandbox.fixes`)
and do nothing for a request of an untimed sandbox, so the plain sandbox
(everything instant) is unchanged even in a process that also runs a timed
one.  The profile's optional ``api`` block adds per-request latency and AWS's
published token buckets (:mod:`~vivr_sandbox.timing.throttling`), applied by
the sandbox app before a request reaches moto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vivr_sandbox.timing import acm, cloudfront, ec2, ecs, elasticache, elbv2, rds
from vivr_sandbox.timing.clock import ACTIVE, Timing
from vivr_sandbox.timing.profile import Profile, ProfileError, load_profile

_lock = threading.Lock()
_installed: list[str] = []

#: The hooks, in application order (each wraps the fixes' wrappers, if any).
_HOOKS: list[Callable[[], None]] = [
    *rds.HOOKS,
    *elasticache.HOOKS,
    *cloudfront.HOOKS,
    *ec2.HOOKS,
    *elbv2.HOOKS,
    *acm.HOOKS,
    *ecs.HOOKS,
]


def install_timing() -> list[str]:
    """Patch moto in this process for timed sandboxes; one line per hook (idempotent).

    Call after :func:`vivr_sandbox.fixes.apply_moto_fixes`: the hooks wrap
    the fixed methods.
    """
    import moto

    from vivr_sandbox.fixes import MOTO_VERSION

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"timing profiles need moto {MOTO_VERSION} (the hooks wrap its "
                           f"internals), not {moto.__version__}")
    with _lock:
        if not _installed:
            for hook in _HOOKS:
                hook()
                _installed.append(" ".join((hook.__doc__ or hook.__name__).split()))
        return list(_installed)


__all__ = ["ACTIVE", "Profile", "ProfileError", "Timing", "install_timing", "load_profile"]
