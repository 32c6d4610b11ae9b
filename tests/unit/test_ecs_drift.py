"""ECS drift rules on stubbed clients: what plan reports, and the requests apply sends.

Each case is AWS's description (the in-sync one, edited), the config, the
expected changes and, for converging cases, the exact update requests.
Service settings travel in one ``UpdateService`` (one deployment), tags
apart; auto scaling owns the task count inside its range; a task
definition revision is immutable (any setting registers one); the cluster's
capacity providers are compared only on Fargate; the EC2 capacity's launch
template, group and capacity provider converge through their own calls.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws
from vivr_provision.config import PlatformConfig, parse_config
from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.ecs.autoscaling import EcsAutoscalingStep
from vivr_provision.steps.ecs.cluster import EcsClusterStep
from vivr_provision.steps.ecs.common import ecs_tags
from vivr_provision.steps.ecs.ec2 import (
    AMI_PARAMETER_TAG,
    EcsAutoScalingGroupStep,
    EcsCapacityProviderStep,
    EcsLaunchTemplateStep,
)
from vivr_provision.steps.ecs.service import EcsServiceStep
from vivr_provision.steps.ecs.task_definition import (
    TaskDefinitionStep,
    desired_task_definition,
)

REGION = "us-east-1"
ECS = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
CLUSTER_ARN = f"{ECS}:cluster/vivr-prod"
SERVICE_ARN = f"{ECS}:service/vivr-prod/vivr-app"
REVISION_1 = f"{ECS}:task-definition/vivr-app:1"
REVISION_2 = f"{ECS}:task-definition/vivr-app:2"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/vivr-app-tg/abc"
PROVIDER_ARN = f"{ECS}:capacity-provider/vivr-prod-ecs"
ASG_ARN = (f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:1a2b:"
           "autoScalingGroupName/vivr-prod-ecs")
TEMPLATE_ID = "lt-0123456789abcdef0"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SUBNETS = {"private-1a": "subnet-0a", "private-1b": "subnet-0b", "private-1c": "subnet-0c"}
APP_GROUP = "sg-0app"
IMAGE = "ami-0123456789abcdef0"
OUTPUTS: dict[str, dict[str, Any]] = {
    "ecs-task-definition": {"task_definition_arn": REVISION_1},
    "alb-target-group": {"target_group_arn": TARGET_GROUP},
    "sg.vivr-app-sg": {"group_id": APP_GROUP},
    **{f"subnet.{name}": {"subnet_id": sid} for name, sid in SUBNETS.items()},
    "iam.task_role": {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/vivr-ecs-task-role"},
    "iam.task_execution_role": {
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/vivr-ecs-task-execution-role"},
    "logs.app": {"name": "/vivr/production/app"},
    "pgbouncer": {"private_ip": "10.0.10.25", "port": 6432},
    "rds.vivr-db": {"address": "vivr-db.abc.us-east-1.rds.amazonaws.com", "port": 5432},
    "rds.vivr-db-replica-1": {"address": "vivr-db-replica-1.abc.us-east-1.rds.amazonaws.com",
                              "port": 5432},
    "cache": {"primary_endpoint": "master.vivr-cache.abc.use1.cache.amazonaws.com",
              "reader_endpoint": "replica.vivr-cache.abc.use1.cache.amazonaws.com",
              "port": 6379, "transit_encryption": True},
    "s3.assets": {"bucket": "vivr-assets"},
    "s3.temp": {"bucket": "vivr-temp"},
    "kms": {"key_arn": KEY_ARN},
    "iam.ecs_instance_role": {"instance_profile_name": "vivr-ecs-instance-role"},
    "ecs-launch-template": {"launch_template_id": TEMPLATE_ID},
    "ecs-asg": {"asg_arn": ASG_ARN},
}
for _key in ("database_credentials", "redis_auth_token", "stripe", "sendgrid", "cloudinary",
             "sentry", "origin_verify", "fle_private_key"):
    OUTPUTS[f"secret.{_key}"] = {
        "arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{_key}-AbCdEf",
        "has_value": True}

Expected = list[tuple[str, Any, Any, bool]]


@cache
def _config(launch_type: str = "fargate") -> PlatformConfig:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["ecs"]["launch_type"] = launch_type
    return parse_config(data, "production.yaml")


def _shown(changes: list[Change]) -> Expected:
    return [(c.field, c.current, c.desired, c.replace) for c in changes]


def _edited(document: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``edits`` applied; a dotted key edits a nested member, None drops it."""
    result = copy.deepcopy(document)
    for path, value in edits.items():
        *parents, last = path.split(".")
        target = result
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return result


# --------------------------------------------------------------------------- service

def _service(step: EcsServiceStep, ctx: StepContext, **edits: Any) -> dict[str, Any]:
    """The service as ``DescribeServices(include=["TAGS"])`` reports it when in sync."""
    described: dict[str, Any] = {
        "serviceArn": SERVICE_ARN, "serviceName": "vivr-app", "clusterArn": CLUSTER_ARN,
        "status": "ACTIVE", "desiredCount": 3, "runningCount": 3,
        "taskDefinition": REVISION_1,
        "deploymentConfiguration": {**step.desired_deployment(),
                                    "alarms": {"alarmNames": [], "enable": False,
                                               "rollback": False}},
        "healthCheckGracePeriodSeconds": 60,
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-0c", "subnet-0a", "subnet-0b"],   # ECS's order, not ours
            "securityGroups": [APP_GROUP], "assignPublicIp": "DISABLED"}},
        "loadBalancers": step.desired_load_balancers(ctx),
        "propagateTags": "SERVICE", "enableECSManagedTags": True,
        "deploymentController": {"type": "ECS"},
        "tags": ecs_tags(step.tags()),
    }
    if step.config.ecs.launch_type == "ec2":
        described["capacityProviderStrategy"] = step.desired_strategy()
    else:
        described.update(launchType="FARGATE", platformVersion="LATEST")
    return _edited(described, edits)


