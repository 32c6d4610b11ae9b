"""CloudFront: the ``vivr-cdn`` distribution, its origin access control and custom policies.

Steps (spec "Caching & CDN / CloudFront CDN"):

* ``cloudfront-cache-policy.<name>`` / ``cloudfront-origin-request-policy.<name>``:
  the config's custom policies (the spec's 1-year and 30-day TTLs on top of
  CachingOptimized's key settings, and "S3-simple").  AWS-managed policies
  (``Managed-*``) are not created: behaviours reference AWS's published,
  fixed IDs (:data:`MANAGED_CACHE_POLICY_IDS` ...).
* ``cloudfront-oac``: an origin access control (always sign, SigV4) through
  which the distribution reads the assets bucket.  The spec says OAI; OAC is
  AWS's successor to OAI and what the assets bucket policy (``s3.py``,
  "cloudfront-oai": the CloudFront service principal limited to this
  account's distributions) is written for.
* ``cloudfront``: the distribution.

Identity.  Policies and origin access controls have names unique per
account but take no tags, so they are found by name and adopted only when
their comment/description carries this stack's ownership note
(``[vivr-provision <project>/<environment>]``).  The distribution carries our
tags (``CreateDistributionWithTags`` tags it atomically) and its Comment is
the configured name; it is found by the id in state, else by Comment + tags,
and its ``CallerReference`` is the engine's deterministic token, so a create
repeated after a crash is answered with the first distribution
(``DistributionAlreadyExists`` names it) instead of a second one.

Drift.  The whole DistributionConfig is compared, both sides reduced to the
same canonical form (:func:`canonical_distribution`): lists sorted where
order means nothing (aliases, methods, origins by id) and kept where it does
(behaviour precedence), AWS's defaults spelled out on our side.  Origin
custom headers carry a secret (X-Origin-Verify): CloudFront returns header
values in GetDistributionConfig, so the value is replaced by its SHA-256 the
moment it is read, never kept in the step's data, and a difference is
reported as "X-Origin-Verify value differs".  State, outputs, reports and
logs never see it.  Drift is converged with one ``UpdateDistribution``
carrying the whole desired config (``IfMatch`` = the ETag just read; settings
this tool does not manage, such as origin groups or custom error responses,
are passed through), then ``distribution_deployed`` is awaited.

Teardown.  AWS deletes only a disabled, deployed distribution: destroy
disables it (``IfMatch``), waits for ``Deployed`` (40+ minutes allowed), then
deletes with the new ETag, retrying ``DistributionNotDisabled`` for a while.
The WAF ACL, certificate, policies and OAC it references are deleted after
it by the reversed graph.

Not implemented: **field-level encryption** (spec "Enabled for sensitive
data").  It needs an RSA key pair, a public key, an FLE profile and an FLE
config, the private key kept in Secrets Manager, and the application to
decrypt the fields; the local emulator implements none of the FLE APIs.
The config section is validated but not applied; create and update log a
warning (``cloudfront.field_level_encryption.not_implemented``) when it is
enabled.  Viewer TTL bounds (``viewer_settings``) are enforced on the custom
cache policies by config validation; behaviours carry cache policies, so no
legacy per-behaviour TTLs are sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from botocore.exceptions import ClientError

from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import (
    AlbOriginConfig,
    BehaviourConfig,
    CachePolicyConfig,
    CustomOriginConfig,
    OriginRequestPolicyConfig,
    S3OriginConfig,
)
from vivr_provision.retry import policy
from vivr_provision.steps.base import MANAGED_BY, Change, Resource, Step, StepContext
from vivr_provision.steps.common import (
    ForeignResourceError,
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    tag_drift,
    tag_map,
)
from vivr_provision.steps.secrets import read_secret_string
from vivr_provision.steps.waf import WAF_STEP

events = structlog.get_logger("vivr.cloudfront")

#: CloudFront is global; its API endpoint (and its certificates) live in us-east-1.
CLOUDFRONT_REGION = "us-east-1"
#: The Route 53 hosted zone of every CloudFront domain (alias targets), fixed by AWS.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
DISTRIBUTION_STEP = "cloudfront"
OAC_STEP = "cloudfront-oac"
CACHE_POLICY_FAMILY = "cloudfront-cache-policy"
ORIGIN_REQUEST_POLICY_FAMILY = "cloudfront-origin-request-policy"

#: AWS-managed policies by name: published IDs, identical in every account.
MANAGED_CACHE_POLICY_IDS = {
    "Managed-Amplify": "2e54312d-136d-493c-8eb9-b001f22f67d2",
    "Managed-CachingDisabled": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
    "Managed-CachingOptimized": "658327ea-f89d-4fab-a63d-7e88639e58f6",
    "Managed-CachingOptimizedForUncompressedObjects": "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
    "Managed-Elemental-MediaPackage": "08627262-05a9-4f76-9ded-b50ca2e3a84f",
    "Managed-UseOriginCacheControlHeaders": "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
    "Managed-UseOriginCacheControlHeaders-QueryStrings": "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
}
MANAGED_ORIGIN_REQUEST_POLICY_IDS = {
    "Managed-AllViewer": "216adef6-5c7f-47e4-b989-5492eafa07d3",
    "Managed-AllViewerAndCloudFrontHeaders-2022-06": "33f36d7e-f396-46d9-90e0-52428a34d9dc",
    "Managed-AllViewerExceptHostHeader": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
    "Managed-CORS-CustomOrigin": "59781a5b-3903-41f3-afcb-af62929ccde1",
    "Managed-CORS-S3Origin": "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
    "Managed-Elemental-MediaTailor-PersonalizedManifests": "775133bc-15f2-49f9-abea-afb2e0bf67d2",
    "Managed-UserAgentRefererHeaders": "acba4595-bd28-49b8-b9fe-13317c0390fa",
}
MANAGED_RESPONSE_HEADERS_POLICY_IDS = {
    "Managed-CORS-and-SecurityHeadersPolicy": "e61eb60c-9c35-4d20-a928-2b84e02af89c",
    "Managed-CORS-With-Preflight": "5cc3b908-e619-4b99-88e5-2cf7f45965bd",
    "Managed-CORS-with-preflight-and-SecurityHeadersPolicy":
        "eaab4381-ed33-4a86-88ca-d9558dc6cd63",
    "Managed-SecurityHeadersPolicy": "67f7725c-6f97-4210-82d7-5512b31e9d03",
    "Managed-SimpleCORS": "60669652-455b-4ae9-85a4-c4c02393f86c",
}

NO_DISTRIBUTION = ("NoSuchDistribution",)
NO_OAC = ("NoSuchOriginAccessControl",)
#: Update/Delete carry the ETag of our last read; a change in between is refused.
STALE_ETAG = policy({"PreconditionFailed"},
                    "the resource changed since it was read; re-reading its ETag",
                    deadline_s=120, max_attempts=8, initial_s=0.5, max_wait_s=5.0)
#: A distribution disabled and deployed can still be refused for a short while.
NOT_YET_DISABLED = policy({"DistributionNotDisabled"},
                          "the disabled distribution has not finished deploying everywhere",
                          deadline_s=900, max_attempts=40, initial_s=5.0, max_wait_s=60.0)
#: A deleted distribution releases its policies and origin access control with a delay.
STILL_IN_USE = policy({"CachePolicyInUse", "OriginRequestPolicyInUse",
                       "OriginAccessControlInUse"},
                      "a distribution being deleted still references it",
                      deadline_s=900, max_attempts=40, initial_s=5.0, max_wait_s=60.0)
#: A certificate issued seconds ago may not be visible to CloudFront yet.
CERTIFICATE_SETTLING = policy({"InvalidViewerCertificate"},
                              "a freshly issued certificate is not visible to CloudFront yet",
                              deadline_s=180, initial_s=2.0)

#: Top-level DistributionConfig keys this tool sets; any other key is passed through.
MANAGED_KEYS = frozenset({
    "CallerReference", "Aliases", "DefaultRootObject", "Origins", "DefaultCacheBehavior",
    "CacheBehaviors", "Comment", "Logging", "PriceClass", "Enabled", "ViewerCertificate",
    "Restrictions", "WebACLId", "HttpVersion", "IsIPV6Enabled",
})


def _cloudfront(ctx: StepContext) -> Any:
    return ctx.client("cloudfront", CLOUDFRONT_REGION)


def _items(container: Mapping[str, Any] | None) -> list[Any]:
    """The ``Items`` of a ``{Quantity, Items}`` list (AWS omits Items when empty)."""
    return list((container or {}).get("Items") or [])


def _quantity(items: list[Any]) -> dict[str, Any]:
    """A ``{Quantity, Items}`` list in the shape CloudFront's API takes."""
    return {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def digest(value: str) -> str:
    """The SHA-256 of a secret header value: comparable, never the value itself."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def sanitized(config: Mapping[str, Any]) -> dict[str, Any]:
    """A DistributionConfig with every origin header value replaced by its digest.

    Applied to everything read from CloudFront before it is kept, so no
    secret header value stays in the step's data (GetDistributionConfig
    returns header values in clear).
    """
    clean = json.loads(json.dumps(config, default=str))
    for origin in _items(clean.get("Origins")):
        for header in _items(origin.get("CustomHeaders")):
            if "HeaderValue" in header:
                header["HeaderValueDigest"] = digest(str(header.pop("HeaderValue")))
    return dict(clean)


# --------------------------------------------------------------------------- ownership

def ownership_note(step: Step) -> str:
    """What an untaggable resource's comment carries to say it is ours."""
    return f"[{MANAGED_BY} {step.config.project}/{step.config.environment}]"


