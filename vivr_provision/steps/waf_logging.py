"""WAF logging: the web ACL's full request logs into a CloudWatch Logs group (``waf-logging``).

One ``PutLoggingConfiguration`` ties the ACL (``waf``) to its log group
(``logs.<waf.log_group>``).  Why it looks the way it does (WAF Developer
Guide, "Logging web ACL traffic" and "Sending web ACL traffic logs to an
Amazon CloudWatch Logs log group"):

* the group's name must start with ``aws-waf-logs-`` (config validation
  refuses another), and an ACL of scope CLOUDFRONT logs only into a group
  in us-east-1, its own region (validation: the primary region is it);
* the destination is the group's ARN without the ``:*`` suffix
  DescribeLogGroups shows;
* WAF delivers through ``delivery.logs.amazonaws.com``, which needs a
  CloudWatch Logs resource policy admitting it on the group: WAF would put
  a broad ``AWSWAF-LOGS`` policy itself if the caller may; the tool's own
  ``logs-delivery-policy`` already admits that principal on exactly the
  delivered groups (this one among them, with ``aws:SourceAccount`` and
  ``aws:SourceArn``), so this step depends on it.

A logging configuration has no tags and no name of its own: it is found
through the ACL's ARN, which ``waf`` has already proven ours.  It holds no
data (the records are in the group), so a change is a put, and destroy
deletes it before the ACL and the group.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import absent_on, gone_on
from vivr_provision.steps.drift import Field, converge, drift
from vivr_provision.steps.kinds import WEB_ACL
from vivr_provision.steps.log_delivery import POLICY_STEP

WAF_LOGGING_STEP = "waf-logging"
WAF_STEP = "waf"


class WafLoggingStep(NamedStep):
    """The web ACL's logging configuration: one CloudWatch Logs group, all requests."""

    family = WAF_LOGGING_STEP
    service = "wafv2"
    kinds = (WEB_ACL,)
    expected_seconds = 2.0

    def __init__(self, config: PlatformConfig, log_group: str) -> None:
        super().__init__(config)
        self.log_group = log_group

    def resource_name(self) -> str:
        return f"{self.config.waf.web_acl_name}-logging"

    @property
    def group_step(self) -> str:
        return f"logs.{self.log_group}"

    @property
    def region(self) -> str:
        """The ACL's region (us-east-1 for scope CLOUDFRONT), where WAF is called."""
        return "us-east-1" if self.config.waf.scope == "CLOUDFRONT" else super().region

    def depends_on(self) -> tuple[str, ...]:
        return (WAF_STEP, self.group_step, POLICY_STEP)

    def wafv2(self, ctx: StepContext) -> Any:
        return ctx.client("wafv2", self.region)

    def acl_arn(self, ctx: StepContext) -> str:
        return str(ctx.output(WAF_STEP, "web_acl_arn"))

    def destination(self, ctx: StepContext) -> str:
        """The group's ARN as WAF takes it: no ``:*`` suffix."""
        return str(ctx.output(self.group_step, "arn")).removesuffix(":*")

    def lookup(self, ctx: StepContext) -> Resource | None:
        if not ctx.has_outputs(WAF_STEP):
            return None
        reply = absent_on(WEB_ACL.not_found, self.wafv2(ctx).get_logging_configuration,
                          ResourceArn=self.acl_arn(ctx))
        if reply is None:
            return None
        return Resource(self.acl_arn(ctx), dict(reply["LoggingConfiguration"]))

    #: One row: where the logs go (a put replaces the whole configuration).
    FIELDS = (Field("destinations", lambda d: d.get("LogDestinationConfigs"),
                    lambda s, ctx: [s.destination(ctx)], apply="put"),)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def put(self, ctx: StepContext, resource: Resource | None, changes: list[Change]) -> None:
        self.wafv2(ctx).put_logging_configuration(LoggingConfiguration={
            "ResourceArn": self.acl_arn(ctx), "LogDestinationConfigs": [self.destination(ctx)]})

    def create(self, ctx: StepContext, token: str) -> Resource:
        self.put(ctx, None, [])
        found = self.lookup(ctx)
        assert found is not None, "a logging configuration just put is readable"
        return found

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.lookup(ctx)
        assert found is not None, "a logging configuration just put is readable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(WEB_ACL.not_found, self.wafv2(ctx).delete_logging_configuration,
                ResourceArn=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "web_acl_arn": resource.id,
                "destinations": list(resource.data.get("LogDestinationConfigs") or [])}


def waf_logging_steps(config: PlatformConfig) -> list[Step]:
    """``waf-logging`` when ``waf.log_group`` names a group."""
    key = config.waf.log_group
    return [] if key is None else [WafLoggingStep(config, key)]


__all__ = ["WAF_LOGGING_STEP", "WafLoggingStep", "waf_logging_steps"]