def _revision(ctx: StepContext, config: PlatformConfig, arn: str = REVISION_1,
              **container: Any) -> dict[str, Any]:
    """A registered revision of what the config describes (its container edited)."""
    definition = desired_task_definition(ctx, config, REGION)
    definition["containerDefinitions"][0].update(container)
    return {**definition, "taskDefinitionArn": arn, "revision": int(arn.rsplit(":", 1)[-1]),
            "status": "ACTIVE"}


SERVICE_CASES: list[tuple[str, dict[str, Any], Expected]] = [
    ("in sync", {}, []),
    ("auto scaling moved the count inside its range", {"desiredCount": 7}, []),
    ("a count below the range is clamped", {"desiredCount": 1},
     [("desired_count", 1, 3, False)]),
    ("a count above the range is clamped", {"desiredCount": 12},
     [("desired_count", 12, 10, False)]),
    ("deployment setting", {"deploymentConfiguration.minimumHealthyPercent": 50},
     [("deployment_configuration.minimumHealthyPercent", 50, 100, False)]),
    ("circuit breaker", {"deploymentConfiguration.deploymentCircuitBreaker":
                         {"enable": False, "rollback": False}},
     [("deployment_configuration.deploymentCircuitBreaker.enable", False, True, False),
      ("deployment_configuration.deploymentCircuitBreaker.rollback", False, True, False)]),
    ("grace period", {"healthCheckGracePeriodSeconds": 0},
     [("health_check_grace_period_seconds", 0, 60, False)]),
    ("public IP omitted means DISABLED",
     {"networkConfiguration.awsvpcConfiguration.assignPublicIp": None}, []),
    ("another security group",
     {"networkConfiguration.awsvpcConfiguration.securityGroups": ["sg-0other"]},
     [("network_configuration.awsvpcConfiguration.securityGroups[0]", "sg-0other", APP_GROUP,
       False)]),
    ("a subnet less", {"networkConfiguration.awsvpcConfiguration.subnets": ["subnet-0a"]},
     [("network_configuration.awsvpcConfiguration.subnets", ["subnet-0a"],
       sorted(SUBNETS.values()), False)]),
    ("tag propagation", {"propagateTags": "NONE"}, [("propagate_tags", "NONE", "SERVICE", False)]),
    ("ECS managed tags", {"enableECSManagedTags": False},
     [("enable_ecs_managed_tags", False, True, False)]),
    ("platform version", {"platformVersion": "1.4.0"},
     [("platform_version", "1.4.0", "LATEST", False)]),
    ("on EC2 capacity: replaced, no platform version",
     {"launchType": "EC2", "platformVersion": None}, [("launch_type", "ec2", "fargate", True)]),
    ("target group is fixed at create", {"loadBalancers": [
        {"targetGroupArn": TARGET_GROUP, "containerName": "vivr-app", "containerPort": 8080}]},
     [("load_balancers", [(TARGET_GROUP, "vivr-app", 8080)], [(TARGET_GROUP, "vivr-app", 3000)],
       True)]),
    ("deployment controller is fixed at create",
     {"deploymentController": {"type": "CODE_DEPLOY"}},
     [("deployment_controller", "CODE_DEPLOY", "ECS", True)]),
    ("someone else's tag is left alone",
     {"tags": [*ecs_tags({"team": "payments"}), *ecs_tags(EcsServiceStep(_config()).tags())]},
     []),
    ("our tag missing", {"tags": ecs_tags({k: v for k, v in EcsServiceStep(_config()).tags()
                                           .items() if k != "Name"})},
     [("tags", {"Name": None}, {"Name": "vivr-app"}, False)]),
]


@pytest.mark.parametrize(("what", "edits", "expected"), SERVICE_CASES,
                         ids=[case[0] for case in SERVICE_CASES])
def test_service_drift(what: str, edits: dict[str, Any], expected: Expected) -> None:
    config = _config()
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        # The running revision is the one the config names: its content is compared.
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config)}, {"taskDefinition": REVISION_1})
        changes = step.diff(ctx, Resource(SERVICE_ARN, _service(step, ctx, **edits)))
    assert _shown(changes) == expected


def test_service_runs_the_revision_the_task_definition_step_registered() -> None:
    config = _config()
    step = EcsServiceStep(config)
    with StubbedAws() as aws:  # another revision: no need to read the running one
        ctx = aws.context(config, {**OUTPUTS, "ecs-task-definition": {
            "task_definition_arn": REVISION_2}})
        changes = step.diff(ctx, Resource(SERVICE_ARN, _service(step, ctx)))
    assert _shown(changes) == [("task_definition", REVISION_1, REVISION_2, False)]


def test_plan_shows_the_rollout_before_the_new_revision_is_registered() -> None:
    config = _config()
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config, image="ghcr.io/your-org/vivr:1")},
                   {"taskDefinition": REVISION_1})
        changes = step.diff(ctx, Resource(SERVICE_ARN, _service(step, ctx)))
    assert _shown(changes) == [("task_definition", REVISION_1,
                                "a new revision of vivr-app (containerDefinitions.vivr-app.image)",
                                False)]


