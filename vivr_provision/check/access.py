"""The access matrix: what each principal's service needs, evaluated against our documents.

Needs come from what the config makes each service do (the secrets a task
definition injects, the buckets a role reads, the log groups CloudWatch Logs
encrypts ...) and from AWS's documentation of what that service calls on the
principal's behalf.  The documents are built by the steps' own builders
(:mod:`vivr_provision.check.documents`), so a defect in a builder shows here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vivr_provision.check.documents import Documents
from vivr_provision.check.policy import NamedPolicy, Principal, Request, evaluate
from vivr_provision.check.symbolic import ACCOUNT_ID, key_arn, role_arn, secret_arn
from vivr_provision.config import PlatformConfig
from vivr_provision.config.dr_secrets import replicated_secret_keys
from vivr_provision.config.standby import dr_rds_log_group_names, standby_ecs_built
from vivr_provision.steps.dr import standby_alb_built
from vivr_provision.steps.iam import platform_regions, role_wanted
from vivr_provision.steps.pgbouncer import SECRET_STEP as PGBOUNCER_SECRET_STEP
from vivr_provision.steps.s3 import ELB_LOG_DELIVERY, S3_LOG_DELIVERY, BucketStep, s3_steps
from vivr_provision.steps.secrets import replica_arn

#: The service that assumes each role (ECS Developer Guide "task execution IAM role" and
#: "task IAM role"; RDS User Guide "Setting up for Enhanced Monitoring"; S3 User Guide
#: "Setting up permissions for live replication"; EC2 instance profiles).
CONSUMERS = {
    "task_execution_role": "ecs-tasks.amazonaws.com",
    "task_role": "ecs-tasks.amazonaws.com",
    "rds_monitoring_role": "monitoring.rds.amazonaws.com",
    "s3_replication_role": "s3.amazonaws.com",
    "ecs_instance_role": "ec2.amazonaws.com",
    "pgbouncer_instance_role": "ec2.amazonaws.com",
    "vpc_flow_logs_role": "vpc-flow-logs.amazonaws.com",
}
#: The Auto Scaling service-linked role (EC2 Auto Scaling User Guide, "Service-linked roles").
AUTOSCALING_SLR = "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
#: What Auto Scaling needs of a customer managed key that encrypts launch volumes; its
#: managed policy grants no KMS action on customer keys, so the key policy must name it
#: (EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use with encrypted volumes").
AUTOSCALING_KMS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                   "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey")
#: A distribution ARN for CloudFront's requests (OAC signs with the distribution's ARN).
DISTRIBUTION_ID = "EDFDVBD6EXAMPLE"
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)")


@dataclass(frozen=True)
class Need:
    """Some actions a principal must be allowed on one resource, and why."""

    principal: Principal
    actions: tuple[str, ...]
    resource: str
    why: str
    #: Which resource policy applies: ("key", step) / ("bucket", step) / ("trust", field)
    #: / ("secret", secret key).
    policy_of: tuple[str, str] | None = None
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessResult:
    principal: str
    actions: tuple[str, ...]
    resource: str
    why: str
    ok: bool
    reason: str

    @property
    def name(self) -> str:
        return f"{self.principal}: {', '.join(self.actions)} on {self.resource}"


#: Every request an AWS service makes is over TLS.
TLS = {"aws:SecureTransport": "true"}


def _role(config: PlatformConfig, field_name: str, label: str) -> Principal:
    return Principal(f"{label} ({config.iam.roles()[field_name].name})",
                     arn=role_arn(config.iam.roles()[field_name].name), account=ACCOUNT_ID)


def _service(name: str, label: str) -> Principal:
    return Principal(f"{label} ({name})", service=name)


def _via(config: PlatformConfig, service: str, region: str | None = None,
         **context: str) -> dict[str, str]:
    return {**TLS, "kms:ViaService": f"{service}.{region or config.aws.region}.amazonaws.com",
            "kms:CallerAccount": ACCOUNT_ID, **context}


def _secret_policy(config: PlatformConfig, who: Principal,
                   key: str) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """The secret's resource policy (``secret-policy.<key>``) and what a role's request
    carries for its conditions (IAM user guide, "AWS global condition context keys");
    a pgbouncer secret or a config without ``secrets.resource_policy`` has none."""
    if config.secrets.resource_policy is None or key not in config.secrets.names():
        return None, {}
    return ("secret", key), {**TLS, "aws:PrincipalArn": who.arn or "",
                             "aws:PrincipalAccount": ACCOUNT_ID,
                             "aws:PrincipalIsAWSService": "false"}


def _secret_needs(config: PlatformConfig, who: Principal, keys: list[str],
                  purpose: str) -> list[Need]:
    """GetSecretValue, and kms:Decrypt on the key every secret is encrypted with (secrets.py)."""
    needs = []
    keys = sorted(set(keys))
    for key in keys:
        needs.append(Need(who, ("secretsmanager:GetSecretValue",), secret_arn(config, key),
                          f"{purpose}: {key}", *_secret_policy(config, who, key)))
    if keys:
        # Every secret is encrypted with the platform key (steps/secrets.py KmsKeyId), and
        # GetSecretValue decrypts with the caller's permission (Secrets Manager User Guide,
        # "Secret encryption and decryption").
        needs.append(Need(who, ("kms:Decrypt",), key_arn(config, config.aws.region),
                          f"{purpose}: {', '.join(keys)} are encrypted with {config.kms.alias}",
                          ("key", "kms"),
                          _via(config, "secretsmanager", SecretARN=secret_arn(config, keys[0]))))
    return needs


def _bucket_needs(config: PlatformConfig, who: Principal, keys: list[str], write: bool,
                  purpose: str) -> list[Need]:
    needs = []
    for key in keys:
        name = config.s3.bucket_name(key)
        action = "s3:PutObject" if write else "s3:GetObject"
        needs.append(Need(who, (action,), f"arn:aws:s3:::{name}/example", f"{purpose}: {key}",
                          ("bucket", f"s3.{key}"), TLS))
        if config.s3.buckets[key].encryption == "aws:kms":
            kms = "kms:GenerateDataKey" if write else "kms:Decrypt"
            needs.append(Need(who, (kms,), key_arn(config, config.aws.region),
                              f"{purpose}: {key} is SSE-KMS", ("key", "kms"),
                              _via(config, "s3", **{"kms:EncryptionContext:aws:s3:arn":
                                                    f"arn:aws:s3:::{name}/example"})))
    return needs


def _grant_resources(config: PlatformConfig, field_name: str, capability: str) -> list[str]:
    return [r for g in config.iam.roles()[field_name].grants if g.capability == capability
            for r in g.resources]


def _source_arns(config: PlatformConfig, field_name: str) -> list[str]:
    """What ``aws:SourceArn`` the service sends when it assumes the role (one example
    per region it acts in), so the trust conditions are checked against real
    requests; EC2 sends none (an empty list: no source context at all)."""
    regions = platform_regions(config)
    if field_name in ("task_execution_role", "task_role"):
        cluster = config.ecs.cluster_name
        return [f"arn:aws:ecs:{r}:{ACCOUNT_ID}:task/{cluster}/0123456789abcdef0123456789abcdef"
                for r in regions]
    if field_name == "rds_monitoring_role":
        return [f"arn:aws:rds:{r}:{ACCOUNT_ID}:db:vivr-example" for r in regions]
    if field_name == "s3_replication_role":
        return [f"arn:aws:s3:::{config.s3.bucket_name(key)}"
                for key in _grant_resources(config, field_name, "S3Replication")]
    if field_name == "vpc_flow_logs_role":
        return [f"arn:aws:ec2:{r}:{ACCOUNT_ID}:vpc-flow-log/fl-0123456789abcdef0"
                for r in regions]
    return []


def _trust_needs(config: PlatformConfig) -> list[Need]:
    needs = []
    for field_name, service in CONSUMERS.items():
        if not role_wanted(config, field_name):
            continue
        role = config.iam.roles()[field_name]
        sources = _source_arns(config, field_name)
        contexts = [{"aws:SourceAccount": ACCOUNT_ID, "aws:SourceArn": arn} for arn in sources]
        for context in contexts or [{}]:
            source = f" for {context['aws:SourceArn']}" if context else ""
            needs.append(Need(_service(service, "trusted service"), ("sts:AssumeRole",),
                              role_arn(role.name), f"{service} assumes {role.name}{source}",
                              ("trust", field_name), context))
    return needs


def _ecs_needs(config: PlatformConfig) -> list[Need]:
    region = config.aws.region
    container = config.ecs.task_definition.container
    execution = _role(config, "task_execution_role", "ECS execution role")
    needs = _secret_needs(config, execution, [s.secret for s in container.secrets],
                          "injects container secret")
    group = config.logs.group(container.log_group).name
    needs.append(Need(execution, ("logs:CreateLogStream", "logs:PutLogEvents"),
                      f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}:log-stream:"
                      f"{container.log_stream_prefix}/example", "awslogs driver"))
    ecr = ECR_IMAGE.match(container.image)
    if ecr:
        account, ecr_region, repository = ecr.groups()
        needs.append(Need(execution, ("ecr:GetAuthorizationToken",), "*", "image pull"))
        needs.append(Need(execution, ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
                          f"arn:aws:ecr:{ecr_region}:{account}:repository/{repository}",
                          "image pull"))
    task = _role(config, "task_role", "ECS task role")
    needs += _secret_needs(config, task,
                           _grant_resources(config, "task_role", "SecretsManagerReadSecret"),
                           "app reads secret")
    needs += _bucket_needs(config, task, _grant_resources(config, "task_role", "S3GetObject"),
                           False, "app reads bucket")
    needs += _bucket_needs(config, task, _grant_resources(config, "task_role", "S3PutObject"),
                           True, "app writes bucket")
    for capability, action, service in (("SQSSendMessage", "sqs:SendMessage", "sqs"),
                                        ("SNSPublish", "sns:Publish", "sns")):
        for pattern in _grant_resources(config, "task_role", capability):
            example = pattern.replace("*", "example")
            needs.append(Need(task, (action,),
                              f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{example}",
                              f"app uses {service} {pattern}"))
    return needs


def _data_needs(config: PlatformConfig) -> list[Need]:
    needs = []
    region = config.aws.region
    if role_wanted(config, "rds_monitoring_role"):
        monitoring = _role(config, "rds_monitoring_role", "RDS monitoring role")
        base = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:RDSOSMetrics"
        needs.append(Need(monitoring, ("logs:CreateLogGroup", "logs:PutRetentionPolicy"), base,
                          "enhanced monitoring creates RDSOSMetrics"))
        needs.append(Need(monitoring, ("logs:CreateLogStream", "logs:PutLogEvents"),
                          f"{base}:log-stream:db-EXAMPLE", "enhanced monitoring publishes"))
    backup = _role(config, "backup_role", "backup role")
    needs += _bucket_needs(config, backup, _grant_resources(config, "backup_role", "S3PutObject"),
                           True, "writes backups")
    needs += _archive_needs(config, backup)
    pgb = config.pgbouncer
    instance = _role(config, "pgbouncer_instance_role", "PgBouncer instance role")
    keys = [PGBOUNCER_SECRET_STEP.removeprefix("secret.")]
    if pgb.datadog_metrics and pgb.datadog_api_key_secret:
        keys.append(pgb.datadog_api_key_secret)
    needs += _secret_needs(config, instance, keys, "boot reads")
    if pgb.cloudwatch_metrics:
        needs.append(Need(instance, ("cloudwatch:PutMetricData",), "*", "pool metrics"))
    needs.append(Need(instance, ("ssm:UpdateInstanceInformation",),
                      f"arn:aws:ec2:{region}:{ACCOUNT_ID}:instance/i-0123456789abcdef0",
                      "Session Manager (no SSH)"))
    return needs


def _flow_log_needs(config: PlatformConfig) -> list[Need]:
    """VPC User Guide, "IAM role for publishing flow logs to CloudWatch Logs": the service
    finds the group, creates one stream per network interface and puts records."""
    needs: list[Need] = []
    flow = config.network.flow_logs
    if flow is not None:
        needs += _site_flow_log_needs(config, flow.role, config.aws.region,
                                      config.logs.group(flow.log_group).name, "")
    network = config.dr.network if config.dr.enabled else None
    dr_flow = network.flow_logs if network is not None else None
    if dr_flow is not None and dr_flow.dr_group_name:
        needs += _site_flow_log_needs(config, dr_flow.role, config.dr.region,
                                      dr_flow.dr_group_name, "DR ")
    return needs


def _site_flow_log_needs(config: PlatformConfig, role: str, region: str, group_name: str,
                         site: str) -> list[Need]:
    who = _role(config, role, "VPC flow logs role")
    group = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group_name}"
    return [Need(who, ("logs:DescribeLogGroups",), "*", f"{site}flow logs find their group"),
            Need(who, ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
                 f"{group}:log-stream:eni-0123456789abcdef0-all", f"{site}flow logs publish")]


def _replication_needs(config: PlatformConfig) -> list[Need]:
    """S3 User Guide, "Setting up permissions for live replication" and "Replicating
    encrypted objects": the role reads the source, writes the replica, and for SSE-KMS
    decrypts with the source key and encrypts with the destination key."""
    if not role_wanted(config, "s3_replication_role"):
        return []
    who = _role(config, "s3_replication_role", "S3 replication role")
    needs = []
    for key, bucket in config.s3.buckets.items():
        replication = bucket.replication
        if replication is None:
            continue
        source, replica = config.s3.bucket_name(key), config.s3.replica_bucket_name(key)
        src_policy, dst_policy = ("bucket", f"s3.{key}"), ("bucket", f"dr.s3.{key}")
        needs += [
            Need(who, ("s3:GetReplicationConfiguration", "s3:ListBucket"),
                 f"arn:aws:s3:::{source}", f"replicates {key}", src_policy, TLS),
            Need(who, ("s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                       "s3:GetObjectVersionTagging"), f"arn:aws:s3:::{source}/example",
                 f"replicates {key}", src_policy, TLS),
            Need(who, ("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"),
                 f"arn:aws:s3:::{replica}/example", f"replicates {key}", dst_policy, TLS),
        ]
        if bucket.encryption == "aws:kms" and replication.replicate_kms_encrypted:
            needs.append(Need(who, ("kms:Decrypt",), key_arn(config, config.aws.region),
                              f"reads SSE-KMS objects of {key}", ("key", "kms"),
                              _via(config, "s3")))
            needs.append(Need(who, ("kms:Encrypt",), key_arn(config, config.dr.region),
                              f"encrypts replicas of {key} with the DR key", ("key", "dr.kms"),
                              _via(config, "s3", config.dr.region)))
    return needs


def _archive_needs(config: PlatformConfig, who: Principal) -> list[Need]:
    """AWS Backup (backup.archive) reads the database's snapshot with the platform key
    and copies it to the DR vault's key, through grants it creates for RDS."""
    if config.backup.archive is None:
        return []
    grants = {**TLS, "kms:GrantIsForAWSResource": "true"}
    needs: list[Need] = []
    for region, step, use in ((config.aws.region, "kms", ("kms:Decrypt", "kms:DescribeKey")),
                              (config.dr.region, "dr.kms", ("kms:Encrypt", "kms:DescribeKey",
                                                            "kms:GenerateDataKey"))):
        needs.append(Need(who, use, key_arn(config, region),
                          f"archive: AWS Backup copies snapshots ({step})", ("key", step), TLS))
        needs.append(Need(who, ("kms:CreateGrant",), key_arn(config, region),
                          f"archive: RDS copies through a grant on {step}", ("key", step),
                          grants))
    return needs


