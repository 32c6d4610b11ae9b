"""Redis "Export to S3: daily": a schedule, a state machine, two roles and a bucket grant.

``redis.export_to_s3_daily`` with ``backup.redis_export``:

* ``iam.redis_export_role``: the state machine's role (trusts
  ``states.amazonaws.com`` for this account): create, describe, copy and
  delete snapshots of this group only, plus what ``CopySnapshot`` to S3
  needs of the caller (ElastiCache user guide, "ElastiCache API
  permissions": ``s3:GetBucketLocation``, ``s3:ListAllMyBuckets``);
* ``iam.redis_export_scheduler_role``: the schedule's role (trusts
  ``scheduler.amazonaws.com``): ``states:StartExecution`` on the machine;
* ``redis-export-acl``: ElastiCache writes the export as its own service
  account, granted on the bucket's ACL (user guide, "Exporting a backup",
  step 2: List objects, Write objects, Read bucket permissions for the
  canonical id of the partition's regions enabled by default); the bucket
  keeps ``object_ownership: BucketOwnerPreferred`` for that;
* ``redis-export-state-machine`` (:mod:`redis_export_machine`);
* ``redis-export-schedule-group`` (tagged: schedules take no tags, so a
  schedule is ours by sitting in our group) and ``redis-export-schedule``.

Issue 12: the machine logs its execution history into ``log_group`` (a
vended-logs group the delivery policy ``logs-delivery-policy`` opens to
``delivery.logs.amazonaws.com``) and is encrypted with the platform key;
:func:`machine_statements` and :func:`scheduler_statements` give each role
the key for this machine only, and the key policy admits log delivery
(``kms``'s :func:`~vivr_provision.steps.kms.export_log_key_statements`).
"""

from __future__ import annotations

import json
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import IamRoleConfig
from vivr_provision.config.archive import RedisExportConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import (
    KindStep,
    KindTaggedStep,
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    step_tags,
)
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.iam import IamRoleStep
from vivr_provision.steps.kinds import BUCKET, SCHEDULE, SCHEDULE_GROUP, STATE_MACHINE
from vivr_provision.steps.log_delivery import POLICY_STEP
from vivr_provision.steps.policy_documents import parsed
from vivr_provision.steps.redis_export_machine import definition

ROLE_STEP = "iam.redis_export_role"
SCHEDULER_ROLE_STEP = "iam.redis_export_scheduler_role"
ACL_STEP = "redis-export-acl"
MACHINE_STEP = "redis-export-state-machine"
GROUP_STEP = "redis-export-schedule-group"
SCHEDULE_STEP = "redis-export-schedule"
CACHE_STEP = "cache"

#: ElastiCache's canonical user per partition (user guide, "Exporting a backup",
#: step 2).  Regions opened after 2019-03-20 (opt-in) take a bucket policy for
#: ``<region>.elasticache-snapshot.amazonaws.com`` instead: not built here.
ELASTICACHE_CANONICAL_IDS = {
    "aws": "540804c33a284a299d2547575ce1010f2312ef3da9b3a053c8bc45bf233e4353",
    "aws-cn": "b14d6a125bdf69854ed8ef2e71d8a20b7c490f252229b806e514966e490b8d83",
    "aws-us-gov": "40fa568277ad703bd160f66ae4f83fc9dfdfd06c2f1b5060ca22442ac3ef8be6",
}
#: "List objects", "Write objects", "Read bucket permissions" in ACL terms.
EXPORT_PERMISSIONS = ("READ", "READ_ACP", "WRITE")

#: A role created seconds ago may not be assumable by the service yet.
ASSUME_PROPAGATION = policy(
    {"AccessDeniedException", "ValidationException"},
    "IAM is eventually consistent: the service cannot assume a role just created",
    deadline_s=240, max_attempts=25, initial_s=2.0, max_wait_s=20.0,
    message=r"assume|role",
)