def test_service_settings_go_in_one_update_service_and_tags_apart() -> None:
    config = _config()
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        drifted = _service(step, ctx, desiredCount=1, healthCheckGracePeriodSeconds=0,
                           propagateTags="NONE", tags=[],
                           **{"deploymentConfiguration.maximumPercent": 150,
                              "networkConfiguration.awsvpcConfiguration.assignPublicIp":
                                  "ENABLED"})
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config)}, {"taskDefinition": REVISION_1})
        changes = step.diff(ctx, Resource(SERVICE_ARN, drifted))
        assert [c.field for c in changes] == [
            "tags", "desired_count", "deployment_configuration.maximumPercent",
            "health_check_grace_period_seconds",
            "network_configuration.awsvpcConfiguration.assignPublicIp", "propagate_tags"]
        aws.expect("ecs", "tag_resource", {}, {"resourceArn": SERVICE_ARN,
                                               "tags": ecs_tags(step.tags())})
        aws.expect("ecs", "update_service", {}, {
            "cluster": "vivr-prod", "service": "vivr-app", "desiredCount": 3,
            "deploymentConfiguration": step.desired_deployment(),
            "healthCheckGracePeriodSeconds": 60,
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": sorted(SUBNETS.values()), "securityGroups": [APP_GROUP],
                "assignPublicIp": "DISABLED"}},
            "propagateTags": "SERVICE"})
        aws.expect("ecs", "describe_services", {"services": [_service(step, ctx)]},
                   {"cluster": "vivr-prod", "services": ["vivr-app"], "include": ["TAGS"]})
        step.update(ctx, Resource(SERVICE_ARN, drifted), changes)


@pytest.mark.parametrize(("count", "corrected"), [(1, 3), (12, 10)])
def test_a_count_outside_the_range_is_corrected_alone(count: int, corrected: int) -> None:
    config = _config()
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        drifted = _service(step, ctx, desiredCount=count)
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config)}, {"taskDefinition": REVISION_1})
        changes = step.diff(ctx, Resource(SERVICE_ARN, drifted))
        aws.expect("ecs", "update_service", {}, {
            "cluster": "vivr-prod", "service": "vivr-app", "desiredCount": corrected})
        aws.expect("ecs", "describe_services", {"services": [_service(step, ctx)]})
        step.update(ctx, Resource(SERVICE_ARN, drifted), changes)


def test_a_new_revision_rolls_out_alone_so_auto_scaling_keeps_the_count() -> None:
    config = _config()
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, {**OUTPUTS, "ecs-task-definition": {
            "task_definition_arn": REVISION_2}})
        running = _service(step, ctx, desiredCount=7)
        changes = step.diff(ctx, Resource(SERVICE_ARN, running))
        aws.expect("ecs", "update_service", {}, {
            "cluster": "vivr-prod", "service": "vivr-app", "taskDefinition": REVISION_2})
        aws.expect("ecs", "describe_services", {"services": [running]})
        step.update(ctx, Resource(SERVICE_ARN, running), changes)


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"capacityProviderStrategy": None}, []),  # compared only where ECS reports one
    ({"capacityProviderStrategy": [{"capacityProvider": "vivr-prod-ecs", "weight": 2,
                                    "base": 0}]},
     [("capacity_provider_strategy", [{"capacityProvider": "vivr-prod-ecs", "weight": 2,
                                       "base": 0}],
       [{"capacityProvider": "vivr-prod-ecs", "weight": 1, "base": 0}], False)]),
    ({"capacityProviderStrategy": None, "launchType": "FARGATE"},
     [("launch_type", "fargate", "ec2", True)]),
])
def test_service_drift_on_ec2_capacity(edits: dict[str, Any], expected: Expected) -> None:
    config = _config("ec2")
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config)}, {"taskDefinition": REVISION_1})
        changes = step.diff(ctx, Resource(SERVICE_ARN, _service(step, ctx, **edits)))
    assert _shown(changes) == expected


def test_moving_between_capacity_providers_forces_a_new_deployment() -> None:
    config = _config("ec2")
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        drifted = _service(step, ctx, capacityProviderStrategy=[
            {"capacityProvider": "other", "weight": 1, "base": 0}])
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config)}, {"taskDefinition": REVISION_1})
        changes = step.diff(ctx, Resource(SERVICE_ARN, drifted))
        aws.expect("ecs", "update_service", {}, {
            "cluster": "vivr-prod", "service": "vivr-app",
            "capacityProviderStrategy": step.desired_strategy(), "forceNewDeployment": True})
        aws.expect("ecs", "describe_services", {"services": [_service(step, ctx)]})
        step.update(ctx, Resource(SERVICE_ARN, drifted), changes)


@pytest.mark.parametrize(("reply", "found"), [
    ({"services": [], "failures": [{"arn": SERVICE_ARN, "reason": "MISSING"}]}, False),
    ({"services": [{"serviceArn": SERVICE_ARN, "status": "DRAINING"}]}, False),
])
def test_a_missing_or_draining_service_is_absent(reply: dict[str, Any], found: bool) -> None:
    step = EcsServiceStep(_config())
    with StubbedAws() as aws:
        aws.expect("ecs", "describe_services", reply)
        assert (step.lookup(aws.context(step.config, OUTPUTS)) is not None) is found


def test_a_missing_cluster_means_no_service() -> None:
    step = EcsServiceStep(_config())
    with StubbedAws() as aws:
        aws.expect_error("ecs", "describe_services", "ClusterNotFoundException")
        assert step.lookup(aws.context(step.config, OUTPUTS)) is None


def test_a_steady_service_is_checked_as_read_without_asking_again() -> None:
    """A no-op's fresh read that is steady (one deployment, every task running) is the
    answer: no DescribeServices again; a steady rollback to the old revision still fails."""
    step = EcsServiceStep(_config())
    steady = {"deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}]}
    with StubbedAws() as aws:  # no call announced: any call fails the test
        ctx = aws.context(step.config, OUTPUTS)
        resource = Resource(SERVICE_ARN, _service(step, ctx, **steady))
        assert step.wait(ctx, resource) is resource
        rolled_back = {**OUTPUTS, "ecs-task-definition": {"task_definition_arn": REVISION_2}}
        with pytest.raises(RuntimeError, match=r"service runs .*:1, not .*:2"):
            step.wait(aws.context(step.config, rolled_back), resource)


# --------------------------------------------------------------------------- cluster

def _cluster(step: EcsClusterStep, **edits: Any) -> dict[str, Any]:
    described: dict[str, Any] = {
        "clusterArn": CLUSTER_ARN, "clusterName": "vivr-prod", "status": "ACTIVE",
        "settings": [{"name": "containerInsights", "value": "enabled"}],
        "capacityProviders": ["FARGATE_SPOT", "FARGATE"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1,
                                             "base": 0}],
        "TagMap": step.tags()}
    return _edited(described, edits)


