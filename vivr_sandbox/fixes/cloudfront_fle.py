"""CloudFront field-level encryption fixes: profile and config APIs, public keys as AWS keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vivr_sandbox.fixes.cloudfront import (
    EtagRoutes,
    _behaviours_of,
    _cloudfront_error,
    install_etag_responses,
)
from vivr_sandbox.fixes.patching import add_missing, wrap


@dataclass(frozen=True)
class _FleKind:
    """Profile or config: botocore names (shapes, operations, path) and AWS's codes."""

    body: str       # FieldLevelEncryptionProfile, FieldLevelEncryption (reply member)
    config: str     # FieldLevelEncryptionProfileConfig, FieldLevelEncryptionConfig
    method: str     # create_<method>, update_<method>, delete_<method>
    get: str        # get_<get> returns the body; get_<method>_config the config
    plural: str     # list_<plural>
    listing: str    # FieldLevelEncryptionProfileList, FieldLevelEncryptionList
    path: str       # REST path segment
    noun: str       # FieldLevelEncryptionProfile / FieldLevelEncryptionConfig (codes)
    store: str


_PROFILE = _FleKind("FieldLevelEncryptionProfile", "FieldLevelEncryptionProfileConfig",
                    "field_level_encryption_profile", "field_level_encryption_profile",
                    "field_level_encryption_profiles", "FieldLevelEncryptionProfileList",
                    "field-level-encryption-profile", "FieldLevelEncryptionProfile",
                    "vivr_fle_profiles")
_CONFIG = _FleKind("FieldLevelEncryption", "FieldLevelEncryptionConfig",
                   "field_level_encryption_config", "field_level_encryption",
                   "field_level_encryption_configs", "FieldLevelEncryptionList",
                   "field-level-encryption", "FieldLevelEncryptionConfig", "vivr_fle_configs")


@dataclass
class _FleResource:
    id: str
    etag: str
    config: dict[str, Any]
    last_modified_time: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, kind: _FleKind) -> dict[str, Any]:
        """The list item: the config's members but CallerReference (botocore summaries)."""
        members = {k: v for k, v in self.config.items() if k != "CallerReference"}
        return {"Id": self.id, "LastModifiedTime": self.last_modified_time, **members}


def _store(backend: Any, kind: _FleKind) -> dict[str, _FleResource]:
    """Per account, on the backend (so /moto-api/reset clears it)."""
    store: dict[str, _FleResource] = backend.__dict__.setdefault(kind.store, {})
    return store


def _items(container: Any) -> list[Any]:
    return list((container or {}).get("Items") or [])


def _lookup(backend: Any, kind: _FleKind, resource_id: str) -> _FleResource:
    found = _store(backend, kind).get(resource_id)
    if found is None:
        raise _cloudfront_error(f"NoSuch{kind.noun}", "The specified configuration for "
                                "field-level encryption doesn't exist." if kind is _CONFIG else
                                "The specified profile for field-level encryption doesn't exist.")
    return found


def _check_if_match(etag: str, if_match: str | None) -> None:
    if not if_match:
        raise _cloudfront_error("InvalidIfMatchVersion",
                                "The If-Match version is missing or not valid for the resource.")
    if if_match != etag:
        raise _cloudfront_error("PreconditionFailed", "The precondition given in one or more "
                                "of the request-header fields evaluated to false.")


def _profile_ids(config: dict[str, Any]) -> set[str]:
    """The profiles an FLE config names (content-type and query-argument mappings)."""
    content = _items((config.get("ContentTypeProfileConfig") or {}).get("ContentTypeProfiles"))
    query = _items((config.get("QueryArgProfileConfig") or {}).get("QueryArgProfiles"))
    return {str(p["ProfileId"]) for p in content + query if p.get("ProfileId")}


def _key_ids(config: dict[str, Any]) -> set[str]:
    return {str(e.get("PublicKeyId")) for e in _items(config.get("EncryptionEntities"))}


