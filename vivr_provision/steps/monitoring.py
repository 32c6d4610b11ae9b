"""Alarms, their SNS topics, the scale-out policy and the dashboard (spec "Monitoring &
Logging / Alarms", PgBouncer "Monitoring / Alerts", "Request Count: track for capacity
planning").

Why it is built this way:

* **One step per alarm, diffed field by field.**  ``PutMetricAlarm`` is an
  upsert: calling it on every apply would "work" but make every run a
  mutation and hide drift.  The step builds the exact request it would
  send, normalises that request and the ``DescribeAlarms`` answer through
  the same function (sorted actions and dimensions, defaults filled in,
  metric queries by id) and only calls AWS when a field differs, so a
  re-apply makes no mutating call and ``status --refresh`` names the field
  that was changed by hand.
* **Dimensions come from the steps that own the resource**, never from the
  config: the ECS service's cluster/service names, the load balancer's and
  target group's ARN suffixes (``app/...``, ``targetgroup/...``), the DB
  instance identifier, the replication group's member clusters (ElastiCache
  publishes per node cluster, ``<group>-001`` ..., so an alarm on the group
  watches the worst member through metric math).  PgBouncer's own metrics
  (heartbeat, queue, errors) are published by the instance's boot script
  with one dimension, ``Service`` = the pooler's service name (the same
  config value the script is rendered from; staging and production share
  a region, so a metric without it would mix both), and do not depend on
  the instance: a replaced instance continues the same series.  The EC2
  status-check alarm (``pgbouncer_instance``) watches the current instance
  id, read from the ``pgbouncer`` step, so a replacement updates it.
* **Scale out is a step-scaling policy in its own step** on the service's
  scalable target (target tracking stays with ``ecs-autoscaling``).  The
  CPU and memory alarms list its ARN in their actions, next to the topic.
* **Topics are KMS-encrypted with the site's key** (``monitoring.encrypt_topics``):
  ``kms`` in aws.region, its replica ``dr.kms`` for the ``dr.sns.*`` copies
  (a topic's key must be in the topic's region).  CloudWatch alarms and
  RDS events publish to them, so both keys' policies admit those services
  (:func:`~vivr_provision.steps.kms.topic_publisher_statements`); without
  that grant every notification would be dropped without an error anywhere.
* **Subscriptions are created once.**  An e-mail subscription stays
  "PendingConfirmation" until someone clicks the link; subscribing again
  would mail them again.  Subscriptions are compared by protocol and
  endpoint, pending ones included; ones added by hand (a chat bot, a
  pager) are left alone, as Terraform leaves unmanaged subscriptions.
* **Dashboards have no tags.**  The dashboard is identified by its name
  (``<project>-<environment>``) and adopted only when it carries the text
  widget this step writes into it; its body is compared as parsed JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import ReadReplicaConfig
from vivr_provision.config.ops import (
    DR_REDIS_RESOURCE,
    REPLICA_RESOURCE,
    AlarmConfig,
    AlarmResource,
    TopicConfig,
)
from vivr_provision.config.standby import standby_alarms
from vivr_provision.errors import ConfigError
from vivr_provision.log import get_logger
from vivr_provision.pgbouncer import METRICS_DIMENSION
from vivr_provision.retry import until_found
from vivr_provision.steps.base import (
    MANAGED_BY,
    Change,
    DependencyMissing,
    NamedStep,
    Resource,
    Site,
    Step,
    StepContext,
)
from vivr_provision.steps.common import (
    ForeignResourceError,
    KindStep,
    KindTaggedStep,
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    step_tags,
)
from vivr_provision.steps.drift import TAGS, UNREPORTED, Field, converge, drift
from vivr_provision.steps.ecs.autoscaling import EcsAutoscalingStep
from vivr_provision.steps.ecs.common import (
    AUTOSCALING_STEP,
    SCALABLE_DIMENSION,
    SCALING_PROPAGATION,
    SERVICE_STEP,
)
from vivr_provision.steps.ecs.scaling_reads import shared_target_policies
from vivr_provision.steps.kinds import ALARM, DASHBOARD, REPLICATION_GROUP, SCALING_POLICY, TOPIC
from vivr_provision.steps.list_reads import alarms_by_prefix, common_prefix
from vivr_provision.steps.rds_events import rds_event_topic_sites

log = get_logger("vivr.monitoring")

TOPIC_FAMILY = "sns"
ALARM_FAMILY = "alarm"
SCALE_OUT_STEP = "scaling-policy.scale-out"
DASHBOARD_STEP = "dashboard"
#: A subscription ARN in ``ListSubscriptionsByTopic`` that is not (yet or any more) one.
NOT_A_SUBSCRIPTION = "Deleted"
#: Metric-math id of the expression an alarm watches (``result_m<i>`` per cache member).
RESULT_ID = "result"
_MEMBER_SUFFIX = re.compile(r"_m\d+$")
#: Dashboard grid: 24 columns; the marker row, then two graphs per row.
GRID_WIDTH, GRAPH_WIDTH, GRAPH_HEIGHT, MARKER_HEIGHT = 24, 12, 6, 2

Dimensions = list[dict[str, str]]


# --------------------------------------------------------------------------- placements

@dataclass(frozen=True)
class AlarmPlacement:
    """One CloudWatch alarm of a ``monitoring.alarms`` row: its name, site and replica.

    A row watches one resource, except an ``rds_replica`` row: one alarm per
    read replica, named ``<row name>-<replica>``, in the replica's region (a
    CloudWatch alarm sees only its own region's metrics, and notifies only
    topics of its own region: the DR one notifies ``dr.sns.<key>`` copies).
    """

    alarm: AlarmConfig
    name: str
    site: Site
    replica: ReadReplicaConfig | None = None

    @property
    def step(self) -> str:
        return self.site.step(f"{ALARM_FAMILY}.{self.name}")


def alarm_placements(config: PlatformConfig) -> list[AlarmPlacement]:
    """Every alarm the config asks for, in the order of its rows.

    A ``dr_redis`` row watches the standby Redis, so it lives in ``dr.region``
    (``dr.alarm.<name>``) and notifies that region's topic copies.
    """
    placements: list[AlarmPlacement] = []
    dr = Site(prefix="dr.", region=config.dr.region)
    for alarm in config.monitoring.alarms:
        if alarm.resource != REPLICA_RESOURCE:
            site = dr if alarm.resource == DR_REDIS_RESOURCE else Site()
            placements.append(AlarmPlacement(alarm, alarm.name, site))
            continue
        placements += [AlarmPlacement(alarm, f"{alarm.name}-{replica.identifier}",
                                      dr if replica.region != config.aws.region else Site(),
                                      replica) for replica in config.rds.read_replicas]
    return placements + standby_placements(config)


def standby_placements(config: PlatformConfig) -> list[AlarmPlacement]:
    """The standby tier's alarms (``dr.standby.app.alarms``), on the DR site.

    A row that ``needs_tasks`` is left out of a pilot light (``desired_count``
    0): with no targets, "no healthy host" would alarm for good.
    """
    dr = Site(prefix="dr.", region=config.dr.region)
    return [AlarmPlacement(alarm, alarm.name, dr) for alarm in standby_alarms(config)]


# --------------------------------------------------------------------------- dimensions

def dimension_steps(config: PlatformConfig, resource: AlarmResource,
                    site: Site | None = None) -> tuple[str, ...]:
    """The steps whose outputs name the resource an alarm or graph watches.

    The service and balancer resources are named on ``site`` (the standby
    tier's alarms watch ``dr.ecs-service``, ``dr.alb-target-group``); the
    others name one fixed step whatever the alarm's site (``dr_redis`` is
    ``dr.cache`` already).
    """
    names = _dimension_steps(config, resource)
    if resource not in SITE_RELATIVE:
        return names
    return tuple((site or Site()).step(name) for name in names)


#: Resources each site has its own of: named through the alarm's site.
SITE_RELATIVE = frozenset({"ecs_service", "alb", "target_group"})


def _dimension_steps(config: PlatformConfig, resource: AlarmResource) -> tuple[str, ...]:
    return {
        "ecs_service": (SERVICE_STEP,),
        "alb": ("alb",),
        "target_group": ("alb-target-group", "alb"),
        "rds": (f"rds.{config.rds.identifier}",),
        "redis": ("cache",),
        DR_REDIS_RESOURCE: ("dr.cache",),
        "pgbouncer": (),
        "pgbouncer_instance": ("pgbouncer",),
        REPLICA_RESOURCE: (),  # per replica: ReplicaAlarmStep
    }[resource]


def _dims(**pairs: str) -> Dimensions:
    return [{"Name": name, "Value": str(value)} for name, value in sorted(pairs.items())]


def _members(ctx: StepContext, cache: str, group_id: str, region: str) -> list[str]:
    """The group's member clusters: as the cache step read them this run (its
    ``member_clusters`` output), else from DescribeReplicationGroups (a state
    recorded before that output existed)."""
    recorded = (ctx.outputs_of(cache) or {}).get("member_clusters")
    if recorded:
        return [str(member) for member in recorded]
    reply = absent_on(REPLICATION_GROUP.not_found, ctx.client("elasticache", region)
                      .describe_replication_groups, ReplicationGroupId=group_id)
    groups = reply["ReplicationGroups"] if reply else []
    return list(groups[0].get("MemberClusters") or []) if groups else []


def dimension_sets(ctx: StepContext, config: PlatformConfig, resource: AlarmResource,
                   region: str, site: Site | None = None) -> list[Dimensions]:
    """The CloudWatch dimensions of ``resource``: one set, or one per cache member cluster.

    ElastiCache (cluster mode disabled or not) publishes its metrics per
    member cluster (``CacheClusterId``), not per replication group, so a
    cache yields one set per member, as the cache step read them from AWS
    this run: a replica added later shows as drift of the alarm instead of
    going unwatched.
    """
    at = (site or Site()).step  # the standby's alarms read the DR site's steps
    if resource == "ecs_service":
        return [_dims(ClusterName=ctx.output(at(SERVICE_STEP), "cluster_name"),
                      ServiceName=ctx.output(at(SERVICE_STEP), "service_name"))]
    if resource == "alb":
        return [_dims(LoadBalancer=ctx.output(at("alb"), "arn_suffix"))]
    if resource == "target_group":
        return [_dims(TargetGroup=ctx.output(at("alb-target-group"), "arn_suffix"),
                      LoadBalancer=ctx.output(at("alb"), "arn_suffix"))]
    if resource == "rds":
        return [_dims(DBInstanceIdentifier=ctx.output(f"rds.{config.rds.identifier}",
                                                      "identifier"))]
    if resource in ("redis", DR_REDIS_RESOURCE):
        cache = dimension_steps(config, resource)[0]
        group_id = str(ctx.output(cache, "replication_group_id"))
        members = sorted(_members(ctx, cache, group_id, region))
        if not members:
            raise DependencyMissing(f"replication group {group_id} has no member clusters yet")
        return [_dims(CacheClusterId=member) for member in members]
    if resource == "pgbouncer_instance":
        return [_dims(InstanceId=ctx.output("pgbouncer", "instance_id"))]
    # pgbouncer: what the boot script publishes (vivr_provision.pgbouncer).
    return [[{"Name": METRICS_DIMENSION, "Value": config.pgbouncer.service_name}]]


# --------------------------------------------------------------------------- alarm requests

def _metric(namespace: str, name: str, dims: Dimensions) -> dict[str, Any]:
    return {"Namespace": namespace, "MetricName": name, "Dimensions": dims}


def _query(query_id: str, metric: dict[str, Any], period: int, stat: str) -> dict[str, Any]:
    return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": period, "Stat": stat},
            "ReturnData": False}


def _rename(expression: str, ids: Iterable[str], suffix: str) -> str:
    """``expression`` with every metric id (as a whole word) renamed ``<id><suffix>``.

    One pass over all ids, so a renamed id is never renamed again.
    """
    pattern = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.sub(rf"\b({pattern})\b", lambda found: found.group(1) + suffix, expression)


def metric_part(alarm: AlarmConfig, sets: Sequence[Dimensions]) -> dict[str, Any]:
    """The metric half of a ``PutMetricAlarm`` request for ``alarm`` over ``sets``.

    One dimension set: the configured metric, or the configured expression
    over its metrics (each with the same dimensions, not returned).  Several
    sets (cache members): the same per set, and the alarm watches the worst
    of them: the maximum for "greater than" alarms, the minimum for "less
    than" ones.
    """
    period = alarm.period_seconds
    worst = "MAX" if alarm.comparison.startswith("Greater") else "MIN"
    if alarm.expression is None:
        assert alarm.namespace and alarm.metric_name and alarm.statistic
        if len(sets) == 1:
            return {"Namespace": alarm.namespace, "MetricName": alarm.metric_name,
                    "Statistic": alarm.statistic, "Dimensions": list(sets[0]),
                    "Period": period}
        queries = [_query(f"m{i}", _metric(alarm.namespace, alarm.metric_name, dims),
                          period, alarm.statistic) for i, dims in enumerate(sets)]
        members = ", ".join(str(q["Id"]) for q in queries)
        return {"Metrics": [*queries, {"Id": RESULT_ID, "Expression": f"{worst}([{members}])",
                                       "ReturnData": True}]}
    ids = [m.id for m in alarm.metrics]
    if len(sets) == 1:
        queries = [_query(m.id, _metric(m.namespace, m.metric_name, list(sets[0])), period,
                          m.statistic) for m in alarm.metrics]
        return {"Metrics": [*queries, {"Id": RESULT_ID, "Expression": alarm.expression,
                                       "ReturnData": True}]}
    results: list[dict[str, Any]] = []
    queries = []
    for i, dims in enumerate(sets):
        suffix = f"_m{i}"
        queries += [_query(m.id + suffix, _metric(m.namespace, m.metric_name, list(dims)),
                           period, m.statistic) for m in alarm.metrics]
        results.append({"Id": RESULT_ID + suffix, "ReturnData": False,
                        "Expression": _rename(alarm.expression, ids, suffix)})
    joined = ", ".join(str(r["Id"]) for r in results)
    return {"Metrics": [*queries, *results,
                        {"Id": RESULT_ID, "Expression": f"{worst}([{joined}])",
                         "ReturnData": True}]}


def _sorted_dims(dims: Iterable[Mapping[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(d["Name"]), str(d["Value"])) for d in dims or []))


def _query_view(query: Mapping[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"Id": query.get("Id"), "ReturnData": query.get("ReturnData", True)}
    for key in ("Expression", "Label", "Period", "AccountId"):
        if query.get(key) is not None:
            view[key] = query[key]
    stat = query.get("MetricStat")
    if stat:
        metric = stat.get("Metric", {})
        view["MetricStat"] = {"Namespace": metric.get("Namespace"),
                              "MetricName": metric.get("MetricName"),
                              "Dimensions": _sorted_dims(metric.get("Dimensions")),
                              "Period": stat.get("Period"), "Stat": stat.get("Stat"),
                              "Unit": stat.get("Unit")}
    return view


#: Every field of an alarm that ``PutMetricAlarm`` sets (tags aside).
ALARM_FIELDS = ("AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions",
                "InsufficientDataActions", "Namespace", "MetricName", "Statistic",
                "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
                "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
                "EvaluateLowSampleCountPercentile", "ThresholdMetricId", "Metrics")


def alarm_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[Field, ...]:
    """Tags, then every PutMetricAlarm setting, compared between two alarm views.

    Both views are built once per comparison: the wanted one comes from the
    alarm's request, which for a cache alarm reads the replication group's
    members from AWS.  However many settings drift, one PutMetricAlarm
    converges them (it rewrites the whole alarm and ignores Tags on an
    existing one, hence TagResource for those).
    """

    def row(name: str) -> Field:
        return Field(name, lambda d: current[name], lambda s, ctx: wanted[name],
                     apply="put_alarm")

    return (TAGS, *(row(name) for name in ALARM_FIELDS))


def alarm_view(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """A request or a ``DescribeAlarms`` entry in one comparable shape.

    AWS answers with defaults filled in (``ActionsEnabled``, ``TreatMissingData``),
    empty lists for what was not sent, dimensions and actions in its own
    order and the threshold as a float; both sides go through this function
    so only a real difference remains.
    """
    view: dict[str, Any] = {field: alarm.get(field) for field in ALARM_FIELDS}
    for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        view[field] = sorted(view[field] or [])
    view["ActionsEnabled"] = alarm.get("ActionsEnabled", True)
    view["TreatMissingData"] = alarm.get("TreatMissingData") or "missing"
    view["Dimensions"] = _sorted_dims(alarm.get("Dimensions"))
    view["Threshold"] = None if alarm.get("Threshold") is None else float(alarm["Threshold"])
    view["AlarmDescription"] = alarm.get("AlarmDescription") or ""
    view["Metrics"] = sorted((_query_view(q) for q in alarm.get("Metrics") or []),
                             key=lambda q: str(q["Id"]))
    return view


# --------------------------------------------------------------------------- topics

def _subscription_key(protocol: str, endpoint: str) -> tuple[str, str]:
    """How two subscriptions are the same: protocol and endpoint (e-mail case-insensitive)."""
    return (protocol, endpoint.casefold() if protocol.startswith("email") else endpoint)


def missing_subscriptions(topic: TopicConfig,
                          live: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Configured (protocol, endpoint) pairs with no subscription yet, pending ones counting.

    AWS lists an unconfirmed e-mail subscription with the ARN
    ``PendingConfirmation``: it exists, and subscribing again would only
    send another confirmation mail.
    """
    present = {_subscription_key(str(s.get("Protocol")), str(s.get("Endpoint")))
               for s in live if s.get("SubscriptionArn") != NOT_A_SUBSCRIPTION}
    return [(s.protocol, s.endpoint) for s in topic.subscriptions
            if _subscription_key(s.protocol, s.endpoint) not in present]


