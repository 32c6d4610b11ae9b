"""What every part of one load balancer shares: its config, its site, step names, retries.

Kept apart from the three step modules (target group, load balancer,
listener) so each of them imports only this, never a sibling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import AlbConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Site, Step, StepContext

#: A target group stays "in use" for a short while after its last listener or
#: rule is deleted; the ECS service deregistering its tasks takes longer.
TARGET_GROUP_IN_USE = policy({"ResourceInUse"},
                             "a listener, rule or service is still releasing the target group",
                             deadline_s=600, max_attempts=40, initial_s=2.0, max_wait_s=30.0)
#: AWS checks that it may write to the access-log bucket when logging is
#: switched on; a bucket policy written seconds ago may not be visible yet.
LOG_BUCKET_SETTLING = policy({"InvalidConfigurationRequest"},
                             "the access-log bucket policy is not visible to ELB yet",
                             deadline_s=180, initial_s=2.0, message=r"bucket")
#: A certificate issued seconds ago may not be visible to ELB yet.
CERTIFICATE_SETTLING = policy({"CertificateNotFound"},
                              "a freshly issued certificate is not visible to ELB yet",
                              deadline_s=180, initial_s=2.0)
TG_STEP = "alb-target-group"
LB_STEP = "alb"
LISTENER_FAMILY = "alb-listener"
#: The certificate step of the HTTPS listener (per site: ``acm``, ``dr.acm``).
ACM_STEP = "acm"


def elbv2(ctx: StepContext, region: str) -> Any:
    return ctx.client("elbv2", region)


def attribute_map(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """``Describe*Attributes``' ``[{Key, Value}]`` as a map (values are strings in ELB)."""
    return {a["Key"]: str(a.get("Value", "")) for a in items or []}


def attribute_list(wanted: Mapping[str, str]) -> list[dict[str, str]]:
    """The ``Attributes`` of ``Modify*Attributes``, sorted for stable requests."""
    return [{"Key": k, "Value": v} for k, v in sorted(wanted.items())]


def arn_resource(arn: str) -> str:
    """The resource part of an ELBv2 ARN (``loadbalancer/app/name/id``, ``targetgroup/...``)."""
    return arn.split(":", 5)[-1]


class AlbPartStep(Step):
    """A part of one load balancer: carries that balancer's config and site.

    ``alb`` is ``config.alb`` for the primary region or ``config.dr.alb``
    for the standby; names of sibling steps go through ``self.site`` so the
    standby's parts depend on the DR network, never on the primary's.
    """

    service = "elbv2"

    def __init__(self, config: PlatformConfig, alb: AlbConfig, key: str | None = None, *,
                 site: Site | None = None) -> None:
        super().__init__(config, key, site=site)
        self.alb = alb

    def elbv2(self, ctx: StepContext) -> Any:
        return elbv2(ctx, self.region)
