"""S3 bucket drift from one field table: what S3 answers, what plan shows, what apply sends.

Each case is a bucket's ``GetBucket*`` replies (a converged bucket, with
some replies edited as someone changed the bucket by hand), a config
override, the changes plan lists and the exact ``PutBucket*`` /
``DeleteBucket*`` requests apply then sends, in order.  A reply given as a
string is the error code S3 answers for a configuration never set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import jmespath
import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.config import PlatformConfig, parse_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Change, Resource
from vivr_provision.steps.s3 import READINGS, BucketNotEmpty, BucketStep

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
DR_KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{KEY_ID}"
BACKUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/vivr-backup-role"
REPLICATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/vivr-s3-replication-role"
OUTPUTS = {"kms": {"key_arn": KEY_ARN, "key_id": KEY_ID},
           "dr.kms": {"key_arn": DR_KEY_ARN, "key_id": KEY_ID},
           "iam.backup_role": {"role_arn": BACKUP_ROLE},
           "iam.s3_replication_role": {"role_arn": REPLICATION_ROLE},
           "dr.s3.backups": {"bucket": "vivr-backups-dr"}}
ALL_BLOCKED = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
               "RestrictPublicBuckets"]
TLS_ONLY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*", "Resource": ["arn:aws:s3:::vivr-temp", "arn:aws:s3:::vivr-temp/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
TEMP_RULES = [{"ID": "cleanup", "Filter": {"Prefix": ""}, "Status": "Enabled",
               "Expiration": {"Days": 30},
               "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig, key: str, **override: Any) -> BucketStep:
    step = BucketStep(config, key)
    step.bucket = step.bucket.model_copy(update=override)
    return step


def _converged(step: BucketStep, aws: StubbedAws) -> dict[str, Any]:
    """The replies of a bucket built exactly as configured, by setting (READINGS)."""
    ctx = aws.context(step.config, OUTPUTS)
    policy, replication = step.desired_policy(ctx), step.desired_replication(ctx)
    return {
        "versioning": {"Status": "Enabled"} if step.versioned else {},
        "encryption": {"ServerSideEncryptionConfiguration": {
            "Rules": [step.desired_encryption(ctx)]}},
        "public_access_block": {
            "PublicAccessBlockConfiguration": step.desired_public_access_block()},
        "object_ownership": {"OwnershipControls": {
            "Rules": [{"ObjectOwnership": step.bucket.object_ownership}]}},
        "lifecycle": {"Rules": step.desired_lifecycle()} if step.desired_lifecycle()
        else "NoSuchLifecycleConfiguration",
        "policy": {"Policy": json.dumps(policy)} if policy else "NoSuchBucketPolicy",
        "replication": {"ReplicationConfiguration": replication} if replication
        else "ReplicationConfigurationNotFoundError",
        "access_logging": {"LoggingEnabled": step.desired_logging()}
        if step.desired_logging() else {},
    }


def _announce_reads(aws: StubbedAws, step: BucketStep, replies: Mapping[str, Any]) -> None:
    """The ``GetBucket*`` calls the step makes: not GetBucketReplication on a bucket
    whose versioning is not enabled (S3 holds no replication there)."""
    seen: dict[str, Any] = {}
    for reading in READINGS:
        if reading.requires is not None and seen.get(reading.requires[0]) != reading.requires[1]:
            continue
        reply, params = replies[reading.setting], {"Bucket": step.bucket_name}
        seen[reading.setting] = None if isinstance(reply, str) else \
            jmespath.search(reading.path, reply)
        if isinstance(reply, str):
            aws.expect_error("s3", reading.operation, reply, params=params, status=404)
        else:
            aws.expect("s3", reading.operation, reply, params)


def _shown(changes: list[Change]) -> list[tuple[str, Any, Any]]:
    return [(c.field, c.current, c.desired) for c in changes]


class Case(NamedTuple):
    bucket: str
    #: BucketConfig fields the config sets otherwise.
    override: dict[str, Any]
    #: Replies that differ from a converged bucket's, by setting.
    replies: dict[str, Any]
    expected: list[tuple[str, Any, Any]]
    #: (operation, exact params without Bucket) apply sends, in order.
    requests: list[tuple[str, dict[str, Any]]]


CASES = {
    "converged": Case("temp", {}, {}, [], []),
    "access logging turned off by hand is turned on again": Case(
        "temp", {}, {"access_logging": {}},
        [("access_logging", None, ["vivr-logs", "s3/vivr-temp/"])],
        [("put_bucket_logging", {"BucketLoggingStatus": {"LoggingEnabled": {
            "TargetBucket": "vivr-logs", "TargetPrefix": "s3/vivr-temp/"}}})]),
    "access logs sent elsewhere by hand come back to the logs bucket": Case(
        "assets", {}, {"access_logging": {"LoggingEnabled": {
            "TargetBucket": "someone-elses", "TargetPrefix": ""}}},
        [("access_logging", ["someone-elses", ""], ["vivr-logs", "s3/vivr-assets/"])],
        [("put_bucket_logging", {"BucketLoggingStatus": {"LoggingEnabled": {
            "TargetBucket": "vivr-logs", "TargetPrefix": "s3/vivr-assets/"}}})]),
    "the logs bucket logging into itself is turned off": Case(
        "logs", {}, {"access_logging": {"LoggingEnabled": {
            "TargetBucket": "vivr-logs", "TargetPrefix": "s3/vivr-logs/"}}},
        [("access_logging", ["vivr-logs", "s3/vivr-logs/"], None)],
        [("put_bucket_logging", {"BucketLoggingStatus": {}})]),
    "versioning suspended by hand is enabled again": Case(
        "assets", {}, {"versioning": {"Status": "Suspended"}},
        [("versioning", "Suspended", "Enabled")],
        [("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}})]),
    "a never-versioned bucket that should not be is left alone": Case(
        "temp", {}, {"versioning": {}}, [], []),
    "a suspended bucket that should not be versioned is left alone": Case(
        "temp", {}, {"versioning": {"Status": "Suspended"}}, [], []),
    "versioning enabled where unwanted can only be suspended": Case(
        "temp", {}, {"versioning": {"Status": "Enabled"}},
        [("versioning", "Enabled", "Suspended")],
        [("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Suspended"}})]),
    "a bucket key means nothing for SSE-S3": Case(
        "temp", {}, {"encryption": {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
             "BucketKeyEnabled": True}]}}}, [], []),
    "no default encryption": Case(
        "temp", {}, {"encryption": "ServerSideEncryptionConfigurationNotFoundError"},
        [("encryption", None, "AES256")],
        [("put_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}})]),
    "the platform key by its id is the same key": Case(
        "backups", {}, {"encryption": {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": KEY_ID},
             "BucketKeyEnabled": True}]}}}, [], []),
    "a KMS bucket without its bucket key": Case(
        "backups", {}, {"encryption": {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": KEY_ARN}}]}}},
        [("encryption", f"aws:kms {KEY_ARN}", f"aws:kms {KEY_ARN} +bucket-key")],
        [("put_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": KEY_ARN},
             "BucketKeyEnabled": True}]}})]),
    "public access block removed": Case(
        "temp", {}, {"public_access_block": "NoSuchPublicAccessBlockConfiguration"},
        [("public_access_block", [], ALL_BLOCKED)],
        [("put_public_access_block", {"PublicAccessBlockConfiguration": dict.fromkeys(
            ALL_BLOCKED, True)})]),
    "a block the config no longer wants is deleted": Case(
        "temp", {"block_public_access": False},
        {"public_access_block": {"PublicAccessBlockConfiguration": dict.fromkeys(
            ALL_BLOCKED, True)}},
        [("public_access_block", ALL_BLOCKED, [])], [("delete_public_access_block", {})]),
    "object ownership changed": Case(
        "temp", {}, {"object_ownership": {"OwnershipControls": {
            "Rules": [{"ObjectOwnership": "ObjectWriter"}]}}},
        [("object_ownership", "ObjectWriter", "BucketOwnerEnforced")],
        [("put_bucket_ownership_controls", {"OwnershipControls": {
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}})]),
    "the legacy Prefix spelling of a rule is the same rule": Case(
        "temp", {}, {"lifecycle": {"Rules": [
            {**{k: v for k, v in TEMP_RULES[0].items() if k != "Filter"}, "Prefix": ""}]}},
        [], []),
    "lifecycle deleted by hand": Case(
        "temp", {}, {"lifecycle": "NoSuchLifecycleConfiguration"},
        [("lifecycle", [], ["cleanup: expire 30d, abort multipart 7d"])],
        [("put_bucket_lifecycle_configuration", {"LifecycleConfiguration": {
            "Rules": TEMP_RULES}})]),
    # The summary is the same: the comparison is of the whole rule, not of what plan shows.
    "a tag added to a rule's filter": Case(
        "temp", {}, {"lifecycle": {"Rules": [
            {**TEMP_RULES[0], "Filter": {"And": {"Prefix": "", "Tags": [
                {"Key": "keep", "Value": "no"}]}}}]}},
        [("lifecycle", ["cleanup: expire 30d, abort multipart 7d"],
          ["cleanup: expire 30d, abort multipart 7d"])],
        [("put_bucket_lifecycle_configuration", {"LifecycleConfiguration": {
            "Rules": TEMP_RULES}})]),
    "rules the config no longer has are deleted": Case(
        "temp", {"lifecycle_rules": []}, {"lifecycle": {"Rules": TEMP_RULES}},
        [("lifecycle", ["cleanup: expire 30d, abort multipart 7d"], [])],
        [("delete_bucket_lifecycle", {})]),
    "a hand-made policy is replaced": Case(
        "temp", {}, {"policy": {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "HandMade", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vivr-temp/*"}]})}},
        [("policy", ["HandMade"], ["DenyInsecureTransport"])],
        [("put_bucket_policy", {"Policy": json.dumps(
            {"Version": "2012-10-17", "Statement": [TLS_ONLY]})})]),
    "one-element lists may come back as strings": Case(
        "temp", {}, {"policy": {"Policy": json.dumps({"Version": "2012-10-17", "Statement": {
            **TLS_ONLY, "Action": ["s3:*"],
            "Condition": {"Bool": {"aws:SecureTransport": ["false"]}}}})}}, [], []),
    "a policy the config no longer wants is deleted": Case(
        "temp", {"deny_insecure_transport": False},
        {"policy": {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [TLS_ONLY]})}},
        [("policy", ["DenyInsecureTransport"], None)], [("delete_bucket_policy", {})]),
    "replication removed by hand": Case(
        "backups", {}, {"replication": "ReplicationConfigurationNotFoundError"},
        [("replication", None, [
            "replicate-to-us-west-2 -> arn:aws:s3:::vivr-backups-dr "
            "(delete markers Enabled, SSE-KMS objects Enabled)"])],
        [("put_bucket_replication", {"ReplicationConfiguration": {
            "Role": REPLICATION_ROLE, "Rules": [{
                "ID": "replicate-to-us-west-2", "Priority": 1, "Status": "Enabled",
                "Filter": {"Prefix": ""}, "DeleteMarkerReplication": {"Status": "Enabled"},
                "Destination": {"Bucket": "arn:aws:s3:::vivr-backups-dr",
                                "StorageClass": "STANDARD",
                                "EncryptionConfiguration": {"ReplicaKmsKeyID": DR_KEY_ARN}},
                "SourceSelectionCriteria": {
                    "SseKmsEncryptedObjects": {"Status": "Enabled"}}}]}})]),
    "replication the config no longer has is deleted": Case(
        "assets", {}, {"replication": {"ReplicationConfiguration": {
            "Role": REPLICATION_ROLE, "Rules": [{
                "ID": "copy", "Status": "Enabled", "Prefix": "",
                "Destination": {"Bucket": "arn:aws:s3:::elsewhere"}}]}}},
        [("replication", ["copy -> arn:aws:s3:::elsewhere (delete markers Disabled, "
                          "SSE-KMS objects Disabled)"], None)],
        [("delete_bucket_replication", {})]),
    # What tests/e2e/test_storage.py's hand-made drift did to the sandbox's buckets.
    "hand-made drift: versioning suspended and a policy replaced": Case(
        "assets", {}, {"versioning": {"Status": "Suspended"},
                       "policy": {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
                           "Sid": "HandMade", "Effect": "Allow",
                           "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                           "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::vivr-assets/*"}]})}},
        [("versioning", "Suspended", "Enabled"),
         ("policy", ["HandMade"], ["DenyInsecureTransport", "CloudFrontReadObjects"])],
        [("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}}),
         ("put_bucket_policy", {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
             {"Sid": "CloudFrontReadObjects", "Effect": "Allow",
              "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::vivr-assets/*",
              "Condition": {"ArnLike": {
                  "AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/*"}}},
             {**TLS_ONLY, "Resource": ["arn:aws:s3:::vivr-assets",
                                       "arn:aws:s3:::vivr-assets/*"]}]})})]),
    "hand-made drift: the logs bucket's lifecycle deleted": Case(
        "logs", {}, {"lifecycle": "NoSuchLifecycleConfiguration"},
        [("lifecycle", [], ["archive: GLACIER@30d, expire 90d, noncurrent 7d"])],
        [("put_bucket_lifecycle_configuration", {"LifecycleConfiguration": {"Rules": [
            {"ID": "archive", "Filter": {"Prefix": ""}, "Status": "Enabled",
             "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
             "Expiration": {"Days": 90},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}]}})]),
    # Both dropped from the config: S3 refuses to suspend versioning while replication
    # is configured, so apply deletes the replication first.
    "versioning and replication dropped: replication goes first": Case(
        "backups", {"versioning": False, "replication": None}, {},
        [("versioning", "Enabled", "Suspended"),
         ("replication", ["replicate-to-us-west-2 -> arn:aws:s3:::vivr-backups-dr "
                          "(delete markers Enabled, SSE-KMS objects Enabled)"], None)],
        [("delete_bucket_replication", {}),
         ("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Suspended"}})]),
    # Plan order is the table's; apply converges versioning before replication,
    # which S3 refuses on an unversioned bucket.
    "several settings at once, versioning before replication": Case(
        "backups", {}, {"versioning": {"Status": "Suspended"},
                        "replication": "ReplicationConfigurationNotFoundError",
                        "object_ownership": "OwnershipControlsNotFoundError"},
        [("versioning", "Suspended", "Enabled"),
         ("object_ownership", None, "BucketOwnerPreferred"),
         ("replication", None, [
             "replicate-to-us-west-2 -> arn:aws:s3:::vivr-backups-dr "
             "(delete markers Enabled, SSE-KMS objects Enabled)"])],
        [("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}}),
         ("put_bucket_ownership_controls", {"OwnershipControls": {
             "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}}),
         ("put_bucket_replication", {"ReplicationConfiguration": {
             "Role": REPLICATION_ROLE, "Rules": [{
                 "ID": "replicate-to-us-west-2", "Priority": 1, "Status": "Enabled",
                 "Filter": {"Prefix": ""}, "DeleteMarkerReplication": {"Status": "Enabled"},
                 "Destination": {"Bucket": "arn:aws:s3:::vivr-backups-dr",
                                 "StorageClass": "STANDARD",
                                 "EncryptionConfiguration": {"ReplicaKmsKeyID": DR_KEY_ARN}},
                 "SourceSelectionCriteria": {
                     "SseKmsEncryptedObjects": {"Status": "Enabled"}}}]}})]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bucket_drift(config: PlatformConfig, case: Case) -> None:
    step = _step(config, case.bucket, **case.override)
    resource = Resource(step.bucket_name, {"Region": "us-east-1", "Tags": step.tags()})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        _announce_reads(aws, step, {**_converged(_step(config, case.bucket), aws),
                                    **case.replies})
        changes = step.diff(ctx, resource)
        assert _shown(changes) == case.expected
        for operation, params in case.requests:
            aws.expect("s3", operation, {}, {"Bucket": step.bucket_name, **params})
        if changes:
            step.update(ctx, resource, changes)


def test_tags_are_put_back_with_the_ones_others_added(config: PlatformConfig) -> None:
    """PutBucketTagging replaces the whole set: a tag someone else added survives."""
    step = _step(config, "temp")
    theirs = {"team": "data", "Project": "other"}
    resource = Resource(step.bucket_name, {"Region": "us-east-1", "Tags": theirs})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        _announce_reads(aws, step, _converged(step, aws))
        changes = step.diff(ctx, resource)
        assert [c.field for c in changes] == ["tags"]
        assert changes[0].current == {k: theirs.get(k) for k in step.tags()}
        merged = {"team": "data", **step.tags()}
        aws.expect("s3", "put_bucket_tagging", {}, {"Bucket": "vivr-temp", "Tagging": {
            "TagSet": [{"Key": k, "Value": v} for k, v in sorted(merged.items())]}})
        updated = step.update(ctx, resource, changes)
    assert updated.data == {"Region": "us-east-1", "Tags": merged}


@pytest.mark.parametrize("versioning", [{}, {"Status": "Suspended"}],
                         ids=["never versioned", "versioning suspended"])
def test_replication_is_not_asked_of_a_bucket_without_versioning_enabled(
        config: PlatformConfig, versioning: dict[str, str]) -> None:
    """S3 keeps replication only on a versioning-enabled bucket: elsewhere no
    GetBucketReplication is made (the stubs hold none) and replication reads as None,
    what that call gives a bucket without replication."""
    step = _step(config, "temp")
    with StubbedAws() as aws:
        replies = {**_converged(step, aws), "versioning": versioning}
        for reading in READINGS:
            reply = replies[reading.setting]
            if reading.operation == "get_bucket_replication":
                continue
            if isinstance(reply, str):
                aws.expect_error("s3", reading.operation, reply,
                                 params={"Bucket": "vivr-temp"}, status=404)
            else:
                aws.expect("s3", reading.operation, reply, {"Bucket": "vivr-temp"})
        skipped = step.observe(aws.context(config, OUTPUTS), "us-east-1")
    with StubbedAws() as aws:  # the same bucket versioned: every setting is asked
        _announce_reads(aws, step, {**replies, "versioning": {"Status": "Enabled"}})
        asked = step.observe(aws.context(config, OUTPUTS), "us-east-1")
    assert skipped["replication"] is None and asked["replication"] is None
    assert {**skipped, "versioning": "Enabled"} == asked


def test_replication_is_asked_of_a_versioned_bucket(config: PlatformConfig) -> None:
    """A bucket that should not replicate is still read: replication made by hand shows."""
    step = _step(config, "assets")
    made = {"Role": REPLICATION_ROLE, "Rules": [
        {"ID": "copy", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "arn:aws:s3:::elsewhere"}}]}
    with StubbedAws() as aws:
        replies = {**_converged(step, aws), "replication": {"ReplicationConfiguration": made}}
        _announce_reads(aws, step, replies)
        seen = step.observe(aws.context(config, OUTPUTS), "us-east-1")
    assert seen["versioning"] == "Enabled" and seen["replication"] == made


def test_a_bucket_in_another_region_is_a_replacement_and_is_not_read(
        config: PlatformConfig) -> None:
    step = _step(config, "temp")
    resource = Resource(step.bucket_name, {"Region": "us-west-2", "Tags": {}})
    with StubbedAws() as aws:  # no Get call: nothing but the region is compared
        changes = step.diff(aws.context(config, OUTPUTS), resource)
    assert changes == [Change("region", "us-west-2", "us-east-1", replace=True)]


def test_the_logs_bucket_admits_s3_log_delivery_per_source_bucket_and_account(
        config: PlatformConfig) -> None:
    """S3 User Guide, "Enabling Amazon S3 server access logging": bucket-policy delivery."""
    step = BucketStep(config, "logs")
    with StubbedAws() as aws:
        policy = step.desired_policy(aws.context(config, OUTPUTS))
    assert policy is not None
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert sorted(s for s in statements if s.startswith("S3ServerAccessLogs")) == [
        "S3ServerAccessLogsAssets", "S3ServerAccessLogsBackups", "S3ServerAccessLogsTemp"]
    assert statements["S3ServerAccessLogsTemp"] == {
        "Sid": "S3ServerAccessLogsTemp", "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::vivr-logs/s3/vivr-temp/*",
        "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::vivr-temp"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}}
    # The ALB's delivery and the TLS-only deny are still there.
    assert {"AlbAccessLogDelivery", "DenyInsecureTransport"} <= set(statements)


def test_sources_follow_their_site_s_log_bucket(config: PlatformConfig) -> None:
    """S3 delivers server access logs only within a region: the primary's buckets log
    into vivr-logs, the DR replica into the DR site's own log bucket (issue 12)."""
    steps = {s.name: s for s in build_steps(config) if isinstance(s, BucketStep)}
    assert {n for n, s in steps.items() if "s3.logs" in s.depends_on()} == \
        {"s3.assets", "s3.backups", "s3.temp"}
    assert {n for n, s in steps.items() if "dr.s3.logs" in s.depends_on()} == {"dr.s3.backups"}
    assert "s3.logs" not in steps["s3.logs"].depends_on()
    assert steps["dr.s3.logs"].depends_on() == ()
    replica = steps["dr.s3.backups"]
    assert replica.desired_logging() == {"TargetBucket": "vivr-logs-dr",
                                         "TargetPrefix": "s3/vivr-backups-dr/"}
    assert steps["dr.s3.logs"].desired_logging() is None, "a log bucket logs nowhere"
    with StubbedAws() as aws:
        policy = replica.desired_policy(aws.context(config, OUTPUTS))
    assert policy is not None and [s["Sid"] for s in policy["Statement"]] == \
        ["DenyInsecureTransport"]


