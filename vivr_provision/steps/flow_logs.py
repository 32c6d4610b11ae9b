"""VPC flow logs into a CloudWatch Logs group (``network.flow_logs``).

The first resource written in the shape issue 8 asks of a new one: an
:class:`~vivr_provision.steps.ec2.Ec2Kind` (describe, ids, tags, not-found
handled by :class:`~vivr_provision.steps.ec2.Ec2Step`), a field table
(:mod:`vivr_provision.steps.drift`), a config model
(:class:`~vivr_provision.config.network.FlowLogConfig`) and its tests.

Every setting of a flow log is fixed once created (there is no
ModifyFlowLog), so each field is a replacement; a flow log holds no data
(its records are in the log group), so apply replaces it on its own.
``CreateFlowLogs`` reports per-resource failures in ``Unsuccessful`` rather
than as an error, and takes a ``ClientToken``.

Both VPCs have one (issue 12): ``flow-log`` publishes into ``logs.<key>``,
``dr.flow-log`` into ``dr.logs.<key>``, the DR VPC's own group in us-west-2
(a flow log delivers only into a group of its region), encrypted with the
DR key (``dr.kms``); the role is IAM's, global, and may write into both.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.network import FlowLogConfig, NetworkConfig
from vivr_provision.steps.base import Resource, Site, Step, StepContext
from vivr_provision.steps.drift import Field
from vivr_provision.steps.ec2 import Ec2Kind, Ec2Step
from vivr_provision.steps.logs import LogGroupStep
from vivr_provision.steps.secret_replicas import DR_KEY_STEP

FLOW_LOG_STEP = "flow-log"
FLOW_LOG = Ec2Kind("describe_flow_logs", "FlowLogs", "FlowLogId", "FlowLogIds", "vpc-flow-log",
                   "InvalidFlowLogId.NotFound")


class FlowLogStep(Ec2Step):
    """One site's VPC flow log, publishing every flow record into its site's group."""

    family = FLOW_LOG_STEP
    kind = FLOW_LOG
    replace_automatically = True

    def __init__(self, config: PlatformConfig, flow: FlowLogConfig,
                 network: NetworkConfig | None = None, *, site: Site | None = None) -> None:
        super().__init__(config, site=site)
        self.flow = flow
        self.network = network or config.network

    def resource_name(self) -> str:
        return f"{self.network.vpc.name}-flow-log"

    @property
    def vpc_step(self) -> str:
        return self.site.step("vpc")

    @property
    def role_step(self) -> str:
        return f"iam.{self.flow.role}"  # IAM is global: one role for both sites

    @property
    def group_step(self) -> str:
        return self.site.step(f"logs.{self.flow.log_group}")

    def depends_on(self) -> tuple[str, ...]:
        return (self.vpc_step, self.group_step, self.role_step)

    #: Everything but tags is fixed at creation: a difference means a new flow log.
    FIELDS = (
        *Ec2Step.FIELDS,
        Field("vpc", lambda d: d.get("ResourceId"),
              lambda s, ctx: ctx.output(s.vpc_step, "vpc_id"), effect="replace"),
        Field("log_group", lambda d: d.get("LogGroupName"),
              lambda s, ctx: ctx.output(s.group_step, "name"), effect="replace"),
        Field("role", lambda d: d.get("DeliverLogsPermissionArn"),
              lambda s, ctx: ctx.output(s.role_step, "role_arn"), effect="replace"),
        Field("traffic_type", lambda d: d.get("TrafficType"),
              lambda s, ctx: s.flow.traffic_type, effect="replace"),
        Field("max_aggregation_interval", lambda d: d.get("MaxAggregationInterval"),
              lambda s, ctx: s.flow.max_aggregation_interval, compare="defaulted",
              default=600, effect="replace"),
    )

    def create(self, ctx: StepContext, token: str) -> Resource:
        reply = self.ec2(ctx).create_flow_logs(
            ResourceIds=[str(ctx.output(self.vpc_step, "vpc_id"))], ResourceType="VPC",
            TrafficType=self.flow.traffic_type, LogDestinationType="cloud-watch-logs",
            LogGroupName=str(ctx.output(self.group_step, "name")),
            DeliverLogsPermissionArn=str(ctx.output(self.role_step, "role_arn")),
            MaxAggregationInterval=self.flow.max_aggregation_interval,
            TagSpecifications=self.tag_specifications(), ClientToken=token)
        failed = reply.get("Unsuccessful") or []
        if failed:
            error = failed[0].get("Error") or {}
            raise RuntimeError(f"{self.name}: CreateFlowLogs refused "
                               f"{failed[0].get('ResourceId')}: {error.get('Code')}: "
                               f"{error.get('Message')}")
        [flow_log_id] = reply["FlowLogIds"]
        return self.refresh(ctx, Resource(str(flow_log_id), {}))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """DeleteFlowLogs answers per id; one already gone counts as deleted."""
        reply = self.ec2(ctx).delete_flow_logs(FlowLogIds=[resource.id])
        for failure in reply.get("Unsuccessful") or []:
            error = failure.get("Error") or {}
            if error.get("Code") != FLOW_LOG.not_found:
                raise RuntimeError(f"{self.name}: DeleteFlowLogs refused {resource.id}: "
                                   f"{error.get('Code')}: {error.get('Message')}")

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "flow_log_id": resource.id,
                "log_group": resource.data.get("LogGroupName")}


def dr_flow_log_steps(config: PlatformConfig) -> list[Step]:
    """``dr.logs.<key>`` and ``dr.flow-log``, when the DR network has ``flow_logs``."""
    network = config.dr.network if config.dr.enabled else None
    flow = network.flow_logs if network is not None else None
    if network is None or flow is None or flow.dr_group_name is None:
        return []
    site = Site(prefix="dr.", region=config.dr.region)
    group = config.logs.group(flow.log_group).model_copy(update={"name": flow.dr_group_name})
    key_step = DR_KEY_STEP if config.kms.multi_region else None
    return [LogGroupStep(config, flow.log_group, group, key_step=key_step, site=site),
            FlowLogStep(config, flow, network, site=site)]


def flow_log_steps(config: PlatformConfig) -> list[Step]:
    """Each VPC's flow log: ``flow-log`` (``network.flow_logs``) and the DR site's."""
    flow = config.network.flow_logs
    primary: list[Step] = [] if flow is None else [FlowLogStep(config, flow)]
    return primary + dr_flow_log_steps(config)


__all__ = ["FLOW_LOG_STEP", "FlowLogStep", "flow_log_steps"]
