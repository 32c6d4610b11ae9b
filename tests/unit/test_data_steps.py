"""Pure parts of the data-tier steps: secret generation, IAM documents, RDS requests."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest

from vivr_provision import log
from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.config.data import GeneratedSecretConfig
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.iam import IamRoleStep
from vivr_provision.steps.rds import DbPrimaryStep
from vivr_provision.steps.secrets import ALLOWED_PUNCTUATION, generate_value

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return load_config(REPO / "config" / "production.yaml", "production")


def _rules(**overrides: Any) -> GeneratedSecretConfig:
    values: dict[str, Any] = {"name": "x", "description": "x", "length": 32,
                              "exclude_punctuation": True}
    values.update(overrides)
    return GeneratedSecretConfig(**values)


def test_generated_values_have_the_length_and_alphabet_asked_for() -> None:
    values = {generate_value(_rules(), "") for _ in range(200)}
    assert len(values) == 200, "no repeats from a CSPRNG"
    for value in values:
        assert len(value) == 32 and value.isalnum()
        assert any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def test_redis_tokens_use_only_the_punctuation_elasticache_accepts() -> None:
    rules = _rules(exclude_punctuation=False, length=64)
    seen = set("".join(generate_value(rules, ALLOWED_PUNCTUATION["redis_auth_token"])
                       for _ in range(200)))
    punctuation = seen - set(string.ascii_letters + string.digits)
    assert punctuation and punctuation <= set("!&#$^<>-")


def test_rds_passwords_never_contain_characters_rds_refuses() -> None:
    rules = _rules(exclude_punctuation=False, length=128)
    seen = set("".join(generate_value(rules, ALLOWED_PUNCTUATION["database_credentials"])
                       for _ in range(100)))
    assert not seen & set('/@" ')


def test_excluded_characters_are_respected() -> None:
    rules = _rules(exclude_characters="0Oo1lI")
    assert not any(set(generate_value(rules, "")) & set("0Oo1lI") for _ in range(200))


def test_redaction_hides_registered_secrets_in_any_text() -> None:
    log.register_secret("s3cr3t-value-xyz")
    assert log.redact("error: password s3cr3t-value-xyz rejected") == \
        f"error: password {log.REDACTED} rejected"


def _context(config: PlatformConfig) -> StepContext:
    """Dependency outputs as real steps would record them."""
    outputs: dict[str, dict[str, Any]] = {
        "kms": {"key_id": "k", "key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"},
        "dr.kms": {"key_id": "k", "key_arn": f"arn:aws:kms:us-west-2:{ACCOUNT}:key/k"},
        "iam.rds_monitoring_role": {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/mon"},
        "sg.vivr-db-sg": {"group_id": "sg-db"},
        "redis-export-state-machine": {
            "arn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:vivr-redis-export"},
    }
    # The origin-verify rotation function's role reads its log group, the
    # distribution and the listeners' origin-verify rules (issue 12).
    from vivr_provision.steps.alb.rules import VERIFY_RULE
    from vivr_provision.steps.secret_rotation import DISTRIBUTION_STEP, rule_steps

    rotation = config.secrets.origin_verify.rotation
    if rotation is not None:
        group = config.logs.groups[rotation.log_group].name
        outputs[f"logs.{rotation.log_group}"] = {
            "arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"}
        outputs[DISTRIBUTION_STEP] = {
            "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1", "distribution_id": "E1"}
        for step, region, _ in rule_steps(config):
            outputs[step] = {"rule_arns": {VERIFY_RULE: (
                f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:listener-rule/app/"
                f"{step}/1/2/3")}}
    for key in config.secrets.names():
        outputs[f"secret.{key}"] = {
            "arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{key}-AbCdEf",
            "dr_arn": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:{key}-AbCdEf"}
    return StepContext(config, ClientFactory(AwsSettings(region="us-east-1")), outputs.get,
                       account_id=ACCOUNT)


#: Actions IAM authorises only on "*" (Service Authorization Reference: no resource type).
#: ElastiCache's API permissions reference: "specify the wildcard character (*) as the
#: resource" for its Describe calls; CopySnapshot's S3 check lists all buckets.
RESOURCELESS = frozenset({"logs:DescribeLogGroups", "elasticache:DescribeSnapshots",
                          "s3:ListAllMyBuckets",
                          # Step Functions developer guide, "Logging in CloudWatch
                          # Logs": the log-delivery actions its role needs take no
                          # resource (issue 12, the Redis export's logs).
                          "logs:CreateLogDelivery", "logs:GetLogDelivery",
                          "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                          "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                          "logs:DescribeResourcePolicies",
                          # Service Authorization Reference: neither names a resource
                          # type (the origin-verify rotation function, issue 12).
                          "secretsmanager:GetRandomPassword",
                          "elasticloadbalancing:DescribeRules"})


def test_no_iam_statement_uses_a_wildcard_resource(config: PlatformConfig) -> None:
    ctx = _context(config)
    roles = [s for s in build_steps(config) if isinstance(s, IamRoleStep)]
    assert {r.role.name for r in roles} >= {
        "vivr-ecs-task-execution-role", "vivr-ecs-task-role", "vivr-backup-role",
        "vivr-cloudfront-role", "vivr-rds-monitoring-role", "vivr-pgbouncer-instance-role"}
    for role in roles:
        document = role.inline_policy(ctx)
        for statement in (document or {}).get("Statement", []):
            if statement["Resource"] == ["*"]:
                assert set(statement["Action"]) <= RESOURCELESS, (role.role.name, statement)
                continue
            for resource in statement["Resource"]:
                assert resource.startswith("arn:aws:"), (role.role.name, resource)
                name = resource.split(":")[-1]
                if resource.startswith("arn:aws:s3:::"):  # a bucket, or its objects
                    assert "*" not in name.removesuffix("/*"), resource
                elif ":log-group:" in resource:  # one named group, ":*" = its streams
                    group = resource.split(":log-group:", 1)[1].removesuffix(":*")
                    assert "*" not in group, resource
                elif ":elasticache:" in resource and "*" in name:
                    # the cache group's member clusters, the export's snapshots
                    export = config.backup.redis_export
                    assert export is not None
                    assert name.startswith((f"{config.redis.replication_group_id}-",
                                            f"{export.snapshot_prefix}-")), resource
                elif "*" in name:  # queues/topics "if used": only this environment's names
                    assert name.startswith("vivr-production-"), resource
                if not resource.startswith("arn:aws:s3:::"):
                    assert f":{ACCOUNT}:" in resource, resource


def test_pgbouncer_role_reads_only_its_secrets(config: PlatformConfig) -> None:
    ctx = _context(config)
    role = next(s for s in build_steps(config) if isinstance(s, IamRoleStep)
                and s.key == "pgbouncer_instance_role")
    document = role.inline_policy(ctx)
    assert document is not None
    secrets = next(s for s in document["Statement"] if s["Sid"] == "SecretsManagerReadSecret")
    assert secrets["Resource"] == sorted([
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:database_credentials-AbCdEf",
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:datadog-AbCdEf"])
    trust = role.trust_policy("000000000000")
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert role.needs_instance_profile


def test_primary_request_carries_every_spec_setting(config: PlatformConfig) -> None:
    desired = DbPrimaryStep(config).desired(_context(config))
    assert desired["MultiAZ"] is True
    assert desired["BackupRetentionPeriod"] == 30
    assert desired["PreferredBackupWindow"] == "03:00-04:00"
    assert desired["EnablePerformanceInsights"] is True
    assert desired["PerformanceInsightsRetentionPeriod"] == 31
    assert desired["MaxAllocatedStorage"] == 200
    assert desired["EnableIAMDatabaseAuthentication"] is True
    assert desired["CloudwatchLogsExports"] == ["postgresql"]
    assert desired["VpcSecurityGroupIds"] == ["sg-db"]


def test_replication_role_can_replicate_and_nothing_more(config: PlatformConfig) -> None:
    role = next(s for s in build_steps(config) if isinstance(s, IamRoleStep)
                and s.key == "s3_replication_role")
    assert "dr.kms" in role.depends_on()
    document = role.inline_policy(_context(config))
    assert document is not None
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["S3ReplicationSourceBuckets"]["Resource"] == ["arn:aws:s3:::vivr-backups"]
    assert by_sid["S3ReplicationDestinationObjects"]["Resource"] == [
        "arn:aws:s3:::vivr-backups-dr/*"]
    assert "s3:ReplicateObject" in by_sid["S3ReplicationDestinationObjects"]["Action"]
    assert by_sid["S3ReplicationEncryptReplicas"]["Resource"] == [
        f"arn:aws:kms:us-west-2:{ACCOUNT}:key/k"]
