"""The ECS service: rolling deployments behind the target group, waited until stable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.log import get_logger
from vivr_provision.steps.base import Change, NamedStep, Resource, StepContext
from vivr_provision.steps.common import (
    KindTaggedStep,
    absent_on,
    gone_on,
    require_owned,
    tag_map,
)
from vivr_provision.steps.drift import UNREPORTED, Field, converge, drift, tags_row
from vivr_provision.steps.ecs.common import (
    CAPACITY_PROVIDER_STEP,
    CLUSTER_STEP,
    EXECUTION_ROLE_STEP,
    FARGATE_PROVIDERS,
    SERVICE_PROPAGATION,
    SERVICE_STEP,
    TARGET_GROUP_STEP,
    TASK_DEFINITION_STEP,
    TASK_ROLE_STEP,
    EcsStep,
    clamped,
    ecs_tags,
    service_group_ids,
    service_group_steps,
    service_subnet_ids,
    service_subnet_steps,
    strategy_of,
    uses_ec2,
)
from vivr_provision.steps.ecs.task_definition import revision_drift, secret_steps_of
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import ECS_SERVICE, TASK_DEFINITION

log = get_logger("vivr.ecs")


class EcsServiceStep(EcsStep, NamedStep, KindTaggedStep):
    """The service behind the ALB target group, in the private app subnets.

    Read by its own lookup, not its kind's: ``DescribeServices`` needs the
    cluster as well as the name, and a service being deleted (``DRAINING``)
    still holds the name.
    """

    family = SERVICE_STEP
    kind = ECS_SERVICE
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
        reply = absent_on(ECS_SERVICE.not_found, self.ecs(ctx).describe_services,
                          cluster=self.cluster_name, services=[self.service_name],
                          include=["TAGS"])
        services = (reply or {}).get("services", [])  # an unknown name is in "failures"
        return dict(services[0]) if services else None

    def _live(self, service: dict[str, Any] | None) -> Resource | None:
        if service is None or service.get("status") != "ACTIVE":
            return None  # DRAINING / INACTIVE: being deleted or gone
        require_owned(self, f"ECS service {self.service_name}",
                      tag_map(service.get("tags"), "key", "value"))
        return Resource(service["serviceArn"], service)

    def lookup(self, ctx: StepContext) -> Resource | None:
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
        except aws_errors.WaiterError as exc:
            raise RuntimeError(f"{self.name}: service {self.service_name} did not become "
                               f"stable: {exc.kwargs.get('reason', exc)}") from None

    def _wait_inactive(self, ctx: StepContext) -> None:
        try:
            ctx.wait("ecs", "services_inactive", budget_s=self.wait_budget_s,
                     delay_s=self.poll_delay_s, region=self.region,
                     cluster=self.cluster_name, services=[self.service_name])
        except aws_errors.WaiterError:
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

    # -- drift -----------------------------------------------------------------
    def fields(self, data: Mapping[str, Any]) -> tuple[Field, ...]:
        """The service's settings as a table.

        Two rows compare against the description itself: the revision (its
        content is compared when it is the one the config names, see
        :meth:`wanted_revision`) and the task count (auto scaling owns it
        inside ``[min_capacity, max_capacity]``; only a count outside is
        clamped).  The launch rows depend on ``ecs.launch_type``.
        """
        scaling = self.config.ecs.autoscaling
        count = int(data.get("desiredCount", 0))
        running = data.get("taskDefinition")
        rows = [
            tags_row(lambda d: tag_map(d.get("tags"), "key", "value")),
            Field("task_definition", lambda d: d.get("taskDefinition"),
                  lambda s, ctx: s.wanted_revision(ctx, running), apply="update_service"),
            Field("desired_count", lambda d: int(d.get("desiredCount", 0)),
                  lambda s, ctx: clamped(count, scaling.min_capacity, scaling.max_capacity),
                  apply="update_service"),
            Field("deployment_configuration", lambda d: d.get("deploymentConfiguration"),
                  lambda s, ctx: s.desired_deployment(), compare="document",
                  apply="update_service"),
            Field("health_check_grace_period_seconds",
                  lambda d: d.get("healthCheckGracePeriodSeconds"),
                  lambda s, ctx: s.config.ecs.service.health_check_grace_period_seconds,
                  apply="update_service"),
            Field("network_configuration", _network, lambda s, ctx: s.desired_network(ctx),
                  compare="document", apply="update_service"),
            Field("propagate_tags", lambda d: d.get("propagateTags"), lambda s, ctx: "SERVICE",
                  apply="update_service"),
            Field("enable_ecs_managed_tags", lambda d: d.get("enableECSManagedTags"),
                  lambda s, ctx: True, apply="update_service"),
            # ECS cannot move a service between Fargate and EC2 capacity in place.
            Field("launch_type", _launch_mode, lambda s, ctx: s.config.ecs.launch_type,
                  effect="replace"),
        ]
        if uses_ec2(self.config):
            # Compared where ECS reports a strategy (a service created on a
            # capacity provider always carries one).
            rows.append(Field("capacity_provider_strategy", _ec2_strategy,
                              lambda s, ctx: s.desired_strategy(), apply="update_service"))
        else:
            rows.append(Field("platform_version", _fargate_platform,
                              lambda s, ctx: s.config.ecs.fargate.platform_version,
                              apply="update_service"))
        # Fixed at create (AWS changes them only through a new service).
        return (
            *rows,
            Field("load_balancers", _balancers,
                  lambda s, ctx: _balancers({"loadBalancers": s.desired_load_balancers(ctx)}),
                  effect="replace"),
            Field("deployment_controller",
                  lambda d: (d.get("deploymentController") or {}).get("type", "ECS"),
                  lambda s, ctx: s.config.ecs.service.deployment_controller, effect="replace"),
        )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(resource.data))

    def unapplied(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Say why a changed ``desired_count`` is not a change: auto scaling owns the count.

        Setting it would fight Application Auto Scaling (the next scaling
        activity undoes it), so the config's count is used only at create
        and a count outside ``[min_capacity, max_capacity]`` is clamped.
        """
        wanted = self.config.ecs.service.desired_count
        running = int(resource.data.get("desiredCount", 0))
        scaling = self.config.ecs.autoscaling
        if wanted == running:
            return []
        return [f"ecs.service.desired_count {wanted} is not applied: auto scaling owns the "
                f"task count between min_capacity {scaling.min_capacity} and max_capacity "
                f"{scaling.max_capacity} (now {running}); change ecs.autoscaling to move it"]

    def wanted_revision(self, ctx: StepContext, running: Any) -> str:
        """The revision to run: the task definition step's, with the config's content.

        During ``plan`` the task definition step has not registered its new
        revision yet, so the running revision's *content* is compared with
        the config as well; that is what makes plan show the rollout.
        """
        wanted = str(ctx.output(TASK_DEFINITION_STEP, "task_definition_arn"))
        if running != wanted:
            return wanted
        reply = absent_on(TASK_DEFINITION.not_found, self.ecs(ctx).describe_task_definition,
                          taskDefinition=running)
        found = revision_drift(ctx, self.config, reply["taskDefinition"] if reply else {})
        if not found:
            return wanted
        paths = ", ".join(c.field for c in found[:3]) + (", ..." if len(found) > 3 else "")
        family = self.config.ecs.task_definition.family
        return f"a new revision of {family} ({paths})"

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """One ``UpdateService`` for every setting (one deployment), tags apart."""
        converge(self, ctx, resource, changes, self.fields(resource.data))
        found = self._live(self._describe(ctx))
        if found is None:
            raise RuntimeError(f"{self.name}: service {self.service_name} disappeared")
        return found

    def update_service(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        """Every drifted setting in one call: each ``UpdateService`` starts a deployment."""
        params: dict[str, Any] = {}
        for row in dict.fromkeys(c.field.split(".", 1)[0] for c in changes):
            params.update(UPDATE_REQUEST[row](self, ctx, resource))
        ROLE_PROPAGATION.call(f"update service {self.service_name}", self.ecs(ctx).update_service,
                              cluster=self.cluster_name, service=self.service_name, **params)

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
            except aws_errors.ClientError as exc:
                if error_code(exc) in ECS_SERVICE.not_found:
                    return
                raise
        self._wait_stable(ctx)
        if not gone_on(ECS_SERVICE.not_found, ecs.delete_service, cluster=self.cluster_name,
                       service=self.service_name):
            return
        self._wait_inactive(ctx)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "service_arn": resource.id,
                "service_name": self.service_name, "cluster_name": self.cluster_name}


