"""The customer-managed KMS key (and its alias) behind every "encryption at rest: KMS".

RDS, ElastiCache, the secrets, log groups and the backups bucket all use one
key.  It is multi-region when the config says so, and the DR region gets a
replica of it (same key id, its own ARN) for the cross-region read replica.

``CreateKey`` has no idempotency token, so a key created just before a
crash is found again by its alias or, if the alias was never created, by
its ownership tags.  Keys are never deleted at once: destroy schedules the
deletion with the configured waiting period and reports it.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from vivr_provision.config import PlatformConfig
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    require_owned,
    tag_drift,
    write_tags,
)
from vivr_provision.steps.kinds import KMS_KEY
from vivr_provision.steps.logs import encrypted_log_groups
from vivr_provision.steps.service_linked_roles import (
    AUTOSCALING_SLR_STEP,
    autoscaling_role_wanted,
)

events = structlog.get_logger("vivr.kms")
DEAD_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})
KMS_TAGS = {"key": "TagKey", "value": "TagValue"}
#: A replica key is created asynchronously; the alias call may race it.
REPLICA_SETTLING = policy({"NotFoundException", "KMSInvalidStateException"},
                          "a replica key becomes usable a few seconds after ReplicateKey",
                          deadline_s=300)


class KmsKeyBase(Step):
    """What the primary key and its DR replica share: lookup, alias, tags, deletion."""

    service = "kms"

    def __init__(self, config: PlatformConfig, *, site: Site | None = None) -> None:
        super().__init__(config, site=site)

    def resource_name(self) -> str:
        return self.config.kms.alias.removeprefix("alias/")

    def kms(self, ctx: StepContext) -> Any:
        return ctx.client("kms", self.region)

    def _describe(self, ctx: StepContext, key_id: str) -> Resource | None:
        reply = absent_on(KMS_KEY.not_found, self.kms(ctx).describe_key, KeyId=key_id)
        if reply is None:
            return None
        meta = reply["KeyMetadata"]
        if meta.get("KeyState") in DEAD_STATES:
            return None
        tags = self._tags(ctx, meta["KeyId"])
        return Resource(meta["KeyId"], {**meta, "Tags": tags})

    def _tags(self, ctx: StepContext, key_id: str) -> dict[str, str]:
        pages = self.kms(ctx).get_paginator("list_resource_tags").paginate(KeyId=key_id)
        return {t["TagKey"]: t["TagValue"] for page in pages for t in page.get("Tags", [])}

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._describe(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        by_alias = self._describe(ctx, self.config.kms.alias)
        if by_alias is not None:
            require_owned(self, f"KMS key {self.config.kms.alias}", by_alias.data["Tags"])
            return by_alias
        # A crash between CreateKey and CreateAlias leaves a key with only our tags.
        for page in self.kms(ctx).get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                found = self._describe(ctx, key["KeyId"])
                if found is not None and is_owned_by(self, found.data["Tags"]):
                    return found
        return None

    def revive_pending(self, ctx: StepContext) -> Resource | None:
        """Bring back our key if a destroy scheduled it for deletion and it is still waiting.

        Secrets restored from their recovery window are encrypted with this
        key, so re-creating a new key instead would leave them unreadable
        once the old one is gone.
        """
        kms = self.kms(ctx)
        pending: list[dict[str, Any]] = []
        for page in kms.get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                reply = absent_on(KMS_KEY.not_found, kms.describe_key, KeyId=key["KeyId"])
                meta = reply["KeyMetadata"] if reply else {}
                if meta.get("KeyState") == "PendingDeletion" and \
                        is_owned_by(self, self._tags(ctx, meta["KeyId"])):
                    pending.append(meta)
        if not pending:
            return None
        # The newest one is the key the last destroy scheduled.
        key_id = str(max(pending, key=lambda m: m["CreationDate"])["KeyId"])
        kms.cancel_key_deletion(KeyId=key_id)
        kms.enable_key(KeyId=key_id)
        events.info("kms.key_recovered", step=self.name, key_id=key_id)
        self._ensure_alias(ctx, key_id)
        return until_found(f"key {key_id}", lambda: self._describe(ctx, key_id))

    def _aliases(self, ctx: StepContext, key_id: str) -> list[str]:
        pages = self.kms(ctx).get_paginator("list_aliases").paginate(KeyId=key_id)
        return [a["AliasName"] for page in pages for a in page.get("Aliases", [])]

    def _ensure_alias(self, ctx: StepContext, key_id: str) -> None:
        alias = self.config.kms.alias
        if alias in self._aliases(ctx, key_id):
            return
        existing = absent_on(KMS_KEY.not_found, self.kms(ctx).describe_key, KeyId=alias)
        if existing is not None:
            self.kms(ctx).update_alias(AliasName=alias, TargetKeyId=key_id)
        else:
            REPLICA_SETTLING.call("create alias", self.kms(ctx).create_alias,
                                  AliasName=alias, TargetKeyId=key_id)

    def base_changes(self, ctx: StepContext, resource: Resource) -> list[Change]:
        changes = tag_drift(self, resource.data.get("Tags", {}))
        if self.config.kms.alias not in self._aliases(ctx, resource.id):
            changes.append(Change("alias", None, self.config.kms.alias))
        if resource.data.get("Description") != self.config.kms.description:
            changes.append(Change("description", resource.data.get("Description"),
                                  self.config.kms.description))
        return changes

    def apply_base_changes(self, ctx: StepContext, resource: Resource,
                           changes: list[Change]) -> None:
        kms = self.kms(ctx)
        for change in changes:
            if change.field == "tags":
                write_tags(kms, KMS_KEY, resource.id, change.desired)
            elif change.field == "alias":
                self._ensure_alias(ctx, resource.id)
            elif change.field == "description":
                kms.update_key_description(KeyId=resource.id, Description=change.desired)

    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        kms = self.kms(ctx)
        if self.config.kms.alias in self._aliases(ctx, resource.id):
            gone_on(KMS_KEY.not_found, kms.delete_alias, AliasName=self.config.kms.alias)
        days = self.config.kms.deletion_window_days
        reply = kms.schedule_key_deletion(KeyId=resource.id, PendingWindowInDays=days)
        when = reply.get("DeletionDate")
        date = when.date().isoformat() if hasattr(when, "date") else str(when)
        return [f"KMS key {resource.id} ({self.region}) pending deletion until {date}; "
                f"`aws kms cancel-key-deletion --key-id {resource.id}` recovers it"]

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "key_id": resource.id, "key_arn": resource.data["Arn"],
                "alias": self.config.kms.alias}


class KmsKeyStep(KmsKeyBase):
    """The primary key: symmetric, rotated, multi-region when DR needs a copy."""

    family = "kms"

    def depends_on(self) -> tuple[str, ...]:
        # A key policy may only name principals that exist.
        return (AUTOSCALING_SLR_STEP,) if autoscaling_role_wanted(self.config) else ()

    def key_policy(self, ctx: StepContext) -> str:
        """Account administrators plus CloudWatch Logs for this environment's log groups.

        CloudWatch Logs cannot use a key whose policy does not name its
        service principal; the grant is scoped to the groups this tool creates.
        """
        account, region = ctx.account_id, self.region
        # Exactly the groups this tool encrypts (the spec's and RDS's export groups).
        log_groups = [f"arn:aws:logs:{region}:{account}:log-group:{name}"
                      for name in encrypted_log_groups(self.config)]
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AccountAdministration", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "CloudWatchLogsOfThisEnvironment", "Effect": "Allow",
                 "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                 "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*",
                            "kms:GenerateDataKey*", "kms:Describe*"],
                 "Resource": "*",
                 "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}}},
                *self.autoscaling_statements(ctx),
            ],
        }
        return json.dumps(document, sort_keys=True)

    def autoscaling_statements(self, ctx: StepContext) -> list[dict[str, Any]]:
        """EC2 Auto Scaling's service-linked role may use the key (``ecs.launch_type: ec2``).

        The launch template's volumes are encrypted with this key, and the
        group launches instances as ``AWSServiceRoleForAutoScaling``, whose
        fixed permissions cover AWS managed keys only.  The two statements
        are the ones the EC2 Auto Scaling user guide gives ("Required AWS KMS
        key policy for use with encrypted volumes", example 1).
        """
        if not autoscaling_role_wanted(self.config):
            return []
        role = {"AWS": str(ctx.output(AUTOSCALING_SLR_STEP, "role_arn"))}
        return [
            {"Sid": "AutoScalingServiceLinkedRoleUse", "Effect": "Allow", "Principal": role,
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                        "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"},
            {"Sid": "AutoScalingServiceLinkedRoleGrants", "Effect": "Allow", "Principal": role,
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}},
        ]

    def create(self, ctx: StepContext, token: str) -> Resource:
        revived = self.revive_pending(ctx)
        if revived is not None:
            return revived
        kms = self.kms(ctx)
        meta = kms.create_key(
            Description=self.config.kms.description,
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            MultiRegion=self.config.kms.multi_region,
            Policy=self.key_policy(ctx),
            Tags=aws_tags(self.tags(), **KMS_TAGS),
        )["KeyMetadata"]
        key_id = meta["KeyId"]
        self._set_rotation(ctx, key_id)
        self._ensure_alias(ctx, key_id)
        return until_found(f"key {key_id}", lambda: self._describe(ctx, key_id))

    def _set_rotation(self, ctx: StepContext, key_id: str) -> None:
        kms = self.kms(ctx)
        if self.config.kms.enable_key_rotation:
            kms.enable_key_rotation(KeyId=key_id,
                                    RotationPeriodInDays=self.config.kms.rotation_period_days)
        else:
            kms.disable_key_rotation(KeyId=key_id)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        changes = self.base_changes(ctx, resource)
        if bool(resource.data.get("MultiRegion")) != self.config.kms.multi_region:
            changes.append(Change("multi_region", resource.data.get("MultiRegion"),
                                  self.config.kms.multi_region, replace=True))
        rotation = self.kms(ctx).get_key_rotation_status(KeyId=resource.id)
        enabled = bool(rotation.get("KeyRotationEnabled"))
        desired = self.config.kms.enable_key_rotation
        period = rotation.get("RotationPeriodInDays")
        if enabled != desired or (desired and period not in (None,
                                                             self.config.kms.rotation_period_days)):
            changes.append(Change("rotation", (enabled, period),
                                  (desired, self.config.kms.rotation_period_days)))
        policy_now = self.kms(ctx).get_key_policy(KeyId=resource.id, PolicyName="default")
        if json.loads(policy_now["Policy"]) != json.loads(self.key_policy(ctx)):
            changes.append(Change("key_policy", "differs", "the environment's policy"))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        self.apply_base_changes(ctx, resource, changes)
        fields = {c.field for c in changes}
        if "rotation" in fields:
            self._set_rotation(ctx, resource.id)
        if "key_policy" in fields:
            self.kms(ctx).put_key_policy(KeyId=resource.id, PolicyName="default",
                                         Policy=self.key_policy(ctx))
        return until_found(f"key {resource.id}", lambda: self._describe(ctx, resource.id))


class KmsReplicaKeyStep(KmsKeyBase):
    """The DR region's replica of the multi-region key (same key id, own ARN)."""

    family = "kms"

    def depends_on(self) -> tuple[str, ...]:
        return ("kms",)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        primary_id = ctx.outputs_of("kms")
        if primary_id:
            found = self._describe(ctx, str(primary_id["key_id"]))
            if found is not None:
                return found
        return super().find_by_tags(ctx)

    def create(self, ctx: StepContext, token: str) -> Resource:
        revived = self.revive_pending(ctx)
        if revived is not None:
            return revived
        primary = ctx.clients.client("kms", self.config.aws.region)
        primary.replicate_key(
            KeyId=ctx.output("kms", "key_id"),
            ReplicaRegion=self.region,
            Description=self.config.kms.description,
            Tags=aws_tags(self.tags(), **KMS_TAGS),
        )
        key_id = str(ctx.output("kms", "key_id"))
        found = until_found(f"replica key {key_id} in {self.region}",
                            lambda: self._describe(ctx, key_id), deadline_s=300)
        self._ensure_alias(ctx, key_id)
        # ReplicateKey's Tags are not applied everywhere; converge them here
        # so the next apply finds nothing to change.
        missing = tag_drift(self, found.data.get("Tags", {}))
        if missing:
            self.apply_base_changes(ctx, found, missing)
            found = until_found(f"replica key {key_id}", lambda: self._describe(ctx, key_id))
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return self.base_changes(ctx, resource)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        self.apply_base_changes(ctx, resource, changes)
        return until_found(f"replica key {resource.id}", lambda: self._describe(ctx, resource.id))


def kms_steps(config: PlatformConfig) -> list[Step]:
    """The key, plus its replica in the DR region when DR is on and the key is multi-region."""
    steps: list[Step] = [KmsKeyStep(config)]
    if config.dr.enabled and config.kms.multi_region:
        steps.append(KmsReplicaKeyStep(config, site=Site(prefix="dr.", region=config.dr.region)))
    return steps


__all__ = ["KmsKeyStep", "KmsReplicaKeyStep", "kms_steps"]
