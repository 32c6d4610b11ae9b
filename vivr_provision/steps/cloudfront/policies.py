"""The config's own cache and origin-request policies (CreateCachePolicy ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from botocore.exceptions import ClientError

from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import (
    CachePolicyConfig,
    OriginRequestPolicyConfig,
)
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.cloudfront.common import (
    CACHE_POLICY_FAMILY,
    CLOUDFRONT_REGION,
    ORIGIN_REQUEST_POLICY_FAMILY,
    STALE_ETAG,
    STILL_IN_USE,
    cloudfront_client,
    items_of,
    quantity_of,
    require_note,
    with_note,
)
from vivr_provision.steps.common import (
    absent_on,
    gone_on,
)

events = structlog.get_logger("vivr.cloudfront")

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
        return getattr(cloudfront_client(ctx), name)(**params)

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
            for item in items_of(listing):
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
        config[plural] = quantity_of(sorted(names))
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
            "Headers": [headers.get("HeaderBehavior"), sorted(items_of(headers.get("Headers")))],
            "Cookies": [(key.get("CookiesConfig") or {}).get("CookieBehavior"),
                        sorted(items_of((key.get("CookiesConfig") or {}).get("Cookies")))],
            "QueryStrings": [
                (key.get("QueryStringsConfig") or {}).get("QueryStringBehavior"),
                sorted(items_of((key.get("QueryStringsConfig") or {}).get("QueryStrings")))],
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
            return [block.get(behaviour), sorted(items_of(block.get(names)))]

        return {"Name": config.get("Name"), "Comment": config.get("Comment") or "",
                "Headers": part("HeadersConfig", "HeaderBehavior", "Headers"),
                "Cookies": part("CookiesConfig", "CookieBehavior", "Cookies"),
                "QueryStrings": part("QueryStringsConfig", "QueryStringBehavior",
                                     "QueryStrings")}

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {**super().outputs(resource), "origin_request_policy_id": resource.id}