#: What the state machine's role needs to set up its log delivery (Step Functions
#: developer guide, "Logging in CloudWatch Logs", IAM policy for logging: these
#: CloudWatch Logs actions take no resource, hence ``*``).
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
)
#: A role or key policy just changed may not be seen yet: Step Functions answers
#: "The state machine IAM Role is not authorized to access the Log Destination"
#: (InvalidLoggingConfiguration) or refuses the key (KmsAccessDeniedException).
MACHINE_PROPAGATION = policy(
    {"AccessDeniedException", "ValidationException", "InvalidLoggingConfiguration",
     "KmsAccessDeniedException"},
    "IAM and KMS are eventually consistent: a role or key policy just written may not "
    "be seen by Step Functions yet",
    deadline_s=240, max_attempts=25, initial_s=2.0, max_wait_s=20.0,
    message=r"(?i)assume|role|not authorized|kms|key",
)


def export_config(config: PlatformConfig) -> RedisExportConfig:
    export = config.backup.redis_export
    assert export is not None, "export steps exist only with backup.redis_export"
    return export


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def machine_arn(config: PlatformConfig, account: str) -> str:
    """The state machine's ARN, known before it exists (for conditions on it)."""
    return (f"arn:aws:states:{config.aws.region}:{account}:stateMachine:"
            f"{export_config(config).state_machine}")


def log_group_step(config: PlatformConfig) -> str | None:
    """The ``logs.<key>`` step the machine logs into, or None without logging."""
    export = config.backup.redis_export
    return None if export is None or export.log_group is None else f"logs.{export.log_group}"


def key_statement(sid: str, config: PlatformConfig, ctx: StepContext) -> dict[str, Any]:
    """The platform key for this state machine only: Step Functions encrypts and
    decrypts its definition and execution data with the encryption context
    ``aws:states:stateMachineArn`` (developer guide, "Data at rest encryption")."""
    return {"Sid": sid, "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [str(ctx.output("kms", "key_arn"))],
            "Condition": {"StringEquals": {
                "kms:EncryptionContext:aws:states:stateMachineArn":
                    machine_arn(config, ctx.account_id)}}}


def export_bucket(config: PlatformConfig) -> str:
    key = config.redis.export_bucket
    assert key is not None, "validated: export_to_s3_daily needs export_bucket"
    return config.s3.bucket_name(key)


# --------------------------------------------------------------------------- roles

class ExportRoleStep(IamRoleStep):
    """An IAM role of the export whose inline policy is built here, not from grants."""

    def __init__(self, config: PlatformConfig, field: str, role: IamRoleConfig,
                 statements: Any, deps: tuple[str, ...]) -> None:
        super().__init__(config, field, role)
        self._statements = statements
        self._deps = deps

    def depends_on(self) -> tuple[str, ...]:
        return self._deps

    def inline_policy(self, ctx: StepContext) -> dict[str, Any] | None:
        return {"Version": "2012-10-17", "Statement": self._statements(self, ctx)}


def machine_statements(step: ExportRoleStep, ctx: StepContext) -> list[dict[str, Any]]:
    """Least privilege for the state machine: this group's snapshots with our prefix.

    Service Authorization Reference, ElastiCache: CreateSnapshot takes the
    replication group, its clusters and the snapshot; Copy/DeleteSnapshot
    the snapshot.  ElastiCache's API permissions reference gives ``*`` for
    its Describe calls, and ``s3:ListAllMyBuckets`` has no resource.
    """
    config = step.config
    export = export_config(config)
    region, account = config.aws.region, ctx.account_id
    base = f"arn:aws:elasticache:{region}:{account}"
    group = config.redis.replication_group_id
    snapshots = f"{base}:snapshot:{export.snapshot_prefix}-*"
    bucket = export_bucket(config)
    return [
        {"Sid": "SnapshotTheCache", "Effect": "Allow", "Action": ["elasticache:CreateSnapshot"],
         "Resource": [f"{base}:cluster:{group}-*", f"{base}:replicationgroup:{group}",
                      snapshots]},
        {"Sid": "ExportAndDeleteTheSnapshot", "Effect": "Allow",
         "Action": ["elasticache:CopySnapshot", "elasticache:DeleteSnapshot"],
         "Resource": [snapshots]},
        {"Sid": "ReadSnapshotStatus", "Effect": "Allow",
         "Action": ["elasticache:DescribeSnapshots"], "Resource": ["*"]},
        # CopySnapshot with TargetBucket checks the bucket as the caller.
        {"Sid": "ExportFindsTheBucket", "Effect": "Allow",
         "Action": ["s3:GetBucketLocation"], "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Sid": "ExportListsBuckets", "Effect": "Allow",
         "Action": ["s3:ListAllMyBuckets"], "Resource": ["*"]},
        *machine_log_and_key_statements(config, ctx),
    ]