def _edge_needs(config: PlatformConfig) -> list[Need]:
    needs = []
    region = config.aws.region
    cloudfront = _service("cloudfront.amazonaws.com", "CloudFront OAC")
    distribution = f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/{DISTRIBUTION_ID}"
    for origin in config.cloudfront.origins:
        if origin.kind != "s3":
            continue
        name = config.s3.bucket_name(origin.bucket)
        context = {**TLS, "aws:SourceArn": distribution, "aws:SourceAccount": ACCOUNT_ID}
        needs.append(Need(cloudfront, ("s3:GetObject",), f"arn:aws:s3:::{name}/example",
                          f"origin {origin.id} reads {origin.bucket}",
                          ("bucket", f"s3.{origin.bucket}"), context))
        if config.s3.buckets[origin.bucket].encryption == "aws:kms":
            needs.append(Need(cloudfront, ("kms:Decrypt",), key_arn(config, region),
                              f"origin {origin.id}: {origin.bucket} is SSE-KMS",
                              ("key", "kms"), context))
    needs += _access_log_needs(config)
    service = f"logs.{region}.amazonaws.com"
    for group in config.logs.groups.values():
        arn = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group.name}"
        needs.append(Need(_service(service, "CloudWatch Logs"),
                          # CloudWatch Logs User Guide, "Encrypt log data ... using AWS KMS":
                          # the calls carry the log group's ARN as encryption context.
                          ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
                          key_arn(config, region), f"encrypts {group.name}", ("key", "kms"),
                          {**TLS, "kms:EncryptionContext:aws:logs:arn": arn}))
    return needs


