"""The PgBouncer instance through the real CLI: launch, read back, resume, replace, destroy.

Expected values are the spec's ("Connection Pooling (PgBouncer)": private
subnet, pool settings) or the documented names of the platform (subnet
private-1a, vivr-pgbouncer-sg, the instance role), not read from config.
Settings the emulator ignores (the ClientToken) are checked in the request
the tool sent, which is what real AWS would receive.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Aws
from tests.e2e.inventory import tags_of
from vivr_provision.pgbouncer import ini_from_user_data, parse_ini

pytestmark = pytest.mark.e2e

NAME = "pgbouncer-vivr"
LIVE = ["pending", "running", "stopping", "stopped"]
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision",
             "Name": NAME}
SPEC_POOL = {
    "pool_mode": "transaction", "max_client_conn": "1000", "default_pool_size": "25",
    "min_pool_size": "10", "reserve_pool_size": "5", "reserve_pool_timeout": "3",
    "max_db_connections": "100", "server_idle_timeout": "600", "client_idle_timeout": "600",
    "server_lifetime": "3600", "listen_port": "6432", "log_connections": "0",
    "log_disconnections": "0",
}


def _instances(aws: Aws, states: list[str] | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:Name", "Values": [NAME]}]
    if states:
        filters.append({"Name": "instance-state-name", "Values": states})
    reply = aws.client("ec2").describe_instances(Filters=filters)
    return [i for r in reply["Reservations"] for i in r["Instances"]]


def _the_instance(aws: Aws) -> dict[str, Any]:
    live = _instances(aws, LIVE)
    assert len(live) == 1, [i["InstanceId"] for i in live]
    return live[0]


def _user_data(aws: Aws, instance_id: str) -> str:
    reply = aws.client("ec2").describe_instance_attribute(InstanceId=instance_id,
                                                          Attribute="userData")
    return base64.b64decode(reply["UserData"]["Value"]).decode()


def _decoded(value: str) -> str:
    """UserData as the request carried it (botocore base64-encodes it for RunInstances)."""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value


def _step(report: dict[str, Any]) -> dict[str, Any]:
    return dict(next(s for s in report["steps"] if s["step"] == "pgbouncer"))


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _by_name(items: list[dict[str, Any]], key: str) -> dict[str, str]:
    return {tags_of(i).get("Name", ""): i[key] for i in items}


def _state(aws: Aws) -> dict[str, Any]:
    return dict(json.loads(aws.state_path.read_text())["steps"]["pgbouncer"])


def test_apply_launches_the_pooler_as_configured(aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--target", "pgbouncer")
    assert code == 0, report
    assert _actions(report)["pgbouncer"] == "created"

    ec2 = aws.client("ec2")
    instance = _the_instance(aws)
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "t3.small"
    subnets = _by_name(ec2.describe_subnets()["Subnets"], "SubnetId")
    assert instance["SubnetId"] == subnets["private-1a"]            # spec: private subnet
    assert sorted(g["GroupName"] for g in instance["SecurityGroups"]) == [
        "vivr-pgbouncer-boot-sg", "vivr-pgbouncer-sg"]
    assert instance["IamInstanceProfile"]["Arn"].endswith(
        ":instance-profile/vivr-pgbouncer-instance-role")
    assert instance["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert instance["Monitoring"]["State"] == "enabled"  # issue 12: 1-minute metrics
    assert {k: tags_of(instance).get(k) for k in OWNERSHIP} == OWNERSHIP
    image = aws.client("ssm").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
    assert instance["ImageId"] == image["Parameter"]["Value"]

    key_arn = aws.client("kms").describe_key(KeyId="alias/vivr-production")["KeyMetadata"]["Arn"]
    root = next(m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/xvda")
    volume = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert (volume["Encrypted"], volume["KmsKeyId"], volume["Size"], volume["VolumeType"]) == \
        (True, key_arn, 20, "gp3")
    assert {k: tags_of(volume).get(k) for k in OWNERSHIP} == OWNERSHIP

    # The boot script points PgBouncer at the RDS primary with the spec's pool settings.
    db = aws.client("rds").describe_db_instances(DBInstanceIdentifier="vivr-db")
    endpoint = db["DBInstances"][0]["Endpoint"]
    script = _user_data(aws, instance["InstanceId"])
    ini = parse_ini(ini_from_user_data(script) or "")
    # Its own server connections lift RDS's 300 s idle limit (min_pool_size
    # connections never idle out in PgBouncer; issue 7 finding 9).
    assert ini["databases"] == {
        "vivr": f"host={endpoint['Address']} port={endpoint['Port']} dbname=vivr "
                "connect_query='SET idle_session_timeout TO 0'"}
    assert {k: ini["pgbouncer"].get(k) for k in SPEC_POOL} == SPEC_POOL

    # AL2023 has no pgbouncer package: SPAL (Amazon's) is enabled first, signatures
    # checked; the boot fails loudly and the heartbeat exists only while PgBouncer answers.
    lines = script.splitlines()
    install = lines.index("dnf install -y spal-release")
    assert lines[install + 1].startswith(
        "dnf install -y --setopt=amazonlinux-spal.gpgcheck=1 pgbouncer ")
    assert lines.index("set -euo pipefail") < install
    assert any(line.startswith("trap ") and line.endswith(" ERR") for line in lines[:install])
    assert '"MetricName":"pgbouncer_up"' in script
    [note] = [n for n in _step(report)["notes"] if n.startswith("boot log:")]
    assert f"--instance-id {instance['InstanceId']}" in note
    assert any("vivr-production-pgbouncer-heartbeat" in n for n in _step(report)["notes"])

    # The credentials are fetched at boot; the password is nowhere the user data or state is.
    sm = aws.client("secretsmanager")
    secret = sm.describe_secret(SecretId="vivr/production/database/master")
    password = json.loads(sm.get_secret_value(SecretId=secret["ARN"])["SecretString"])["password"]
    assert f"--secret-id {secret['ARN']}" in script
    assert password not in script
    assert password not in aws.state_path.read_text()

    record = _state(aws)
    assert record["outputs"] == {"id": instance["InstanceId"],
                                 "instance_id": instance["InstanceId"],
                                 "private_ip": instance["PrivateIpAddress"], "port": 6432}
    [request] = aws.requests("RunInstances")
    assert request["ClientToken"] == record["token"]
    assert len(request["ClientToken"]) == 32
    assert (request["MinCount"], request["MaxCount"]) == (1, 1)
    assert request["MetadataOptions"]["HttpTokens"] == "required"
    assert _decoded(request["UserData"]) == script

    # Converged: a second apply only reads.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--target", "pgbouncer")
    assert code == 0, report
    assert set(_actions(report).values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    code, report = aws.cli_json("plan", "--target", "pgbouncer")
    assert code == 0 and _actions(report)["pgbouncer"] == "no-op", report

    # Drift EC2 can fix in place is fixed in place: same instance, no relaunch.
    ec2.delete_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "Project"}])
    ec2.modify_instance_metadata_options(InstanceId=instance["InstanceId"], HttpTokens="optional")
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--target", "pgbouncer")
    assert code == 0, report
    assert _actions(report)["pgbouncer"] == "updated"
    assert "RunInstances" not in str(aws.mutating_calls(since=mark))
    again = _the_instance(aws)
    assert again["InstanceId"] == instance["InstanceId"]
    assert tags_of(again)["Project"] == "vivr"
    assert again["MetadataOptions"]["HttpTokens"] == "required"


def test_client_token_survives_a_failed_launch_and_a_crash(aws: Aws) -> None:
    # The launch is refused: the token is recorded before the call.
    code, report = aws.cli_json("apply", "--target", "pgbouncer",
                                env={"VIVR_FAULT_FAIL": "ec2.RunInstances"})
    assert code == 1
    assert _actions(report)["pgbouncer"] == "failed"
    assert _instances(aws) == []
    token = _state(aws)["token"]

    # The retry sends the same token; the process dies right after the launch.
    crashed = aws.cli("apply", "--target", "pgbouncer",
                      env={"VIVR_FAULT_CRASH_AFTER": "ec2.RunInstances"})
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    assert [r["ClientToken"] for r in aws.requests("RunInstances")] == [token, token]

    # The rerun adopts the instance the crashed run launched; it does not launch another.
    launched = _the_instance(aws)["InstanceId"]
    code, report = aws.cli_json("apply", "--target", "pgbouncer")
    assert code == 0, report
    assert _actions(report)["pgbouncer"] == "adopted"
    assert len(aws.requests("RunInstances")) == 2
    assert _the_instance(aws)["InstanceId"] == launched
    assert _state(aws)["resource_id"] == launched


def _config_with(tmp_path: Path, **pgbouncer: Any) -> Path:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["pgbouncer"].update(pgbouncer)
    path = tmp_path / "production-changed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_changed_setting_replaces_the_instance_and_destroy_terminates_it(
        aws: Aws, tmp_path: Path) -> None:
    code, report = aws.cli_json("apply", "--target", "pgbouncer")
    assert code == 0, report
    old = _the_instance(aws)["InstanceId"]
    changed = _config_with(tmp_path, default_pool_size=30)

    mark = len(aws.calls())
    code, report = aws.cli_json("plan", "--target", "pgbouncer", config=changed)
    assert code == 0, report
    pgbouncer = next(s for s in report["steps"] if s["step"] == "pgbouncer")
    assert pgbouncer["action"] == "replace"
    assert any("default_pool_size" in c and "replace" in c for c in pgbouncer["changes"])
    assert {a for s, a in _actions(report).items() if s != "pgbouncer"} == {"no-op"}
    assert aws.mutating_calls(since=mark) == []

    code, report = aws.cli_json("apply", "--yes", "--target", "pgbouncer", config=changed)
    assert code == 0, report
    assert _actions(report)["pgbouncer"] == "replaced"
    new = _the_instance(aws)
    assert new["InstanceId"] != old and new["State"]["Name"] == "running"
    [gone] = [i for i in _instances(aws) if i["InstanceId"] == old]
    assert gone["State"]["Name"] == "terminated"
    ini = parse_ini(ini_from_user_data(_user_data(aws, new["InstanceId"])) or "")
    assert ini["pgbouncer"]["default_pool_size"] == "30"
    tokens = [r["ClientToken"] for r in aws.requests("RunInstances")]
    assert len(tokens) == 2 and tokens[0] != tokens[1], "a relaunch is a new generation"
    assert _state(aws)["outputs"]["instance_id"] == new["InstanceId"]

    code, report = aws.cli_json("apply", "--target", "pgbouncer", config=changed)
    assert code == 0 and set(_actions(report).values()) == {"unchanged"}, report

    # Destroy takes what watches the instance too (its status-check alarm, which
    # the dashboard graphs); never applied here, so they are absent.
    watchers = {"alarm.vivr-production-pgbouncer-status-check": "absent",
                "dashboard": "absent"}
    code, report = aws.cli_json("destroy", "--target", "pgbouncer", "--yes", config=changed)
    assert code == 0, report
    # ... and the task definition, which reads PgBouncer's address (absent here).
    actions = _actions(report)
    assert actions.pop("pgbouncer") == "deleted"
    assert set(watchers) | {"ecs-task-definition"} <= set(actions)
    assert set(actions.values()) == {"absent"}
    assert _instances(aws, LIVE) == []
    assert _state(aws)["status"] == "deleted"
    code, report = aws.cli_json("destroy", "--target", "pgbouncer", "--yes", config=changed)
    assert code == 0, report
    assert set(_actions(report).values()) == {"absent"} and "pgbouncer" in _actions(report)