CLUSTER_CASES: list[tuple[str, str, dict[str, Any], Expected]] = [
    ("in sync", "fargate", {}, []),
    ("insights off", "fargate",
     {"settings": [{"name": "containerInsights", "value": "disabled"}]},
     [("containerInsights", "disabled", "enabled", False)]),
    ("a provider less", "fargate", {"capacityProviders": ["FARGATE"]},
     [("capacity_providers", ["FARGATE"], ["FARGATE", "FARGATE_SPOT"], False)]),
    ("default strategy", "fargate", {"defaultCapacityProviderStrategy": []},
     [("default_capacity_provider_strategy", [],
       [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}], False)]),
    ("providers belong to the capacity provider step on EC2", "ec2",
     {"capacityProviders": ["vivr-prod-ecs"], "defaultCapacityProviderStrategy": []}, []),
    ("our tag changed", "fargate", {"TagMap.Environment": "staging"},
     [("tags", {"Environment": "staging"}, {"Environment": "production"}, False)]),
]


@pytest.mark.parametrize(("what", "launch_type", "edits", "expected"), CLUSTER_CASES,
                         ids=[case[0] for case in CLUSTER_CASES])
def test_cluster_drift(what: str, launch_type: str, edits: dict[str, Any],
                       expected: Expected) -> None:
    config = _config(launch_type)
    step = EcsClusterStep(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(CLUSTER_ARN, _cluster(step, **edits)))
    assert _shown(changes) == expected


def _expect_cluster_read(aws: StubbedAws, step: EcsClusterStep, **edits: Any) -> None:
    described = _cluster(step, **edits)
    tags = described.pop("TagMap")
    aws.expect("ecs", "describe_clusters", {"clusters": [described]},
               {"clusters": ["vivr-prod"], "include": ["SETTINGS"]})
    aws.expect("ecs", "list_tags_for_resource", {"tags": ecs_tags(tags)},
               {"resourceArn": CLUSTER_ARN})


def test_cluster_settings_and_providers_converge_in_their_own_calls() -> None:
    config = _config()
    step = EcsClusterStep(config)
    drifted = _cluster(step, settings=[], capacityProviders=[], TagMap={})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(CLUSTER_ARN, drifted))
        assert [c.field for c in changes] == ["tags", "containerInsights", "capacity_providers"]
        aws.expect("ecs", "tag_resource", {}, {"resourceArn": CLUSTER_ARN,
                                               "tags": ecs_tags(step.tags())})
        aws.expect("ecs", "update_cluster", {"cluster": {}}, {
            "cluster": "vivr-prod",
            "settings": [{"name": "containerInsights", "value": "enabled"}]})
        aws.expect("ecs", "put_cluster_capacity_providers", {"cluster": {}}, {
            "cluster": "vivr-prod", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1,
                                                 "base": 0}]})
        _expect_cluster_read(aws, step)
        step.update(ctx, Resource(CLUSTER_ARN, drifted), changes)


@pytest.mark.parametrize(("reply", "found"), [
    ({"clusters": [], "failures": [{"arn": CLUSTER_ARN, "reason": "MISSING"}]}, False),
    ({"clusters": [{"clusterArn": CLUSTER_ARN, "status": "INACTIVE"}]}, False),  # deleted
])
def test_a_missing_or_deleted_cluster_is_absent(reply: dict[str, Any], found: bool) -> None:
    step = EcsClusterStep(_config())
    with StubbedAws() as aws:
        aws.expect("ecs", "describe_clusters", reply,
                   {"clusters": ["vivr-prod"], "include": ["SETTINGS"]})
        assert (step.lookup(aws.context(step.config)) is not None) is found


def test_a_cluster_is_read_with_its_settings_and_listed_tags() -> None:
    step = EcsClusterStep(_config())
    with StubbedAws() as aws:
        _expect_cluster_read(aws, step)
        found = step.lookup(aws.context(step.config))
    assert found is not None and found.id == CLUSTER_ARN
    assert found.data["TagMap"] == step.tags()


# --------------------------------------------------------------------------- task definition

def _registered(step: TaskDefinitionStep, ctx: StepContext, **container: Any) -> dict[str, Any]:
    """The latest revision as the step describes it (``include=["TAGS"]``)."""
    return {**_revision(ctx, step.config, **container), "tags": ecs_tags(step.tags())}


TASK_CASES: list[tuple[str, dict[str, Any], dict[str, Any], Expected]] = [
    ("in sync", {}, {}, []),
    ("fields ECS adds are not drift", {}, {"cpu": 0, "volumesFrom": []}, []),
    ("a writable root filesystem is drift", {}, {"readonlyRootFilesystem": False},
     [("containerDefinitions.vivr-app.readonlyRootFilesystem", False, True, False)]),
    ("a lost scratch mount is drift", {"volumes": []}, {"mountPoints": []},
     [("volumes.rw-tmp", None, {"name": "rw-tmp"}, False),
      ("containerDefinitions.vivr-app.mountPoints", [],
       [{"sourceVolume": "rw-tmp", "containerPath": "/tmp", "readOnly": False}], False)]),
    ("task size", {"cpu": "512"}, {}, [("cpu", "512", "1024", False)]),
    ("new image", {}, {"image": "ghcr.io/your-org/vivr:1"},
     [("containerDefinitions.vivr-app.image", "ghcr.io/your-org/vivr:1",
       "ghcr.io/your-org/vivr:latest", False)]),
    ("an extra variable counts", {}, {"environment": [
        *desired_task_definition(StubbedAws().context(_config(), OUTPUTS), _config(), REGION)[
            "containerDefinitions"][0]["environment"], {"name": "DEBUG", "value": "1"}]},
     [("containerDefinitions.vivr-app.environment.DEBUG", "1", None, False)]),
]


