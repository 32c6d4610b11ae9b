"""The secrets the DR standby reads, replicated to us-west-2 with the DR key, through the CLI.

Spec "Disaster Recovery": the us-west-2 standby must run while us-east-1 is
down, so the secrets it reads (the ECS container's and the origin-verify
header's) have Secrets Manager replicas there, encrypted with the replica
of the multi-Region key.  Expected names are written here, not read from
config.  Destroy removes the replicas before it schedules the primaries'
deletion (AWS, and the sandbox, refuse a primary that still has replicas);
an apply within the recovery window restores the secret and replicates it
again.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

DR = "us-west-2"
STANDBY_SECRETS = {
    "vivr/production/database/master", "vivr/production/redis/auth-token",
    "vivr/production/cloudfront/origin-verify", "vivr/production/stripe",
    "vivr/production/sendgrid", "vivr/production/cloudinary", "vivr/production/sentry",
    "vivr/production/cloudfront/fle-private-key"}  # issue 12: the standby decrypts FLE fields
NOT_REPLICATED = "vivr/production/datadog"   # PgBouncer's key; nothing in us-west-2 reads it
SECRETS = ("--target", "secret.*", "--target", "dr.kms")


def _dr_key(aws: Aws) -> str:
    return str(aws.client("kms", DR).describe_key(KeyId="alias/vivr-production")[
        "KeyMetadata"]["Arn"])


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _replicas(aws: Aws, name: str) -> list[tuple[str, str, str]]:
    described = aws.client("secretsmanager").describe_secret(SecretId=name)
    return [(r["Region"], r["KmsKeyId"], r["Status"])
            for r in described.get("ReplicationStatus", [])]


def test_standby_secrets_are_replicated_with_the_dr_key_and_removed_first_on_destroy(
        aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--yes", *SECRETS)
    assert code == 0, report
    dr_key = _dr_key(aws)
    assert dr_key.startswith(f"arn:aws:kms:{DR}:")
    west = aws.client("secretsmanager", DR)
    assert {s["Name"] for s in west.list_secrets()["SecretList"]} == STANDBY_SECRETS
    for name in STANDBY_SECRETS:
        assert _replicas(aws, name) == [(DR, dr_key, "InSync")], name
        replica = west.describe_secret(SecretId=name)
        assert (replica["KmsKeyId"], replica["PrimaryRegion"]) == (dr_key, "us-east-1")
    assert _replicas(aws, NOT_REPLICATED) == []
    # The standby reads the same value in its region.
    sm = aws.client("secretsmanager")
    token = "vivr/production/redis/auth-token"
    assert west.get_secret_value(SecretId=token)["SecretString"] == \
        sm.get_secret_value(SecretId=token)["SecretString"]
    sent = {r["Name"]: r.get("AddReplicaRegions") for r in aws.requests("CreateSecret")}
    assert sent == {**{name: [{"Region": DR, "KmsKeyId": dr_key}] for name in STANDBY_SECRETS},
                    NOT_REPLICATED: None}

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--yes", *SECRETS)
    assert code == 0 and set(_actions(report).values()) == {"unchanged"}, report
    assert aws.mutating_calls(since=mark) == []

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes", "--target", "secret.*")
    assert code == 0, report
    kept = {s["step"]: s["retained"] for s in report["steps"] if s["retained"]}
    assert kept["secret.stripe"][1].startswith("its replica(s) in us-west-2 were deleted at once")
    assert len(kept["secret.datadog"]) == 1
    calls = aws.mutating_calls(since=mark)
    assert calls.count("secretsmanager.RemoveRegionsFromReplication") == len(STANDBY_SECRETS)
    assert calls.count("secretsmanager.DeleteSecret") == len(STANDBY_SECRETS) + 1
    assert west.list_secrets()["SecretList"] == []
    scheduled = sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]
    assert {s["Name"] for s in scheduled if s.get("DeletedDate")} == \
        STANDBY_SECRETS | {NOT_REPLICATED}


def test_restore_and_drift_replicate_the_secret_again(aws: Aws) -> None:
    target = ("--target", "secret.stripe")
    assert aws.cli("apply", "--yes", *target).returncode == 0
    dr_key = _dr_key(aws)
    assert aws.cli("destroy", "--yes", *target).returncode == 0
    code, report = aws.cli_json("apply", "--yes", *target)
    assert code == 0, report
    assert _actions(report)["secret.stripe"] == "recovered"
    assert _replicas(aws, "vivr/production/stripe") == [(DR, dr_key, "InSync")]

    # Removed out of band: plan shows it, apply replicates it again.
    aws.client("secretsmanager").remove_regions_from_replication(
        SecretId="vivr/production/stripe", RemoveReplicaRegions=[DR])
    code, plan = aws.cli_json("plan", *target)
    [step] = [s for s in plan["steps"] if s["step"] == "secret.stripe"]
    assert step["action"] == "update"
    assert step["changes"] == [f"dr_replica: None -> {dr_key!r} (update)"]
    code, report = aws.cli_json("apply", "--yes", *target)
    assert code == 0 and _actions(report)["secret.stripe"] == "updated", report
    assert _replicas(aws, "vivr/production/stripe") == [(DR, dr_key, "InSync")]
    code, report = aws.cli_json("apply", "--yes", *target)
    assert set(_actions(report).values()) == {"unchanged"}