def with_note(text: str, step: Step, limit: int) -> str:
    """``text`` plus the ownership note, ``text`` shortened to fit ``limit`` characters."""
    note = ownership_note(step)
    room = max(0, limit - len(note) - 1)
    text = text[:room].rstrip()
    return f"{text} {note}" if text else note


def require_note(step: Step, what: str, text: str | None) -> None:
    """Refuse to adopt a same-named resource whose comment lacks our ownership note."""
    if ownership_note(step) not in (text or ""):
        raise ForeignResourceError(
            f"{step.name}: {what} already exists but was not created by {MANAGED_BY} for "
            f"{step.config.project}/{step.config.environment} (its comment lacks "
            f"{ownership_note(step)!r}); rename it in the config, delete it, or add the note "
            "to its comment to adopt it")


# --------------------------------------------------------------------------- policies

@dataclass(frozen=True)
class PolicyApi:
    """The CloudFront calls and error codes of one kind of policy."""

    noun: str                # "CachePolicy" / "OriginRequestPolicy"
    method: str              # "cache_policy" / "origin_request_policy"
    plural: str              # "cache_policies" / "origin_request_policies"

    @property
    def config_key(self) -> str:
        return f"{self.noun}Config"

    @property
    def not_found(self) -> tuple[str, ...]:
        return (f"NoSuch{self.noun}",)

    @property
    def exists(self) -> str:
        return f"{self.noun}AlreadyExists"


