"""``dr promote --yes`` through the real CLI: killed mid-way, resumed, and what it leaves.

One apply of the smallest set a promotion acts on (the cross-region
replica, the failover pair and the standby service, with what they need),
then: a promotion killed right after PromoteReadReplica (the fault hook's
``kill -9``), ``dr status`` and ``apply`` while it is recorded, the rerun
that resumes it, and what AWS and ``dr status`` show afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

DR = "us-west-2"
TARGETS = ("--target", "dr.rds.*", "--target", "dns-failover.*", "--target", "dr.ecs-service")
NAME = "origin.vivr.example.com"


def _stderr_lines(result: object) -> list[str]:
    return str(getattr(result, "stderr", "")).strip().splitlines()


def test_a_killed_promotion_resumes_and_leaves_the_dr_side_serving(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    at = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    aws.client("cloudwatch", DR).put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Timestamp": at, "Value": 3.0, "Unit": "Seconds",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "vivr-db-dr"}]}])

    # Killed (kill -9) right after RDS accepted the promotion, before the tool saw it.
    killed = aws.cli("dr", "promote", "--yes",
                     env={"VIVR_FAULT_CRASH_AFTER": "rds.PromoteReadReplica"})
    assert killed.returncode == 137, killed.stderr
    state = json.loads(aws.state_path.read_text())
    promotion = state["dr"]["promotion"]
    statuses = {n: s["status"] for n, s in promotion["stages"].items()}
    assert statuses == {"check-rpo": "done", "promote-db": "running", "point-app": "pending",
                        "scale-standby": "pending", "move-traffic": "pending",
                        "record-rto": "pending"}
    assert promotion["stages"]["check-rpo"]["outputs"]["lag_seconds"] == 3.0
    assert promotion["stages"]["promote-db"]["outputs"]["source"].endswith(":db:vivr-db"), \
        "the source is journalled before the call"

    status = aws.cli("dr", "status")
    assert status.returncode == 0, status.stderr
    assert "  state:            in progress at promote-db" in status.stdout.splitlines()

    refused = aws.cli("apply", "--target", "dr.rds.*", "--yes")
    assert refused.returncode == 2
    [line] = _stderr_lines(refused)
    assert line.startswith(f"error: apply would undo promotion {promotion['id']} (running, ")
    assert "on rds.vivr-db, dr.rds.vivr-db-dr; nothing was changed: run `vivr-provision dr " \
           "failback` first" in line

    resumed = aws.cli("dr", "promote", "--yes")
    assert resumed.returncode == 0, resumed.stderr
    lines = _stderr_lines(resumed)
    assert lines[0] == f"resuming promotion {promotion['id']} at promote-db"
    assert "promote-db: done (vivr-db-dr is standalone and writable (promoted by the " \
           "interrupted run))" in lines
    assert not any(line.startswith("check-rpo") for line in lines), "done stages do not rerun"
    assert "point-app: done (vivr-app-dr:1 already names the promoted database)" in lines
    assert "scale-standby: done (3 tasks, 3 healthy targets)" in lines
    assert resumed.stdout.startswith(f"promotion {promotion['id']} done: us-west-2 serves; ")
    assert len(aws.requests("PromoteReadReplica")) == 1, "read first: not promoted twice"
    [request] = aws.requests("PromoteReadReplica")
    assert request == {"DBInstanceIdentifier": "vivr-db-dr", "BackupRetentionPeriod": 30,
                       "PreferredBackupWindow": "03:00-04:00"}

    [db] = aws.client("rds", DR).describe_db_instances(
        DBInstanceIdentifier="vivr-db-dr")["DBInstances"]
    assert db["DBInstanceStatus"] == "available"
    assert "ReadReplicaSourceDBInstanceIdentifier" not in db, "standalone and writable"
    route53 = aws.client("route53")
    check_id = json.loads(aws.state_path.read_text())["dr"]["promotion"][
        "stages"]["move-traffic"]["outputs"]["health_check_id"]
    assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"][
        "HealthCheckConfig"]["Inverted"] is True
    zone = route53.list_hosted_zones_by_name(DNSName="vivr.example.com")["HostedZones"][0]
    answer = route53.test_dns_answer(HostedZoneId=zone["Id"].rsplit("/", 1)[-1],
                                     RecordName=NAME, RecordType="CNAME")
    [alb] = aws.client("elbv2", DR).describe_load_balancers(Names=["vivr-dr-alb"])[
        "LoadBalancers"]
    assert [a.rstrip(".").lower() for a in answer["RecordData"]] == [alb["DNSName"].lower()]

    text = aws.cli("dr", "status").stdout.splitlines()
    for expected in (f"Promotion {promotion['id']}", "  state:            done",
                     "    promote-db:     done", "    move-traffic:   done",
                     "  serving:          secondary (us-west-2)",
                     "    health check:   unhealthy, 1 of 1 checkers ok (inverted)",
                     "  source:           none (standalone: promoted or not a replica)"):
        assert expected in text, f"{expected!r} not in {text}"
    assert [line.split(":")[1].strip() for line in text if line.startswith(
        ("    point-app:", "    scale-standby:"))] == ["done", "done"]
    ecs = aws.client("ecs", DR)
    [standby] = ecs.describe_services(cluster="vivr-dr", services=["vivr-app-dr"])["services"]
    assert (standby["desiredCount"], standby["runningCount"]) == (3, 3), \
        "the standby runs the primary's capacity"
    assert any(line.startswith("  elapsed:          ") and line.endswith("within the 4 h RTO")
               for line in text)

    plan = aws.cli("plan", "--target", "health-check.*")
    assert plan.returncode == 2, "the inverted check is not 'fixed' back"
    assert "on health-check.primary-alb;" in plan.stderr

    # -- the way back ------------------------------------------------------------
    before = len(aws.calls())
    dry = aws.cli("dr", "failback", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [line.split()[1] for line in dry.stdout.splitlines() if line[:1].isdigit()] == [
        "check-promotion", "keep-old-primary", "create-replica", "catch-up", "stop-writes",
        "promote-primary", "move-traffic-back", "standby-back", "retire-dr-copy", "close"]
    assert f"promotion {promotion['id']} (done, started " in dry.stdout
    assert "   decide:     The write outage starts here: clients get the ALB's 503" \
        in dry.stdout.splitlines()
    assert aws.calls()[before:] == [], "a failback dry run reads the state only"

    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Timestamp": now, "Value": 0.0, "Unit": "Seconds",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "vivr-db"}]}])
    first = aws.cli("dr", "failback", "--yes")
    assert first.returncode == 0, first.stderr
    back = json.loads(aws.state_path.read_text())["dr"]["failback"]
    old_name = f"vivr-db-old-{back['id']}"
    assert first.stdout.startswith(f"failback {back['id']}: the new replica has caught up; ")
    rds = aws.client("rds")
    [old] = rds.describe_db_instances(DBInstanceIdentifier=old_name)["DBInstances"]
    assert old["DBInstanceStatus"] == "available", "the old primary is kept, renamed"
    assert rds.describe_db_snapshots(DBSnapshotIdentifier=f"vivr-db-pre-failback-{back['id']}")[
        "DBSnapshots"], "and snapshotted"
    [new] = rds.describe_db_instances(DBInstanceIdentifier="vivr-db")["DBInstances"]
    assert new["ReadReplicaSourceDBInstanceIdentifier"] == db["DBInstanceArn"]
    [create] = aws.requests("CreateDBInstanceReadReplica")[-1:]
    assert create["SourceRegion"] == DR and create["KmsKeyId"].startswith("arn:aws:kms:us-east-1")
    assert create["DBSubnetGroupName"] == old["DBSubnetGroup"]["DBSubnetGroupName"]

    switched = aws.cli("dr", "failback", "--switch", "--yes")
    assert switched.returncode == 0, switched.stderr
    assert f"resuming failback {back['id']} at stop-writes" in switched.stderr
    [new] = rds.describe_db_instances(DBInstanceIdentifier="vivr-db")["DBInstances"]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in new, "the new primary is writable"
    assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"][
        "HealthCheckConfig"]["Inverted"] is False
    [standby] = ecs.describe_services(cluster="vivr-dr", services=["vivr-app-dr"])["services"]
    assert standby["desiredCount"] == 1, "the standby is back at dr.standby's count"
    answer = route53.test_dns_answer(HostedZoneId=zone["Id"].rsplit("/", 1)[-1],
                                     RecordName=NAME, RecordType="CNAME")
    [primary_alb] = aws.client("elbv2").describe_load_balancers(Names=["vivr-alb"])[
        "LoadBalancers"]
    assert [a.rstrip(".").lower() for a in answer["RecordData"]] == [
        primary_alb["DNSName"].lower()]
    assert aws.client("rds", DR).describe_db_instances(
        DBInstanceIdentifier=f"vivr-db-dr-old-{back['id']}")["DBInstances"], "DR copy kept"
    journal = json.loads(aws.state_path.read_text())["dr"]
    assert (journal["promotion"], journal["failback"]) == (None, None)
    assert [r["kind"] for r in journal["history"]] == ["promotion", "failback"]
    assert aws.cli("plan", "--target", "health-check.*").returncode == 0, \
        "apply manages the check again"
