"""The versions of a rotating secret beside ``AWSCURRENT``: what its consumers may hold.

A rotation (:mod:`vivr_provision.rotation.origin_verify`) stores the new
value as ``AWSPENDING``, makes the consumers accept or send it, then moves
``AWSCURRENT`` to it, and Secrets Manager labels the old one ``AWSPREVIOUS``.
While a rotation is under way, and after it, a consumer rightly holds one of
those values, and the steps that compare a consumer with the secret must
not call that drift, or a re-apply would undo the rotation halfway.

Read from metadata first (``DescribeSecret``'s ``VersionIdsToStages``), so a
secret that never rotated costs one call and no value is fetched; each
value read is registered for redaction at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from vivr_provision import log
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.common import absent_on
from vivr_provision.steps.kinds import SECRET

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"


def other_versions(ctx: StepContext, secret_arn: str,
                   stages: Sequence[str] = (PENDING, PREVIOUS),
                   region: str | None = None) -> dict[str, str]:
    """``stage -> value`` for each of ``stages`` on a version other than ``AWSCURRENT``'s.

    ``AWSPENDING`` on the current version (a finished rotation) counts as
    none, and so does a version without a value yet (the one Secrets
    Manager makes when a rotation starts, before ``createSecret`` fills it).
    """
    sm = ctx.client("secretsmanager", region)
    described = absent_on(SECRET.not_found, sm.describe_secret, SecretId=secret_arn) or {}
    labels = described.get("VersionIdsToStages") or {}
    current = next((version for version, names in labels.items() if CURRENT in names), None)
    values: dict[str, str] = {}
    for stage in stages:
        version = next((v for v, names in labels.items() if stage in names and v != current),
                       None)
        if version is None:
            continue
        reply = absent_on(SECRET.not_found, sm.get_secret_value, SecretId=secret_arn,
                          VersionId=version, VersionStage=stage)
        if reply is None or "SecretString" not in reply:
            continue
        value = str(reply["SecretString"])
        log.register_secret(value)
        values[stage] = value
    return values
