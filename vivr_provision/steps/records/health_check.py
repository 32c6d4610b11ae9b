"""``health-check.primary-alb``: Route 53's HTTPS check of the primary ALB.

``CreateHealthCheck`` takes no tags, so they are added by a second call; a
crash in between leaves an untagged check that is still recognised as ours
by its ``CallerReference`` (the engine's deterministic token).  The lookup
never relies on the server honouring the reference: it lists the checks
and reads their tags before any create.  Drift is the
:data:`HEALTH_CHECK_FIELDS` table, converged by one ``UpdateHealthCheck``
(type and interval are fixed at create: a replacement, left to the operator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import Route53HealthCheckConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import (
    Change,
    Resource,
    Step,
    StepContext,
    idempotency_token,
)
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    tag_map,
)
from vivr_provision.steps.dns import TOKEN_GENERATIONS
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import HEALTH_CHECK
from vivr_provision.steps.records.common import (
    ALB_STEP,
    HEALTH_CHECK_FAMILY,
    HEALTH_CHECK_KEY,
    events,
)
from vivr_provision.tag_batch import batched_tags, route53_arn

#: Another writer updated the check between our read and our update.
VERSION_MOVED = policy({"HealthCheckVersionMismatch"},
                       "the health check changed since it was read; re-reading its version",
                       deadline_s=60, max_attempts=5, initial_s=0.5)
#: ListTagsForResources takes at most 10 ids per call.
TAG_BATCH = 10


#: What CreateHealthCheck fixes for the check's life (UpdateHealthCheck takes neither).
FIXED_AT_CREATE = ("Type", "RequestInterval")


def _check_setting(key: str) -> Field:
    """One HealthCheckConfig setting; Inverted and Disabled are False when not reported."""
    defaulted = key in ("Inverted", "Disabled")
    return Field(key, lambda d: (d.get("HealthCheckConfig") or {}).get(key),
                 lambda s, ctx: s.desired(ctx)[key],
                 compare="defaulted" if defaulted else "exact",
                 default=False if defaulted else None,
                 effect="replace" if key in FIXED_AT_CREATE else "in_place",
                 apply=None if key in FIXED_AT_CREATE else "update_check")


def _host(name: Any) -> str:
    """A DNS name compared as DNS does: without case or the final dot."""
    return str(name or "").lower().rstrip(".")


#: The check's settings in HealthCheckConfig order, tags first.
HEALTH_CHECK_FIELDS = (
    TAGS,
    _check_setting("Type"),
    Field("FullyQualifiedDomainName",
          lambda d: _host((d.get("HealthCheckConfig") or {}).get("FullyQualifiedDomainName")),
          lambda s, ctx: _host(s.desired(ctx)["FullyQualifiedDomainName"]),
          apply="update_check"),
    *(_check_setting(key) for key in ("Port", "ResourcePath", "RequestInterval",
                                      "FailureThreshold", "EnableSNI", "Inverted", "Disabled")),
)


class HealthCheckStep(Step):
    """``health-check.primary-alb``: Route 53 probes the primary ALB's health endpoint.

    The same class makes ``health-check.standby-alb`` (the SECONDARY's own
    check, only with ``secondary_health_check``): ``key`` names the step,
    ``alb_step`` the load balancer probed, ``alb_name`` its name.
    """

    family = HEALTH_CHECK_FAMILY
    kinds = (HEALTH_CHECK,)
    service = "route53"
    expected_seconds = 5.0
    #: Type and request interval cannot change in place; the failover record
    #: refers to the check, so a replacement is left to the operator.
    replace_automatically = False

    def __init__(self, config: PlatformConfig, check: Route53HealthCheckConfig, *,
                 key: str = HEALTH_CHECK_KEY, alb_step: str = ALB_STEP,
                 alb_name: str | None = None) -> None:
        super().__init__(config, key)
        self.check = check
        self.alb_step = alb_step
        self.alb_name = alb_name or config.alb.name

    def resource_name(self) -> str:
        return f"{self.alb_name}-health"

    def depends_on(self) -> tuple[str, ...]:
        return (self.alb_step,)

    def route53(self, ctx: StepContext) -> Any:
        return ctx.client("route53")

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        """The HealthCheckConfig the spec asks for, against the ALB's own DNS name.

        SNI carries the host name in the TLS handshake, as browsers do;
        Route 53 does not validate the certificate, so the ALB's DNS name
        (not on the vivr.example.com certificate) is fine to probe.
        """
        return {"Type": self.check.type,
                "FullyQualifiedDomainName": str(ctx.output(self.alb_step, "dns_name")),
                "Port": self.check.port,
                "ResourcePath": self.check.resource_path,
                "RequestInterval": self.check.request_interval_seconds,
                "FailureThreshold": self.check.failure_threshold,
                "EnableSNI": self.check.type == "HTTPS",
                "Inverted": False,
                "Disabled": False}

    # -- lookup ----------------------------------------------------------------
    def _ours_by_reference(self, caller_reference: str) -> bool:
        """Whether ``caller_reference`` is a token the engine would give this step."""
        return any(caller_reference == idempotency_token(self.config.project,
                                                         self.config.environment, self.name, g)
                   for g in range(TOKEN_GENERATIONS))

    def _is_ours(self, check: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
        return is_owned_by(self, tags) or self._ours_by_reference(
            str(check.get("CallerReference", "")))

    def _tags(self, ctx: StepContext, check_id: str) -> dict[str, str]:
        """Its tags: us-east-1's tag batch on the first read (call it for a check
        GetHealthCheck found), else ListTagsForResource."""
        batched = batched_tags(ctx, self.name, route53_arn("healthcheck", check_id),
                               self.tags())
        if batched is not None:
            return batched
        reply = self.route53(ctx).list_tags_for_resource(ResourceType="healthcheck",
                                                         ResourceId=check_id)
        return tag_map(reply["ResourceTagSet"].get("Tags"))

    def _resource(self, check: Mapping[str, Any], tags: dict[str, str]) -> Resource:
        return Resource(str(check["Id"]), {**check, "TagMap": tags})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(HEALTH_CHECK.not_found, self.route53(ctx).get_health_check,
                          HealthCheckId=resource_id)
        if reply is None:
            return None
        check = dict(reply["HealthCheck"])
        tags = self._tags(ctx, check["Id"])
        return self._resource(check, tags) if self._is_ours(check, tags) else None

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """List every check, read tags ten at a time; the first one of ours wins."""
        route53 = self.route53(ctx)
        checks = [dict(c) for page in route53.get_paginator("list_health_checks").paginate()
                  for c in page["HealthChecks"]]
        for start in range(0, len(checks), TAG_BATCH):
            batch = checks[start:start + TAG_BATCH]
            reply = route53.list_tags_for_resources(ResourceType="healthcheck",
                                                    ResourceIds=[c["Id"] for c in batch])
            tags = {s["ResourceId"]: tag_map(s.get("Tags")) for s in reply["ResourceTagSets"]}
            for check in batch:
                if self._is_ours(check, tags.get(check["Id"], {})):
                    return self._resource(check, tags.get(check["Id"], {}))
        return None

    # -- lifecycle ---------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        reply = self.route53(ctx).create_health_check(CallerReference=token,
                                                      HealthCheckConfig=self.desired(ctx))
        check = dict(reply["HealthCheck"])
        # Tags by a second call (CreateHealthCheck takes none); a crash before
        # it is recognised by the CallerReference and tagged by the next diff.
        self._tag(ctx, check["Id"], self.tags())
        events.info("route53.health_check.created", step=self.name, id=check["Id"],
                    fqdn=check["HealthCheckConfig"].get("FullyQualifiedDomainName"))
        return self._resource(check, self._tags(ctx, check["Id"]))

    def _tag(self, ctx: StepContext, check_id: str, tags: dict[str, str]) -> None:
        self.route53(ctx).change_tags_for_resource(ResourceType="healthcheck",
                                                   ResourceId=check_id, AddTags=aws_tags(tags))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, HEALTH_CHECK_FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, HEALTH_CHECK_FIELDS)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None
        return found

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self._tag(ctx, resource.id, changes[-1].desired)

    def update_check(self, ctx: StepContext, resource: Resource,
                     changes: list[Change]) -> None:
        """Every settable setting in one UpdateHealthCheck (type and interval cannot change)."""
        settable = {k: v for k, v in self.desired(ctx).items() if k not in FIXED_AT_CREATE}

        def _update() -> None:
            # The version is read afresh on each try: UpdateHealthCheck
            # refuses a stale one, so a concurrent edit is never overwritten blind.
            current = self.route53(ctx).get_health_check(HealthCheckId=resource.id)
            self.route53(ctx).update_health_check(
                HealthCheckId=resource.id,
                HealthCheckVersion=current["HealthCheck"]["HealthCheckVersion"], **settable)

        VERSION_MOVED.call(f"update health check {resource.id}", _update)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete; a check a record still refers to is named, not retried forever."""
        try:
            gone_on(HEALTH_CHECK.not_found, self.route53(ctx).delete_health_check,
                    HealthCheckId=resource.id)
        except aws_errors.ClientError as exc:
            if error_code(exc) != "HealthCheckInUse":
                raise
            raise RuntimeError(
                f"{self.name}: health check {resource.id} is still attached to a record set "
                "that vivr-provision did not write; remove that reference and rerun destroy"
            ) from exc

    def outputs(self, resource: Resource) -> dict[str, Any]:
        config = resource.data.get("HealthCheckConfig") or {}
        return {"id": resource.id, "health_check_id": resource.id,
                "fqdn": config.get("FullyQualifiedDomainName")}
