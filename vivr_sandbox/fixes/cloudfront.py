"""CloudFront fixes: cache/origin-request policy APIs, OAC on origins, enabled deletes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vivr_sandbox.fixes.patching import add_missing, wrap


def _cloudfront_error(code: str, message: str) -> Exception:
    """A moto service exception; the HTTP status comes from the botocore model."""
    from moto.cloudfront.exceptions import CloudFrontException

    return CloudFrontException(code, message)


@dataclass(frozen=True)
class _PolicyKind:
    """One kind of CloudFront policy: its botocore names and AWS's error codes."""

    noun: str            # CachePolicy, OriginRequestPolicy
    method: str          # cache_policy: create_<method>, get_<method>_config ...
    plural: str          # cache_policies: list_<plural>
    path: str            # the REST path segment: cache-policy, origin-request-policy
    store: str           # attribute holding the policies on the backend
    behaviour_attr: str  # the moto cache-behaviour attribute that references one

    @property
    def config_key(self) -> str:
        return f"{self.noun}Config"


_POLICY_KINDS = (
    _PolicyKind("CachePolicy", "cache_policy", "cache_policies", "cache-policy",
                "vivr_cache_policies", "cache_policy_id"),
    _PolicyKind("OriginRequestPolicy", "origin_request_policy", "origin_request_policies",
                "origin-request-policy", "vivr_origin_request_policies",
                "origin_request_policy_id"),
)


@dataclass
class CloudFrontPolicy:
    """A custom cache or origin request policy: id, ETag and the config as sent."""

    id: str
    etag: str
    config: dict[str, Any]
    last_modified_time: Any = None

    def body(self, kind: _PolicyKind) -> dict[str, Any]:
        return {"Id": self.id, "LastModifiedTime": self.last_modified_time,
                kind.config_key: self.config}


def _policy_store(backend: Any, kind: _PolicyKind) -> dict[str, CloudFrontPolicy]:
    """The per-account store, kept on the backend (so /moto-api/reset clears it)."""
    store: dict[str, CloudFrontPolicy] = backend.__dict__.setdefault(kind.store, {})
    return store


def _behaviours_of(distribution: Any) -> list[Any]:
    config = distribution.distribution_config
    behaviours = [config.DefaultCacheBehavior]
    return behaviours + list((config.CacheBehaviors or {}).get("Items") or [])


def _policy_lookup(backend: Any, kind: _PolicyKind, policy_id: str) -> CloudFrontPolicy:
    found = _policy_store(backend, kind).get(policy_id)
    if found is None:
        raise _cloudfront_error(f"NoSuch{kind.noun}",
                                f"The {kind.path.replace('-', ' ')} does not exist.")
    return found


def _policy_check_if_match(found: CloudFrontPolicy, if_match: str | None) -> None:
    if not if_match:
        raise _cloudfront_error("InvalidIfMatchVersion",
                                "The If-Match version is missing or not valid for the resource.")
    if if_match != found.etag:
        raise _cloudfront_error("PreconditionFailed", "The precondition given in one or more "
                                "of the request-header fields evaluated to false.")


def _policy_check_name(backend: Any, kind: _PolicyKind, name: str,
                       policy_id: str | None) -> None:
    for other in _policy_store(backend, kind).values():
        if other.config.get("Name") == name and other.id != policy_id:
            raise _cloudfront_error(f"{kind.noun}AlreadyExists",
                                    f"A {kind.path.replace('-', ' ')} with the name {name} "
                                    "already exists.")