CACHE_POLICY_API = PolicyApi("CachePolicy", "cache_policy", "cache_policies")
ORIGIN_REQUEST_POLICY_API = PolicyApi("OriginRequestPolicy", "origin_request_policy",
                                      "origin_request_policies")
#: CloudFront's limit on a policy's Comment.
POLICY_COMMENT_LIMIT = 128


class PolicyStep(Step):
    """A custom cache or origin request policy, found by name (policies take no tags)."""

    service = "cloudfront"
    api: PolicyApi

    def __init__(self, config: PlatformConfig, policy_name: str) -> None:
        super().__init__(config, policy_name)
        self.policy_name = policy_name

    def resource_name(self) -> str:
        return self.policy_name

    @property
    def region(self) -> str:
        return CLOUDFRONT_REGION

    def call(self, ctx: StepContext, verb: str, **params: Any) -> Any:
        """``cloudfront.<verb>_<kind>(...)``, e.g. ``get`` -> ``get_cache_policy``."""
        name = f"{verb}_{self.api.plural if verb == 'list' else self.api.method}"
        return getattr(_cloudfront(ctx), name)(**params)

    def desired_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def canonical(config: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _get(self, ctx: StepContext, policy_id: str) -> Resource | None:
        reply = absent_on(self.api.not_found, self.call, ctx, "get", Id=policy_id)
        if reply is None:
            return None
        body = reply[self.api.noun]
        return Resource(body["Id"], {"Config": dict(body[self.api.config_key]),
                                     "ETag": reply.get("ETag")})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._get(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        params: dict[str, Any] = {"Type": "custom"}
        while True:
            listing = self.call(ctx, "list", **params)[f"{self.api.noun}List"]
            for item in _items(listing):
                body = item[self.api.noun]
                config = body[self.api.config_key]
                if config.get("Name") == self.policy_name:
                    require_note(self, f"{self.api.noun} {self.policy_name}",
                                 config.get("Comment"))
                    return self._get(ctx, body["Id"])
            marker = listing.get("NextMarker")
            if not marker:
                return None
            params["Marker"] = marker

    def create(self, ctx: StepContext, token: str) -> Resource:
        try:
            reply = self.call(ctx, "create", **{self.api.config_key: self.desired_config()})
        except ClientError as exc:
            if error_code(exc) != self.api.exists:
                raise
            adopted = self.find_by_tags(ctx)  # a crash right after our own create
            if adopted is None:
                raise
            changes = self.diff(ctx, adopted)
            return self.update(ctx, adopted, changes) if changes else adopted
        body = reply[self.api.noun]
        return Resource(body["Id"], {"Config": dict(body[self.api.config_key]),
                                     "ETag": reply.get("ETag")})

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        have = self.canonical(resource.data["Config"])
        want = self.canonical(self.desired_config())
        return [Change(key, have.get(key), want[key]) for key in want
                if have.get(key) != want[key]]

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        def attempt() -> None:
            current = self._get(ctx, resource.id)
            if current is None:
                raise RuntimeError(f"{self.name}: {self.policy_name} disappeared during update")
            self.call(ctx, "update", Id=resource.id, IfMatch=current.data["ETag"],
                      **{self.api.config_key: self.desired_config()})

        STALE_ETAG.call(f"update {self.policy_name}", attempt)
        found = self._get(ctx, resource.id)
        assert found is not None, "a policy just updated is readable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete with the current ETag, once the distribution no longer uses it."""
        def attempt() -> None:
            current = self._get(ctx, resource.id)
            if current is not None:
                gone_on(self.api.not_found, self.call, ctx, "delete", Id=resource.id,
                        IfMatch=current.data["ETag"])

        STILL_IN_USE.call(f"delete {self.policy_name}", STALE_ETAG.call,
                          f"delete {self.policy_name}", attempt)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "policy_id": resource.id, "name": self.policy_name}


def _names_config(behaviour: str, names: list[str], key: str, plural: str) -> dict[str, Any]:
    """``{HeaderBehavior: whitelist, Headers: {Quantity, Items}}``-style settings."""
    config: dict[str, Any] = {key: behaviour}
    if names:
        config[plural] = _quantity(sorted(names))
    return config


class CachePolicyStep(PolicyStep):
    """A custom cache policy (TTLs, compression, what goes in the cache key)."""

    family = CACHE_POLICY_FAMILY
    api = CACHE_POLICY_API

    def __init__(self, config: PlatformConfig, settings: CachePolicyConfig) -> None:
        super().__init__(config, settings.name)
        self.settings = settings

    def desired_config(self) -> dict[str, Any]:
        s = self.settings
        headers = _names_config("whitelist" if s.headers else "none", s.headers,
                                "HeaderBehavior", "Headers")
        return {
            "Comment": with_note(s.comment, self, POLICY_COMMENT_LIMIT),
            "Name": s.name, "MinTTL": s.min_ttl, "DefaultTTL": s.default_ttl,
            "MaxTTL": s.max_ttl,
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": s.gzip,
                "EnableAcceptEncodingBrotli": s.brotli,
                "HeadersConfig": headers,
                "CookiesConfig": {"CookieBehavior": s.cookies},
                "QueryStringsConfig": {"QueryStringBehavior": s.query_strings},
            },
        }

    @staticmethod
    def canonical(config: Mapping[str, Any]) -> dict[str, Any]:
        key = config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
        headers = key.get("HeadersConfig") or {}
        return {
            "Name": config.get("Name"), "Comment": config.get("Comment") or "",
            "MinTTL": int(config.get("MinTTL") or 0),
            "DefaultTTL": int(config.get("DefaultTTL") or 0),
            "MaxTTL": int(config.get("MaxTTL") or 0),
            "Gzip": bool(key.get("EnableAcceptEncodingGzip")),
            "Brotli": bool(key.get("EnableAcceptEncodingBrotli")),
            "Headers": [headers.get("HeaderBehavior"), sorted(_items(headers.get("Headers")))],
            "Cookies": [(key.get("CookiesConfig") or {}).get("CookieBehavior"),
                        sorted(_items((key.get("CookiesConfig") or {}).get("Cookies")))],
            "QueryStrings": [
                (key.get("QueryStringsConfig") or {}).get("QueryStringBehavior"),
                sorted(_items((key.get("QueryStringsConfig") or {}).get("QueryStrings")))],
        }

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {**super().outputs(resource), "cache_policy_id": resource.id}


