"""The one-year compliance archive: AWS Backup vaults, plan and selection.

Why AWS Backup and not RDS snapshot export (``StartExportTask``): an export
writes the tables as Parquet files for analytics (RDS user guide,
"Exporting DB snapshot data to Amazon S3"); nothing can restore a database
from them.  AWS Backup keeps restorable recovery points, copies each one to
a vault in the DR region (``CopyActions``), ages both out with a lifecycle
(``DeleteAfterDays``), and a vault can be locked (Vault Lock) when auditors
ask for it.  ``iam.backup_role`` (trusting ``backup.amazonaws.com``) is the
role AWS Backup uses for the primary database's selection.

Steps: ``backup-vault`` (platform key) and ``dr.backup-vault`` (the DR key,
in ``dr.region``), ``backup-plan`` (one daily rule: ``backup.archive``'s
schedule, ``dr.snapshot_retention.archive_days``, the copy to the DR vault
with the same lifecycle) and ``backup-selection`` (the primary's ARN).
Destroy removes the selection, then the plan, then the vaults; a vault that
holds recovery points cannot be deleted (AWS: ``InvalidRequestException``)
and must not be emptied silently: it is kept and reported, as the data
stores are.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.archive import ArchiveConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Change, NamedStep, Resource, Site, Step, StepContext
from vivr_provision.steps.common import (
    KindStep,
    KindTaggedStep,
    absent_on,
    gone_on,
    require_owned,
    step_tags,
)
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import BACKUP_PLAN, BACKUP_SELECTION, BACKUP_VAULT

VAULT_STEP = "backup-vault"
PLAN_STEP = "backup-plan"
SELECTION_STEP = "backup-selection"
ROLE_STEP = "iam.backup_role"

#: AWS Backup checks that it may assume the selection's role; a role created
#: seconds ago is not assumable everywhere yet (IAM is eventually consistent).
SELECTION_ROLE_PROPAGATION = policy(
    {"InvalidParameterValueException"},
    "IAM is eventually consistent: AWS Backup cannot assume a role just created",
    deadline_s=240, max_attempts=25, initial_s=2.0, max_wait_s=20.0,
    message=r"[Rr]ole|assume|IAM",
)


def archive_config(config: PlatformConfig) -> ArchiveConfig:
    archive = config.backup.archive
    assert archive is not None, "archive steps exist only with backup.archive"
    return archive


class BackupVaultStep(KindStep):
    """A vault encrypted with the site's key (``kms`` or ``dr.kms``)."""

    family = VAULT_STEP
    service = "backup"
    kind = BACKUP_VAULT

    def resource_name(self) -> str:
        archive = archive_config(self.config)
        return archive.dr_vault if self.site.prefix else archive.vault

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("kms"),)

    def key_arn(self, ctx: StepContext) -> str:
        return str(ctx.output(self.site.step("kms"), "key_arn"))

    #: The key cannot change on an existing vault (UpdateBackupVault does not exist).
    FIELDS = (
        TAGS,
        Field("encryption_key", lambda d: d.get("EncryptionKeyArn"),
              lambda s, ctx: s.key_arn(ctx), effect="replace"),
    )

    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.client("backup", self.region).create_backup_vault(
            BackupVaultName=self.resource_name(), BackupVaultTags=self.tags(),
            EncryptionKeyArn=self.key_arn(ctx), CreatorRequestId=token)
        return self.reread(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> list[str] | None:
        points = int(resource.data.get("NumberOfRecoveryPoints") or 0)
        if points:
            return [f"backup vault {self.resource_name()} ({self.region}) holds {points} "
                    "recovery points and is kept (AWS deletes only empty vaults); they expire "
                    "by the plan's lifecycle; keep its KMS key until then (cancel the key's "
                    "scheduled deletion), or the recovery points cannot be restored"]
        gone_on(BACKUP_VAULT.not_found, ctx.client("backup", self.region).delete_backup_vault,
                BackupVaultName=self.resource_name())
        return None

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "arn": resource.id, "name": self.resource_name()}


