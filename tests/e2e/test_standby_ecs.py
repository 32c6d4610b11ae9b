"""The standby application tier in us-west-2 through the real CLI (issue 11, ECS part).

One apply (``--target dr.ecs-service`` and the standby alarms, which pull in
the DR network, groups, ALB, replica, secrets and roles) is shared by the
read-back tests of this module; the last test destroys the standby service
and shows it goes before the balancer and the network.  Expected values are
the agreed DR design written out (cluster vivr-dr, service vivr-app-dr at 1
task, private subnets dr-private-2a/2b behind vivr-dr-nat, vivr-dr-app-sg),
not read from config.  Everything is read back with boto3 in us-west-2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Aws, _strict_verdict, new_account
from tests.e2e.inventory import tags_of
from vivr_sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

DR = "us-west-2"
ANY = "0.0.0.0/0"
ALARMS = ("vivr-production-dr-unhealthy-targets", "vivr-production-dr-no-healthy-targets")
APPLY = ("apply", "--target", "dr.ecs-service", "--target", "dr.sg-rules.vivr-dr-db-sg",
         *(arg for name in ALARMS for arg in ("--target", f"dr.alarm.{name}")))


@pytest.fixture(scope="module")
def standby(sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aws]:
    """One account with the standby tier applied, shared by this module's tests."""
    aws = Aws(sandbox, new_account(), tmp_path_factory.mktemp("standby"))
    code, report = aws.cli_json(*APPLY)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert {actions[s] for s in ("dr.ecs-cluster", "dr.ecs-task-definition", "dr.ecs-service",
                                 "dr.logs.app", "dr.nat", "dr.rtb.vivr-dr-private-rt")} == \
        {"created"}
    yield aws


def _service(aws: Aws) -> dict[str, Any]:
    [service] = aws.client("ecs", DR).describe_services(
        cluster="vivr-dr", services=["vivr-app-dr"])["services"]
    return dict(service)


def _group(aws: Aws, name: str) -> dict[str, Any]:
    [group] = aws.client("ec2", DR).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return dict(group)


