"""The application tier on ECS through the real CLI: cluster, task definition, service,
task auto scaling, and the EC2 launch option.

Expected values are the spec's ("Compute Resources", Option 2 Fargate by
default and Option 1 EC2; ../shared/spec/infrastructure-requirements.md),
written here rather than read from config, so a wrong config fails.
Settings the emulator does not keep are checked in the request the tool
sent (``aws.requests``), which is what real AWS would receive.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Aws
from tests.e2e.inventory import tags_of

pytestmark = pytest.mark.e2e

CLUSTER = "vivr-prod"
SERVICE = "vivr-app"
FAMILY = "vivr-app"
RESOURCE_ID = f"service/{CLUSTER}/{SERVICE}"
APPLY = ("apply", "--target", "ecs-autoscaling")
DESTROY = ("destroy", "--yes", "--target", "ecs-cluster", "--target", "ecs-task-definition")
ECS_STEPS = {"ecs-cluster", "ecs-task-definition", "ecs-service", "ecs-autoscaling"}
EC2_STEPS = {"ecs-launch-template", "ecs-asg", "ecs-capacity-provider"}
#: What these steps create, as tests/e2e/inventory.py lists it (alarms: target tracking's).
KINDS = ("ecs_clusters", "ecs_services", "task_definitions", "scalable_targets",
         "scaling_policies", "alarms", "auto_scaling_groups", "launch_templates")
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
#: env var -> (secret name, JSON key or None): what the app reads from Secrets Manager.
#: The generated ones have a value from the start; ECS can inject only those.
SECRETS = {
    "DATABASE_USERNAME": ("vivr/production/database/master", "username"),
    "DATABASE_PASSWORD": ("vivr/production/database/master", "password"),
    "REDIS_AUTH_TOKEN": ("vivr/production/redis/auth-token", None),
    # issue 12: the field-level encryption private key (generated, PEM)
    "CLOUDFRONT_FLE_PRIVATE_KEY": ("vivr/production/cloudfront/fle-private-key", None),
}
#: env var -> secret name: placeholders an operator fills (created without a value).
PLACEHOLDERS = {
    "STRIPE_SECRET_KEY": "vivr/production/stripe",
    "SENDGRID_API_KEY": "vivr/production/sendgrid",
    "CLOUDINARY_URL": "vivr/production/cloudinary",
    "SENTRY_DSN": "vivr/production/sentry",
}


def _kinds(aws: Aws) -> dict[str, list[str]]:
    listing = aws.inventory()["us-east-1"]
    return {kind: listing[kind] for kind in KINDS}


def _ecs_tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t["value"] for t in items or []}


def _owned(tags: dict[str, str], name: str) -> None:
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    assert tags.get("Name") == name


def _service(aws: Aws) -> dict[str, Any]:
    services = aws.client("ecs").describe_services(
        cluster=CLUSTER, services=[SERVICE], include=["TAGS"])["services"]
    assert len(services) == 1
    return dict(services[0])


def _task_definition(aws: Aws, name: str = FAMILY) -> dict[str, Any]:
    return dict(aws.client("ecs").describe_task_definition(taskDefinition=name)["taskDefinition"])


def _names(aws: Aws, describe: str, key: str, id_key: str, ids: list[str]) -> list[str]:
    items = getattr(aws.client("ec2"), describe)(**{id_key: ids})[key]
    return sorted(tags_of(i)["Name"] for i in items)


def _config_with(aws: Aws, tmp_path: Path, change: dict[str, Any] | None = None, *,
                 data_tier: bool = False) -> Path:
    """production.yaml with ``change`` merged into its ``ecs`` section.

    Without ``data_tier`` the container gets no endpoint variables, so the
    apply does not build the database, pooler, cache and buckets: only the
    first test is about them, the others about the ECS tier itself.
    """
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["ecs"] = _merged(data["ecs"], change or {})
    if not data_tier:
        data["ecs"]["task_definition"]["container"]["endpoints"] = {}
    path = tmp_path / f"production-{len(list(tmp_path.glob('production-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in change.items():
        result[key] = _merged(result[key], value) if isinstance(value, dict) else value
    return result


def _failed(report: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """What went wrong, for assertion messages."""
    return [(s["step"], s["action"], s.get("error")) for s in report.get("steps", [])
            if s["action"] not in ("created", "updated", "unchanged", "adopted", "deleted",
                                   "absent", "create", "update", "no-op")]


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _assert_endpoints_are_the_data_tiers(aws: Aws, environment: dict[str, str]) -> None:
    """The container's endpoints are what the emulator reports for those resources."""
    [pgbouncer] = [i for r in aws.client("ec2").describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["pgbouncer-vivr"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        for i in r["Instances"]]
    rds = aws.client("rds")
    writer = rds.describe_db_instances(DBInstanceIdentifier="vivr-db")["DBInstances"][0]
    reader = rds.describe_db_instances(
        DBInstanceIdentifier="vivr-db-replica-1")["DBInstances"][0]
    [group] = aws.client("elasticache").describe_replication_groups(
        ReplicationGroupId="vivr-cache")["ReplicationGroups"]
    [shard] = group["NodeGroups"]
    buckets = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    assert {"vivr-assets", "vivr-temp"} <= buckets
    assert {k: v for k, v in environment.items() if k.startswith(("DATABASE_", "REDIS_", "S3_"))
            and k != "DATABASE_CONNECT_TIMEOUT_SECONDS"} == {
        # The app's database path is PgBouncer on 6432 (spec "Connection Pooling").
        "DATABASE_HOST": pgbouncer["PrivateIpAddress"], "DATABASE_PORT": "6432",
        "DATABASE_WRITER_HOST": writer["Endpoint"]["Address"], "DATABASE_WRITER_PORT": "5432",
        "DATABASE_READER_HOST": reader["Endpoint"]["Address"], "DATABASE_READER_PORT": "5432",
        "DATABASE_SSLMODE": "require",  # rds.force_ssl 1, PgBouncer client TLS required
        "REDIS_HOST": shard["PrimaryEndpoint"]["Address"],
        "REDIS_READER_HOST": shard["ReaderEndpoint"]["Address"], "REDIS_PORT": "6379",
        "REDIS_TLS": "true",  # in-transit encryption is on
        "S3_ASSETS_BUCKET": "vivr-assets", "S3_TEMP_BUCKET": "vivr-temp"}
    assert shard["ReaderEndpoint"]["Address"] != shard["PrimaryEndpoint"]["Address"]


def _assert_only_secrets_with_a_value_run(aws: Aws) -> None:
    """ECS cannot start a task whose secret has no AWSCURRENT version."""
    running = _service(aws)["taskDefinition"]
    [container] = _task_definition(aws, running)["containerDefinitions"]
    sm = aws.client("secretsmanager")
    for secret in container["secrets"]:
        arn = ":".join(secret["valueFrom"].split(":")[:7])  # without :json-key:stage:version
        stages = sm.describe_secret(SecretId=arn).get("VersionIdsToStages") or {}
        assert any("AWSCURRENT" in labels for labels in stages.values()), secret["name"]


def _notes(report: dict[str, Any]) -> dict[str, list[str]]:
    return {s["step"]: s.get("notes") or [] for s in report["steps"]}


def _assert_fargate_tier_matches_the_spec(aws: Aws) -> None:
    ecs = aws.client("ecs")
    cluster = ecs.describe_clusters(clusters=[CLUSTER], include=["TAGS", "SETTINGS"])[
        "clusters"][0]
    assert cluster["status"] == "ACTIVE"
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    assert sorted(cluster["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    _owned(_ecs_tags(cluster["tags"]), CLUSTER)

    # Task definition (spec: CPU 1024, memory 2048, one essential container on 3000).
    task = _task_definition(aws)
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    assert task["networkMode"] == "awsvpc" and task["requiresCompatibilities"] == ["FARGATE"]
    assert task["runtimePlatform"] == {"cpuArchitecture": "X86_64",
                                       "operatingSystemFamily": "LINUX"}
    assert task["executionRoleArn"].endswith(":role/vivr-ecs-task-execution-role")
    assert task["taskRoleArn"].endswith(":role/vivr-ecs-task-role")
    [container] = task["containerDefinitions"]
    assert container["name"] == "vivr-app" and container["essential"] is True
    assert container["image"] == "ghcr.io/your-org/vivr:latest"
    assert [(p["containerPort"], p["protocol"]) for p in container["portMappings"]] == \
        [(3000, "tcp")]
    assert container["memory"] == 2048, "container-level memory (EC2 needs it; run_task too)"
    # Issue 12: read-only root, /tmp an empty task volume.
    assert container["readonlyRootFilesystem"] is True
    assert [(m["sourceVolume"], m["containerPath"]) for m in container["mountPoints"]] == \
        [("rw-tmp", "/tmp")]
    assert [v["name"] for v in task["volumes"]] == ["rw-tmp"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["NODE_ENV"] == "production" and environment["PORT"] == "3000"
    logging_config = container["logConfiguration"]
    assert logging_config["logDriver"] == "awslogs"
    assert logging_config["options"]["awslogs-group"] == "/vivr/production/app"
    assert logging_config["options"]["awslogs-region"] == "us-east-1"
    assert logging_config["options"]["awslogs-stream-prefix"]
    # Issue 12: a stalled CloudWatch Logs never blocks the app's stdout.
    assert (logging_config["options"]["mode"],
            logging_config["options"]["max-buffer-size"]) == ("non-blocking", "10m")
    sm = aws.client("secretsmanager")
    expected = {}
    for env, (name, json_key) in SECRETS.items():
        arn = sm.describe_secret(SecretId=name)["ARN"]
        expected[env] = f"{arn}:{json_key}::" if json_key else arn
    assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == expected
    _assert_endpoints_are_the_data_tiers(aws, environment)
    health = container["healthCheck"]
    assert health["command"][0] == "CMD-SHELL" and "/api/health" in health["command"][1]
    assert (health["interval"], health["timeout"], health["retries"]) == (30, 5, 3)

    # Service (spec: desired 3, rolling update 100/200, grace period 60 s).
    service = _service(aws)
    assert service["status"] == "ACTIVE" and service["desiredCount"] == 3
    assert service["launchType"] == "FARGATE" and service["platformVersion"] == "LATEST"
    assert service["taskDefinition"] == task["taskDefinitionArn"]
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert service["deploymentConfiguration"]["maximumPercent"] == 200
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == \
        {"enable": True, "rollback": True}
    assert service["healthCheckGracePeriodSeconds"] == 60
    assert service["propagateTags"] == "SERVICE" and service["enableECSManagedTags"] is True
    _owned(_ecs_tags(service["tags"]), SERVICE)
    vpc = service["networkConfiguration"]["awsvpcConfiguration"]
    assert _names(aws, "describe_subnets", "Subnets", "SubnetIds", vpc["subnets"]) == \
        ["private-1a", "private-1b", "private-1c"]
    groups = aws.client("ec2").describe_security_groups(GroupIds=vpc["securityGroups"])
    assert [g["GroupName"] for g in groups["SecurityGroups"]] == ["vivr-app-sg"]
    assert vpc["assignPublicIp"] == "DISABLED"
    [balancer] = service["loadBalancers"]
    assert (balancer["containerName"], balancer["containerPort"]) == ("vivr-app", 3000)
    target_group = aws.client("elbv2").describe_target_groups(
        TargetGroupArns=[balancer["targetGroupArn"]])["TargetGroups"][0]
    assert target_group["TargetGroupName"] == "vivr-app-tg"
    # The request is what AWS receives (the emulator keeps most of it, not all).
    [sent] = aws.requests("CreateService")
    assert sent["deploymentConfiguration"] == {
        "minimumHealthyPercent": 100, "maximumPercent": 200,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    assert sent["healthCheckGracePeriodSeconds"] == 60 and sent["enableECSManagedTags"] is True
    assert 0 < len(sent["clientToken"]) <= 36

    # Auto scaling (spec: 3-10 tasks, CPU 70 %, memory 80 %, out 60 s, in 300 s).
    scaling = aws.client("application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == RESOURCE_ID
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 10)
    policies = {p["PolicyName"]: p for p in scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=RESOURCE_ID)["ScalingPolicies"]}
    assert set(policies) == {"vivr-app-cpu-target", "vivr-app-memory-target"}
    for name, metric, value in (
            ("vivr-app-cpu-target", "ECSServiceAverageCPUUtilization", 70),
            ("vivr-app-memory-target", "ECSServiceAverageMemoryUtilization", 80)):
        configuration = policies[name]["TargetTrackingScalingPolicyConfiguration"]
        assert policies[name]["PolicyType"] == "TargetTrackingScaling"
        assert configuration["PredefinedMetricSpecification"]["PredefinedMetricType"] == metric
        assert configuration["TargetValue"] == value
        assert (configuration["ScaleOutCooldown"], configuration["ScaleInCooldown"]) == (60, 300)
    # The emulator does not keep scalable target tags.
    [registered] = aws.requests("RegisterScalableTarget")
    _owned(registered["Tags"], RESOURCE_ID)


def test_apply_builds_the_fargate_tier_injects_secrets_once_they_have_a_value(
        aws: Aws, tmp_path: Path) -> None:
    aws.config = _config_with(aws, tmp_path, data_tier=True)
    before = _kinds(aws)
    code, plan = aws.cli_json("plan", "--target", "ecs-autoscaling")
    assert code == 0, _failed(plan)
    assert {_actions(plan)[s] for s in ECS_STEPS} == {"create"}
    assert not EC2_STEPS & set(_actions(plan)), "EC2 capacity only with launch_type ec2"

    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert {_actions(report)[s] for s in ECS_STEPS} == {"created"}
    _assert_fargate_tier_matches_the_spec(aws)
    _assert_only_secrets_with_a_value_run(aws)
    # The apply output names each secret that still needs a value, and the command.
    notes = _notes(report)
    for env, name in PLACEHOLDERS.items():
        key = name.rsplit("/", 1)[-1]
        [note] = notes[f"secret.{key}"]
        assert f"aws secretsmanager put-secret-value --secret-id {name} " in note
        assert "--secret-string file://" in note and "--region us-east-1" in note
        [left_out] = notes["ecs-task-definition"]
        assert f"{env} ({name})" in left_out
    assert notes["secret.database_credentials"] == []

    mark, reads = len(aws.calls()), len(aws.requests("GetSecretValue"))
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert set(_actions(report).values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    # Only the ALB reads a value (the origin header its listener rule must match);
    # whether an application secret has a value is read from its metadata.
    read = {str(r["SecretId"]) for r in aws.requests("GetSecretValue")[reads:]}
    app_secrets = [*PLACEHOLDERS.values(), "vivr/production/database/master",
                   "vivr/production/redis/auth-token"]
    assert not [s for s in read if any(name in s for name in app_secrets)], read

    # An operator sets the Stripe key: plan shows the rollout, apply injects it.
    sm = aws.client("secretsmanager")
    sm.put_secret_value(SecretId=PLACEHOLDERS["STRIPE_SECRET_KEY"], SecretString="sk_test_x")
    stripe_arn = sm.describe_secret(SecretId=PLACEHOLDERS["STRIPE_SECRET_KEY"])["ARN"]
    code, plan = aws.cli_json("plan", "--target", "ecs-autoscaling")
    assert code == 0, _failed(plan)
    actions = _actions(plan)
    assert (actions["ecs-task-definition"], actions["ecs-service"]) == ("update", "update")
    [change] = [c for s in plan["steps"] if s["step"] == "ecs-task-definition"
                for c in s["changes"]]
    assert "STRIPE_SECRET_KEY" in change and stripe_arn in change
    assert _notes(plan)["secret.stripe"] == []
    assert "STRIPE_SECRET_KEY" not in _notes(plan)["ecs-task-definition"][0]
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert (_actions(report)["ecs-task-definition"], _actions(report)["ecs-service"]) == \
        ("updated", "updated")
    latest = _task_definition(aws)
    assert latest["revision"] == 2 and _service(aws)["taskDefinition"] == \
        latest["taskDefinitionArn"]
    assert {"name": "STRIPE_SECRET_KEY", "valueFrom": stripe_arn} in \
        latest["containerDefinitions"][0]["secrets"]
    _assert_only_secrets_with_a_value_run(aws)

    # Destroy takes the dependents of its targets; the service drains before it goes.
    mark = len(aws.calls())
    code, report = aws.cli_json(*DESTROY)
    assert code == 0, _failed(report)
    assert {_actions(report)[s] for s in ECS_STEPS} == {"deleted"}
    journal = [c["operation"] for c in aws.calls()[mark:] if c["mutating"]]
    first = {op: journal.index(op) for op in reversed(journal)}  # first occurrence of each
    assert journal.count("DeleteScalingPolicy") == 2
    assert first["DeleteScalingPolicy"] < first["DeregisterScalableTarget"] \
        < first["UpdateService"] < first["DeleteService"] < first["DeleteCluster"]
    assert first["DeleteService"] < first["DeregisterTaskDefinition"] \
        < first["DeleteTaskDefinitions"]
    [scale_down] = [r for r in aws.requests("UpdateService") if "desiredCount" in r]
    assert scale_down["desiredCount"] == 0
    assert _kinds(aws) == before


def test_a_new_image_rolls_out_a_new_revision_and_the_task_count_stays_auto_scaled(
        aws: Aws, tmp_path: Path) -> None:
    aws.config = _config_with(aws, tmp_path)
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    first = _task_definition(aws)["taskDefinitionArn"]
    changed = _config_with(aws, tmp_path, {"task_definition": {
        "container": {"image": "ghcr.io/your-org/vivr:2.0.0"}}})

    mark = len(aws.calls())
    code, plan = aws.cli_json("plan", "--target", "ecs-autoscaling", config=changed)
    assert code == 0, _failed(plan)
    actions = _actions(plan)
    assert actions["ecs-task-definition"] == "update"
    assert actions["ecs-service"] == "update"
    assert {a for s, a in actions.items() if s not in ("ecs-task-definition", "ecs-service")} \
        == {"no-op"}
    [image_change] = [c for s in plan["steps"] if s["step"] == "ecs-task-definition"
                      for c in s["changes"]]
    assert "image" in image_change and "ghcr.io/your-org/vivr:2.0.0" in image_change
    assert aws.mutating_calls(since=mark) == []

    code, report = aws.cli_json(*APPLY, config=changed)
    assert code == 0, _failed(report)
    actions = _actions(report)
    assert (actions["ecs-task-definition"], actions["ecs-service"]) == ("updated", "updated")
    latest = _task_definition(aws)
    assert latest["revision"] == 2
    assert latest["containerDefinitions"][0]["image"] == "ghcr.io/your-org/vivr:2.0.0"
    assert _service(aws)["taskDefinition"] == latest["taskDefinitionArn"]
    [rollout] = [r for r in aws.requests("UpdateService") if "taskDefinition" in r]
    assert rollout["taskDefinition"] == latest["taskDefinitionArn"]
    assert set(rollout) == {"cluster", "service", "taskDefinition"}, \
        "only the revision changes: auto scaling keeps owning the count"
    # The previous revision stays usable for the circuit breaker's rollback.
    assert _task_definition(aws, first)["status"] == "ACTIVE"

    mark = len(aws.calls())
    code, report = aws.cli_json(*APPLY, config=changed)
    assert code == 0, _failed(report)
    assert aws.mutating_calls(since=mark) == []
    # That auto scaling owns the task count inside [3, 10] and apply corrects only
    # a count outside is a drift rule: tests/unit/test_ecs_drift.py.


def test_a_crash_right_after_a_create_call_is_resumed_without_duplicates(
        aws: Aws, tmp_path: Path) -> None:
    aws.config = _config_with(aws, tmp_path)
    for point, step in (("ecs.RegisterTaskDefinition", "ecs-task-definition"),
                        ("ecs.CreateService", "ecs-service")):
        crashed = aws.cli("apply", "--target", step, env={"VIVR_FAULT_CRASH_AFTER": point})
        assert crashed.returncode == 137, (point, crashed.stderr[-2000:])
    deployment = _service(aws)["deployments"][0]["id"]

    mark = len(aws.calls())
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    # The task definition was already adopted by the second (crashed) run.
    assert _actions(report)["ecs-service"] == "adopted"
    calls = aws.mutating_calls(since=mark)
    assert "ecs.RegisterTaskDefinition" not in calls and "ecs.CreateService" not in calls
    revisions = aws.client("ecs").list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]
    assert [arn.rsplit(":", 1)[-1] for arn in revisions] == ["1"]
    # A second CreateService with the same name would have replaced the service.
    assert _service(aws)["deployments"][0]["id"] == deployment


def test_ec2_launch_type_runs_the_service_on_an_auto_scaling_group(
        aws: Aws, tmp_path: Path) -> None:
    before = _kinds(aws)
    aws.config = _config_with(aws, tmp_path, {"launch_type": "ec2"})
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert {_actions(report)[s] for s in ECS_STEPS | EC2_STEPS} == {"created"}

    key_arn = aws.client("kms").describe_key(KeyId="alias/vivr-production")["KeyMetadata"]["Arn"]
    ec2 = aws.client("ec2")
    [template] = ec2.describe_launch_templates(LaunchTemplateNames=["vivr-prod-ecs"])[
        "LaunchTemplates"]
    _owned(tags_of(template), "vivr-prod-ecs")
    data = ec2.describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    ami = aws.client("ssm").get_parameter(
        Name="/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
    assert data["ImageId"] == ami["Parameter"]["Value"], "the ECS-optimised AMI"
    assert data["InstanceType"] == "t3.medium"
    assert data["IamInstanceProfile"]["Name"] == "vivr-ecs-instance-role"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    volumes = {(m["Ebs"]["VolumeSize"], m["Ebs"]["VolumeType"], m["Ebs"]["Encrypted"],
                m["Ebs"]["KmsKeyId"]) for m in data["BlockDeviceMappings"]}
    assert volumes == {(20, "gp3", True, key_arn), (50, "gp3", True, key_arn)}
    script = base64.b64decode(data["UserData"]).decode()
    assert "ECS_CLUSTER=vivr-prod" in script and "/etc/ecs/ecs.config" in script
    groups = ec2.describe_security_groups(GroupIds=data["SecurityGroupIds"])["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["vivr-app-sg"]

    [group] = aws.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["vivr-prod-ecs"])["AutoScalingGroups"]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 10, 3)
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template["LaunchTemplateId"]
    assert _names(aws, "describe_subnets", "Subnets", "SubnetIds",
                  group["VPCZoneIdentifier"].split(",")) == \
        ["private-1a", "private-1b", "private-1c"]
    assert all(t["PropagateAtLaunch"] for t in group["Tags"])
    _owned(tags_of(group), "vivr-prod-ecs")

    ecs = aws.client("ecs")
    [provider] = ecs.describe_capacity_providers(capacityProviders=["vivr-prod-ecs"])[
        "capacityProviders"]
    asg_provider = provider["autoScalingGroupProvider"]
    assert asg_provider["autoScalingGroupArn"] == group["AutoScalingGroupARN"]
    assert asg_provider["managedScaling"]["status"] == "ENABLED"
    assert asg_provider["managedScaling"]["targetCapacity"] == 70
    cluster = ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
    assert cluster["capacityProviders"] == ["vivr-prod-ecs"]
    assert cluster["defaultCapacityProviderStrategy"][0]["capacityProvider"] == "vivr-prod-ecs"

    assert _task_definition(aws)["requiresCompatibilities"] == ["EC2"]
    # The emulator drops a new service's capacity provider strategy: check the request.
    [sent] = aws.requests("CreateService")
    assert sent["capacityProviderStrategy"] == [
        {"capacityProvider": "vivr-prod-ecs", "weight": 1, "base": 0}]
    assert "launchType" not in sent and "platformVersion" not in sent
    assert _service(aws)["desiredCount"] == 3

    mark = len(aws.calls())
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert set(_actions(report).values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []

    code, report = aws.cli_json(*DESTROY)
    assert code == 0, _failed(report)
    assert {_actions(report)[s] for s in ECS_STEPS | EC2_STEPS} == {"deleted"}
    assert _kinds(aws) == before
    assert ecs.describe_capacity_providers(capacityProviders=["vivr-prod-ecs"])[
        "capacityProviders"] == []
