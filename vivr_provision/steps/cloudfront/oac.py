"""The origin access control that signs requests to the S3 origin (SigV4).

Drift is :data:`OAC_FIELDS`: every setting we send, converged by one
``UpdateOriginAccessControl`` carrying them all (``IfMatch``).
"""

from __future__ import annotations

from typing import Any

from vivr_provision.log import get_logger
from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.cloudfront.common import (
    CLOUDFRONT_REGION,
    OAC_STEP,
    STALE_ETAG,
    STILL_IN_USE,
    cloudfront_client,
    config_row,
    items_of,
    require_note,
    with_note,
)
from vivr_provision.steps.cloudfront.etag_config import ConfigApi, EtagConfigStep
from vivr_provision.steps.common import (
    gone_on,
)
from vivr_provision.steps.drift import Field
from vivr_provision.steps.kinds import ORIGIN_ACCESS_CONTROL

events = get_logger("vivr.cloudfront")

# --------------------------------------------------------------------------- origin access control

#: CloudFront's limit on an origin access control's Description.
OAC_DESCRIPTION_LIMIT = 256


def _setting(key: str) -> Field:
    """One setting we send, "" where AWS omits it."""
    return config_row(key, lambda c: c.get(key), compare="defaulted", default="")


OAC_FIELDS = tuple(_setting(key) for key in ("Name", "Description", "SigningProtocol",
                                             "SigningBehavior", "OriginAccessControlOriginType"))


class OriginAccessControlStep(EtagConfigStep):
    """How the distribution signs its requests to the assets bucket (SigV4, always)."""

    family = OAC_STEP
    kinds = (ORIGIN_ACCESS_CONTROL,)
    service = "cloudfront"
    api = ConfigApi(ORIGIN_ACCESS_CONTROL, "get_origin_access_control",
                    "create_origin_access_control", "OriginAccessControl",
                    "OriginAccessControlConfig")
    FIELDS = OAC_FIELDS

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

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        params: dict[str, Any] = {}
        while True:
            listing = cloudfront_client(ctx).list_origin_access_controls(**params)[
                "OriginAccessControlList"]
            for summary in items_of(listing):
                if summary.get("Name") == self.resource_name():
                    require_note(self, f"origin access control {self.resource_name()}",
                                 summary.get("Description"))
                    return self.read(ctx, summary["Id"])
            marker = listing.get("NextMarker")
            if not marker:
                return None
            params["Marker"] = marker

    def creation_config(self, ctx: StepContext, token: str) -> dict[str, Any]:
        return self.desired_config()

    def write_config(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """The whole config in one update, with the ETag of a fresh read."""
        def attempt() -> None:
            current = self.read(ctx, resource.id)
            if current is None:
                raise RuntimeError(f"{self.name}: {self.resource_name()} disappeared")
            cloudfront_client(ctx).update_origin_access_control(
                Id=resource.id, IfMatch=current.data["ETag"],
                OriginAccessControlConfig=self.desired_config())

        STALE_ETAG.call(f"update {self.resource_name()}", attempt)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        def attempt() -> None:
            current = self.read(ctx, resource.id)
            if current is not None:
                gone_on(ORIGIN_ACCESS_CONTROL.not_found,
                        cloudfront_client(ctx).delete_origin_access_control, Id=resource.id,
                        IfMatch=current.data["ETag"])

        STILL_IN_USE.call(f"delete {self.resource_name()}", STALE_ETAG.call,
                          f"delete {self.resource_name()}", attempt)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "origin_access_control_id": resource.id,
                "name": self.resource_name()}
