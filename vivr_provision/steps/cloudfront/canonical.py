"""A distribution config in a canonical form, so drift compares like with like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog

from vivr_provision.steps.base import Change
from vivr_provision.steps.cloudfront.common import (
    digest,
    items_of,
)

events = structlog.get_logger("vivr.cloudfront")

# --------------------------------------------------------------------------- canonical forms
#
# Both the desired config and what GetDistributionConfig returns go through
# these functions, so only a real difference shows up as drift: AWS omits
# empty Items, adds defaults, and returns "" for unset ids.


def _behaviour_shape(behaviour: Mapping[str, Any]) -> dict[str, Any]:
    methods = behaviour.get("AllowedMethods") or {}
    return {
        "TargetOriginId": behaviour.get("TargetOriginId"),
        "ViewerProtocolPolicy": behaviour.get("ViewerProtocolPolicy"),
        "AllowedMethods": sorted(items_of(methods)),
        "CachedMethods": sorted(items_of(methods.get("CachedMethods"))),
        "Compress": bool(behaviour.get("Compress")),
        "SmoothStreaming": bool(behaviour.get("SmoothStreaming")),
        "CachePolicyId": behaviour.get("CachePolicyId") or "",
        "OriginRequestPolicyId": behaviour.get("OriginRequestPolicyId") or "",
        "ResponseHeadersPolicyId": behaviour.get("ResponseHeadersPolicyId") or "",
        "FieldLevelEncryptionId": behaviour.get("FieldLevelEncryptionId") or "",
        "RealtimeLogConfigArn": behaviour.get("RealtimeLogConfigArn") or "",
        "LambdaFunctionAssociations": sorted(
            json.dumps(a, sort_keys=True, default=str)
            for a in items_of(behaviour.get("LambdaFunctionAssociations"))),
        "FunctionAssociations": sorted(
            json.dumps(a, sort_keys=True, default=str)
            for a in items_of(behaviour.get("FunctionAssociations"))),
        "TrustedSigners": sorted(items_of(behaviour.get("TrustedSigners"))),
        "TrustedKeyGroups": sorted(items_of(behaviour.get("TrustedKeyGroups"))),
    }


def _origin_shape(origin: Mapping[str, Any]) -> dict[str, Any]:
    custom = origin.get("CustomOriginConfig")
    shield = origin.get("OriginShield") or {}
    shape: dict[str, Any] = {
        "DomainName": origin.get("DomainName"),
        "OriginPath": origin.get("OriginPath") or "",
        "CustomHeaders": {
            h["HeaderName"]: h.get("HeaderValueDigest") or digest(str(h.get("HeaderValue", "")))
            for h in items_of(origin.get("CustomHeaders"))},
        "S3OriginAccessIdentity": (
            None if origin.get("S3OriginConfig") is None
            else origin["S3OriginConfig"].get("OriginAccessIdentity") or ""),
        "OriginAccessControlId": origin.get("OriginAccessControlId") or "",
        "OriginShield": (shield.get("OriginShieldRegion") or "enabled"
                         if shield.get("Enabled") else "disabled"),
        "CustomOriginConfig": None,
    }
    if custom is not None:
        shape["CustomOriginConfig"] = {
            "HTTPPort": custom.get("HTTPPort"), "HTTPSPort": custom.get("HTTPSPort"),
            "OriginProtocolPolicy": custom.get("OriginProtocolPolicy"),
            "OriginSslProtocols": sorted(items_of(custom.get("OriginSslProtocols"))),
            "OriginReadTimeout": custom.get("OriginReadTimeout", 30),
            "OriginKeepaliveTimeout": custom.get("OriginKeepaliveTimeout", 5),
        }
    return shape


def canonical_distribution(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting this tool manages, in a form where equal means equal.

    Custom header values appear only as digests (see :func:`digest`).
    """
    logging = config.get("Logging") or {}
    certificate = config.get("ViewerCertificate") or {}
    geo = (config.get("Restrictions") or {}).get("GeoRestriction") or {}
    return {
        "Comment": config.get("Comment") or "",
        "Enabled": bool(config.get("Enabled")),
        "Aliases": sorted(str(a).lower() for a in items_of(config.get("Aliases"))),
        "DefaultRootObject": config.get("DefaultRootObject") or "",
        "PriceClass": config.get("PriceClass") or "PriceClass_All",
        "HttpVersion": config.get("HttpVersion") or "http2",
        "IsIPV6Enabled": bool(config.get("IsIPV6Enabled")),
        "WebACLId": config.get("WebACLId") or "",
        "Logging": ({"Enabled": True, "Bucket": logging.get("Bucket") or "",
                     "Prefix": logging.get("Prefix") or "",
                     "IncludeCookies": bool(logging.get("IncludeCookies"))}
                    if logging.get("Enabled") else {"Enabled": False}),
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": bool(certificate.get("CloudFrontDefaultCertificate")),
            "ACMCertificateArn": certificate.get("ACMCertificateArn") or "",
            "SSLSupportMethod": certificate.get("SSLSupportMethod") or "",
            "MinimumProtocolVersion": certificate.get("MinimumProtocolVersion") or "",
        },
        "GeoRestriction": {"RestrictionType": geo.get("RestrictionType") or "none",
                           "Locations": sorted(items_of(geo))},
        "Origins": {o["Id"]: _origin_shape(o) for o in items_of(config.get("Origins"))},
        "DefaultCacheBehavior": _behaviour_shape(config.get("DefaultCacheBehavior") or {}),
        "CacheBehaviors": [(b.get("PathPattern"), _behaviour_shape(b))
                           for b in items_of(config.get("CacheBehaviors"))],
    }