def _access_log_needs(config: PlatformConfig) -> list[Need]:
    """Each site's ALB writes its access logs, and S3 each bucket's server access logs,
    into a bucket of the same region, admitted by that bucket's policy.

    ALB: the service principal in every region (ELB User Guide, "Enable access
    logs", step 2; the legacy per-region ELB accounts are not granted).  S3:
    ``logging.s3.amazonaws.com`` with the source bucket and account as
    ``aws:SourceArn`` / ``aws:SourceAccount`` (S3 User Guide, "Enabling Amazon
    S3 server access logging").
    """
    needs = []
    sites = [("", config.aws.region, config.alb, config.s3.bucket_name)]
    dr_alb = config.dr.alb
    if standby_alb_built(config) and dr_alb is not None and config.dr_log_bucket_name():
        sites.append(("dr.", config.dr.region, dr_alb,
                      lambda key: str(config.dr_log_bucket_name())))
    for site, region, alb, bucket_name in sites:
        logs = alb.access_logs
        if not logs.enabled or logs.bucket is None:
            continue
        prefix = f"{logs.prefix}/" if logs.prefix else ""
        obj = (f"arn:aws:s3:::{bucket_name(logs.bucket)}/{prefix}AWSLogs/{ACCOUNT_ID}/"
               f"elasticloadbalancing/{region}/example.log.gz")
        needs.append(Need(_service(ELB_LOG_DELIVERY, "ALB log delivery"), ("s3:PutObject",),
                          obj, f"{alb.name} access logs", ("bucket", f"{site}s3.{logs.bucket}"),
                          TLS))
    for step in s3_steps(config):
        assert isinstance(step, BucketStep)
        destination, logging = step.access_log_destination, step.desired_logging()
        if destination is None or logging is None:
            continue
        needs.append(Need(
            _service(S3_LOG_DELIVERY, "S3 server access logging"), ("s3:PutObject",),
            f"arn:aws:s3:::{destination[1]}/{logging['TargetPrefix']}example",
            f"server access logs of {step.bucket_name}", ("bucket", destination[0]),
            {**TLS, "aws:SourceArn": step.arn, "aws:SourceAccount": ACCOUNT_ID}))
    return needs