class BackupPlanStep(NamedStep, KindTaggedStep):
    """The plan and its one daily rule, found by name (``ListBackupPlans``)."""

    family = PLAN_STEP
    service = "backup"
    kind = BACKUP_PLAN

    def resource_name(self) -> str:
        return archive_config(self.config).plan

    def depends_on(self) -> tuple[str, ...]:
        return (VAULT_STEP, f"dr.{VAULT_STEP}")

    def backup(self, ctx: StepContext) -> Any:
        return ctx.client("backup", self.region)

    def desired_plan(self, ctx: StepContext) -> dict[str, Any]:
        """The ``BackupPlan`` document (botocore's ``BackupPlanInput``)."""
        archive = archive_config(self.config)
        lifecycle = {"DeleteAfterDays": self.config.dr.snapshot_retention.archive_days}
        return {"BackupPlanName": archive.plan, "Rules": [{
            "RuleName": archive.rule,
            "TargetBackupVaultName": archive.vault,
            "ScheduleExpression": archive.schedule,
            "ScheduleExpressionTimezone": archive.timezone,
            "StartWindowMinutes": archive.start_window_minutes,
            "CompletionWindowMinutes": archive.completion_window_minutes,
            "Lifecycle": lifecycle,
            "CopyActions": [{"DestinationBackupVaultArn":
                             str(ctx.output(f"dr.{VAULT_STEP}", "arn")),
                             "Lifecycle": dict(lifecycle)}],
        }]}

    def lookup(self, ctx: StepContext) -> Resource | None:
        backup = self.backup(ctx)
        pages = backup.get_paginator("list_backup_plans").paginate()
        for page in pages:
            for listed in page["BackupPlansList"]:
                if listed.get("BackupPlanName") != self.resource_name() \
                        or listed.get("DeletionDate"):
                    continue
                found = self._plan(ctx, str(listed["BackupPlanId"]))
                if found is not None:
                    return found
        return None

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The recorded plan, read by its id (one ``GetBackupPlan``, no listing) while it
        still has the configured name; otherwise None, and ``find`` looks it up by name."""
        return self._plan(ctx, resource_id)

    def _plan(self, ctx: StepContext, plan_id: str) -> Resource | None:
        """Plan ``plan_id`` when it is live and has the configured name (ours)."""
        backup = self.backup(ctx)
        reply = absent_on(BACKUP_PLAN.not_found, backup.get_backup_plan, BackupPlanId=plan_id)
        if reply is None or reply.get("DeletionDate") or \
                (reply.get("BackupPlan") or {}).get("BackupPlanName") != self.resource_name():
            return None
        data = dict(reply)
        data["TagMap"] = step_tags(ctx, self, backup, BACKUP_PLAN, data["BackupPlanArn"])
        require_owned(self, f"backup plan {self.resource_name()}", data["TagMap"])
        return Resource(str(data["BackupPlanId"]), data)

    def tag_target(self, resource: Resource) -> str:
        return str(resource.data["BackupPlanArn"])

    #: The rules are compared on the keys we set (AWS adds RuleId and defaults).
    FIELDS = (
        TAGS,
        Field("plan", lambda d: d.get("BackupPlan"), lambda s, ctx: s.desired_plan(ctx),
              compare="document", apply="update_plan"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Any]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Any]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.lookup(ctx)
        assert found is not None, f"backup plan {self.resource_name()} is describable"
        return found

    def update_plan(self, ctx: StepContext, resource: Resource, changes: list[Any]) -> None:
        self.backup(ctx).update_backup_plan(BackupPlanId=resource.id,
                                            BackupPlan=self.desired_plan(ctx))

    #: A destroy of the DR side drops the copy to the DR vault, not the plan.
    detaches_other_sites = True

    def detach_changes(self, ctx: StepContext, resource: Resource,
                       gone: frozenset[str]) -> list[Change]:
        """The copy actions into the DR vault go with it (a copy into a deleted vault
        fails every night)."""
        if f"dr.{VAULT_STEP}" not in gone:
            return []
        rules = (resource.data.get("BackupPlan") or {}).get("Rules") or []
        copies = [c.get("DestinationBackupVaultArn") for r in rules
                  for c in r.get("CopyActions") or []]
        return [Change("copy_actions", copies, [])] if copies else []

    def detach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        plan = self.desired_plan(ctx)
        for rule in plan["Rules"]:
            rule.pop("CopyActions", None)
        self.backup(ctx).update_backup_plan(BackupPlanId=resource.id, BackupPlan=plan)

    def create(self, ctx: StepContext, token: str) -> Resource:
        reply = self.backup(ctx).create_backup_plan(
            BackupPlan=self.desired_plan(ctx), BackupPlanTags=self.tags(),
            CreatorRequestId=token)
        found = self.lookup(ctx)
        assert found is not None, f"backup plan {reply['BackupPlanId']} is describable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Its selections go first (``backup-selection`` depends on this step)."""
        gone_on(BACKUP_PLAN.not_found, self.backup(ctx).delete_backup_plan,
                BackupPlanId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "plan_id": resource.id,
                "arn": resource.data["BackupPlanArn"]}


