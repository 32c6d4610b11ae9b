"""The distribution's drift table: each managed part of its DistributionConfig as a row.

Every row reads its part by one view from both sides, the config
GetDistributionConfig returns and the one this tool sends
(:func:`~vivr_provision.steps.cloudfront.common.config_row`), so only a
real difference counts: AWS omits empty ``Items`` and unset ids, spells
defaults out or not, and keeps method lists in no particular order.
Nested parts (an origin, a cache behaviour, logging, the certificate, the
geo restriction) are ``document`` rows, one change per differing setting,
named by its path (``CacheBehaviors[/api/*].Compress``); a row per
configured origin and behaviour, as the config names them.  Behaviour
precedence and the set of origins are rows of their own.  Every row but
the tags converges in one ``UpdateDistribution`` (the step's
``write_config``).

Origin custom headers carry a secret (X-Origin-Verify): a header value is
seen only as a :class:`HeaderValue`, a sentence compared by the value's
SHA-256, so plan says "X-Origin-Verify value differs" and never shows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vivr_provision.steps.cloudfront.common import config_row, digest, items_of
from vivr_provision.steps.diffing import Exact
from vivr_provision.steps.drift import TAGS, UNREPORTED, Field

#: How plan shows our header value: the value itself never leaves Secrets Manager's reply.
KEPT_VALUE = "the value kept in Secrets Manager"


class HeaderValue(str):
    """An origin header value as plan shows it: a sentence, never the value.

    Two compare equal when the values' digests do (:func:`digest`), so the
    drift engine compares secrets without holding one.
    """

    digest: str

    def __new__(cls, shown: str, value_digest: str) -> HeaderValue:
        value = super().__new__(cls, shown)
        value.digest = value_digest
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderValue) and other.digest == self.digest

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.digest)

    def __reduce__(self) -> tuple[Any, ...]:
        return HeaderValue, (str(self), self.digest)


@dataclass(frozen=True)
class Wanted:
    """What the table compares AWS's distribution with, built once per comparison
    (building the config reads the header secrets: never log it)."""

    config: Mapping[str, Any]
    wanted_tags: Mapping[str, str]

    def desired_config(self) -> Mapping[str, Any]:
        return self.config

    def tags(self) -> dict[str, str]:
        return dict(self.wanted_tags)


# --------------------------------------------------------------------------- views
#
# Each takes one DistributionConfig (AWS's, with header values already
# replaced by digests, or ours) and returns a part in comparable form.


def _headers(origin: Mapping[str, Any]) -> Exact:
    """Header name -> :class:`HeaderValue`; an extra header in AWS is drift too.

    AWS's side was sanitised when read (``HeaderValueDigest``); ours carries
    the value, which is digested here and dropped.
    """
    shown: dict[str, Any] = {}
    for header in items_of(origin.get("CustomHeaders")):
        name = header["HeaderName"]
        if "HeaderValue" in header:
            shown[name] = HeaderValue(KEPT_VALUE, digest(str(header["HeaderValue"])))
        else:
            shown[name] = HeaderValue(f"{name} value differs",
                                      str(header.get("HeaderValueDigest") or digest("")))
    return Exact(shown)


def _custom_origin(custom: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if custom is None:
        return None
    return {"HTTPPort": custom.get("HTTPPort"), "HTTPSPort": custom.get("HTTPSPort"),
            "OriginProtocolPolicy": custom.get("OriginProtocolPolicy"),
            "OriginSslProtocols": sorted(items_of(custom.get("OriginSslProtocols"))),
            # AWS's defaults when omitted (CloudFront API reference, CustomOriginConfig).
            "OriginReadTimeout": custom.get("OriginReadTimeout", 30),
            "OriginKeepaliveTimeout": custom.get("OriginKeepaliveTimeout", 5)}


def origin_view(origin: Mapping[str, Any]) -> dict[str, Any]:
    shield = origin.get("OriginShield") or {}
    s3 = origin.get("S3OriginConfig")
    return {
        "CustomHeaders": _headers(origin),
        "CustomOriginConfig": _custom_origin(origin.get("CustomOriginConfig")),
        "DomainName": origin.get("DomainName"),
        "OriginAccessControlId": origin.get("OriginAccessControlId") or "",
        "OriginPath": origin.get("OriginPath") or "",
        "OriginShield": (shield.get("OriginShieldRegion") or "enabled"
                         if shield.get("Enabled") else "disabled"),
        "S3OriginAccessIdentity": None if s3 is None else s3.get("OriginAccessIdentity") or "",
    }


def _associations(container: Mapping[str, Any] | None) -> list[str]:
    return sorted(json.dumps(a, sort_keys=True, default=str) for a in items_of(container))


def behaviour_view(behaviour: Mapping[str, Any]) -> dict[str, Any]:
    """A cache behaviour; ids AWS returns as "" when unset are "" on both sides."""
    methods = behaviour.get("AllowedMethods") or {}
    return {
        "AllowedMethods": sorted(items_of(methods)),
        "CachePolicyId": behaviour.get("CachePolicyId") or "",
        "CachedMethods": sorted(items_of(methods.get("CachedMethods"))),
        "Compress": bool(behaviour.get("Compress")),
        "FieldLevelEncryptionId": behaviour.get("FieldLevelEncryptionId") or "",
        "FunctionAssociations": _associations(behaviour.get("FunctionAssociations")),
        "LambdaFunctionAssociations": _associations(behaviour.get("LambdaFunctionAssociations")),
        "OriginRequestPolicyId": behaviour.get("OriginRequestPolicyId") or "",
        "RealtimeLogConfigArn": behaviour.get("RealtimeLogConfigArn") or "",
        "ResponseHeadersPolicyId": behaviour.get("ResponseHeadersPolicyId") or "",
        "SmoothStreaming": bool(behaviour.get("SmoothStreaming")),
        "TargetOriginId": behaviour.get("TargetOriginId"),
        "TrustedKeyGroups": sorted(items_of(behaviour.get("TrustedKeyGroups"))),
        "TrustedSigners": sorted(items_of(behaviour.get("TrustedSigners"))),
        "ViewerProtocolPolicy": behaviour.get("ViewerProtocolPolicy"),
    }


def logging_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """Access logging; where and how matter only while it is enabled."""
    logging = config.get("Logging") or {}
    if not logging.get("Enabled"):
        return {"Enabled": False}
    return {"Enabled": True, "Bucket": logging.get("Bucket") or "",
            "Prefix": logging.get("Prefix") or "",
            "IncludeCookies": bool(logging.get("IncludeCookies"))}


def certificate_view(config: Mapping[str, Any]) -> dict[str, Any]:
    certificate = config.get("ViewerCertificate") or {}
    return {
        "CloudFrontDefaultCertificate": bool(certificate.get("CloudFrontDefaultCertificate")),
        "ACMCertificateArn": certificate.get("ACMCertificateArn") or "",
        "SSLSupportMethod": certificate.get("SSLSupportMethod") or "",
        "MinimumProtocolVersion": certificate.get("MinimumProtocolVersion") or "",
    }


def geo_view(config: Mapping[str, Any]) -> dict[str, Any]:
    geo = (config.get("Restrictions") or {}).get("GeoRestriction") or {}
    return {"RestrictionType": geo.get("RestrictionType") or "none",
            "Locations": sorted(items_of(geo))}


def _origin(origin_id: str) -> Callable[[Mapping[str, Any]], Any]:
    """The view of one origin; UNREPORTED where AWS lacks it (the ``Origins`` row says so)."""
    def view(config: Mapping[str, Any]) -> Any:
        found = [o for o in items_of(config.get("Origins")) if o.get("Id") == origin_id]
        return origin_view(found[0]) if found else UNREPORTED
    return view


def _behaviour(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """The view of one ordered behaviour; UNREPORTED where AWS lacks it."""
    def view(config: Mapping[str, Any]) -> Any:
        found = [b for b in items_of(config.get("CacheBehaviors"))
                 if b.get("PathPattern") == path]
        return behaviour_view(found[0]) if found else UNREPORTED
    return view


def distribution_fields(origin_ids: Sequence[str], paths: Sequence[str]) -> tuple[Field, ...]:
    """The table for a distribution with these origins and ordered behaviours (config order)."""
    return (
        TAGS,
        config_row("Comment", lambda c: c.get("Comment"), compare="defaulted", default=""),
        config_row("Enabled", lambda c: bool(c.get("Enabled"))),
        config_row("Aliases", lambda c: sorted(str(a).lower()
                                               for a in items_of(c.get("Aliases")))),
        config_row("DefaultRootObject", lambda c: c.get("DefaultRootObject"),
                   compare="defaulted", default=""),
        # CloudFront's defaults (API reference, DistributionConfig).
        config_row("PriceClass", lambda c: c.get("PriceClass"), compare="defaulted",
                   default="PriceClass_All"),
        config_row("HttpVersion", lambda c: c.get("HttpVersion"), compare="defaulted",
                   default="http2"),
        config_row("IsIPV6Enabled", lambda c: c.get("IsIPV6Enabled"), compare="defaulted",
                   default=False),
        config_row("WebACLId", lambda c: c.get("WebACLId"), compare="defaulted", default=""),
        config_row("Logging", logging_view, compare="document"),
        config_row("ViewerCertificate", certificate_view, compare="document"),
        config_row("GeoRestriction", geo_view, compare="document"),
        config_row("Origins", lambda c: sorted(o["Id"] for o in items_of(c.get("Origins")))),
        *(config_row(f"Origins[{origin_id}]", _origin(origin_id), compare="document")
          for origin_id in sorted(origin_ids)),
        config_row("DefaultCacheBehavior",
                   lambda c: behaviour_view(c.get("DefaultCacheBehavior") or {}),
                   compare="document"),
        config_row("CacheBehaviors (precedence)",
                   lambda c: [b.get("PathPattern") for b in items_of(c.get("CacheBehaviors"))]),
        *(config_row(f"CacheBehaviors[{path}]", _behaviour(path), compare="document")
          for path in paths),
    )


__all__ = ["KEPT_VALUE", "HeaderValue", "Wanted", "behaviour_view", "distribution_fields",
           "origin_view"]