#: Subscriptions one region-wide ``ListSubscriptions`` batch may read.  It takes no
#: filter (SNS API reference: every subscription of the region, 100 a page), so past
#: two pages the region holds more than our few topics would save calls on, and each
#: topic lists its own (``ListSubscriptionsByTopic``) as before.
SUBSCRIPTIONS_BATCH_LIMIT = 200


def subscriptions_by_topic(sns: Any) -> dict[str, dict[str, Any]]:
    """Topic ARN -> ``{"Subscriptions": [...]}`` for every topic of the region with a
    subscription, from one ``ListSubscriptions`` listing (the same ``Subscription``
    shape ``ListSubscriptionsByTopic`` answers); empty when the region has more than
    :data:`SUBSCRIPTIONS_BATCH_LIMIT`.  A topic with none is absent: it reads its own."""
    listing = sns.get_paginator("list_subscriptions").paginate(
        PaginationConfig={"MaxItems": SUBSCRIPTIONS_BATCH_LIMIT}).build_full_result()
    if listing.get("NextToken"):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for subscription in listing.get("Subscriptions", []):
        topic = found.setdefault(str(subscription["TopicArn"]), {"Subscriptions": []})
        topic["Subscriptions"].append(subscription)
    return found


class TopicStep(KindTaggedStep):
    """One SNS topic of ``monitoring.topics`` with its subscriptions."""

    family = TOPIC_FAMILY
    service = "sns"
    kind = TOPIC
    expected_seconds = 2.0

    def __init__(self, config: PlatformConfig, key: str, topic: TopicConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, key, site=site)
        self.topic = topic

    def resource_name(self) -> str:
        return self.topic.name

    def sns(self, ctx: StepContext) -> Any:
        return ctx.client("sns", self.region)

    @property
    def key_step(self) -> str:
        """The KMS key of the topic's own region (``kms`` or ``dr.kms``)."""
        return self.site.step("kms")

    def depends_on(self) -> tuple[str, ...]:
        return (self.key_step,) if self.config.monitoring.encrypt_topics else ()

    def key_arn(self, ctx: StepContext) -> str:
        """The wanted ``KmsMasterKeyId``; "" is no encryption (SNS API reference,
        SetTopicAttributes: an empty value turns server-side encryption off)."""
        if not self.config.monitoring.encrypt_topics:
            return ""
        return str(ctx.output(self.key_step, "key_arn"))

    def _describe(self, ctx: StepContext, arn: str) -> Resource | None:
        sns = self.sns(ctx)
        reply = absent_on(TOPIC.not_found, sns.get_topic_attributes, TopicArn=arn)
        if reply is None:
            return None
        tags = step_tags(ctx, self, sns, TOPIC, arn)
        require_owned(self, f"{TOPIC.noun} {self.topic.name}", tags)
        listed = ctx.reads.take(("sns", self.region, "subscriptions"), arn,
                                lambda: subscriptions_by_topic(sns), self.name)
        if listed is not None:
            subscriptions = list(listed["Subscriptions"])
        else:
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
            subscriptions = [s for page in pages for s in page.get("Subscriptions", [])]
        return Resource(arn, {"Attributes": reply.get("Attributes", {}), "TagMap": tags,
                              "Subscriptions": subscriptions})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._describe(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """By name: a topic's ARN ends in ``:<name>`` (ListTopics has no name filter)."""
        for page in self.sns(ctx).get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                arn = str(topic["TopicArn"])
                if arn.rsplit(":", 1)[-1] == self.topic.name:
                    return self._describe(ctx, arn)
        return None

    def _subscribe(self, ctx: StepContext, arn: str, pairs: list[tuple[str, str]]) -> None:
        for protocol, endpoint in pairs:
            self.sns(ctx).subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint,
                                    ReturnSubscriptionArn=True)
            log.info("sns.subscribed", step=self.name, protocol=protocol,
                     note="e-mail endpoints must confirm the link AWS sends"
                     if protocol.startswith("email") else None)

    def _reread(self, ctx: StepContext, arn: str) -> Resource:
        return until_found(f"SNS topic {self.topic.name}", lambda: self._describe(ctx, arn))

    def create(self, ctx: StepContext, token: str) -> Resource:
        """CreateTopic is idempotent on the name; subscriptions follow."""
        attributes = {"DisplayName": self.topic.display_name}
        if key := self.key_arn(ctx):
            attributes["KmsMasterKeyId"] = key
        arn = str(self.sns(ctx).create_topic(
            Name=self.topic.name, Attributes=attributes, Tags=aws_tags(self.tags()))["TopicArn"])
        created = self._reread(ctx, arn)
        self._subscribe(ctx, arn, missing_subscriptions(self.topic,
                                                        created.data["Subscriptions"]))
        return self._reread(ctx, arn)

    def fields(self, live: Sequence[Mapping[str, Any]]) -> tuple[Field, ...]:
        """Tags, the display name and the subscriptions, compared with ``live`` ones.

        Missing subscriptions are added and others' are left alone, so the
        wanted list is what is there plus what is missing: the row is built
        for the topic's current subscriptions.
        """
        present = sorted(f"{s.get('Protocol')}:{s.get('Endpoint')}" for s in live)
        wanted = sorted(present + [f"{p}:{e}" for p, e in missing_subscriptions(self.topic, live)])
        return (
            TAGS,
            Field("display_name", lambda d: d["Attributes"].get("DisplayName", ""),
                  lambda s, ctx: s.topic.display_name, apply="set_display_name"),
            # GetTopicAttributes omits KmsMasterKeyId on an unencrypted topic.
            Field("kms_key", lambda d: d["Attributes"].get("KmsMasterKeyId", ""),
                  lambda s, ctx: s.key_arn(ctx), apply="set_kms_key"),
            Field("subscriptions", lambda d: present, lambda s, ctx: wanted,
                  apply="subscribe_missing"),
        )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(resource.data["Subscriptions"]))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields(resource.data["Subscriptions"]))
        return self._reread(ctx, resource.id)

    def subscribe_missing(self, ctx: StepContext, resource: Resource,
                          changes: list[Change]) -> None:
        self._subscribe(ctx, resource.id, missing_subscriptions(
            self.topic, resource.data["Subscriptions"]))

    def set_display_name(self, ctx: StepContext, resource: Resource,
                         changes: list[Change]) -> None:
        self.sns(ctx).set_topic_attributes(TopicArn=resource.id, AttributeName="DisplayName",
                                           AttributeValue=self.topic.display_name)

    def set_kms_key(self, ctx: StepContext, resource: Resource,
                    changes: list[Change]) -> None:
        self.sns(ctx).set_topic_attributes(TopicArn=resource.id, AttributeName="KmsMasterKeyId",
                                           AttributeValue=self.key_arn(ctx))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """DeleteTopic removes its subscriptions with it."""
        gone_on(TOPIC.not_found, self.sns(ctx).delete_topic, TopicArn=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "topic_arn": resource.id, "name": self.topic.name}


