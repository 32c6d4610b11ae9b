"""The ECS service: rolling deployments behind the target group, waited until stable.
"""

from __future__ import annotations

from typing import Any

import structlog
from botocore.exceptions import ClientError, WaiterError

from vivr_provision.aws import error_code
from vivr_provision.steps.base import (
    Change,
    Resource,
    StepContext,
)
from vivr_provision.steps.common import (
    absent_on,
    gone_on,
    require_owned,
    tag_drift,
    tag_map,
    write_tags,
)
from vivr_provision.steps.diffing import (
    differences,
)
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
    ecs_tags,
    service_group_ids,
    service_group_steps,
    service_subnet_ids,
    service_subnet_steps,
    uses_ec2,
)
from vivr_provision.steps.ecs.task_definition import (
    secret_steps_of,
    task_definition_drift,
)
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import ECS_SERVICE

log = structlog.get_logger("vivr.ecs")

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
            if error_code(exc) in ECS_SERVICE.not_found:
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
                write_tags(ecs, ECS_SERVICE, resource.id, change.desired)
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


# --------------------------------------------------------------------------- auto scaling
