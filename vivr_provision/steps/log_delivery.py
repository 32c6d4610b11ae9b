"""Logs that AWS services deliver into our groups: the delivery policy and the deliveries.

* ``logs-delivery-policy``: the account's CloudWatch Logs resource policy
  that lets ``delivery.logs.amazonaws.com`` (the service behind "vended"
  logs) create streams and put events in exactly the groups AWS delivers
  to: the Redis slow/engine log group(s) and each delivery's group.  AWS
  would write a policy like it itself on the first delivery if the caller
  may ``logs:PutResourcePolicy`` (CloudWatch Logs User Guide, "Logs sent to
  CloudWatch Logs"); writing it here keeps it scoped, visible in ``plan``
  and removed by ``destroy``.
* ``log-delivery.<key>``: one CloudWatch Logs delivery of ``logs.deliveries``
  (CloudFront standard logging v2, ALB access logs): a delivery source (the
  distribution or load balancer and its log type), a delivery destination
  (the group and the output format) and the delivery pairing them.  The
  three are one tight group: created in that order, deleted in reverse
  (AWS refuses to delete a source or destination a delivery still uses),
  and a run interrupted between them completes the missing ones.  None of
  these APIs takes a token; names are unique per account and region.

ElastiCache's own delivery settings (``LogDeliveryConfigurations``) are sent
by the ``cache`` step; :func:`cache_log_deliveries` builds them here so the
two services' log wiring reads in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import LogDeliveryConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.steps.alb import LB_STEP
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.cloudfront.common import DISTRIBUTION_STEP
from vivr_provision.steps.common import absent_on, gone_on, require_owned
from vivr_provision.steps.drift import UNREPORTED, Field, converge, drift
from vivr_provision.steps.kinds import LOG_DELIVERY

POLICY_STEP = "logs-delivery-policy"
#: The service principal of vended log delivery (CloudWatch Logs User Guide).
DELIVERY_SERVICE = "delivery.logs.amazonaws.com"
#: The principal that writes DNS query logs (Route 53 Developer Guide, "Public DNS
#: query logging": the resource policy names it).
ROUTE53_SERVICE = "route53.amazonaws.com"
#: Where each delivery source kind's resource ARN comes from: (step, output).
SOURCE_OUTPUTS = {"cloudfront": (DISTRIBUTION_STEP, "arn"), "alb": (LB_STEP, "load_balancer_arn")}


def cache_log_deliveries(config: PlatformConfig,
                         redis: RedisConfig | None = None) -> list[dict[str, Any]]:
    """ElastiCache ``LogDeliveryConfigurations``: Redis slow log / engine log to CloudWatch Logs.

    ``redis``: the replication group's config (default ``config.redis``; the
    DR standby's has no log groups, because ``logs.groups`` are in the
    primary region and ElastiCache delivers only to its own region's groups).
    """
    redis = redis or config.redis
    wanted = []
    for log_type, key in (("slow-log", redis.slow_log_group),
                          ("engine-log", redis.engine_log_group)):
        if key is not None:
            wanted.append({
                "LogType": log_type, "DestinationType": "cloudwatch-logs",
                "DestinationDetails": {
                    "CloudWatchLogsDetails": {"LogGroup": config.logs.group(key).name}},
                "LogFormat": redis.log_format, "Enabled": True})
    return wanted


def cache_log_dependencies(config: PlatformConfig,
                           redis: RedisConfig | None = None) -> tuple[str, ...]:
    """The group steps (and the delivery policy) the replication group's log delivery needs."""
    redis = redis or config.redis
    keys = sorted({k for k in (redis.slow_log_group, redis.engine_log_group) if k is not None})
    return (*(f"logs.{k}" for k in keys), POLICY_STEP) if keys else ()