class OriginRequestPolicyStep(PolicyStep):
    """A custom origin request policy (what CloudFront forwards beyond the cache key)."""

    family = ORIGIN_REQUEST_POLICY_FAMILY
    api = ORIGIN_REQUEST_POLICY_API

    def __init__(self, config: PlatformConfig, settings: OriginRequestPolicyConfig) -> None:
        super().__init__(config, settings.name)
        self.settings = settings

    def desired_config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "Comment": with_note(s.comment, self, POLICY_COMMENT_LIMIT),
            "Name": s.name,
            "HeadersConfig": {"HeaderBehavior": s.headers},
            "CookiesConfig": {"CookieBehavior": s.cookies},
            "QueryStringsConfig": {"QueryStringBehavior": s.query_strings},
        }

    @staticmethod
    def canonical(config: Mapping[str, Any]) -> dict[str, Any]:
        def part(key: str, behaviour: str, names: str) -> list[Any]:
            block = config.get(key) or {}
            return [block.get(behaviour), sorted(_items(block.get(names)))]

        return {"Name": config.get("Name"), "Comment": config.get("Comment") or "",
                "Headers": part("HeadersConfig", "HeaderBehavior", "Headers"),
                "Cookies": part("CookiesConfig", "CookieBehavior", "Cookies"),
                "QueryStrings": part("QueryStringsConfig", "QueryStringBehavior",
                                     "QueryStrings")}

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {**super().outputs(resource), "origin_request_policy_id": resource.id}


# --------------------------------------------------------------------------- origin access control

#: CloudFront's limit on an origin access control's Description.
OAC_DESCRIPTION_LIMIT = 256


