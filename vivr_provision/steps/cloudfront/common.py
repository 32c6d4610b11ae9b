"""What the CloudFront steps share: names, managed policy ids, retry policies, helpers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from vivr_provision.log import get_logger
from vivr_provision.retry import policy
from vivr_provision.steps.base import MANAGED_BY, Step, StepContext
from vivr_provision.steps.common import (
    ForeignResourceError,
)
from vivr_provision.steps.drift import Field

events = get_logger("vivr.cloudfront")

#: CloudFront is global; its API endpoint (and its certificates) live in us-east-1.
CLOUDFRONT_REGION = "us-east-1"
#: The Route 53 hosted zone of every CloudFront domain (alias targets), fixed by AWS.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
DISTRIBUTION_STEP = "cloudfront"
OAC_STEP = "cloudfront-oac"
#: Field-level encryption (issue 12): the public key, the profile, the config.
FLE_PUBLIC_KEY_STEP = "cloudfront-fle-public-key"
FLE_PROFILE_STEP = "cloudfront-fle-profile"
FLE_CONFIG_STEP = "cloudfront-fle-config"
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

#: Update/Delete carry the ETag of our last read; a change in between is refused.
STALE_ETAG = policy({"PreconditionFailed"},
                    "the resource changed since it was read; re-reading its ETag",
                    deadline_s=120, max_attempts=8, initial_s=0.5, max_wait_s=5.0)
#: A distribution disabled and deployed can still be refused for a short while.
NOT_YET_DISABLED = policy({"DistributionNotDisabled"},
                          "the disabled distribution has not finished deploying everywhere",
                          deadline_s=900, max_attempts=40, initial_s=5.0, max_wait_s=60.0)
#: A deleted distribution releases its policies and origin access control with a delay
#: (and its field-level encryption config, which releases its profile and key).
STILL_IN_USE = policy({"CachePolicyInUse", "OriginRequestPolicyInUse",
                       "OriginAccessControlInUse", "FieldLevelEncryptionConfigInUse",
                       "FieldLevelEncryptionProfileInUse", "PublicKeyInUse"},
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


def cloudfront_client(ctx: StepContext) -> Any:
    return ctx.client("cloudfront", CLOUDFRONT_REGION)


def items_of(container: Mapping[str, Any] | None) -> list[Any]:
    """The ``Items`` of a ``{Quantity, Items}`` list (AWS omits Items when empty)."""
    return list((container or {}).get("Items") or [])


def quantity_of(items: list[Any]) -> dict[str, Any]:
    """A ``{Quantity, Items}`` list in the shape CloudFront's API takes."""
    return {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def names_of(block: Mapping[str, Any] | None, behaviour: str, names: str) -> list[Any]:
    """``[HeaderBehavior, sorted header names]``-style view of a policy's part
    (AWS keeps the names in no particular order)."""
    block = block or {}
    return [block.get(behaviour), sorted(items_of(block.get(names)))]


def config_row(name: str, view: Callable[[Mapping[str, Any]], Any], **options: Any) -> Field:
    """A drift row reading one setting by the same ``view`` from both sides: the
    config AWS returns (``Resource.data["Config"]``) and the one this tool sends
    (``desired_config()`` of what :func:`~vivr_provision.steps.drift.drift` is
    given).  Converged by the step's ``write_config`` unless ``apply`` says otherwise."""
    options.setdefault("apply", "write_config")
    return Field(name, lambda d: view(d["Config"]), lambda s, ctx: view(s.desired_config()),
                 **options)


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
    for origin in items_of(clean.get("Origins")):
        for header in items_of(origin.get("CustomHeaders")):
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