def _rules(aws: Aws, name: str) -> set[tuple[bool, str, int, int, str]]:
    rules = aws.client("ec2", DR).describe_security_group_rules(Filters=[
        {"Name": "group-id", "Values": [_group(aws, name)["GroupId"]]}])["SecurityGroupRules"]
    return {(r["IsEgress"], r["IpProtocol"], r["FromPort"], r["ToPort"],
             r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"]) for r in rules}


def test_the_service_runs_at_the_standby_count_behind_the_standby_target_group(
        standby: Aws) -> None:
    service = _service(standby)
    assert service["serviceArn"].split(":")[3] == DR
    assert (service["status"], service["desiredCount"], service["launchType"]) == \
        ("ACTIVE", 1, "FARGATE")
    [target_group] = standby.client("elbv2", DR).describe_target_groups(
        Names=["vivr-dr-app-tg"])["TargetGroups"]
    assert service["loadBalancers"] == [{"targetGroupArn": target_group["TargetGroupArn"],
                                         "containerName": "vivr-app", "containerPort": 3000}]
    vpc = service["networkConfiguration"]["awsvpcConfiguration"]
    subnets = standby.client("ec2", DR).describe_subnets(SubnetIds=vpc["subnets"])["Subnets"]
    assert {tags_of(s)["Name"]: (s["CidrBlock"], s["AvailabilityZone"]) for s in subnets} == {
        "dr-private-2a": ("10.1.10.0/24", "us-west-2a"),
        "dr-private-2b": ("10.1.11.0/24", "us-west-2b")}
    assert vpc["securityGroups"] == [_group(standby, "vivr-dr-app-sg")["GroupId"]]
    assert vpc["assignPublicIp"] == "DISABLED"


def test_the_task_definition_reads_the_dr_replica_and_the_secrets_replicas(
        standby: Aws) -> None:
    definition = standby.client("ecs", DR).describe_task_definition(
        taskDefinition="vivr-app-dr")["taskDefinition"]
    assert definition["taskDefinitionArn"] == _service(standby)["taskDefinition"]
    [container] = definition["containerDefinitions"]
    # Issue 12: the primary's read-only root and /tmp volume, on the standby too.
    assert container["readonlyRootFilesystem"] is True
    assert [(m["sourceVolume"], m["containerPath"]) for m in container["mountPoints"]] == \
        [("rw-tmp", "/tmp")]
    assert [v["name"] for v in definition["volumes"]] == ["rw-tmp"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    [replica] = standby.client("rds", DR).describe_db_instances(
        DBInstanceIdentifier="vivr-db-dr")["DBInstances"]
    assert environment["DATABASE_HOST"] == replica["Endpoint"]["Address"]
    assert environment["DATABASE_WRITER_HOST"] == replica["Endpoint"]["Address"]
    assert environment["DATABASE_PORT"] == str(replica["Endpoint"]["Port"])
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    primary = standby.client("secretsmanager").describe_secret(
        SecretId="vivr/production/database/master")
    replica_arn = primary["ARN"].replace(":us-east-1:", f":{DR}:")
    assert secrets["DATABASE_PASSWORD"] == f"{replica_arn}:password::"
    assert all(f":secretsmanager:{DR}:" in arn for arn in secrets.values())
    # The replica exists where the tasks read it.
    assert standby.client("secretsmanager", DR).describe_secret(SecretId=replica_arn)["ARN"] == \
        replica_arn
    options = container["logConfiguration"]["options"]
    assert (options["awslogs-group"], options["awslogs-region"]) == \
        ("/vivr/production/dr/app", DR)
    assert (options["mode"], options["max-buffer-size"]) == ("non-blocking", "10m")
    [group] = standby.client("logs", DR).describe_log_groups(
        logGroupNamePrefix="/vivr/production/dr/app")["logGroups"]
    dr_key = standby.client("kms", DR).describe_key(KeyId="alias/vivr-production")
    assert group["kmsKeyId"] == dr_key["KeyMetadata"]["Arn"]


def test_the_execution_role_may_read_the_replicas_and_decrypt_with_the_dr_key(
        standby: Aws) -> None:
    document = standby.client("iam").get_role_policy(
        RoleName="vivr-ecs-task-execution-role", PolicyName="vivr-grants")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    by_sid = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    container = standby.client("ecs", DR).describe_task_definition(
        taskDefinition="vivr-app-dr")["taskDefinition"]["containerDefinitions"][0]
    referenced = {s["valueFrom"].split(":password::")[0].split(":username::")[0]
                  for s in container["secrets"]}
    assert referenced <= set(by_sid["SecretsManagerReadSecret"])
    dr_key = standby.client("kms", DR).describe_key(KeyId="alias/vivr-production")
    assert dr_key["KeyMetadata"]["Arn"] in by_sid["KMSDecrypt"]
    # The DR key's replica has its own policy admitting CloudWatch Logs of
    # us-west-2 for the standby group and the DR VPC's flow-log group (given at ReplicateKey).
    policy = standby.client("kms", DR).get_key_policy(
        KeyId=dr_key["KeyMetadata"]["KeyId"], PolicyName="default")["Policy"]
    statements = {s["Sid"]: s for s in json.loads(policy)["Statement"]}
    logs = statements["CloudWatchLogsOfThisEnvironment"]
    assert logs["Principal"] == {"Service": f"logs.{DR}.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == [
        f"arn:aws:logs:{DR}:{standby.account}:log-group:/vivr/production/dr/app",
        f"arn:aws:logs:{DR}:{standby.account}:log-group:/vivr/production/dr/vpc-flow",
        # issue 12: the group RDS exports the DR replica's log into.
        f"arn:aws:logs:{DR}:{standby.account}:log-group:/aws/rds/instance/vivr-db-dr/postgresql"]


def test_the_private_subnets_route_through_the_dr_nat_gateway(standby: Aws) -> None:
    ec2 = standby.client("ec2", DR)
    [table] = ec2.describe_route_tables(Filters=[
        {"Name": "tag:Name", "Values": ["vivr-dr-private-rt"]}])["RouteTables"]
    [nat] = ec2.describe_nat_gateways(Filters=[
        {"Name": "tag:Name", "Values": ["vivr-dr-nat"]}])["NatGateways"]
    routes = {r.get("DestinationCidrBlock"): r.get("NatGatewayId") for r in table["Routes"]}
    assert routes[ANY] == nat["NatGatewayId"]
    [nat_subnet] = ec2.describe_subnets(SubnetIds=[nat["SubnetId"]])["Subnets"]
    assert tags_of(nat_subnet)["Name"] == "dr-public-2a"
    associated = ec2.describe_subnets(SubnetIds=[
        a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")])["Subnets"]
    assert {tags_of(s)["Name"] for s in associated} == {"dr-private-2a", "dr-private-2b"}


def test_the_app_group_mirrors_the_primarys_and_its_peers_admit_it(standby: Aws) -> None:
    app = _group(standby, "vivr-dr-app-sg")["GroupId"]
    alb = _group(standby, "vivr-dr-alb-sg")["GroupId"]
    db = _group(standby, "vivr-dr-db-sg")["GroupId"]
    assert _rules(standby, "vivr-dr-app-sg") == {
        (False, "tcp", 3000, 3000, alb),
        (True, "tcp", 5432, 5432, db), (True, "tcp", 6379, 6379, "10.1.0.0/16"),
        (True, "tcp", 443, 443, ANY), (True, "udp", 53, 53, ANY)}
    assert (True, "tcp", 3000, 3000, app) in _rules(standby, "vivr-dr-alb-sg")
    assert _rules(standby, "vivr-dr-db-sg") == {(False, "tcp", 5432, 5432, app)}


def test_the_standby_alarm_watches_its_target_group_in_us_west_2(standby: Aws) -> None:
    alarms = {a["AlarmName"]: a for a in standby.client("cloudwatch", DR).describe_alarms(
        AlarmNames=list(ALARMS))["MetricAlarms"]}
    unhealthy = alarms["vivr-production-dr-unhealthy-targets"]
    assert (unhealthy["MetricName"], unhealthy["TreatMissingData"]) == \
        ("UnHealthyHostCount", "notBreaching")
    [target_group] = standby.client("elbv2", DR).describe_target_groups(
        Names=["vivr-dr-app-tg"])["TargetGroups"]
    dims = {d["Name"]: d["Value"] for d in unhealthy["Dimensions"]}
    assert target_group["TargetGroupArn"].endswith(dims["TargetGroup"])
    topics = {t["TopicArn"].rsplit(":", 1)[-1]: t["TopicArn"] for t in
              standby.client("sns", DR).list_topics()["Topics"]}
    assert unhealthy["AlarmActions"] == [topics["vivr-production-critical-alerts"],
                                         topics["vivr-production-devops-alerts"]]
    assert all(f":{DR}:" in arn for arn in unhealthy["AlarmActions"])
    assert alarms["vivr-production-dr-no-healthy-targets"]["TreatMissingData"] == "breaching"
    violations, _ = _strict_verdict(standby)
    assert violations == [], "requests AWS would reject"


def test_destroy_removes_the_standby_service_before_the_balancer_and_network(
        standby: Aws) -> None:
    mark = len(standby.calls())
    # The balancer stands on its target group: it goes too (protection lifted).
    code, report = standby.cli_json("destroy", "--yes", "--disable-deletion-protection",
                                    "--target", "dr.alb-target-group",
                                    "--target", "dr.rtb.vivr-dr-private-rt")
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert (actions["dr.ecs-service"], actions["dr.alb-target-group"],
            actions["dr.rtb.vivr-dr-private-rt"]) == ("deleted", "deleted", "deleted")
    order = [f"{c['service']}.{c['operation']}" for c in standby.calls()[mark:]
             if c["mutating"]]
    service_gone = order.index("ecs.DeleteService")
    assert service_gone < order.index("elasticloadbalancing.DeleteTargetGroup")
    assert service_gone < order.index("elasticloadbalancing.DeleteLoadBalancer")
    assert service_gone < order.index("ec2.DeleteRouteTable")
    assert _service(standby)["status"] in ("INACTIVE", "DRAINING")
    assert standby.client("ecs", DR).describe_clusters(clusters=["vivr-dr"])["clusters"][0][
        "status"] == "ACTIVE", "the cluster was not a target"
