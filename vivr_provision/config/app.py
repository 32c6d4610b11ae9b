"""Config of the application tier: IAM roles, log groups, ECS, ALB, ACM certificate.

Spec sections "IAM Roles & Policies", "Monitoring & Logging / Log Groups",
"Compute Resources" (ECS Fargate and the EC2 option) and "Load Balancer
Configuration". Models check their own fields; references across sections
(subnets, security groups, buckets, secrets, the target group the service
registers with) are checked by the root model.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vivr_provision.config.base import (
    ConfigProblems,
    Name,
    NonNegativeInt,
    Percent,
    PositiveInt,
    StrictModel,
)
from vivr_provision.config.data import (
    EbsVolumeConfig,
    Ec2InstanceType,
    SecretKey,
    ServicePort,
    SsmParameter,
    matching,
    one_of,
)

# --------------------------------------------------------------------------- IAM

Capability = Literal[
    "SecretsManagerReadSecret",
    "S3GetObject",
    "S3PutObject",
    "S3Replication",
    "SQSSendMessage",
    "SNSPublish",
    "KMSGenerateDataKey",
    "KMSDecrypt",
    "CloudWatchLogsDeliver",
    "CloudWatchLogsWrite",
    "KMSBackupCopy",
]
#: What the ``resources`` of a grant name, per capability (checked by the root model).
GRANT_RESOURCES: dict[str, str] = {
    "SecretsManagerReadSecret": "secret keys (secrets section)",
    "S3GetObject": "bucket keys (s3.buckets)",
    "S3PutObject": "bucket keys (s3.buckets)",
    "S3Replication": "bucket keys (s3.buckets) with a replication section",
    "SQSSendMessage": "queue name patterns",
    "SNSPublish": "topic name patterns",
    "KMSGenerateDataKey": "nothing (the platform key)",
    "KMSDecrypt": "nothing (the platform key)",
    "CloudWatchLogsDeliver": "log group keys (logs.groups)",
    "CloudWatchLogsWrite": "log group keys (logs.groups)",
    "KMSBackupCopy": "nothing (the platform key and its DR replica)",
}
IamRoleName = Annotated[str, matching(r"[\w+=,.@-]{1,64}", "an IAM role name")]
#: An ARN pattern for ``aws:SourceArn`` (``*`` and ``?`` allowed, ``ArnLike``), with the
#: ``{account}`` and ``{region}`` placeholders :class:`IamRoleConfig` describes.
TrustSourceArn = Annotated[str, matching(r"arn:aws[a-z-]*:[a-z0-9-]+:[^\s]*",
                                         "an ARN pattern (arn:aws:<service>:...)")]
#: Service principals that assume roles without the source context keys: EC2 (an
#: instance profile) sends neither ``aws:SourceAccount`` nor ``aws:SourceArn``
#: (IAM user guide, "AWS global condition context keys": the keys are present
#: only when a service calls on behalf of a resource; Prowler issue #2810).
NO_SOURCE_CONTEXT = frozenset({"ec2.amazonaws.com"})
#: What a ``trust_source_arns`` pattern may name (filled in by the IAM step).
TRUST_PLACEHOLDERS = frozenset({"account", "region", "s3_suffix"})


class IamGrantConfig(StrictModel):
    """One inline capability of a role, named as the spec names it.

    Steps turn each capability into a least-privilege statement scoped to
    ``resources`` (see GRANT_RESOURCES for what they name).
    """

    capability: Capability
    resources: list[str]


class IamRoleConfig(StrictModel):
    name: IamRoleName
    description: str
    trust_service: Annotated[
        str, matching(r"[a-z0-9.-]+\.amazonaws\.com", "a service principal (x.amazonaws.com)")
    ]
    managed_policies: list[Annotated[str, matching(r"[\w+=,.@/-]{1,128}", "a policy name")]]
    grants: list[IamGrantConfig]
    #: Trust only this account's use of the service (``aws:SourceAccount``), the
    #: confused-deputy guard AWS recommends for service roles (IAM user guide,
    #: "Cross-service confused deputy prevention").
    trust_source_account: bool = False
    #: ``aws:SourceArn`` patterns (``ArnLike``): the service may assume the role
    #: only while acting for one of these resources.  ``{account}`` becomes the
    #: account id, ``{s3_suffix}`` ``s3.name_suffix``; an entry with ``{region}``
    #: is repeated for every region the platform runs in (the primary's and the
    #: DR site's: IAM is global and the standby uses the same roles).  Each
    #: service documents its own form (see the config files' comments).
    trust_source_arns: list[TrustSourceArn] = []

    @model_validator(mode="after")
    def _check_trust(self) -> IamRoleConfig:
        if self.trust_service in NO_SOURCE_CONTEXT and (
                self.trust_source_account or self.trust_source_arns):
            # EC2 assumes an instance profile's role without any source context
            # keys: such a condition would never match and no instance could start.
            raise ValueError(f"{self.trust_service} does not send aws:SourceAccount or "
                             "aws:SourceArn when it assumes a role: remove trust_source_*")
        for pattern in self.trust_source_arns:
            unknown = {name for _, name, _, _ in string.Formatter().parse(pattern)
                       if name is not None} - TRUST_PLACEHOLDERS
            if unknown:
                known = ", ".join(f"{{{name}}}" for name in sorted(TRUST_PLACEHOLDERS))
                raise ValueError(f"{pattern!r}: unknown placeholder(s) "
                                 f"{', '.join(sorted(unknown))} (use {known})")
        return self


class ServiceLinkedRoleConfig(StrictModel):
    """An AWS service-linked role a feature of the config needs to exist first.

    AWS creates and owns it (one per account, shared by every stack); the
    tool creates it only when missing and never deletes it.  ``role_name``
    is the name AWS derives from ``service_name`` (IAM user guide "AWS
    services that work with IAM", service-linked role column), named here so
    an existing role is found without creating it.
    """

    service_name: Annotated[
        str, matching(r"[a-z0-9.-]+\.amazonaws\.com", "a service principal (x.amazonaws.com)")
    ]
    role_name: Annotated[str, matching(r"AWSServiceRoleFor[\w+=,.@-]{1,47}",
                                       "a service-linked role name (AWSServiceRoleFor...)")]
    description: Annotated[str, Field(max_length=1000)]


class IamConfig(StrictModel):
    """The spec's four roles, plus the service roles other spec features need.

    ``rds_monitoring_role`` (enhanced monitoring), ``s3_replication_role``
    (backups cross-region replication), ``ecs_instance_role`` (EC2 launch
    option) and ``pgbouncer_instance_role`` are not listed by the spec but
    AWS requires them for features it does list.  ``autoscaling_service_linked_role``
    is AWS's own role for EC2 Auto Scaling: with ``ecs.launch_type: ec2`` the
    KMS key policy must name it (instances with volumes encrypted by the
    customer-managed key cannot launch otherwise), and a key policy may only
    name a principal that exists.
    """

    task_execution_role: IamRoleConfig
    task_role: IamRoleConfig
    backup_role: IamRoleConfig
    cloudfront_role: IamRoleConfig
    rds_monitoring_role: IamRoleConfig
    s3_replication_role: IamRoleConfig
    ecs_instance_role: IamRoleConfig
    pgbouncer_instance_role: IamRoleConfig
    #: Publishes VPC flow logs (``network.flow_logs.role``); absent without flow logs.
    vpc_flow_logs_role: IamRoleConfig | None = None
    autoscaling_service_linked_role: ServiceLinkedRoleConfig

    def roles(self) -> dict[str, IamRoleConfig]:
        """Every role this tool owns, by field name (not the service-linked ones)."""
        return {name: value for name in type(self).model_fields
                if isinstance(value := getattr(self, name), IamRoleConfig)}

    @model_validator(mode="after")
    def _check(self) -> IamConfig:
        names = [role.name for role in self.roles().values()]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"role name(s) used twice: {', '.join(dups)}")
        return self


# --------------------------------------------------------------------------- CloudWatch Logs

LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
     2557, 2922, 3288, 3653}
)  # fmt: skip
LogGroupName = Annotated[str, matching(r"[A-Za-z0-9_./#-]{1,512}", "a log group name")]


class LogGroupConfig(StrictModel):
    name: LogGroupName
    description: str
    retention_days: Annotated[
        int, one_of(LOG_RETENTION_DAYS, "a retention CloudWatch Logs accepts")
    ]


class RdsLogExportsConfig(StrictModel):
    """The spec's database log group, as RDS allows it.

    RDS exports a log type only to ``/aws/rds/instance/<identifier>/<type>``,
    a name it fixes, and creates that group with no expiry when it is missing.
    So one group per instance and exported type is created (before the
    instance exports to it) with this description and retention; a
    ``/vivr/<env>/database`` group would stay empty (CloudWatch Logs cannot
    forward a group into another: subscription filters deliver to Kinesis,
    Firehose or Lambda only).
    """

    description: str
    retention_days: Annotated[
        int, one_of(LOG_RETENTION_DAYS, "a retention CloudWatch Logs accepts")
    ]


def rds_export_group_name(identifier: str, log_type: str) -> str:
    """The group RDS exports to (RDS User Guide, "Publishing database logs to CloudWatch Logs")."""
    return f"/aws/rds/instance/{identifier}/{log_type}"


#: Log types a delivery source of each kind takes (botocore logs model,
#: PutDeliverySource.logType: "For CloudFront, the valid value is ACCESS_LOGS";
#: "For Application Load Balancer, the valid values are ALB_ACCESS_LOGS,
#: ALB_CONNECTION_LOGS, and ALB_HEALTH_CHECK_LOGS").
DELIVERY_LOG_TYPES: dict[str, frozenset[str]] = {
    "cloudfront": frozenset({"ACCESS_LOGS"}),
    "alb": frozenset({"ALB_ACCESS_LOGS", "ALB_CONNECTION_LOGS", "ALB_HEALTH_CHECK_LOGS"}),
}
#: CloudFront's logging (like its certificates) is configured in us-east-1 only.
CLOUDFRONT_LOG_REGION = "us-east-1"
DeliveryName = Annotated[str, matching(r"[\w-]{1,60}", "a delivery source/destination name")]
LogGroupKey = Annotated[str, matching(r"[a-z][a-z0-9_]*", "a log group key")]


class LogDeliveryConfig(StrictModel):
    """One CloudWatch Logs delivery (vended logs, "V2"): a resource's logs into a group.

    Three CloudWatch Logs objects: a delivery source (the resource and its log
    type), a delivery destination (the log group and the output format) and
    the delivery pairing them.  ``source`` names the step whose resource
    sends: ``cloudfront`` (the distribution, standard logging v2) or ``alb``
    (the primary load balancer).  ``output_format``: CloudWatch Logs
    destinations take ``json`` or ``plain``.
    """

    source: Literal["cloudfront", "alb"]
    log_type: Annotated[str, matching(r"\w+", "a log type")]
    group: LogGroupKey
    output_format: Literal["json", "plain"]
    source_name: DeliveryName
    destination_name: DeliveryName

    @model_validator(mode="after")
    def _check(self) -> LogDeliveryConfig:
        allowed = DELIVERY_LOG_TYPES[self.source]
        if self.log_type not in allowed:
            raise ValueError(f"log_type {self.log_type} is not one a {self.source} delivery "
                             f"source sends ({', '.join(sorted(allowed))})")
        return self


class LogsConfig(StrictModel):
    """Log groups by key (app, cache, alb, cloudfront); others refer to the key.

    ``database`` sets the groups RDS exports into (see
    :class:`RdsLogExportsConfig`); ``deliveries`` are the CloudWatch Logs
    deliveries into ``groups``; ``delivery_policy_name`` is the account's
    log resource policy that lets the log-delivery service write into the
    groups that AWS services deliver to (ElastiCache and the deliveries).
    """

    groups: dict[LogGroupKey, LogGroupConfig]
    database: RdsLogExportsConfig
    delivery_policy_name: Annotated[str, matching(r"[\w.-]{1,255}", "a resource policy name")]
    deliveries: dict[LogGroupKey, LogDeliveryConfig] = Field(default_factory=dict)

    def group(self, key: str) -> LogGroupConfig:
        return self.groups[key]

    @model_validator(mode="after")
    def _check(self) -> LogsConfig:
        names = [g.name for g in self.groups.values()]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"log group name(s) used twice: {', '.join(dups)}")
        problems = [f"deliveries.{key}.group {d.group} is not a key of logs.groups"
                    for key, d in self.deliveries.items() if d.group not in self.groups]
        for field_name in ("source_name", "destination_name"):
            used = [getattr(d, field_name) for d in self.deliveries.values()]
            problems += [f"deliveries: {field_name} {n} used twice"
                         for n in sorted({n for n in used if used.count(n) > 1})]
        # CloudWatch Logs takes one delivery source per resource and log type.
        pairs = [(d.source, d.log_type) for d in self.deliveries.values()]
        problems += [f"deliveries: {s} {t} delivered twice (one delivery source per resource "
                     "and log type)" for s, t in sorted({p for p in pairs if pairs.count(p) > 1})]
        if problems:
            raise ConfigProblems(problems)
        return self


# --------------------------------------------------------------------------- ECS

#: Fargate task sizes: cpu units -> allowed memory (MiB).
FARGATE_MEMORY: dict[int, range] = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
    8192: range(16384, 61441, 4096),
    16384: range(32768, 122881, 8192),
}


class ContainerHealthCheckConfig(StrictModel):
    """The container health check (ECS limits: interval 5-300 s, timeout 2-120 s ...)."""

    command: Annotated[list[str], Field(min_length=2)]
    interval_seconds: Annotated[int, Field(ge=5, le=300)]
    timeout_seconds: Annotated[int, Field(ge=2, le=120)]
    retries: Annotated[int, Field(ge=1, le=10)]
    start_period_seconds: Annotated[int, Field(ge=0, le=300)]

    @model_validator(mode="after")
    def _check(self) -> ContainerHealthCheckConfig:
        if self.command[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError(f"command must start with CMD or CMD-SHELL, not {self.command[0]!r}")
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"timeout_seconds {self.timeout_seconds} must be below interval_seconds "
                f"{self.interval_seconds}"
            )
        return self


class ContainerSecretConfig(StrictModel):
    """An environment variable filled from a secret (by key); ``json_key`` picks a field."""

    env: Annotated[str, matching(r"[A-Z_][A-Z0-9_]*", "an environment variable name")]
    secret: SecretKey
    json_key: str | None = None


EnvName = Annotated[str, matching(r"[A-Z_][A-Z0-9_]*", "an environment variable name")]
#: An absolute directory inside the container, not the root itself.
ContainerPath = Annotated[str, matching(r"/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*",
                                        "an absolute directory path other than /")]

#: Where an endpoint variable may come from: source -> the outputs it may name.
#: They are outputs of the steps that build the resource (``rds.<identifier>``,
#: ``pgbouncer``, ``cache``, ``s3.<bucket key>``), read back from AWS after
#: apply; tests/unit check that each step really produces them.
ENDPOINT_OUTPUTS: dict[str, tuple[str, ...]] = {
    "rds": ("address", "port"),                       # an instance's Endpoint
    "pgbouncer": ("private_ip", "port"),              # the pooler (the app's database path)
    "redis": ("primary_endpoint", "reader_endpoint", "port", "transit_encryption"),
    "s3": ("bucket",),
}
#: Sources that name one of several resources in ``key``, and what the key is.
ENDPOINT_KEYS: dict[str, str] = {
    "rds": "an RDS instance identifier (rds.identifier or a same-region read replica)",
    "s3": "a bucket key of s3.buckets",
}


class ContainerEndpointConfig(StrictModel):
    """An environment variable set from an output of a resource this tool builds.

    The value is read from AWS when the task definition is registered, so a
    replaced instance or a new endpoint registers a new revision; booleans
    become ``true``/``false``, numbers their decimal text.
    """

    source: Literal["rds", "pgbouncer", "redis", "s3"]
    key: Name | None = None
    output: str

    @model_validator(mode="after")
    def _check(self) -> ContainerEndpointConfig:
        allowed = ENDPOINT_OUTPUTS[self.source]
        if self.output not in allowed:
            raise ValueError(f"output {self.output!r} is not an output of {self.source} "
                             f"({', '.join(allowed)})")
        if self.source in ENDPOINT_KEYS and self.key is None:
            raise ValueError(f"source {self.source} needs key: {ENDPOINT_KEYS[self.source]}")
        if self.source not in ENDPOINT_KEYS and self.key is not None:
            raise ValueError(f"source {self.source} is a single resource: leave key out")
        return self


class ContainerConfig(StrictModel):
    """The app container.

    ``environment`` holds literal values, ``endpoints`` values read from the
    resources this tool builds (database, pooler, cache, buckets) and
    ``secrets`` references to Secrets Manager; a variable is set by one of
    them only.
    """

    name: Name
    image: Annotated[str, matching(r"\S+", "a container image reference")]
    port: ServicePort
    essential: bool
    environment: dict[EnvName, str]
    endpoints: dict[EnvName, ContainerEndpointConfig]
    secrets: list[ContainerSecretConfig]
    health_check: ContainerHealthCheckConfig
    log_group: str
    log_stream_prefix: Name
    #: The awslogs delivery mode (issue 12; Prowler
    #: ``ecs_task_definitions_logging_block_mode``).  ECS API reference,
    #: LogConfiguration ``mode``: in ``blocking`` mode a stalled flow of logs
    #: blocks the container's writes to stdout/stderr (the app hangs, health
    #: checks fail); ``non-blocking`` buffers them in memory instead and drops
    #: what does not fit.  ECS's own default since 2025-06-25 is
    #: ``non-blocking`` unless the account setting ``defaultLogDriverMode``
    #: says otherwise, so it is set explicitly.
    log_mode: Literal["non-blocking", "blocking"] = "non-blocking"
    #: ``max-buffer-size`` of ``non-blocking`` mode (same reference: "Default
    #: value: 10m"; the buffer holding logs not yet sent, taken from the
    #: container's memory; logs beyond it are lost).  Docker's size syntax.
    log_max_buffer_size: Annotated[
        str, matching(r"[1-9][0-9]*[kmg]", "a buffer size such as 10m (k, m or g)")] = "10m"
    #: ``readonlyRootFilesystem`` (issue 12; ECS.5 in AWS Security Hub): the image's
    #: files cannot be changed by a compromised process.
    read_only_root_filesystem: bool = True
    #: Directories the app writes to, each an empty task-scoped bind mount
    #: (ephemeral storage on Fargate, gone with the task; ECS Developer Guide,
    #: "Bind mount examples": a volume with a name and no host).
    writable_paths: list[ContainerPath] = Field(default_factory=lambda: ["/tmp"])

    @model_validator(mode="after")
    def _check(self) -> ContainerConfig:
        secret_envs = [entry.env for entry in self.secrets]
        named = [*self.environment, *self.endpoints, *secret_envs]
        dups = sorted({n for n in named if named.count(n) > 1})
        if dups:
            raise ValueError(f"variable(s) set twice (environment, endpoints, secrets): "
                             f"{', '.join(dups)}")
        volumes = [writable_volume_name(p) for p in self.writable_paths]
        clashes = sorted({v for v in volumes if volumes.count(v) > 1})
        if clashes:
            raise ValueError("writable_paths: paths that name the same volume "
                             f"({', '.join(clashes)})")
        return self


def writable_volume_name(path: str) -> str:
    """The task volume mounted at ``path``: ``/var/cache/app`` -> ``rw-var-cache-app``.

    ECS volume names allow letters, digits, ``_`` and ``-`` (up to 255).
    """
    return "rw-" + re.sub(r"[^A-Za-z0-9_]+", "-", path).strip("-")


class TaskDefinitionConfig(StrictModel):
    """One task definition with one container (spec: "Containers: 1"); cpu units, MiB."""

    family: Name
    cpu: PositiveInt
    memory: PositiveInt
    network_mode: Literal["awsvpc"]
    container: ContainerConfig


class CircuitBreakerConfig(StrictModel):
    enable: bool
    rollback: bool


class EcsServiceConfig(StrictModel):
    """The ECS service; ``target_group`` names the ALB target group it registers with."""

    name: Name
    desired_count: NonNegativeInt
    deployment_controller: Literal["ECS"]
    min_healthy_percent: Annotated[int, Field(ge=0, le=100)]
    max_percent: Annotated[int, Field(ge=100, le=200)]
    health_check_grace_period_seconds: NonNegativeInt
    circuit_breaker: CircuitBreakerConfig
    subnets: Annotated[list[Name], Field(min_length=1)]
    security_groups: Annotated[list[Name], Field(min_length=1)]
    assign_public_ip: bool
    target_group: Name


class EcsAutoscalingConfig(StrictModel):
    """Application Auto Scaling target tracking of the service (tasks)."""

    min_capacity: NonNegativeInt
    max_capacity: PositiveInt
    cpu_target_percent: Percent
    memory_target_percent: Percent
    scale_out_cooldown_seconds: NonNegativeInt
    scale_in_cooldown_seconds: NonNegativeInt

    @model_validator(mode="after")
    def _check(self) -> EcsAutoscalingConfig:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity {self.min_capacity} is above max_capacity {self.max_capacity}"
            )
        return self


class AsgSizeConfig(StrictModel):
    min_size: NonNegativeInt
    max_size: PositiveInt
    desired_capacity: NonNegativeInt

    @model_validator(mode="after")
    def _check(self) -> AsgSizeConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        if self.desired_capacity > self.max_size:
            raise ValueError(
                f"desired_capacity {self.desired_capacity} is above max_size {self.max_size}"
            )
        if self.desired_capacity < self.min_size:
            raise ValueError(
                f"desired_capacity {self.desired_capacity} is below min_size {self.min_size}"
            )
        return self


class EcsEc2Config(StrictModel):
    """Spec "Option 1: ECS with EC2": container instances in an Auto Scaling group.

    Used when ``ecs.launch_type`` is ``ec2``; kept complete either way so
    switching the launch type is a one-line change. The instances run in the
    service subnets with the service security groups.
    """

    name: Name
    ami_parameter: SsmParameter
    instance_type: Ec2InstanceType
    root_volume: EbsVolumeConfig
    data_volume: EbsVolumeConfig
    asg: AsgSizeConfig
    cpu_target_percent: Percent
    memory_target_percent: Percent
    scale_out_after_seconds: PositiveInt
    scale_in_after_seconds: PositiveInt
    cooldown_seconds: NonNegativeInt


class FargateConfig(StrictModel):
    platform_version: Annotated[str, matching(r"LATEST|\d+\.\d+\.\d+", "LATEST or x.y.z")]


class EcsConfig(StrictModel):
    cluster_name: Name
    container_insights: bool
    launch_type: Literal["fargate", "ec2"] = "fargate"
    fargate: FargateConfig
    task_definition: TaskDefinitionConfig
    service: EcsServiceConfig
    autoscaling: EcsAutoscalingConfig
    ec2: EcsEc2Config


# --------------------------------------------------------------------------- ALB

ElbName = Annotated[
    str,
    matching(r"[A-Za-z0-9](?!.*--)[A-Za-z0-9-]{0,30}(?<!-)", "an ELB name (max 32, no --)"),
]


class TargetHealthCheckConfig(StrictModel):
    path: Annotated[str, matching(r"/\S*", "an HTTP path")]
    protocol: Literal["HTTP", "HTTPS"]
    port: ServicePort
    interval_seconds: Annotated[int, Field(ge=5, le=300)]
    timeout_seconds: Annotated[int, Field(ge=2, le=120)]
    healthy_threshold: Annotated[int, Field(ge=2, le=10)]
    unhealthy_threshold: Annotated[int, Field(ge=2, le=10)]
    matcher: Annotated[str, matching(r"\d{3}([-,]\d{3})*", "an HTTP code matcher (200, 200-299)")]

    @model_validator(mode="after")
    def _check(self) -> TargetHealthCheckConfig:
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"timeout_seconds {self.timeout_seconds} must be below interval_seconds "
                f"{self.interval_seconds}"
            )
        return self


class StickinessConfig(StrictModel):
    enabled: bool
    type: Literal["lb_cookie", "app_cookie"]
    duration_seconds: Annotated[int, Field(ge=1, le=604800)] = 86400


class TargetGroupConfig(StrictModel):
    """The app target group.

    ``preserve_client_ip`` is realised on an ALB through X-Forwarded-For
    (``routing.http.xff_header_processing.mode`` = append); the
    ``preserve_client_ip.enabled`` target-group attribute exists only for NLBs.
    """

    name: ElbName
    protocol: Literal["HTTP", "HTTPS"]
    port: ServicePort
    target_type: Literal["ip", "instance"]
    health_check: TargetHealthCheckConfig
    deregistration_delay_seconds: Annotated[int, Field(ge=0, le=3600)]
    stickiness: StickinessConfig
    preserve_client_ip: bool


class RedirectConfig(StrictModel):
    protocol: Literal["HTTPS", "HTTP"]
    port: ServicePort
    status_code: Literal["HTTP_301", "HTTP_302"]


SslPolicy = Annotated[
    str, matching(r"ELBSecurityPolicy-[A-Za-z0-9-]+", "an ELB security policy name")
]


class ListenerConfig(StrictModel):
    """A listener: HTTPS forwards to the target group with the ACM certificate."""

    protocol: Literal["HTTP", "HTTPS"]
    port: ServicePort
    action: Literal["forward", "redirect"]
    ssl_policy: SslPolicy | None = None
    redirect: RedirectConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> ListenerConfig:
        if (self.protocol == "HTTPS") != (self.ssl_policy is not None):
            raise ValueError("ssl_policy is required for HTTPS listeners and only for them")
        if (self.action == "redirect") != (self.redirect is not None):
            raise ValueError("redirect settings are required for redirect listeners only")
        return self


class AccessLogsConfig(StrictModel):
    """ALB access logs; ``bucket`` is a key of s3.buckets.

    The ALB inserts the slash itself (bucket/prefix/AWSLogs/...), so the
    prefix carries none, and may not contain "AWSLogs".  ``bucket`` may be
    left out only while logging is off: an ALB writes only to a bucket in
    its own region, and the DR region's standby ALB has none to write to.
    """

    enabled: bool
    bucket: str | None = None
    prefix: Annotated[
        str,
        matching(
            r"(?!.*AWSLogs)[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*",
            "a prefix without leading/trailing slash or AWSLogs",
        ),
    ]

    @model_validator(mode="after")
    def _check(self) -> AccessLogsConfig:
        if self.enabled and self.bucket is None:
            raise ValueError("enabled access logs need a bucket (a key of s3.buckets)")
        return self


#: RFC 7230 token characters; ELB takes at most 40 for an http-header condition.
HeaderName = Annotated[
    str, matching(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}", "an HTTP header name (max 40)")
]
#: An exact request path for a path-pattern condition: ELB's allowed characters
#: (max 128) without its wildcards * and ?, so an open path opens nothing else.
ExactPath = Annotated[
    str, matching(r"/[A-Za-z0-9_.$/~\"'@:+&-]{0,127}", "an exact path (no * or ?, max 128)")
]
#: Methods the open-path rule admits: what a health checker sends (Route 53
#: probes with GET), nothing that writes.
OPEN_PATH_METHODS = ("GET", "HEAD")


class OriginVerifyConfig(StrictModel):
    """Serve only requests that carry CloudFront's secret origin header.

    CloudFront adds ``header`` with the value of ``secret`` (a key of
    ``secrets``) to every request it sends the ALB; the HTTPS listener
    forwards only requests whose header matches and answers every other one
    with ``deny_status_code``, so nothing bypasses CloudFront and its WAF.

    ``open_paths`` are served without the header, to GET and HEAD only, for
    callers that cannot send one: Route 53 health checkers (a health check
    takes no custom headers) probe ``/api/health`` on the primary ALB, and a
    403 there would mark it unhealthy and fail over for good.  The rules
    take listener priorities ``priority`` (the header) and ``priority + 1``
    (the open paths).  ELB allows five match values per rule: the two
    methods leave room for three paths.
    """

    header: HeaderName
    secret: SecretKey
    deny_status_code: Annotated[int, Field(ge=400, le=599)] = 403
    open_paths: Annotated[list[ExactPath], Field(max_length=3)] = []
    priority: Annotated[int, Field(ge=1, le=49999)] = 1

    @model_validator(mode="after")
    def _check(self) -> OriginVerifyConfig:
        dups = sorted({p for p in self.open_paths if self.open_paths.count(p) > 1})
        if dups:
            raise ValueError(f"open_paths: {dups[0]} is listed twice")
        return self


class AlbConfig(StrictModel):
    """An Application Load Balancer: the primary ``alb``, or the DR standby ``dr.alb``.

    Subnets and security groups are names of the same site's network
    (``network``/``security_groups`` or ``dr.network``/``dr.security_groups``);
    the root model checks them against the right one.
    """

    name: ElbName
    scheme: Literal["internet-facing", "internal"]
    ip_address_type: Literal["ipv4", "dualstack"]
    subnets: Annotated[list[Name], Field(min_length=2)]
    security_groups: Annotated[list[Name], Field(min_length=1)]
    idle_timeout_seconds: Annotated[int, Field(ge=1, le=4000)]
    deletion_protection: bool
    drop_invalid_header_fields: bool
    http2: bool
    target_group: TargetGroupConfig
    listeners: Annotated[list[ListenerConfig], Field(min_length=1)]
    access_logs: AccessLogsConfig
    origin_verify: OriginVerifyConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> AlbConfig:
        ports = [listener.port for listener in self.listeners]
        dups = sorted({p for p in ports if ports.count(p) > 1})
        if dups:
            raise ValueError(f"listeners: port {dups[0]} is used twice")
        for index, listener in enumerate(self.listeners):
            target = listener.redirect
            if target is not None and not any(
                other.protocol == target.protocol and other.port == target.port
                for other in self.listeners
            ):
                raise ValueError(
                    f"listeners[{index}].redirect goes to {target.protocol} {target.port}, "
                    "which no listener serves"
                )
        if self.origin_verify is not None and not any(
            listener.action == "forward" for listener in self.listeners
        ):
            raise ValueError("origin_verify guards forwarding listeners, and none forwards")
        return self


# --------------------------------------------------------------------------- ACM

DomainName = Annotated[
    str,
    matching(
        r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", "a lowercase domain name"
    ),
]


class AcmConfig(StrictModel):
    """The public certificate of the ALB HTTPS listener and CloudFront.

    CloudFront only takes certificates from us-east-1; steps request a second
    copy there when aws.region differs.
    """

    domain_name: DomainName
    subject_alternative_names: list[DomainName]
    validation_method: Literal["DNS", "EMAIL"]
    key_algorithm: Literal["RSA_2048", "EC_prime256v1", "EC_secp384r1"] = "RSA_2048"
    #: What the step does when DNS validation cannot proceed because the hosted
    #: zone is not delegated (the registrar still points elsewhere): ``fail``
    #: stops the step at once with the zone's name servers to set (state saved,
    #: a rerun resumes on the same certificate); ``wait`` logs the same reason
    #: and keeps waiting for the step's whole budget.
    on_undelegated_zone: Literal["fail", "wait"] = "fail"
    #: When the delegation cannot be read from this account (the registrar is
    #: elsewhere): how long a certificate whose validation records are in the
    #: zone may stay PENDING_VALIDATION before the step concludes the zone is
    #: most likely not delegated.  A delegated zone usually validates within
    #: minutes (ACM is occasionally slower: a false alarm costs one rerun).
    delegation_check_after_seconds: Annotated[int, Field(ge=0, le=3600)] = 600

    def covers(self, hostname: str) -> bool:
        """Whether the certificate is valid for ``hostname`` (one-label wildcards too)."""
        for name in [self.domain_name, *self.subject_alternative_names]:
            if name == hostname:
                return True
            if name.startswith("*.") and hostname.partition(".")[2] == name[2:]:
                return True
        return False