def log_delivery_map(configurations: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``{log type: (destination type, group, format)}`` of live or wanted configurations.

    Entries AWS reports as ``disabling`` are on their way out and not counted.
    """
    found: dict[str, Any] = {}
    for item in configurations or []:
        if str(item.get("Status", "")).lower() in ("disabling", "disabled"):
            continue
        details = (item.get("DestinationDetails") or {}).get("CloudWatchLogsDetails") or {}
        found[str(item.get("LogType"))] = [item.get("DestinationType"), details.get("LogGroup"),
                                           item.get("LogFormat")]
    return found


def cache_log_changes(configurations: list[dict[str, Any]] | None,
                      config: PlatformConfig, redis: RedisConfig | None = None) -> list[Change]:
    """A ``log_delivery`` change when the group's deliveries differ from the config."""
    current = log_delivery_map(configurations)
    desired = log_delivery_map(cache_log_deliveries(config, redis))
    return [Change("log_delivery", current, desired)] if current != desired else []


def cache_log_update(configurations: list[dict[str, Any]] | None,
                     config: PlatformConfig,
                     redis: RedisConfig | None = None) -> list[dict[str, Any]]:
    """What ModifyReplicationGroup needs: the wanted deliveries, and the others switched off."""
    wanted = cache_log_deliveries(config, redis)
    stale = set(log_delivery_map(configurations)) - {w["LogType"] for w in wanted}
    return wanted + [{"LogType": t, "Enabled": False} for t in sorted(stale)]


def delivered_group_keys(config: PlatformConfig) -> list[str]:
    """Keys of the groups an AWS service delivers into (through ``delivery.logs``)."""
    keys = {k for k in (config.redis.slow_log_group, config.redis.engine_log_group) if k}
    keys |= {d.group for d in config.logs.deliveries.values()}
    if config.waf.log_group is not None:  # WAF logs go through delivery.logs too
        keys.add(config.waf.log_group)
    export = config.backup.redis_export
    if export is not None and config.redis.export_to_s3_daily and export.log_group is not None:
        keys.add(export.log_group)  # Step Functions' vended logs (issue 12)
    return sorted(keys)


# --------------------------------------------------------------------------- resource policy


class LogDeliveryPolicyStep(NamedStep):
    """The account's resource policy letting log delivery write into our delivered groups.

    A resource policy has no tags; its name (per environment, from config)
    is its identity.
    """

    family = POLICY_STEP
    service = "logs"

    def resource_name(self) -> str:
        return self.config.logs.delivery_policy_name

    def logs(self, ctx: StepContext) -> Any:
        return ctx.client("logs", self.region)

    def document(self, ctx: StepContext) -> dict[str, Any]:
        """AWS's own policy for vended logs, scoped to our groups' streams."""
        account, region = ctx.account_id, self.region
        statements: list[dict[str, Any]] = []
        keys = delivered_group_keys(self.config)
        if keys:
            streams = [f"arn:aws:logs:{region}:{account}:log-group:"
                       f"{self.config.logs.group(k).name}:log-stream:*" for k in keys]
            statements.append({
                "Sid": "AWSLogDeliveryWrite", "Effect": "Allow",
                "Principal": {"Service": DELIVERY_SERVICE},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": streams,
                "Condition": {"StringEquals": {"aws:SourceAccount": account},
                              "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account}:*"}},
            })
        query_logs = self.config.route53.query_log_group
        if query_logs is not None:
            # Route 53 Developer Guide, "Public DNS query logging" (with its
            # confused-deputy conditions): Route 53 of this account's zones only.
            name = self.config.logs.group(query_logs).name
            statements.append({
                "Sid": "Route53QueryLogsWrite", "Effect": "Allow",
                "Principal": {"Service": ROUTE53_SERVICE},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:aws:logs:{region}:{account}:log-group:{name}:*"],
                "Condition": {"StringEquals": {"aws:SourceAccount": account},
                              "ArnLike": {"aws:SourceArn": "arn:aws:route53:::hostedzone/*"}},
            })
        return {"Version": "2012-10-17", "Statement": statements}

    def lookup(self, ctx: StepContext) -> Resource | None:
        token: str | None = None
        while True:
            reply = self.logs(ctx).describe_resource_policies(
                **({"nextToken": token} if token else {}))
            for item in reply.get("resourcePolicies", []):
                if item.get("policyName") == self.resource_name():
                    return Resource(self.resource_name(), dict(item))
            token = reply.get("nextToken")
            if not token:
                return None

    def _reread(self, ctx: StepContext) -> Resource:
        found = self.lookup(ctx)
        assert found is not None, "a resource policy just put is listed"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        self.put_policy(ctx, None, [])
        return self._reread(ctx)

    #: The document, compared as parsed JSON; plan names the difference, not the documents.
    FIELDS = (Field("policy", lambda d: json.loads(d.get("policyDocument") or "{}"),
                    lambda s, ctx: s.document(ctx), apply="put_policy"),)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return [replace(c, current="differs", desired="delivery into the configured groups")
                for c in drift(self, ctx, resource.data, self.FIELDS)]

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self._reread(ctx)

    def put_policy(self, ctx: StepContext, resource: Resource | None,
                   changes: list[Change]) -> None:
        """PutResourcePolicy replaces the whole document."""
        self.logs(ctx).put_resource_policy(policyName=self.resource_name(),
                                           policyDocument=json.dumps(self.document(ctx),
                                                                     sort_keys=True))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(LOG_DELIVERY.not_found, self.logs(ctx).delete_resource_policy,
                policyName=self.resource_name())

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": resource.id}


