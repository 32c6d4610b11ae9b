"""The application tier on ECS (spec "Compute Resources"): cluster, task definition,
service and its task auto scaling.

Why it is built this way:

* **Fargate by default, EC2 on request.**  ``ecs.launch_type`` picks the
  spec's Option 2 (Fargate, the default) or Option 1 (container instances in
  an Auto Scaling group, see :mod:`vivr_provision.steps.ecs_ec2`).  Only the
  launch settings differ; the task definition and the service are the same
  steps either way.
* **A task definition revision is immutable.**  The step compares the whole
  desired definition with the latest ACTIVE revision of the family (fields
  AWS adds are ignored, environment and secrets are compared as maps) and
  registers a new revision when they differ.  That is reported as an
  in-place *update*: the family is the resource, a revision is its version.
  Older revisions stay ACTIVE so the deployment circuit breaker can roll
  back to them; destroy deregisters (and deletes) every revision we made.
* **The container finds its data tier in its environment.**  Endpoint
  variables (``ecs.task_definition.container.endpoints``) are read from the
  outputs of the steps that build PgBouncer, RDS, ElastiCache and the
  buckets, so the task definition depends on them and a replaced instance
  or a moved endpoint shows as drift and registers a new revision.
* **Only secrets that have a value are injected.**  ECS cannot start a task
  whose Secrets Manager reference has no ``AWSCURRENT`` version
  (``ResourceInitializationError``), so the service would never become
  stable while a placeholder is empty.  Such a variable is left out (see
  the notes of plan/apply for the command that sets the value); once the
  secret has one, the next plan shows the change and apply registers a
  revision that references it.
* **A config change rolls out through the service.**  The service points at
  the task definition step's ARN; when that changes, ``update_service``
  starts a rolling deployment (min 100 % / max 200 %) and apply waits until
  the service is stable.  ``plan`` already shows the service as *update*,
  because it compares the running revision's content with the config too.
* **Auto scaling owns the task count.**  Once Application Auto Scaling moves
  ``desiredCount``, apply must not fight it: the service only corrects a
  count outside ``[min_capacity, max_capacity]``.
* **No duplicate or replaced services.**  ``CreateService`` takes a
  ``clientToken`` (the engine's deterministic token), but a lookup by name
  always comes first: some implementations replace a same-named service
  instead of honouring the token.
* **Teardown in the order AWS needs.**  Scaling policies before the scalable
  target; the service is scaled to zero and drained (``services_stable``)
  before ``delete_service`` and then waited to ``INACTIVE``; the cluster
  goes last.  A deleted cluster stays listed as ``INACTIVE`` and counts as
  absent.
* **IAM propagation.**  A role created seconds earlier can be refused by
  ECS; register/create/update retry under ``ROLE_PROPAGATION`` (plus, for
  ``CreateService``, the other transient refusals Terraform retries).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import structlog
from botocore.exceptions import ClientError, WaiterError

from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import ContainerEndpointConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import (
    Change,
    DependencyMissing,
    Resource,
    Step,
    StepContext,
    StepInterrupted,
    StepTimeout,
)
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    require_owned,
    tag_drift,
    tag_map,
)
from vivr_provision.steps.elasticache import CacheStep
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.pgbouncer import PgBouncerStep
from vivr_provision.steps.rds import DbInstanceBase
from vivr_provision.steps.s3 import BucketStep

log = structlog.get_logger("vivr.ecs")

CLUSTER_STEP = "ecs-cluster"
TASK_DEFINITION_STEP = "ecs-task-definition"
SERVICE_STEP = "ecs-service"
AUTOSCALING_STEP = "ecs-autoscaling"
CAPACITY_PROVIDER_STEP = "ecs-capacity-provider"
EXECUTION_ROLE_STEP = "iam.task_execution_role"
TASK_ROLE_STEP = "iam.task_role"
TARGET_GROUP_STEP = "alb-target-group"

#: "Not there (any more)" for the ECS calls a step makes on its own resources.
ECS_NOT_FOUND = ("ClusterNotFoundException", "ServiceNotFoundException",
                 "ServiceNotActiveException")
#: What ``CreateService`` answers while what it references is still settling:
#: roles (IAM), a cluster just created, a target group whose listener is
#: seconds old (Terraform's ``retryServiceCreate`` list).
SERVICE_PROPAGATION = dataclasses.replace(
    ROLE_PROPAGATION,
    codes=ROLE_PROPAGATION.codes | {"ClusterNotFoundException"},
    reason="ECS is eventually consistent: a new role, cluster or listener is not usable yet",
    message=f"{ROLE_PROPAGATION.message}|load balancer|cluster not found",
)
#: Deleting a cluster while the last tasks, services or instances drain.
CLUSTER_DRAINING = policy(
    {"ClusterContainsServicesException", "ClusterContainsTasksException",
     "ClusterContainsContainerInstancesException", "UpdateInProgressException"},
    "services, tasks or container instances of the cluster are still draining",
    deadline_s=900, max_attempts=60, initial_s=5.0,
)
#: Changing a cluster's capacity providers while it or a provider is updating.
CLUSTER_UPDATING = policy(
    {"UpdateInProgressException", "ResourceInUseException"},
    "the cluster or capacity provider is still being updated",
    deadline_s=600, max_attempts=40, initial_s=5.0,
)
#: A scalable target registered right after its service can be refused briefly
#: (and the first one creates Application Auto Scaling's service-linked role).
SCALING_PROPAGATION = policy(
    {"ValidationException", "ConcurrentUpdateException", "AccessDeniedException"},
    "Application Auto Scaling may not see a new ECS service or its service-linked role yet",
    deadline_s=180, message=r"does ?n[o']t exist|not found|role|concurrent|in progress",
)

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
RUNTIME_PLATFORM = {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
#: Changes listed one by one in plan output; the rest are summarised.
MAX_LISTED_CHANGES = 12


# --------------------------------------------------------------------------- helpers

def ecs_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags in the lowercase key/value shape ECS uses."""
    return aws_tags(tags, "key", "value")