def _install_policy_backend(kind: _PolicyKind) -> None:
    """Backend methods (the state) for one policy kind."""
    from moto.cloudfront.models import CloudFrontBackend, random_id
    from moto.core.utils import utcnow
    from moto.moto_api._internal import mock_random

    def create(self: Any, config: dict[str, Any]) -> CloudFrontPolicy:
        _policy_check_name(self, kind, str(config.get("Name")), None)
        found = CloudFrontPolicy(str(mock_random.uuid4()), random_id(), dict(config), utcnow())
        _policy_store(self, kind)[found.id] = found
        return found

    def get(self: Any, policy_id: str) -> CloudFrontPolicy:
        return _policy_lookup(self, kind, policy_id)

    def update(self: Any, policy_id: str, config: dict[str, Any],
               if_match: str | None) -> CloudFrontPolicy:
        found = _policy_lookup(self, kind, policy_id)
        _policy_check_if_match(found, if_match)
        _policy_check_name(self, kind, str(config.get("Name")), policy_id)
        found.config, found.etag, found.last_modified_time = dict(config), random_id(), utcnow()
        return found

    def delete(self: Any, policy_id: str, if_match: str | None) -> None:
        found = _policy_lookup(self, kind, policy_id)
        _policy_check_if_match(found, if_match)
        users = [d.distribution_id for d in self.distributions.values()
                 if any(getattr(b, kind.behaviour_attr, None) == policy_id
                        for b in _behaviours_of(d))]
        if users:
            raise _cloudfront_error(f"{kind.noun}InUse", f"The {kind.path.replace('-', ' ')} "
                                    f"is in use by {', '.join(users)}.")
        del _policy_store(self, kind)[policy_id]

    def list_all(self: Any, policy_type: str | None) -> list[CloudFrontPolicy]:
        return [] if policy_type == "managed" else list(_policy_store(self, kind).values())

    for name, function in [(f"create_{kind.method}", create), (f"get_{kind.method}", get),
                           (f"update_{kind.method}", update),
                           (f"delete_{kind.method}", delete), (f"list_{kind.plural}", list_all)]:
        add_missing(CloudFrontBackend, name, function)


@dataclass(frozen=True)
class EtagRoutes:
    """What the response side of one ETag-guarded CloudFront type needs: the backend
    methods it calls (``backend_prefix`` + verb + ``_`` + ``method``), its reply keys,
    its URL path and the response method names botocore's operations map to."""

    backend_prefix: str
    method: str
    body: str
    config: str
    path: str
    get: str
    get_config: str
    list_name: str


def install_etag_responses(routes: EtagRoutes, r_list: Callable[[Any], Any]) -> None:
    """Response methods (parameters in, botocore shapes out) and URL routes for the
    create / get / get-config / update / delete of one type, plus its ``r_list``."""
    from moto.cloudfront import urls
    from moto.cloudfront.responses import CloudFrontResponse
    from moto.core.responses import ActionResult, EmptyResult

    def backend_call(response: Any, verb: str) -> Any:
        return getattr(response.backend, f"{routes.backend_prefix}{verb}_{routes.method}")

    def body(found: Any) -> dict[str, Any]:
        return {"Id": found.id, "LastModifiedTime": found.last_modified_time,
                routes.config: found.config}

    def r_create(self: Any) -> Any:
        found = backend_call(self, "create")(self._get_param(routes.config, {}))
        location = f"https://cloudfront.amazonaws.com/2020-05-31/{routes.path}/{found.id}"
        return ActionResult({routes.body: body(found), "ETag": found.etag,
                             "Location": location})

    def r_get(self: Any) -> Any:
        found = backend_call(self, "get")(self._get_param("Id"))
        return ActionResult({routes.body: body(found), "ETag": found.etag})

    def r_get_config(self: Any) -> Any:
        found = backend_call(self, "get")(self._get_param("Id"))
        return ActionResult({routes.config: found.config, "ETag": found.etag})

    def r_update(self: Any) -> Any:
        found = backend_call(self, "update")(self._get_param("Id"),
                                             self._get_param(routes.config, {}),
                                             self._get_param("IfMatch"))
        return ActionResult({routes.body: body(found), "ETag": found.etag})

    def r_delete(self: Any) -> Any:
        backend_call(self, "delete")(self._get_param("Id"), self._get_param("IfMatch"))
        return EmptyResult()

    for name, function in [(f"create_{routes.method}", r_create), (routes.get, r_get),
                           (routes.get_config, r_get_config),
                           (f"update_{routes.method}", r_update),
                           (f"delete_{routes.method}", r_delete),
                           (routes.list_name, r_list)]:
        add_missing(CloudFrontResponse, name, function)
    # Server-mode routes; the operation is then matched by botocore's own URI model.
    for suffix in ("", "/(?P<Id>[^/]+)", "/(?P<Id>[^/]+)/config"):
        urls.url_paths.setdefault(f"{{0}}/2020-05-31/{routes.path}{suffix}$",
                                  CloudFrontResponse.dispatch)


def _install_policy_responses(kind: _PolicyKind) -> None:
    """The policy kinds' responses; their list takes ``Type`` (custom or managed)."""
    from moto.core.responses import ActionResult

    def r_list(self: Any) -> Any:
        found = getattr(self.backend, f"list_{kind.plural}")(self._get_param("Type"))
        items = [{"Type": "custom", kind.noun: p.body(kind)} for p in found]
        return ActionResult({f"{kind.noun}List": {
            "MaxItems": self._get_int_param("MaxItems") or 100, "Quantity": len(items),
            "Items": items or None}})

    install_etag_responses(EtagRoutes(
        "", kind.method, kind.noun, kind.config_key, kind.path, f"get_{kind.method}",
        f"get_{kind.method}_config", f"list_{kind.plural}"), r_list)


