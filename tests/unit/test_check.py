"""``check`` on the real configs, and on deliberately broken ones, each failing by name.

Config validation already rejects some of these breakages when the YAML is
loaded (exit 2), so the broken configs are made by copying the loaded model
(pydantic ``model_copy`` skips validation): what is proven is the check itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vivr_provision.check import CheckFailed, preflight, run_check
from vivr_provision.check.documents import build_documents
from vivr_provision.check.symbolic import ACCOUNT_ID
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import AlbOriginConfig
from vivr_provision.config.loader import load_config
from vivr_provision.config.network import SecurityRule
from vivr_provision.steps.iam import IamRoleStep
from vivr_provision.steps.kms import KmsKeyStep

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = load_config(REPO / "config" / "production.yaml")
STAGING = load_config(REPO / "config" / "staging.yaml")


# -- mutations of the loaded model (no validation: the check must catch them) --------------
def with_group(config: PlatformConfig, name: str,
               change: Callable[[dict[str, Any]], dict[str, Any]]) -> PlatformConfig:
    groups = [g.model_copy(update=change({"ingress": list(g.ingress), "egress": list(g.egress)}))
              if g.name == name else g for g in config.security_groups]
    return config.model_copy(update={"security_groups": groups})


def without_egress_port(config: PlatformConfig, group: str, port: int) -> PlatformConfig:
    return with_group(config, group, lambda rules: {
        "egress": [r for r in rules["egress"] if r.port != port]})


def with_ingress(config: PlatformConfig, group: str, rule: SecurityRule) -> PlatformConfig:
    return with_group(config, group, lambda rules: {"ingress": [*rules["ingress"], rule]})


def with_route(config: PlatformConfig, table: str, route: str) -> PlatformConfig:
    tables = [t.model_copy(update={"default_route": route}) if t.name == table else t
              for t in config.network.route_tables]
    return config.model_copy(update={"network": config.network.model_copy(
        update={"route_tables": tables})})


def with_grants(config: PlatformConfig, role: str,
                keep: Callable[[Any], Any]) -> PlatformConfig:
    """Role ``role`` with each grant passed through ``keep`` (None drops it)."""
    current = getattr(config.iam, role)
    grants = [g2 for g in current.grants if (g2 := keep(g)) is not None]
    iam = config.iam.model_copy(update={role: current.model_copy(update={"grants": grants})})
    return config.model_copy(update={"iam": iam})


def without_origin_headers(config: PlatformConfig) -> PlatformConfig:
    origins = [o.model_copy(update={"custom_headers": []}) if isinstance(o, AlbOriginConfig)
               else o for o in config.cloudfront.origins]
    return config.model_copy(update={"cloudfront": config.cloudfront.model_copy(
        update={"origins": origins})})


def rule(port: int, cidr: str, protocol: str = "tcp") -> SecurityRule:
    return SecurityRule(protocol=protocol, port=port, cidr=cidr, description="broken")  # type: ignore[arg-type]


def failures_of(config: PlatformConfig) -> list[str]:
    report = run_check(config)
    assert report.ok is not bool(report.failures)
    return report.failures


# -- the real configs -----------------------------------------------------------------------
@pytest.mark.parametrize("config", [PRODUCTION, STAGING], ids=["production", "staging"])
def test_the_shipped_configs_pass_every_flow_permission_and_lint(config: PlatformConfig) -> None:
    report = run_check(config)
    assert report.failures == []
    names = [f.name for f in report.flows]
    for expected in ("CloudFront → ALB tcp/443 with X-Origin-Verify", "ALB → app tcp/3000",
                     "app → PgBouncer tcp/6432", "PgBouncer → RDS tcp/5432",
                     "app → Redis tcp/6379", "app → internet tcp/443 via NAT (external APIs)",
                     "database subnets: no internet route", "cache subnets: no internet route",
                     "only app and PgBouncer may reach RDS tcp/5432",
                     "only app may reach Redis tcp/6379",
                     "internet → ALB direct (without the header): refused"):
        assert expected in names
    principals = {a.principal.split(" (")[0] for a in report.access}
    assert {"ECS execution role", "ECS task role", "RDS monitoring role", "backup role",
            "PgBouncer instance role", "CloudFront OAC", "CloudWatch Logs"} <= principals
    assert report.lint and all(r.accepted for r in report.lint)
    json.dumps(report.as_dict())  # serialisable as is


def test_production_proves_replication_and_the_dr_key_through_the_dr_key_policy() -> None:
    report = run_check(PRODUCTION)
    encrypt = next(a for a in report.access if a.actions == ("kms:Encrypt",))
    assert encrypt.ok and ":us-west-2:" in encrypt.resource
    # The replica key's own policy (it admits CloudWatch Logs for the standby's
    # log group) delegates to IAM as KMS's default one does.
    assert "key policy (dr.kms)#AccountAdministration" in encrypt.reason
    assert any("ALB log delivery" in a.principal and a.ok for a in report.access)


# -- deliberately broken configs: each fails, naming the flow or permission ------------------
BROKEN: list[tuple[str, Callable[[], PlatformConfig], str]] = [
    ("app → PgBouncer egress removed",
     lambda: without_egress_port(PRODUCTION, "vivr-app-sg", 6432),
     "flow app → PgBouncer tcp/6432: no egress rule of vivr-app-sg allows tcp/6432 to "
     "vivr-pgbouncer-sg"),
    ("PgBouncer → RDS egress removed",
     lambda: without_egress_port(PRODUCTION, "vivr-pgbouncer-sg", 5432),
     "flow PgBouncer → RDS tcp/5432: no egress rule of vivr-pgbouncer-sg"),
    ("task role's decrypt removed",
     lambda: with_grants(PRODUCTION, "task_role",
                         lambda g: None if g.capability == "KMSDecrypt" else g),
     "permission ECS task role (vivr-ecs-task-role): kms:Decrypt on arn:aws:kms:us-east-1:"),
    ("execution role's read of one secret removed",
     lambda: with_grants(PRODUCTION, "task_execution_role", lambda g: g.model_copy(update={
         "resources": [r for r in g.resources if r != "stripe"]})),
     "permission ECS execution role (vivr-ecs-task-execution-role): "
     "secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:111122223333:secret:"
     "vivr/production/stripe-AbCdEf"),
    ("database group open to 0.0.0.0/0",
     lambda: with_ingress(PRODUCTION, "vivr-db-sg", rule(5432, "0.0.0.0/0")),
     "flow only app and PgBouncer may reach RDS tcp/5432: vivr-db-sg ingress tcp/5432 from "
     "0.0.0.0/0 admits addresses outside the VPC"),
    ("cache group open to the VPC CIDR",
     lambda: with_ingress(PRODUCTION, "vivr-cache-sg", rule(6379, "10.0.0.0/16")),
     "flow only app may reach Redis tcp/6379: vivr-cache-sg ingress tcp/6379 from 10.0.0.0/16 "
     "also admits public subnet public-1a"),
    ("cache group open to every port",
     lambda: with_group(PRODUCTION, "vivr-cache-sg", lambda r: {"ingress": [
         SecurityRule(protocol="all", group="vivr-app-sg", description="broken")]}),
     "vivr-cache-sg ingress all from vivr-app-sg admits more than tcp/6379"),
    ("a database subnet routed to the NAT",
     lambda: with_route(PRODUCTION, "vivr-data-rt", "nat_gateway"),
     "flow database subnets: no internet route: subnet db-1a routes 0.0.0.0/0 to the nat "
     "gateway (vivr-data-rt)"),
    ("origin-header rule removed",
     lambda: PRODUCTION.model_copy(update={"alb": PRODUCTION.alb.model_copy(
         update={"origin_verify": None})}),
     "flow internet → ALB direct (without the header): refused: alb.origin_verify is not set"),
    ("CloudFront not sending the header",
     lambda: without_origin_headers(PRODUCTION),
     "flow CloudFront → ALB tcp/443 with X-Origin-Verify: CloudFront origin app does not send "
     "X-Origin-Verify"),
    ("app subnets without a NAT route",
     lambda: with_route(PRODUCTION, "vivr-private-rt", "none"),
     "flow app → internet tcp/443 via NAT (external APIs): subnet private-1a has no 0.0.0.0/0 "
     "route to the NAT gateway"),
    ("ALB subnets without an internet gateway route",
     lambda: with_route(STAGING, "vivr-public-rt", "none"),
     "ALB subnet public-1a has no route to the internet gateway"),
]


@pytest.mark.parametrize("what, broken, expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_config_fails_naming_the_flow_or_permission(
        what: str, broken: Callable[[], PlatformConfig], expected: str) -> None:
    failures = failures_of(broken())
    assert any(expected in line for line in failures), (what, failures)
    assert len(BROKEN) >= 10


def test_the_check_uses_the_iam_step_builder_so_a_broken_builder_fails_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop the DR-key statement from what the step itself would send: the replication
    role can no longer encrypt replicas, and the check says so."""
    original = IamRoleStep.inline_policy

    def without_dr_encrypt(self: IamRoleStep, ctx: Any) -> dict[str, Any] | None:
        document = original(self, ctx)
        if document is not None:
            document["Statement"] = [s for s in document["Statement"]
                                     if s.get("Sid") != "S3ReplicationEncryptReplicas"]
        return document

    monkeypatch.setattr(IamRoleStep, "inline_policy", without_dr_encrypt)
    failures = failures_of(PRODUCTION)
    assert failures == [line for line in failures if "S3 replication role" in line]
    assert len(failures) == 1
    assert "kms:Encrypt on arn:aws:kms:us-west-2:111122223333:key/mrk-" in failures[0]
    assert "no IAM policy of S3 replication role" in failures[0]


