"""What every ECS step shares: step names, retry policies, tags, the service's network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import ContainerEndpointConfig, EcsConfig
from vivr_provision.config.network import NetworkConfig
from vivr_provision.log import get_logger
from vivr_provision.retry import policy
from vivr_provision.steps.base import (
    Site,
    Step,
    StepContext,
)
from vivr_provision.steps.common import (
    aws_tags,
)
from vivr_provision.steps.iam import ROLE_PROPAGATION

log = get_logger("vivr.ecs")

CLUSTER_STEP = "ecs-cluster"
TASK_DEFINITION_STEP = "ecs-task-definition"
SERVICE_STEP = "ecs-service"
AUTOSCALING_STEP = "ecs-autoscaling"
CAPACITY_PROVIDER_STEP = "ecs-capacity-provider"
EXECUTION_ROLE_STEP = "iam.task_execution_role"
TASK_ROLE_STEP = "iam.task_role"
TARGET_GROUP_STEP = "alb-target-group"

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
#: The members of a capacity provider strategy item we set (ECS API reference,
#: CapacityProviderStrategyItem).
STRATEGY_KEYS = ("capacityProvider", "weight", "base")


def ecs_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags in the lowercase key/value shape ECS uses."""
    return aws_tags(tags, "key", "value")


def strategy_of(items: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """A capacity provider strategy as compared: each item on the members we set.

    A strategy is a short list compared whole (a ``document`` row would name
    list paths such as ``strategy.[0].weight``); projecting it keeps the
    comparison that of :func:`~vivr_provision.steps.diffing.differences`.
    """
    return [{key: item.get(key) for key in STRATEGY_KEYS} for item in items or []]


def clamped(value: int, low: int, high: int) -> int:
    """``value`` moved into ``[low, high]``: auto scaling owns a count inside its range."""
    return min(max(value, low), high)


def service_subnet_steps(config: PlatformConfig) -> list[str]:
    return [f"subnet.{name}" for name in config.ecs.service.subnets]


def service_group_steps(config: PlatformConfig) -> list[str]:
    return [f"sg.{name}" for name in config.ecs.service.security_groups]


def service_subnet_ids(ctx: StepContext, config: PlatformConfig) -> list[str]:
    return sorted(str(ctx.output(step, "subnet_id")) for step in service_subnet_steps(config))


def service_group_ids(ctx: StepContext, config: PlatformConfig) -> list[str]:
    return sorted(str(ctx.output(step, "group_id")) for step in service_group_steps(config))


def uses_ec2(config: PlatformConfig) -> bool:
    return config.ecs.launch_type == "ec2"


@dataclasses.dataclass(frozen=True)
class EcsTier:
    """One site's application tier: the ECS settings its steps apply, where they run,
    and which steps' outputs they read.

    The primary tier is ``config.ecs`` on the primary site (:func:`primary_tier`);
    the standby tier (:mod:`vivr_provision.steps.ecs.standby`) is the same
    container on the DR site with ``dr.standby.app``'s names, count, subnets,
    groups and endpoints.  Sibling steps are named through ``site``
    (``dr.ecs-cluster``, ``dr.subnet.*``, ``dr.alb-target-group``); the IAM
    roles and the secrets are global steps either way.
    """

    #: The effective ECS settings of this tier (names, task, service).
    ecs: EcsConfig
    site: Site
    #: The VPC its subnets belong to (for the route tables the service needs).
    network: NetworkConfig
    #: Ports of the listeners of the balancer whose target group it joins.
    listener_ports: tuple[int, ...]
    #: The container's endpoint variables (a subset of the config's: a
    #: standby source whose step is not in the graph is left out).
    endpoints: Mapping[str, ContainerEndpointConfig]
    #: Secret keys whose tasks reference the us-west-2 replica (``dr_arn``).
    replica_secrets: frozenset[str] = frozenset()
    #: Whether Application Auto Scaling owns the task count.
    autoscaled: bool = True
    #: Where the endpoints are configured (named in errors).
    endpoints_where: str = "ecs.task_definition.container.endpoints"

    def step(self, name: str) -> str:
        return self.site.step(name)

    def secret_arn_output(self, key: str) -> str:
        """Which output of ``secret.<key>`` holds the ARN the tasks reference."""
        return "dr_arn" if key in self.replica_secrets else "arn"


def primary_tier(config: PlatformConfig) -> EcsTier:
    """The primary region's tier: ``config.ecs`` behind ``config.alb``."""
    return EcsTier(ecs=config.ecs, site=Site(), network=config.network,
                   listener_ports=tuple(listener.port for listener in config.alb.listeners),
                   endpoints=config.ecs.task_definition.container.endpoints)


def tier_subnet_steps(tier: EcsTier) -> list[str]:
    return [tier.step(f"subnet.{name}") for name in tier.ecs.service.subnets]


def tier_group_steps(tier: EcsTier) -> list[str]:
    return [tier.step(f"sg.{name}") for name in tier.ecs.service.security_groups]


class EcsStep(Step):
    """Shared plumbing of the ECS steps (client, cluster name, the tier they build)."""

    service = "ecs"

    def __init__(self, config: PlatformConfig, key: str | None = None, *,
                 tier: EcsTier | None = None) -> None:
        self.tier = tier or primary_tier(config)
        super().__init__(config, key, site=self.tier.site)

    def ecs(self, ctx: StepContext) -> Any:
        return ctx.client("ecs", self.region)

    @property
    def cluster_name(self) -> str:
        return self.tier.ecs.cluster_name


# --------------------------------------------------------------------------- cluster
