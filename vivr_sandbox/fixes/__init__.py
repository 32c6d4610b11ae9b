"""Compatibility fixes for moto 5.2.5, applied inside the sandbox server's own process.

The project rule (``/work/shared/notes/moto-5.2.5.md``): where a moto deviation
would make *correct* AWS code hang or fail in the local sandbox (a delete that
never completes, a waiter that can never succeed, an API that answers 500), the
sandbox may patch moto in-process.  The product's AWS code never learns it is
talking to an emulator: it keeps calling the real APIs and the real botocore
waiters.

The fixes live in one module per service (``vivr_sandbox/fixes/<service>.py``,
their ``FIXES`` lists); the catalogs AWS serves and moto lacks are in
:mod:`vivr_sandbox.catalog`, the public DNS view ACM validation needs in
:mod:`vivr_sandbox.dns`.  Every fix is a small wrapper or addition to moto's
own backend/response classes, following moto's patterns (backend methods hold the state, response
methods parse parameters and return an ``ActionResult`` that moto serialises
from the botocore service model).  Each fix's docstring says what moto 5.2.5
does, what AWS does, and why the fix is needed; its first paragraph is what
:func:`apply_moto_fixes` returns for logging.

moto is imported lazily (inside the fixes): the sandbox sets emulator
environment variables that moto reads at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vivr_sandbox import catalog, dns
from vivr_sandbox.fixes import (
    applicationautoscaling,
    awslambda,
    backup,
    cloudfront,
    cloudfront_fle,
    ec2_monitoring,
    ecs,
    elasticache,
    elbv2,
    iam,
    kms,
    logs,
    rds,
    rds_events,
    route53,
    s3,
    scheduler,
    secretsmanager,
    tagging,
    wafv2,
)

log = logging.getLogger(__name__)

#: The moto release these fixes were measured against (pinned in setup.cfg).
MOTO_VERSION = "5.2.5"

_lock = threading.Lock()
#: The lines of the fixes applied in this process (empty until the first call).
_applied: list[str] = []


def apply_moto_fixes() -> list[str]:
    """Patch moto in this process; return one line per fix.

    Idempotent: the first call patches, later calls return the same lines.
    Against any moto other than :data:`MOTO_VERSION` nothing is patched (the
    wrappers rely on 5.2.5 internals), and the single line returned says so.
    """
    with _lock:
        if not _applied:
            import moto

            if moto.__version__ != MOTO_VERSION:
                _applied.append(f"moto {moto.__version__} is not {MOTO_VERSION}: no "
                                "compatibility fixes applied (re-verify vivr_sandbox/fixes)")
            for fix in _FIXES if moto.__version__ == MOTO_VERSION else []:
                fix()
                _applied.append(_summary(fix))
            for line in _applied:
                log.debug("moto compat: %s", line)
        return list(_applied)


def _summary(fix: Callable[[], None]) -> str:
    """The first paragraph of the fix's docstring, on one line."""
    paragraph = (fix.__doc__ or fix.__name__).strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())


#: The fixes, in application order.
_FIXES: list[Callable[[], None]] = [
    *elasticache.FIXES,
    *rds.FIXES,
    *rds_events.FIXES,
    *ec2_monitoring.FIXES,
    *route53.FIXES,
    *s3.FIXES,
    *ecs.FIXES,
    *cloudfront.FIXES,
    *cloudfront_fle.FIXES,
    *catalog.FIXES,
    *logs.FIXES,
    *elbv2.FIXES,
    *wafv2.FIXES,
    *iam.FIXES,
    *kms.FIXES,
    *applicationautoscaling.FIXES,
    *backup.FIXES,
    *secretsmanager.FIXES,
    *awslambda.FIXES,
    *scheduler.FIXES,
    *tagging.FIXES,
    dns.fix_acm_validation_needs_delegation,
]