class OriginAccessControlStep(Step):
    """How the distribution signs its requests to the assets bucket (SigV4, always)."""

    family = OAC_STEP
    service = "cloudfront"

    def resource_name(self) -> str:
        return f"{self.config.cloudfront.name}-s3"

    @property
    def region(self) -> str:
        return CLOUDFRONT_REGION

    def desired_config(self) -> dict[str, str]:
        return {
            "Name": self.resource_name(),
            "Description": with_note(self.config.cloudfront.origin_access_identity_comment,
                                     self, OAC_DESCRIPTION_LIMIT),
            "SigningProtocol": "sigv4",
            "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3",
        }

    def _get(self, ctx: StepContext, control_id: str) -> Resource | None:
        reply = absent_on(NO_OAC, _cloudfront(ctx).get_origin_access_control, Id=control_id)
        if reply is None:
            return None
        body = reply["OriginAccessControl"]
        return Resource(body["Id"], {"Config": dict(body["OriginAccessControlConfig"]),
                                     "ETag": reply.get("ETag")})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._get(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        params: dict[str, Any] = {}
        while True:
            listing = _cloudfront(ctx).list_origin_access_controls(**params)[
                "OriginAccessControlList"]
            for summary in _items(listing):
                if summary.get("Name") == self.resource_name():
                    require_note(self, f"origin access control {self.resource_name()}",
                                 summary.get("Description"))
                    return self._get(ctx, summary["Id"])
            marker = listing.get("NextMarker")
            if not marker:
                return None
            params["Marker"] = marker

    def create(self, ctx: StepContext, token: str) -> Resource:
        try:
            reply = _cloudfront(ctx).create_origin_access_control(
                OriginAccessControlConfig=self.desired_config())
        except ClientError as exc:
            if error_code(exc) != "OriginAccessControlAlreadyExists":
                raise
            adopted = self.find_by_tags(ctx)
            if adopted is None:
                raise
            changes = self.diff(ctx, adopted)
            return self.update(ctx, adopted, changes) if changes else adopted
        body = reply["OriginAccessControl"]
        return Resource(body["Id"], {"Config": dict(body["OriginAccessControlConfig"]),
                                     "ETag": reply.get("ETag")})

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        have = resource.data["Config"]
        return [Change(key, have.get(key), want) for key, want in self.desired_config().items()
                if (have.get(key) or "") != want]

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        def attempt() -> None:
            current = self._get(ctx, resource.id)
            if current is None:
                raise RuntimeError(f"{self.name}: {self.resource_name()} disappeared")
            _cloudfront(ctx).update_origin_access_control(
                Id=resource.id, IfMatch=current.data["ETag"],
                OriginAccessControlConfig=self.desired_config())

        STALE_ETAG.call(f"update {self.resource_name()}", attempt)
        found = self._get(ctx, resource.id)
        assert found is not None, "an origin access control just updated is readable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        def attempt() -> None:
            current = self._get(ctx, resource.id)
            if current is not None:
                gone_on(NO_OAC, _cloudfront(ctx).delete_origin_access_control, Id=resource.id,
                        IfMatch=current.data["ETag"])

        STILL_IN_USE.call(f"delete {self.resource_name()}", STALE_ETAG.call,
                          f"delete {self.resource_name()}", attempt)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "origin_access_control_id": resource.id,
                "name": self.resource_name()}


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
        "AllowedMethods": sorted(_items(methods)),
        "CachedMethods": sorted(_items(methods.get("CachedMethods"))),
        "Compress": bool(behaviour.get("Compress")),
        "SmoothStreaming": bool(behaviour.get("SmoothStreaming")),
        "CachePolicyId": behaviour.get("CachePolicyId") or "",
        "OriginRequestPolicyId": behaviour.get("OriginRequestPolicyId") or "",
        "ResponseHeadersPolicyId": behaviour.get("ResponseHeadersPolicyId") or "",
        "FieldLevelEncryptionId": behaviour.get("FieldLevelEncryptionId") or "",
        "RealtimeLogConfigArn": behaviour.get("RealtimeLogConfigArn") or "",
        "LambdaFunctionAssociations": sorted(
            json.dumps(a, sort_keys=True, default=str)
            for a in _items(behaviour.get("LambdaFunctionAssociations"))),
        "FunctionAssociations": sorted(
            json.dumps(a, sort_keys=True, default=str)
            for a in _items(behaviour.get("FunctionAssociations"))),
        "TrustedSigners": sorted(_items(behaviour.get("TrustedSigners"))),
        "TrustedKeyGroups": sorted(_items(behaviour.get("TrustedKeyGroups"))),
    }


def _origin_shape(origin: Mapping[str, Any]) -> dict[str, Any]:
    custom = origin.get("CustomOriginConfig")
    shield = origin.get("OriginShield") or {}
    shape: dict[str, Any] = {
        "DomainName": origin.get("DomainName"),
        "OriginPath": origin.get("OriginPath") or "",
        "CustomHeaders": {
            h["HeaderName"]: h.get("HeaderValueDigest") or digest(str(h.get("HeaderValue", "")))
            for h in _items(origin.get("CustomHeaders"))},
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
            "OriginSslProtocols": sorted(_items(custom.get("OriginSslProtocols"))),
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
        "Aliases": sorted(str(a).lower() for a in _items(config.get("Aliases"))),
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
                           "Locations": sorted(_items(geo))},
        "Origins": {o["Id"]: _origin_shape(o) for o in _items(config.get("Origins"))},
        "DefaultCacheBehavior": _behaviour_shape(config.get("DefaultCacheBehavior") or {}),
        "CacheBehaviors": [(b.get("PathPattern"), _behaviour_shape(b))
                           for b in _items(config.get("CacheBehaviors"))],
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


# --------------------------------------------------------------------------- the distribution

