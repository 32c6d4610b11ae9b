"""A CloudFront sub-resource whose whole config is read and written under an ETag.

Origin access controls and field-level encryption profiles and configs are
the same shape: ``Get<X>`` answers ``{<X>: {Id, <X>Config}, ETag}``,
``Create<X>`` takes ``<X>Config`` and answers likewise, and an update
replaces the whole config with the ETag of a fresh read.  :class:`ConfigApi`
names the calls and keys of one such type (data); :class:`EtagConfigStep`
reads, creates (adopting the twin a retried create made), diffs and
re-reads once for all of them.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.cloudfront.common import cloudfront_client
from vivr_provision.steps.common import absent_on
from vivr_provision.steps.drift import Field, converge, drift
from vivr_provision.steps.kinds import Kind


@dataclass(frozen=True)
class ConfigApi:
    """The calls and reply keys of one ETag-guarded CloudFront type."""

    kind: Kind
    #: Client method reading one by id (``get_origin_access_control``).
    get: str
    #: Client method creating one (``create_origin_access_control``).
    create: str
    #: The reply key of the resource (``OriginAccessControl``).
    body: str
    #: Its config's key, also the create call's parameter (``OriginAccessControlConfig``).
    config: str


def as_resource(api: ConfigApi, reply: dict[str, Any]) -> Resource:
    body = reply[api.body]
    return Resource(body["Id"], {"Config": dict(body[api.config]), "ETag": reply.get("ETag")})


class EtagConfigStep(Step):
    """Read, create, diff and re-read of an ETag-guarded CloudFront resource."""

    api: ClassVar[ConfigApi]
    #: The managed settings (see :mod:`vivr_provision.steps.drift`).
    FIELDS: ClassVar[tuple[Field, ...]] = ()

    @abstractmethod
    def creation_config(self, ctx: StepContext, token: str) -> dict[str, Any]:
        """The config a create sends (``token``: the engine's idempotency token)."""

    def read(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The resource with its config and ETag, or None when it is gone."""
        reply = absent_on(self.api.kind.not_found,
                          getattr(cloudfront_client(ctx), self.api.get), Id=resource_id)
        return None if reply is None else as_resource(self.api, reply)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self.read(ctx, resource_id)

    def create(self, ctx: StepContext, token: str) -> Resource:
        try:
            reply = getattr(cloudfront_client(ctx), self.api.create)(
                **{self.api.config: self.creation_config(ctx, token)})
        except aws_errors.ClientError as exc:
            # A create retried after a lost answer meets its own first attempt.
            if error_code(exc) not in self.api.kind.already_exists:
                raise
            adopted = self.find_by_tags(ctx)
            if adopted is None:
                raise
            changes = self.diff(ctx, adopted)
            return self.update(ctx, adopted, changes) if changes else adopted
        return as_resource(self.api, reply)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.read(ctx, resource.id)
        assert found is not None, f"{self.api.kind.noun} {resource.id} just updated is readable"
        return found
