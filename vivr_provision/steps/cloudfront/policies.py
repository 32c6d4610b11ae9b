"""The config's own cache and origin-request policies (CreateCachePolicy ...).

Drift is a table per kind of policy (:data:`CACHE_POLICY_FIELDS`,
:data:`ORIGIN_REQUEST_POLICY_FIELDS`): each row reads one setting the same
way from the config AWS returns and the one we send, and every difference
converges in one ``Update*Policy`` carrying the whole config (``IfMatch``).

A policy's first read in a run may come from one ``List*Policies(Type=custom)``
shared by the steps of its kind (:func:`custom_policies`): the listing
carries each policy's whole config, as ``Get*Policy`` does, but no ETag.  Only
writes use the ETag, and each reads its own first (:meth:`PolicyStep.write_config`,
:meth:`PolicyStep.delete`), so a listed policy's ``ETag`` is None and its diff
is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import (
    CachePolicyConfig,
    OriginRequestPolicyConfig,
)
from vivr_provision.log import get_logger
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.cloudfront.common import (
    CACHE_POLICY_FAMILY,
    CLOUDFRONT_REGION,
    ORIGIN_REQUEST_POLICY_FAMILY,
    STALE_ETAG,
    STILL_IN_USE,
    cloudfront_client,
    config_row,
    items_of,
    names_of,
    quantity_of,
    require_note,
    with_note,
)
from vivr_provision.steps.common import (
    absent_on,
    gone_on,
)
from vivr_provision.steps.drift import Field, converge, drift
from vivr_provision.steps.kinds import CACHE_POLICY, ORIGIN_REQUEST_POLICY, Kind

events = get_logger("vivr.cloudfront")

# --------------------------------------------------------------------------- policies

@dataclass(frozen=True)
class PolicyApi:
    """The CloudFront calls of one kind of policy; its error codes are its :class:`Kind`'s."""

    kind: Kind
    noun: str                # "CachePolicy" / "OriginRequestPolicy"
    method: str              # "cache_policy" / "origin_request_policy"
    plural: str              # "cache_policies" / "origin_request_policies"

    @property
    def config_key(self) -> str:
        return f"{self.noun}Config"


CACHE_POLICY_API = PolicyApi(CACHE_POLICY, "CachePolicy", "cache_policy", "cache_policies")
ORIGIN_REQUEST_POLICY_API = PolicyApi(ORIGIN_REQUEST_POLICY, "OriginRequestPolicy",
                                      "origin_request_policy", "origin_request_policies")
#: CloudFront's limit on a policy's Comment.
POLICY_COMMENT_LIMIT = 128


def policy_resource(api: PolicyApi, body: Mapping[str, Any], etag: str | None) -> Resource:
    """A policy as its steps keep it, from a ``Get``/``Create``/``Update`` reply's body
    or a listing's item: its config, and the ETag (None from a listing, which has none)."""
    return Resource(str(body["Id"]), {"Config": dict(body[api.config_key]), "ETag": etag})


def custom_policies(client: Any, api: PolicyApi) -> dict[str, Mapping[str, Any]]:
    """Id -> ``{Id, LastModifiedTime, <Noun>Config}`` of every custom policy of the kind.

    ``Type=custom`` is the API's only filter (no name or id filter), but an
    account's custom policies are few: at most 20 cache policies, a quota AWS
    does not raise (AWS General Reference, "Amazon CloudFront endpoints and
    quotas", "Cache policies per AWS account"); origin request policies have a
    per-account quota of their own.
    Pages follow ``NextMarker`` (botocore has no paginator for these calls);
    ``MaxItems`` is not sent: the model gives it no range, and whatever page size
    AWS defaults to, the markers reach every policy.
    """
    found: dict[str, Mapping[str, Any]] = {}
    params: dict[str, Any] = {"Type": "custom"}
    while True:
        listing = getattr(client, f"list_{api.plural}")(**params)[f"{api.noun}List"]
        for item in items_of(listing):
            body = item[api.noun]
            found[str(body["Id"])] = body
        marker = listing.get("NextMarker")
        if not marker:
            return found
        params["Marker"] = marker