def machine_log_and_key_statements(config: PlatformConfig,
                                   ctx: StepContext) -> list[dict[str, Any]]:
    """Issue 12: what logging and the platform key need of the machine's role."""
    export = export_config(config)
    statements: list[dict[str, Any]] = []
    if export.log_group is not None:
        statements.append({"Sid": "SetUpLogDelivery", "Effect": "Allow",
                           "Action": list(LOG_DELIVERY_ACTIONS), "Resource": ["*"]})
    if export.encrypt_with_platform_key:
        statements.append(key_statement("UseThePlatformKeyForThisMachine", config, ctx))
        if export.log_group is not None:
            # The log delivery's data key, asked for as the role (AWS CDK's
            # StateMachine: kms:GenerateDataKey with this encryption context).
            statements.append({
                "Sid": "EncryptedLogDelivery", "Effect": "Allow",
                "Action": ["kms:GenerateDataKey"],
                "Resource": [str(ctx.output("kms", "key_arn"))],
                "Condition": {"StringEquals": {"kms:EncryptionContext:SourceArn":
                                               f"arn:aws:logs:{config.aws.region}:"
                                               f"{ctx.account_id}:*"}}})
    return statements


def scheduler_statements(step: ExportRoleStep, ctx: StepContext) -> list[dict[str, Any]]:
    """The schedule may start this one state machine, nothing else; with the machine
    encrypted, StartExecution encrypts the input with its key as the caller (the
    call can fail with KmsAccessDeniedException), for this machine only."""
    statements = [{"Sid": "StartTheExport", "Effect": "Allow",
                   "Action": ["states:StartExecution"],
                   "Resource": [str(ctx.output(MACHINE_STEP, "arn"))]}]
    if export_config(step.config).encrypt_with_platform_key:
        statements.append(key_statement("StartEncryptedExecutions", step.config, ctx))
    return statements


def role_steps(config: PlatformConfig) -> list[Step]:
    export = export_config(config)
    region = config.aws.region
    # Confused-deputy guards: only this account's export machine (Step Functions
    # developer guide, "Cross-service confused deputy prevention") and only
    # schedules of our group (EventBridge Scheduler user guide, "Setting up the
    # execution role": aws:SourceArn is the schedule group's ARN).
    machine = IamRoleConfig(
        name=export.role, description="Step Functions exports the cache's snapshot to S3",
        trust_service="states.amazonaws.com", managed_policies=[], grants=[],
        trust_source_account=True,
        trust_source_arns=[f"arn:aws:states:{region}:{{account}}:stateMachine:"
                           f"{export.state_machine}"])
    scheduler = IamRoleConfig(
        name=export.scheduler_role, description="EventBridge Scheduler starts the cache export",
        trust_service="scheduler.amazonaws.com", managed_policies=[], grants=[],
        trust_source_account=True,
        trust_source_arns=[f"arn:aws:scheduler:{region}:{{account}}:schedule-group/"
                           f"{export.schedule_group}"])
    key = ("kms",) if export.encrypt_with_platform_key else ()
    return [ExportRoleStep(config, "redis_export_role", machine, machine_statements, key),
            ExportRoleStep(config, "redis_export_scheduler_role", scheduler,
                           scheduler_statements, (MACHINE_STEP, *key))]


# --------------------------------------------------------------------------- bucket grant