# --------------------------------------------------------------------------- deliveries

PARTS = ("source", "destination", "delivery")


def _present(part: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A row's ``current``: "present" when the part exists."""
    return lambda parts: None if parts.get(part) is None else "present"


def _part(part: str, view: Callable[[Mapping[str, Any]], Any]
          ) -> Callable[[Mapping[str, Any]], Any]:
    """A row's ``current``: ``view`` of the part, UNREPORTED while the part is missing."""
    return lambda parts: UNREPORTED if parts.get(part) is None else view(parts[part])


class LogDeliveryStep(Step):
    """One delivery of ``logs.deliveries``: source, destination and delivery, as one group."""

    family = "log-delivery"
    kinds = (LOG_DELIVERY,)
    service = "logs"
    #: Stateless: a source or format AWS cannot change in place is re-created by apply.
    replace_automatically = True

    def __init__(self, config: PlatformConfig, key: str, delivery: LogDeliveryConfig) -> None:
        super().__init__(config, key)
        self.delivery = delivery

    def resource_name(self) -> str:
        return self.delivery.source_name

    def depends_on(self) -> tuple[str, ...]:
        return (SOURCE_OUTPUTS[self.delivery.source][0], f"logs.{self.delivery.group}",
                POLICY_STEP)

    def logs(self, ctx: StepContext) -> Any:
        return ctx.client("logs", self.region)

    def resource_arn(self, ctx: StepContext) -> str:
        step, key = SOURCE_OUTPUTS[self.delivery.source]
        return str(ctx.output(step, key))

    def group_arn(self, ctx: StepContext) -> str:
        return str(ctx.output(f"logs.{self.delivery.group}", "arn"))

    # -- reading ------------------------------------------------------------
    def _parts(self, ctx: StepContext) -> dict[str, dict[str, Any] | None]:
        logs, d = self.logs(ctx), self.delivery
        source = absent_on(LOG_DELIVERY.not_found, logs.get_delivery_source, name=d.source_name)
        destination = absent_on(LOG_DELIVERY.not_found, logs.get_delivery_destination,
                                name=d.destination_name)
        parts: dict[str, dict[str, Any] | None] = {
            "source": source["deliverySource"] if source else None,
            "destination": destination["deliveryDestination"] if destination else None,
            "delivery": None}
        if parts["destination"] is not None:
            arn = parts["destination"]["arn"]
            for page in logs.get_paginator("describe_deliveries").paginate(
                    deliverySourceNames=[d.source_name]):
                for item in page.get("deliveries", []):
                    if item.get("deliverySourceName") == d.source_name and \
                            item.get("deliveryDestinationArn") == arn:
                        parts["delivery"] = dict(item)
        for part, data in parts.items():
            if data is not None:
                require_owned(self, f"delivery {part} of {d.source_name}", data.get("tags") or {})
        return parts

    def _find(self, ctx: StepContext) -> Resource | None:
        parts = self._parts(ctx)
        if all(p is None for p in parts.values()):
            return None
        delivery = parts["delivery"]
        return Resource(str(delivery["id"]) if delivery else self.delivery.source_name, parts)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._find(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._find(ctx)

    # -- creating -----------------------------------------------------------
    def _ensure(self, ctx: StepContext, parts: dict[str, Any]) -> Resource:
        """Create whichever of source, destination and delivery is missing, in that order."""
        logs, d = self.logs(ctx), self.delivery
        if parts.get("source") is None:
            logs.put_delivery_source(name=d.source_name, resourceArn=self.resource_arn(ctx),
                                     logType=d.log_type, tags=self.tags())
        destination = parts.get("destination")
        if destination is None:
            destination = logs.put_delivery_destination(
                name=d.destination_name, outputFormat=d.output_format,
                deliveryDestinationConfiguration={"destinationResourceArn": self.group_arn(ctx)},
                tags=self.tags())["deliveryDestination"]
        if parts.get("delivery") is None:
            logs.create_delivery(deliverySourceName=d.source_name,
                                 deliveryDestinationArn=destination["arn"], tags=self.tags())
        found = self._find(ctx)
        assert found is not None, "a delivery just created is describable"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._ensure(ctx, {})

    # -- drift ----------------------------------------------------------------
    #: Missing parts are created by :meth:`update` (``_ensure``), whatever drifted;
    #: a source's resource or a destination's format only by replacing the group
    #: (PutDeliverySource / PutDeliveryDestination cannot change them).
    FIELDS = (
        *(Field(part, _present(part), lambda s, ctx: "present") for part in PARTS),
        Field("source_resource",
              _part("source", lambda p: (p.get("resourceArns"), p.get("logType"))),
              lambda s, ctx: ([s.resource_arn(ctx)], s.delivery.log_type), effect="replace"),
        Field("output_format", _part("destination", lambda p: p.get("outputFormat")),
              lambda s, ctx: s.delivery.output_format, effect="replace"),
        Field("destination_group", _part("destination", lambda p: (
            p.get("deliveryDestinationConfiguration") or {}).get("destinationResourceArn")),
              lambda s, ctx: s.group_arn(ctx), apply="put_destination"),
        # Each part carries our tags (the three are tagged apart, on their own ARNs).
        *(Field(f"{part}_tags", _part(part, lambda p: p.get("tags") or {}),
                lambda s, ctx: s.tags(), compare="tags", apply="tag_parts") for part in PARTS),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self._ensure(ctx, self._parts(ctx))

    def put_destination(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        d = self.delivery
        self.logs(ctx).put_delivery_destination(
            name=d.destination_name, outputFormat=d.output_format,
            deliveryDestinationConfiguration={"destinationResourceArn": self.group_arn(ctx)})

    def tag_parts(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """Each part is tagged on its own ARN (TagResource takes a plain map)."""
        for change in changes:
            part = resource.data[change.field.removesuffix("_tags")]
            self.logs(ctx).tag_resource(resourceArn=part["arn"], tags=change.desired)

    # -- deleting -------------------------------------------------------------
    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delivery first: AWS refuses to delete a source or destination still in use."""
        logs, parts = self.logs(ctx), resource.data
        if parts.get("delivery") is not None:
            gone_on(LOG_DELIVERY.not_found, logs.delete_delivery, id=parts["delivery"]["id"])
        if parts.get("source") is not None:
            gone_on(LOG_DELIVERY.not_found, logs.delete_delivery_source,
                    name=self.delivery.source_name)
        if parts.get("destination") is not None:
            gone_on(LOG_DELIVERY.not_found, logs.delete_delivery_destination,
                    name=self.delivery.destination_name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        parts = resource.data
        return {"id": resource.id,
                "delivery_id": (parts.get("delivery") or {}).get("id"),
                "source_arn": (parts.get("source") or {}).get("arn"),
                "destination_arn": (parts.get("destination") or {}).get("arn")}


def log_delivery_steps(config: PlatformConfig) -> list[Step]:
    """The delivery policy (when anything is delivered) and one step per delivery."""
    steps: list[Step] = []
    if delivered_group_keys(config) or config.route53.query_log_group is not None:
        steps.append(LogDeliveryPolicyStep(config))
    steps += [LogDeliveryStep(config, key, d) for key, d in config.logs.deliveries.items()]
    return steps


__all__ = ["LogDeliveryPolicyStep", "LogDeliveryStep", "cache_log_changes",
           "cache_log_deliveries", "cache_log_dependencies", "cache_log_update",
           "log_delivery_steps"]
