"""Field-level encryption (issue 12): the public key, the profile and the config.

CloudFront encrypts the configured form fields at the edge with a public
key; only the holder of the private key (the application, through the
secret ``secrets.key_pairs.<private_key_secret>``) can read them.  Three
CloudFront resources, three steps, each found, diffed and updated on its own:

* ``cloudfront-fle-public-key``: the public half of the secret's private key
  (CreatePublicKey).  Derived from the secret on every plan, so the halves
  never disagree.  CloudFront keeps ``EncodedKey`` immutable
  (UpdatePublicKey "the only value you can change is the comment"), and
  its name is unique per account, so each key is named after its
  fingerprint (``vivr-cdn-fle-<sha256[:16]>``).  When the secret holds
  another key (an operator replaced the value, or deleted the secret and
  apply generated a new one), apply uploads the new public key first
  (create-before-delete); the profile step then points the profile at it
  and deletes the key it replaced.
* ``cloudfront-fle-profile``: which fields (``field_patterns``) are encrypted
  with which key for which ``provider_id``.
* ``cloudfront-fle-config``: the profile applied to ``content_type`` bodies;
  its id goes on the cache behaviours that forward POST to the application
  (:meth:`~vivr_provision.config.edge.CloudFrontConfig.fle_behaviours`).

None takes tags.  The key and the profile have account-unique names and are
adopted only when their comment carries this stack's ownership note; the
config has no name at all and is found by that comment.  Every Update and
Delete carries the ETag of a fresh read (``IfMatch``).  On destroy the
distribution goes first (it drops the config with it), then the config,
the profile and the key, each retrying "in use" while CloudFront releases it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.log import get_logger
from vivr_provision.steps.base import Change, DependencyMissing, Resource, Step, StepContext
from vivr_provision.steps.cloudfront.common import (
    CLOUDFRONT_REGION,
    FLE_CONFIG_STEP,
    FLE_PROFILE_STEP,
    FLE_PUBLIC_KEY_STEP,
    STALE_ETAG,
    STILL_IN_USE,
    cloudfront_client,
    items_of,
    ownership_note,
    quantity_of,
    require_note,
    with_note,
)
from vivr_provision.steps.cloudfront.etag_config import ConfigApi, EtagConfigStep
from vivr_provision.steps.common import absent_on, gone_on
from vivr_provision.steps.drift import Field, drift
from vivr_provision.steps.key_pairs import fingerprint, public_key_pem, register_private_key
from vivr_provision.steps.kinds import FLE_CONFIG, FLE_PROFILE, PUBLIC_KEY
from vivr_provision.steps.secrets import read_secret_string

events = get_logger("vivr.cloudfront")

#: CloudFront's limit on the Comment of a public key, profile and config (API reference).
COMMENT_LIMIT = 128
#: Field-level encryption's only body format for form posts (ContentTypeProfile.Format).
URL_ENCODED = "URLEncoded"


def _pages(ctx: StepContext, call: str, container: str) -> list[dict[str, Any]]:
    """Every summary of a CloudFront list call paged by Marker/NextMarker."""
    params: dict[str, Any] = {}
    found: list[dict[str, Any]] = []
    while True:
        listing = getattr(cloudfront_client(ctx), call)(**params)[container]
        found += [dict(item) for item in items_of(listing)]
        if not listing.get("NextMarker"):
            return found
        params["Marker"] = listing["NextMarker"]


def _row(name: str, view: Callable[[Mapping[str, Any]], Any]) -> Field:
    """A setting read by ``view`` from AWS's config and from ours, converged by
    the step's ``write_config``."""
    return Field(name, lambda d: view(d["Config"]),
                 lambda s, ctx: view(s.desired_config(ctx, "")), apply="write_config")


