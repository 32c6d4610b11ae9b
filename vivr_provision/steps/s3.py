"""S3 buckets: assets, backups, logs, temp, and the backups' replica in the DR region.

One step per bucket (``s3.<key>``), plus ``dr.s3.<key>`` for the destination
of a bucket with ``replication``.  A bucket is identified by its name, the
natural key S3 enforces globally; ``ListBuckets`` (only the caller's own
buckets) tells ours from a name someone else holds, and a bucket of ours is
adopted only if it carries our ownership tags.

Every setting comes from ``config.s3`` and is diffed against what the
``GetBucket*`` calls report; a configuration that was never set comes back as
an error code (``NoSuchLifecycleConfiguration`` ...) and reads as "none".
Drift is converged in place with the matching ``PutBucket*`` call, in an
order S3 accepts (versioning before replication).  A bucket in the wrong
region cannot move: that is a replacement, which apply refuses for a bucket.

S3 answers ``NoSuchBucket`` or ``OperationAborted`` for a little while after
a bucket is created (or a name released), so calls that follow a create are
retried under :data:`SETTLING`.

Destroy never deletes data: a bucket holding any object version or delete
marker makes the step fail with the bucket name and the count; only an empty
bucket is deleted.

Policies (every bucket gets the TLS-only deny when ``deny_insecure_transport``):

* ``cloudfront-oai``: ``s3:GetObject`` for the CloudFront service principal,
  limited to this account's distributions by ``AWS:SourceArn``.  The spec
  says OAI; this statement is the form origin access control (OAC), AWS's
  successor to OAI, needs (the emulator implements neither API, so the
  CloudFront step chooses).  The distribution does not exist yet when the
  bucket is made, so the condition names ``distribution/*``; the CloudFront
  step is to narrow it to the distribution's ARN (and add the OAI principal
  should it use a real OAI).
* ``backup-role-only``: ``s3:GetObject``/``s3:PutObject`` on the objects for
  the backup role.  It grants, it does not exclude: principals of this
  account with their own IAM S3 permissions can still write.
* ``alb-log-delivery``: ``s3:PutObject`` under
  ``<access_logs.prefix>/AWSLogs/<account>/`` (the site's ALB's prefix) for
  the ELB log delivery service principal
  ``logdelivery.elasticloadbalancing.amazonaws.com``, in every region.  AWS
  first documented it for regions opened after August 2022 and a per-region
  ELB account (``arn:aws:iam::127311923021:root`` in us-east-1) for older
  ones; the ELB User Guide ("Enable access logs", step 2) now gives the
  service principal for all regions and calls the account form a legacy
  policy that is still supported.  The account form is not used: it is a
  grant to another AWS account (Prowler ``s3_bucket_cross_account_access``),
  and the path ``AWSLogs/<account>/`` already limits what ELB writes to this
  account's balancers.  CloudFront standard logging needs no policy: with
  ACLs enabled (``BucketOwnerPreferred``) CloudFront itself grants the
  ``awslogsdelivery`` account on the bucket ACL when logging is turned on.

The DR site has its own log bucket (``dr.logs_bucket``, step
``dr.s3.<settings_of>``, :class:`DrLogBucketStep`): the standby ALB's access
logs and the DR buckets' server access logs cannot cross regions.
* ``none``: the TLS-only deny, if any.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, NamedTuple

import jmespath

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import BucketConfig, ReplicationConfig
from vivr_provision.log import get_logger
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, NamedStep, Resource, Site, Step, StepContext
from vivr_provision.steps.common import absent_on, aws_tags, require_owned, tag_map
from vivr_provision.steps.dr import dr_site
from vivr_provision.steps.drift import UNREPORTED, Field, converge, drift, tags_row
from vivr_provision.steps.kinds import BUCKET
from vivr_provision.steps.s3_forms import (
    canonical_lifecycle,
    canonical_policy,
    canonical_replication,
    encryption_summary,
    lifecycle_summary,
    policy_document,
    policy_sids,
    replication_summary,
)
from vivr_provision.tag_batch import bucket_tags

events = get_logger("vivr.s3")

#: The one region where CreateBucket must not carry a LocationConstraint (S3 rule).
LEGACY_DEFAULT_REGION = "us-east-1"
#: The principal that writes ALB access logs, in every region (ELB User Guide,
#: "Enable access logs for your Application Load Balancer", step 2; the
#: per-region ELB accounts of its "legacy" policy are not used, see above).
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
#: The principal that writes S3 server access logs (S3 User Guide, "Permissions for
#: log delivery"); moto also accepts a PutBucketLogging only once it is admitted.
S3_LOG_DELIVERY = "logging.s3.amazonaws.com"
CLOUDFRONT = "cloudfront.amazonaws.com"
#: ListBuckets' page size: the largest the API takes (botocore model, MaxBuckets 1-10,000).
LIST_PAGE = 10_000

BUCKET_GONE = tuple(BUCKET.not_found)
#: Of BUCKET.already_exists, the code saying the name is not ours (BucketAlreadyOwnedByYou is).
NAME_OF_ANOTHER_ACCOUNT = "BucketAlreadyExists"
NO_TAGS = ("NoSuchTagSet",)
NO_ENCRYPTION = ("ServerSideEncryptionConfigurationNotFoundError",)
NO_PUBLIC_ACCESS_BLOCK = ("NoSuchPublicAccessBlockConfiguration",)
NO_OWNERSHIP = ("OwnershipControlsNotFoundError",)
NO_LIFECYCLE = ("NoSuchLifecycleConfiguration",)
NO_POLICY = ("NoSuchBucketPolicy",)
NO_REPLICATION = ("ReplicationConfigurationNotFoundError",)
PUBLIC_ACCESS_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                      "RestrictPublicBuckets")

#: Right after CreateBucket (or another configuration change) S3 may not see
#: the bucket everywhere yet, or refuse a concurrent change of the same bucket.
SETTLING = policy((*BUCKET_GONE, "OperationAborted"),
                  "S3 is eventually consistent right after a bucket is created or changed",
                  deadline_s=120, max_attempts=20, initial_s=1.0, max_wait_s=10.0)
#: A name released by a delete is briefly unavailable ("A conflicting
#: conditional operation is currently in progress against this resource").
CONFLICTING = policy({"OperationAborted"},
                     "S3 refuses a change while another change of the same bucket is in flight",
                     deadline_s=120, max_attempts=20, initial_s=1.0, max_wait_s=10.0)
NAME_RELEASING = policy({"OperationAborted"},
                        "a bucket name just released by a delete is not reusable yet",
                        deadline_s=300, max_attempts=30, initial_s=2.0, max_wait_s=20.0)


class BucketNameTaken(Exception):
    """The bucket name belongs to another AWS account (names are global)."""


class BucketNotEmpty(Exception):
    """Destroy refuses to delete a bucket that still holds data."""


# --------------------------------------------------------------------------- the steps


class Reading(NamedTuple):
    """Where one bucket setting is read: a ``GetBucket*`` call and the path to the setting."""

    setting: str
    operation: str
    #: Error codes meaning "never configured" (the setting reads as None).
    missing: tuple[str, ...]
    #: JMESPath to the setting in the reply.
    path: str
    #: ``(setting, value)``: the setting read before this one must read as ``value``
    #: for this one to exist at all; otherwise it reads as None without a call.
    requires: tuple[str, str] | None = None


#: Every setting the table compares, in the order S3 is asked (botocore model, S3 Get* outputs).
READINGS = (
    Reading("versioning", "get_bucket_versioning", (), "Status"),
    Reading("encryption", "get_bucket_encryption", NO_ENCRYPTION,
            "ServerSideEncryptionConfiguration.Rules[0]"),
    Reading("public_access_block", "get_public_access_block", NO_PUBLIC_ACCESS_BLOCK,
            "PublicAccessBlockConfiguration"),
    Reading("object_ownership", "get_bucket_ownership_controls", NO_OWNERSHIP,
            "OwnershipControls.Rules[0].ObjectOwnership"),
    Reading("lifecycle", "get_bucket_lifecycle_configuration", NO_LIFECYCLE, "Rules"),
    Reading("policy", "get_bucket_policy", NO_POLICY, "Policy"),
    # Only a versioning-enabled bucket can hold a replication configuration, so on
    # any other bucket replication reads as None without GetBucketReplication (as
    # it would answer ReplicationConfigurationNotFoundError): S3 User Guide,
    # "Requirements and considerations for replication" ("Both source and
    # destination buckets must have versioning enabled"); PutBucketReplication on
    # a bucket that is not answers InvalidRequest "Versioning must be 'Enabled'
    # on the bucket to apply a replication configuration" (moto 5.2.5 too); and
    # versioning cannot be suspended while replication is configured ("A
    # replication configuration is present on this bucket, so you cannot change
    # the versioning state", hashicorp/terraform#22491), nor turned off once on.
    # A versioning read lagging a change made minutes ago (S3 propagates versioning
    # changes within 15 minutes) can only delay what this run sees of replication
    # until the next run, which reads both again.
    Reading("replication", "get_bucket_replication", NO_REPLICATION, "ReplicationConfiguration",
            requires=("versioning", "Enabled")),
    # GetBucketLogging answers {} (no error) for a bucket that does not log.
    Reading("access_logging", "get_bucket_logging", (), "LoggingEnabled"),
)


def _seen(setting: str, view: Callable[[Any], Any] = lambda value: value
          ) -> Callable[[Mapping[str, Any]], Any]:
    """A row's ``current``: the setting as read (through ``view``), or UNREPORTED when the
    bucket was not read (it is in another region, which only replacing it could fix)."""
    return lambda data: view(data[setting]) if setting in data else UNREPORTED


def _logging_view(enabled: Mapping[str, Any] | None) -> list[str] | None:
    """``[target bucket, prefix]`` of a ``LoggingEnabled``, or None when it does not log."""
    if not enabled:
        return None
    return [str(enabled.get("TargetBucket")), str(enabled.get("TargetPrefix", ""))]


def _blocked(configuration: Mapping[str, Any] | None) -> list[str]:
    """The public access block's settings that are on (none when there is no block)."""
    return [k for k in PUBLIC_ACCESS_KEYS if (configuration or {}).get(k)]