@pytest.mark.parametrize(("what", "edits", "container", "expected"), TASK_CASES,
                         ids=[case[0] for case in TASK_CASES])
def test_task_definition_drift(what: str, edits: dict[str, Any], container: dict[str, Any],
                               expected: Expected) -> None:
    config = _config()
    step = TaskDefinitionStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        current = {**_registered(step, ctx, **container), **edits}
        changes = step.diff(ctx, Resource(REVISION_1, current))
    assert _shown(changes) == expected


def test_a_container_we_did_not_define_is_drift() -> None:
    config = _config()
    step = TaskDefinitionStep(config)
    sidecar = {"name": "sidecar", "image": "busybox", "essential": False}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        current = _registered(step, ctx)
        current["containerDefinitions"] = [*current["containerDefinitions"], sidecar]
        changes = step.diff(ctx, Resource(REVISION_1, current))
    assert _shown(changes) == [("containerDefinitions.sidecar",
                                {**sidecar, "environment": {}, "secrets": {}}, None, False)]


def _expect_latest(aws: StubbedAws, described: dict[str, Any]) -> None:
    # The family alone: AWS answers its latest ACTIVE revision, in one call.
    definition = {k: v for k, v in described.items() if k != "tags"}
    aws.expect("ecs", "describe_task_definition",
               {"taskDefinition": definition, "tags": described["tags"]},
               {"taskDefinition": "vivr-app", "include": ["TAGS"]})


def test_a_changed_setting_registers_a_new_revision() -> None:
    config = _config()
    step = TaskDefinitionStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        current = _registered(step, ctx, image="ghcr.io/your-org/vivr:1")
        changes = step.diff(ctx, Resource(REVISION_1, current))
        request = desired_task_definition(ctx, config, REGION)
        new = {**_revision(ctx, config, REVISION_2), "tags": ecs_tags(step.tags())}
        # The revisions before the call: any other new one after it is a twin.
        aws.expect("ecs", "list_task_definitions", {"taskDefinitionArns": [REVISION_1]})
        aws.expect("ecs", "register_task_definition",
                   {"taskDefinition": {k: v for k, v in new.items() if k != "tags"}},
                   {**request, "tags": ecs_tags(step.tags())})
        aws.expect("ecs", "list_task_definitions",
                   {"taskDefinitionArns": [REVISION_1, REVISION_2]})
        _expect_latest(aws, new)
        updated = step.update(ctx, Resource(REVISION_1, current), changes)
    assert updated.id == REVISION_2


def test_a_register_retried_after_a_lost_answer_deregisters_its_twin() -> None:
    """RegisterTaskDefinition takes no token: the lost first attempt's revision goes."""
    config = _config()
    step = TaskDefinitionStep(config)
    twin = REVISION_2.replace(":2", ":3")
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        described = _revision(ctx, config, REVISION_2)
        aws.expect("ecs", "list_task_definitions", {"taskDefinitionArns": [REVISION_1]})
        aws.expect("ecs", "register_task_definition", {"taskDefinition": {
            **{k: v for k, v in described.items() if k != "tags"},
            "taskDefinitionArn": twin}})
        aws.expect("ecs", "list_task_definitions",
                   {"taskDefinitionArns": [REVISION_1, REVISION_2, twin]})
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": {k: v for k, v in described.items() if k != "tags"},
                    "tags": ecs_tags(step.tags())},
                   {"taskDefinition": REVISION_2, "include": ["TAGS"]})
        aws.expect("ecs", "deregister_task_definition", {}, {"taskDefinition": REVISION_2})
        created = step.create(ctx, "token")
    assert created.id == twin


def test_tags_alone_are_changed_on_the_current_revision() -> None:
    config = _config()
    step = TaskDefinitionStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        current = {**_registered(step, ctx), "tags": []}
        changes = step.diff(ctx, Resource(REVISION_1, current))
        assert [c.field for c in changes] == ["tags"]
        aws.expect("ecs", "tag_resource", {}, {"resourceArn": REVISION_1,
                                               "tags": ecs_tags(step.tags())})
        described = _registered(step, ctx)
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": {k: v for k, v in described.items() if k != "tags"},
                    "tags": described["tags"]}, {"taskDefinition": "vivr-app", "include": ["TAGS"]})
        assert step.update(ctx, Resource(REVISION_1, current), changes).id == REVISION_1


# --------------------------------------------------------------------------- EC2 capacity

def _provider(step: EcsCapacityProviderStep, **edits: Any) -> dict[str, Any]:
    described: dict[str, Any] = {
        "capacityProviderArn": PROVIDER_ARN, "name": "vivr-prod-ecs", "status": "ACTIVE",
        "autoScalingGroupProvider": {
            "autoScalingGroupArn": ASG_ARN,
            "managedScaling": {"status": "ENABLED", "targetCapacity": 70,
                               "minimumScalingStepSize": 1, "maximumScalingStepSize": 10,
                               "instanceWarmupPeriod": 300},
            "managedTerminationProtection": "DISABLED", "managedDraining": "ENABLED"},
        "TagMap": step.tags(), "clusterProviders": ["vivr-prod-ecs"], "attached": True,
        "clusterStrategy": [{"capacityProvider": "vivr-prod-ecs", "weight": 1, "base": 0}]}
    return _edited(described, edits)