class _FleStep(Step):
    """What the three share: the FLE config section, the region, the comment."""

    service = "cloudfront"

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config)
        self.fle = config.cloudfront.security.field_level_encryption

    @property
    def region(self) -> str:
        return CLOUDFRONT_REGION

    def resource_name(self) -> str:
        return f"{self.config.cloudfront.name}-fle"

    def comment(self, what: str) -> str:
        return with_note(f"{self.config.cloudfront.name} field-level encryption {what}", self,
                         COMMENT_LIMIT)

    def _delete_with_etag(self, what: str, read: Callable[[], Resource | None],
                          remove: Callable[..., Any], not_found: frozenset[str],
                          resource_id: str) -> None:
        """Delete with the ETag of a fresh read; "in use" is retried while the
        resource that used it is being released."""
        def attempt() -> None:
            current = read()
            if current is not None:
                gone_on(not_found, remove, Id=resource_id, IfMatch=current.data["ETag"])

        STILL_IN_USE.call(f"delete {what}", STALE_ETAG.call, f"delete {what}", attempt)


# --------------------------------------------------------------------------- public key

class PublicKeyStep(_FleStep):
    """The public half of the field-level encryption key pair, named by its fingerprint."""

    family = FLE_PUBLIC_KEY_STEP
    kinds = (PUBLIC_KEY,)
    #: What plan calls the key: its fingerprint, never a PEM.
    KEY_FIELD = "EncodedKey (SHA-256 fingerprint)"

    def secret_step(self) -> str:
        return f"secret.{self.fle.private_key_secret}"

    def depends_on(self) -> tuple[str, ...]:
        return (self.secret_step(),)

    def key_name(self, key_fingerprint: str) -> str:
        return f"{self.resource_name()}-{key_fingerprint}"

    def wanted(self, ctx: StepContext) -> tuple[str, str]:
        """(public key PEM, fingerprint) of the private key the secret holds now."""
        private = read_secret_string(ctx, str(ctx.output(self.secret_step(), "arn")))
        register_private_key(private)
        try:
            public = public_key_pem(private)
        except ValueError as exc:
            secret = self.config.secrets.name_of(self.fle.private_key_secret)
            raise RuntimeError(
                f"{self.name}: secret {secret} {exc}; put one in it, or delete the secret "
                "so that apply generates a new key pair") from None
        return public, fingerprint(public)

    def _read(self, ctx: StepContext, key_id: str) -> Resource | None:
        reply = absent_on(PUBLIC_KEY.not_found, cloudfront_client(ctx).get_public_key, Id=key_id)
        if reply is None:
            return None
        body = reply["PublicKey"]
        config = dict(body["PublicKeyConfig"])
        return Resource(body["Id"], {"Config": config, "ETag": reply.get("ETag"),
                                     "Fingerprint": fingerprint(str(config["EncodedKey"]))})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._read(ctx, resource_id)

    def ours(self, ctx: StepContext) -> list[dict[str, Any]]:
        """Our keys (name prefix and ownership note), newest first."""
        prefix = f"{self.resource_name()}-"
        found = [s for s in _pages(ctx, "list_public_keys", "PublicKeyList")
                 if str(s.get("Name", "")).startswith(prefix)
                 and ownership_note(self) in str(s.get("Comment") or "")]
        return sorted(found, key=lambda s: str(s.get("CreatedTime")), reverse=True)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """The key matching the secret if it is there, else our newest (a rotation
        that did not finish: diff then reports the key)."""
        ours = self.ours(ctx)
        if not ours:
            return None
        chosen = ours[0]
        with suppress(DependencyMissing):
            name = self.key_name(self.wanted(ctx)[1])
            chosen = next((s for s in ours if s.get("Name") == name), chosen)
        return self._read(ctx, chosen["Id"])

    def upload(self, ctx: StepContext, public: str, key_fingerprint: str,
               reference: str) -> Resource:
        """CreatePublicKey; a key already there under this name (a retry after a lost
        answer, a crash before state was saved) is adopted if it is ours."""
        name = self.key_name(key_fingerprint)
        try:
            reply = cloudfront_client(ctx).create_public_key(PublicKeyConfig={
                "CallerReference": reference, "Name": name, "EncodedKey": public,
                "Comment": self.comment("key")})
        except aws_errors.ClientError as exc:
            if error_code(exc) not in PUBLIC_KEY.already_exists:
                raise
            same = [s for s in _pages(ctx, "list_public_keys", "PublicKeyList")
                    if s.get("Name") == name]
            if not same:
                raise
            require_note(self, f"public key {name}", same[0].get("Comment"))
            adopted = self._read(ctx, same[0]["Id"])
            if adopted is None:
                raise
            return adopted
        body = reply["PublicKey"]
        config = dict(body["PublicKeyConfig"])
        return Resource(body["Id"], {"Config": config, "ETag": reply.get("ETag"),
                                     "Fingerprint": key_fingerprint})

    def create(self, ctx: StepContext, token: str) -> Resource:
        public, key_fingerprint = self.wanted(ctx)
        return self.upload(ctx, public, key_fingerprint, token)

    FIELDS = (
        Field(KEY_FIELD, lambda d: d["Fingerprint"], lambda s, ctx: s.wanted(ctx)[1]),
        Field("Comment", lambda d: d["Config"].get("Comment") or "",
              lambda s, ctx: s.comment("key")),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """Another key in the secret: upload it as a new public key (the old one stays
        until the profile has moved off it).  Else only the comment changes in place."""
        if any(change.field == self.KEY_FIELD for change in changes):
            public, key_fingerprint = self.wanted(ctx)
            # Deterministic per key: a retried upload meets the first one by name.
            reference = hashlib.sha256(f"{self.name}/{key_fingerprint}".encode()).hexdigest()
            uploaded = self.upload(ctx, public, key_fingerprint, reference[:32])
            # The app reads the private key when a task starts (ECS injects it):
            # tasks started before keep the old one until they are replaced.
            events.warning("cloudfront.fle.public_key_rotated", step=self.name,
                           old=resource.data["Fingerprint"], new=key_fingerprint,
                           note="running app tasks hold the previous private key until they "
                                "restart: force a new deployment of the app's ECS service(s)")
            return uploaded

        def attempt() -> None:
            current = self._read(ctx, resource.id)
            if current is None:
                raise RuntimeError(f"{self.name}: public key {resource.id} disappeared")
            cloudfront_client(ctx).update_public_key(
                Id=resource.id, IfMatch=current.data["ETag"],
                PublicKeyConfig={**current.data["Config"], "Comment": self.comment("key")})

        STALE_ETAG.call(f"update public key {resource.id}", attempt)
        found = self._read(ctx, resource.id)
        assert found is not None, "a public key just updated is readable"
        return found

    def is_ours(self, resource: Resource) -> bool:
        """Uploaded by this step: our name prefix and ownership note."""
        config = resource.data["Config"]
        return str(config.get("Name", "")).startswith(f"{self.resource_name()}-") and \
            ownership_note(self) in str(config.get("Comment") or "")

    def _delete_key(self, ctx: StepContext, key_id: str) -> None:
        self._delete_with_etag(f"public key {key_id}", lambda: self._read(ctx, key_id),
                               cloudfront_client(ctx).delete_public_key, PUBLIC_KEY.not_found,
                               key_id)

    def retire(self, ctx: StepContext, key_id: str) -> None:
        """Delete a key this step uploaded before, now that the profile moved off it.

        A key that is not ours is left alone; one still in use (by a profile
        this tool does not manage) too, with a warning: destroy removes it.
        """
        current = self._read(ctx, key_id)
        if current is None or not self.is_ours(current):
            return
        try:
            STALE_ETAG.call(f"delete public key {key_id}", lambda: gone_on(
                PUBLIC_KEY.not_found, cloudfront_client(ctx).delete_public_key, Id=key_id,
                IfMatch=(self._read(ctx, key_id) or current).data["ETag"]))
        except aws_errors.ClientError as exc:
            if error_code(exc) != "PublicKeyInUse":
                raise
            events.warning("cloudfront.fle.public_key_still_in_use", step=self.name,
                           public_key_id=key_id)
            return
        events.info("cloudfront.fle.public_key_retired", step=self.name, public_key_id=key_id)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """This key, and any earlier key of ours a rotation left behind."""
        others = [s["Id"] for s in self.ours(ctx) if s["Id"] != resource.id]
        for key_id in [resource.id, *others]:
            self._delete_key(ctx, key_id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "public_key_id": resource.id,
                "name": resource.data["Config"].get("Name"),
                "fingerprint": resource.data["Fingerprint"]}


# --------------------------------------------------------------------------- profile

def _entities(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(e) for e in items_of(config.get("EncryptionEntities"))]


class ProfileStep(_FleStep, EtagConfigStep):
    """Which fields are encrypted, with which public key, for which provider."""

    family = FLE_PROFILE_STEP
    kinds = (FLE_PROFILE,)
    api = ConfigApi(FLE_PROFILE, "get_field_level_encryption_profile",
                    "create_field_level_encryption_profile", "FieldLevelEncryptionProfile",
                    "FieldLevelEncryptionProfileConfig")

    def depends_on(self) -> tuple[str, ...]:
        return (FLE_PUBLIC_KEY_STEP,)

    def desired_config(self, ctx: StepContext, reference: str) -> dict[str, Any]:
        return {
            "Name": self.resource_name(),
            "CallerReference": reference,
            "Comment": self.comment("profile"),
            "EncryptionEntities": quantity_of([{
                "PublicKeyId": str(ctx.output(FLE_PUBLIC_KEY_STEP, "public_key_id")),
                "ProviderId": self.fle.provider_id,
                "FieldPatterns": quantity_of(list(self.fle.field_patterns)),
            }]),
        }

    FIELDS = (
        _row("Comment", lambda c: c.get("Comment") or ""),
        _row("PublicKeyId", lambda c: sorted(str(e.get("PublicKeyId")) for e in _entities(c))),
        _row("ProviderId", lambda c: sorted(str(e.get("ProviderId")) for e in _entities(c))),
        # AWS keeps the patterns in no particular order.
        _row("FieldPatterns", lambda c: sorted(
            str(p) for e in _entities(c) for p in items_of(e.get("FieldPatterns")))),
    )

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        for summary in _pages(ctx, "list_field_level_encryption_profiles",
                              "FieldLevelEncryptionProfileList"):
            if summary.get("Name") == self.resource_name():
                require_note(self, f"field-level encryption profile {self.resource_name()}",
                             summary.get("Comment"))
                return self.read(ctx, summary["Id"])
        return None

    def creation_config(self, ctx: StepContext, token: str) -> dict[str, Any]:
        return self.desired_config(ctx, token)

    def write_config(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """The whole config in one update (fresh ETag); then the public key it
        replaced, if any, is deleted (create-before-delete of a rotated key)."""
        replaced: list[str] = []

        def attempt() -> None:
            client = cloudfront_client(ctx)
            reply = client.get_field_level_encryption_profile_config(Id=resource.id)
            current = reply["FieldLevelEncryptionProfileConfig"]
            wanted = self.desired_config(ctx, str(current["CallerReference"]))
            client.update_field_level_encryption_profile(
                Id=resource.id, IfMatch=reply["ETag"],
                FieldLevelEncryptionProfileConfig=wanted)
            new = {str(e["PublicKeyId"]) for e in _entities(wanted)}
            replaced[:] = sorted({str(e.get("PublicKeyId")) for e in _entities(current)} - new)

        STALE_ETAG.call(f"update field-level encryption profile {resource.id}", attempt)
        keys = PublicKeyStep(self.config)
        for key_id in replaced:
            keys.retire(ctx, key_id)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        self._delete_with_etag(f"field-level encryption profile {resource.id}",
                               lambda: self.read(ctx, resource.id),
                               cloudfront_client(ctx).delete_field_level_encryption_profile,
                               FLE_PROFILE.not_found, resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "profile_id": resource.id, "name": self.resource_name()}


# --------------------------------------------------------------------------- config

class ConfigStep(_FleStep, EtagConfigStep):
    """The profile applied to form posts; the id the cache behaviours carry."""

    family = FLE_CONFIG_STEP
    kinds = (FLE_CONFIG,)
    api = ConfigApi(FLE_CONFIG, "get_field_level_encryption",
                    "create_field_level_encryption_config", "FieldLevelEncryption",
                    "FieldLevelEncryptionConfig")

    def depends_on(self) -> tuple[str, ...]:
        return (FLE_PROFILE_STEP,)

    def desired_config(self, ctx: StepContext, reference: str) -> dict[str, Any]:
        return {
            "CallerReference": reference,
            "Comment": self.comment("config"),
            # No per-request profile choice (the fle-profile query argument): a
            # request naming an unknown one is refused rather than forwarded.
            "QueryArgProfileConfig": {"ForwardWhenQueryArgProfileIsUnknown": False,
                                      "QueryArgProfiles": {"Quantity": 0}},
            "ContentTypeProfileConfig": {
                # The behaviours also carry JSON API calls and uploads: a POST of
                # another content type goes to the origin as sent (False would
                # make CloudFront refuse it; Developer Guide, "Set up
                # field-level encryption", step 3).
                "ForwardWhenContentTypeIsUnknown": True,
                "ContentTypeProfiles": quantity_of([{
                    "Format": URL_ENCODED,
                    "ProfileId": str(ctx.output(FLE_PROFILE_STEP, "profile_id")),
                    "ContentType": self.fle.content_type}]),
            },
        }

    FIELDS = (
        _row("Comment", lambda c: c.get("Comment") or ""),
        _row("ContentTypeProfiles", lambda c: sorted(
            (str(p.get("ContentType")), str(p.get("Format")), str(p.get("ProfileId") or ""))
            for p in items_of((c.get("ContentTypeProfileConfig") or {}).get(
                "ContentTypeProfiles")))),
        _row("ForwardWhenContentTypeIsUnknown", lambda c: bool(
            (c.get("ContentTypeProfileConfig") or {}).get("ForwardWhenContentTypeIsUnknown"))),
        _row("ForwardWhenQueryArgProfileIsUnknown", lambda c: bool(
            (c.get("QueryArgProfileConfig") or {}).get("ForwardWhenQueryArgProfileIsUnknown"))),
        _row("QueryArgProfiles", lambda c: sorted(
            (str(p.get("QueryArg")), str(p.get("ProfileId")))
            for p in items_of((c.get("QueryArgProfileConfig") or {}).get("QueryArgProfiles")))),
    )

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """By its comment: a config has no name, and the comment carries our note."""
        for summary in _pages(ctx, "list_field_level_encryption_configs",
                              "FieldLevelEncryptionList"):
            if summary.get("Comment") == self.comment("config"):
                return self.read(ctx, summary["Id"])
        return None

    def creation_config(self, ctx: StepContext, token: str) -> dict[str, Any]:
        return self.desired_config(ctx, token)

    def write_config(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        def attempt() -> None:
            client = cloudfront_client(ctx)
            reply = client.get_field_level_encryption_config(Id=resource.id)
            reference = str(reply["FieldLevelEncryptionConfig"]["CallerReference"])
            client.update_field_level_encryption_config(
                Id=resource.id, IfMatch=reply["ETag"],
                FieldLevelEncryptionConfig=self.desired_config(ctx, reference))

        STALE_ETAG.call(f"update field-level encryption config {resource.id}", attempt)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        self._delete_with_etag(f"field-level encryption config {resource.id}",
                               lambda: self.read(ctx, resource.id),
                               cloudfront_client(ctx).delete_field_level_encryption_config,
                               FLE_CONFIG.not_found, resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "field_level_encryption_id": resource.id}


def fle_steps(config: PlatformConfig) -> list[Step]:
    """The three steps, when field-level encryption is enabled."""
    if not config.cloudfront.security.field_level_encryption.enabled:
        return []
    return [PublicKeyStep(config), ProfileStep(config), ConfigStep(config)]


__all__ = ["ConfigStep", "ProfileStep", "PublicKeyStep", "fle_steps"]