class BackupSelectionStep(NamedStep):
    """Assigns the primary database (and the replicas, if configured) to the plan.

    A selection takes no tags and cannot be updated: it is ours because it
    sits in our plan, and a changed role or resource list replaces it (it is
    an assignment, no data: ``replace_automatically``).
    """

    family = SELECTION_STEP
    service = "backup"
    kinds = (BACKUP_SELECTION,)
    replace_automatically = True

    def resource_name(self) -> str:
        return archive_config(self.config).selection

    def database_steps(self) -> list[str]:
        steps = [f"rds.{self.config.rds.identifier}"]
        if archive_config(self.config).include_replicas:
            steps += [("dr." if r.region != self.config.aws.region else "") + f"rds.{r.identifier}"
                      for r in self.config.rds.read_replicas]
        return steps

    def depends_on(self) -> tuple[str, ...]:
        return (PLAN_STEP, ROLE_STEP, *self.database_steps())

    def backup(self, ctx: StepContext) -> Any:
        return ctx.client("backup", self.region)

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        """The ``BackupSelection`` document: resources by ARN, with the backup role."""
        return {"SelectionName": self.resource_name(),
                "IamRoleArn": str(ctx.output(ROLE_STEP, "role_arn")),
                "Resources": sorted(str(ctx.output(step, "arn"))
                                    for step in self.database_steps())}

    def lookup(self, ctx: StepContext) -> Resource | None:
        if not ctx.has_outputs(PLAN_STEP):
            return None
        plan_id = str(ctx.output(PLAN_STEP, "plan_id"))
        backup = self.backup(ctx)
        pages = backup.get_paginator("list_backup_selections").paginate(BackupPlanId=plan_id)
        for page in pages:
            for listed in page["BackupSelectionsList"]:
                if listed.get("SelectionName") != self.resource_name():
                    continue
                found = self._selection(ctx, plan_id, str(listed["SelectionId"]))
                if found is not None:
                    return found
        return None

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The recorded selection, read by its id in the plan's (one
        ``GetBackupSelection``, no listing) while it has the configured name; otherwise
        None, and ``find`` looks it up by name (a plan made anew holds none of the old
        plan's selections)."""
        if not ctx.has_outputs(PLAN_STEP):
            return None
        return self._selection(ctx, str(ctx.output(PLAN_STEP, "plan_id")), resource_id)

    def _selection(self, ctx: StepContext, plan_id: str, selection_id: str) -> Resource | None:
        reply = absent_on(BACKUP_SELECTION.not_found, self.backup(ctx).get_backup_selection,
                          BackupPlanId=plan_id, SelectionId=selection_id)
        if reply is None or reply["BackupSelection"].get("SelectionName") != self.resource_name():
            return None
        data = {**reply["BackupSelection"], "SelectionId": reply["SelectionId"],
                "BackupPlanId": plan_id}
        return Resource(str(reply["SelectionId"]), data)

    FIELDS = (
        Field("iam_role", lambda d: d.get("IamRoleArn"),
              lambda s, ctx: s.desired(ctx)["IamRoleArn"], effect="replace"),
        Field("resources", lambda d: sorted(d.get("Resources") or []),
              lambda s, ctx: s.desired(ctx)["Resources"], compare="unordered", effect="replace"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Any]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def create(self, ctx: StepContext, token: str) -> Resource:
        plan_id = str(ctx.output(PLAN_STEP, "plan_id"))
        SELECTION_ROLE_PROPAGATION.call(
            "create backup selection", self.backup(ctx).create_backup_selection,
            BackupPlanId=plan_id, BackupSelection=self.desired(ctx), CreatorRequestId=token)
        found = self.lookup(ctx)
        assert found is not None, f"backup selection {self.resource_name()} is describable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(BACKUP_SELECTION.not_found, self.backup(ctx).delete_backup_selection,
                BackupPlanId=resource.data["BackupPlanId"], SelectionId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "selection_id": resource.id}


def archive_steps(config: PlatformConfig) -> list[Step]:
    """Vaults, plan and selection, when ``backup.archive`` is configured."""
    if config.backup.archive is None:
        return []
    dr = Site(prefix="dr.", region=config.dr.region)
    return [BackupVaultStep(config), BackupVaultStep(config, site=dr), BackupPlanStep(config),
            BackupSelectionStep(config)]
