"""Catalog resolution through the real CLI: plan shows what AWS's catalogs gave, refuses
what they do not offer, and apply creates what plan showed.

The sandbox serves the catalogs from ``vivr_sandbox/catalog.json``
(AWS's lists as cfn-lint ships them); the expected values are read from that
catalog, not from the product, so the product's resolution is what is tested.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, Aws
from vivr_provision.state import SCHEMA_VERSION
from vivr_sandbox import catalog as sandbox_catalog

pytestmark = pytest.mark.e2e


def _newest(major: str) -> str:
    versions = [r["EngineVersion"] for r in sandbox_catalog.rds_versions("postgres")
                if r["EngineVersion"].split(".")[0] == major]
    return versions[-1]


def _notes(report: dict[str, object], step: str) -> list[str]:
    steps = report["steps"]
    assert isinstance(steps, list)
    return next(s["notes"] for s in steps if s["step"] == step)


def _config_with(tmp: Path, **rds: object) -> Path:
    config = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    config["rds"].update(rds)
    path = tmp / "production.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_plan_shows_the_newest_creatable_16x_and_every_catalog_value(aws: Aws) -> None:
    newest = _newest("16")
    assert newest != "16.1" and sandbox_catalog.version_key(newest) > (
        sandbox_catalog.version_key("16.9"))
    code, report = aws.cli_json("plan")
    assert code == 0, report
    primary = _notes(report, "rds.vivr-db")
    assert any(f"engine postgres {newest} " in n and "us-east-1 and us-west-2" in n
               for n in primary), primary
    assert any("db.t3.small is orderable" in n and "gp3, Multi-AZ" in n for n in primary)
    assert any("orderable" in n and "us-west-2" in n for n in _notes(report, "dr.rds.vivr-db-dr"))
    assert any("engine redis 7.0" in n and "7.1 also offered" in n
               for n in _notes(report, "cache")), _notes(report, "cache")
    assert any(n.startswith("image ami-") and "al2023-ami-kernel-default-x86_64" in n
               for n in _notes(report, "pgbouncer"))
    assert any("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09" in n
               for n in _notes(report, "dr.alb-listener.443"))
    # Asked of AWS, in every region that will hold an instance.
    regions = {r.get("EngineVersion") for r in aws.requests("DescribeDBEngineVersions")}
    assert regions == {"16"}
    assert len(aws.requests("DescribeDBEngineVersions")) == 2
    assert aws.mutating_calls() == []


def test_a_pinned_version_aws_no_longer_creates_fails_plan_naming_the_newest(
        aws: Aws, tmp_path: Path) -> None:
    config = _config_with(tmp_path, engine_version="16.1")
    result = aws.cli("plan", config=config)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: rds.engine_version '16.1'")
    assert f"the newest valid 16.x is {_newest('16')}" in message
    assert aws.requests("CreateDBInstance") == [] and aws.mutating_calls() == []


def test_an_instance_class_not_orderable_fails_plan(aws: Aws, tmp_path: Path) -> None:
    config = _config_with(tmp_path, instance_class="db.t1.micro")
    result = aws.cli("plan", config=config)
    assert result.returncode == 2, result.stderr
    assert "rds.instance_class db.t1.micro: not orderable for postgres" in result.stderr


def test_apply_creates_the_resolved_version_and_records_it_in_state(aws: Aws) -> None:
    newest = _newest("16")
    result = aws.cli("apply", "--target", "rds.vivr-db", "--output", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    sent = aws.requests("CreateDBInstance")
    assert [r["EngineVersion"] for r in sent] == [newest]
    primary = aws.client("rds").describe_db_instances(
        DBInstanceIdentifier="vivr-db")["DBInstances"][0]
    assert primary["EngineVersion"] == newest
    assert primary["AutoMinorVersionUpgrade"] is True

    state = json.loads(aws.state_path.read_text())
    assert state["schema_version"] == SCHEMA_VERSION
    assert state["catalog"]["rds.engine_version"]["requested"] == "16"
    assert state["catalog"]["rds.engine_version"]["value"] == newest
    # status reads the state only: no AWS call at all.
    before = len(aws.calls())
    assert aws.cli("status").returncode == 0
    assert len(aws.calls()) == before
