"""``dr promote --dry-run`` through the real CLI, and ``dr promote`` refusing without it.

Applies the smallest DR set a promotion acts on (the cross-region replica
and the failover pair, with what they need), publishes one ReplicaLag
datapoint as RDS does (the emulator publishes none), and reads the dry run
as text and as JSON.  The sandbox's call journal proves it changed nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

DR = "us-west-2"
TARGETS = ("--target", "dr.rds.*", "--target", "dns-failover.*")
REFUSED = ("error: dr promote changes both regions and asks for the environment name: pass "
           "--yes when not at a terminal (nothing was changed)")


def test_a_dry_run_prints_the_stages_and_budgets_and_changes_nothing(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    at = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    aws.client("cloudwatch", DR).put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Timestamp": at, "Value": 2.0, "Unit": "Seconds",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "vivr-db-dr"}]}])
    before = len(aws.calls())

    text = aws.cli("dr", "promote", "--dry-run")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, "fits an 80-column terminal"
    stages = [line.split()[1] for line in lines if line[:1].isdigit()]
    assert stages == ["check-rpo", "promote-db", "point-app", "scale-standby",
                      "move-traffic", "record-rto"]
    for expected in (
            "dr promote --dry-run vivr production: us-east-1 -> us-west-2",
            "   Promote the us-west-2 replica to a standalone instance; wait until writable.",
            "   not possible yet: the standby ECS service is not applied (dr.ecs-service:",
            "RTO budget (4 h)",
            "   stages:     ~16 min 32 s typical, up to 1 h 25 min",
            "   possible:   4 of 6 stages now (the others say why not)",
            "   replica:    vivr-db-dr (us-west-2): available",
            f"   lag:        2 s at {at:%Y-%m-%dT%H:%M:%SZ}",
            "   verdict:    a promotion now loses 2 s, within the 1 h target"):
        assert expected in lines, f"{expected!r} not in:\n{text.stdout}"

    code, document = aws.cli_json("dr", "promote", "--dry-run")
    assert code == 0
    assert document["dry_run"] is True
    possible = {s["name"]: s["possible"] for s in document["stages"]}
    assert possible == {"check-rpo": True, "promote-db": True, "point-app": False,
                        "scale-standby": False, "move-traffic": True, "record-rto": True}
    promote = document["stages"][1]
    assert (promote["operations"], promote["reversible"], promote["steps"]) == (
        ["rds:PromoteReadReplica", "waiter db_instance_available"], False, ["dr.rds.vivr-db-dr"])
    assert (document["rto"]["hours"], document["rto"]["within_rto"]) == (4, True)
    rpo = document["rpo"]
    assert (rpo["readable"], rpo["lag_seconds"], rpo["within_target"]) == (True, 2.0, True)
    assert rpo["last_replicated_at"] == f"{at - timedelta(seconds=2):%Y-%m-%dT%H:%M:%SZ}"

    assert aws.mutating_calls(since=before) == [], "a dry run only reads"
    [db] = aws.client("rds", DR).describe_db_instances(
        DBInstanceIdentifier="vivr-db-dr")["DBInstances"]
    assert db["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:vivr-db"), \
        "still a replica"


def test_promote_off_a_terminal_without_yes_refuses_in_one_line_and_calls_nothing(
        aws: Aws) -> None:
    before = len(aws.calls())
    result = aws.cli("dr", "promote")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [REFUSED]
    assert result.stdout == ""
    # Before anything is applied the runbook still reads, each stage saying why not.
    code, document = aws.cli_json("dr", "promote", "--dry-run")
    assert code == 0
    assert document["rpo"]["why"] == "dr.rds.vivr-db-dr is not applied"
    assert [s["name"] for s in document["stages"] if s["possible"]] == ["record-rto"]
    assert aws.calls()[before:] == [], "neither run called AWS"


def test_a_dry_run_for_an_environment_without_dr_is_a_config_error(aws: Aws) -> None:
    from tests.conftest import REPO

    result = aws.cli("--env", "staging", "dr", "promote", "--dry-run",
                     config=REPO / "config" / "staging.yaml")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: dr is not enabled for staging (dr.enabled: false): there is nothing to promote"]
