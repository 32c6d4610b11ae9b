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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from vivr_provision.config import PlatformConfig
from vivr_provision.config.standby import standby_log_group_names
from vivr_provision.log import get_logger
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.common import (
    KindTaggedStep,
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    require_owned,
    step_tags,
    tag_drift,
)
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import KMS_KEY
from vivr_provision.steps.log_delivery import DELIVERY_SERVICE
from vivr_provision.steps.logs import encrypted_log_groups
from vivr_provision.steps.policy_documents import Labelled
from vivr_provision.steps.service_linked_roles import (
    AUTOSCALING_SLR_STEP,
    autoscaling_role_wanted,
)

events = get_logger("vivr.kms")
DEAD_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})
#: A replica key is created asynchronously; the alias call may race it.
REPLICA_SETTLING = policy({"NotFoundException", "KMSInvalidStateException"},
                          "a replica key becomes usable a few seconds after ReplicateKey",
                          deadline_s=300)


def logs_key_policy(account: str, region: str, log_groups: list[str],
                    extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Account administrators, plus CloudWatch Logs of ``region`` for ``log_groups`` only.

    CloudWatch Logs cannot use a key whose policy does not name its service
    principal (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch
    Logs using AWS KMS": principal ``logs.<region>.amazonaws.com``, condition
    ``kms:EncryptionContext:aws:logs:arn`` on the group ARNs).
    """
    arns = [f"arn:aws:logs:{region}:{account}:log-group:{name}" for name in log_groups]
    logs = [{"Sid": "CloudWatchLogsOfThisEnvironment", "Effect": "Allow",
             "Principal": {"Service": f"logs.{region}.amazonaws.com"},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*",
                        "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": arns}}}]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountAdministration", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": "kms:*", "Resource": "*"},
            # No group, no grant: an empty ArnLike list would be a malformed policy.
            *(logs if arns else []),
            *(extra or []),
        ],
    }


#: The services that publish to our encrypted topics: CloudWatch alarms and RDS
#: event subscriptions.  SNS encrypts each message with a data key the
#: publisher asks KMS for on the topic's key, so each needs kms:GenerateDataKey*
#: and kms:Decrypt there (SNS developer guide "Encryption at rest", "Enable
#: compatibility between event sources from AWS services and encrypted
#: topics"; CloudWatch: "Key policy for CloudWatch alarms to encrypted topics").
TOPIC_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.rds.amazonaws.com")


def topic_publisher_statements(config: PlatformConfig, account: str) -> list[dict[str, Any]]:
    """Key-policy statements admitting :data:`TOPIC_PUBLISHERS` when topics are encrypted.

    ``aws:SourceAccount`` keeps another account's alarms or instances (the
    confused deputy) from using the key through the same service.
    """
    if not config.monitoring.encrypt_topics:
        return []
    return [{"Sid": "PublishToEncryptedTopics", "Effect": "Allow",
             "Principal": {"Service": list(TOPIC_PUBLISHERS)},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]


def export_log_key_statements(config: PlatformConfig, account: str) -> list[dict[str, Any]]:
    """Key-policy statements for an encrypted machine that logs: CloudWatch Logs' log
    delivery decrypts the machine's data to deliver it (as AWS CDK's StateMachine
    grants ``delivery.logs.amazonaws.com`` ``kms:Decrypt``), for this account only."""
    export = config.backup.redis_export
    if (export is None or not config.redis.export_to_s3_daily or export.log_group is None
            or not export.encrypt_with_platform_key):
        return []
    return [{"Sid": "StepFunctionsLogDelivery", "Effect": "Allow",
             "Principal": {"Service": DELIVERY_SERVICE}, "Action": ["kms:Decrypt"],
             "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": account},
                           "ArnLike": {"aws:SourceArn":
                                       f"arn:aws:logs:{config.aws.region}:{account}:*"}}}]


def kms_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as KMS's create calls take them (the pair names :data:`KMS_KEY` declares)."""
    api = KMS_KEY.tags
    assert api is not None and api.key is not None
    return aws_tags(tags, api.key, api.value)