class Exact(dict[str, Any]):
    """A map compared key by key in both directions (extra keys in AWS are drift).

    Ordinary dicts in a desired document are *projections*: only the keys we
    set are compared, so fields AWS adds (``cpu: 0``, ``mountPoints``) never
    count as drift.  Environment variables and secrets are different: an
    extra one in the running definition is a real difference.
    """


def differences(current: Any, desired: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``(path, current, desired)`` for every setting where AWS differs from what we set.

    Dicts are compared on the desired keys only (``Exact`` on both sides' keys),
    lists element by element (list elements that are dicts with a ``name``
    are labelled by it), scalars by equality (so 70 == 70.0).
    """
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return [(path, current, desired)]
        keys = list(desired)
        if isinstance(desired, Exact):
            keys += sorted(k for k in current if k not in desired)
        found: list[tuple[str, Any, Any]] = []
        for key in keys:
            found += differences(current.get(key), desired.get(key),
                                 f"{path}.{key}" if path else str(key))
        return found
    if isinstance(desired, list):
        if not isinstance(current, list) or len(current) != len(desired):
            return [(path, current, desired)]
        found = []
        for index, (now, wanted) in enumerate(zip(current, desired, strict=True)):
            label = wanted.get("name", index) if isinstance(wanted, dict) else index
            found += differences(now, wanted, f"{path}[{label}]")
        return found
    return [] if current == desired else [(path, current, desired)]


def changes_from(found: list[tuple[str, Any, Any]], prefix: str = "") -> list[Change]:
    """In-place changes for plan output, one per setting, summarised past a limit."""
    changes = [Change(prefix + path, current, desired)
               for path, current, desired in found[:MAX_LISTED_CHANGES]]
    if len(found) > MAX_LISTED_CHANGES:
        rest = [path for path, _, _ in found[MAX_LISTED_CHANGES:]]
        changes.append(Change(prefix + "(more settings)", f"{len(rest)} differ", rest))
    return changes


def poll(ctx: StepContext, what: str, done: Callable[[], bool], *, budget_s: float,
         delay_s: float) -> None:
    """Call ``done`` until it is true, the budget is spent or Ctrl-C.

    For transitions no botocore waiter covers (a capacity provider or an
    Auto Scaling group being deleted); cancellable like :meth:`StepContext.wait`.
    """
    deadline = time.monotonic() + budget_s
    while not done():
        if time.monotonic() + delay_s > deadline:
            raise StepTimeout(f"{what} did not finish within {budget_s:.0f}s; rerun to keep "
                              "waiting")
        if ctx.cancel.wait(delay_s):
            raise StepInterrupted(f"interrupted while waiting: {what}")


def service_subnet_steps(config: PlatformConfig) -> list[str]:
    return [f"subnet.{name}" for name in config.ecs.service.subnets]


def service_group_steps(config: PlatformConfig) -> list[str]:
    return [f"sg.{name}" for name in config.ecs.service.security_groups]


def service_subnet_ids(ctx: StepContext, config: PlatformConfig) -> list[str]:
    return sorted(str(ctx.output(step, "subnet_id")) for step in service_subnet_steps(config))


def service_group_ids(ctx: StepContext, config: PlatformConfig) -> list[str]:
    return sorted(str(ctx.output(step, "group_id")) for step in service_group_steps(config))


def secret_steps_of(config: PlatformConfig) -> list[str]:
    """The secret steps whose ARNs the container references."""
    return sorted({f"secret.{s.secret}" for s in config.ecs.task_definition.container.secrets})


#: The step family each endpoint source reads (``family.key`` when it has a key).
ENDPOINT_FAMILIES: dict[str, str] = {
    "rds": DbInstanceBase.family,
    "pgbouncer": PgBouncerStep.family,
    "redis": CacheStep.family,
    "s3": BucketStep.family,
}


def endpoint_step(entry: ContainerEndpointConfig) -> str:
    """The step whose output an endpoint variable reads."""
    family = ENDPOINT_FAMILIES[entry.source]
    return family if entry.key is None else f"{family}.{entry.key}"


def endpoint_steps_of(config: PlatformConfig) -> list[str]:
    return sorted({endpoint_step(e)
                   for e in config.ecs.task_definition.container.endpoints.values()})


def env_text(value: Any) -> str:
    """An output as environment text: ``true``/``false`` for booleans, else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def endpoint_environment(ctx: StepContext, config: PlatformConfig) -> dict[str, str]:
    """The endpoint variables, read from their steps' outputs.

    An output the resource does not report (an empty endpoint) is an error
    naming the variable, not an empty variable the app would trip over.
    """
    values: dict[str, str] = {}
    for env, entry in config.ecs.task_definition.container.endpoints.items():
        step = endpoint_step(entry)
        if not ctx.has_outputs(step):
            raise DependencyMissing(f"{step} has not been applied (no outputs recorded)")
        value = (ctx.outputs_of(step) or {}).get(entry.output)
        if value is None or value == "":
            raise RuntimeError(f"ecs.task_definition.container.endpoints.{env}: {step} reports "
                               f"no {entry.output}")
        values[env] = env_text(value)
    return values


def secrets_without_value(ctx: StepContext, config: PlatformConfig) -> dict[str, str]:
    """Container variables whose secret has no current value: env var -> secret key."""
    return {entry.env: entry.secret for entry in config.ecs.task_definition.container.secrets
            if not ctx.output(f"secret.{entry.secret}", "has_value")}


def uses_ec2(config: PlatformConfig) -> bool:
    return config.ecs.launch_type == "ec2"


class EcsStep(Step):
    """Shared plumbing of the ECS steps (client, cluster name)."""

    service = "ecs"

    def ecs(self, ctx: StepContext) -> Any:
        return ctx.client("ecs", self.region)

    @property
    def cluster_name(self) -> str:
        return self.config.ecs.cluster_name


# --------------------------------------------------------------------------- cluster

class EcsClusterStep(EcsStep):
    """The cluster: Container Insights, Fargate capacity providers, tags.

    With the EC2 launch type the cluster's capacity providers belong to the
    ``ecs-capacity-provider`` step (which needs the cluster first, so that
    container instances boot into a cluster that exists), and are not
    compared here.
    """

    family = CLUSTER_STEP
    expected_seconds = 5.0

    def resource_name(self) -> str:
        return self.cluster_name

    def desired_settings(self) -> list[dict[str, str]]:
        value = "enabled" if self.config.ecs.container_insights else "disabled"
        return [{"name": "containerInsights", "value": value}]

    def desired_strategy(self) -> list[dict[str, Any]]:
        return [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]

    def _get(self, ctx: StepContext) -> Resource | None:
        reply = self.ecs(ctx).describe_clusters(clusters=[self.cluster_name],
                                                include=["TAGS", "SETTINGS"])
        live = [c for c in reply.get("clusters", []) if c.get("status") != "INACTIVE"]
        if not live:
            return None  # never made, or deleted (ECS keeps those as INACTIVE)
        cluster = live[0]
        require_owned(self, f"ECS cluster {self.cluster_name}",
                      tag_map(cluster.get("tags"), "key", "value"))
        return Resource(cluster["clusterArn"], cluster)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._get(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._get(ctx)

    def create(self, ctx: StepContext, token: str) -> Resource:
        params: dict[str, Any] = {"clusterName": self.cluster_name,
                                  "settings": self.desired_settings(),
                                  "tags": ecs_tags(self.tags())}
        if not uses_ec2(self.config):
            params["capacityProviders"] = list(FARGATE_PROVIDERS)
            params["defaultCapacityProviderStrategy"] = self.desired_strategy()
        # The first cluster of an account creates ECS's service-linked role;
        # capacity providers are refused until it can be assumed.
        cluster = ROLE_PROPAGATION.call(f"create cluster {self.cluster_name}",
                                        self.ecs(ctx).create_cluster, **params)["cluster"]
        found = self._get(ctx)
        return found or Resource(cluster["clusterArn"], cluster)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        changes = tag_drift(self, tag_map(data.get("tags"), "key", "value"))
        current = {s["name"]: s["value"] for s in data.get("settings", [])}
        for setting in self.desired_settings():
            if current.get(setting["name"]) != setting["value"]:
                changes.append(Change(setting["name"], current.get(setting["name"]),
                                      setting["value"]))
        if not uses_ec2(self.config):
            providers = sorted(data.get("capacityProviders") or [])
            if providers != sorted(FARGATE_PROVIDERS):
                changes.append(Change("capacity_providers", providers, list(FARGATE_PROVIDERS)))
            strategy = data.get("defaultCapacityProviderStrategy") or []
            if differences(strategy, self.desired_strategy()):
                changes.append(Change("default_capacity_provider_strategy", strategy,
                                      self.desired_strategy()))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        ecs = self.ecs(ctx)
        fields = {c.field for c in changes}
        if fields & {s["name"] for s in self.desired_settings()}:
            ecs.update_cluster(cluster=self.cluster_name, settings=self.desired_settings())
        if fields & {"capacity_providers", "default_capacity_provider_strategy"}:
            CLUSTER_UPDATING.call(
                f"capacity providers of {self.cluster_name}",
                ecs.put_cluster_capacity_providers, cluster=self.cluster_name,
                capacityProviders=list(FARGATE_PROVIDERS),
                defaultCapacityProviderStrategy=self.desired_strategy())
        for change in changes:
            if change.field == "tags":
                ecs.tag_resource(resourceArn=resource.id, tags=ecs_tags(change.desired))
        found = self._get(ctx)
        assert found is not None, "a cluster just updated is describable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Services are gone by now (they depend on the cluster); tasks may still drain."""
        try:
            CLUSTER_DRAINING.call(f"delete cluster {self.cluster_name}",
                                  self.ecs(ctx).delete_cluster, cluster=self.cluster_name)
        except ClientError as exc:
            if error_code(exc) not in ECS_NOT_FOUND:
                raise

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "cluster_arn": resource.id,
                "cluster_name": self.cluster_name}


# --------------------------------------------------------------------------- task definition

def _as_exact(items: list[dict[str, Any]] | None, value_key: str) -> Exact:
    return Exact({item["name"]: item.get(value_key) for item in items or []})


def comparable(definition: dict[str, Any]) -> dict[str, Any]:
    """A task definition (request or description) in the form :func:`differences` compares.

    Environment variables and secrets become exact maps (order-free, extras
    count); the rest stays as is (log driver options included: ECS may add
    defaults such as the delivery mode, and we always set all of ours).
    """
    result = dict(definition)
    containers = []
    for container in definition.get("containerDefinitions") or []:
        item = dict(container)
        item["environment"] = _as_exact(container.get("environment"), "value")
        item["secrets"] = _as_exact(container.get("secrets"), "valueFrom")
        containers.append(item)
    result["containerDefinitions"] = containers
    return result


def desired_task_definition(ctx: StepContext, config: PlatformConfig,
                            region: str) -> dict[str, Any]:
    """The ``RegisterTaskDefinition`` request the config describes (without tags).

    Container-level ``memory`` is set as well as the task-level one: a hard
    limit per container is what the EC2 launch type needs, and some ECS
    implementations cannot run a task without it.
    """
    task = config.ecs.task_definition
    container = task.container
    empty = secrets_without_value(ctx, config)
    secrets = []
    for entry in container.secrets:
        if entry.env in empty:
            continue  # ECS could not start the task (see secrets_without_value)
        arn = str(ctx.output(f"secret.{entry.secret}", "arn"))
        # Secrets Manager reference syntax: <arn>:<json-key>:<version-stage>:<version-id>
        secrets.append({"name": entry.env,
                        "valueFrom": f"{arn}:{entry.json_key}::" if entry.json_key else arn})
    environment = {**container.environment, **endpoint_environment(ctx, config)}
    health = container.health_check
    definition: dict[str, Any] = {
        "name": container.name,
        "image": container.image,
        "essential": container.essential,
        "memory": task.memory,
        "portMappings": [{"containerPort": container.port, "hostPort": container.port,
                          "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "secrets": sorted(secrets, key=lambda s: s["name"]),
        "healthCheck": {"command": list(health.command),
                        "interval": health.interval_seconds,
                        "timeout": health.timeout_seconds,
                        "retries": health.retries,
                        "startPeriod": health.start_period_seconds},
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": str(ctx.output(f"logs.{container.log_group}", "name")),
            "awslogs-region": region,
            "awslogs-stream-prefix": container.log_stream_prefix}},
    }
    return {
        "family": task.family,
        "taskRoleArn": str(ctx.output(TASK_ROLE_STEP, "role_arn")),
        "executionRoleArn": str(ctx.output(EXECUTION_ROLE_STEP, "role_arn")),
        "networkMode": task.network_mode,
        "requiresCompatibilities": ["EC2"] if uses_ec2(config) else ["FARGATE"],
        "cpu": str(task.cpu),
        "memory": str(task.memory),
        "runtimePlatform": dict(RUNTIME_PLATFORM),
        "containerDefinitions": [definition],
    }


def task_definition_drift(ctx: StepContext, config: PlatformConfig, region: str,
                          current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Where a registered revision differs from what the config describes."""
    desired = desired_task_definition(ctx, config, region)
    return differences(comparable(current), comparable(desired))


def _revision_of(arn: str) -> int:
    return int(arn.rsplit(":", 1)[-1])


class TaskDefinitionStep(EcsStep):
    """The task definition family: one essential container, awslogs, secrets by ARN."""

    family = TASK_DEFINITION_STEP
    expected_seconds = 3.0

    @property
    def task_family(self) -> str:
        return self.config.ecs.task_definition.family

    def resource_name(self) -> str:
        return self.task_family

    def depends_on(self) -> tuple[str, ...]:
        container = self.config.ecs.task_definition.container
        return (EXECUTION_ROLE_STEP, TASK_ROLE_STEP, f"logs.{container.log_group}",
                *secret_steps_of(self.config), *endpoint_steps_of(self.config))

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """Variables left out until their secret has a value (the secret's note says how)."""
        empty = secrets_without_value(ctx, self.config)
        if not empty:
            return []
        names = self.config.secrets.names()
        listed = ", ".join(f"{env} ({names[key]})" for env, key in sorted(empty.items()))
        return [f"not injected until their secret has a value: {listed}; the next apply "
                "after put-secret-value registers a revision with them"]

    def _active_arns(self, ctx: StepContext) -> list[str]:
        """ACTIVE revisions of exactly our family (``familyPrefix`` is a prefix match)."""
        pages = self.ecs(ctx).get_paginator("list_task_definitions").paginate(
            familyPrefix=self.task_family, status="ACTIVE")
        arns = [arn for page in pages for arn in page.get("taskDefinitionArns", [])
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == self.task_family]
        return sorted(arns, key=_revision_of)

    def _describe(self, ctx: StepContext, arn: str) -> Resource | None:
        reply = absent_on(("ClientException",), self.ecs(ctx).describe_task_definition,
                          taskDefinition=arn, include=["TAGS"])
        if reply is None or reply["taskDefinition"].get("status") != "ACTIVE":
            return None
        definition = dict(reply["taskDefinition"])
        definition["tags"] = reply.get("tags", [])
        return Resource(definition["taskDefinitionArn"], definition)

    def _latest(self, ctx: StepContext) -> Resource | None:
        """The latest ACTIVE revision; the family, not one revision, is the resource."""
        arns = self._active_arns(ctx)
        if not arns:
            return None
        latest = self._describe(ctx, arns[-1])
        if latest is not None:
            require_owned(self, f"task definition {arns[-1]}",
                          tag_map(latest.data.get("tags"), "key", "value"))
        return latest

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        # A recorded revision may have been superseded (by us or a deploy
        # pipeline): always compare against the latest one.
        return self._latest(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._latest(ctx)

    def _register(self, ctx: StepContext) -> Resource:
        request = desired_task_definition(ctx, self.config, self.region)
        reply = ROLE_PROPAGATION.call(
            f"register {self.task_family}", self.ecs(ctx).register_task_definition,
            **request, tags=ecs_tags(self.tags()))
        definition = dict(reply["taskDefinition"])
        definition["tags"] = reply.get("tags") or ecs_tags(self.tags())
        log.info("ecs.task_definition.registered", step=self.name,
                 task_definition=definition["taskDefinitionArn"])
        return Resource(definition["taskDefinitionArn"], definition)

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._register(ctx)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        changes = tag_drift(self, tag_map(resource.data.get("tags"), "key", "value"))
        found = task_definition_drift(ctx, self.config, self.region, resource.data)
        return changes + changes_from(found)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """A new revision for any setting; tags alone are changed on the current one."""
        if any(c.field != "tags" for c in changes):
            return self._register(ctx)
        for change in changes:
            self.ecs(ctx).tag_resource(resourceArn=resource.id, tags=ecs_tags(change.desired))
        updated = self._describe(ctx, resource.id)
        assert updated is not None, "a task definition just tagged is describable"
        return updated

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Deregister every ACTIVE revision we registered, then delete them."""
        ecs = self.ecs(ctx)
        mine = []
        for arn in self._active_arns(ctx):
            revision = self._describe(ctx, arn)
            if revision is not None and is_owned_by(
                    self, tag_map(revision.data.get("tags"), "key", "value")):
                gone_on(("ClientException",), ecs.deregister_task_definition, taskDefinition=arn)
                mine.append(arn)
        # DeleteTaskDefinitions takes at most 10 revisions per call.
        for start in range(0, len(mine), 10):
            reply = ecs.delete_task_definitions(taskDefinitions=mine[start:start + 10])
            for failure in reply.get("failures", []):
                log.warning("ecs.task_definition.not_deleted", step=self.name,
                            task_definition=failure.get("arn"), reason=failure.get("reason"))

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "task_definition_arn": resource.id,
                "family": self.task_family, "revision": _revision_of(resource.id)}


# --------------------------------------------------------------------------- service

class EcsServiceStep(EcsStep):
    """The service behind the ALB target group, in the private app subnets."""

    family = SERVICE_STEP
    expected_seconds = 180.0
    #: Rolling deployments with health checks and draining take a while on AWS.
    wait_budget_s = 1800.0
    poll_delay_s = 15.0

    @property
    def service_name(self) -> str:
        return self.config.ecs.service.name

    def resource_name(self) -> str:
        return self.service_name

    def _route_table_steps(self) -> list[str]:
        """Route tables of the service subnets: tasks pull images through the NAT."""
        wanted = set(self.config.ecs.service.subnets)
        return [f"rtb.{t.name}" for t in self.config.network.route_tables
                if wanted & set(t.subnets)]

    def depends_on(self) -> tuple[str, ...]:
        listeners = [f"alb-listener.{listener.port}" for listener in self.config.alb.listeners]
        groups = service_group_steps(self.config)
        deps = [CLUSTER_STEP, TASK_DEFINITION_STEP, TARGET_GROUP_STEP, *listeners,
                EXECUTION_ROLE_STEP, TASK_ROLE_STEP, *secret_steps_of(self.config),
                *service_subnet_steps(self.config), *groups,
                *(f"sg-rules.{g.removeprefix('sg.')}" for g in groups),
                *self._route_table_steps()]
        if uses_ec2(self.config):
            deps.append(CAPACITY_PROVIDER_STEP)
        return tuple(deps)

    # -- what the service should be ------------------------------------------
    def desired_network(self, ctx: StepContext) -> dict[str, Any]:
        return {"awsvpcConfiguration": {
            "subnets": service_subnet_ids(ctx, self.config),
            # Always explicit: the VPC default group must never end up on tasks.
            "securityGroups": service_group_ids(ctx, self.config),
            "assignPublicIp": "ENABLED" if self.config.ecs.service.assign_public_ip
            else "DISABLED"}}

    def desired_deployment(self) -> dict[str, Any]:
        service = self.config.ecs.service
        return {"minimumHealthyPercent": service.min_healthy_percent,
                "maximumPercent": service.max_percent,
                "deploymentCircuitBreaker": {"enable": service.circuit_breaker.enable,
                                             "rollback": service.circuit_breaker.rollback}}

    def desired_load_balancers(self, ctx: StepContext) -> list[dict[str, Any]]:
        container = self.config.ecs.task_definition.container
        return [{"targetGroupArn": str(ctx.output(TARGET_GROUP_STEP, "target_group_arn")),
                 "containerName": container.name, "containerPort": container.port}]

    def desired_strategy(self) -> list[dict[str, Any]]:
        return [{"capacityProvider": self.config.ecs.ec2.name, "weight": 1, "base": 0}]

    def desired_launch(self) -> dict[str, Any]:
        """Fargate: launch type + platform version; EC2: our capacity provider."""
        if uses_ec2(self.config):
            return {"capacityProviderStrategy": self.desired_strategy()}
        return {"launchType": "FARGATE",
                "platformVersion": self.config.ecs.fargate.platform_version}

    # -- lookup ----------------------------------------------------------------
    def _describe(self, ctx: StepContext) -> dict[str, Any] | None:
        """The service as ECS lists it (any status), or None."""
        try:
            reply = self.ecs(ctx).describe_services(cluster=self.cluster_name,
                                                    services=[self.service_name],
                                                    include=["TAGS"])
        except ClientError as exc:
            if error_code(exc) in ECS_NOT_FOUND:
                return None
            raise
        services = reply.get("services", [])
        return dict(services[0]) if services else None

    def _live(self, service: dict[str, Any] | None) -> Resource | None:
        if service is None or service.get("status") != "ACTIVE":
            return None  # DRAINING / INACTIVE: being deleted or gone
        require_owned(self, f"ECS service {self.service_name}",
                      tag_map(service.get("tags"), "key", "value"))
        return Resource(service["serviceArn"], service)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._live(self._describe(ctx))

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._live(self._describe(ctx))

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        existing = self._describe(ctx)
        if existing is not None and existing.get("status") == "DRAINING":
            # The name is taken until a previous delete finishes.
            self._wait_inactive(ctx)
        elif (live := self._live(existing)) is not None:
            return live  # made by a run that crashed before recording it
        params: dict[str, Any] = {
            "cluster": self.cluster_name,
            "serviceName": self.service_name,
            "taskDefinition": str(ctx.output(TASK_DEFINITION_STEP, "task_definition_arn")),
            "desiredCount": self.config.ecs.service.desired_count,
            "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": self.config.ecs.service.deployment_controller},
            "deploymentConfiguration": self.desired_deployment(),
            "healthCheckGracePeriodSeconds":
                self.config.ecs.service.health_check_grace_period_seconds,
            "networkConfiguration": self.desired_network(ctx),
            "loadBalancers": self.desired_load_balancers(ctx),
            "propagateTags": "SERVICE",
            "enableECSManagedTags": True,
            "tags": ecs_tags(self.tags()),
            "clientToken": token[:36],
            **self.desired_launch(),
        }
        service = SERVICE_PROPAGATION.call(f"create service {self.service_name}",
                                           self.ecs(ctx).create_service, **params)["service"]
        return Resource(service["serviceArn"], dict(service))

    def is_ready(self, resource: Resource) -> bool:
        data = resource.data
        return (len(data.get("deployments", [])) == 1
                and data.get("runningCount") == data.get("desiredCount"))

    def _wait_stable(self, ctx: StepContext) -> None:
        try:
            ctx.wait("ecs", "services_stable", budget_s=self.wait_budget_s,
                     delay_s=self.poll_delay_s, region=self.region,
                     cluster=self.cluster_name, services=[self.service_name])
        except WaiterError as exc:
            raise RuntimeError(f"{self.name}: service {self.service_name} did not become "
                               f"stable: {exc.kwargs.get('reason', exc)}") from None

    def _wait_inactive(self, ctx: StepContext) -> None:
        try:
            ctx.wait("ecs", "services_inactive", budget_s=self.wait_budget_s,
                     delay_s=self.poll_delay_s, region=self.region,
                     cluster=self.cluster_name, services=[self.service_name])
        except WaiterError:
            # The waiter fails on MISSING: a service already purged is gone too.
            current = self._describe(ctx)
            if current is not None and current.get("status") != "INACTIVE":
                raise

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        """Wait for a steady state, then make sure it is the deployment we asked for.

        With the circuit breaker on, a failing deployment rolls back and the
        service becomes stable again on the *old* revision: that is a failed
        apply, not a success.
        """
        if not self.is_ready(resource):
            self._wait_stable(ctx)
        found = self._live(self._describe(ctx))
        if found is None:
            raise RuntimeError(f"{self.name}: service {self.service_name} disappeared")
        wanted = ctx.output(TASK_DEFINITION_STEP, "task_definition_arn")
        primary: dict[str, Any] = next((d for d in found.data.get("deployments", [])
                                        if d.get("status") == "PRIMARY"), {})
        if primary.get("rolloutState") == "FAILED" or found.data.get("taskDefinition") != wanted:
            reason = primary.get("rolloutStateReason") or "the deployment was rolled back"
            raise RuntimeError(
                f"{self.name}: service runs {found.data.get('taskDefinition')}, not {wanted}: "
                f"{reason} (see the service events and the task logs)")
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        changes = tag_drift(self, tag_map(data.get("tags"), "key", "value"))
        changes += self._task_definition_change(ctx, data)

        scaling = self.config.ecs.autoscaling
        count = int(data.get("desiredCount", 0))
        if not scaling.min_capacity <= count <= scaling.max_capacity:
            # Auto scaling owns the count inside its range; outside it, clamp.
            wanted = min(max(count, scaling.min_capacity), scaling.max_capacity)
            changes.append(Change("desired_count", count, wanted))

        deployment = self.desired_deployment()
        if differences(data.get("deploymentConfiguration"), deployment):
            changes.append(Change("deployment_configuration",
                                  data.get("deploymentConfiguration"), deployment))
        grace = self.config.ecs.service.health_check_grace_period_seconds
        if data.get("healthCheckGracePeriodSeconds") != grace:
            changes.append(Change("health_check_grace_period_seconds",
                                  data.get("healthCheckGracePeriodSeconds"), grace))
        network = self.desired_network(ctx)
        current_vpc = dict((data.get("networkConfiguration") or {}).get("awsvpcConfiguration")
                           or {})
        current_network = {"awsvpcConfiguration": {
            "subnets": sorted(current_vpc.get("subnets", [])),
            "securityGroups": sorted(current_vpc.get("securityGroups", [])),
            "assignPublicIp": current_vpc.get("assignPublicIp", "DISABLED")}}
        if current_network != network:
            changes.append(Change("network_configuration", current_network, network))
        if data.get("propagateTags") != "SERVICE":
            changes.append(Change("propagate_tags", data.get("propagateTags"), "SERVICE"))
        if data.get("enableECSManagedTags") is not True:
            changes.append(Change("enable_ecs_managed_tags",
                                  data.get("enableECSManagedTags"), True))
        changes += self._launch_changes(data)
        # Fixed at create (AWS changes them only through a new service).
        balancers = sorted((lb.get("targetGroupArn"), lb.get("containerName"),
                            lb.get("containerPort")) for lb in data.get("loadBalancers", []))
        wanted_balancers = sorted((lb["targetGroupArn"], lb["containerName"], lb["containerPort"])
                                  for lb in self.desired_load_balancers(ctx))
        if balancers != wanted_balancers:
            changes.append(Change("load_balancers", balancers, wanted_balancers, replace=True))
        controller = (data.get("deploymentController") or {}).get("type", "ECS")
        if controller != self.config.ecs.service.deployment_controller:
            changes.append(Change("deployment_controller", controller,
                                  self.config.ecs.service.deployment_controller, replace=True))
        return changes

    def _task_definition_change(self, ctx: StepContext, data: dict[str, Any]) -> list[Change]:
        """The revision to run: the task definition step's, with the config's content.

        During ``plan`` the task definition step has not registered its new
        revision yet, so the running revision's *content* is compared with
        the config as well; that is what makes plan show the rollout.
        """
        current = data.get("taskDefinition")
        wanted = str(ctx.output(TASK_DEFINITION_STEP, "task_definition_arn"))
        if current != wanted:
            return [Change("task_definition", current, wanted)]
        reply = absent_on(("ClientException",), self.ecs(ctx).describe_task_definition,
                          taskDefinition=current)
        running = reply["taskDefinition"] if reply else {}
        found = task_definition_drift(ctx, self.config, self.region, running)
        if not found:
            return []
        paths = ", ".join(path for path, _, _ in found[:3]) + (", ..." if len(found) > 3 else "")
        family = self.config.ecs.task_definition.family
        return [Change("task_definition", current, f"a new revision of {family} ({paths})")]

    def _launch_changes(self, data: dict[str, Any]) -> list[Change]:
        strategy = data.get("capacityProviderStrategy") or []
        on_fargate = data.get("launchType") == "FARGATE" or any(
            s.get("capacityProvider") in FARGATE_PROVIDERS for s in strategy)
        current_mode = "fargate" if on_fargate else "ec2"
        wanted_mode = self.config.ecs.launch_type
        if current_mode != wanted_mode:
            # ECS cannot move a service between Fargate and EC2 capacity in place.
            return [Change("launch_type", current_mode, wanted_mode, replace=True)]
        if wanted_mode == "fargate":
            version = self.config.ecs.fargate.platform_version
            if data.get("platformVersion") != version:
                return [Change("platform_version", data.get("platformVersion"), version)]
            return []
        # Compared where ECS reports a strategy (a service created on a
        # capacity provider always carries one).
        if strategy and differences(strategy, self.desired_strategy()):
            return [Change("capacity_provider_strategy", strategy, self.desired_strategy())]
        return []

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """One ``UpdateService`` for every setting (one deployment), tags apart."""
        params: dict[str, Any] = {}
        for change in changes:
            if change.field == "task_definition":
                params["taskDefinition"] = str(ctx.output(TASK_DEFINITION_STEP,
                                                          "task_definition_arn"))
            elif change.field == "desired_count":
                params["desiredCount"] = change.desired
            elif change.field == "deployment_configuration":
                params["deploymentConfiguration"] = self.desired_deployment()
            elif change.field == "health_check_grace_period_seconds":
                params["healthCheckGracePeriodSeconds"] = change.desired
            elif change.field == "network_configuration":
                params["networkConfiguration"] = self.desired_network(ctx)
            elif change.field == "propagate_tags":
                params["propagateTags"] = "SERVICE"
            elif change.field == "enable_ecs_managed_tags":
                params["enableECSManagedTags"] = True
            elif change.field == "platform_version":
                params["platformVersion"] = change.desired
            elif change.field == "capacity_provider_strategy":
                # ECS requires a new deployment to move tasks between providers.
                params.update(capacityProviderStrategy=self.desired_strategy(),
                              forceNewDeployment=True)
        ecs = self.ecs(ctx)
        if params:
            ROLE_PROPAGATION.call(f"update service {self.service_name}", ecs.update_service,
                                  cluster=self.cluster_name, service=self.service_name, **params)
        for change in changes:
            if change.field == "tags":
                ecs.tag_resource(resourceArn=resource.id, tags=ecs_tags(change.desired))
        found = self._live(self._describe(ctx))
        if found is None:
            raise RuntimeError(f"{self.name}: service {self.service_name} disappeared")
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Scale to zero and drain, delete, then wait until ECS reports it INACTIVE.

        Scaling down first lets the ALB deregister and drain the tasks
        instead of cutting connections (``force`` would skip that).
        """
        ecs = self.ecs(ctx)
        if int(resource.data.get("desiredCount", 0)) > 0:
            try:
                ecs.update_service(cluster=self.cluster_name, service=self.service_name,
                                   desiredCount=0)
            except ClientError as exc:
                if error_code(exc) in ECS_NOT_FOUND:
                    return
                raise
        self._wait_stable(ctx)
        if not gone_on(ECS_NOT_FOUND, ecs.delete_service, cluster=self.cluster_name,
                       service=self.service_name):
            return
        self._wait_inactive(ctx)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "service_arn": resource.id,
                "service_name": self.service_name, "cluster_name": self.cluster_name}


# --------------------------------------------------------------------------- auto scaling

class EcsAutoscalingStep(Step):
    """Target tracking of the service's task count: CPU 70 %, memory 80 % (spec)."""

    family = AUTOSCALING_STEP
    service = "application-autoscaling"
    expected_seconds = 3.0

    @property
    def resource_id(self) -> str:
        return f"service/{self.config.ecs.cluster_name}/{self.config.ecs.service.name}"

    def resource_name(self) -> str:
        return self.resource_id

    def depends_on(self) -> tuple[str, ...]:
        return (CLUSTER_STEP, SERVICE_STEP)

    def scaling(self, ctx: StepContext) -> Any:
        return ctx.client("application-autoscaling", self.region)

    def desired_policies(self) -> dict[str, dict[str, Any]]:
        """Policy name -> target tracking configuration, named after the service."""
        cfg = self.config.ecs.autoscaling
        base = self.config.ecs.service.name
        metrics = {f"{base}-cpu-target": ("ECSServiceAverageCPUUtilization",
                                          cfg.cpu_target_percent),
                   f"{base}-memory-target": ("ECSServiceAverageMemoryUtilization",
                                             cfg.memory_target_percent)}
        return {name: {"TargetValue": float(target),
                       "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                       "ScaleOutCooldown": cfg.scale_out_cooldown_seconds,
                       # DisableScaleIn is left at its default (false): not every
                       # describe returns it, so setting it would read as drift.
                       "ScaleInCooldown": cfg.scale_in_cooldown_seconds}
                for name, (metric, target) in metrics.items()}

    def _get(self, ctx: StepContext) -> Resource | None:
        """The scalable target and the policies on it.

        Ownership: the target's identity is our service (which the service
        step checks for our tags), so a target on it is ours to manage.
        """
        client = self.scaling(ctx)
        targets = client.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[self.resource_id],
            ScalableDimension=SCALABLE_DIMENSION).get("ScalableTargets", [])
        if not targets:
            return None
        pages = client.get_paginator("describe_scaling_policies").paginate(
            ServiceNamespace="ecs", ResourceId=self.resource_id,
            ScalableDimension=SCALABLE_DIMENSION)
        policies = {p["PolicyName"]: p for page in pages for p in page.get("ScalingPolicies", [])
                    if p.get("ResourceId") == self.resource_id}
        return Resource(self.resource_id, {"target": targets[0], "policies": policies})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._get(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._get(ctx)

    def _register(self, ctx: StepContext) -> None:
        cfg = self.config.ecs.autoscaling
        SCALING_PROPAGATION.call(
            f"register {self.resource_id}", self.scaling(ctx).register_scalable_target,
            ServiceNamespace="ecs", ResourceId=self.resource_id,
            ScalableDimension=SCALABLE_DIMENSION, MinCapacity=cfg.min_capacity,
            MaxCapacity=cfg.max_capacity, Tags=self.tags())

    def _put_policy(self, ctx: StepContext, name: str, configuration: dict[str, Any]) -> None:
        SCALING_PROPAGATION.call(
            f"put scaling policy {name}", self.scaling(ctx).put_scaling_policy,
            PolicyName=name, ServiceNamespace="ecs", ResourceId=self.resource_id,
            ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=configuration)

    def create(self, ctx: StepContext, token: str) -> Resource:
        self._register(ctx)
        for name, configuration in self.desired_policies().items():
            self._put_policy(ctx, name, configuration)
        found = self._get(ctx)
        assert found is not None, "a scalable target just registered is describable"
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        cfg = self.config.ecs.autoscaling
        target = resource.data["target"]
        changes = []
        current = (target.get("MinCapacity"), target.get("MaxCapacity"))
        if current != (cfg.min_capacity, cfg.max_capacity):
            changes.append(Change("capacity", current, (cfg.min_capacity, cfg.max_capacity)))
        policies = resource.data["policies"]
        for name, configuration in self.desired_policies().items():
            policy_data = policies.get(name)
            if policy_data is None:
                changes.append(Change(f"policy {name}", None, configuration))
                continue
            if policy_data.get("PolicyType") != "TargetTrackingScaling":
                changes.append(Change(f"policy {name}.PolicyType", policy_data.get("PolicyType"),
                                      "TargetTrackingScaling"))
                continue
            found = differences(policy_data.get("TargetTrackingScalingPolicyConfiguration"),
                                configuration)
            changes += changes_from(found, prefix=f"policy {name}.")
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        if any(c.field == "capacity" for c in changes):
            self._register(ctx)
        touched = {c.field.removeprefix("policy ").split(".", 1)[0] for c in changes
                   if c.field.startswith("policy ")}
        for name, configuration in self.desired_policies().items():
            if name in touched:
                self._put_policy(ctx, name, configuration)
        found = self._get(ctx)
        assert found is not None
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Our policies first (their alarms go with them), then the target."""
        client = self.scaling(ctx)
        for name in sorted(set(self.desired_policies()) & set(resource.data["policies"])):
            gone_on(("ObjectNotFoundException",), client.delete_scaling_policy,
                    PolicyName=name, ServiceNamespace="ecs", ResourceId=self.resource_id,
                    ScalableDimension=SCALABLE_DIMENSION)
        gone_on(("ObjectNotFoundException",), client.deregister_scalable_target,
                ServiceNamespace="ecs", ResourceId=self.resource_id,
                ScalableDimension=SCALABLE_DIMENSION)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        policies = resource.data.get("policies", {})
        return {"id": resource.id, "resource_id": self.resource_id,
                "scalable_target_arn": resource.data["target"].get("ScalableTargetARN"),
                "policy_arns": {name: policies[name].get("PolicyARN")
                                for name in sorted(policies) if name in self.desired_policies()}}


def ecs_steps(config: PlatformConfig) -> list[Step]:
    """Cluster, task definition, service and task auto scaling; the EC2 capacity when chosen."""
    # Imported here: ecs_ec2 builds on the helpers of this module.
    from vivr_provision.steps.ecs_ec2 import ecs_ec2_steps

    steps: list[Step] = [EcsClusterStep(config), TaskDefinitionStep(config),
                         EcsServiceStep(config), EcsAutoscalingStep(config)]
    if uses_ec2(config):
        steps += ecs_ec2_steps(config)
    return steps
