"""The standby application tier (``dr.ecs-*``): its graph, requests and rules, on Stubber clients.

Expected values are the agreed DR design written out (cluster vivr-dr,
service and family vivr-app-dr, the private subnets dr-private-2a/2b behind
vivr-dr-private-rt, vivr-dr-app-sg, the replica vivr-db-dr, secrets' replicas
in us-west-2), not read from config, so a wrong config fails.  The e2e
counterpart (tests/e2e/test_standby_ecs.py) reads the same back from the sandbox.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.check import run_check
from vivr_provision.config import PlatformConfig, parse_config
from vivr_provision.cost.derive import computed_lines
from vivr_provision.cost.prices import load_prices
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource, Step
from vivr_provision.steps.ecs.service import EcsServiceStep
from vivr_provision.steps.ecs.standby import standby_ecs_steps
from vivr_provision.steps.ecs.task_definition import TaskDefinitionStep
from vivr_provision.steps.iam import IamRoleStep
from vivr_provision.steps.monitoring import AlarmStep

DR = "us-west-2"
TG_ARN = f"arn:aws:elasticloadbalancing:{DR}:{ACCOUNT}:targetgroup/vivr-dr-app-tg/abc"
REPLICA_HOST = "vivr-db-dr.xyz.us-west-2.rds.amazonaws.com"
REDIS_HOST = "master.vivr-dr-cache.xyz.usw2.cache.amazonaws.com"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/vivr-ecs-task-execution-role"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/vivr-ecs-task-role"
DR_KEY = f"arn:aws:kms:{DR}:{ACCOUNT}:key/mrk-1"


@cache
def _production_data() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "config" / "production.yaml").read_text()))


def _config(**app: Any) -> PlatformConfig:
    data = copy.deepcopy(_production_data())
    data["dr"]["standby"]["app"].update(app)
    return parse_config(data, "production.yaml")


def _secret_arn(key: str, region: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{key}-AbCdEf"


def _outputs(config: PlatformConfig, *, redis: bool = False) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {
        "iam.task_execution_role": {"role_arn": EXEC_ROLE},
        "iam.task_role": {"role_arn": TASK_ROLE},
        "dr.logs.app": {"name": "/vivr/production/dr/app"},
        "dr.rds.vivr-db-dr": {"address": REPLICA_HOST, "port": 5432},
        "s3.assets": {"bucket": "vivr-assets"}, "s3.temp": {"bucket": "vivr-temp"},
        "dr.ecs-task-definition": {
            "task_definition_arn": f"arn:aws:ecs:{DR}:{ACCOUNT}:task-definition/vivr-app-dr:1"},
        "dr.alb-target-group": {"target_group_arn": TG_ARN, "arn_suffix": "targetgroup/tg/1"},
        "dr.alb": {"arn_suffix": "app/vivr-dr-alb/1"},
        "dr.subnet.dr-private-2a": {"subnet_id": "subnet-2a"},
        "dr.subnet.dr-private-2b": {"subnet_id": "subnet-2b"},
        "dr.sg.vivr-dr-app-sg": {"group_id": "sg-app"},
        "dr.kms": {"key_arn": DR_KEY},
        "kms": {"key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-1"},
        "dr.sns.critical": {"topic_arn": f"arn:aws:sns:{DR}:{ACCOUNT}:critical"},
        "dr.sns.devops": {"topic_arn": f"arn:aws:sns:{DR}:{ACCOUNT}:devops"},
    }
    if redis:
        outputs["dr.cache"] = {"primary_endpoint": REDIS_HOST, "port": 6379,
                               "transit_encryption": True}
    for key in config.secrets.names():
        outputs[f"secret.{key}"] = {"arn": _secret_arn(key, "us-east-1"),
                                    "dr_arn": _secret_arn(key, DR), "has_value": True}
    return outputs


def _steps(config: PlatformConfig, graph: frozenset[str] = frozenset()) -> dict[str, Step]:
    return {s.name: s for s in standby_ecs_steps(config, graph)}


def test_the_production_graph_holds_the_standby_tier_in_the_dr_region() -> None:
    config = production_config()
    steps = {s.name: s for s in build_steps(config)}
    standby = {n: s for n, s in steps.items() if n.startswith("dr.ecs-")}
    assert set(standby) == {"dr.ecs-cluster", "dr.ecs-task-definition", "dr.ecs-service"}
    assert {s.region for s in standby.values()} == {DR}
    assert steps["dr.logs.app"].region == DR
    assert steps["dr.logs.app"].depends_on() == ("dr.kms",)
    service = set(steps["dr.ecs-service"].depends_on())
    # Destroy removes the service before the balancer and the network it uses.
    assert service >= {"dr.ecs-cluster", "dr.ecs-task-definition", "dr.alb-target-group",
                       "dr.alb-listener.443", "dr.subnet.dr-private-2a",
                       "dr.subnet.dr-private-2b", "dr.sg.vivr-dr-app-sg",
                       "dr.sg-rules.vivr-dr-app-sg", "dr.rtb.vivr-dr-private-rt"}
    assert not {d for d in service if d.startswith(("subnet.", "sg.", "alb", "rtb."))}
    assert steps["dr.rtb.vivr-dr-private-rt"].depends_on()[-1] == "dr.nat"
    assert "ecs-autoscaling" in steps and "dr.ecs-autoscaling" not in steps


def test_without_the_standby_redis_in_the_graph_its_variables_are_left_out() -> None:
    config = production_config()
    without = _steps(config)["dr.ecs-task-definition"]
    with_cache = _steps(config, frozenset({"dr.cache"}))["dr.ecs-task-definition"]
    assert "dr.cache" not in without.depends_on()
    assert "dr.cache" in with_cache.depends_on()
    assert {"dr.rds.vivr-db-dr", "dr.logs.app", "s3.assets"} <= set(without.depends_on())
    assert "pgbouncer" not in without.depends_on(), "no PgBouncer in the DR region"


def _container(step: Step, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert isinstance(step, TaskDefinitionStep)
    request = step.desired(StubbedAws(DR).context(step.config, outputs, batched=True))
    assert request["family"] == "vivr-app-dr"
    assert request["requiresCompatibilities"] == ["FARGATE"]
    [container] = request["containerDefinitions"]
    return dict(container)


def test_the_task_reads_the_dr_replica_and_the_secrets_us_west_2_replicas() -> None:
    config = production_config()
    container = _container(_steps(config)["dr.ecs-task-definition"], _outputs(config))
    environment = {e["name"]: e["value"] for e in container["environment"]}
    for env in ("DATABASE_HOST", "DATABASE_WRITER_HOST", "DATABASE_READER_HOST"):
        assert environment[env] == REPLICA_HOST
    assert environment["DATABASE_PORT"] == "5432"
    assert environment["APP_SITE"] == "dr-standby"
    assert environment["NODE_ENV"] == "production", "the primary's environment is kept"
    assert not {k for k in environment if k.startswith("REDIS_")}
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets["DATABASE_PASSWORD"] == \
        f"{_secret_arn('database_credentials', DR)}:password::"
    assert secrets["STRIPE_SECRET_KEY"] == _secret_arn("stripe", DR)
    assert all(f":secretsmanager:{DR}:" in arn for arn in secrets.values())
    assert container["logConfiguration"]["options"] == {
        "awslogs-group": "/vivr/production/dr/app", "awslogs-region": DR,
        "awslogs-stream-prefix": "vivr-app", "mode": "non-blocking",
        "max-buffer-size": "10m"}


def test_with_the_standby_redis_the_task_reads_its_endpoint() -> None:
    config = production_config()
    step = _steps(config, frozenset({"dr.cache"}))["dr.ecs-task-definition"]
    environment = {e["name"]: e["value"] for e in
                   _container(step, _outputs(config, redis=True))["environment"]}
    assert (environment["REDIS_HOST"], environment["REDIS_PORT"], environment["REDIS_TLS"]) == (
        REDIS_HOST, "6379", "true")


def _service(config: PlatformConfig) -> EcsServiceStep:
    step = _steps(config)["dr.ecs-service"]
    assert isinstance(step, EcsServiceStep)
    return step


def _create_request(config: PlatformConfig) -> dict[str, Any]:
    """The CreateService parameters the standby service step sends (in us-west-2)."""
    step = _service(config)
    sent: dict[str, Any] = {}
    with StubbedAws() as aws:
        ctx = aws.context(config, _outputs(config), batched=True)
        aws.expect("ecs", "describe_services", {"services": []},
                   {"cluster": "vivr-dr", "services": ["vivr-app-dr"], "include": ["TAGS"]},
                   region=DR)
        aws.client("ecs", DR).meta.events.register(
            "before-parameter-build.ecs.CreateService", lambda params, **_: sent.update(params))
        aws.expect("ecs", "create_service", {"service": {"serviceArn": "arn:svc"}}, region=DR)
        step.create(ctx, "t" * 40)
    return sent


def test_the_service_is_created_in_the_dr_region_at_the_standby_count() -> None:
    params = _create_request(production_config())
    assert (params["cluster"], params["serviceName"], params["desiredCount"],
            params["launchType"]) == ("vivr-dr", "vivr-app-dr", 1, "FARGATE")
    assert params["taskDefinition"] == \
        f"arn:aws:ecs:{DR}:{ACCOUNT}:task-definition/vivr-app-dr:1"
    assert params["networkConfiguration"] == {"awsvpcConfiguration": {
        "subnets": ["subnet-2a", "subnet-2b"], "securityGroups": ["sg-app"],
        "assignPublicIp": "DISABLED"}}
    assert params["loadBalancers"] == [{"targetGroupArn": TG_ARN, "containerName": "vivr-app",
                                        "containerPort": 3000}]
    assert _create_request(_config(desired_count=0))["desiredCount"] == 0


def _running(step: EcsServiceStep, ctx: Any, count: int) -> dict[str, Any]:
    return {"serviceArn": "arn:svc", "serviceName": "vivr-app-dr", "status": "ACTIVE",
            "desiredCount": count, "runningCount": count, "launchType": "FARGATE",
            "platformVersion": "LATEST", "propagateTags": "SERVICE",
            "enableECSManagedTags": True, "healthCheckGracePeriodSeconds": 60,
            "taskDefinition": ctx.output("dr.ecs-task-definition", "task_definition_arn"),
            "deploymentConfiguration": step.desired_deployment(),
            "deploymentController": {"type": "ECS"},
            "networkConfiguration": step.desired_network(ctx),
            "loadBalancers": step.desired_load_balancers(ctx),
            "tags": [{"key": k, "value": v} for k, v in step.tags().items()]}


@pytest.mark.parametrize("running", [0, 3])
def test_a_hand_changed_standby_count_is_put_back_no_auto_scaling_owns_it(running: int) -> None:
    config = production_config()
    step = _service(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, _outputs(config), batched=True)
        current = Resource("arn:svc", _running(step, ctx, running))
        # The family's latest ACTIVE revision is the one it runs: one read.
        running_arn = ctx.output("dr.ecs-task-definition", "task_definition_arn")
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": {"taskDefinitionArn": running_arn}},
                   {"taskDefinition": step.ecs_config.task_definition.family,
                    "include": ["TAGS"]}, region=DR)
        changes = step.diff(ctx, current)
        assert [c.describe() for c in changes if c.field != "task_definition"] == [
            f"desired_count: {running} -> 1 (update)"]
        assert step.unapplied(ctx, current) == []


def test_the_task_roles_read_the_replicas_and_decrypt_with_the_dr_key() -> None:
    config = production_config()
    steps = {s.name: s for s in build_steps(config)}
    role = steps["iam.task_execution_role"]
    assert isinstance(role, IamRoleStep)
    assert "dr.kms" in role.depends_on()
    document = role.inline_policy(StubbedAws().context(config, _outputs(config), batched=True))
    assert document is not None
    statements = {s["Sid"]: s for s in document["Statement"]}
    read = statements["SecretsManagerReadSecret"]["Resource"]
    assert _secret_arn("database_credentials", DR) in read
    assert _secret_arn("database_credentials", "us-east-1") in read
    assert DR_KEY in statements["KMSDecrypt"]["Resource"]
    pgbouncer = steps["iam.pgbouncer_instance_role"]
    assert isinstance(pgbouncer, IamRoleStep)
    assert "dr.kms" not in pgbouncer.depends_on(), "only the roles the standby tasks use"


def _alarms(config: PlatformConfig) -> dict[str, AlarmStep]:
    return {s.name: s for s in build_steps(config) if isinstance(s, AlarmStep)
            and s.name.startswith("dr.alarm.vivr-production-dr-") and "-dr-cache-" not in s.name}


def test_the_unhealthy_target_alarm_watches_the_standby_target_group_in_its_region() -> None:
    config = production_config()
    alarms = _alarms(config)
    assert set(alarms) == {"dr.alarm.vivr-production-dr-unhealthy-targets",
                           "dr.alarm.vivr-production-dr-no-healthy-targets"}
    step = alarms["dr.alarm.vivr-production-dr-unhealthy-targets"]
    assert step.region == DR
    assert set(step.depends_on()) == {"dr.sns.critical", "dr.sns.devops",
                                      "dr.alb-target-group", "dr.alb"}
    request = step.request(StubbedAws().context(config, _outputs(config), batched=True))
    assert (request["MetricName"], request["Statistic"], request["Threshold"],
            request["ComparisonOperator"], request["TreatMissingData"]) == (
        "UnHealthyHostCount", "Maximum", 0.0, "GreaterThanThreshold", "notBreaching")
    assert request["Dimensions"] == [{"Name": "LoadBalancer", "Value": "app/vivr-dr-alb/1"},
                                     {"Name": "TargetGroup", "Value": "targetgroup/tg/1"}]
    assert request["AlarmActions"] == [f"arn:aws:sns:{DR}:{ACCOUNT}:critical",
                                       f"arn:aws:sns:{DR}:{ACCOUNT}:devops"]


def test_a_pilot_light_builds_no_alarm_that_needs_running_tasks_and_costs_no_task() -> None:
    config = _config(desired_count=0)
    assert set(_alarms(config)) == {"dr.alarm.vivr-production-dr-unhealthy-targets"}
    lines = {line.service: line for line in computed_lines(config, load_prices())}
    assert lines["ECS Fargate vCPU (DR standby)"].monthly == 0.0
    warm = {line.service: line for line in computed_lines(production_config(), load_prices())}
    # 1 task x 1 vCPU x 730 h x 0.04048 and x 2 GB x 0.004445 (prices.yaml, us-west-2)
    assert warm["ECS Fargate vCPU (DR standby)"].monthly == 29.55
    assert warm["ECS Fargate memory (DR standby)"].monthly == 6.49
    assert warm["NAT gateway (DR)"].monthly == 32.85


@pytest.mark.parametrize(("edit", "message"), [
    ({"subnets": ["dr-db-2a"]}, "dr.standby.app.subnets[0] 'dr-db-2a' is a database subnet"),
    ({"security_groups": ["vivr-app-sg"]},
     "dr.standby.app.security_groups[0] 'vivr-app-sg' is not a group of dr.security_groups"),
    ({"endpoints": {"DATABASE_HOST": {"source": "pgbouncer", "output": "private_ip"}}},
     "dr.standby.app.endpoints.DATABASE_HOST: source pgbouncer has no standby in us-west-2"),
    ({"endpoints": {"DATABASE_HOST": {"source": "rds", "key": "vivr-db", "output": "address"}}},
     "key 'vivr-db' is not a read replica in us-west-2 (vivr-db-dr)"),
])
def test_a_standby_that_could_not_run_is_refused_at_load(edit: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        _config(**edit)


def test_private_subnets_without_a_way_out_are_refused() -> None:
    data = copy.deepcopy(_production_data())
    network = data["dr"]["network"]
    for table in network["route_tables"]:
        if table["name"] == "vivr-dr-private-rt":
            table["default_route"] = "none"
    with pytest.raises(ConfigError, match=r"'dr-private-2a' has no default route \(NAT "
                                          r"gateway\): Fargate could not pull the image"):
        parse_config(data, "production.yaml")


def test_check_proves_the_standby_tasks_may_start_in_the_dr_region() -> None:
    """`check`'s access matrix: the execution role reads the replicas and decrypts them
    with the DR key, and CloudWatch Logs may encrypt the standby group with that key."""
    report = run_check(production_config())
    rows = [a for a in report.access if f":{DR}:" in a.resource
            and a.principal.startswith(("ECS execution role", "CloudWatch Logs"))]
    replicas = {a.resource.split(":secret:")[1] for a in rows
                if a.actions == ("secretsmanager:GetSecretValue",)}
    # 6 container secrets of the spec + the field-level encryption key (issue 12)
    assert "vivr/production/database/master-AbCdEf" in replicas and len(replicas) == 7
    decrypt = next(a for a in rows if a.actions == ("kms:Decrypt",))
    assert decrypt.ok and "KMSDecrypt" in decrypt.reason
    logs = next(a for a in rows if a.principal.startswith("CloudWatch Logs"))
    assert logs.ok and "key policy (dr.kms)#CloudWatchLogsOfThisEnvironment" in logs.reason
    assert all(a.ok for a in rows), [a.name for a in rows if not a.ok]


def test_the_standby_container_has_the_primarys_read_only_root_and_scratch_volume() -> None:
    config = production_config()
    step = _steps(config)["dr.ecs-task-definition"]
    assert isinstance(step, TaskDefinitionStep)
    request = step.desired(StubbedAws(DR).context(config, _outputs(config), batched=True))
    [container] = request["containerDefinitions"]
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [
        {"sourceVolume": "rw-tmp", "containerPath": "/tmp", "readOnly": False}]
    assert request["volumes"] == [{"name": "rw-tmp"}]