PROVIDER_CASES: list[tuple[str, dict[str, Any], Expected]] = [
    ("in sync", {}, []),
    ("target capacity", {"autoScalingGroupProvider.managedScaling.targetCapacity": 50},
     [("managedScaling.targetCapacity", 50, 70, False)]),
    ("another group is a new provider",
     {"autoScalingGroupProvider.autoScalingGroupArn": "arn:aws:autoscaling:other"},
     [("autoScalingGroupArn", "arn:aws:autoscaling:other", ASG_ARN, True)]),
    ("detached from the cluster", {"clusterProviders": [], "attached": False,
                                   "clusterStrategy": []},
     [("cluster_capacity_providers", False, True, False),
      ("cluster_default_strategy", [],
       [{"capacityProvider": "vivr-prod-ecs", "weight": 1, "base": 0}], False)]),
]


@pytest.mark.parametrize(("what", "edits", "expected"), PROVIDER_CASES,
                         ids=[case[0] for case in PROVIDER_CASES])
def test_capacity_provider_drift(what: str, edits: dict[str, Any], expected: Expected) -> None:
    config = _config("ec2")
    step = EcsCapacityProviderStep(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(PROVIDER_ARN, _provider(step, **edits)))
    assert _shown(changes) == expected


def _expect_provider_read(aws: StubbedAws, step: EcsCapacityProviderStep) -> None:
    described = _provider(step)
    for key in ("TagMap", "clusterProviders", "attached", "clusterStrategy"):
        described.pop(key)
    aws.expect("ecs", "describe_capacity_providers", {"capacityProviders": [described]},
               {"capacityProviders": ["vivr-prod-ecs"]})
    aws.expect("ecs", "list_tags_for_resource", {"tags": ecs_tags(step.tags())},
               {"resourceArn": PROVIDER_ARN})
    aws.expect("ecs", "describe_clusters", {"clusters": [{
        "clusterArn": CLUSTER_ARN, "status": "ACTIVE", "capacityProviders": ["vivr-prod-ecs"],
        "defaultCapacityProviderStrategy": step.desired_strategy()}]},
        {"clusters": ["vivr-prod"]})


def test_capacity_provider_scaling_and_attachment_converge() -> None:
    config = _config("ec2")
    step = EcsCapacityProviderStep(config)
    drifted = _provider(step, clusterProviders=["FARGATE"], attached=False, clusterStrategy=[],
                        **{"autoScalingGroupProvider.managedScaling.targetCapacity": 50})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(PROVIDER_ARN, drifted))
        desired = step.desired_provider(ctx)
        aws.expect("ecs", "update_capacity_provider", {"capacityProvider": {}}, {
            "name": "vivr-prod-ecs", "autoScalingGroupProvider": {
                "managedScaling": desired["managedScaling"],
                "managedTerminationProtection": "DISABLED"}})
        aws.expect("ecs", "describe_clusters", {"clusters": [{
            "clusterArn": CLUSTER_ARN, "status": "ACTIVE", "capacityProviders": ["FARGATE"]}]})
        aws.expect("ecs", "put_cluster_capacity_providers", {"cluster": {}}, {
            "cluster": "vivr-prod", "capacityProviders": ["FARGATE", "vivr-prod-ecs"],
            "defaultCapacityProviderStrategy": step.desired_strategy()})
        _expect_provider_read(aws, step)
        step.update(ctx, Resource(PROVIDER_ARN, drifted), changes)


def _template(step: EcsLaunchTemplateStep, ctx: StepContext, **data: Any) -> dict[str, Any]:
    tags = {**step.tags(), AMI_PARAMETER_TAG: step.config.ecs.ec2.ami_parameter}
    return {"LaunchTemplateId": TEMPLATE_ID, "LaunchTemplateName": "vivr-prod-ecs",
            "TagMap": tags, "Tags": aws_tags(tags), "VersionNumber": 1,
            "LaunchTemplateData": {**step.desired_data(ctx, IMAGE), **data}}


def test_launch_template_drift() -> None:
    config = _config("ec2")
    step = EcsLaunchTemplateStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        assert step.diff(ctx, Resource(TEMPLATE_ID, _template(step, ctx))) == []
        # Security groups in another order are the same; another image from AWS is not drift.
        same = _template(step, ctx, ImageId="ami-0fffffffffffffff0",
                         SecurityGroupIds=[APP_GROUP])
        assert step.diff(ctx, Resource(TEMPLATE_ID, same)) == []
        drifted = _template(step, ctx, InstanceType="t3.small")
        assert _shown(step.diff(ctx, Resource(TEMPLATE_ID, drifted))) == [
            ("LaunchTemplateData.InstanceType", "t3.small", "t3.medium", False)]


def test_a_changed_setting_makes_a_new_default_version_with_the_same_image() -> None:
    config = _config("ec2")
    step = EcsLaunchTemplateStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        drifted = _template(step, ctx, InstanceType="t3.small")
        changes = step.diff(ctx, Resource(TEMPLATE_ID, drifted))
        aws.expect("ec2", "create_launch_template_version",
                   {"LaunchTemplateVersion": {"VersionNumber": 2}},
                   {"LaunchTemplateId": TEMPLATE_ID,
                    "LaunchTemplateData": step.desired_data(ctx, IMAGE)})
        aws.expect("ec2", "modify_launch_template", {},
                   {"LaunchTemplateId": TEMPLATE_ID, "DefaultVersion": "2"})
        _expect_template_read(aws, step, ctx)
        step.update(ctx, Resource(TEMPLATE_ID, drifted), changes)


def _expect_template_read(aws: StubbedAws, step: EcsLaunchTemplateStep,
                          ctx: StepContext) -> None:
    described = _template(step, ctx)
    aws.expect("ec2", "describe_launch_templates", {"LaunchTemplates": [{
        k: described[k] for k in ("LaunchTemplateId", "LaunchTemplateName", "Tags")}]})
    aws.expect("ec2", "describe_launch_template_versions", {"LaunchTemplateVersions": [{
        "VersionNumber": 2, "LaunchTemplateData": {"ImageId": IMAGE}}]})