def test_the_dr_log_bucket_has_the_logs_bucket_s_settings_in_the_dr_region(
        config: PlatformConfig) -> None:
    steps = {s.name: s for s in build_steps(config) if isinstance(s, BucketStep)}
    primary, dr = steps["s3.logs"], steps["dr.s3.logs"]
    assert (dr.bucket_name, dr.region, dr.arn) == \
        ("vivr-logs-dr", "us-west-2", "arn:aws:s3:::vivr-logs-dr")
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        assert dr.desired_encryption(ctx) == primary.desired_encryption(ctx) == {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        policy = dr.desired_policy(ctx)
    assert dr.versioned and dr.desired_replication(ctx) is None
    assert dr.desired_public_access_block() == dict.fromkeys(ALL_BLOCKED, True)
    # ACLs off (dr.logs_bucket.object_ownership): vivr-logs keeps them for CloudFront only.
    assert (primary.bucket.object_ownership, dr.bucket.object_ownership) == \
        ("BucketOwnerPreferred", "BucketOwnerEnforced")
    assert dr.desired_lifecycle() == primary.desired_lifecycle()
    assert policy is not None
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {"AlbAccessLogDelivery", "S3ServerAccessLogsBackups",
                               "DenyInsecureTransport"}
    # The standby ALB's prefix; the service principal only, no ELB account (no grant
    # to another AWS account).
    assert statements["AlbAccessLogDelivery"] == {
        "Sid": "AlbAccessLogDelivery", "Effect": "Allow",
        "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::vivr-logs-dr/alb/AWSLogs/{ACCOUNT}/*"}
    assert statements["S3ServerAccessLogsBackups"] == {
        "Sid": "S3ServerAccessLogsBackups", "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::vivr-logs-dr/s3/vivr-backups-dr/*",
        "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::vivr-backups-dr"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}}
    assert statements["DenyInsecureTransport"]["Resource"] == [
        "arn:aws:s3:::vivr-logs-dr", "arn:aws:s3:::vivr-logs-dr/*"]


