"""S3 buckets through the real CLI: the spec's four buckets and the backups' DR replica.

Expected values are the spec's ("Storage / S3 Buckets", the CloudFront
"Logging" and ALB "Access logs" lines), written here rather than read from
config, so a wrong config fails.  Settings are read back with boto3; what the
emulator does not keep is checked in the request the tool sent
(``aws.requests``), which is what real AWS would receive.  Drift rules (a
setting changed by hand, what plan shows, the Put calls that repair it) are
proven in tests/unit/test_s3_drift.py; a re-apply here shows every setting
round-trips through the sandbox as converged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

BUCKETS = ("vivr-assets", "vivr-backups", "vivr-logs", "vivr-temp")
REPLICA, DR_REGION = "vivr-backups-dr", "us-west-2"
#: The DR site's log bucket (issue 12): the replica's server access logs stay in us-west-2.
DR_LOGS = "vivr-logs-dr"
S3_STEPS = ("s3.assets", "s3.backups", "s3.logs", "s3.temp")
ALL_S3_STEPS = {*S3_STEPS, "dr.s3.backups", "dr.s3.logs"}
TARGETS = [arg for step in S3_STEPS for arg in ("--target", step)]
PUBLIC_ACCESS_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                         "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
#: Spec lifecycle rules, as (transitions, expiration, noncurrent expiration, abort multipart).
SPEC_LIFECYCLE = {
    "vivr-assets": ([], None, 30, None),               # delete non-current versions after 30 d
    # Glacier after 90 d, expire 1 year; versioned, so the expired (non-current)
    # versions go too, 30 days later (without it S3 keeps them forever)
    "vivr-backups": ([(90, "GLACIER")], 365, 30, None),
    # Glacier after 30 d, expire after 90 d; non-current versions a week later
    "vivr-logs": ([(30, "GLACIER")], 90, 7, None),
    "vivr-temp": ([], 30, None, 7),                     # multipart 7 d, all objects 30 d
}
ELB_LOG_DELIVERY = {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}


def _error(call: Any, **params: Any) -> str:
    try:
        call(**params)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "no error"


def _policy(aws: Aws, bucket: str, region: str = "us-east-1") -> dict[str, Any]:
    return dict(json.loads(aws.client("s3", region).get_bucket_policy(Bucket=bucket)["Policy"]))


def _statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Effect"] + ":" + json.dumps(s["Principal"], sort_keys=True): s
            for s in document["Statement"]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _assert_tls_only(document: dict[str, Any], bucket: str) -> None:
    denies = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1, document
    deny = denies[0]
    assert deny["Principal"] == "*" and _as_list(deny["Action"]) == ["s3:*"]
    assert sorted(_as_list(deny["Resource"])) == [f"arn:aws:s3:::{bucket}",
                                                  f"arn:aws:s3:::{bucket}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _lifecycle(aws: Aws, bucket: str, region: str = "us-east-1"
               ) -> tuple[list[tuple[int, str]], int | None, int | None, int | None]:
    rules = aws.client("s3", region).get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(rules) == 1 and rules[0]["Status"] == "Enabled"
    rule = rules[0]
    assert rule.get("Filter", {}).get("Prefix", "") == "", "applies to the whole bucket"
    return ([(t["Days"], t["StorageClass"]) for t in rule.get("Transitions", [])],
            rule.get("Expiration", {}).get("Days"),
            rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
            rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"))


def _encryption(aws: Aws, bucket: str, region: str = "us-east-1") -> dict[str, Any]:
    rules = aws.client("s3", region).get_bucket_encryption(
        Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert len(rules) == 1
    return dict(rules[0])


def _bucket_names(aws: Aws) -> set[str]:
    return {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}


def test_plan_on_a_fresh_account_creates_every_bucket(aws: Aws) -> None:
    code, report = aws.cli_json("plan", *TARGETS)
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert set(actions) >= ALL_S3_STEPS
    assert {actions[s] for s in ALL_S3_STEPS} == {"create"}
    assert aws.mutating_calls() == []


def test_apply_builds_the_buckets_as_the_spec_says(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, report
    s3, account = aws.client("s3"), aws.account
    assert set(BUCKETS) | {REPLICA} <= _bucket_names(aws)

    for bucket in BUCKETS:
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (None, "us-east-1")
        assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] \
            == PUBLIC_ACCESS_BLOCKED, bucket
        assert _lifecycle(aws, bucket) == SPEC_LIFECYCLE[bucket], bucket
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        assert {k: tags.get(k) for k in ("Project", "Environment", "ManagedBy", "Name")} == {
            "Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision",
            "Name": bucket}
        _assert_tls_only(_policy(aws, bucket), bucket)

    # Versioning: enabled on all but temp ("Versioning: Disabled" = never enabled).
    for bucket in ("vivr-assets", "vivr-backups", "vivr-logs"):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert "Status" not in s3.get_bucket_versioning(Bucket="vivr-temp")

    # Encryption: AES-256 / SSE-S3 everywhere but backups, which uses the platform key.
    key = aws.client("kms").describe_key(KeyId="alias/vivr-production")["KeyMetadata"]
    for bucket in ("vivr-assets", "vivr-logs", "vivr-temp"):
        default = _encryption(aws, bucket)["ApplyServerSideEncryptionByDefault"]
        assert default == {"SSEAlgorithm": "AES256"}, bucket
    backups = _encryption(aws, "vivr-backups")
    assert backups["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}
    assert backups["BucketKeyEnabled"] is True

    # Assets: CloudFront (origin access) may read objects, only for this account's distributions.
    assets = _statements(_policy(aws, "vivr-assets"))
    cloudfront = assets['Allow:{"Service": "cloudfront.amazonaws.com"}']
    assert _as_list(cloudfront["Action"]) == ["s3:GetObject"]
    assert _as_list(cloudfront["Resource"]) == ["arn:aws:s3:::vivr-assets/*"]
    assert cloudfront["Condition"] == {"ArnLike": {
        "AWS:SourceArn": f"arn:aws:cloudfront::{account}:distribution/*"}}

    # Backups: restricted to the backup service role.
    role = aws.client("iam").get_role(RoleName="vivr-backup-role")["Role"]["Arn"]
    backup_policy = _statements(_policy(aws, "vivr-backups"))
    grant = backup_policy[f'Allow:{{"AWS": "{role}"}}']
    assert sorted(_as_list(grant["Action"])) == ["s3:GetObject", "s3:PutObject"]
    assert _as_list(grant["Resource"]) == ["arn:aws:s3:::vivr-backups/*"]
    assert len(backup_policy) == 2, "nothing but the role grant and the TLS deny"

    # Logs: ALB access-log delivery (ELB's service principal, no other account: the
    # per-region ELB account is AWS's legacy form) may write under alb/AWSLogs/<account>/;
    # CloudFront standard logging writes through ACLs, so ACLs must not be disabled.
    logs = _policy(aws, "vivr-logs")
    [alb_delivery] = [s for s in logs["Statement"] if s["Principal"] == ELB_LOG_DELIVERY]
    assert _as_list(alb_delivery["Action"]) == ["s3:PutObject"]
    assert _as_list(alb_delivery["Resource"]) == [f"arn:aws:s3:::vivr-logs/alb/AWSLogs/{account}/*"]
    assert not [s for s in logs["Statement"] if "AWS" in s["Principal"]]
    ownership = s3.get_bucket_ownership_controls(Bucket="vivr-logs")["OwnershipControls"]
    assert ownership["Rules"][0]["ObjectOwnership"] != "BucketOwnerEnforced"

    # Temp: no policy but the TLS deny.
    assert len(_policy(aws, "vivr-temp")["Statement"]) == 1

    # Server access logging (issue 12): each bucket but the logs bucket into
    # vivr-logs under s3/<bucket>/, admitted per source bucket and account.
    for bucket in ("vivr-assets", "vivr-backups", "vivr-temp"):
        assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == {
            "TargetBucket": "vivr-logs", "TargetPrefix": f"s3/{bucket}/"}, bucket
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="vivr-logs")
    # S3 delivers access logs within a region only: the replica logs into the DR
    # site's log bucket, which logs nowhere itself.
    west = aws.client("s3", DR_REGION)
    assert west.get_bucket_logging(Bucket=REPLICA)["LoggingEnabled"] == {
        "TargetBucket": DR_LOGS, "TargetPrefix": f"s3/{REPLICA}/"}
    assert "LoggingEnabled" not in west.get_bucket_logging(Bucket=DR_LOGS)
    delivery = {s["Resource"]: s["Condition"] for s in _policy(aws, "vivr-logs")["Statement"]
                if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}}
    assert delivery == {f"arn:aws:s3:::vivr-logs/s3/{b}/*": {
        "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{b}"},
        "StringEquals": {"aws:SourceAccount": account}}
        for b in ("vivr-assets", "vivr-backups", "vivr-temp")}

    # The DR site's log bucket: vivr-logs' settings in us-west-2 (ACLs off), and a policy that
    # admits the standby ALB (its prefix alb/) and the replica's S3 log delivery.
    assert west.get_bucket_location(Bucket=DR_LOGS)["LocationConstraint"] == DR_REGION
    assert west.get_bucket_versioning(Bucket=DR_LOGS)["Status"] == "Enabled"
    assert _encryption(aws, DR_LOGS, DR_REGION)["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}, "ALB access logs support SSE-S3 only"
    assert west.get_public_access_block(Bucket=DR_LOGS)["PublicAccessBlockConfiguration"] \
        == PUBLIC_ACCESS_BLOCKED
    # ACLs disabled: no CloudFront logs here, ALB and S3 delivery go by the policy.
    assert west.get_bucket_ownership_controls(Bucket=DR_LOGS)["OwnershipControls"][
        "Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert _lifecycle(aws, DR_LOGS, DR_REGION) == SPEC_LIFECYCLE["vivr-logs"]
    dr_tags = {t["Key"]: t["Value"] for t in west.get_bucket_tagging(Bucket=DR_LOGS)["TagSet"]}
    assert (dr_tags["ManagedBy"], dr_tags["Name"]) == ("vivr-provision", DR_LOGS)
    dr_logs = _policy(aws, DR_LOGS, DR_REGION)
    _assert_tls_only(dr_logs, DR_LOGS)
    assert {json.dumps(s["Principal"], sort_keys=True): (s["Resource"], s.get("Condition"))
            for s in dr_logs["Statement"] if s["Effect"] == "Allow"} == {
        json.dumps(ELB_LOG_DELIVERY): (f"arn:aws:s3:::{DR_LOGS}/alb/AWSLogs/{account}/*", None),
        '{"Service": "logging.s3.amazonaws.com"}': (
            f"arn:aws:s3:::{DR_LOGS}/s3/{REPLICA}/*",
            {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{REPLICA}"},
             "StringEquals": {"aws:SourceAccount": account}})}

    # Backups replicate to us-west-2: the destination exists there, versioned,
    # encrypted with the DR replica of the platform key.
    assert west.get_bucket_location(Bucket=REPLICA)["LocationConstraint"] == DR_REGION
    assert west.get_bucket_versioning(Bucket=REPLICA)["Status"] == "Enabled"
    dr_key = aws.client("kms", DR_REGION).describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert dr_key["Arn"].split(":")[3] == DR_REGION
    assert _encryption(aws, REPLICA, DR_REGION)["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": dr_key["Arn"]}
    assert west.get_public_access_block(Bucket=REPLICA)["PublicAccessBlockConfiguration"] \
        == PUBLIC_ACCESS_BLOCKED
    replication = s3.get_bucket_replication(Bucket="vivr-backups")["ReplicationConfiguration"]
    assert replication["Role"] == aws.client("iam").get_role(
        RoleName="vivr-s3-replication-role")["Role"]["Arn"]
    (rule,) = replication["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{REPLICA}"
    assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": dr_key["Arn"]}
    sent = [r["ReplicationConfiguration"] for r in aws.requests("PutBucketReplication")]
    assert len(sent) == 1
    (sent_rule,) = sent[0]["Rules"]
    assert sent_rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert sent_rule["DeleteMarkerReplication"] == {"Status": "Enabled"}

    # How the buckets were created: us-east-1 without a LocationConstraint, the
    # replica with one, and the ownership tags on the create call itself.
    created = {r["Bucket"]: r for r in aws.requests("CreateBucket")}
    assert set(created) == set(BUCKETS) | {REPLICA, DR_LOGS}
    for bucket in BUCKETS:
        assert "LocationConstraint" not in created[bucket]["CreateBucketConfiguration"]
    for bucket in (REPLICA, DR_LOGS):
        assert created[bucket]["CreateBucketConfiguration"]["LocationConstraint"] == DR_REGION
    assert {"Key": "ManagedBy", "Value": "vivr-provision"} in \
        created["vivr-temp"]["CreateBucketConfiguration"]["Tags"]

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, report
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []


def test_destroy_removes_empty_buckets_in_both_regions(aws: Aws) -> None:
    assert aws.cli("apply", *TARGETS).returncode == 0
    code, report = aws.cli_json("destroy", "--yes", *TARGETS, "--target", "dr.s3.*")
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert {actions[s] for s in ALL_S3_STEPS} == {"deleted"}
    assert not _bucket_names(aws) & (set(BUCKETS) | {REPLICA, DR_LOGS})
    for bucket in (REPLICA, DR_LOGS):
        assert _error(aws.client("s3", DR_REGION).head_bucket, Bucket=bucket) == "404"

    code, report = aws.cli_json("plan", *TARGETS)
    assert {s["action"] for s in report["steps"] if s["step"] in ALL_S3_STEPS} == {"create"}


def test_destroy_refuses_buckets_holding_data_and_names_them(aws: Aws) -> None:
    targets = ["--target", "s3.temp", "--target", "s3.assets"]
    assert aws.cli("apply", *targets).returncode == 0
    s3 = aws.client("s3")
    # The emulator ignores policy conditions, so the TLS-only deny would refuse
    # this plain-HTTP upload; the operator's upload here stands for any data.
    for bucket in ("vivr-temp", "vivr-assets"):
        s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket="vivr-temp", Key="upload/report.csv", Body=b"a,b\n")
    # A deleted object of a versioned bucket is still data: a version and a delete marker.
    s3.put_object(Bucket="vivr-assets", Key="app.css", Body=b"body{}")
    s3.delete_object(Bucket="vivr-assets", Key="app.css")

    code, report = aws.cli_json("destroy", "--yes", *targets)
    assert code == 1
    by_step = {s["step"]: s for s in report["steps"]}
    temp, assets = by_step["s3.temp"], by_step["s3.assets"]
    assert temp["action"] == assets["action"] == "failed"
    assert "\n" not in temp["error"] and "vivr-temp" in temp["error"]
    assert "(1 object versions and delete markers)" in temp["error"]
    assert "vivr-assets" in assets["error"] and "(2 object" in assets["error"]

    assert {"vivr-temp", "vivr-assets"} <= _bucket_names(aws)
    assert s3.get_object(Bucket="vivr-temp", Key="upload/report.csv")["Body"].read() == b"a,b\n"
    assert len(s3.list_object_versions(Bucket="vivr-assets")["Versions"]) == 1

    text = aws.cli("destroy", "--yes", "--target", "s3.temp")
    assert text.returncode == 1
    summary = text.stderr.strip().splitlines()[-1]  # after the JSON log lines
    assert summary.startswith("error: step s3.temp failed: bucket vivr-temp is not empty (1 ")


def test_a_bucket_without_our_tags_is_not_adopted(aws: Aws) -> None:
    aws.client("s3").create_bucket(Bucket="vivr-temp")
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--target", "s3.temp")
    assert code == 1
    error = {s["step"]: s for s in report["steps"]}["s3.temp"]["error"]
    assert "vivr-temp already exists but was not created by vivr-provision" in error
    # Only its access-log target (s3.logs, a dependency) was built; vivr-temp untouched.
    assert [c for c in aws.mutating_calls(since=mark) if "vivr-temp" in c] == []
    assert _error(aws.client("s3").get_bucket_policy, Bucket="vivr-temp") == "NoSuchBucketPolicy"


def test_a_crash_right_after_create_bucket_is_resumed(aws: Aws) -> None:
    # Its access-log target first, so the crash hits vivr-temp's CreateBucket.
    assert aws.cli("apply", "--target", "s3.logs").returncode == 0
    crashed = aws.cli("apply", "--target", "s3.temp",
                      env={"VIVR_FAULT_CRASH_AFTER": "s3.CreateBucket"})
    assert crashed.returncode == 137
    code, report = aws.cli_json("apply", "--target", "s3.temp")
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["s3.temp"] in ("adopted", "updated")
    _assert_tls_only(_policy(aws, "vivr-temp"), "vivr-temp")
    code, report = aws.cli_json("apply", "--target", "s3.temp")
    assert {s["action"] for s in report["steps"]} == {"unchanged"}


def test_a_name_taken_by_another_account_fails_with_a_hint(aws: Aws) -> None:
    """Bucket names are global: S3 answers 409 BucketAlreadyExists (injected at the HTTP layer)."""
    taken = {"VIVR_FAULT_FAIL": "s3.CreateBucket", "VIVR_FAULT_FAIL_STATUS": "409",
             "VIVR_FAULT_FAIL_CODE": "BucketAlreadyExists",
             "VIVR_FAULT_FAIL_MESSAGE": "The requested bucket name is not available."}
    # Its access-log target first, so the injected answer is vivr-temp's.
    assert aws.cli("apply", "--target", "s3.logs").returncode == 0
    result = aws.cli("apply", "--target", "s3.temp", env=taken)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert "vivr-temp" in error and "s3.name_suffix" in error
    assert "vivr-temp" not in _bucket_names(aws)