#: Marks a key found through the configured alias (``describe_by_id``): the alias names it.
ALIAS_NAMES_IT = "AliasNamesIt"


@dataclass(frozen=True, eq=False)
class Rotation:
    """Automatic rotation as ``GetKeyRotationStatus`` reports it, shown as ``(enabled, period)``.

    The period counts only while rotation is on, and only when the reply
    carries one (``RotationPeriodInDays`` is optional in botocore's model of
    ``GetKeyRotationStatus``; the sandbox may omit it).
    """

    enabled: bool
    period: int | None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rotation) or self.enabled != other.enabled:
            return False
        return (not self.enabled or None in (self.period, other.period)
                or self.period == other.period)

    __hash__ = None  # type: ignore[assignment]  # compared, never hashed

    def __repr__(self) -> str:
        return repr((self.enabled, self.period))


class KmsKeyBase(KindTaggedStep):
    """What the primary key and its DR replica share: lookup, alias, tags, deletion.

    A key has no name to read it by: it is found by the id state recorded,
    then through its alias, then (after a crash between ``CreateKey`` and
    ``CreateAlias``) among the account's keys by its ownership tags.
    """

    service = "kms"
    kind = KMS_KEY
    #: How waits name the key ("key", "replica key").
    noun: ClassVar[str] = "key"

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
        return Resource(meta["KeyId"], {**meta, "TagMap": self._tags(ctx, meta["KeyId"],
                                                                      meta.get("Arn"))})

    def _tags(self, ctx: StepContext, key_id: str, arn: str | None = None) -> dict[str, str]:
        # The tag batch knows the key by its ARN (``arn``, from DescribeKey).  One
        # ListResourceTags call holds them all: a key carries at most 50 tags and
        # the call returns up to 50 (KMS developer guide "Tagging keys").
        return step_tags(ctx, self, self.kms(ctx), KMS_KEY, key_id, arn=arn)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """Through the configured alias first: ``DescribeKey`` takes an alias and answers
        the key it names, so one call finds the key and shows that the alias names it
        (:meth:`observed` then needs no ``ListAliases``).  An alias that is missing or
        names another key costs the direct read by id, and the alias row shows it."""
        by_alias = self._describe(ctx, self.config.kms.alias)
        if by_alias is not None and by_alias.id == resource_id:
            return replace(by_alias, data={**by_alias.data, ALIAS_NAMES_IT: True})
        return self._describe(ctx, resource_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        by_alias = self._describe(ctx, self.config.kms.alias)
        if by_alias is not None:
            require_owned(self, f"KMS key {self.config.kms.alias}", by_alias.data["TagMap"])
            return by_alias
        # A crash between CreateKey and CreateAlias leaves a key with only our tags.
        for page in self.kms(ctx).get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                found = self._describe(ctx, key["KeyId"])
                if found is not None and is_owned_by(self, found.data["TagMap"]):
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
        found = until_found(f"key {key_id}", lambda: self._describe(ctx, key_id))
        return replace(found, recovered=True)

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

    #: The settings the primary and the replica share (see
    #: :mod:`vivr_provision.steps.drift`); :meth:`observed` adds ``Alias``.
    FIELDS: tuple[Field, ...] = (
        TAGS,
        Field("alias", lambda d: d["Alias"], lambda s, ctx: s.config.kms.alias,
              apply="converge_alias"),
        Field("description", lambda d: d.get("Description"),
              lambda s, ctx: s.config.kms.description, apply="update_description"),
    )

    def observed(self, ctx: StepContext, resource: Resource) -> dict[str, Any]:
        """The key's description plus what other calls read: ``Alias`` is the configured
        alias when it names this key (``ListAliases`` by key lists the aliases whose
        target it is), else None."""
        alias = self.config.kms.alias
        names_it = resource.data.get(ALIAS_NAMES_IT) or alias in self._aliases(ctx, resource.id)
        return {**resource.data, "Alias": alias if names_it else None}

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, self.observed(ctx, resource), self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return until_found(f"{self.noun} {resource.id}",
                           lambda: self._describe(ctx, resource.id))

    def converge_alias(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self._ensure_alias(ctx, resource.id)

    def update_description(self, ctx: StepContext, resource: Resource,
                           changes: list[Change]) -> None:
        self.kms(ctx).update_key_description(KeyId=resource.id,
                                             Description=self.config.kms.description)

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
        # Exactly the groups this tool encrypts (the spec's and RDS's export groups).
        document = logs_key_policy(ctx.account_id, self.region,
                                   encrypted_log_groups(self.config),
                                   [*self.autoscaling_statements(ctx),
                                    *topic_publisher_statements(self.config, ctx.account_id),
                                    *export_log_key_statements(self.config, ctx.account_id)])
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
            Tags=kms_tags(self.tags()),
        )["KeyMetadata"]
        key_id = meta["KeyId"]
        self._reap_twins(ctx, key_id)
        self._set_rotation(ctx, key_id)
        self._ensure_alias(ctx, key_id)
        return until_found(f"key {key_id}", lambda: self._describe(ctx, key_id))

    def _reap_twins(self, ctx: StepContext, keep: str) -> None:
        """Schedule the deletion of other live keys carrying this step's tags.

        ``CreateKey`` takes no idempotency token: retried by botocore after a
        lost answer, it makes a second key.  Right after our create, no other
        key carries this step's tags (the step creates only when its lookup
        found none), so each one is that twin; it encrypts nothing yet and
        goes with KMS's shortest waiting period (7 days).
        """
        kms = self.kms(ctx)
        for page in kms.get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                if key["KeyId"] == keep:
                    continue
                found = self._describe(ctx, key["KeyId"])
                if found is not None and is_owned_by(self, found.data["TagMap"]):
                    events.warning("kms.twin_deleted", step=self.name, kept=keep,
                                   deleted=key["KeyId"],
                                   reason="a create retried after a lost answer made a "
                                          "second key")
                    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)

    def _set_rotation(self, ctx: StepContext, key_id: str) -> None:
        kms = self.kms(ctx)
        if self.config.kms.enable_key_rotation:
            kms.enable_key_rotation(KeyId=key_id,
                                    RotationPeriodInDays=self.config.kms.rotation_period_days)
        else:
            kms.disable_key_rotation(KeyId=key_id)

    #: The shared rows, then what only the primary manages.  ``MultiRegion`` is
    #: fixed at ``CreateKey``: a change means a new key.
    FIELDS = (
        *KmsKeyBase.FIELDS,
        Field("multi_region", lambda d: d.get("MultiRegion"),
              lambda s, ctx: s.config.kms.multi_region, compare="defaulted", default=False,
              effect="replace"),
        Field("rotation", lambda d: d["Rotation"],
              lambda s, ctx: Rotation(s.config.kms.enable_key_rotation,
                                      s.config.kms.rotation_period_days),
              apply="converge_rotation"),
        Field("key_policy", lambda d: Labelled(d["Policy"], "differs"),
              lambda s, ctx: Labelled(json.loads(s.key_policy(ctx)),
                                      "the environment's policy"),
              apply="put_key_policy"),
    )

    def observed(self, ctx: StepContext, resource: Resource) -> dict[str, Any]:
        """Also the rotation status and the key policy (parsed: compared by content)."""
        data = super().observed(ctx, resource)
        rotation = self.kms(ctx).get_key_rotation_status(KeyId=resource.id)
        data["Rotation"] = Rotation(bool(rotation.get("KeyRotationEnabled")),
                                    rotation.get("RotationPeriodInDays"))
        data["Policy"] = json.loads(self.kms(ctx).get_key_policy(
            KeyId=resource.id, PolicyName="default")["Policy"])
        return data

    def converge_rotation(self, ctx: StepContext, resource: Resource,
                          changes: list[Change]) -> None:
        self._set_rotation(ctx, resource.id)

    def put_key_policy(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self.kms(ctx).put_key_policy(KeyId=resource.id, PolicyName="default",
                                     Policy=self.key_policy(ctx))


class KmsReplicaKeyStep(KmsKeyBase):
    """The DR region's replica of the multi-region key (same key id, own ARN)."""

    family = "kms"
    noun = "replica key"

    def depends_on(self) -> tuple[str, ...]:
        return ("kms",)

    @property
    def log_groups(self) -> list[str]:
        """The DR region's groups encrypted with this key (the standby app's)."""
        return standby_log_group_names(self.config)

    @property
    def has_policy(self) -> bool:
        """Whether the replica needs its own policy: a DR log group or the DR topic
        copies (encrypted with it) use the key."""
        return bool(self.log_groups) or self.config.monitoring.encrypt_topics

    def key_policy(self, ctx: StepContext) -> str | None:
        """The replica's own policy (a replica does not share its primary's): set only
        when :attr:`has_policy`; otherwise KMS's default policy stays."""
        if not self.has_policy:
            return None
        return json.dumps(logs_key_policy(
            ctx.account_id, self.region, self.log_groups,
            topic_publisher_statements(self.config, ctx.account_id)), sort_keys=True)

    #: The shared rows, plus the key policy when the replica has its own.
    POLICY_FIELD = Field("key_policy", lambda d: Labelled(d["Policy"], "differs"),
                         lambda s, ctx: Labelled(json.loads(s.key_policy(ctx) or "{}"),
                                                 "the environment's policy"),
                         apply="put_key_policy")

    def fields(self) -> tuple[Field, ...]:
        return (*self.FIELDS, self.POLICY_FIELD) if self.has_policy else self.FIELDS

    def observed(self, ctx: StepContext, resource: Resource) -> dict[str, Any]:
        data = super().observed(ctx, resource)
        if self.has_policy:
            data["Policy"] = json.loads(self.kms(ctx).get_key_policy(
                KeyId=resource.id, PolicyName="default")["Policy"])
        return data

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, self.observed(ctx, resource), self.fields())

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields())
        return until_found(f"{self.noun} {resource.id}",
                           lambda: self._describe(ctx, resource.id))

    def put_key_policy(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        policy = self.key_policy(ctx)
        assert policy is not None, "the row exists only with a policy"
        self.kms(ctx).put_key_policy(KeyId=resource.id, PolicyName="default", Policy=policy)

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
        policy = self.key_policy(ctx)
        primary.replicate_key(
            KeyId=ctx.output("kms", "key_id"),
            ReplicaRegion=self.region,
            Description=self.config.kms.description,
            Tags=kms_tags(self.tags()),
            **({"Policy": policy} if policy else {}),
        )
        key_id = str(ctx.output("kms", "key_id"))
        found = until_found(f"replica key {key_id} in {self.region}",
                            lambda: self._describe(ctx, key_id), deadline_s=300)
        self._ensure_alias(ctx, key_id)
        # ReplicateKey's Tags are not applied everywhere; converge them here
        # so the next apply finds nothing to change.
        missing = tag_drift(self, found.data["TagMap"])
        if missing:
            self.converge_tags(ctx, found, missing)
            found = until_found(f"replica key {key_id}", lambda: self._describe(ctx, key_id))
        return found


def kms_steps(config: PlatformConfig) -> list[Step]:
    """The key, plus its replica in the DR region when DR is on and the key is multi-region."""
    steps: list[Step] = [KmsKeyStep(config)]
    if config.dr.enabled and config.kms.multi_region:
        steps.append(KmsReplicaKeyStep(config, site=Site(prefix="dr.", region=config.dr.region)))
    return steps


__all__ = ["KmsKeyStep", "KmsReplicaKeyStep", "kms_steps"]
