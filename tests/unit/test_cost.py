"""``cost``: the spec's table, the table computed from the config, and the difference.

Configs are varied through pydantic ``model_copy`` on the loaded production
and staging files, so each test changes one thing a user would change.
Expected figures are worked out from the shipped price table, so a price
edit in prices.yaml does not need a test edit, but a wrong derivation does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vivr_provision.config import PlatformConfig
from vivr_provision.config.loader import load_config
from vivr_provision.cost import PriceNotFound, compare, cost_report, load_prices
from vivr_provision.cost.derive import ComputedLine

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = load_config(REPO / "config" / "production.yaml")
STAGING = load_config(REPO / "config" / "staging.yaml")
PRICES = load_prices()
HOURS = PRODUCTION.cost.hours_per_month


def with_rds(config: PlatformConfig, **changes: object) -> PlatformConfig:
    return config.model_copy(update={"rds": config.rds.model_copy(update=changes)})


def with_redis(config: PlatformConfig, **changes: object) -> PlatformConfig:
    return config.model_copy(update={"redis": config.redis.model_copy(update=changes)})


def lines_named(config: PlatformConfig, service: str) -> list[ComputedLine]:
    return [line for line in compare(config).computed if line.service == service]


def usd(key: str, size: str = "", region: str = "us-east-1") -> float:
    return PRICES.price(key, region, size).usd


def test_the_spec_table_still_totals_358_09() -> None:
    report = cost_report(PRODUCTION)
    assert report["total_monthly"] == 358.09
    assert report["by_category"]["Database"] == 62.84
    services = {line["service"]: line for line in report["lines"]}
    assert services["RDS PostgreSQL"]["recomputed"] == 25.55  # 0.035 x 730 h


def test_the_computed_table_has_every_line_the_spec_leaves_out() -> None:
    result = compare(PRODUCTION)
    left_out = {line.service: line for line in result.left_out}
    same = left_out["RDS read replica (same region)"]
    assert (same.region, same.quantity) == ("us-east-1", HOURS)
    dr = left_out["RDS read replica (cross-region DR)"]
    assert dr.region == "us-west-2" and "vivr-db-dr" in dr.detail
    assert left_out["PgBouncer EC2"].detail == "t3.small"
    assert left_out["WAF web ACL"].monthly == usd("waf.web_acl")
    assert left_out["WAF rules"].quantity == 4  # 3 managed rule groups + the rate rule
    assert left_out["KMS replica key (DR)"].region == "us-west-2"
    secrets = left_out["Secrets Manager replicas (DR)"]
    # 6 ECS + origin-verify + the field-level encryption key (issue 12)
    assert (secrets.region, secrets.quantity) == ("us-west-2", 8)
    assert left_out["Elastic IP"].quantity == HOURS
    assert left_out["Standby ALB (DR)"].region == "us-west-2"
    assert "RDS standby storage" in left_out
    assert "Route53 health checks" in left_out
    standby = left_out["ElastiCache standby (DR)"]
    # One cache.t3.small node in us-west-2 (dr.redis: no replica, cold until failover).
    assert (standby.region, standby.quantity, standby.unit_price) == \
        ("us-west-2", HOURS, usd("elasticache.node", "cache.t3.small", "us-west-2"))
    assert "vivr-dr-cache" in standby.detail
    computed = {line.service: line for line in result.computed}
    # 3 generated (database, redis, origin-verify) + 5 placeholders, not the spec's 5
    # + the field-level encryption key pair (issue 12)
    assert computed["Secrets Manager"].quantity == 9
    # 12 rows of one alarm (the 5xx one over 3 metrics, the unhealthy-targets one over
    # 2; two of them on the standby Redis) and the replica-lag row: one alarm per read
    # replica (2)
    assert computed["CloudWatch alarms"].quantity == 17
    assert computed["KMS key"].spec_line == "KMS"


def test_the_difference_is_explained_to_the_cent() -> None:
    result = compare(PRODUCTION)
    parts = result.left_out_total + sum(row.difference for row in result.repriced)
    assert round(parts, 2) == result.difference
    assert result.difference == round(result.computed_total - 358.09, 2)
    report = cost_report(PRODUCTION)
    assert report["difference"]["total"] == result.difference
    assert report["computed"]["total_monthly"] == result.computed_total
    elasticache = next(r for r in result.repriced if r.spec_line == "ElastiCache")
    assert elasticache.reason == "0.017 -> 0.034/node-hour"  # the spec prices the micro
    secrets = next(r for r in result.repriced if r.spec_line == "Secrets Manager")
    assert secrets.reason.startswith("5 -> 9")


def test_a_larger_database_class_raises_the_total_by_the_price_difference() -> None:
    before = compare(PRODUCTION).computed_total
    after = compare(with_rds(PRODUCTION, instance_class="db.t3.medium")).computed_total
    # primary + Multi-AZ standby + same-region replica in us-east-1, the DR replica in
    # us-west-2: every replica without its own class runs the primary's
    step = [usd("rds.instance", "db.t3.medium", r) - usd("rds.instance", "db.t3.small", r)
            for r in ("us-east-1", "us-east-1", "us-east-1", "us-west-2")]
    assert round(after - before, 2) == round(sum(step) * HOURS, 2)
    assert round(after - before, 2) == 105.12  # 4 x (0.072 - 0.036) x 730 h


def test_a_larger_cache_node_raises_the_total_per_node() -> None:
    before = compare(PRODUCTION).computed_total
    after = compare(with_redis(PRODUCTION, node_type="cache.t3.medium")).computed_total
    # one primary and one replica, and the DR standby's node (it runs the primary's
    # node type unless dr.redis.node_type names one)
    nodes = 3
    expected = nodes * HOURS * (usd("elasticache.node", "cache.t3.medium")
                                - usd("elasticache.node", "cache.t3.small"))
    assert round(after - before, 2) == round(expected, 2)


def test_the_standby_cache_is_priced_at_its_own_size_and_count() -> None:
    standby = PRODUCTION.dr.redis
    assert standby is not None
    bigger = PRODUCTION.model_copy(update={"dr": PRODUCTION.dr.model_copy(update={
        "redis": standby.model_copy(update={"node_type": "cache.t3.medium", "replicas": 1,
                                            "automatic_failover": True})})})
    [line] = lines_named(bigger, "ElastiCache standby (DR)")
    assert (line.quantity, line.unit_price) == \
        (2 * HOURS, usd("elasticache.node", "cache.t3.medium", "us-west-2"))
    assert line.derivation.startswith("2 nodes x 730 h")
    off = PRODUCTION.model_copy(update={"dr": PRODUCTION.dr.model_copy(update={
        "standby": PRODUCTION.dr.standby.model_copy(update={"redis": False})})})
    assert not lines_named(off, "ElastiCache standby (DR)")
    assert not lines_named(STAGING, "ElastiCache standby (DR)")


def test_single_az_drops_the_standby_and_its_storage() -> None:
    before = compare(PRODUCTION)
    after = compare(with_rds(PRODUCTION, multi_az=False))
    assert not lines_named(with_rds(PRODUCTION, multi_az=False), "RDS Multi-AZ standby")
    dropped = HOURS * usd("rds.instance", "db.t3.small") + 100 * usd("rds.storage", "gp3")
    assert round(before.computed_total - after.computed_total, 2) == round(dropped, 2)


def test_staging_is_priced_from_its_own_config_and_is_cheaper() -> None:
    staging, production = compare(STAGING), compare(PRODUCTION)
    assert staging.computed_total < production.computed_total
    assert staging.spec_total == 154.15
    services = {line.service for line in staging.computed}
    assert not services & {"RDS read replica (same region)", "RDS read replica (cross-region DR)",
                           "KMS replica key (DR)", "Standby ALB (DR)", "RDS Multi-AZ standby",
                           "Secrets Manager replicas (DR)",
                           "DataDog APM"}
    assert lines_named(STAGING, "ElastiCache")[0].quantity == HOURS  # one cache.t3.micro
    assert lines_named(STAGING, "PgBouncer EC2")[0].detail == "t3.micro"


def test_an_unpriced_instance_class_is_a_one_line_error() -> None:
    with pytest.raises(PriceNotFound) as raised:
        compare(with_rds(PRODUCTION, instance_class="db.x9.huge"))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("cost: no price for RDS instance class db.x9.huge in us-east-1")
    assert "db.t3.medium" in message  # what is priced there
    assert raised.value.exit_code == 2


def test_every_price_row_names_its_source_and_date() -> None:
    for price in PRICES.prices.values():
        assert price.usd > 0, price
        assert price.source and price.checked == PRICES.checked, price


def run_cost(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    extra = ["--config", str(config)] if config else []
    return subprocess.run([sys.executable, "-m", "vivr_provision", "cost", *extra, *args],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)


def test_the_cli_prints_both_tables_within_80_columns_and_the_same_in_json() -> None:
    result = compare(PRODUCTION)
    text = run_cost()
    assert text.returncode == 0, text.stderr
    width = max(len(line) for line in text.stdout.splitlines())
    assert width <= 80
    assert "total per month: 358.09 USD" in text.stdout
    assert f"computed total per month: {result.computed_total:,.2f} USD" in text.stdout
    for service in ("RDS read replica (cross-region DR)", "KMS replica key (DR)", "WAF rules",
                    "PgBouncer EC2", "Elastic IP"):
        assert service in text.stdout
    assert f"{result.difference:+,.2f}" in text.stdout
    document = json.loads(run_cost("--output", "json").stdout)
    assert document["total_monthly"] == 358.09
    assert document["computed"]["total_monthly"] == result.computed_total
    assert document["difference"]["left_out_by_spec"]["total"] == result.left_out_total


def test_the_cli_refuses_an_unpriced_class_in_one_line(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["rds"]["instance_class"] = "db.x9.huge"
    config = tmp_path / "production.yaml"
    config.write_text(yaml.safe_dump(data))
    failed = run_cost(config=config)
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1
    assert "no price for RDS instance class db.x9.huge in us-east-1" in failed.stderr


def test_cost_imports_no_aws_sdk() -> None:
    probe = ("import sys, vivr_provision.cost, vivr_provision.cost.text; "
             "print(sorted(m for m in sys.modules if m.startswith(('boto3', 'botocore', "
             "'vivr_provision.engine', 'vivr_provision.steps'))))")
    found = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert found.stdout.strip() == "[]"


def test_pgbouncer_detailed_monitoring_is_its_seven_metrics() -> None:
    """Issue 12: EC2 detailed monitoring bills the instance's 7 one-minute metrics."""
    [line] = lines_named(PRODUCTION, "PgBouncer detailed monitoring")
    assert (line.quantity, line.monthly) == (7, round(7 * usd("cloudwatch.metric"), 2))
    off = PRODUCTION.model_copy(update={"pgbouncer": PRODUCTION.pgbouncer.model_copy(
        update={"detailed_monitoring": False})})
    assert lines_named(off, "PgBouncer detailed monitoring") == []
    assert round(compare(PRODUCTION).computed_total - compare(off).computed_total, 2) == \
        line.monthly
