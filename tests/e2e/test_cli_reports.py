"""Read-only commands through the real CLI: cost and graph make no AWS call."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, Aws

pytestmark = pytest.mark.e2e


def test_cost_prints_the_spec_table_and_total(aws: Aws) -> None:
    code, report = aws.cli_json("cost")
    assert code == 0
    assert report["total_monthly"] == 358.09  # the spec's TOTAL MONTHLY
    services = {line["service"]: line for line in report["lines"]}
    assert services["RDS PostgreSQL"]["monthly"] == 25.92
    assert services["RDS PostgreSQL"]["recomputed"] == 25.55  # 0.035 x 730 h
    assert report["by_category"]["Database"] == 62.84
    text = aws.cli("cost")
    assert "total per month: 358.09 USD" in text.stdout
    staging = aws.cli("cost", "--env", "staging", "--output", "json",
                      config=REPO / "config" / "staging.yaml")
    assert json.loads(staging.stdout)["total_monthly"] < report["total_monthly"]
    assert aws.calls() == []


def test_graph_orders_every_step_after_its_dependencies(aws: Aws) -> None:
    result = aws.cli("graph", "--format", "json")
    assert result.returncode == 0
    steps = json.loads(result.stdout)["steps"]
    position = {s["step"]: i for i, s in enumerate(steps)}
    for step in steps:
        for dependency in step["depends_on"]:
            assert position[dependency] < position[step["step"]], (dependency, step["step"])
    assert position["vpc"] < position["rds.vivr-db"] < position["dr.rds.vivr-db-dr"]
    dot = aws.cli("graph", "--format", "dot").stdout
    assert dot.startswith("digraph vivr {") and '"rds.vivr-db" -> "rds.vivr-db-replica-1";' in dot
    assert aws.calls() == []
