"""``vivr-app-tg``: the target group the ECS tasks register in by IP.

Read by name (``DescribeTargetGroups(Names=[...])``, :data:`TARGET_GROUP`'s
``Read``) plus its attributes.  Drift is the :attr:`TargetGroupStep.FIELDS`
table: protocol, port, target type and VPC cannot change (a replacement,
which apply refuses: the ECS service and the listeners point at the
group); the health check is converged by one ``ModifyTargetGroup`` with
every health-check setting, the attributes by one
``ModifyTargetGroupAttributes`` with those that differ.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.steps.alb.common import (
    TARGET_GROUP_IN_USE,
    TG_STEP,
    AlbPartStep,
    arn_resource,
    attribute_list,
    attribute_map,
)
from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.common import KindStep, aws_tags, gone_on
from vivr_provision.steps.drift import NAME, TAGS, UNREPORTED, Field
from vivr_provision.steps.kinds import TARGET_GROUP

#: CreateTargetGroup/ModifyTargetGroup's health-check parameters, in plan order.
HEALTH_CHECK_KEYS = ("HealthCheckEnabled", "HealthCheckProtocol", "HealthCheckPort",
                     "HealthCheckPath", "HealthCheckIntervalSeconds",
                     "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
                     "UnhealthyThresholdCount", "Matcher")


def _fixed(key: str, wanted: Any) -> Field:
    """A setting CreateTargetGroup fixes for the group's life."""
    return Field(key, lambda d: d.get(key), wanted, effect="replace")


def _health(key: str) -> Field:
    def current(data: Any) -> Any:
        value = data.get(key)
        if key == "HealthCheckEnabled" and value is None:
            return UNREPORTED  # older API versions do not report it
        return value

    return Field(key, current, lambda s, ctx: s.health_check()[key], apply="modify_health_check")


class TargetGroupStep(AlbPartStep, KindStep):
    """``vivr-app-tg``: where the ECS tasks register by IP; health check on /api/health."""

    family = TG_STEP
    kind = TARGET_GROUP

    FIELDS = (
        NAME,
        TAGS,
        _fixed("Protocol", lambda s, ctx: s.alb.target_group.protocol),
        _fixed("Port", lambda s, ctx: s.alb.target_group.port),
        _fixed("TargetType", lambda s, ctx: s.alb.target_group.target_type),
        _fixed("VpcId", lambda s, ctx: ctx.output(s.site.step("vpc"), "vpc_id")),
        *(_health(key) for key in HEALTH_CHECK_KEYS),
        # Only the attributes we set count (AWS reports many more): the
        # ``tags`` comparison is exactly that, keys of ours with our values.
        Field("attributes", lambda d: d["Attributes"], lambda s, ctx: s.attributes(),
              compare="tags", apply="set_attributes"),
    )

    def resource_name(self) -> str:
        return self.alb.target_group.name

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("vpc"),)

    def with_details(self, ctx: StepContext, resource: Resource) -> Resource:
        """Its attributes (``data["Attributes"]``): DescribeTargetGroups omits them."""
        resource.data["Attributes"] = attribute_map(
            self.elbv2(ctx).describe_target_group_attributes(
                TargetGroupArn=resource.id)["Attributes"])
        return resource

    # -- desired settings ----------------------------------------------------
    def health_check(self) -> dict[str, Any]:
        check = self.alb.target_group.health_check
        return {
            "HealthCheckEnabled": True,
            "HealthCheckProtocol": check.protocol,
            "HealthCheckPort": str(check.port),
            "HealthCheckPath": check.path,
            "HealthCheckIntervalSeconds": check.interval_seconds,
            "HealthCheckTimeoutSeconds": check.timeout_seconds,
            "HealthyThresholdCount": check.healthy_threshold,
            "UnhealthyThresholdCount": check.unhealthy_threshold,
            "Matcher": {"HttpCode": check.matcher},
        }

    def attributes(self) -> dict[str, str]:
        group = self.alb.target_group
        wanted = {
            "deregistration_delay.timeout_seconds": str(group.deregistration_delay_seconds),
            "stickiness.enabled": str(group.stickiness.enabled).lower(),
            "stickiness.type": group.stickiness.type,
        }
        if group.stickiness.type == "lb_cookie":
            wanted["stickiness.lb_cookie.duration_seconds"] = str(
                group.stickiness.duration_seconds)
        return wanted

    def _write_attributes(self, ctx: StepContext, arn: str, wanted: dict[str, str]) -> None:
        self.elbv2(ctx).modify_target_group_attributes(TargetGroupArn=arn,
                                                       Attributes=attribute_list(wanted))

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.alb.target_group
        reply = self.elbv2(ctx).create_target_group(
            Name=group.name,
            Protocol=group.protocol,
            Port=group.port,
            VpcId=ctx.output(self.site.step("vpc"), "vpc_id"),
            TargetType=group.target_type,
            Tags=aws_tags(self.tags()),
            **self.health_check(),
        )
        self._write_attributes(ctx, reply["TargetGroups"][0]["TargetGroupArn"],
                               self.attributes())
        return self.reread(ctx)

    def modify_health_check(self, ctx: StepContext, resource: Resource,
                            changes: list[Change]) -> None:
        """Every health-check setting in one call: AWS validates them together
        (the timeout must stay below the interval)."""
        self.elbv2(ctx).modify_target_group(TargetGroupArn=resource.id, **self.health_check())

    def set_attributes(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        """Only the attributes that differ (the change's desired value)."""
        self._write_attributes(ctx, resource.id, changes[-1].desired)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        TARGET_GROUP_IN_USE.call(f"delete target group {self.resource_name()}", gone_on,
                                 TARGET_GROUP.not_found, self.elbv2(ctx).delete_target_group,
                                 TargetGroupArn=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "target_group_arn": resource.id,
                "name": self.resource_name(),
                # CloudWatch's TargetGroup dimension: targetgroup/<name>/<id>
                "arn_suffix": arn_resource(resource.id)}