def test_a_new_ami_parameter_resolves_the_image_and_records_it() -> None:
    config = _config("ec2")
    step = EcsLaunchTemplateStep(config)
    parameter = config.ecs.ec2.ami_parameter
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        drifted = _template(step, ctx)
        drifted["TagMap"] = {**step.tags(), AMI_PARAMETER_TAG: "/aws/service/ecs/al2"}
        drifted["TagMap"].pop("Name")
        changes = step.diff(ctx, Resource(TEMPLATE_ID, drifted))
        assert _shown(changes) == [
            ("tags", {"Name": None}, {"Name": "vivr-prod-ecs"}, False),
            ("image", "/aws/service/ecs/al2", parameter, False)]
        aws.expect("ec2", "create_tags", {}, {"Resources": [TEMPLATE_ID],
                                              "Tags": [{"Key": "Name", "Value": "vivr-prod-ecs"}]})
        aws.expect("ssm", "get_parameter", {"Parameter": {"Value": "ami-0new0000000000000"}},
                   {"Name": parameter})
        aws.expect("ec2", "create_launch_template_version",
                   {"LaunchTemplateVersion": {"VersionNumber": 2}},
                   {"LaunchTemplateId": TEMPLATE_ID,
                    "LaunchTemplateData": step.desired_data(ctx, "ami-0new0000000000000")})
        aws.expect("ec2", "modify_launch_template", {},
                   {"LaunchTemplateId": TEMPLATE_ID, "DefaultVersion": "2"})
        aws.expect("ec2", "create_tags", {}, {"Resources": [TEMPLATE_ID], "Tags": [
            {"Key": AMI_PARAMETER_TAG, "Value": parameter}]})
        _expect_template_read(aws, step, ctx)
        step.update(ctx, Resource(TEMPLATE_ID, drifted), changes)


def _group(step: EcsAutoScalingGroupStep, **edits: Any) -> dict[str, Any]:
    described: dict[str, Any] = {
        "AutoScalingGroupName": "vivr-prod-ecs", "AutoScalingGroupARN": ASG_ARN,
        "MinSize": 2, "MaxSize": 10, "DesiredCapacity": 3, "DefaultCooldown": 300,
        "LaunchTemplate": {"LaunchTemplateId": TEMPLATE_ID, "LaunchTemplateName": "vivr-prod-ecs",
                           "Version": "$Latest"},
        "VPCZoneIdentifier": "subnet-0c,subnet-0a,subnet-0b",
        "Tags": [{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in
                 sorted(step.tags().items())]}
    return _edited(described, edits)


GROUP_CASES: list[tuple[str, dict[str, Any], Expected]] = [
    ("in sync", {}, []),
    ("managed scaling moved the capacity inside the range", {"DesiredCapacity": 8}, []),
    ("a capacity below the range is clamped", {"DesiredCapacity": 1},
     [("DesiredCapacity", 1, 2, False)]),
    ("size", {"MaxSize": 4}, [("MaxSize", 4, 10, False)]),
    ("a pinned template version", {"LaunchTemplate.Version": "3"},
     [("LaunchTemplate.Version", "3", "$Latest", False)]),
    ("a subnet less", {"VPCZoneIdentifier": "subnet-0b,subnet-0a"},
     [("VPCZoneIdentifier", "subnet-0a,subnet-0b", "subnet-0a,subnet-0b,subnet-0c", False)]),
    ("tags that do not reach the instances",
     {"Tags": [{"Key": k, "Value": v, "PropagateAtLaunch": k != "Name"}
               for k, v in sorted(EcsAutoScalingGroupStep(_config("ec2")).tags().items())]},
     [("tags", "not propagated: ['Name']", EcsAutoScalingGroupStep(_config("ec2")).tags(),
       False)]),
]


@pytest.mark.parametrize(("what", "edits", "expected"), GROUP_CASES,
                         ids=[case[0] for case in GROUP_CASES])
def test_auto_scaling_group_drift(what: str, edits: dict[str, Any], expected: Expected) -> None:
    config = _config("ec2")
    step = EcsAutoScalingGroupStep(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS), Resource(ASG_ARN, _group(step, **edits)))
    assert _shown(changes) == expected


def test_auto_scaling_group_settings_go_in_one_update_and_tags_apart() -> None:
    config = _config("ec2")
    step = EcsAutoScalingGroupStep(config)
    drifted = _group(step, DesiredCapacity=12, MinSize=1, Tags=[])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(ASG_ARN, drifted))
        assert [c.field for c in changes] == ["tags", "MinSize", "DesiredCapacity"]
        aws.expect("autoscaling", "create_or_update_tags", {}, {"Tags": [
            {"ResourceId": "vivr-prod-ecs", "ResourceType": "auto-scaling-group", "Key": k,
             "Value": v, "PropagateAtLaunch": True} for k, v in sorted(step.tags().items())]})
        aws.expect("autoscaling", "update_auto_scaling_group", {}, {
            "AutoScalingGroupName": "vivr-prod-ecs", "MinSize": 2, "MaxSize": 10,
            "LaunchTemplate": {"LaunchTemplateId": TEMPLATE_ID, "Version": "$Latest"},
            "VPCZoneIdentifier": "subnet-0a,subnet-0b,subnet-0c", "DefaultCooldown": 300,
            "DesiredCapacity": 10})
        aws.expect("autoscaling", "describe_auto_scaling_groups",
                   {"AutoScalingGroups": [{**_group(step), "HealthCheckType": "EC2",
                                           "AvailabilityZones": [], "CreatedTime": "2026-01-01"}]})
        step.update(ctx, Resource(ASG_ARN, drifted), changes)


