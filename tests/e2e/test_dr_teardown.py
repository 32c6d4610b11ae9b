"""The DR side alone through the real CLI: ``apply``, ``destroy`` and ``apply`` again of
``--target 'dr.*'`` (issue 11, "Order and teardown").

A destroy of the DR side must leave the primary serving: the steps of the
primary that only point at the standby (the secrets' replicas, the backups
bucket's replication, the archive's copy, the failover's SECONDARY) let go
of it instead of being destroyed with it, and everything else of us-east-1
is untouched.  The inventory of us-east-1 before and after proves the
second; the reads of the detached settings the first.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

PRIMARY, DR = "us-east-1", "us-west-2"
DR_SIDE = ("--target", "dr.*")
#: The DR side and the primary steps that point at it (apply pulls dependencies only).
BOTH = (*DR_SIDE, "--target", "s3.backups", "--target", "backup-plan",
        "--target", "dns-failover.*")


def test_the_dr_side_is_destroyed_alone_and_comes_back(aws: Aws) -> None:
    empty_dr = aws.inventory()[DR]
    code, report = aws.cli_json("apply", *BOTH)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    before = aws.inventory()

    code, plan = aws.cli_json("plan", "--destroy", *DR_SIDE)
    assert code == 0
    actions = {s["step"]: s["action"] for s in plan["steps"]}
    deleted = {n for n, a in actions.items() if a == "delete"}
    assert deleted and all(n.startswith("dr.") for n in deleted), \
        "nothing of the primary side is destroyed"
    assert {n for n, a in actions.items() if a == "update"} == {
        "s3.backups", "backup-plan", "dns-failover.origin.vivr.example.com",
        *(f"secret.{k}" for k in ("database_credentials", "redis_auth_token", "origin_verify",
                                  "stripe", "sendgrid", "cloudinary", "sentry",
                                  "fle_private_key"))}

    gone = aws.cli("destroy", *DR_SIDE, "--yes", "--disable-deletion-protection")
    assert gone.returncode == 0, gone.stderr
    after = aws.inventory()
    assert after[PRIMARY] == before[PRIMARY], "us-east-1 is untouched"
    assert after["iam_roles"] == before["iam_roles"]
    assert after[DR] == empty_dr, "nothing of ours is left in us-west-2"
    # The backups replica and the DR site's log bucket (issue 12): both empty here (AWS
    # delivers access logs within hours; the sandbox never does), so both go.
    assert set(before["buckets"]) - set(after["buckets"]) == {"vivr-backups-dr", "vivr-logs-dr"}

    secret = aws.client("secretsmanager").describe_secret(
        SecretId="vivr/production/database/master")
    assert not secret.get("ReplicationStatus"), "the secret stays, its replica goes"
    with pytest.raises(ClientError, match="ReplicationConfigurationNotFound"):
        aws.client("s3").get_bucket_replication(Bucket="vivr-backups")
    route53 = aws.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName="vivr.example.com")["HostedZones"][0]["Id"]
    pair = [r for r in route53.list_resource_record_sets(HostedZoneId=zone)[
        "ResourceRecordSets"] if r["Name"] == "origin.vivr.example.com."]
    assert [r["Failover"] for r in pair] == ["PRIMARY"], "the PRIMARY stays, the SECONDARY goes"
    backup = aws.client("backup")
    [listed] = backup.list_backup_plans()["BackupPlansList"]
    rules = backup.get_backup_plan(BackupPlanId=listed["BackupPlanId"])["BackupPlan"]["Rules"]
    assert [r.get("CopyActions", []) for r in rules] == [[]], "no copy into a deleted vault"
    state = json.loads(aws.state_path.read_text())["steps"]
    assert state["rds.vivr-db"]["status"] == "ready"
    assert {n for n, r in state.items() if r["status"] == "deleted"} == deleted

    # Apply selects dependencies, not dependents: the steps that detached come back
    # with their own targets (a plain apply does it all).
    again = aws.cli("apply", *BOTH, "--yes")
    assert again.returncode == 0, again.stderr
    counts = {kind: len(items) for kind, items in aws.inventory()[DR].items()}
    assert counts == {kind: len(items) for kind, items in before[DR].items()}, \
        "the standby comes back as it was (new ids, the same resources)"
    assert [r["Failover"] for r in route53.list_resource_record_sets(HostedZoneId=zone)[
        "ResourceRecordSets"] if r["Name"] == "origin.vivr.example.com."] == [
        "PRIMARY", "SECONDARY"]
    assert aws.cli("plan", "--detailed-exitcode", *BOTH).returncode == 0, "no changes left"
