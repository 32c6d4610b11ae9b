"""Route 53 DNS query logging of the public hosted zone (``dns-query-logging``).

``CreateQueryLoggingConfig`` ties the zone (``route53-zone``) to a log group
(``logs.<route53.query_log_group>``).  What AWS requires (Route 53 API
reference, CreateQueryLoggingConfig; Developer Guide, "Public DNS query
logging"):

* the group is in us-east-1 (config validation: the primary region is it)
  and in the zone's account;
* a CloudWatch Logs resource policy lets ``route53.amazonaws.com`` create
  streams and put events in it: ``logs-delivery-policy`` carries that
  statement (with ``aws:SourceAccount`` and ``aws:SourceArn``), so this step
  depends on it; without it AWS answers ``InsufficientCloudWatchLogsResourcePolicy``;
* the group's ARN is passed without the ``:*`` DescribeLogGroups shows.

A configuration cannot be changed: a different group is a new one, made
after the old one is deleted (a zone has at most one).  It has no tags: it
is found through the zone, which ``route53-zone`` has proven ours.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import gone_on
from vivr_provision.steps.dns import ZONE_STEP
from vivr_provision.steps.drift import Field, drift
from vivr_provision.steps.kinds import QUERY_LOGGING_CONFIG
from vivr_provision.steps.log_delivery import POLICY_STEP

QUERY_LOGGING_STEP = "dns-query-logging"


class QueryLoggingStep(NamedStep):
    """The zone's one query logging configuration, into its log group."""

    family = QUERY_LOGGING_STEP
    service = "route53"
    kinds = (QUERY_LOGGING_CONFIG,)
    expected_seconds = 2.0
    #: Stateless (the records are in the group): a new group replaces it on its own.
    replace_automatically = True

    def __init__(self, config: PlatformConfig, log_group: str) -> None:
        super().__init__(config)
        self.log_group = log_group

    def resource_name(self) -> str:
        return f"{self.config.route53.hosted_zone.name}-query-logging"

    @property
    def group_step(self) -> str:
        return f"logs.{self.log_group}"

    def depends_on(self) -> tuple[str, ...]:
        return (ZONE_STEP, self.group_step, POLICY_STEP)

    def route53(self, ctx: StepContext) -> Any:
        return ctx.client("route53", self.region)

    def destination(self, ctx: StepContext) -> str:
        return str(ctx.output(self.group_step, "arn")).removesuffix(":*")

    def lookup(self, ctx: StepContext) -> Resource | None:
        if not ctx.has_outputs(ZONE_STEP):
            return None
        zone_id = str(ctx.output(ZONE_STEP, "zone_id"))
        pages = self.route53(ctx).get_paginator("list_query_logging_configs").paginate(
            HostedZoneId=zone_id)
        for page in pages:
            for item in page.get("QueryLoggingConfigs", []):
                return Resource(str(item["Id"]), dict(item))
        return None

    #: Immutable: another group is a replacement.
    FIELDS = (Field("log_group", lambda d: str(d.get("CloudWatchLogsLogGroupArn", ""))
                    .removesuffix(":*"), lambda s, ctx: s.destination(ctx), effect="replace"),)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def create(self, ctx: StepContext, token: str) -> Resource:
        reply = self.route53(ctx).create_query_logging_config(
            HostedZoneId=str(ctx.output(ZONE_STEP, "zone_id")),
            CloudWatchLogsLogGroupArn=self.destination(ctx))
        item = reply["QueryLoggingConfig"]
        return Resource(str(item["Id"]), dict(item))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(QUERY_LOGGING_CONFIG.not_found, self.route53(ctx).delete_query_logging_config,
                Id=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "query_logging_config_id": resource.id,
                "log_group_arn": resource.data.get("CloudWatchLogsLogGroupArn")}


def query_logging_steps(config: PlatformConfig) -> list[Step]:
    """``dns-query-logging`` when ``route53.query_log_group`` names a group."""
    key = config.route53.query_log_group
    return [] if key is None else [QueryLoggingStep(config, key)]


__all__ = ["QUERY_LOGGING_STEP", "QueryLoggingStep", "query_logging_steps"]