# --------------------------------------------------------------------------- scale out

#: The settings of a step-scaling configuration the policy compares (botocore
#: model, StepScalingPolicyConfiguration), in plan order.
STEP_SETTINGS = ("AdjustmentType", "StepAdjustments", "MinAdjustmentMagnitude", "Cooldown",
                 "MetricAggregationType")


def _step_setting(key: str) -> Callable[[Mapping[str, Any]], Any]:
    """A row's ``current``: one comparable setting of a step-scaling policy."""
    def current(policy: Mapping[str, Any]) -> Any:
        if policy.get("PolicyType") != "StepScaling":
            return UNREPORTED
        return ScaleOutPolicyStep.comparable(policy.get("StepScalingPolicyConfiguration"))[key]
    return current


def _wanted_setting(key: str) -> Callable[[Any, StepContext], Any]:
    """A row's ``desired``: the same setting of the configuration the step puts."""
    return lambda step, ctx: step.comparable(step.desired_configuration())[key]


class ScaleOutPolicyStep(NamedStep):
    """A step-scaling policy adding ``scale_out_adjustment`` tasks, fired by scale_out alarms.

    Scaling policies carry no tags: the identity is the policy name on our
    service's scalable target, which ``ecs-autoscaling`` owns.
    """

    family = "scaling-policy"
    kinds = (SCALING_POLICY,)
    service = "application-autoscaling"
    expected_seconds = 2.0

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config, "scale-out")

    @property
    def policy_name(self) -> str:
        return f"{self.config.ecs.service.name}-scale-out"

    def resource_name(self) -> str:
        return self.policy_name

    def depends_on(self) -> tuple[str, ...]:
        return (AUTOSCALING_STEP,)

    def scaling(self, ctx: StepContext) -> Any:
        return ctx.client("application-autoscaling", self.region)

    def desired_configuration(self) -> dict[str, Any]:
        """Any breach (lower bound 0 above the threshold) adds the configured tasks."""
        return {"AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0,
                                     "ScalingAdjustment": self.config.monitoring
                                     .scale_out_adjustment}],
                "Cooldown": self.config.ecs.autoscaling.scale_out_cooldown_seconds,
                "MetricAggregationType": "Average"}

    @staticmethod
    def comparable(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
        configuration = configuration or {}
        steps = sorted(
            ((None if s.get("MetricIntervalLowerBound") is None
              else float(s["MetricIntervalLowerBound"]),
              None if s.get("MetricIntervalUpperBound") is None
              else float(s["MetricIntervalUpperBound"]),
              s.get("ScalingAdjustment")) for s in configuration.get("StepAdjustments") or []),
            key=repr)
        return {"AdjustmentType": configuration.get("AdjustmentType"), "StepAdjustments": steps,
                **{key: configuration.get(key) for key in STEP_SETTINGS[2:]}}

    @property
    def scalable_resource_id(self) -> str:
        """The service's scalable target, as ``ecs-autoscaling`` registers it."""
        return EcsAutoscalingStep(self.config).resource_id

    def lookup(self, ctx: StepContext) -> Resource | None:
        """The policy by name on the service's target; the first lookup finds it in the
        target's one listing (``ecs-autoscaling`` reads it too: scaling_reads), a
        policy the listing lacks (or a later lookup) is read directly."""
        resource_id = self.scalable_resource_id
        policies = shared_target_policies(ctx, self.name, self.region, namespace="ecs",
                                          resource_id=resource_id,
                                          dimension=SCALABLE_DIMENSION) or []
        mine = [p for p in policies if p.get("PolicyName") == self.policy_name]
        if not mine:
            policies = self.scaling(ctx).describe_scaling_policies(
                ServiceNamespace="ecs", ResourceId=resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
                PolicyNames=[self.policy_name]).get("ScalingPolicies", [])
            mine = [p for p in policies if p.get("PolicyName") == self.policy_name
                    and p.get("ResourceId") == resource_id]
        return Resource(mine[0]["PolicyARN"], dict(mine[0])) if mine else None


    def put_policy(self, ctx: StepContext, resource: Resource | None,
                   changes: list[Change]) -> None:
        """PutScalingPolicy replaces the configuration (the alarms follow a new ARN)."""
        SCALING_PROPAGATION.call(
            f"put scaling policy {self.policy_name}", self.scaling(ctx).put_scaling_policy,
            PolicyName=self.policy_name, ServiceNamespace="ecs",
            ResourceId=self.scalable_resource_id,
            ScalableDimension=SCALABLE_DIMENSION, PolicyType="StepScaling",
            StepScalingPolicyConfiguration=self.desired_configuration())

    def _reread(self, ctx: StepContext) -> Resource:
        return until_found(f"scaling policy {self.policy_name}", lambda: self.lookup(ctx))

    def create(self, ctx: StepContext, token: str) -> Resource:
        self.put_policy(ctx, None, [])
        return self._reread(ctx)

    #: The policy type, then each setting of its configuration (compared only
    #: on a step-scaling policy: another type's settings mean nothing here).
    #: One PutScalingPolicy converges them all.
    FIELDS = (
        Field("PolicyType", lambda d: d.get("PolicyType"), lambda s, ctx: "StepScaling",
              apply="put_policy"),
        *(Field(key, _step_setting(key), _wanted_setting(key), apply="put_policy")
          for key in STEP_SETTINGS),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self._reread(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(SCALING_POLICY.not_found, self.scaling(ctx).delete_scaling_policy,
                PolicyName=self.policy_name, ServiceNamespace="ecs",
                ResourceId=resource.data.get("ResourceId"),
                ScalableDimension=SCALABLE_DIMENSION)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "policy_arn": resource.id, "policy_name": self.policy_name}


# --------------------------------------------------------------------------- alarms

class AlarmStep(KindStep):
    """One CloudWatch alarm of ``monitoring.alarms``, notifying its action's topics.

    Read by name as :data:`~vivr_provision.steps.kinds.ALARM` declares
    (DescribeAlarms, then its tags).
    """

    family = ALARM_FAMILY
    service = "cloudwatch"
    kind = ALARM
    expected_seconds = 1.0

    def __init__(self, config: PlatformConfig, alarm: AlarmConfig, *, name: str | None = None,
                 site: Site | None = None) -> None:
        super().__init__(config, name or alarm.name, site=site)
        self.alarm = alarm
        #: The alarm's name in CloudWatch: the row's, or one per watched resource.
        self.alarm_name = name or alarm.name

    def resource_name(self) -> str:
        return self.alarm_name

    @property
    def topic_steps(self) -> tuple[str, ...]:
        """The action's topics in the alarm's own region (CloudWatch notifies no other)."""
        keys = self.config.monitoring.actions.get(self.alarm.action, [])
        return tuple(self.site.step(f"{TOPIC_FAMILY}.{key}") for key in keys)

    def dimension_steps(self) -> tuple[str, ...]:
        """The steps whose outputs name what the alarm watches."""
        return dimension_steps(self.config, self.alarm.resource, self.site)

    def dimension_sets(self, ctx: StepContext) -> list[Dimensions]:
        return dimension_sets(ctx, self.config, self.alarm.resource, self.region, self.site)

    def depends_on(self) -> tuple[str, ...]:
        deps = [*self.topic_steps, *self.dimension_steps()]
        if self.alarm.action == "scale_out":
            deps.append(SCALE_OUT_STEP)
        return tuple(dict.fromkeys(deps))

    def cloudwatch(self, ctx: StepContext) -> Any:
        return ctx.client("cloudwatch", self.region)

    def request(self, ctx: StepContext) -> dict[str, Any]:
        """The whole ``PutMetricAlarm`` request (without tags) the config asks for."""
        topics = [str(ctx.output(step, "topic_arn")) for step in self.topic_steps]
        actions = list(topics)
        if self.alarm.action == "scale_out":
            actions.append(str(ctx.output(SCALE_OUT_STEP, "policy_arn")))
        sets = self.dimension_sets(ctx)
        return {"AlarmName": self.alarm_name, "AlarmDescription": self.alarm.description,
                "ActionsEnabled": True, "AlarmActions": actions, "OKActions": topics,
                "InsufficientDataActions": [],
                "EvaluationPeriods": self.alarm.evaluation_periods,
                "Threshold": float(self.alarm.threshold),
                "ComparisonOperator": self.alarm.comparison,
                "TreatMissingData": self.alarm.treat_missing_data,
                **metric_part(self.alarm, sets)}

    def batched_item(self, ctx: StepContext, request: dict[str, Any]) -> Mapping[str, Any] | None:
        """From one ``DescribeAlarms`` per site with the prefix all its alarms' names share
        (none when they share none: a region-wide listing is not cheap)."""
        prefix = common_prefix(p.name for p in alarm_placements(self.config)
                               if p.site.prefix == self.site.prefix)
        if not prefix:
            return None
        [name] = request["AlarmNames"]
        return ctx.reads.take(("cloudwatch", self.region, "alarms", prefix), name,
                              lambda: alarms_by_prefix(self.cloudwatch(ctx), prefix), self.name)

    def _reread(self, ctx: StepContext) -> Resource:
        """DescribeAlarms may lag a PutMetricAlarm for a moment: retried, not asserted."""
        return until_found(f"alarm {self.alarm_name}", lambda: self.lookup(ctx))

    def create(self, ctx: StepContext, token: str) -> Resource:
        self.cloudwatch(ctx).put_metric_alarm(**self.request(ctx), Tags=aws_tags(self.tags()))
        return self._reread(ctx)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        fields = alarm_fields(alarm_view(resource.data), alarm_view(self.request(ctx)))
        return drift(self, ctx, resource.data, fields)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, alarm_fields({}, {}))  # rows' methods only
        return self._reread(ctx)

    def put_alarm(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.cloudwatch(ctx).put_metric_alarm(**self.request(ctx))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """DeleteAlarms succeeds for names that are already gone."""
        self.cloudwatch(ctx).delete_alarms(AlarmNames=[self.alarm_name])

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "alarm_arn": resource.id, "alarm_name": self.alarm_name}


class ReplicaAlarmStep(AlarmStep):
    """One read replica's alarm of an ``rds_replica`` row (spec "replication lag < 1
    second"), in the replica's region, on its ``DBInstanceIdentifier``."""

    def __init__(self, config: PlatformConfig, placement: AlarmPlacement) -> None:
        super().__init__(config, placement.alarm, name=placement.name, site=placement.site)
        assert placement.replica is not None
        self.replica = placement.replica

    @property
    def replica_step(self) -> str:
        return self.site.step(f"rds.{self.replica.identifier}")

    def dimension_steps(self) -> tuple[str, ...]:
        return (self.replica_step,)

    def dimension_sets(self, ctx: StepContext) -> list[Dimensions]:
        return [_dims(DBInstanceIdentifier=ctx.output(self.replica_step, "identifier"))]


# --------------------------------------------------------------------------- dashboard

#: How plan names the body the config asks for (the JSON itself is too long to show).
CONFIGURED_BODY = "the configured widgets"


def _titles(body: Mapping[str, Any]) -> list[str]:
    """The graphs of a dashboard body, by title (the marker text aside)."""
    return [str(w.get("properties", {}).get("title")) for w in body.get("widgets", [])
            if w.get("type") != "text"]


class DashboardStep(NamedStep):
    """``<project>-<environment>``: the tracked metrics and a graph of every alarm."""

    #: A widget of a deleted alarm shows no data; a destroy of the DR side leaves the
    #: dashboard (rebuilt with the DR alarms by the next apply).
    detaches_other_sites = True

    family = DASHBOARD_STEP
    kinds = (DASHBOARD,)
    service = "cloudwatch"
    expected_seconds = 1.0

    def resource_name(self) -> str:
        return f"{self.config.project}-{self.config.environment}"

    @property
    def marker(self) -> str:
        """The sentence that says this dashboard is ours (dashboards carry no tags)."""
        return f"Managed by {MANAGED_BY} for {self.config.project}/{self.config.environment}"

    def alarm_steps(self) -> list[str]:
        return [placement.step for placement in alarm_placements(self.config)]

    def depends_on(self) -> tuple[str, ...]:
        deps = list(self.alarm_steps())
        for metric in self.config.monitoring.tracked_metrics:
            deps += dimension_steps(self.config, metric.resource)
        return tuple(dict.fromkeys(deps))

    def cloudwatch(self, ctx: StepContext) -> Any:
        return ctx.client("cloudwatch", self.region)

    def body(self, ctx: StepContext) -> dict[str, Any]:
        """Marker text, then one graph per tracked metric and one per alarm, two per row."""
        graphs: list[dict[str, Any]] = []
        for metric in self.config.monitoring.tracked_metrics:
            sets = dimension_sets(ctx, self.config, metric.resource, self.region)
            lines = [[metric.namespace, metric.metric_name,
                      *[v for d in dims for v in (d["Name"], d["Value"])]] for dims in sets]
            graphs.append({"type": "metric", "properties": {
                "title": metric.name, "region": self.region, "view": "timeSeries",
                "stacked": False, "stat": metric.statistic, "period": metric.period_seconds,
                "metrics": lines}})
        for placement in alarm_placements(self.config):
            step, region = placement.step, placement.site.region or self.region
            graphs.append({"type": "metric", "properties": {
                "title": placement.name, "region": region, "view": "timeSeries",
                "stacked": False,
                "annotations": {"alarms": [str(ctx.output(step, "alarm_arn"))]}}})
        widgets: list[dict[str, Any]] = [{
            "type": "text", "x": 0, "y": 0, "width": GRID_WIDTH, "height": MARKER_HEIGHT,
            "properties": {"markdown": f"## {self.resource_name()}\n{self.marker}: changes "
                                       "made here are overwritten by the next apply."}}]
        per_row = GRID_WIDTH // GRAPH_WIDTH
        for index, graph in enumerate(graphs):
            widgets.append({**graph, "x": (index % per_row) * GRAPH_WIDTH,
                            "y": MARKER_HEIGHT + (index // per_row) * GRAPH_HEIGHT,
                            "width": GRAPH_WIDTH, "height": GRAPH_HEIGHT})
        return {"widgets": widgets}

    def is_ours(self, body: Mapping[str, Any]) -> bool:
        return any(w.get("type") == "text" and self.marker in
                   str(w.get("properties", {}).get("markdown", ""))
                   for w in body.get("widgets", []) if isinstance(w, dict))

    def lookup(self, ctx: StepContext) -> Resource | None:
        reply = absent_on(DASHBOARD.not_found, self.cloudwatch(ctx).get_dashboard,
                          DashboardName=self.resource_name())
        if reply is None:
            return None
        try:
            body = json.loads(reply.get("DashboardBody") or "{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict) or not self.is_ours(body):
            raise ForeignResourceError(
                f"{self.name}: dashboard {self.resource_name()} already exists but was not "
                f"created by {MANAGED_BY} (no text widget saying \"{self.marker}\"); rename or "
                "delete it, or add that widget to adopt it")
        return Resource(str(reply["DashboardArn"]), {"Body": body})


    def put_dashboard(self, ctx: StepContext, resource: Resource | None,
                      changes: list[Change]) -> None:
        """PutDashboard replaces the whole body; CloudWatch's remarks are logged."""
        reply = self.cloudwatch(ctx).put_dashboard(DashboardName=self.resource_name(),
                                                   DashboardBody=json.dumps(self.body(ctx)))
        for message in reply.get("DashboardValidationMessages", []):
            log.warning("dashboard.validation", step=self.name,
                        path=message.get("DataPath"), message=message.get("Message"))

    def _reread(self, ctx: StepContext) -> Resource:
        return until_found(f"dashboard {self.resource_name()}", lambda: self.lookup(ctx))

    def create(self, ctx: StepContext, token: str) -> Resource:
        self.put_dashboard(ctx, None, [])
        return self._reread(ctx)

    @staticmethod
    def fields(desired: Mapping[str, Any]) -> tuple[Field, ...]:
        """The graphs by title, then the rest of the ``desired`` body (built once per
        comparison: it reads the cache's members), compared only when the graphs are
        the same ones and shown as whether it differs (it is the whole JSON)."""
        wanted = _titles(desired)
        return (
            Field("widgets", lambda d: _titles(d["Body"]), lambda s, ctx: wanted,
                  apply="put_dashboard"),
            Field("body", lambda d: UNREPORTED if _titles(d["Body"]) != wanted
                  else CONFIGURED_BODY if d["Body"] == desired else "differs",
                  lambda s, ctx: CONFIGURED_BODY, apply="put_dashboard"),
        )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(self.body(ctx)))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields({}))  # rows' methods only
        return self._reread(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(DASHBOARD.not_found, self.cloudwatch(ctx).delete_dashboards,
                DashboardNames=[self.resource_name()])

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "dashboard_arn": resource.id, "name": self.resource_name()}


# --------------------------------------------------------------------------- factory

def _check_metric_ids(config: PlatformConfig) -> None:
    """Metric ids this module generates must not collide with configured ones."""
    for index, alarm in enumerate(config.monitoring.alarms):
        for metric in alarm.metrics:
            if metric.id == RESULT_ID or _MEMBER_SUFFIX.search(metric.id):
                raise ConfigError(
                    f"monitoring.alarms[{index}].metrics: id {metric.id!r} is reserved "
                    f"({RESULT_ID!r} and ids ending in _m<digits> are generated)")


def monitoring_steps(config: PlatformConfig) -> list[Step]:
    """Topics, the scale-out policy (when an alarm scales out), alarms, the dashboard."""
    _check_metric_ids(config)
    monitoring = config.monitoring
    steps: list[Step] = [TopicStep(config, key, topic) for key, topic in monitoring.topics.items()]
    placements = alarm_placements(config)
    elsewhere = {(p.site, key) for p in placements if p.site.prefix
                 for key in monitoring.actions.get(p.alarm.action, [])}
    elsewhere |= set(rds_event_topic_sites(config))
    steps += [TopicStep(config, key, monitoring.topics[key], site=site)
              for site, key in sorted(elsewhere, key=lambda pair: (pair[0].prefix, pair[1]))]
    if any(alarm.action == "scale_out" for alarm in monitoring.alarms):
        steps.append(ScaleOutPolicyStep(config))
    steps += [AlarmStep(config, p.alarm, name=p.name, site=p.site) if p.replica is None
              else ReplicaAlarmStep(config, p) for p in placements]
    steps.append(DashboardStep(config))
    return steps


__all__ = ["AlarmPlacement", "AlarmStep", "DashboardStep", "ReplicaAlarmStep",
           "ScaleOutPolicyStep", "TopicStep", "alarm_placements", "alarm_view", "metric_part",
           "missing_subscriptions", "monitoring_steps"]
