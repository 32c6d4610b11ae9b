"""The standby application tier in the DR region: ``dr.ecs-cluster``,
``dr.ecs-task-definition``, ``dr.ecs-service`` and its log group ``dr.logs.<key>``.

The primary's ECS step classes on the DR :class:`~vivr_provision.steps.base.Site`,
given an :class:`~vivr_provision.steps.ecs.common.EcsTier` built from
``dr.standby.app``: the same container (image, port, environment, secrets,
CPU and memory), with

* the standby's own cluster, family and service names and its task count
  (``desired_count``: 0 is a pilot light, 1 or more a warm standby; no auto
  scaling, so apply keeps the configured count);
* the DR network's private subnets (routed through the DR NAT gateway) and
  groups, registered with ``dr.alb-target-group``;
* endpoints read from the DR site: the cross-region replica
  (``dr.rds.<replica>``, read-only until ``dr promote`` promotes it) and the
  standby Redis ``dr.cache``, only when that step is in the graph, so the
  tier works before and after the standby Redis is built;
* container secrets referencing each secret's replica in the DR region
  (``dr_arn``, when ``dr.standby.replicate_secrets``), so a task starts while
  the primary region's Secrets Manager is unreachable;
* a log group in the DR region encrypted with the DR key (a log group's key
  must be in the group's own region).

Built by :func:`standby_ecs_steps`, which needs the names of the rest of the
graph (see :data:`vivr_provision.steps.GRAPH_FACTORIES`).
"""

from __future__ import annotations

from collections.abc import Collection

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import ContainerEndpointConfig
from vivr_provision.config.dr_secrets import replicated_secret_keys
from vivr_provision.config.standby import standby_ecs_built
from vivr_provision.steps.base import Step
from vivr_provision.steps.dr import dr_site
from vivr_provision.steps.ecs.cluster import EcsClusterStep
from vivr_provision.steps.ecs.common import EcsTier
from vivr_provision.steps.ecs.service import EcsServiceStep
from vivr_provision.steps.ecs.task_definition import TaskDefinitionStep, endpoint_step
from vivr_provision.steps.logs import LogGroupStep

#: The DR key's step: the standby log group is encrypted with it.
DR_KEY_STEP = "dr.kms"


def standby_endpoints(config: PlatformConfig,
                      graph: Collection[str]) -> dict[str, ContainerEndpointConfig]:
    """``dr.standby.app.endpoints`` without those whose step is not in the graph.

    Only the standby Redis may be absent (``dr.standby.redis`` off, or its
    steps not built): its variables are then left out, and a later apply
    with ``dr.cache`` in the graph registers a revision with them.  Any
    other missing step is a config error the engine reports by name.
    """
    app = config.dr.standby.app
    assert app is not None, "standby_ecs_built checked"
    site = dr_site(config)
    return {env: entry for env, entry in app.endpoints.items()
            if entry.source != "redis"
            or (config.dr.standby.redis and endpoint_step(entry, site) in graph)}


def standby_tier(config: PlatformConfig, graph: Collection[str]) -> EcsTier:
    """The primary's ECS settings with ``dr.standby.app``'s names, count, network and
    endpoints, on the DR site (Fargate only: config validation says so)."""
    app = config.dr.standby.app
    alb = config.dr.alb
    network = config.dr.network
    assert app is not None and alb is not None and network is not None, "validated"
    ecs = config.ecs
    container = ecs.task_definition.container.model_copy(update={
        "environment": {**ecs.task_definition.container.environment, **app.environment},
        "endpoints": standby_endpoints(config, graph)})
    task = ecs.task_definition.model_copy(update={"family": app.family,
                                                  "container": container})
    service = ecs.service.model_copy(update={
        "name": app.service_name, "desired_count": app.desired_count,
        "subnets": list(app.subnets), "security_groups": list(app.security_groups),
        "assign_public_ip": app.assign_public_ip, "target_group": alb.target_group.name})
    settings = ecs.model_copy(update={"cluster_name": app.cluster_name, "launch_type": "fargate",
                                      "task_definition": task, "service": service})
    return EcsTier(ecs=settings, site=dr_site(config), network=network,
                   listener_ports=tuple(listener.port for listener in alb.listeners),
                   endpoints=container.endpoints,
                   replica_secrets=replicated_secret_keys(config), autoscaled=False,
                   endpoints_where="dr.standby.app.endpoints")


def standby_log_group_step(config: PlatformConfig) -> LogGroupStep:
    """``dr.logs.<key>``: the standby tasks' awslogs group, in the DR region, with the
    DR key when there is one (the key's policy admits CloudWatch Logs for it)."""
    app = config.dr.standby.app
    assert app is not None, "standby_ecs_built checked"
    key = config.ecs.task_definition.container.log_group
    key_step = DR_KEY_STEP if config.kms.multi_region else None
    return LogGroupStep(config, key, app.log_group, key_step=key_step, site=dr_site(config))


def standby_ecs_steps(config: PlatformConfig, graph: Collection[str]) -> list[Step]:
    """The standby tier's steps, when ``dr.standby.ecs`` builds it (else none)."""
    if not standby_ecs_built(config):
        return []
    tier = standby_tier(config, graph)
    return [standby_log_group_step(config), EcsClusterStep(config, tier=tier),
            TaskDefinitionStep(config, tier=tier), EcsServiceStep(config, tier=tier)]


__all__ = ["standby_ecs_steps", "standby_endpoints", "standby_log_group_step",
           "standby_tier"]
