"""``dr status`` and the replica-lag alarms through the real CLI.

Applies the failover pair, both read replicas and their lag alarms (with
what they need), reads the alarms back in their regions,
publishes one ReplicaLag datapoint for the DR replica the way RDS does, and
reads the report as text and as JSON.  The sandbox's call journal proves
the report changed nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

DR = "us-west-2"
LAG = "vivr-production-replica-lag"
TARGETS = ("--target", "dr.rds.*", "--target", "dns-failover.*",
           "--target", "rds.vivr-db-replica-1", "--target", f"alarm.{LAG}-*",
           "--target", f"dr.alarm.{LAG}-*")


def _publish_lag(aws: Aws, identifier: str, seconds: float, at: datetime) -> None:
    """A ReplicaLag datapoint as RDS publishes it (the emulator publishes none)."""
    aws.client("cloudwatch", DR).put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Timestamp": at, "Value": seconds, "Unit": "Seconds",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": identifier}]}])


def _lag_alarm(aws: Aws, region: str, replica: str) -> dict[str, Any]:
    [alarm] = aws.client("cloudwatch", region).describe_alarms(
        AlarmNames=[f"{LAG}-{replica}"])["MetricAlarms"]
    return dict(alarm)


def test_dr_status_reports_each_side_and_changes_nothing(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, [s for s in report["steps"] if s["error"]]

    # Spec "replication lag < 1 second": an alarm per replica, in the replica's region,
    # notifying topics of that region (CloudWatch notifies no other).
    for region, replica in (("us-east-1", "vivr-db-replica-1"), (DR, "vivr-db-dr")):
        alarm = _lag_alarm(aws, region, replica)
        assert alarm["AlarmArn"].split(":")[3] == region
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"],
                alarm["Threshold"], alarm["ComparisonOperator"], alarm["Period"],
                alarm["EvaluationPeriods"]) == ("AWS/RDS", "ReplicaLag", "Maximum", 1.0,
                                                "GreaterThanThreshold", 60, 5)
        assert alarm["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": replica}]
        topics = {arn.split(":")[3]: arn.rsplit(":", 1)[1] for arn in alarm["AlarmActions"]}
        assert sorted(arn.rsplit(":", 1)[1] for arn in alarm["AlarmActions"]) == [
            "vivr-production-critical-alerts", "vivr-production-devops-alerts"]
        assert set(topics) == {region}
    dr_topics = [t["TopicArn"] for t in aws.client("sns", DR).list_topics()["Topics"]]
    assert sorted(arn.rsplit(":", 1)[1] for arn in dr_topics) == [
        "vivr-production-critical-alerts", "vivr-production-devops-alerts"]
    at = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    _publish_lag(aws, "vivr-db-dr", 0.5, at)
    before = len(aws.calls())

    text = aws.cli("dr", "status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, "fits an 80-column terminal"
    assert lines[0].startswith("dr status vivr production: us-east-1 -> us-west-2, at ")
    for expected in (
            "Traffic (origin.vivr.example.com)",
            "  serving:          primary (us-east-1)",
            "  because:          the PRIMARY's health check is healthy",
            "  SECONDARY:        vivr-dr-alb-1.us-west-2.elb.amazonaws.com, TTL 60",
            "    health check:   none (always healthy)",
            "Cross-region replica vivr-db-dr (us-west-2)",
            "  status:           available",
            f"  replica lag:      0.5 s at {at:%Y-%m-%dT%H:%M:%SZ}",
            "  RPO if promoted:  0.5 s, within the 1 h target",
            "Same-region replica vivr-db-replica-1 (us-east-1)",
            "  source:           vivr-db",
            "  replica lag:      no datapoint (last 5 minutes)",
            "Standby (us-west-2)",
            "  ALB:              vivr-dr-alb: active",
            "  healthy targets:  0 of 0 registered (vivr-dr-app-tg)",
            "  RTO:              4 h",
            "  RPO:              1 h"):
        assert expected in lines, f"{expected!r} not in:\n{text.stdout}"

    code, document = aws.cli_json("dr", "status")
    assert code == 0
    [failover] = document["failover"]
    assert failover["side"] == "primary"
    assert failover["primary"]["health_check_id"] == \
        aws.client("route53").list_health_checks()["HealthChecks"][0]["Id"]
    assert failover["primary"]["target"] == "vivr-alb-1.us-east-1.elb.amazonaws.com"
    replicas = {r["identifier"]: r for r in document["replicas"]}
    dr = replicas["vivr-db-dr"]
    assert (dr["region"], dr["cross_region"], dr["status"]) == (DR, True, "available")
    assert dr["source"].endswith(":db:vivr-db")
    assert dr["rpo"]["seconds"] == 0.5
    assert dr["rpo"]["last_replicated_at"] == \
        f"{at - timedelta(seconds=0.5):%Y-%m-%dT%H:%M:%SZ}"
    assert replicas["vivr-db-replica-1"]["lag_seconds"] is None
    assert document["standby"]["ecs_service"]["state"] in ("not built", "not applied")
    assert document["targets"] == {"rto_hours": 4, "rpo_hours": 1}

    assert aws.mutating_calls(since=before) == [], "dr status only reads"


def test_dr_status_without_anything_to_report_says_so_in_one_line(aws: Aws) -> None:
    result = aws.cli("dr", "status")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no state at {aws.state_path}: nothing applied yet "
        "(run `vivr-provision apply`)"]
    assert aws.cli("apply", "--target", "vpc").returncode == 0
    result = aws.cli("dr", "status")
    assert result.returncode == 1
    assert "nothing of the DR side is applied" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dr_status_of_an_environment_without_dr_is_a_config_error(aws: Aws) -> None:
    from tests.conftest import REPO

    result = aws.cli("--env", "staging", "dr", "status",
                     config=REPO / "config" / "staging.yaml")
    assert result.returncode == 2
    assert "dr is not enabled for staging" in result.stderr
