"""Config of operations: CloudWatch alarms and SNS, disaster recovery, cost estimate.

Spec sections "Monitoring & Logging / Alarms", "Disaster Recovery" and "Cost
Estimation". The cost table is data so the ``cost`` command and its tests
read the same numbers as the spec, and a changed line that no longer adds up
to the stated total is caught at load time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from vivr_provision.config.app import (
    AlbConfig,
    ContainerEndpointConfig,
    EnvName,
    LogGroupConfig,
)
from vivr_provision.config.base import Name, NonNegativeInt, PositiveInt, Region, StrictModel
from vivr_provision.config.data import CacheNodeType, SubnetGroupConfig, matching
from vivr_provision.config.edge import BucketKey, BucketName
from vivr_provision.config.network import NetworkConfig, SecurityGroupConfig

# --------------------------------------------------------------------------- monitoring

AlarmAction = Literal["scale_out", "alert_team", "alert_devops", "immediate"]
#: Which resource's dimensions a step fills into an alarm or tracked metric.
#: ``rds_replica`` stands for every read replica: one alarm each, in its region;
#: ``dr_redis`` is the standby Redis (``dr.cache``), its alarm in ``dr.region``.
AlarmResource = Literal["ecs_service", "alb", "target_group", "rds", "redis", "pgbouncer",
                        "pgbouncer_instance", "rds_replica", "dr_redis"]
REPLICA_RESOURCE = "rds_replica"
DR_REDIS_RESOURCE = "dr_redis"
Statistic = Literal["Average", "Sum", "Minimum", "Maximum", "SampleCount"]
Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
MAX_EVALUATION_SECONDS = 86400


def _check_period(value: int) -> int:
    if value not in (10, 20, 30) and value % 60:
        raise ValueError(f"{value} is not a CloudWatch period (10, 20, 30 or a multiple of 60)")
    return value


Period = Annotated[int, Field(gt=0), AfterValidator(_check_period)]
MetricText = Annotated[str, matching(r"[A-Za-z0-9/_.:# -]{1,255}", "a metric or namespace name")]


class SubscriptionConfig(StrictModel):
    protocol: Literal["email", "email-json", "https", "sms"]
    endpoint: str

    @model_validator(mode="after")
    def _check(self) -> SubscriptionConfig:
        if self.protocol.startswith("email") and "@" not in self.endpoint:
            raise ValueError(f"endpoint {self.endpoint!r} is not an e-mail address")
        return self


class TopicConfig(StrictModel):
    name: Name
    display_name: Annotated[str, Field(max_length=100)]
    subscriptions: list[SubscriptionConfig]


class MetricQueryConfig(StrictModel):
    """One metric of a metric-math alarm; ``id`` is what the expression uses."""

    id: Annotated[str, matching(r"[a-z][A-Za-z0-9_]*", "a metric id (lowercase first)")]
    namespace: MetricText
    metric_name: MetricText
    statistic: Statistic


class AlarmConfig(StrictModel):
    """One alarm: either a single metric or ``expression`` over ``metrics``.

    ``threshold`` is in the metric's own unit (a count, bytes, percent);
    the YAML comment next to each converts the spec's wording.
    """

    name: Name
    description: str
    resource: AlarmResource
    namespace: MetricText | None = None
    metric_name: MetricText | None = None
    statistic: Statistic | None = None
    expression: str | None = None
    metrics: list[MetricQueryConfig] = []
    threshold: float
    comparison: Comparison
    period_seconds: Period
    evaluation_periods: PositiveInt
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"]
    action: AlarmAction

    @property
    def window_seconds(self) -> int:
        """How long the condition must hold before the alarm fires."""
        return self.period_seconds * self.evaluation_periods

    @model_validator(mode="after")
    def _check(self) -> AlarmConfig:
        single = (self.namespace, self.metric_name, self.statistic)
        if self.expression is None:
            if None in single or self.metrics:
                raise ValueError("a single-metric alarm needs namespace, metric_name, statistic")
        elif any(v is not None for v in single) or not self.metrics:
            raise ValueError("an expression alarm needs metrics and no namespace/metric_name")
        if self.window_seconds > MAX_EVALUATION_SECONDS:
            raise ValueError(
                f"period_seconds x evaluation_periods = {self.window_seconds} exceeds one day"
            )
        return self


class TrackedMetricConfig(StrictModel):
    """A metric graphed for capacity planning, with no alarm (spec: "Request Count")."""

    name: Name
    resource: AlarmResource
    namespace: MetricText
    metric_name: MetricText
    statistic: Statistic
    period_seconds: Period


#: The event categories RDS offers for source type ``db-instance`` (RDS User
#: Guide "Amazon RDS event categories and event messages", DB instance events;
#: ``DescribeEventCategories(SourceType="db-instance")`` lists the same).
RdsEventCategory = Literal[
    "availability", "backup", "configuration change", "creation", "deletion", "failover",
    "failure", "low storage", "maintenance", "notification", "read replica", "recovery",
    "restoration", "security", "security patching",
]


class RdsEventsConfig(StrictModel):
    """RDS event subscriptions: one per region with DB instances, to that region's topic.

    RDS publishes only to a topic of the instance's region, so the primary
    region's subscription covers the primary and its same-region replicas and
    notifies ``sns.<topic>``; the DR region's covers the cross-region replica
    and notifies ``dr.sns.<topic>``.  ``name`` is per region and account
    (staging and production share a region: keep the environment in it).
    """

    name: Annotated[str, matching(r"[A-Za-z][A-Za-z0-9-]{0,254}", "a subscription name")]
    topic: str
    source_type: Literal["db-instance"] = "db-instance"
    #: Empty: every category (RDS: a subscription without ``EventCategories``).
    categories: list[RdsEventCategory]
    enabled: bool = True


class MonitoringConfig(StrictModel):
    """SNS topics by key, the topics each alarm action notifies, alarms.

    ``scale_out`` alarms also drive a step-scaling policy on the ECS service
    adding ``scale_out_adjustment`` tasks, on top of target tracking.
    """

    topics: dict[Annotated[str, matching(r"[a-z][a-z0-9_]*", "a topic key")], TopicConfig]
    actions: dict[AlarmAction, list[str]]
    scale_out_adjustment: PositiveInt
    alarms: list[AlarmConfig]
    tracked_metrics: list[TrackedMetricConfig]
    #: Issue 12: SSE-KMS on every topic, with the platform key (``kms``) in
    #: aws.region and its replica (``dr.kms``) for the DR topic copies.
    encrypt_topics: bool = False
    #: Issue 12: RDS event subscriptions (None: none).
    rds_events: RdsEventsConfig | None = None

    def topics_for(self, action: AlarmAction) -> list[TopicConfig]:
        """The topics an alarm with ``action`` notifies."""
        return [self.topics[key] for key in self.actions.get(action, [])]

    def problems(self) -> list[str]:
        problems: list[str] = []
        for action, keys in self.actions.items():
            for key in keys:
                if key not in self.topics:
                    problems.append(f"actions.{action}: {key!r} is not a key of topics")
        names = [a.name for a in self.alarms]
        for index, alarm in enumerate(self.alarms):
            if alarm.action not in self.actions:
                problems.append(
                    f"alarms[{index}].action {alarm.action} has no entry in actions"
                )
            if alarm.action == "scale_out" and alarm.resource != "ecs_service":
                problems.append(
                    f"alarms[{index}]: a scale_out alarm must watch the ecs_service, "
                    f"not {alarm.resource}"
                )
            if names.count(alarm.name) > 1 and names.index(alarm.name) != index:
                problems.append(f"alarms[{index}].name {alarm.name!r} is used twice")
        for index, metric in enumerate(self.tracked_metrics):
            if metric.resource == REPLICA_RESOURCE:
                problems.append(f"tracked_metrics[{index}].resource: {REPLICA_RESOURCE} "
                                "names one alarm per replica; a tracked metric watches one")
        if self.rds_events is not None and self.rds_events.topic not in self.topics:
            problems.append(f"rds_events.topic: {self.rds_events.topic!r} is not a key of topics")
        topic_names = [t.name for t in self.topics.values()]
        for dup in sorted({n for n in topic_names if topic_names.count(n) > 1}):
            problems.append(f"topics: name {dup!r} is used twice")
        return problems


# --------------------------------------------------------------------------- disaster recovery


class SnapshotRetentionConfig(StrictModel):
    """Backup strategy of the spec, in days."""

    automated_days: Annotated[int, Field(ge=1, le=35)]
    manual_pre_deploy_days: PositiveInt
    archive_days: PositiveInt


class BackupsConfig(StrictModel):
    """Manual database backups (``vivr-provision backup``), kept
    ``snapshot_retention.manual_pre_deploy_days``.

    ``before_apply``: an apply whose plan changes the primary database takes
    one first, so a change that goes wrong has a restore point from minutes
    before it.  ``wait_minutes`` bounds the wait for the snapshot to become
    available (its time grows with the database's size).
    """

    before_apply: bool = True
    wait_minutes: PositiveInt = 60


#: What a standby alarm may watch: its own service and target group (in dr.region).
StandbyAlarmResource = Literal["ecs_service", "target_group"]


class StandbyAlarmConfig(AlarmConfig):
    """An alarm on the standby tier, in ``dr.region``, notifying the DR copies of its
    action's topics (``dr.sns.<key>``: CloudWatch notifies only its own region's).

    ``needs_tasks``: the alarm means something only while the standby runs
    tasks, so it is not built while ``desired_count`` is 0 (a pilot light has
    no targets: "no healthy host" would be a permanent alarm).
    """

    resource: StandbyAlarmResource  # narrower than AlarmConfig's
    needs_tasks: bool = False


class StandbyAppConfig(StrictModel):
    """The standby application tier on ECS in ``dr.region`` (steps ``dr.ecs-*``).

    The primary's container (image, port, environment, secrets, health
    check, CPU and memory) on the DR site: its own cluster, family and
    service names, the DR network's private subnets and groups, a log group
    of ``dr.region`` encrypted with the DR key, and ``endpoints`` read from
    the DR site's steps (``source: rds`` names a replica in ``dr.region``,
    ``source: redis`` the standby Redis ``dr.cache`` when it is built).
    ``desired_count`` 0 is a pilot light, 1 or more a warm standby.
    ``environment`` is added to (and overrides) the primary's.
    """

    desired_count: NonNegativeInt
    cluster_name: Name
    family: Name
    service_name: Name
    subnets: Annotated[list[Name], Field(min_length=1)]
    security_groups: Annotated[list[Name], Field(min_length=1)]
    assign_public_ip: bool = False
    log_group: LogGroupConfig
    environment: dict[EnvName, str] = Field(default_factory=dict)
    endpoints: dict[EnvName, ContainerEndpointConfig]
    alarms: list[StandbyAlarmConfig] = Field(default_factory=list)


class StandbyConfig(StrictModel):
    """Which standby resources exist in the DR region ("can be activated").

    ``replicate_secrets``: the secrets the standby reads (the ECS container
    secrets and the standby ALB's origin-verify secret) get a Secrets
    Manager replica in the DR region, encrypted with the DR key (the
    replica of the multi-Region key), so the standby does not depend on
    the primary region's Secrets Manager during a failover.
    """

    ecs: bool
    redis: bool
    alb: bool
    replicate_secrets: bool = False
    #: The standby ECS tier's settings; required when ``ecs`` is on.
    app: StandbyAppConfig | None = None


class DrDatabaseConfig(StrictModel):
    """Where the cross-region read replica lives in the DR network."""

    subnet_group: SubnetGroupConfig
    security_groups: Annotated[list[Name], Field(min_length=1)]


#: Node families Global Datastore runs on, "in size large and above" (ElastiCache
#: User Guide, "Global datastores: prerequisites and limitations", checked 2026-12-06).
GLOBAL_DATASTORE_FAMILIES = frozenset({"m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn"})
#: Sizes below "large", which Global Datastore does not take in any family.
SMALL_SIZES = frozenset({"nano", "micro", "small", "medium"})


def global_datastore_problem(node_type: str) -> str | None:
    """Why ``node_type`` cannot be in a Global Datastore, or None when it can."""
    _, family, size = node_type.split(".", 2)
    if family not in GLOBAL_DATASTORE_FAMILIES or size in SMALL_SIZES:
        return (f"{node_type} cannot join a Global Datastore (it needs "
                f"{', '.join(sorted(GLOBAL_DATASTORE_FAMILIES))} in size large or above)")
    return None


class DrRedisConfig(StrictModel):
    """The standby Redis in ``dr.region`` (built with ``dr.standby.redis``).

    ``mode``: ``replication_group`` is an independent replication group of
    its own, empty until the application fails over to it (a cold cache);
    ``global_datastore`` would make it the secondary of a Global Datastore
    replicating the primary (promoted with FailoverGlobalReplicationGroup),
    which AWS offers only for node types of size large and above
    (:data:`GLOBAL_DATASTORE_FAMILIES`), the same on both sides: the
    primary's cache.t3.small cannot join one, and this version builds only
    the independent group (config validation says so).

    Every other setting is the primary's (``redis``) unless given here:
    engine and version, TLS, AUTH (the same ``secrets.redis_auth_token``
    value), at-rest encryption (with the DR key ``dr.kms``: a KMS key must
    be in the replication group's region), parameters, port, windows and
    snapshot retention.  The defaults make a standby of one node without
    Multi-AZ or automatic failover: it serves only after a failover, when
    an empty cache that refills is acceptable (sessions and carts are lost
    at failover anyway: nothing replicates them).
    """

    mode: Literal["replication_group", "global_datastore"] = "replication_group"
    replication_group_id: Annotated[
        str,
        matching(r"[a-z](?!.*--)[a-z0-9-]{0,39}(?<!-)", "an ElastiCache id (max 40 characters)"),
    ]
    description: str
    subnet_group: SubnetGroupConfig
    security_groups: Annotated[list[Name], Field(min_length=1)]
    #: Parameter group names are per region: the primary's name by default.
    parameter_group_name: Name | None = None
    node_type: CacheNodeType | None = None
    replicas: Annotated[int, Field(ge=0, le=5)] = 0
    multi_az: bool = False
    automatic_failover: bool = False
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] | None = None

    @model_validator(mode="after")
    def _check(self) -> DrRedisConfig:
        problems: list[str] = []
        if self.automatic_failover and self.replicas < 1:
            problems.append("automatic_failover needs at least one replica")
        if self.multi_az and not self.automatic_failover:
            problems.append("multi_az needs automatic_failover")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class DrLogsBucketConfig(StrictModel):
    """The DR site's log bucket in ``region`` (issue 12), step ``dr.s3.<settings_of>``.

    An ALB writes access logs only into a bucket of its own region, and S3
    delivers server access logs only within a region (ELB User Guide,
    "Enable access logs"; S3 User Guide, "Enabling Amazon S3 server access
    logging"), so the primary's log bucket cannot take the standby ALB's or
    the DR buckets' logs.  This bucket has the settings of
    ``s3.buckets.<settings_of>`` (versioning, encryption, public access
    block, ownership, TLS-only, lifecycle, the policy kind) under its own
    ``name`` (plus ``s3.name_suffix``); it logs nowhere itself, as the
    primary's does not.  ``object_ownership`` overrides the source's: the
    primary's log bucket keeps ACLs for CloudFront's standard logging, which
    never writes here, and ALB and S3 log delivery need none (bucket policy),
    so the DR one can disable them.
    """

    name: BucketName
    settings_of: BucketKey
    object_ownership: Literal["BucketOwnerEnforced", "BucketOwnerPreferred",
                              "ObjectWriter"] | None = None


class DrConfig(StrictModel):
    """Failover to ``region``; off for staging (no cross-region copies or standbys).

    ``network`` and ``security_groups`` describe the DR region's own VPC: a
    cross-region RDS replica must live in a DB subnet group of that region,
    and the standby tier (when activated) joins it.  ``alb`` is the standby
    load balancer the failover SECONDARY record points at; it is built when
    ``enabled`` and ``standby.alb`` (which the root model lets through only
    with an ``alb`` section, so a failover pair is never left half-made).
    """

    enabled: bool
    region: Region
    rto_hours: PositiveInt
    rpo_hours: PositiveInt
    snapshot_retention: SnapshotRetentionConfig
    backups: BackupsConfig = Field(default_factory=BackupsConfig)
    standby: StandbyConfig
    failover_ttl_seconds: NonNegativeInt
    network: NetworkConfig | None = None
    security_groups: list[SecurityGroupConfig] = Field(default_factory=list)
    database: DrDatabaseConfig | None = None
    alb: AlbConfig | None = None
    redis: DrRedisConfig | None = None
    logs_bucket: DrLogsBucketConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> DrConfig:
        if self.rpo_hours > self.rto_hours:
            raise ValueError(f"rpo_hours {self.rpo_hours} is above rto_hours {self.rto_hours}")
        switches = self.standby.model_dump(exclude={"app"}).values()
        if not self.enabled and any(switches):
            raise ValueError("standby resources need enabled: true")
        return self


# --------------------------------------------------------------------------- cost

TOTAL_TOLERANCE = 0.01


class CostItemConfig(StrictModel):
    """One line of the spec's monthly cost table.

    ``monthly`` is the spec's figure, not recomputed: for hourly lines the
    spec's monthly does not equal unit_cost x quantity x hours_per_month
    exactly, and the table is the agreed estimate.
    """

    category: str
    service: str
    size: str
    quantity: Annotated[float, Field(ge=0)]
    unit_cost: Annotated[float, Field(ge=0)]
    unit: Literal["hour", "month", "GB"]
    monthly: Annotated[float, Field(ge=0)]


class CostConfig(StrictModel):
    currency: Literal["USD"]
    hours_per_month: Annotated[int, Field(ge=672, le=744)]
    line_items: Annotated[list[CostItemConfig], Field(min_length=1)]
    total_monthly: Annotated[float, Field(ge=0)]

    @property
    def computed_total(self) -> float:
        return round(sum(item.monthly for item in self.line_items), 2)

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.line_items:
            totals[item.category] = round(totals.get(item.category, 0.0) + item.monthly, 2)
        return totals

    @model_validator(mode="after")
    def _check(self) -> CostConfig:
        if abs(self.computed_total - self.total_monthly) > TOTAL_TOLERANCE:
            raise ValueError(
                f"total_monthly {self.total_monthly:.2f} differs from the sum of line_items "
                f"{self.computed_total:.2f}"
            )
        return self