def _network(data: Mapping[str, Any]) -> dict[str, Any]:
    """The network configuration as compared: lists sorted, ECS's default spelled out."""
    vpc = dict((data.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {})
    return {"awsvpcConfiguration": {"subnets": sorted(vpc.get("subnets", [])),
                                    "securityGroups": sorted(vpc.get("securityGroups", [])),
                                    "assignPublicIp": vpc.get("assignPublicIp", "DISABLED")}}


def _launch_mode(data: Mapping[str, Any]) -> str:
    """``fargate`` or ``ec2``, from the launch type or the capacity providers used."""
    on_fargate = data.get("launchType") == "FARGATE" or any(
        s.get("capacityProvider") in FARGATE_PROVIDERS
        for s in data.get("capacityProviderStrategy") or [])
    return "fargate" if on_fargate else "ec2"


def _fargate_platform(data: Mapping[str, Any]) -> Any:
    """The platform version of a service on Fargate (the launch type row reports a move)."""
    return data.get("platformVersion") if _launch_mode(data) == "fargate" else UNREPORTED


def _ec2_strategy(data: Mapping[str, Any]) -> Any:
    """The strategy of a service on EC2 capacity, where ECS reports one."""
    strategy = data.get("capacityProviderStrategy") or []
    return strategy_of(strategy) if strategy and _launch_mode(data) == "ec2" else UNREPORTED


def _balancers(data: Mapping[str, Any]) -> list[tuple[Any, Any, Any]]:
    return sorted((lb.get("targetGroupArn"), lb.get("containerName"), lb.get("containerPort"))
                  for lb in data.get("loadBalancers", []))


Request = Callable[[EcsServiceStep, StepContext, Resource], dict[str, Any]]
#: The ``UpdateService`` parameters each converged row sets (botocore model, UpdateService).
UPDATE_REQUEST: dict[str, Request] = {
    "task_definition": lambda s, ctx, r: {
        "taskDefinition": str(ctx.output(TASK_DEFINITION_STEP, "task_definition_arn"))},
    "desired_count": lambda s, ctx, r: {"desiredCount": clamped(
        int(r.data.get("desiredCount", 0)), s.config.ecs.autoscaling.min_capacity,
        s.config.ecs.autoscaling.max_capacity)},
    "deployment_configuration": lambda s, ctx, r: {
        "deploymentConfiguration": s.desired_deployment()},
    "health_check_grace_period_seconds": lambda s, ctx, r: {
        "healthCheckGracePeriodSeconds":
            s.config.ecs.service.health_check_grace_period_seconds},
    "network_configuration": lambda s, ctx, r: {"networkConfiguration": s.desired_network(ctx)},
    "propagate_tags": lambda s, ctx, r: {"propagateTags": "SERVICE"},
    "enable_ecs_managed_tags": lambda s, ctx, r: {"enableECSManagedTags": True},
    "platform_version": lambda s, ctx, r: {
        "platformVersion": s.config.ecs.fargate.platform_version},
    # ECS requires a new deployment to move tasks between providers.
    "capacity_provider_strategy": lambda s, ctx, r: {
        "capacityProviderStrategy": s.desired_strategy(), "forceNewDeployment": True},
}