def _autoscaling_needs(config: PlatformConfig) -> list[Need]:
    if config.ecs.launch_type != "ec2":
        return []
    slr = Principal(f"Auto Scaling service-linked role ({AUTOSCALING_SLR.rsplit('/', 1)[1]})",
                    arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{AUTOSCALING_SLR}", account=ACCOUNT_ID)
    key = key_arn(config, config.aws.region)
    return [
        Need(slr, AUTOSCALING_KMS, key, "launches instances with CMK-encrypted volumes",
             ("key", "kms"), TLS),
        Need(slr, ("kms:CreateGrant",), key, "EBS attaches the encrypted volumes",
             ("key", "kms"), {**TLS, "kms:GrantIsForAWSResource": "true"}),
    ]


def _standby_needs(config: PlatformConfig) -> list[Need]:
    """The standby tier (``dr.ecs-*``) in ``dr.region``: its execution role injects the
    secrets' replicas there (decrypted with the DR key) and writes its awslogs group,
    which CloudWatch Logs encrypts with the DR key (the replica key's own policy)."""
    app = config.dr.standby.app
    if app is None or not standby_ecs_built(config):
        return []
    region = config.dr.region
    container = config.ecs.task_definition.container
    execution = _role(config, "task_execution_role", "ECS execution role")
    replicated = replicated_secret_keys(config)
    keys = sorted({s.secret for s in container.secrets if s.secret in replicated})
    # AWS copies the primary's resource policy to the replica.
    needs = [Need(execution, ("secretsmanager:GetSecretValue",),
                  replica_arn(secret_arn(config, key), region),
                  f"injects standby container secret: {key} (replica in {region})",
                  *_secret_policy(config, execution, key))
             for key in keys]
    if keys:
        needs.append(Need(execution, ("kms:Decrypt",), key_arn(config, region),
                          f"injects standby container secrets: replicas in {region} are "
                          "encrypted with the DR key", ("key", "dr.kms"),
                          _via(config, "secretsmanager", region,
                               SecretARN=replica_arn(secret_arn(config, keys[0]), region))))
    group = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{app.log_group.name}"
    needs.append(Need(execution, ("logs:CreateLogStream", "logs:PutLogEvents"),
                      f"{group}:log-stream:{container.log_stream_prefix}/example",
                      "standby awslogs driver"))
    if config.kms.multi_region:
        needs.append(Need(_service(f"logs.{region}.amazonaws.com", "CloudWatch Logs"),
                          ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
                          key_arn(config, region), f"encrypts {app.log_group.name}",
                          ("key", "dr.kms"), {**TLS, "kms:EncryptionContext:aws:logs:arn": group}))
    return needs


def _dr_rds_log_needs(config: PlatformConfig) -> list[Need]:
    """CloudWatch Logs of ``dr.region`` encrypts the DR replica's RDS log groups with the
    DR key (issue 12): the replica key's own policy must admit it for those groups."""
    if not config.kms.multi_region:
        return []
    region = config.dr.region
    service = _service(f"logs.{region}.amazonaws.com", "CloudWatch Logs")
    return [Need(service, ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
                 key_arn(config, region), f"encrypts {name}", ("key", "dr.kms"),
                 {**TLS, "kms:EncryptionContext:aws:logs:arn":
                     f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{name}"})
            for name in dr_rds_log_group_names(config)]


def _export_log_needs(config: PlatformConfig) -> list[Need]:
    """The Redis export's state machine is encrypted with the platform key and logs
    (issue 12): CloudWatch Logs' log delivery decrypts its execution events to deliver
    them, acting for this account (AWS CDK's StateMachine grants it ``kms:Decrypt``)."""
    export = config.backup.redis_export
    if (export is None or not config.redis.export_to_s3_daily or export.log_group is None
            or not export.encrypt_with_platform_key):
        return []
    region = config.aws.region
    return [Need(_service("delivery.logs.amazonaws.com", "CloudWatch Logs log delivery"),
                 ("kms:Decrypt",), key_arn(config, region),
                 f"delivers {config.logs.group(export.log_group).name} (encrypted state "
                 "machine)", ("key", "kms"),
                 {**TLS, "aws:SourceAccount": ACCOUNT_ID,
                  "aws:SourceArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:*"})]


def _topic_needs(config: PlatformConfig) -> list[Need]:
    """The services that publish to the encrypted topics (issue 12): SNS asks KMS for a
    data key on the topic's key for the publisher, so CloudWatch alarms and RDS events
    need ``kms:GenerateDataKey`` and ``kms:Decrypt`` there (SNS developer guide,
    "Encryption at rest"), in both regions; the calls carry the account they act for."""
    if not config.monitoring.encrypt_topics:
        return []
    sites = [(config.aws.region, "kms")]
    if config.dr.enabled and config.kms.multi_region:
        sites.append((config.dr.region, "dr.kms"))
    publishers = (("cloudwatch.amazonaws.com", "CloudWatch alarms"),
                  ("events.rds.amazonaws.com", "RDS events"))
    return [Need(_service(name, label), ("kms:GenerateDataKey", "kms:Decrypt"),
                 key_arn(config, region), f"publishes to the encrypted topics in {region}",
                 ("key", step), {**TLS, "aws:SourceAccount": ACCOUNT_ID})
            for region, step in sites for name, label in publishers]


def needs_of(config: PlatformConfig) -> list[Need]:
    return [*_trust_needs(config), *_ecs_needs(config), *_standby_needs(config),
            *_data_needs(config),
            *_replication_needs(config), *_edge_needs(config), *_autoscaling_needs(config),
            *_flow_log_needs(config), *_dr_rds_log_needs(config), *_export_log_needs(config),
            *_topic_needs(config)]


def _resolve(documents: Documents, need: Need) -> tuple[NamedPolicy | None, bool]:
    if need.policy_of is None:
        return None, False
    kind, name = need.policy_of
    if kind == "key":
        return documents.key_policies.get(name), True
    if kind == "bucket":
        return documents.bucket_policies.get(name), False
    if kind == "secret":
        return documents.secret_policies.get(name), False
    return documents.trust_policies.get(name), False


def check_access(config: PlatformConfig, documents: Documents) -> list[AccessResult]:
    """One result per need: allowed (with the deciding statement) or why not."""
    results = []
    for need in needs_of(config):
        identity = documents.identity_of(need.principal.arn)
        resource_policy, is_key = _resolve(documents, need)
        denied = []
        reason = ""
        for action in need.actions:
            decision = evaluate(Request(need.principal, action, need.resource, need.context),
                                identity, resource_policy, key_policy=is_key)
            if not decision.allowed:
                denied.append(f"{action}: {decision.reason}")
            elif not reason:
                reason = decision.reason
        results.append(AccessResult(need.principal.label, need.actions, need.resource, need.why,
                                    not denied, "; ".join(denied) if denied else reason))
    return results