def test_no_alb_log_policy_grants_another_account(config: PlatformConfig) -> None:
    """ELB User Guide, "Enable access logs", step 2: the service principal in every
    region; the per-region ELB account (127311923021 in us-east-1) is the legacy form."""
    steps = [s for s in build_steps(config) if isinstance(s, BucketStep)]
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        principals = [st["Principal"] for step in steps
                      for st in (step.desired_policy(ctx) or {}).get("Statement", [])]
    assert principals and not [p for p in principals if isinstance(p, dict) and "AWS" in p
                               and "vivr-backup-role" not in str(p["AWS"])]


def test_the_dr_replica_s_logging_turned_off_by_hand_is_turned_on_again(
        config: PlatformConfig) -> None:
    replica = next(s for s in build_steps(config)
                   if isinstance(s, BucketStep) and s.name == "dr.s3.backups")
    resource = Resource(replica.bucket_name, {"Region": "us-west-2", "Tags": replica.tags()})
    with StubbedAws(region="us-west-2") as aws:
        ctx = aws.context(config, OUTPUTS)
        _announce_reads(aws, replica, {**_converged(replica, aws), "access_logging": {}})
        changes = replica.diff(ctx, resource)
        assert _shown(changes) == [
            ("access_logging", None, ["vivr-logs-dr", "s3/vivr-backups-dr/"])]
        aws.expect("s3", "put_bucket_logging", {}, {
            "Bucket": "vivr-backups-dr", "BucketLoggingStatus": {"LoggingEnabled": {
                "TargetBucket": "vivr-logs-dr", "TargetPrefix": "s3/vivr-backups-dr/"}}})
        replica.update(ctx, resource, changes)


