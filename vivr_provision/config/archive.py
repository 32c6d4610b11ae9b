"""The backup tooling that runs in AWS on its own schedule (issue 11, item 6).

Two mechanisms, each off when its block is absent:

* ``archive``: the spec's one-year compliance archive, an AWS Backup vault
  and plan.  AWS Backup (not RDS snapshot export) because an export is
  Parquet data for analytics, not a snapshot a database can be restored
  from; AWS Backup keeps restorable recovery points, copies them to a vault
  in the DR region, ages them out with a lifecycle, and a vault can be
  locked.  The retention is ``dr.snapshot_retention.archive_days``.
* ``redis_export``: the spec's Redis "Export to S3: daily"
  (``redis.export_to_s3_daily``), a Step Functions state machine started by
  an EventBridge Scheduler schedule: a schedule alone cannot do it (its
  input is fixed, and ``CopySnapshot`` needs a source snapshot that exists
  and a target name that does not, both different every day).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from vivr_provision.config.base import StrictModel
from vivr_provision.config.data import matching

if TYPE_CHECKING:
    from vivr_provision.config.model import PlatformConfig

#: botocore's backup model: BackupVaultName ``^[a-zA-Z0-9\-\_]{2,50}$``.
VaultName = Annotated[str, matching(r"[a-zA-Z0-9_-]{2,50}", "a backup vault name")]
#: BackupRuleName ``^[a-zA-Z0-9\-\_\.]{1,50}$`` (plan and selection names: same rule).
RuleName = Annotated[str, matching(r"[a-zA-Z0-9_.-]{1,50}",
                                   "a backup plan, rule or selection name")]
#: AWS Backup and EventBridge Scheduler take cron(...) with six fields, or rate(...).
Schedule = Annotated[str, matching(r"(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|hour|day)s?\))",
                                   "a schedule expression: cron(m h dom mon dow year) or rate()")]
#: scheduler model: Name and ScheduleGroupName ``[0-9a-zA-Z-_.]+``, 1-64.
SchedulerName = Annotated[str, matching(r"[0-9a-zA-Z_.-]{1,64}", "a scheduler name")]
#: states model: a state machine name is 1-80 characters (letters, digits, - and _).
MachineName = Annotated[str, matching(r"[0-9a-zA-Z_-]{1,80}", "a state machine name")]
#: ElastiCache snapshot names: a letter first, letters, digits and hyphens.
SnapshotPrefix = Annotated[str, matching(r"[a-zA-Z][a-zA-Z0-9-]{0,100}", "a snapshot name prefix")]
RoleName = Annotated[str, matching(r"[\w+=,.@-]{1,64}", "an IAM role name")]
#: Where Step Functions' log groups go (developer guide, "Logging in CloudWatch Logs").
VENDED_STATES_PREFIX = "/aws/vendedlogs/states/"


class ArchiveConfig(StrictModel):
    """AWS Backup: ``vault`` (platform key) in the primary region, ``dr_vault``
    (the DR key) in ``dr.region``, and ``plan`` with one daily ``rule``.

    The rule keeps each recovery point ``dr.snapshot_retention.archive_days``
    and copies it to ``dr_vault`` with the same lifecycle; ``selection``
    assigns the primary database to the plan with ``iam.backup_role``.
    ``include_replicas``: the read replicas hold the same data as the
    primary, so they are left out by default (a copy of a copy).
    """

    vault: VaultName
    dr_vault: VaultName
    plan: RuleName
    rule: RuleName
    selection: RuleName
    schedule: Schedule
    timezone: str = "Etc/UTC"
    start_window_minutes: Annotated[int, Field(ge=60)] = 60
    completion_window_minutes: Annotated[int, Field(ge=120)] = 1440
    include_replicas: bool = False


class RedisExportConfig(StrictModel):
    """The daily export of the cache's data to ``redis.export_bucket``.

    ``schedule`` starts ``state_machine`` (role ``role``) through
    ``scheduler_role``; each run snapshots the replication group, waits
    ``poll_seconds`` between reads until it is available, copies it to the
    bucket as ``<snapshot_prefix>-<date>-<execution>`` and deletes the
    intermediate snapshot once the export has finished.
    """

    state_machine: MachineName
    role: RoleName
    scheduler_role: RoleName
    schedule_group: SchedulerName
    schedule: SchedulerName
    schedule_expression: Schedule
    timezone: str = "Etc/UTC"
    snapshot_prefix: SnapshotPrefix
    poll_seconds: Annotated[int, Field(ge=10, le=3600)] = 60
    #: An execution still polling after this long fails (a snapshot stuck in
    #: ``creating`` must not keep a run going for Step Functions' one-year maximum).
    timeout_minutes: Annotated[int, Field(ge=10, le=1440)] = 360
    #: How many times the scheduler retries starting the state machine.
    retry_attempts: Annotated[int, Field(ge=0, le=185)] = 3
    #: Issue 12 (Prowler ``stepfunctions_statemachine_logging_enabled``): the
    #: execution history events go to this key of ``logs.groups``, a group named
    #: under ``/aws/vendedlogs/states/`` (Step Functions developer guide,
    #: "Logging in CloudWatch Logs": vended-log groups there do not grow the
    #: account's resource policy).  None: no logging.
    log_group: str | None = None
    #: ``ALL``: every state transition of the one daily run (a few dozen events
    #: at ``poll_seconds`` 60), so the log shows each export happened, not only
    #: the ones that failed (``ERROR``).
    log_level: Literal["ALL", "ERROR", "FATAL"] = "ALL"
    #: ``includeExecutionData``: the states' inputs and outputs (snapshot names,
    #: the group and bucket names: nothing secret) stay in the execution
    #: history, where reading them takes the platform key; the log says what
    #: happened and when.
    log_execution_data: bool = False
    #: Issue 12 (``stepfunctions_statemachine_encrypted_with_cmk``): definition and
    #: execution history encrypted with the platform key (``kms``) rather than
    #: an AWS-owned key.
    encrypt_with_platform_key: bool = True
    #: ``kmsDataKeyReusePeriodSeconds`` (Step Functions API: 60-900, default 300):
    #: how long a data key is reused before Step Functions asks KMS for another.
    data_key_reuse_seconds: Annotated[int, Field(ge=60, le=900)] = 300


class BackupToolingConfig(StrictModel):
    """``backup:`` of config/<env>.yaml."""

    archive: ArchiveConfig | None = None
    redis_export: RedisExportConfig | None = None


def backup_tooling_problems(config: PlatformConfig) -> list[str]:
    """Cross-section rules: the archive copies to the DR region, and the spec's
    ``export_to_s3_daily`` is never silently without its mechanism."""
    problems: list[str] = []
    backup, redis = config.backup, config.redis
    if backup.archive is not None and not config.dr.enabled:
        problems.append("backup.archive copies to the DR region: it needs dr.enabled: true")
    if redis.export_to_s3_daily and backup.redis_export is None:
        problems.append("redis.export_to_s3_daily needs a backup.redis_export block "
                        "(the schedule and state machine that export)")
    if backup.redis_export is not None and not redis.export_to_s3_daily:
        problems.append("backup.redis_export is set but redis.export_to_s3_daily is false")
    export = backup.redis_export
    if (export is not None and export.log_group is not None
            and export.log_group not in config.logs.groups):
        # Its name's prefix (VENDED_STATES_PREFIX) is checked with the other groups'.
        problems.append(f"backup.redis_export.log_group {export.log_group} is not a key "
                        "of logs.groups")
    return problems
