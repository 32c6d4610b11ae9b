"""The staging environment end to end: the spec's staging sizes, no DR copies."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, Aws

pytestmark = pytest.mark.e2e

STAGING = REPO / "config" / "staging.yaml"


def test_staging_applies_small_without_dr_and_tears_down(aws: Aws) -> None:
    before = aws.inventory()
    state = aws.workdir / "state" / "staging.json"
    code, report = aws.cli_json("apply", "--env", "staging", config=STAGING, state=state)
    assert code == 0, report
    assert not [s["step"] for s in report["steps"] if s["step"].startswith("dr.")]

    cache = aws.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    assert [g["CacheNodeType"] for g in cache] == ["cache.t3.micro"]  # spec: development size
    [db] = aws.client("rds").describe_db_instances()["DBInstances"]
    assert db["MultiAZ"] is False
    west = aws.inventory()["us-west-2"]
    assert west == before["us-west-2"], "staging makes no cross-region copies"

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--env", "staging", config=STAGING, state=state)
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []

    code, report = aws.cli_json("destroy", "--yes", "--env", "staging",
                                "--disable-deletion-protection", "--skip-final-snapshot",
                                config=STAGING, state=state)
    assert code == 0, report
    assert aws.inventory() == before