class ExportBucketAclStep(NamedStep):
    """ElastiCache's grants on the export bucket's ACL (the bucket is the s3 step's)."""

    family = ACL_STEP
    service = "s3"
    kinds = (BUCKET,)

    def resource_name(self) -> str:
        return export_bucket(self.config)

    def depends_on(self) -> tuple[str, ...]:
        return (f"s3.{self.config.redis.export_bucket}",)

    @property
    def grantee(self) -> str:
        return ELASTICACHE_CANONICAL_IDS[partition(self.region)]

    def s3(self, ctx: StepContext) -> Any:
        return ctx.client("s3", self.region)

    def lookup(self, ctx: StepContext) -> Resource | None:
        """The bucket's ACL; None when no ElastiCache grant is on it yet."""
        reply = absent_on(BUCKET.not_found, self.s3(ctx).get_bucket_acl,
                          Bucket=self.resource_name())
        if reply is None or not self.granted(reply):
            return None
        return Resource(self.resource_name(), dict(reply))

    def granted(self, acl: dict[str, Any]) -> list[str]:
        return sorted(g["Permission"] for g in acl.get("Grants", [])
                      if g.get("Grantee", {}).get("ID") == self.grantee)

    FIELDS = (Field("elasticache_grants", lambda d: d["Granted"],
                    lambda s, ctx: list(EXPORT_PERMISSIONS), compare="unordered",
                    apply="grant"),)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, {"Granted": self.granted(resource.data)}, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self._found(ctx)

    def _put(self, ctx: StepContext, with_export: bool) -> None:
        """Rewrite the ACL: its other grants kept, ElastiCache's added or removed."""
        s3 = self.s3(ctx)
        acl = s3.get_bucket_acl(Bucket=self.resource_name())
        grants = [g for g in acl.get("Grants", [])
                  if g.get("Grantee", {}).get("ID") != self.grantee]
        if with_export:
            grants += [{"Grantee": {"Type": "CanonicalUser", "ID": self.grantee},
                        "Permission": permission} for permission in EXPORT_PERMISSIONS]
        s3.put_bucket_acl(Bucket=self.resource_name(),
                          AccessControlPolicy={"Grants": grants, "Owner": acl["Owner"]})

    def grant(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._put(ctx, True)

    def _found(self, ctx: StepContext) -> Resource:
        found = self.lookup(ctx)
        assert found is not None, f"ACL of {self.resource_name()} carries the export grants"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        self._put(ctx, True)
        return self._found(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        self._put(ctx, False)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "bucket": resource.id, "grantee": self.grantee}


# --------------------------------------------------------------------------- state machine

class ExportStateMachineStep(NamedStep, KindTaggedStep):
    """A STANDARD state machine (it waits for minutes: Express allows 5 at most)."""

    family = MACHINE_STEP
    service = "stepfunctions"
    kind = STATE_MACHINE

    def resource_name(self) -> str:
        return export_config(self.config).state_machine

    def depends_on(self) -> tuple[str, ...]:
        export = export_config(self.config)
        group = log_group_step(self.config)
        return (ROLE_STEP, CACHE_STEP, ACL_STEP,
                *(("kms",) if export.encrypt_with_platform_key else ()),
                *((group, POLICY_STEP) if group else ()))

    def sfn(self, ctx: StepContext) -> Any:
        return ctx.client("stepfunctions", self.region)

    def desired_logging(self, ctx: StepContext) -> dict[str, Any]:
        """``loggingConfiguration``: the group's ARN with ``:*`` (the form Step Functions
        takes), or ``OFF`` without a group."""
        export = export_config(self.config)
        group = log_group_step(self.config)
        if group is None:
            return {"level": "OFF", "includeExecutionData": False}
        return {"level": export.log_level, "includeExecutionData": export.log_execution_data,
                "destinations": [{"cloudWatchLogsLogGroup": {
                    "logGroupArn": f"{ctx.output(group, 'arn')}:*"}}]}

    def desired_encryption(self, ctx: StepContext) -> dict[str, Any]:
        """``encryptionConfiguration``: the platform key, or Step Functions' own key."""
        export = export_config(self.config)
        if not export.encrypt_with_platform_key:
            return {"type": "AWS_OWNED_KEY"}
        return {"type": "CUSTOMER_MANAGED_KMS_KEY",
                "kmsKeyId": str(ctx.output("kms", "key_arn")),
                "kmsDataKeyReusePeriodSeconds": export.data_key_reuse_seconds}

    def desired_definition(self) -> dict[str, Any]:
        return definition(export_config(self.config), self.config.redis.replication_group_id,
                          export_bucket(self.config))

    def lookup(self, ctx: StepContext) -> Resource | None:
        for page in self.sfn(ctx).get_paginator("list_state_machines").paginate():
            for listed in page["stateMachines"]:
                if listed["name"] == self.resource_name():
                    return self._describe(ctx, str(listed["stateMachineArn"]))
        return None

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The recorded ARN, read directly: a state machine's ARN ends in its name, so
        one with the configured name is the one recorded (or gone).  After a name change
        in the config: None, and ``find`` looks the configured name up."""
        if resource_id.rsplit(":", 1)[-1] != self.resource_name():
            return None
        return self._describe(ctx, resource_id)

    def _describe(self, ctx: StepContext, arn: str) -> Resource | None:
        sfn = self.sfn(ctx)
        reply = absent_on(STATE_MACHINE.not_found, sfn.describe_state_machine,
                          stateMachineArn=arn)
        if reply is None or reply.get("status") == "DELETING":
            return None
        data = dict(reply)
        data["TagMap"] = step_tags(ctx, self, sfn, STATE_MACHINE, data["stateMachineArn"])
        require_owned(self, f"state machine {self.resource_name()}", data["TagMap"])
        return Resource(str(data["stateMachineArn"]), data)

    FIELDS = (
        TAGS,
        Field("definition", lambda d: parsed(d.get("definition")),
              lambda s, ctx: s.desired_definition(), apply="update_machine"),
        Field("role", lambda d: d.get("roleArn"),
              lambda s, ctx: str(ctx.output(ROLE_STEP, "role_arn")), apply="update_machine"),
        Field("logging", lambda d: logging_view(d.get("loggingConfiguration")),
              lambda s, ctx: logging_view(s.desired_logging(ctx)), apply="update_machine"),
        Field("encryption", lambda d: encryption_view(d.get("encryptionConfiguration")),
              lambda s, ctx: encryption_view(s.desired_encryption(ctx)),
              apply="update_machine"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self._found(ctx)

    def update_machine(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        MACHINE_PROPAGATION.call(
            "update state machine", self.sfn(ctx).update_state_machine,
            stateMachineArn=resource.id, definition=json.dumps(self.desired_definition()),
            roleArn=str(ctx.output(ROLE_STEP, "role_arn")),
            loggingConfiguration=self.desired_logging(ctx),
            encryptionConfiguration=self.desired_encryption(ctx))

    def _found(self, ctx: StepContext) -> Resource:
        found = self.lookup(ctx)
        assert found is not None, f"state machine {self.resource_name()} is describable"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        MACHINE_PROPAGATION.call(
            "create state machine", self.sfn(ctx).create_state_machine,
            name=self.resource_name(), definition=json.dumps(self.desired_definition()),
            roleArn=str(ctx.output(ROLE_STEP, "role_arn")), type="STANDARD",
            loggingConfiguration=self.desired_logging(ctx),
            encryptionConfiguration=self.desired_encryption(ctx),
            tags=aws_tags(self.tags(), "key", "value"))
        return self._found(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(STATE_MACHINE.not_found, self.sfn(ctx).delete_state_machine,
                stateMachineArn=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "arn": resource.id}


def logging_view(logging: dict[str, Any] | None) -> dict[str, Any]:
    """A logging configuration as compared: level, execution data and the group ARNs
    (AWS reports ``OFF`` with no destinations when logging is off)."""
    logging = logging or {}
    return {"level": logging.get("level", "OFF"),
            "includeExecutionData": bool(logging.get("includeExecutionData")),
            "destinations": sorted(str((d.get("cloudWatchLogsLogGroup") or {}).get(
                "logGroupArn")) for d in logging.get("destinations") or [])}


def encryption_view(encryption: dict[str, Any] | None) -> dict[str, Any]:
    """An encryption configuration as compared (no configuration is the AWS-owned key)."""
    encryption = encryption or {"type": "AWS_OWNED_KEY"}
    if encryption.get("type", "AWS_OWNED_KEY") == "AWS_OWNED_KEY":
        return {"type": "AWS_OWNED_KEY"}
    return {"type": encryption["type"], "kmsKeyId": encryption.get("kmsKeyId"),
            "kmsDataKeyReusePeriodSeconds": encryption.get("kmsDataKeyReusePeriodSeconds", 300)}


# --------------------------------------------------------------------------- schedule

class ScheduleGroupStep(KindStep):
    """The group that holds (and owns) the export's schedule; tagged."""

    family = GROUP_STEP
    service = "scheduler"
    kind = SCHEDULE_GROUP

    def resource_name(self) -> str:
        return export_config(self.config).schedule_group

    def is_live(self, item: Any) -> bool:
        return bool(item.get("State") != "DELETING")

    FIELDS = (TAGS,)

    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.client("scheduler", self.region).create_schedule_group(
            Name=self.resource_name(), Tags=aws_tags(self.tags()), ClientToken=token)
        return self.reread(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(SCHEDULE_GROUP.not_found,
                ctx.client("scheduler", self.region).delete_schedule_group,
                Name=self.resource_name())

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "arn": resource.id, "name": self.resource_name()}


class ExportScheduleStep(NamedStep):
    """Starts the state machine daily (``schedule_expression`` in ``timezone``)."""

    family = SCHEDULE_STEP
    service = "scheduler"
    kinds = (SCHEDULE,)

    def resource_name(self) -> str:
        return export_config(self.config).schedule

    def depends_on(self) -> tuple[str, ...]:
        return (GROUP_STEP, MACHINE_STEP, SCHEDULER_ROLE_STEP)

    def scheduler(self, ctx: StepContext) -> Any:
        return ctx.client("scheduler", self.region)

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        """The settings of ``CreateSchedule`` / ``UpdateSchedule`` (Update replaces all)."""
        export = export_config(self.config)
        return {
            "Name": export.schedule, "GroupName": export.schedule_group,
            "ScheduleExpression": export.schedule_expression,
            "ScheduleExpressionTimezone": export.timezone,
            "State": "ENABLED",
            "Description": f"Daily export of {self.config.redis.replication_group_id} "
                           f"to s3://{export_bucket(self.config)}",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": str(ctx.output(MACHINE_STEP, "arn")),
                       "RoleArn": str(ctx.output(SCHEDULER_ROLE_STEP, "role_arn")),
                       "RetryPolicy": {"MaximumRetryAttempts": export.retry_attempts}},
        }

    def lookup(self, ctx: StepContext) -> Resource | None:
        export = export_config(self.config)
        reply = absent_on(SCHEDULE.not_found, self.scheduler(ctx).get_schedule,
                          Name=export.schedule, GroupName=export.schedule_group)
        return None if reply is None else Resource(str(reply["Arn"]), dict(reply))

    FIELDS = tuple(
        Field(name, lambda d, key=key: d.get(key),  # type: ignore[misc]
              lambda s, ctx, key=key: s.desired(ctx)[key],  # type: ignore[misc]
              compare="document" if key in ("Target", "FlexibleTimeWindow") else "exact",
              apply="update_schedule")
        for name, key in (("expression", "ScheduleExpression"),
                          ("timezone", "ScheduleExpressionTimezone"), ("state", "State"),
                          ("description", "Description"),
                          ("flexible_window", "FlexibleTimeWindow"), ("target", "Target")))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self._found(ctx)

    def update_schedule(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        self.scheduler(ctx).update_schedule(**self.desired(ctx))

    def _found(self, ctx: StepContext) -> Resource:
        found = self.lookup(ctx)
        assert found is not None, f"schedule {self.resource_name()} is describable"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        ASSUME_PROPAGATION.call("create schedule", self.scheduler(ctx).create_schedule,
                                **self.desired(ctx), ClientToken=token)
        return self._found(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        export = export_config(self.config)
        gone_on(SCHEDULE.not_found, self.scheduler(ctx).delete_schedule,
                Name=export.schedule, GroupName=export.schedule_group)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "arn": resource.id}


def redis_export_steps(config: PlatformConfig) -> list[Step]:
    """The export's steps when ``redis.export_to_s3_daily`` and ``backup.redis_export``."""
    if config.backup.redis_export is None or not config.redis.export_to_s3_daily:
        return []
    return [*role_steps(config), ExportBucketAclStep(config), ExportStateMachineStep(config),
            ScheduleGroupStep(config), ExportScheduleStep(config)]