# --------------------------------------------------------------------------- task auto scaling

CPU, MEMORY = "vivr-app-cpu-target", "vivr-app-memory-target"


def _scaling(step: EcsAutoscalingStep, **policy_edits: Any) -> dict[str, Any]:
    policies = {name: {"PolicyName": name, "PolicyType": "TargetTrackingScaling",
                       "TargetTrackingScalingPolicyConfiguration": copy.deepcopy(configuration)}
                for name, configuration in step.desired_policies().items()}
    return {"target": {"MinCapacity": 3, "MaxCapacity": 10},
            "policies": _edited(policies, policy_edits)}


SCALING_CASES: list[tuple[str, dict[str, Any], Expected]] = [
    ("in sync", {}, []),
    ("a policy gone", {CPU: None},
     [(f"policy {CPU}", None, EcsAutoscalingStep(_config()).desired_policies()[CPU], False)]),
    ("another policy type", {f"{CPU}.PolicyType": "StepScaling"},
     [(f"policy {CPU}.PolicyType", "StepScaling", "TargetTrackingScaling", False)]),
    ("a target", {f"{MEMORY}.TargetTrackingScalingPolicyConfiguration.TargetValue": 50.0},
     [(f"policy {MEMORY}.TargetValue", 50.0, 80.0, False)]),
]


@pytest.mark.parametrize(("what", "edits", "expected"), SCALING_CASES,
                         ids=[case[0] for case in SCALING_CASES])
def test_task_auto_scaling_drift(what: str, edits: dict[str, Any], expected: Expected) -> None:
    config = _config()
    step = EcsAutoscalingStep(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config), Resource(step.resource_id,
                                                          _scaling(step, **edits)))
    assert _shown(changes) == expected


def test_capacity_and_each_drifted_policy_are_put_again() -> None:
    config = _config()
    step = EcsAutoscalingStep(config)
    drifted = _scaling(step, **{f"{MEMORY}.TargetTrackingScalingPolicyConfiguration"
                                f".ScaleInCooldown": 60})
    drifted["target"]["MinCapacity"] = 1
    scope = {"ServiceNamespace": "ecs", "ResourceId": step.resource_id,
             "ScalableDimension": "ecs:service:DesiredCount"}
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = step.diff(ctx, Resource(step.resource_id, drifted))
        assert _shown(changes) == [("capacity", (1, 10), (3, 10), False),
                                   (f"policy {MEMORY}.ScaleInCooldown", 60, 300, False)]
        aws.expect("application-autoscaling", "register_scalable_target", {},
                   {**scope, "MinCapacity": 3, "MaxCapacity": 10, "Tags": step.tags()})
        aws.expect("application-autoscaling", "put_scaling_policy",
                   {"PolicyARN": "arn:aws:autoscaling:policy"},
                   {**scope, "PolicyName": MEMORY, "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": step.desired_policies()[MEMORY]})
        aws.expect("application-autoscaling", "describe_scalable_targets", {
            "ScalableTargets": [{**scope, "MinCapacity": 3, "MaxCapacity": 10,
                                 "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/scaling",
                                 "CreationTime": "2026-01-01"}]},
            {"ServiceNamespace": "ecs", "ResourceIds": [step.resource_id],
             "ScalableDimension": "ecs:service:DesiredCount"})
        aws.expect("application-autoscaling", "describe_scaling_policies",
                   {"ScalingPolicies": []}, scope)
        step.update(ctx, Resource(step.resource_id, drifted), changes)


def test_a_provider_is_read_with_its_listed_tags_and_its_place_in_the_cluster() -> None:
    step = EcsCapacityProviderStep(_config("ec2"))
    described = _provider(step)
    for key in ("TagMap", "clusterProviders", "attached", "clusterStrategy"):
        described.pop(key)
    with StubbedAws() as aws:
        aws.expect("ecs", "describe_capacity_providers", {"capacityProviders": [described]},
                   {"capacityProviders": ["vivr-prod-ecs"]})
        aws.expect("ecs", "list_tags_for_resource", {"tags": ecs_tags(step.tags())},
                   {"resourceArn": PROVIDER_ARN})
        aws.expect("ecs", "describe_clusters", {"clusters": [{
            "clusterArn": CLUSTER_ARN, "status": "ACTIVE", "capacityProviders": ["FARGATE"]}]})
        found = step.lookup(aws.context(step.config, OUTPUTS))
    assert found is not None and found.id == PROVIDER_ARN
    assert (found.data["TagMap"], found.data["attached"], found.data["clusterStrategy"]) == (
        step.tags(), False, [])


def test_a_changed_desired_count_is_no_change_and_plan_says_why() -> None:
    """desired_count 3 -> 5 inside the scaling range: no drift (auto scaling owns the
    count), and a note that says so instead of a silent no-op."""
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["ecs"]["service"]["desired_count"] = 5
    config = parse_config(data, "production.yaml")
    step = EcsServiceStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        running = _service(step, ctx)  # 3 tasks, as auto scaling left them
        aws.expect("ecs", "describe_task_definition",
                   {"taskDefinition": _revision(ctx, config)}, {"taskDefinition": REVISION_1})
        assert step.diff(ctx, Resource(SERVICE_ARN, running)) == []
        scaling = config.ecs.autoscaling
        assert step.unapplied(ctx, Resource(SERVICE_ARN, running)) == [
            f"ecs.service.desired_count 5 is not applied: auto scaling owns the task count "
            f"between min_capacity {scaling.min_capacity} and max_capacity "
            f"{scaling.max_capacity} (now 3); change ecs.autoscaling to move it"]
        in_sync = EcsServiceStep(_config())
        assert in_sync.unapplied(ctx, Resource(SERVICE_ARN, running)) == []
