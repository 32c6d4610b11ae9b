"""``vivr-provision check`` through the real CLI, and the pre-flight of plan and apply.

``check`` reads the config alone: these tests assert that it made no AWS
request at all (the sandbox saw nothing from the test's account).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Aws

pytestmark = pytest.mark.e2e

PRODUCTION = REPO / "config" / "production.yaml"
STAGING = REPO / "config" / "staging.yaml"


def test_check_passes_on_production_and_staging_as_table_and_json(aws: Aws) -> None:
    for env, config in (("production", PRODUCTION), ("staging", STAGING)):
        result = aws.cli("check", "--env", env, config=config)
        assert result.returncode == 0, result.stdout + result.stderr
        for title in ("traffic flows", "access matrix", "policy lint (parliament)"):
            assert f"check vivr {env}: {title}" in result.stdout
        assert "app → PgBouncer tcp/6432" in result.stdout
        assert result.stdout.rstrip().splitlines()[-1].startswith("check: ok (")
        code, report = aws.cli_json("check", "--env", env, config=config)
        assert code == 0 and report["ok"] is True and report["failures"] == []
        assert report["environment"] == env
        flows = {f["flow"]: f for f in report["flows"]}
        assert flows["PgBouncer → RDS tcp/5432"]["ok"]
        assert any("kms:Decrypt" in a["actions"] and a["principal"].startswith("ECS task role")
                   and a["ok"] for a in report["access"])
        assert report["lint"] and all(r["accepted_because"] for r in report["lint"])
    assert aws.calls() == [], "check must not call AWS"


def _broken(tmp_path: Path, name: str, mutate: Any) -> Path:
    data = yaml.safe_load(PRODUCTION.read_text())
    data = copy.deepcopy(data)
    mutate(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _drop_pgbouncer_egress(data: dict[str, Any]) -> None:
    app = next(g for g in data["security_groups"] if g["name"] == "vivr-app-sg")
    app["egress"] = [r for r in app["egress"] if r.get("port") != 6432]


def test_a_broken_yaml_fails_check_with_1_and_plan_and_apply_with_2_before_any_call(
        aws: Aws, tmp_path: Path) -> None:
    no_egress = _broken(tmp_path, "no-egress", _drop_pgbouncer_egress)
    def _no_header(d: dict[str, Any]) -> None:
        d["alb"].pop("origin_verify")
        # Rotating the header's secret needs the header: config refuses the pair.
        rotation = d["secrets"]["origin_verify"].pop("rotation", None)
        if rotation is not None:
            d["logs"]["groups"].pop(rotation["log_group"])

    no_header = _broken(tmp_path, "no-header", _no_header)
    flow = "app → PgBouncer tcp/6432: no egress rule of vivr-app-sg allows tcp/6432"

    result = aws.cli("check", config=no_egress)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "check: FAILED (1)" in result.stdout and flow in result.stdout
    code, report = aws.cli_json("check", config=no_header)
    assert code == 1 and report["ok"] is False
    assert report["failures"] == [
        "flow internet → ALB direct (without the header): refused: alb.origin_verify is not "
        "set: the ALB forwards requests that bypass CloudFront and its WAF"]

    for command in (("plan",), ("apply",)):
        result = aws.cli(*command, config=no_egress)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: check failed (1), nothing was "
                                                       "touched: flow " + flow), lines
    assert aws.calls() == [], "a failing check must stop plan/apply before any AWS call"
    assert not aws.state_path.exists()