def _fix_cloudfront_policies() -> None:
    """CloudFront: cache policies and origin request policies implemented (Create, Get,
    GetConfig, List, Update, Delete for CachePolicy and OriginRequestPolicy).

    moto 5.2.5 has no URL routes for these operations: every call is a 404 in
    server mode, so a tool that creates its own policies (TTLs no managed
    policy has) cannot run in the sandbox.  AWS keeps them per account: a
    duplicate name is ``<Kind>AlreadyExists`` (409), an unknown id
    ``NoSuch<Kind>`` (404); Update and Delete need ``IfMatch`` with the
    current ETag (``InvalidIfMatchVersion`` when missing, ``PreconditionFailed``
    412 when stale) and every update issues a new ETag; a policy that a
    distribution's cache behaviour uses cannot be deleted (``<Kind>InUse``).
    ``List*`` with ``Type=custom`` lists these.  Not modelled: AWS-managed
    policies (``Type=managed``; they can still be referenced by their
    published IDs, unchecked, as before) and config validation beyond names.
    """
    for kind in _POLICY_KINDS:
        _install_policy_backend(kind)
        _install_policy_responses(kind)


def _fix_cloudfront_origin_access_control() -> None:
    """CloudFront: an origin keeps its S3OriginConfig and OriginAccessControlId; an origin
    access control in use, or unknown, cannot be deleted.

    moto 5.2.5 drops both from every origin of a distribution, so
    GetDistributionConfig never shows which origin access control signs the
    requests to a bucket and a tool comparing its config sees drift after
    every apply.  AWS returns them as sent.  moto also deletes an origin
    access control that a distribution still uses (AWS:
    ``OriginAccessControlInUse``, 409) and answers an unknown id with a 500
    (AWS: ``NoSuchOriginAccessControl``, 404).
    """
    from moto.cloudfront.models import CloudFrontBackend, Origin

    @wrap(Origin, "__init__")
    def init(original: Any, self: Any, origin: dict[str, Any]) -> None:
        original(self, origin)
        if "S3OriginConfig" in origin:
            self.s3_origin_config = {
                "OriginAccessIdentity": origin["S3OriginConfig"].get("OriginAccessIdentity")
                or ""}
        if origin.get("OriginAccessControlId"):
            self.origin_access_control_id = origin["OriginAccessControlId"]

    @wrap(CloudFrontBackend, "delete_origin_access_control")
    def delete_origin_access_control(original: Any, self: Any, control_id: str) -> None:
        self.get_origin_access_control(control_id)  # NoSuchOriginAccessControl
        users = [d.distribution_id for d in self.distributions.values()
                 if any(getattr(o, "origin_access_control_id", None) == control_id
                        for o in d.distribution_config.Origins.get("Items") or [])]
        if users:
            raise _cloudfront_error("OriginAccessControlInUse",
                                    f"The origin access control is in use by {', '.join(users)}.")
        original(self, control_id)


def _fix_cloudfront_delete_enabled_distribution() -> None:
    """CloudFront: deleting a distribution that is still enabled is refused
    (DistributionNotDisabled).

    moto 5.2.5 deletes an enabled distribution at once.  AWS refuses with
    ``DistributionNotDisabled`` (409) until the distribution has been
    disabled (and the disabled config deployed), so a teardown that skips
    the disable step works in the sandbox and fails on AWS.  The fix refuses
    the delete while ``Enabled`` is true.
    """
    from moto.cloudfront.models import CloudFrontBackend

    @wrap(CloudFrontBackend, "delete_distribution")
    def delete_distribution(original: Any, self: Any, distribution_id: str,
                            if_match: Any) -> None:
        found = self.distributions.get(distribution_id)
        if found is not None and if_match and str(found.distribution_config.Enabled).lower() \
                in ("true", "1"):
            raise _cloudfront_error("DistributionNotDisabled", "The distribution you are "
                                    "trying to delete has not been disabled.")
        original(self, distribution_id, if_match)


#: The fixes of this module, in application order.
FIXES: list[Callable[[], None]] = [
    _fix_cloudfront_policies,
    _fix_cloudfront_origin_access_control,
    _fix_cloudfront_delete_enabled_distribution,
]