class PolicyStep(Step):
    """A custom cache or origin request policy, found by name (policies take no tags)."""

    service = "cloudfront"
    api: PolicyApi
    FIELDS: ClassVar[tuple[Field, ...]]

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
        return getattr(cloudfront_client(ctx), f"{verb}_{self.api.method}")(**params)

    def desired_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def configured(self) -> int:
        """How many policies of this kind the config declares."""
        raise NotImplementedError

    def _get(self, ctx: StepContext, policy_id: str) -> Resource | None:
        reply = absent_on(self.api.kind.not_found, self.call, ctx, "get", Id=policy_id)
        if reply is None:
            return None
        return policy_resource(self.api, reply[self.api.noun], reply.get("ETag"))

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The recorded policy: from the run's one listing of the kind's custom
        policies when the config declares several (one call instead of a ``Get`` each;
        with one policy a listing would save nothing), else, or when the listing
        lacks it, by ``Get``."""
        if self.configured() > 1:
            listed = ctx.reads.take(
                ("cloudfront", self.region, self.api.plural, "custom"), resource_id,
                lambda: custom_policies(cloudfront_client(ctx), self.api), reader=self.name)
            if listed is not None:
                return policy_resource(self.api, listed, None)
        return self._get(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        for body in custom_policies(cloudfront_client(ctx), self.api).values():
            config = body[self.api.config_key]
            if config.get("Name") == self.policy_name:
                require_note(self, f"{self.api.noun} {self.policy_name}", config.get("Comment"))
                return self._get(ctx, str(body["Id"]))
        return None

    def create(self, ctx: StepContext, token: str) -> Resource:
        try:
            reply = self.call(ctx, "create", **{self.api.config_key: self.desired_config()})
        except aws_errors.ClientError as exc:
            if error_code(exc) not in self.api.kind.already_exists:
                raise
            adopted = self.find_by_tags(ctx)  # a crash right after our own create
            if adopted is None:
                raise
            changes = self.diff(ctx, adopted)
            return self.update(ctx, adopted, changes) if changes else adopted
        return policy_resource(self.api, reply[self.api.noun], reply.get("ETag"))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self._get(ctx, resource.id)
        assert found is not None, "a policy just updated is readable"
        return found

    def write_config(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """The whole config in one update, with the ETag of a fresh read (never the
        ``resource``'s: one read from the listing has none)."""
        def attempt() -> None:
            current = self._get(ctx, resource.id)
            if current is None:
                raise RuntimeError(f"{self.name}: {self.policy_name} disappeared during update")
            self.call(ctx, "update", Id=resource.id, IfMatch=current.data["ETag"],
                      **{self.api.config_key: self.desired_config()})

        STALE_ETAG.call(f"update {self.policy_name}", attempt)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete with the current ETag, once the distribution no longer uses it."""
        def attempt() -> None:
            current = self._get(ctx, resource.id)
            if current is not None:
                gone_on(self.api.kind.not_found, self.call, ctx, "delete", Id=resource.id,
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


def _in_key(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A cache policy's cache-key settings (what it also forwards to the origin)."""
    return config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}


#: A policy's Name and Comment (AWS omits an empty Comment).
_NAMED = (config_row("Name", lambda c: c.get("Name")),
          config_row("Comment", lambda c: c.get("Comment"), compare="defaulted", default=""))


def _ttl(key: str) -> Field:
    """A TTL in seconds; 0 where AWS omits it."""
    return config_row(key, lambda c: c.get(key), compare="defaulted", default=0)


#: What plan compares of a cache policy; the forwarded names are compared sorted.
CACHE_POLICY_FIELDS = (
    *_NAMED, _ttl("MinTTL"), _ttl("DefaultTTL"), _ttl("MaxTTL"),
    config_row("Gzip", lambda c: _in_key(c).get("EnableAcceptEncodingGzip"),
               compare="defaulted", default=False),
    config_row("Brotli", lambda c: _in_key(c).get("EnableAcceptEncodingBrotli"),
               compare="defaulted", default=False),
    config_row("Headers", lambda c: names_of(_in_key(c).get("HeadersConfig"),
                                             "HeaderBehavior", "Headers")),
    config_row("Cookies", lambda c: names_of(_in_key(c).get("CookiesConfig"),
                                             "CookieBehavior", "Cookies")),
    config_row("QueryStrings", lambda c: names_of(_in_key(c).get("QueryStringsConfig"),
                                                  "QueryStringBehavior", "QueryStrings")),
)
ORIGIN_REQUEST_POLICY_FIELDS = (
    *_NAMED,
    config_row("Headers", lambda c: names_of(c.get("HeadersConfig"), "HeaderBehavior",
                                             "Headers")),
    config_row("Cookies", lambda c: names_of(c.get("CookiesConfig"), "CookieBehavior",
                                             "Cookies")),
    config_row("QueryStrings", lambda c: names_of(c.get("QueryStringsConfig"),
                                                  "QueryStringBehavior", "QueryStrings")),
)


class CachePolicyStep(PolicyStep):
    """A custom cache policy (TTLs, compression, what goes in the cache key)."""

    family = CACHE_POLICY_FAMILY
    kinds = (CACHE_POLICY,)
    api = CACHE_POLICY_API
    FIELDS = CACHE_POLICY_FIELDS

    def __init__(self, config: PlatformConfig, settings: CachePolicyConfig) -> None:
        super().__init__(config, settings.name)
        self.settings = settings

    def configured(self) -> int:
        return len(self.config.cloudfront.cache_policies)

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

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {**super().outputs(resource), "cache_policy_id": resource.id}


class OriginRequestPolicyStep(PolicyStep):
    """A custom origin request policy (what CloudFront forwards beyond the cache key)."""

    family = ORIGIN_REQUEST_POLICY_FAMILY
    kinds = (ORIGIN_REQUEST_POLICY,)
    api = ORIGIN_REQUEST_POLICY_API
    FIELDS = ORIGIN_REQUEST_POLICY_FIELDS

    def __init__(self, config: PlatformConfig, settings: OriginRequestPolicyConfig) -> None:
        super().__init__(config, settings.name)
        self.settings = settings

    def configured(self) -> int:
        return len(self.config.cloudfront.origin_request_policies)

    def desired_config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "Comment": with_note(s.comment, self, POLICY_COMMENT_LIMIT),
            "Name": s.name,
            "HeadersConfig": {"HeaderBehavior": s.headers},
            "CookiesConfig": {"CookieBehavior": s.cookies},
            "QueryStringsConfig": {"QueryStringBehavior": s.query_strings},
        }

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {**super().outputs(resource), "origin_request_policy_id": resource.id}