class DistributionStep(Step):
    """``cloudfront.name`` (vivr-cdn): three origins, four behaviours, WAF, ACM, logging."""

    family = DISTRIBUTION_STEP
    service = "cloudfront"
    #: A distribution deploys to every edge location: typically 5-15 minutes.
    expected_seconds = 900.0
    #: DESIGN: CloudFront >= 40 minutes (botocore's waiter gives up after 35).
    wait_budget_s = 2700.0
    poll_s = 30.0

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config)
        self.cf = config.cloudfront

    def resource_name(self) -> str:
        return self.cf.name

    @property
    def region(self) -> str:
        return CLOUDFRONT_REGION

    # -- what it reads -----------------------------------------------------------
    def _header_secrets(self) -> list[str]:
        keys: list[str] = []
        for origin in self.cf.origins:
            if not isinstance(origin, S3OriginConfig):
                keys += [h.secret for h in origin.custom_headers]
        return sorted(set(keys))

    def depends_on(self) -> tuple[str, ...]:
        deps = {"acm", WAF_STEP}
        for origin in self.cf.origins:
            if isinstance(origin, AlbOriginConfig):
                deps.add("alb")
                # Not read, but ordered: the origin serves HTTPS on this
                # listener, and on destroy the distribution stops sending
                # traffic before the listener goes.
                listeners = {listener.port for listener in self.config.alb.listeners}
                if origin.https_port in listeners:
                    deps.add(f"alb-listener.{origin.https_port}")
            elif isinstance(origin, S3OriginConfig):
                deps.update({f"s3.{origin.bucket}", OAC_STEP})
        deps.update(f"secret.{key}" for key in self._header_secrets())
        if self.cf.logging.enabled:
            deps.add(f"s3.{self.cf.logging.bucket}")
        for behaviour in self.cf.behaviours:
            if behaviour.cache_policy not in MANAGED_CACHE_POLICY_IDS:
                deps.add(f"{CACHE_POLICY_FAMILY}.{behaviour.cache_policy}")
            request = behaviour.origin_request_policy
            if request is not None and request not in MANAGED_ORIGIN_REQUEST_POLICY_IDS:
                deps.add(f"{ORIGIN_REQUEST_POLICY_FAMILY}.{request}")
        return tuple(sorted(deps))

    # -- the desired DistributionConfig ----------------------------------------------
    def _headers(self, ctx: StepContext,
                 origin: AlbOriginConfig | CustomOriginConfig) -> dict[str, Any]:
        items = []
        for header in origin.custom_headers:
            value = read_secret_string(ctx, str(ctx.output(f"secret.{header.secret}", "arn")))
            items.append({"HeaderName": header.name, "HeaderValue": value})
        return _quantity(items)

    @staticmethod
    def _shield(region: str | None) -> dict[str, Any]:
        if region is None:
            return {"Enabled": False}
        return {"Enabled": True, "OriginShieldRegion": region}

    @staticmethod
    def _custom_origin(origin: AlbOriginConfig | CustomOriginConfig) -> dict[str, Any]:
        read, keepalive = 30, 5  # AWS's defaults, spelled out so reads compare equal
        if isinstance(origin, AlbOriginConfig):
            read, keepalive = origin.read_timeout_seconds, origin.keepalive_timeout_seconds
        return {"HTTPPort": origin.http_port, "HTTPSPort": origin.https_port,
                "OriginProtocolPolicy": origin.protocol_policy,
                "OriginSslProtocols": _quantity(list(origin.ssl_protocols)),
                "OriginReadTimeout": read, "OriginKeepaliveTimeout": keepalive}

    def origin(self, ctx: StepContext,
               origin: AlbOriginConfig | S3OriginConfig | CustomOriginConfig) -> dict[str, Any]:
        if isinstance(origin, S3OriginConfig):
            return {"Id": origin.id,
                    "DomainName": str(ctx.output(f"s3.{origin.bucket}", "regional_domain_name")),
                    "OriginPath": "", "CustomHeaders": {"Quantity": 0},
                    # OAC, not OAI: the identity stays empty, the control signs.
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                    "OriginAccessControlId": str(ctx.output(OAC_STEP,
                                                            "origin_access_control_id")),
                    "OriginShield": self._shield(origin.origin_shield_region)}
        domain = (str(ctx.output("alb", "dns_name")) if isinstance(origin, AlbOriginConfig)
                  else origin.domain_name)
        path = origin.origin_path if isinstance(origin, CustomOriginConfig) else ""
        return {"Id": origin.id, "DomainName": domain, "OriginPath": path,
                "CustomHeaders": self._headers(ctx, origin),
                "CustomOriginConfig": self._custom_origin(origin),
                "OriginShield": self._shield(origin.origin_shield_region)}

    def behaviour(self, ctx: StepContext, behaviour: BehaviourConfig) -> dict[str, Any]:
        shape: dict[str, Any] = {}
        if behaviour.path_pattern != "*":
            shape["PathPattern"] = behaviour.path_pattern
        shape.update({
            "TargetOriginId": behaviour.target_origin,
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
            "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},
            "ViewerProtocolPolicy": behaviour.viewer_protocol_policy,
            "AllowedMethods": {**_quantity(list(behaviour.allowed_methods)),
                               "CachedMethods": _quantity(list(behaviour.cached_methods))},
            "SmoothStreaming": False,
            "Compress": behaviour.compress,
            "LambdaFunctionAssociations": {"Quantity": 0},
            "FunctionAssociations": {"Quantity": 0},
            "FieldLevelEncryptionId": "",
            "CachePolicyId": self.cache_policy_id(ctx, behaviour.cache_policy),
        })
        if behaviour.origin_request_policy is not None:
            shape["OriginRequestPolicyId"] = self.origin_request_policy_id(
                ctx, behaviour.origin_request_policy)
        if behaviour.response_headers_policy is not None:
            # Config validation allows only AWS-managed response headers policies.
            shape["ResponseHeadersPolicyId"] = MANAGED_RESPONSE_HEADERS_POLICY_IDS[
                behaviour.response_headers_policy]
        return shape

    @staticmethod
    def cache_policy_id(ctx: StepContext, name: str) -> str:
        managed = MANAGED_CACHE_POLICY_IDS.get(name)
        return managed or str(ctx.output(f"{CACHE_POLICY_FAMILY}.{name}", "policy_id"))

    @staticmethod
    def origin_request_policy_id(ctx: StepContext, name: str) -> str:
        managed = MANAGED_ORIGIN_REQUEST_POLICY_IDS.get(name)
        return managed or str(ctx.output(f"{ORIGIN_REQUEST_POLICY_FAMILY}.{name}", "policy_id"))

    def _certificate_arn(self, ctx: StepContext) -> str:
        region = ctx.output("acm", "region")
        if region != CLOUDFRONT_REGION:
            raise RuntimeError(
                f"{self.name}: CloudFront takes certificates from {CLOUDFRONT_REGION} only; "
                f"the acm step's certificate is in {region}")
        return str(ctx.output("acm", "certificate_arn"))

    def desired_config(self, ctx: StepContext, caller_reference: str) -> dict[str, Any]:
        """The complete DistributionConfig (contains secret header values: never log it)."""
        cf = self.cf
        logging = cf.logging
        geo = cf.geo_restriction
        return {
            "CallerReference": caller_reference,
            "Aliases": _quantity(list(cf.aliases)),
            "DefaultRootObject": cf.default_root_object,
            "Origins": _quantity([self.origin(ctx, o) for o in cf.origins]),
            "DefaultCacheBehavior": self.behaviour(ctx, cf.default_behaviour),
            "CacheBehaviors": _quantity([self.behaviour(ctx, b)
                                         for b in cf.ordered_behaviours]),
            "Comment": cf.name,
            "Logging": {
                "Enabled": logging.enabled, "IncludeCookies": logging.include_cookies,
                "Bucket": (f"{self.config.s3.bucket_name(logging.bucket)}.s3.amazonaws.com"
                           if logging.enabled else ""),
                "Prefix": logging.prefix if logging.enabled else "",
            },
            "PriceClass": cf.price_class,
            "Enabled": cf.enabled,
            "ViewerCertificate": {
                "CloudFrontDefaultCertificate": False,
                "ACMCertificateArn": self._certificate_arn(ctx),
                "SSLSupportMethod": cf.security.ssl_support_method,
                "MinimumProtocolVersion": cf.security.minimum_protocol_version,
            },
            "Restrictions": {"GeoRestriction": {"RestrictionType": geo.type,
                                                **_quantity(list(geo.locations))}},
            "WebACLId": str(ctx.output(WAF_STEP, "web_acl_arn")),
            "HttpVersion": cf.security.http_version,
            "IsIPV6Enabled": cf.ipv6,
        }

    def _warn_unimplemented(self) -> None:
        if self.cf.security.field_level_encryption.enabled:
            events.warning("cloudfront.field_level_encryption.not_implemented", step=self.name,
                           note="cloudfront.security.field_level_encryption is enabled in the "
                                "config but not applied by this tool")

    # -- finding -------------------------------------------------------------------
    def _from(self, distribution: Mapping[str, Any], etag: str | None,
              tags: dict[str, str]) -> Resource:
        """Keep what later calls need, with header values replaced by digests."""
        data = {key: distribution.get(key) for key in ("Id", "ARN", "Status", "DomainName")}
        data["Config"] = sanitized(distribution.get("DistributionConfig") or {})
        data["ETag"] = etag
        data["TagMap"] = tags
        return Resource(str(distribution["Id"]), data)

    def _tags(self, ctx: StepContext, arn: str) -> dict[str, str]:
        reply = _cloudfront(ctx).list_tags_for_resource(Resource=arn)
        return tag_map(_items(reply.get("Tags")))

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(NO_DISTRIBUTION, _cloudfront(ctx).get_distribution, Id=resource_id)
        if reply is None:
            return None
        distribution = reply["Distribution"]
        return self._from(distribution, reply.get("ETag"),
                          self._tags(ctx, distribution["ARN"]))

    def _summaries(self, ctx: StepContext) -> list[dict[str, Any]]:
        pages = _cloudfront(ctx).get_paginator("list_distributions").paginate()
        return [dict(s) for page in pages for s in _items(page.get("DistributionList"))]

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """Ours: Comment = the configured name and our ownership tags.

        Comments are not unique, so a same-commented distribution without
        our tags is somebody else's and simply not ours (its aliases would
        make our create fail with CNAMEAlreadyExists, which names it).
        """
        owned = []
        for summary in self._summaries(ctx):
            if summary.get("Comment") != self.resource_name():
                continue
            if is_owned_by(self, self._tags(ctx, summary["ARN"])):
                owned.append(summary)
        if not owned:
            return None
        if len(owned) > 1:
            events.warning("cloudfront.distribution.duplicates", step=self.name,
                           adopted=owned[0]["Id"], others=[s["Id"] for s in owned[1:]])
        return self.describe_by_id(ctx, owned[0]["Id"])

    def _by_caller_reference(self, ctx: StepContext, reference: str) -> Resource | None:
        """The distribution created with ``reference`` (a create repeated after a crash)."""
        for summary in self._summaries(ctx):
            reply = absent_on(NO_DISTRIBUTION, _cloudfront(ctx).get_distribution_config,
                              Id=summary["Id"])
            if reply and reply["DistributionConfig"].get("CallerReference") == reference:
                return self.describe_by_id(ctx, summary["Id"])
        return None

    # -- lifecycle -----------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """Create with tags in one call; the engine's token is the CallerReference."""
        self._warn_unimplemented()
        config = self.desired_config(ctx, caller_reference=token)
        try:
            reply = CERTIFICATE_SETTLING.call(
                f"create distribution {self.resource_name()}",
                _cloudfront(ctx).create_distribution_with_tags,
                DistributionConfigWithTags={"DistributionConfig": config,
                                            "Tags": {"Items": aws_tags(self.tags())}})
        except ClientError as exc:
            if error_code(exc) != "DistributionAlreadyExists":
                raise
            # AWS answers a repeated CallerReference with a different config this
            # way: the first call (before a crash) made it.  Adopt and converge.
            found = self._by_caller_reference(ctx, token)
            if found is None:
                raise
            events.info("cloudfront.distribution.adopted_by_caller_reference",
                        step=self.name, distribution_id=found.id)
            changes = self.diff(ctx, found)
            return self.update(ctx, found, changes) if changes else found
        return self._from(reply["Distribution"], reply.get("ETag"), self.tags())

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("Status") == "Deployed"

    def _wait_deployed(self, ctx: StepContext, distribution_id: str) -> None:
        ctx.wait("cloudfront", "distribution_deployed", budget_s=self.wait_budget_s,
                 delay_s=self.poll_s, region=CLOUDFRONT_REGION, Id=distribution_id)

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        self._wait_deployed(ctx, resource.id)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None, "a deployed distribution is describable"
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        changes = tag_drift(self, resource.data.get("TagMap", {}))
        have = resource.data["Config"]
        want = self.desired_config(ctx, str(have.get("CallerReference", "")))
        changes += distribution_changes(canonical_distribution(have),
                                        canonical_distribution(want))
        return changes

    def _write_config(self, ctx: StepContext, distribution_id: str,
                      build: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
        """GetDistributionConfig, ``build(current)``, UpdateDistribution with its ETag.

        Returns the new ETag.  A concurrent change (PreconditionFailed) makes
        the whole read-build-write repeat.
        """
        def attempt() -> str:
            reply = _cloudfront(ctx).get_distribution_config(Id=distribution_id)
            written = _cloudfront(ctx).update_distribution(
                Id=distribution_id, IfMatch=reply["ETag"],
                DistributionConfig=build(dict(reply["DistributionConfig"])))
            return str(written["ETag"])

        return STALE_ETAG.call(f"update distribution {distribution_id}", attempt)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        fields = {c.field: c for c in changes}
        if set(fields) - {"tags"}:
            self._warn_unimplemented()

            def build(current: dict[str, Any]) -> dict[str, Any]:
                config = self.desired_config(ctx, str(current["CallerReference"]))
                for key, value in current.items():
                    if key not in MANAGED_KEYS:
                        config.setdefault(key, value)  # origin groups, error pages ...
                return config

            CERTIFICATE_SETTLING.call(f"update distribution {resource.id}",
                                      self._write_config, ctx, resource.id, build)
        if "tags" in fields:
            _cloudfront(ctx).tag_resource(Resource=resource.data["ARN"],
                                          Tags={"Items": aws_tags(fields["tags"].desired)})
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None, "a distribution just updated is describable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Disable (IfMatch), wait until deployed, then delete with the new ETag."""
        cf = _cloudfront(ctx)
        reply = absent_on(NO_DISTRIBUTION, cf.get_distribution_config, Id=resource.id)
        if reply is None:
            return
        etag: str | None = str(reply["ETag"])
        if reply["DistributionConfig"].get("Enabled"):
            events.info("cloudfront.distribution.disabling", step=self.name,
                        distribution_id=resource.id)

            def disabled(current: dict[str, Any]) -> dict[str, Any]:
                return {**current, "Enabled": False}

            etag = self._write_config(ctx, resource.id, disabled)
        # AWS deletes a distribution only once the disabled config is deployed.
        self._wait_deployed(ctx, resource.id)

        def attempt() -> None:
            nonlocal etag
            if etag is None:  # a retry: the ETag of our last write may be stale
                current = absent_on(NO_DISTRIBUTION, cf.get_distribution_config,
                                    Id=resource.id)
                if current is None:
                    return
                etag = str(current["ETag"])
            if_match, etag = etag, None
            gone_on(NO_DISTRIBUTION, cf.delete_distribution, Id=resource.id, IfMatch=if_match)

        NOT_YET_DISABLED.call(f"delete distribution {resource.id}", STALE_ETAG.call,
                              f"delete distribution {resource.id}", attempt)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """Ids and the alias target (never anything from the config: it holds secrets)."""
        data = resource.data
        return {"id": resource.id, "distribution_id": resource.id, "arn": data.get("ARN"),
                "domain_name": data.get("DomainName"),
                "hosted_zone_id": CLOUDFRONT_HOSTED_ZONE_ID}


def cloudfront_steps(config: PlatformConfig) -> list[Step]:
    """Custom policies, the origin access control (if an S3 origin), the distribution."""
    cf = config.cloudfront
    steps: list[Step] = [CachePolicyStep(config, p) for p in cf.cache_policies]
    steps += [OriginRequestPolicyStep(config, p) for p in cf.origin_request_policies]
    if any(isinstance(o, S3OriginConfig) for o in cf.origins):
        steps.append(OriginAccessControlStep(config))
    steps.append(DistributionStep(config))
    return steps


__all__ = ["CachePolicyStep", "DistributionStep", "OriginAccessControlStep",
           "OriginRequestPolicyStep", "cloudfront_steps"]