def test_lint_rejects_an_action_on_the_wrong_resource_type_and_a_misspelt_action(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = IamRoleStep.inline_policy

    def sloppy(self: IamRoleStep, ctx: Any) -> dict[str, Any] | None:
        document = original(self, ctx)
        if document is not None and self.key == "task_role":
            document["Statement"] += [
                {"Sid": "Bucket", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::vivr-assets"},
                {"Sid": "Typo", "Effect": "Allow", "Action": "kms:Decrpyt", "Resource": "*"}]
        return document

    monkeypatch.setattr(IamRoleStep, "inline_policy", sloppy)
    lint = [line for line in failures_of(PRODUCTION) if line.startswith("lint ")]
    assert any("vivr-ecs-task-role/vivr-grants: RESOURCE_MISMATCH" in line
               and "s3:GetObject" in line for line in lint), lint
    assert any("UNKNOWN_ACTION" in line and "kms:Decrpyt" in line for line in lint), lint


def _autoscaling_statement() -> dict[str, Any]:
    """The statements the EC2 Auto Scaling User Guide gives for CMK-encrypted volumes."""
    slr = (f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/"
           "AWSServiceRoleForAutoScaling")
    return {"Sid": "AutoScalingUse", "Effect": "Allow", "Principal": {"AWS": slr},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:DescribeKey", "kms:CreateGrant"], "Resource": "*"}


@pytest.mark.parametrize("names_the_role", [False, True])
def test_ec2_launch_needs_the_autoscaling_role_in_the_key_policy_itself(
        monkeypatch: pytest.MonkeyPatch, names_the_role: bool) -> None:
    """Root delegation is not enough: the service-linked role has no IAM grant on our key."""
    original = KmsKeyStep.key_policy

    def key_policy(self: KmsKeyStep, ctx: Any) -> str:
        document = json.loads(original(self, ctx))
        document["Statement"] = [s for s in document["Statement"]
                                 if "autoscaling" not in json.dumps(s)]
        if names_the_role:
            document["Statement"].append(_autoscaling_statement())
        return json.dumps(document)

    monkeypatch.setattr(KmsKeyStep, "key_policy", key_policy)
    ec2 = PRODUCTION.model_copy(update={"ecs": PRODUCTION.ecs.model_copy(
        update={"launch_type": "ec2"})})
    failures = [line for line in failures_of(ec2) if not line.startswith("lint ")]
    slr = [line for line in failures if "Auto Scaling service-linked role" in line]
    if names_the_role:
        assert slr == []
    else:
        assert slr and "kms:Decrypt: key policy (kms) neither names" not in slr[0]
        assert "delegates to IAM, but no IAM policy of Auto Scaling" in slr[0]
    assert fails_only_on_autoscaling(failures)


def fails_only_on_autoscaling(failures: list[str]) -> bool:
    return all("Auto Scaling service-linked role" in line for line in failures)


def test_preflight_refuses_as_a_config_error_with_every_reason_on_one_line() -> None:
    broken = without_egress_port(with_route(PRODUCTION, "vivr-data-rt", "nat_gateway"),
                                 "vivr-app-sg", 6432)
    with pytest.raises(CheckFailed) as raised:
        preflight(broken)
    message = str(raised.value)
    assert raised.value.exit_code == 2
    assert "\n" not in message
    assert "app → PgBouncer tcp/6432" in message and "subnet db-1a routes" in message
    assert preflight(PRODUCTION).ok


def test_documents_come_from_the_steps_with_symbolic_arns() -> None:
    documents = build_documents(PRODUCTION)
    kinds = {g.kind for g in documents.generated}
    assert kinds == {"identity", "trust", "key", "bucket", "secret"}
    text = json.dumps([g.document for g in documents.generated])
    assert ACCOUNT_ID in text and "000000000000" not in text
    assert documents.unknown_managed == []


def test_lint_findings_with_one_reason_are_one_row_naming_every_policy() -> None:
    from vivr_provision.check.lint import LintResult
    from vivr_provision.check.report import _lint_rows

    why = "a role trust policy has no Resource"
    results = [LintResult("a/trust", "trust", "MALFORMED", "no resource", why),
               LintResult("b/trust", "trust", "MALFORMED", "no resource", why),
               LintResult("kms", "key", "RESOURCE_STAR", "star", "means this key"),
               LintResult("c/grants", "iam", "RESOURCE_MISMATCH", "wants *", None)]
    assert _lint_rows(results) == [
        ["a/trust\nb/trust", "MALFORMED", "accepted", why],
        ["kms", "RESOURCE_STAR", "accepted", "means this key"],
        ["c/grants", "RESOURCE_MISMATCH", "FAIL", "wants *"]]


def test_encrypted_topics_need_the_publishers_in_both_key_policies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: without the grant CloudWatch alarms and RDS events could not publish to
    the encrypted topics (each notification dropped silently); the check says so, per
    service and region."""
    report = run_check(PRODUCTION)
    publishing = [a for a in report.access if "encrypted topics" in a.why]
    assert len(publishing) == 4 and all(a.ok for a in publishing)
    assert {a.resource.split(":")[3] for a in publishing} == {"us-east-1", "us-west-2"}

    monkeypatch.setattr("vivr_provision.steps.kms.topic_publisher_statements",
                        lambda config, account: [])
    failures = failures_of(PRODUCTION)
    assert len(failures) == 4, failures
    assert all("kms:GenerateDataKey, kms:Decrypt on arn:aws:kms:" in line for line in failures)
    assert any(line.startswith("permission RDS events (events.rds.amazonaws.com): "
                               "kms:GenerateDataKey, kms:Decrypt on arn:aws:kms:us-west-2:")
               for line in failures), failures


def test_production_proves_the_issue_12_log_keys_through_the_key_policies() -> None:
    """The DR replica's RDS log group under the DR key, and the Redis export's log
    delivery decrypting the encrypted state machine's events with the platform key."""
    report = run_check(PRODUCTION)
    by_why = {a.why: a for a in report.access}
    dr_group = by_why["encrypts /aws/rds/instance/vivr-db-dr/postgresql"]
    assert dr_group.ok and "key policy (dr.kms)#CloudWatchLogsOfThisEnvironment" in \
        dr_group.reason
    delivery = by_why["delivers /aws/vendedlogs/states/vivr-production-redis-export "
                      "(encrypted state machine)"]
    assert delivery.ok and "key policy (kms)#StepFunctionsLogDelivery" in delivery.reason