class BucketStep(NamedStep):
    """One bucket of ``config.s3.buckets`` in the primary region, with all its settings."""

    family = "s3"
    kinds = (BUCKET,)
    service = "s3"
    expected_seconds = 5.0
    wait_budget_s = 300.0
    #: A destroy of the DR side removes this bucket's replication to it, not the bucket.
    detaches_other_sites = True

    def __init__(self, config: PlatformConfig, key: str, *, site: Site | None = None) -> None:
        super().__init__(config, key, site=site)
        self.bucket: BucketConfig = config.s3.buckets[key]

    # -- what this bucket should be (overridden by the DR replica) -------------
    @property
    def bucket_name(self) -> str:
        assert self.key is not None
        return self.config.s3.bucket_name(self.key)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket_name}"

    def resource_name(self) -> str:
        return self.bucket_name

    @property
    def versioned(self) -> bool:
        return self.bucket.versioning

    @property
    def kms_encrypted(self) -> bool:
        return self.bucket.encryption == "aws:kms"

    @property
    def replication(self) -> ReplicationConfig | None:
        return self.bucket.replication

    @property
    def replicates_kms(self) -> bool:
        return self.replication is not None and self.replication.replicate_kms_encrypted

    @property
    def access_log_destination(self) -> tuple[str, str] | None:
        """``(step, bucket name)`` this bucket's server access logs go to
        (``s3.server_access_logs``), or None."""
        assert self.key is not None
        target = self.config.s3.access_log_target(self.key)
        if target is None:
            return None
        return f"s3.{target}", self.config.s3.bucket_name(target)

    @property
    def alb_log_prefix(self) -> str:
        """The prefix the site's ALB writes its access logs under (``alb.access_logs``)."""
        return self.config.alb.access_logs.prefix

    def access_log_sources(self) -> list[tuple[str, str]]:
        """``(key, bucket name)`` of each bucket whose server access logs come here."""
        logs = self.config.s3.server_access_logs
        if logs is None or self.key != logs.bucket or self.site.prefix:
            return []
        s3 = self.config.s3
        return [(key, s3.bucket_name(key)) for key in s3.buckets
                if s3.access_log_target(key) == logs.bucket]

    def depends_on(self) -> tuple[str, ...]:
        deps: set[str] = set()
        if self.kms_encrypted:
            deps.add(self.site.step("kms"))
        if self.bucket.policy == "backup-role-only":
            deps.add("iam.backup_role")
        if self.replication is not None:
            deps.update({f"dr.{self.name}", "iam.s3_replication_role"})
            if self.replicates_kms:
                deps.add("dr.kms")
        if self.access_log_destination is not None:
            # Logging is enabled once the target exists and its policy admits us.
            deps.add(self.access_log_destination[0])
        return tuple(sorted(deps))

    def kind_statements(self, ctx: StepContext) -> list[dict[str, Any]]:
        """The statements of the bucket's ``policy`` kind (without the TLS deny)."""
        account, objects = ctx.account_id, f"{self.arn}/*"
        kind = self.bucket.policy
        if kind == "cloudfront-oai":
            return [{"Sid": "CloudFrontReadObjects", "Effect": "Allow",
                     "Principal": {"Service": CLOUDFRONT}, "Action": "s3:GetObject",
                     "Resource": objects,
                     "Condition": {"ArnLike": {
                         "AWS:SourceArn": f"arn:aws:cloudfront::{account}:distribution/*"}}}]
        if kind == "backup-role-only":
            return [{"Sid": "BackupRoleReadWrite", "Effect": "Allow",
                     "Principal": {"AWS": str(ctx.output("iam.backup_role", "role_arn"))},
                     "Action": ["s3:GetObject", "s3:PutObject"], "Resource": objects}]
        if kind == "alb-log-delivery":
            prefix = self.alb_log_prefix
            logs = f"{self.arn}/{prefix + '/' if prefix else ''}AWSLogs/{account}/*"
            return [{"Sid": "AlbAccessLogDelivery", "Effect": "Allow",
                     "Principal": {"Service": ELB_LOG_DELIVERY}, "Action": "s3:PutObject",
                     "Resource": logs}]
        return []

    def access_log_statements(self, ctx: StepContext) -> list[dict[str, Any]]:
        """On the access-log target: one statement per source bucket, its prefix only.

        S3 User Guide, "Enabling Amazon S3 server access logging" (bucket-policy
        delivery): ``logging.s3.amazonaws.com`` may PutObject under the source's
        prefix, for that source bucket (``aws:SourceArn``) of this account
        (``aws:SourceAccount``) only, so no other bucket can log into ours.
        """
        s3 = self.config.s3
        return [{"Sid": f"S3ServerAccessLogs{''.join(p.title() for p in key.split('_'))}",
                 "Effect": "Allow", "Principal": {"Service": S3_LOG_DELIVERY},
                 "Action": "s3:PutObject",
                 "Resource": f"{self.arn}/{s3.log_prefix_for(name)}*",
                 "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{name}"},
                               "StringEquals": {"aws:SourceAccount": ctx.account_id}}}
                for key, name in self.access_log_sources()]

    # -- desired settings, in the shapes the Put calls take ------------------------
    def desired_encryption(self, ctx: StepContext) -> dict[str, Any]:
        if not self.kms_encrypted:
            return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        return {"ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": str(ctx.output(self.site.step("kms"), "key_arn"))},
                "BucketKeyEnabled": True}

    def desired_public_access_block(self) -> dict[str, bool]:
        return dict.fromkeys(PUBLIC_ACCESS_KEYS, self.bucket.block_public_access)

    def desired_lifecycle(self) -> list[dict[str, Any]]:
        rules = []
        for rule in self.bucket.lifecycle_rules:
            shape: dict[str, Any] = {"ID": rule.id, "Filter": {"Prefix": rule.prefix},
                                     "Status": "Enabled"}
            if rule.transitions:
                shape["Transitions"] = [{"Days": t.days, "StorageClass": t.storage_class}
                                        for t in rule.transitions]
            if rule.expiration_days is not None:
                shape["Expiration"] = {"Days": rule.expiration_days}
            if rule.noncurrent_expiration_days is not None:
                shape["NoncurrentVersionExpiration"] = {
                    "NoncurrentDays": rule.noncurrent_expiration_days}
            if rule.abort_incomplete_multipart_days is not None:
                shape["AbortIncompleteMultipartUpload"] = {
                    "DaysAfterInitiation": rule.abort_incomplete_multipart_days}
            rules.append(shape)
        return rules

    def desired_policy(self, ctx: StepContext) -> dict[str, Any] | None:
        statements = self.kind_statements(ctx) + self.access_log_statements(ctx)
        if self.bucket.deny_insecure_transport:
            statements.append({"Sid": "DenyInsecureTransport", "Effect": "Deny",
                               "Principal": "*", "Action": "s3:*",
                               "Resource": [self.arn, f"{self.arn}/*"],
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
        if not statements:
            return None
        return {"Version": "2012-10-17", "Statement": statements}

    def desired_replication(self, ctx: StepContext) -> dict[str, Any] | None:
        replication = self.replication
        if replication is None:
            return None
        destination: dict[str, Any] = {
            "Bucket": f"arn:aws:s3:::{ctx.output(f'dr.{self.name}', 'bucket')}",
            "StorageClass": replication.storage_class,
        }
        rule: dict[str, Any] = {
            "ID": f"replicate-to-{replication.destination_region}",
            "Priority": 1,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "DeleteMarkerReplication": {"Status": "Enabled"},
            "Destination": destination,
        }
        if self.replicates_kms:
            rule["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
            destination["EncryptionConfiguration"] = {
                "ReplicaKmsKeyID": str(ctx.output("dr.kms", "key_arn"))}
        return {"Role": str(ctx.output("iam.s3_replication_role", "role_arn")), "Rules": [rule]}

    def desired_logging(self) -> dict[str, str] | None:
        """``LoggingEnabled`` of PutBucketLogging: the target's name and this bucket's prefix."""
        destination = self.access_log_destination
        if destination is None:
            return None
        return {"TargetBucket": destination[1],
                "TargetPrefix": self.config.s3.log_prefix_for(self.bucket_name)}

    # -- reading -------------------------------------------------------------------
    def s3(self, ctx: StepContext, region: str | None = None) -> Any:
        return ctx.client("s3", region or self.region)

    def _read(self, ctx: StepContext, region: str, operation: str,
              missing: tuple[str, ...] = ()) -> Any:
        """``Get<operation>`` of this bucket; None when S3 says it was never configured."""
        call = getattr(self.s3(ctx, region), operation)
        return SETTLING.call(f"{operation} {self.bucket_name}", absent_on, missing, call,
                             Bucket=self.bucket_name)

    def _listing(self, ctx: StepContext, prefix: str) -> dict[str, Mapping[str, Any]]:
        """The caller's buckets whose names start with ``prefix``, by name (ListBuckets).

        Every page is read: pages hold at most ``MaxBuckets`` buckets (1-10,000,
        botocore's model) and the rest follows a ``ContinuationToken``.  Sending
        any parameter (here always ``MaxBuckets``) is also what makes S3 include
        each bucket's ``BucketRegion`` (S3 API Reference, ListBuckets).
        """
        pages = self.s3(ctx, self.config.aws.region).get_paginator("list_buckets").paginate(
            **({"Prefix": prefix} if prefix else {}), PaginationConfig={"PageSize": LIST_PAGE})
        return {str(b["Name"]): b for page in pages for b in page.get("Buckets", [])}

    def _listed(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """This bucket's ListBuckets entry, or None when it is not *in this account*:
        ListBuckets shows only the caller's own buckets (the ownership test).

        One listing, under the prefix all our bucket names share, answers the
        first lookup of every bucket step (``ctx.reads``); a bucket it lacks
        (made since, or a second lookup) is listed on its own, by its full name.
        """
        batched = ctx.reads.take(("s3", "buckets"), self.bucket_name,
                                 lambda: self._listing(ctx, shared_prefix(self.config)),
                                 reader=self.name)
        if batched is not None:
            return batched
        return self._listing(ctx, self.bucket_name).get(self.bucket_name)

    def _region(self, ctx: StepContext, listed: Mapping[str, Any]) -> str | None:
        """The bucket's region: ListBuckets' ``BucketRegion``, else GetBucketLocation
        (None: the bucket is gone)."""
        region = listed.get("BucketRegion")
        if region:
            return str(region)
        reply = absent_on(BUCKET_GONE, self.s3(ctx).get_bucket_location, Bucket=self.bucket_name)
        if reply is None:
            return None
        # S3 reports us-east-1 as no constraint and eu-west-1 by its old name.
        region = reply.get("LocationConstraint") or LEGACY_DEFAULT_REGION
        return "eu-west-1" if region == "EU" else str(region)

    def _tags(self, ctx: StepContext, region: str) -> dict[str, str] | None:
        """The bucket's tags (its only tag read); None when it was deleted while we looked.

        The first read of a run comes from the region's tag batch when it holds the
        bucket (:mod:`vivr_provision.tag_batch`; the bucket's own listing found it)."""
        batched = bucket_tags(ctx, self.name, self.bucket_name, region, self.tags())
        if batched is not None:
            return batched
        try:
            tagging = absent_on(NO_TAGS, self.s3(ctx, region).get_bucket_tagging,
                                Bucket=self.bucket_name)
        except aws_errors.ClientError as exc:
            if error_code(exc) in BUCKET_GONE:
                return None
            raise
        return tag_map((tagging or {}).get("TagSet"))

    def lookup(self, ctx: StepContext) -> Resource | None:
        listed = self._listed(ctx)
        region = None if listed is None else self._region(ctx, listed)
        tags = None if region is None else self._tags(ctx, region)
        if region is None or tags is None:
            return None
        require_owned(self, f"{BUCKET.noun} {self.bucket_name}", tags)
        return Resource(self.bucket_name, {"Region": region, "Tags": tags})

    def observe(self, ctx: StepContext, region: str) -> dict[str, Any]:
        """Every setting of :data:`READINGS` as S3 reports it (None: not configured)."""
        seen: dict[str, Any] = {}
        for reading in READINGS:
            if reading.requires is not None and \
                    seen.get(reading.requires[0]) != reading.requires[1]:
                seen[reading.setting] = None
                continue
            reply = self._read(ctx, region, reading.operation, reading.missing)
            seen[reading.setting] = jmespath.search(reading.path, reply) if reply else None
        return seen

    # -- drift ---------------------------------------------------------------------
    def encryption_spellings(self, ctx: StepContext) -> tuple[str, ...]:
        """How S3 may report the wanted default encryption (summaries, the one to set first).

        SSE-S3 has no key, and a bucket key means nothing for it; a KMS key
        may be reported by its ARN or its id, always with the bucket key on.
        """
        if not self.kms_encrypted:
            return ("AES256", "AES256 +bucket-key")
        key_step = self.site.step("kms")
        return tuple(f"aws:kms {ctx.output(key_step, key)} +bucket-key"
                     for key in ("key_arn", "key_id"))

    #: Every managed setting, in the order plan lists them and apply converges
    #: them (versioning before replication: S3 refuses a replication rule on an
    #: unversioned bucket).  One converging method per ``PutBucket*`` call.
    FIELDS = (
        # A bucket cannot move: only replacing it would, which apply refuses for data.
        Field("region", lambda d: d["Region"], lambda s, ctx: s.region, effect="replace"),
        tags_row(_seen("Tags")),
        # Versioning can never be turned off again, only suspended: a bucket
        # that should not be versioned may read as never versioned (None) or
        # suspended; only "Enabled" is drift there.
        Field("versioning", _seen("versioning"),
              lambda s, ctx: ("Enabled",) if s.versioned else ("Suspended", None),
              compare="any_of", apply="put_versioning"),
        Field("encryption", _seen("encryption", encryption_summary),
              lambda s, ctx: s.encryption_spellings(ctx), compare="any_of",
              apply="put_encryption"),
        Field("public_access_block", _seen("public_access_block", _blocked),
              lambda s, ctx: _blocked(s.desired_public_access_block()),
              apply="put_public_access_block"),
        Field("object_ownership", _seen("object_ownership"),
              lambda s, ctx: s.bucket.object_ownership, apply="put_ownership_controls"),
        Field("lifecycle", _seen("lifecycle", canonical_lifecycle),
              lambda s, ctx: canonical_lifecycle(s.desired_lifecycle()), apply="put_lifecycle"),
        Field("policy", _seen("policy", policy_document),
              lambda s, ctx: canonical_policy(s.desired_policy(ctx)), apply="put_policy"),
        Field("replication", _seen("replication", canonical_replication),
              lambda s, ctx: canonical_replication(s.desired_replication(ctx)),
              apply="put_replication"),
        Field("access_logging", _seen("access_logging", _logging_view),
              lambda s, ctx: _logging_view(s.desired_logging()), apply="put_logging"),
    )

    #: How plan shows the settings compared in canonical form (rule summaries,
    #: statement ids, replication rules) rather than as whole documents.
    SHOWN: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "lifecycle": lifecycle_summary, "policy": policy_sids, "replication": replication_summary}

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        region = str(resource.data.get("Region", self.region))
        view: dict[str, Any] = {"Region": region}
        if region == self.region:  # a bucket elsewhere is not read: it can only be replaced
            view.update(Tags=resource.data.get("Tags", {}), **self.observe(ctx, region))
        shown = self.SHOWN
        return [replace(c, current=shown[c.field](c.current), desired=shown[c.field](c.desired))
                if c.field in shown else c for c in drift(self, ctx, view, self.FIELDS)]

    # -- converging: one method per PutBucket* call ---------------------------------
    def _put(self, ctx: StepContext, operation: str, **params: Any) -> None:
        call = getattr(self.s3(ctx), operation)
        SETTLING.call(f"{operation} {self.bucket_name}", call, Bucket=self.bucket_name, **params)

    def _merged_tags(self, resource: Resource) -> dict[str, str]:
        """The bucket's tags with ours set: PutBucketTagging replaces the whole set,
        so tags others added are sent back with ours."""
        return {**resource.data.get("Tags", {}), **self.tags()}

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """The table's order, except that a replication change goes first when versioning
        is to be suspended: S3 refuses to suspend versioning on a bucket that still has a
        replication configuration (and, the table's reason, a replication rule on an
        unversioned bucket)."""
        suspends = any(c.field == "versioning" and c.desired != "Enabled" for c in changes)
        first = [c for c in changes if suspends and c.field == "replication"]
        if first:
            converge(self, ctx, resource, first, self.FIELDS)
        converge(self, ctx, resource, [c for c in changes if c not in first], self.FIELDS)
        return Resource(self.bucket_name, {"Region": self.region,
                                           "Tags": self._merged_tags(resource)})

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        # S3 tagging is not a TagApi: the pairs sit inside Tagging={"TagSet": [...]}.
        self._put(ctx, "put_bucket_tagging",
                  Tagging={"TagSet": aws_tags(self._merged_tags(resource))})

    def put_versioning(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self._put(ctx, "put_bucket_versioning",
                  VersioningConfiguration={"Status": changes[0].desired})

    def put_encryption(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self._put(ctx, "put_bucket_encryption", ServerSideEncryptionConfiguration={
            "Rules": [self.desired_encryption(ctx)]})

    def put_public_access_block(self, ctx: StepContext, resource: Resource,
                                changes: list[Change]) -> None:
        block = self.desired_public_access_block()
        if any(block.values()):
            self._put(ctx, "put_public_access_block", PublicAccessBlockConfiguration=block)
        else:
            self._put(ctx, "delete_public_access_block")

    def put_ownership_controls(self, ctx: StepContext, resource: Resource,
                               changes: list[Change]) -> None:
        self._put(ctx, "put_bucket_ownership_controls", OwnershipControls={
            "Rules": [{"ObjectOwnership": self.bucket.object_ownership}]})

    def put_lifecycle(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        rules = self.desired_lifecycle()
        if rules:
            self._put(ctx, "put_bucket_lifecycle_configuration",
                      LifecycleConfiguration={"Rules": rules})
        else:
            self._put(ctx, "delete_bucket_lifecycle")

    def put_policy(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        document = self.desired_policy(ctx)
        if document is None:
            self._put(ctx, "delete_bucket_policy")
        else:
            self._put(ctx, "put_bucket_policy", Policy=json.dumps(document))

    def detach_changes(self, ctx: StepContext, resource: Resource,
                       gone: frozenset[str]) -> list[Change]:
        """Replication into a destination (or with a key) being destroyed is removed:
        S3 would fail every replication of new objects."""
        if not gone & set(self.depends_on()):
            return []
        reply = self._read(ctx, resource.data.get("Region", self.region), "get_bucket_replication",
                           NO_REPLICATION)
        current = (reply or {}).get("ReplicationConfiguration")
        if not isinstance(current, Mapping) or not current.get("Rules"):
            return []
        return [Change("replication", [r.get("ID") for r in current["Rules"]], None)]

    def detach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._put(ctx, "delete_bucket_replication")

    def put_replication(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        replication = self.desired_replication(ctx)
        if replication is None:
            self._put(ctx, "delete_bucket_replication")
        else:
            self._put(ctx, "put_bucket_replication", ReplicationConfiguration=replication)

    def put_logging(self, ctx: StepContext, resource: Resource,
                    changes: list[Change]) -> None:
        """An empty ``BucketLoggingStatus`` turns logging off (S3 API reference)."""
        enabled = self.desired_logging()
        self._put(ctx, "put_bucket_logging",
                  BucketLoggingStatus={"LoggingEnabled": enabled} if enabled else {})

    # -- lifecycle -------------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """Create the bucket with its tags, then converge every other setting.

        S3 has no idempotency token: the name is the key.  Tags ride on the
        create call itself, so a crash right after it leaves a bucket the
        next run recognises as ours.
        """
        configuration: dict[str, Any] = {"Tags": aws_tags(self.tags())}
        if self.region != LEGACY_DEFAULT_REGION:
            configuration["LocationConstraint"] = self.region
        try:
            NAME_RELEASING.call(f"create bucket {self.bucket_name}", self.s3(ctx).create_bucket,
                                Bucket=self.bucket_name, CreateBucketConfiguration=configuration,
                                ObjectOwnership=self.bucket.object_ownership)
        except aws_errors.ClientError as exc:
            code = error_code(exc)
            if code not in BUCKET.already_exists:
                raise
            if code == NAME_OF_ANOTHER_ACCOUNT:
                raise BucketNameTaken(
                    f"{self.name}: bucket name {self.bucket_name} is taken by another AWS "
                    "account (bucket names are global); set s3.name_suffix in the config "
                    "to make the names unique") from None
            # Ours already (created by a run that crashed, or by hand): adopt it
            # only if it carries our ownership tags.
            events.info("s3.bucket_exists", step=self.name, bucket=self.bucket_name)
            resource = until_found(f"bucket {self.bucket_name} in ListBuckets",
                                   lambda: self.lookup(ctx), deadline_s=60)
        else:
            ctx.wait("s3", "bucket_exists", budget_s=self.wait_budget_s, delay_s=2.0,
                     region=self.region, Bucket=self.bucket_name)
            tagging = SETTLING.call(f"get tags {self.bucket_name}", absent_on, NO_TAGS,
                                    self.s3(ctx).get_bucket_tagging, Bucket=self.bucket_name)
            resource = Resource(self.bucket_name, {
                "Region": self.region, "Tags": tag_map((tagging or {}).get("TagSet"))})
        changes = self.diff(ctx, resource)
        return self.update(ctx, resource, changes) if changes else resource

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete an empty bucket; refuse (with the count) if it holds anything.

        Any object version or delete marker counts: emptying a bucket is the
        operator's decision, never a side effect of destroy.
        """
        region = str(resource.data.get("Region", self.region))
        s3 = self.s3(ctx, region)
        listing = absent_on(BUCKET_GONE, s3.list_object_versions, Bucket=self.bucket_name,
                            MaxKeys=1000)
        if listing is None:
            return
        count = len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
        if count:
            more = "+" if listing.get("IsTruncated") else ""
            raise BucketNotEmpty(
                f"bucket {self.bucket_name} is not empty ({count}{more} object versions and "
                "delete markers); destroy never deletes data: empty it yourself (all "
                "versions), then rerun destroy")
        try:
            CONFLICTING.call(f"delete bucket {self.bucket_name}", s3.delete_bucket,
                             Bucket=self.bucket_name)
        except aws_errors.ClientError as exc:
            if error_code(exc) in BUCKET_GONE:
                return
            if error_code(exc) == "BucketNotEmpty":
                raise BucketNotEmpty(
                    f"bucket {self.bucket_name} is not empty (S3 refused the delete: data "
                    "arrived after the check); destroy never deletes data: empty it yourself "
                    "(all versions), then rerun destroy") from None
            raise
        ctx.wait("s3", "bucket_not_exists", budget_s=self.wait_budget_s, delay_s=2.0,
                 region=region, Bucket=self.bucket_name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": self.bucket_name, "bucket": self.bucket_name, "arn": self.arn,
                "regional_domain_name": f"{self.bucket_name}.s3.{self.region}.amazonaws.com",
                "region": self.region}


class ReplicaBucketStep(BucketStep):
    """The destination of a replicated bucket, in the DR region (``dr.s3.<key>``).

    Versioned (S3 requires it on both ends), encrypted with the DR region's
    replica key when the source is KMS-encrypted, blocked from the public and
    TLS-only like its source.  It carries the source's lifecycle rules too:
    expirations that lifecycle performs on the source are not replicated, so
    without them the copy would grow forever.  No kind-specific policy: only
    the replication role (same account, by its IAM policy) writes here.
    """

    @property
    def bucket_name(self) -> str:
        assert self.key is not None
        name = self.config.s3.replica_bucket_name(self.key)
        assert name is not None, "a replica step exists only for a replicated bucket"
        return name

    @property
    def versioned(self) -> bool:
        return True

    @property
    def replication(self) -> ReplicationConfig | None:
        return None

    @property
    def access_log_destination(self) -> tuple[str, str] | None:
        """The DR site's log bucket (``dr.logs_bucket``) when there is one: S3 delivers
        server access logs only within a region, so never the primary's."""
        name = self.config.dr_log_bucket_name()
        if name is None or self.config.s3.server_access_logs is None:
            return None
        logs = self.config.dr.logs_bucket
        assert logs is not None
        return self.site.step(f"s3.{logs.settings_of}"), name

    def depends_on(self) -> tuple[str, ...]:
        deps = [self.site.step("kms")] if self.kms_encrypted else []
        if self.access_log_destination is not None:
            deps.append(self.access_log_destination[0])
        return tuple(deps)

    def kind_statements(self, ctx: StepContext) -> list[dict[str, Any]]:
        return []


class DrLogBucketStep(BucketStep):
    """The DR site's log bucket (``dr.s3.<settings_of>``: ``vivr-logs-dr``), issue 12.

    ``s3.buckets.<settings_of>``'s settings in the DR region under
    ``dr.logs_bucket.name`` (its ``object_ownership`` may differ): the
    standby ALB writes its access logs here under its own prefix (the
    ``alb-log-delivery`` statement), and each replica bucket of the DR site
    its server access logs (one ``logging.s3.amazonaws.com`` statement per
    source, as on the primary's).
    It logs nowhere itself, and replicates nowhere.  Destroy follows the
    primary's rule: an empty bucket is deleted, one holding logs is refused
    with the count (emptying it is the operator's decision).
    """

    def __init__(self, config: PlatformConfig, *, site: Site) -> None:
        logs = config.dr.logs_bucket
        assert logs is not None, "built only with a dr.logs_bucket section"
        super().__init__(config, logs.settings_of, site=site)
        if logs.object_ownership is not None:
            self.bucket = self.bucket.model_copy(
                update={"object_ownership": logs.object_ownership})

    @property
    def bucket_name(self) -> str:
        name = self.config.dr_log_bucket_name()
        assert name is not None
        return name

    @property
    def replication(self) -> ReplicationConfig | None:
        return None

    @property
    def access_log_destination(self) -> tuple[str, str] | None:
        return None

    @property
    def alb_log_prefix(self) -> str:
        """The standby ALB's prefix (the primary's when there is no standby ALB)."""
        alb = self.config.dr.alb
        return alb.access_logs.prefix if alb is not None else super().alb_log_prefix

    def access_log_sources(self) -> list[tuple[str, str]]:
        """Every replica bucket of the DR site (each logs here, see ReplicaBucketStep)."""
        s3 = self.config.s3
        if s3.server_access_logs is None:
            return []
        return [(key, name) for key in s3.buckets
                if (name := s3.replica_bucket_name(key)) is not None]

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("kms"),) if self.kms_encrypted else ()


def shared_prefix(config: PlatformConfig) -> str:
    """The start every bucket name of ``config`` shares (``vivr-``), so one ListBuckets
    filtered on it (``Prefix``) finds all of ours without listing the whole account;
    empty when the names share none."""
    names = [step.bucket_name for step in s3_steps(config) if isinstance(step, BucketStep)]
    # Character by character, on purpose: a name prefix, not a path.
    return os.path.commonprefix(names) if names else ""  # noqa: RUF071


def s3_steps(config: PlatformConfig) -> list[Step]:
    """One step per bucket, one per replication destination in the DR region, and the
    DR site's log bucket when DR is on and has one."""
    steps: list[Step] = []
    site = dr_site(config)
    for key, bucket in config.s3.buckets.items():
        steps.append(BucketStep(config, key))
        if bucket.replication is not None:
            steps.append(ReplicaBucketStep(config, key, site=site))
    if config.dr_log_bucket_name() is not None:
        steps.append(DrLogBucketStep(config, site=site))
    return steps


__all__ = ["BucketStep", "DrLogBucketStep", "ReplicaBucketStep", "s3_steps", "shared_prefix"]