def test_an_access_log_target_encrypted_with_kms_is_refused() -> None:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["s3"]["server_access_logs"]["bucket"] = "backups"
    with pytest.raises(ConfigError, match="only into a bucket encrypted with SSE-S3"):
        parse_config(data, "production.yaml")


def test_destroy_keeps_a_dr_log_bucket_holding_logs_as_the_primary_s(
        config: PlatformConfig) -> None:
    """The primary's rule: an empty bucket is deleted, one holding logs (on AWS at least
    the ALB's ELBAccessLogTestFile) is refused with its name and count, in its region."""
    dr = next(s for s in build_steps(config) if s.name == "dr.s3.logs")
    resource = Resource("vivr-logs-dr", {"Region": "us-west-2", "Tags": dr.tags()})
    listing = {"Versions": [{"Key": "alb/AWSLogs/123456789012/ELBAccessLogTestFile",
                             "VersionId": "v1"}], "IsTruncated": False}
    with StubbedAws(region="us-west-2") as aws:
        aws.expect("s3", "list_object_versions", listing,
                   {"Bucket": "vivr-logs-dr", "MaxKeys": 1000})
        with pytest.raises(BucketNotEmpty, match=r"bucket vivr-logs-dr is not empty \(1 "):
            dr.delete(aws.context(config, OUTPUTS), resource)