def _validate(backend: Any, kind: _FleKind, config: dict[str, Any],
              resource_id: str | None) -> None:
    """What AWS checks on create and update: unique names/references, referents exist."""
    for other in _store(backend, kind).values():
        if other.id == resource_id:
            continue
        same_name = kind is _PROFILE and other.config.get("Name") == config.get("Name")
        same_reference = other.config.get("CallerReference") == config.get("CallerReference")
        if same_name or (resource_id is None and same_reference):
            raise _cloudfront_error(f"{kind.noun}AlreadyExists", "The specified "
                                    f"{kind.path.replace('-', ' ')} already exists.")
    if kind is _PROFILE:
        for key_id in _key_ids(config):
            if key_id not in backend.public_keys:
                raise _cloudfront_error("NoSuchPublicKey",
                                        "The specified public key doesn't exist.")
    else:
        for profile_id in _profile_ids(config):
            if profile_id not in _store(backend, _PROFILE):
                raise _cloudfront_error("NoSuchFieldLevelEncryptionProfile", "The specified "
                                        "profile for field-level encryption doesn't exist.")


def _users(backend: Any, kind: _FleKind, resource_id: str) -> list[str]:
    """Who still uses it: configs use profiles, distributions' behaviours use configs."""
    if kind is _PROFILE:
        return [c.id for c in _store(backend, _CONFIG).values()
                if resource_id in _profile_ids(c.config)]
    return [d.distribution_id for d in backend.distributions.values()
            if any(getattr(b, "field_level_encryption_id", "") == resource_id
                   for b in _behaviours_of(d))]


def _install_backend(kind: _FleKind) -> None:
    from moto.cloudfront.models import CloudFrontBackend, random_id
    from moto.core.utils import utcnow

    def create(self: Any, config: dict[str, Any]) -> _FleResource:
        _validate(self, kind, config, None)
        found = _FleResource(random_id(), random_id(), dict(config), utcnow())
        _store(self, kind)[found.id] = found
        return found

    def get(self: Any, resource_id: str) -> _FleResource:
        return _lookup(self, kind, resource_id)

    def update(self: Any, resource_id: str, config: dict[str, Any],
               if_match: str | None) -> _FleResource:
        found = _lookup(self, kind, resource_id)
        _check_if_match(found.etag, if_match)
        if config.get("CallerReference") != found.config.get("CallerReference"):
            raise _cloudfront_error("IllegalUpdate", "The CallerReference cannot be changed.")
        _validate(self, kind, config, resource_id)
        found.config, found.etag, found.last_modified_time = dict(config), random_id(), utcnow()
        return found

    def delete(self: Any, resource_id: str, if_match: str | None) -> None:
        found = _lookup(self, kind, resource_id)
        _check_if_match(found.etag, if_match)
        users = _users(self, kind, resource_id)
        if users:
            raise _cloudfront_error(f"{kind.noun}InUse", f"The specified "
                                    f"{kind.path.replace('-', ' ')} is in use by "
                                    f"{', '.join(users)}.")
        del _store(self, kind)[resource_id]

    def list_all(self: Any) -> list[_FleResource]:
        return list(_store(self, kind).values())

    for name, function in [(f"create_{kind.method}", create), (f"get_{kind.method}", get),
                           (f"update_{kind.method}", update), (f"delete_{kind.method}", delete),
                           (f"list_{kind.plural}", list_all)]:
        add_missing(CloudFrontBackend, f"vivr_{name}", function)


def _install_responses(kind: _FleKind) -> None:
    """The FLE kinds' responses (cloudfront.py's shared ETag plumbing), and their list."""
    from moto.core.responses import ActionResult

    def r_list(self: Any) -> Any:
        found = getattr(self.backend, f"vivr_list_{kind.plural}")()
        items = [r.summary(kind) for r in found]
        return ActionResult({kind.listing: {
            "MaxItems": self._get_int_param("MaxItems") or 100, "Quantity": len(items),
            "Items": items or None}})

    # Operation names as botocore spells them (GetFieldLevelEncryption returns the
    # body of a config, GetFieldLevelEncryptionConfig its config).
    get_config_name = f"get_{kind.method}_config" if kind is _PROFILE else f"get_{kind.method}"
    install_etag_responses(EtagRoutes(
        "vivr_", kind.method, kind.body, kind.config, kind.path, f"get_{kind.get}",
        get_config_name, f"list_{kind.plural}"), r_list)


