"""The ECS service: rolling deployments behind the target group, waited until stable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config.app import EcsConfig
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
from vivr_provision.steps.durations import Operation
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
    strategy_of,
    tier_group_steps,
    tier_subnet_steps,
)
from vivr_provision.steps.ecs.task_definition import (
    latest_revision,
    revision_drift,
    secret_steps_of,
)
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
    timing_kind = "ecs_service"
    #: Rolling deployments with health checks and draining take a while on AWS.
    wait_budget_s = 1800.0
    poll_delay_s = 15.0

    @property
    def service_name(self) -> str:
        return self.tier.ecs.service.name

    @property
    def on_ec2(self) -> bool:
        return self.tier.ecs.launch_type == "ec2"

    def resource_name(self) -> str:
        return self.service_name

    def _route_table_steps(self) -> list[str]:
        """Route tables of the service subnets: tasks pull images through the NAT."""
        wanted = set(self.tier.ecs.service.subnets)
        return [self.tier.step(f"rtb.{t.name}") for t in self.tier.network.route_tables
                if wanted & set(t.subnets)]

    def depends_on(self) -> tuple[str, ...]:
        """What the service needs to start tasks and register them, and what destroy
        must remove after it: the balancer's listeners, the groups' rules, the routes."""
        tier = self.tier
        listeners = [tier.step(f"alb-listener.{port}") for port in tier.listener_ports]
        groups = self.ecs_config.service.security_groups
        deps = [tier.step(CLUSTER_STEP), tier.step(TASK_DEFINITION_STEP),
                tier.step(TARGET_GROUP_STEP), *listeners,
                EXECUTION_ROLE_STEP, TASK_ROLE_STEP, *secret_steps_of(tier),
                *tier_subnet_steps(tier), *tier_group_steps(tier),
                *(tier.step(f"sg-rules.{g}") for g in groups),
                *self._route_table_steps()]
        if self.on_ec2:
            deps.append(tier.step(CAPACITY_PROVIDER_STEP))
        return tuple(deps)

    @property
    def ecs_config(self) -> EcsConfig:
        return self.tier.ecs

    def _output(self, ctx: StepContext, step: str, key: str) -> str:
        """An output of a sibling step of this tier's site."""
        return str(ctx.output(self.tier.step(step), key))

    # -- what the service should be ------------------------------------------
    def desired_network(self, ctx: StepContext) -> dict[str, Any]:
        return {"awsvpcConfiguration": {
            "subnets": sorted(str(ctx.output(s, "subnet_id"))
                              for s in tier_subnet_steps(self.tier)),
            # Always explicit: the VPC default group must never end up on tasks.
            "securityGroups": sorted(str(ctx.output(s, "group_id"))
                                     for s in tier_group_steps(self.tier)),
            "assignPublicIp": "ENABLED" if self.ecs_config.service.assign_public_ip
            else "DISABLED"}}

    def desired_deployment(self) -> dict[str, Any]:
        service = self.ecs_config.service
        return {"minimumHealthyPercent": service.min_healthy_percent,
                "maximumPercent": service.max_percent,
                "deploymentCircuitBreaker": {"enable": service.circuit_breaker.enable,
                                             "rollback": service.circuit_breaker.rollback}}

    def desired_load_balancers(self, ctx: StepContext) -> list[dict[str, Any]]:
        container = self.ecs_config.task_definition.container
        return [{"targetGroupArn": self._output(ctx, TARGET_GROUP_STEP, "target_group_arn"),
                 "containerName": container.name, "containerPort": container.port}]

    def desired_strategy(self) -> list[dict[str, Any]]:
        return [{"capacityProvider": self.ecs_config.ec2.name, "weight": 1, "base": 0}]

    def desired_launch(self) -> dict[str, Any]:
        """Fargate: launch type + platform version; EC2: our capacity provider."""
        if self.on_ec2:
            return {"capacityProviderStrategy": self.desired_strategy()}
        return {"launchType": "FARGATE",
                "platformVersion": self.ecs_config.fargate.platform_version}

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
            "taskDefinition": self._output(ctx, TASK_DEFINITION_STEP, "task_definition_arn"),
            "desiredCount": self.ecs_config.service.desired_count,
            "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": self.ecs_config.service.deployment_controller},
            "deploymentConfiguration": self.desired_deployment(),
            "healthCheckGracePeriodSeconds":
                self.ecs_config.service.health_check_grace_period_seconds,
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

    def _wait_stable(self, ctx: StepContext, operation: Operation = "create") -> None:
        try:
            ctx.wait("ecs", "services_stable", budget_s=self.wait_budget_s,
                     delay_s=self.poll_delay_s, expected_s=self.aws_seconds(operation),
                     region=self.region,
                     cluster=self.cluster_name, services=[self.service_name])
        except aws_errors.WaiterError as exc:
            raise RuntimeError(f"{self.name}: service {self.service_name} did not become "
                               f"stable: {exc.kwargs.get('reason', exc)}") from None

    def _wait_inactive(self, ctx: StepContext) -> None:
        try:
            ctx.wait("ecs", "services_inactive", budget_s=self.wait_budget_s,
                     delay_s=self.poll_delay_s, expected_s=self.aws_seconds("delete"),
                     region=self.region,
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
        apply, not a success.  A description that is steady already (one
        deployment, every task running) is checked as it is.
        """
        found: Resource | None = resource
        if not self.is_ready(resource):  # steady already (a no-op's fresh read): no re-read
            self._wait_stable(ctx)
            found = self._live(self._describe(ctx))
        if found is None:
            raise RuntimeError(f"{self.name}: service {self.service_name} disappeared")
        wanted = self._output(ctx, TASK_DEFINITION_STEP, "task_definition_arn")
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
        count = int(data.get("desiredCount", 0))
        running = data.get("taskDefinition")
        rows = [
            tags_row(lambda d: tag_map(d.get("tags"), "key", "value")),
            Field("task_definition", lambda d: d.get("taskDefinition"),
                  lambda s, ctx: s.wanted_revision(ctx, running), apply="update_service"),
            Field("desired_count", lambda d: int(d.get("desiredCount", 0)),
                  lambda s, ctx: s.wanted_count(count),
                  apply="update_service"),
            Field("deployment_configuration", lambda d: d.get("deploymentConfiguration"),
                  lambda s, ctx: s.desired_deployment(), compare="document",
                  apply="update_service"),
            Field("health_check_grace_period_seconds",
                  lambda d: d.get("healthCheckGracePeriodSeconds"),
                  lambda s, ctx: s.ecs_config.service.health_check_grace_period_seconds,
                  apply="update_service"),
            Field("network_configuration", _network, lambda s, ctx: s.desired_network(ctx),
                  compare="document", apply="update_service"),
            Field("propagate_tags", lambda d: d.get("propagateTags"), lambda s, ctx: "SERVICE",
                  apply="update_service"),
            Field("enable_ecs_managed_tags", lambda d: d.get("enableECSManagedTags"),
                  lambda s, ctx: True, apply="update_service"),
            # ECS cannot move a service between Fargate and EC2 capacity in place.
            Field("launch_type", _launch_mode, lambda s, ctx: s.ecs_config.launch_type,
                  effect="replace"),
        ]
        if self.on_ec2:
            # Compared where ECS reports a strategy (a service created on a
            # capacity provider always carries one).
            rows.append(Field("capacity_provider_strategy", _ec2_strategy,
                              lambda s, ctx: s.desired_strategy(), apply="update_service"))
        else:
            rows.append(Field("platform_version", _fargate_platform,
                              lambda s, ctx: s.ecs_config.fargate.platform_version,
                              apply="update_service"))
        # Fixed at create (AWS changes them only through a new service).
        return (
            *rows,
            Field("load_balancers", _balancers,
                  lambda s, ctx: _balancers({"loadBalancers": s.desired_load_balancers(ctx)}),
                  effect="replace"),
            Field("deployment_controller",
                  lambda d: (d.get("deploymentController") or {}).get("type", "ECS"),
                  lambda s, ctx: s.ecs_config.service.deployment_controller, effect="replace"),
        )

    def wanted_count(self, running: int) -> int:
        """The task count to converge to: the config's, unless auto scaling owns it
        (then only a count outside ``[min_capacity, max_capacity]`` is clamped)."""
        if not self.tier.autoscaled:
            return self.ecs_config.service.desired_count
        scaling = self.ecs_config.autoscaling
        return clamped(running, scaling.min_capacity, scaling.max_capacity)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(resource.data))

    def unapplied(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Say why a changed ``desired_count`` is not a change: auto scaling owns the count.

        Setting it would fight Application Auto Scaling (the next scaling
        activity undoes it), so the config's count is used only at create
        and a count outside ``[min_capacity, max_capacity]`` is clamped.
        """
        if not self.tier.autoscaled:
            return []  # the config's count is applied (the desired_count row)
        wanted = self.ecs_config.service.desired_count
        running = int(resource.data.get("desiredCount", 0))
        scaling = self.ecs_config.autoscaling
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
        wanted = self._output(ctx, TASK_DEFINITION_STEP, "task_definition_arn")
        if running != wanted:
            return wanted
        family = self.ecs_config.task_definition.family
        reply = latest_revision(ctx, self.region, family, self.name)
        if reply is None or reply["taskDefinition"].get("taskDefinitionArn") != running:
            reply = absent_on(TASK_DEFINITION.not_found, self.ecs(ctx).describe_task_definition,
                              taskDefinition=running)
        found = revision_drift(ctx, self.config, reply["taskDefinition"] if reply else {},
                               self.tier)
        if not found:
            return wanted
        paths = ", ".join(c.field for c in found[:3]) + (", ..." if len(found) > 3 else "")
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
        "taskDefinition": s._output(ctx, TASK_DEFINITION_STEP, "task_definition_arn")},
    "desired_count": lambda s, ctx, r: {
        "desiredCount": s.wanted_count(int(r.data.get("desiredCount", 0)))},
    "deployment_configuration": lambda s, ctx, r: {
        "deploymentConfiguration": s.desired_deployment()},
    "health_check_grace_period_seconds": lambda s, ctx, r: {
        "healthCheckGracePeriodSeconds":
            s.ecs_config.service.health_check_grace_period_seconds},
    "network_configuration": lambda s, ctx, r: {"networkConfiguration": s.desired_network(ctx)},
    "propagate_tags": lambda s, ctx, r: {"propagateTags": "SERVICE"},
    "enable_ecs_managed_tags": lambda s, ctx, r: {"enableECSManagedTags": True},
    "platform_version": lambda s, ctx, r: {
        "platformVersion": s.ecs_config.fargate.platform_version},
    # ECS requires a new deployment to move tasks between providers.
    "capacity_provider_strategy": lambda s, ctx, r: {
        "capacityProviderStrategy": s.desired_strategy(), "forceNewDeployment": True},
}