def _field_changes(prefix: str, have: Mapping[str, Any],
                   want: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for key in sorted(set(have) | set(want)):
        current, desired = have.get(key), want.get(key)
        if current == desired:
            continue
        if key == "CustomHeaders":
            changes += _header_changes(prefix, current or {}, desired or {})
        else:
            changes.append(Change(f"{prefix}.{key}", current, desired))
    return changes


def _header_changes(prefix: str, have: Mapping[str, str],
                    want: Mapping[str, str]) -> list[Change]:
    """Header names as they are; a differing value only as "<name> value differs"."""
    if sorted(have) != sorted(want):
        return [Change(f"{prefix}.CustomHeaders", sorted(have), sorted(want))]
    return [Change(f"{prefix}.CustomHeaders[{name}]", f"{name} value differs",
                   "the value kept in Secrets Manager")
            for name in sorted(have) if have[name] != want[name]]


def distribution_changes(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[Change]:
    """Per-setting changes between two :func:`canonical_distribution` forms."""
    changes: list[Change] = []
    for key in ("Comment", "Enabled", "Aliases", "DefaultRootObject", "PriceClass",
                "HttpVersion", "IsIPV6Enabled", "WebACLId", "Logging", "ViewerCertificate",
                "GeoRestriction"):
        if have[key] != want[key]:
            changes.append(Change(key, have[key], want[key]))
    have_origins, want_origins = have["Origins"], want["Origins"]
    if sorted(have_origins) != sorted(want_origins):
        changes.append(Change("Origins", sorted(have_origins), sorted(want_origins)))
    for origin_id in sorted(set(have_origins) & set(want_origins)):
        changes += _field_changes(f"Origins[{origin_id}]", have_origins[origin_id],
                                  want_origins[origin_id])
    changes += _field_changes("DefaultCacheBehavior", have["DefaultCacheBehavior"],
                              want["DefaultCacheBehavior"])
    have_paths = [path for path, _ in have["CacheBehaviors"]]
    want_paths = [path for path, _ in want["CacheBehaviors"]]
    if have_paths != want_paths:
        changes.append(Change("CacheBehaviors (precedence)", have_paths, want_paths))
    have_behaviours = dict(have["CacheBehaviors"])
    for path, shape in want["CacheBehaviors"]:
        if path in have_behaviours:
            changes += _field_changes(f"CacheBehaviors[{path}]", have_behaviours[path], shape)
    return changes
