"""Data tier through the real CLI: KMS, secrets, IAM monitoring role, RDS and its replicas.

Expected values are the spec's (../shared/spec/infrastructure-requirements.md,
"Database Requirements"), not read from config, so a wrong config fails here.
Settings the emulator does not store are checked in the request the tool
sent (``aws.requests``), which is what real AWS would receive.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

PRIMARY = "vivr-db"
REPLICA = "vivr-db-replica-1"
DR_REPLICA = "vivr-db-dr"
DATA_STEPS = {
    "kms", "dr.kms", "secret.database_credentials", "secret.redis_auth_token",
    "secret.origin_verify", "secret.stripe", "secret.sendgrid", "secret.cloudinary",
    "secret.sentry", "secret.datadog", "iam.rds_monitoring_role", "rds-subnet-group",
    "rds-parameter-group", "dr.rds-subnet-group", "dr.rds-parameter-group",
    f"rds.{PRIMARY}", f"rds.{REPLICA}", f"dr.rds.{DR_REPLICA}",
}


def _db(aws: Aws, identifier: str, region: str = "us-east-1") -> dict[str, Any]:
    return dict(aws.client("rds", region).describe_db_instances(
        DBInstanceIdentifier=identifier)["DBInstances"][0])


def _one(requests: list[dict[str, Any]], identifier: str) -> dict[str, Any]:
    matching = [r for r in requests if r.get("DBInstanceIdentifier") == identifier]
    assert len(matching) == 1, matching
    return matching[0]


def _secret_values(aws: Aws) -> list[str]:
    sm = aws.client("secretsmanager")
    database = json.loads(sm.get_secret_value(
        SecretId="vivr/production/database/master")["SecretString"])
    return [database["password"],
            sm.get_secret_value(SecretId="vivr/production/redis/auth-token")["SecretString"],
            sm.get_secret_value(
                SecretId="vivr/production/cloudfront/origin-verify")["SecretString"]]


def test_plan_on_a_fresh_account_creates_every_data_tier_resource(aws: Aws) -> None:
    code, report = aws.cli_json("plan")
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert set(actions) >= DATA_STEPS
    assert {actions[s] for s in DATA_STEPS} == {"create"}
    assert aws.mutating_calls() == []


def test_apply_builds_the_database_tier_as_the_spec_says(aws: Aws) -> None:
    result = aws.cli("apply", "--output", "json")
    assert result.returncode == 0, result.stderr[-3000:]

    kms = aws.client("kms")
    key = kms.describe_key(KeyId="alias/vivr-production")["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and key["MultiRegion"] is True
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    replica_key = aws.client("kms", "us-west-2").describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert replica_key["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"

    sm = aws.client("secretsmanager")
    for name in ("vivr/production/database/master", "vivr/production/redis/auth-token"):
        secret = sm.describe_secret(SecretId=name)
        assert secret["KmsKeyId"] in (key["Arn"], key["KeyId"])
    credentials = json.loads(sm.get_secret_value(
        SecretId="vivr/production/database/master")["SecretString"])
    assert len(credentials["password"]) == 32 and credentials["password"].isalnum()
    token = sm.get_secret_value(SecretId="vivr/production/redis/auth-token")["SecretString"]
    assert len(token) == 32  # spec: 32-character random string
    for placeholder in ("stripe", "sendgrid", "cloudinary", "sentry"):
        described = sm.describe_secret(SecretId=f"vivr/production/{placeholder}")
        assert not described.get("VersionIdsToStages"), f"{placeholder} must be created empty"

    primary = _db(aws, PRIMARY)
    assert primary["Engine"] == "postgres" and primary["EngineVersion"].startswith("16")
    assert primary["DBInstanceClass"] == "db.t3.small"
    assert (primary["StorageType"], primary["AllocatedStorage"],
            primary["MaxAllocatedStorage"]) == ("gp3", 100, 200)
    assert primary["MultiAZ"] is True
    assert primary["BackupRetentionPeriod"] == 30
    assert primary["PreferredBackupWindow"] == "03:00-04:00"
    assert primary["StorageEncrypted"] is True and primary["KmsKeyId"] == key["Arn"]
    assert primary["PubliclyAccessible"] is False
    assert primary["IAMDatabaseAuthenticationEnabled"] is True
    assert primary["DBName"] == "vivr" and primary["Endpoint"]["Port"] == 5432
    assert primary["EnabledCloudwatchLogsExports"] == ["postgresql"]
    assert primary["DeletionProtection"] is True
    assert primary["MonitoringInterval"] > 0
    assert primary["MonitoringRoleArn"].endswith(":role/vivr-rds-monitoring-role")
    assert primary["DBParameterGroups"][0]["DBParameterGroupName"] == "vivr-db-pg"
    subnets = {s["SubnetIdentifier"] for s in primary["DBSubnetGroup"]["Subnets"]}
    ec2 = aws.client("ec2")
    names = {s["SubnetId"]: {t["Key"]: t["Value"] for t in s["Tags"]}["Name"]
             for s in ec2.describe_subnets(SubnetIds=sorted(subnets))["Subnets"]}
    assert set(names.values()) == {"db-1a", "db-1b"}
    db_sg = ec2.describe_security_groups(
        GroupIds=[g["VpcSecurityGroupId"] for g in primary["VpcSecurityGroups"]])
    assert [g["GroupName"] for g in db_sg["SecurityGroups"]] == ["vivr-db-sg"]

    # What the emulator does not keep is checked in the request itself.
    sent = _one(aws.requests("CreateDBInstance"), PRIMARY)
    assert sent["EnablePerformanceInsights"] is True
    assert sent["PerformanceInsightsRetentionPeriod"] == 31
    assert sent["PerformanceInsightsKMSKeyId"] == key["Arn"]
    assert sent["MasterUsername"] == credentials["username"]
    assert sent["MasterUserPassword"] == credentials["password"]
    assert "Iops" not in sent and "StorageThroughput" not in sent, \
        "gp3 below 400 GiB runs at the 3000 IOPS / 125 MiB/s baseline; RDS rejects explicit ones"

    parameters = {p["ParameterName"]: p["ParameterValue"] for p in aws.client(
        "rds").describe_db_parameters(DBParameterGroupName="vivr-db-pg",
                                      Source="user")["Parameters"]}
    assert parameters["timezone"] == "UTC"
    assert parameters["work_mem"] == str(4 * 1024)            # 4MB in kB
    assert parameters["shared_buffers"] == str(256 * 1024 // 8)   # 256MB in 8kB pages
    assert parameters["effective_cache_size"] == str(1024 * 1024 // 8)  # 1GB in 8kB pages
    assert parameters["max_connections"] == "200"
    assert parameters["idle_session_timeout"] == str(300 * 1000)  # 300 s in ms
    assert parameters["rds.force_ssl"] == "1"

    replica = _db(aws, REPLICA)
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] in (PRIMARY, primary["DBInstanceArn"])
    assert replica["AvailabilityZone"] == "us-east-1b"
    # Issue 12: protected from the config like the primary (AWS's default is off).
    assert replica["DeletionProtection"] is True and replica["StorageEncrypted"] is True

    dr = _db(aws, DR_REPLICA, "us-west-2")
    assert dr["DBInstanceArn"].split(":")[3] == "us-west-2"
    assert dr["ReadReplicaSourceDBInstanceIdentifier"] == primary["DBInstanceArn"]
    assert dr["DBSubnetGroup"]["DBSubnetGroupName"] == "vivr-dr-db-subnet-group"
    # Spec "Enhanced monitoring: Enabled", on every instance (issue 12: Prowler reads
    # the RDSOSMetrics stream AWS names; the sandbox derives it as AWS does).
    for instance in (primary, replica, dr):
        assert (instance["MonitoringInterval"], instance["MonitoringRoleArn"].rsplit("/")[-1],
                instance["EnhancedMonitoringResourceArn"].split(":")[5:7]) == (
            60, "vivr-rds-monitoring-role", ["log-group", "RDSOSMetrics"])
    sent = _one(aws.requests("CreateDBInstanceReadReplica"), DR_REPLICA)
    assert sent["SourceRegion"] == "us-east-1"
    assert sent["KmsKeyId"] == replica_key["Arn"]
    assert sent["AvailabilityZone"] == "us-west-2a"

    role = aws.client("iam").get_role(RoleName="vivr-rds-monitoring-role")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}

    mark = len(aws.calls())
    code, report = aws.cli_json("apply")
    assert code == 0
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []


def test_no_secret_value_reaches_state_logs_or_status(aws: Aws) -> None:
    applied = aws.cli("apply", "--output", "json", "-v")
    assert applied.returncode == 0, applied.stderr[-3000:]
    values = _secret_values(aws)
    status = aws.cli("status", "--output", "json")
    refreshed = aws.cli("status", "--refresh", "--output", "json")
    destroyed = aws.cli("destroy", "--yes", "--disable-deletion-protection", "--output", "json")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    places = {
        "apply logs (JSON lines)": applied.stderr, "apply report": applied.stdout,
        "state file": aws.state_path.read_text(), "status": status.stdout,
        "status --refresh": refreshed.stdout, "destroy": destroyed.stdout + destroyed.stderr,
    }
    assert applied.stderr.lstrip().startswith("{"), "logs are JSON lines off a terminal"
    for value in values:
        for where, text in places.items():
            assert value not in text, f"a secret value leaked into the {where}"


def test_destroy_keeps_data_recoverable_and_reports_it(aws: Aws) -> None:
    before = aws.inventory()
    assert aws.cli("apply").returncode == 0

    # Without the flag, the protected database and load balancers would stop the
    # teardown halfway: destroy plans it all first and refuses before any delete.
    mark = len(aws.calls())
    protected = aws.cli("destroy", "--yes")
    assert protected.returncode == 1
    assert aws.mutating_calls(since=mark) == [], "nothing was deleted"
    counted = re.search(r"(\d+) to destroy", protected.stdout)
    assert counted is not None and int(counted.group(1)) > 100
    steps = int(counted.group(1))
    # The protected steps come in the plan walk's order, which the graph's
    # shape (not a contract) decides: compared as a set.
    refused = re.search(rf"destroy of {steps} resource\(s\) would stop halfway at 5 "
                        r"protected one\(s\) \(([^)]*)\); nothing was deleted: rerun with "
                        "--disable-deletion-protection", protected.stderr)
    assert refused is not None, protected.stderr
    assert set(refused.group(1).split(", ")) == {"dr.alb", "rds.vivr-db", "alb",
                                                 "rds.vivr-db-replica-1", "dr.rds.vivr-db-dr"}
    assert "! vivr-db has deletion protection" in protected.stdout
    assert _db(aws, PRIMARY)["DBInstanceStatus"] == "available"
    planned = aws.cli("plan", "--destroy", "--disable-deletion-protection",
                      "--detailed-exitcode")
    assert planned.returncode == 2 and "has deletion protection" not in planned.stdout

    code, report = aws.cli_json("destroy", "--yes", "--disable-deletion-protection")
    assert code == 0, report
    kept = {s["step"]: s["retained"] for s in report["steps"] if s["retained"]}
    snapshot = kept[f"rds.{PRIMARY}"][0]
    assert snapshot.startswith(f"final snapshot {PRIMARY}-production-final-")
    assert any("recoverable for 30 days" in line for line in kept["secret.database_credentials"])
    assert any("pending deletion" in line for line in kept["kms"])

    after = aws.inventory()
    snapshots = after["us-east-1"].pop("db_snapshots")
    assert len(snapshots) == 1 and snapshot.split()[2] == snapshots[0]
    before["us-east-1"].pop("db_snapshots")
    # Secrets in their recovery window are not listed, like the rest that is gone.
    assert after == before

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes")
    assert code == 0 and {s["action"] for s in report["steps"]} == {"absent"}
    assert aws.mutating_calls(since=mark) == []


def test_reapply_after_destroy_restores_key_and_secrets_with_their_values(aws: Aws) -> None:
    assert aws.cli("apply", "--target", "secret.redis_auth_token").returncode == 0
    token = aws.client("secretsmanager").get_secret_value(
        SecretId="vivr/production/redis/auth-token")["SecretString"]
    assert aws.cli("destroy", "--yes", "--target", "kms").returncode == 0
    code, report = aws.cli_json("apply", "--target", "secret.redis_auth_token")
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert actions["kms"] == actions["secret.redis_auth_token"] == "recovered", actions
    assert aws.client("secretsmanager").get_secret_value(
        SecretId="vivr/production/redis/auth-token")["SecretString"] == token
    keys = [k for k in aws.client("kms").list_keys()["Keys"]
            if aws.client("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
            != "Enabled"]
    assert keys == [], "the key scheduled for deletion was recovered, not replaced"
    code, report = aws.cli_json("apply", "--target", "secret.redis_auth_token")
    assert {s["action"] for s in report["steps"]} == {"unchanged"}


def test_skip_final_snapshot_leaves_no_snapshot(aws: Aws) -> None:
    assert aws.cli("apply", "--target", f"rds.{PRIMARY}").returncode == 0
    code, report = aws.cli_json("destroy", "--yes", "--target", f"rds.{PRIMARY}",
                                "--disable-deletion-protection", "--skip-final-snapshot")
    assert code == 0, report
    assert aws.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
    sent = _one(aws.requests("DeleteDBInstance"), PRIMARY)
    assert sent["SkipFinalSnapshot"] is True


def test_operator_filled_placeholder_is_never_overwritten(aws: Aws) -> None:
    assert aws.cli("apply", "--target", "secret.stripe").returncode == 0
    sm = aws.client("secretsmanager")
    sm.put_secret_value(SecretId="vivr/production/stripe", SecretString="sk_live_operator")
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--target", "secret.stripe")
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    assert sm.get_secret_value(SecretId="vivr/production/stripe")["SecretString"] == \
        "sk_live_operator"


# A crash right after AWS accepted each create, before the tool recorded it.
DATA_CRASH_POINTS = [
    ("kms.CreateKey", "kms"),
    ("kms.ReplicateKey", "dr.kms"),
    ("secretsmanager.CreateSecret", "secret.database_credentials"),
    ("iam.CreateRole", "iam.rds_monitoring_role"),
    ("rds.CreateDBSubnetGroup", "rds-subnet-group"),
    ("rds.CreateDBParameterGroup", "rds-parameter-group"),
    ("rds.CreateDBInstance", f"rds.{PRIMARY}"),
    ("rds.CreateDBInstanceReadReplica", f"rds.{REPLICA}"),
]


def test_crash_after_each_data_tier_create_never_duplicates(aws: Aws) -> None:
    for point, step in DATA_CRASH_POINTS:
        crashed = aws.cli("apply", "--target", step, env={"VIVR_FAULT_CRASH_AFTER": point})
        assert crashed.returncode == 137, (point, crashed.stderr[-2000:])
    code, report = aws.cli_json("apply", "--target", f"rds.{REPLICA}", "--target", "dr.kms")
    assert code == 0, report
    kms = aws.client("kms")
    enabled = [k for k in kms.list_keys()["Keys"]
               if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"]
    assert len(enabled) == 1, "the key created before the crash was adopted, not duplicated"
    assert kms.describe_key(KeyId="alias/vivr-production")["KeyMetadata"]["KeyId"] == \
        enabled[0]["KeyId"]
    names = [s["Name"] for s in aws.client("secretsmanager").list_secrets()["SecretList"]]
    assert names.count("vivr/production/database/master") == 1
    assert sorted(d["DBInstanceIdentifier"] for d in aws.client("rds").describe_db_instances()[
        "DBInstances"]) == [PRIMARY, REPLICA]
    state = json.loads(aws.state_path.read_text())
    assert {step: state["steps"][step]["origin"] for _, step in DATA_CRASH_POINTS} == {
        step: "adopted" for _, step in DATA_CRASH_POINTS}
    code, report = aws.cli_json("apply", "--target", f"rds.{REPLICA}", "--target", "dr.kms")
    assert {s["action"] for s in report["steps"]} == {"unchanged"}


def test_a_role_still_propagating_is_retried_and_other_errors_are_not(aws: Aws) -> None:
    propagating = {
        "VIVR_FAULT_FAIL": "rds.CreateDBInstance:2",
        "VIVR_FAULT_FAIL_CODE": "InvalidParameterValue",
        "VIVR_FAULT_FAIL_MESSAGE": "IAM role ARN value is invalid or does not include the "
                                   "required permissions for: ENHANCED_MONITORING",
    }
    code, report = aws.cli_json("apply", "--target", f"rds.{PRIMARY}", env=propagating)
    assert code == 0, report
    assert len(aws.requests("CreateDBInstance")) == 3
    assert _db(aws, PRIMARY)["DBInstanceStatus"] == "available"

    invalid = {**propagating, "VIVR_FAULT_FAIL": "rds.CreateDBInstanceReadReplica",
               "VIVR_FAULT_FAIL_MESSAGE": "Invalid DB instance class: db.x9.huge"}
    failed = aws.cli("apply", "--target", f"rds.{REPLICA}", env=invalid)
    assert failed.returncode == 1
    assert (f"step rds.{REPLICA} failed: InvalidParameterValue: Invalid DB instance class"
            in failed.stderr)
    assert len(aws.requests("CreateDBInstanceReadReplica")) == 1, "not an IAM delay: no retry"
