"""Which origin-verify value the distribution should send while the secret rotates.

The rotation function (:mod:`vivr_provision.rotation.origin_verify`) switches
CloudFront to ``AWSPENDING`` once every ALB rule accepts it, and makes that
version ``AWSCURRENT`` only after the distribution is deployed.  In between,
CloudFront rightly sends a value that is not yet current: the distribution
step keeps it (its drift is none, a write keeps it) instead of reverting the
header halfway through a rotation.  After the rotation, current and sent
agree again, so a re-apply has nothing to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.steps.base import StepContext
from vivr_provision.steps.cloudfront.common import digest, items_of
from vivr_provision.steps.secret_versions import PENDING, other_versions
from vivr_provision.steps.secrets import read_secret_string

#: (origin id, lower-case header name) -> the SHA-256 digest of the value sent.
Sending = Mapping[tuple[str, str], str]


def sent_digests(config: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """What a DistributionConfig read from CloudFront sends in each origin header,
    as digests (a sanitised config carries ``HeaderValueDigest``, a raw one the value)."""
    sent: dict[tuple[str, str], str] = {}
    for origin in items_of(config.get("Origins")):
        for header in items_of(origin.get("CustomHeaders")):
            key = (str(origin.get("Id")), str(header["HeaderName"]).lower())
            if "HeaderValue" in header:
                sent[key] = digest(str(header["HeaderValue"]))
            elif header.get("HeaderValueDigest"):
                sent[key] = str(header["HeaderValueDigest"])
    return sent


def header_value(ctx: StepContext, secret_arn: str, sending: str | None) -> str:
    """The value to send: ``AWSCURRENT``, or ``AWSPENDING`` when a rotation under way
    already sends it (``sending``: the digest of what CloudFront sends now)."""
    value = read_secret_string(ctx, secret_arn)
    if sending is None or sending == digest(value):
        return value
    pending = other_versions(ctx, secret_arn, (PENDING,)).get(PENDING)
    return pending if pending is not None and digest(pending) == sending else value