def _fix_cloudfront_field_level_encryption() -> None:
    """CloudFront: field-level encryption profiles and configs implemented (Create, Get,
    GetConfig, List, Update, Delete).

    moto 5.2.5 has none of these operations (no URL routes: 404 in server
    mode).  As AWS does: a profile's name is unique
    (``FieldLevelEncryptionProfileAlreadyExists``), as is a config's
    CallerReference on create (``FieldLevelEncryptionConfigAlreadyExists``);
    a profile must name existing public keys (``NoSuchPublicKey``) and a
    config existing profiles (``NoSuchFieldLevelEncryptionProfile``); an
    unknown id is ``NoSuch...`` (404); Update and Delete need ``IfMatch``
    with the current ETag (``InvalidIfMatchVersion``, ``PreconditionFailed``)
    and every update issues a new one; the CallerReference cannot change
    (``IllegalUpdate``); a profile a config uses, or a config a distribution's
    cache behaviour uses, cannot be deleted (``...InUse``, 409).  Not
    modelled: quotas and field-pattern overlap checks.
    """
    for kind in (_PROFILE, _CONFIG):
        _install_backend(kind)
        _install_responses(kind)


def _fix_cloudfront_public_keys() -> None:
    """CloudFront: a public key keeps its comment; its name is unique; delete needs the
    current ETag and is refused while a field-level encryption profile uses the key.

    moto 5.2.5 drops the Comment (always ""), accepts a second key with a
    name already taken (AWS: ``PublicKeyAlreadyExists``), answers an unknown
    id with a 500 (AWS: ``NoSuchPublicKey``, 404), ignores ``IfMatch`` on
    delete (AWS: ``InvalidIfMatchVersion`` / ``PreconditionFailed``) and
    deletes a key a profile still names (AWS: ``PublicKeyInUse``, 409).
    """
    from moto.cloudfront.models import CloudFrontBackend
    from moto.cloudfront.responses import CloudFrontResponse

    @wrap(CloudFrontResponse, "create_public_key")
    def create_public_key(original: Any, self: Any) -> Any:
        config = self._get_param("PublicKeyConfig") or {}
        if any(k.name == config.get("Name") for k in self.backend.public_keys.values()):
            raise _cloudfront_error("PublicKeyAlreadyExists",
                                    "The specified public key already exists.")
        before = set(self.backend.public_keys)
        result = original(self)
        for key_id in set(self.backend.public_keys) - before:
            self.backend.public_keys[key_id].comment = str(config.get("Comment") or "")
        return result

    @wrap(CloudFrontBackend, "get_public_key")
    def get_public_key(original: Any, self: Any, key_id: str) -> Any:
        if key_id not in self.public_keys:
            raise _cloudfront_error("NoSuchPublicKey", "The specified public key doesn't exist.")
        return original(self, key_id)

    @wrap(CloudFrontResponse, "delete_public_key")
    def delete_public_key(original: Any, self: Any) -> Any:
        key_id = self._get_param("Id")
        found = self.backend.get_public_key(key_id)
        _check_if_match(found.etag, self._get_param("IfMatch"))
        users = [p.id for p in _store(self.backend, _PROFILE).values()
                 if key_id in _key_ids(p.config)]
        if users:
            raise _cloudfront_error("PublicKeyInUse", "The specified public key is in use by "
                                    f"{', '.join(users)}.")
        return original(self)


#: The fixes of this module, in application order.
FIXES: list[Callable[[], None]] = [
    _fix_cloudfront_field_level_encryption,
    _fix_cloudfront_public_keys,
]
