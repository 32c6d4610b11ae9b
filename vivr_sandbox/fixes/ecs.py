"""ECS fixes: service settings AWS reports, tasks that reach RUNNING, a family's latest
ACTIVE revision.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap

#: What AWS returns for a REPLICA service created without deploymentConfiguration.
DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def _deployment_configuration(sent: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULT_DEPLOYMENT_CONFIGURATION, **dict(sent or {})}


def _settle_deployments(service: Any) -> None:
    """All desired tasks are running: the PRIMARY deployment is COMPLETED."""
    service.running_count = service.desired_count
    service.pending_count = 0
    for deployment in service.deployments:
        if deployment.get("status") == "PRIMARY":
            deployment.update(desiredCount=service.desired_count,
                              runningCount=service.desired_count, pendingCount=0,
                              rolloutState="COMPLETED",
                              rolloutStateReason=f"ECS deployment {deployment['id']} completed.")


def _fix_ecs_service_settings() -> None:
    """ECS: create_service keeps deploymentConfiguration, healthCheckGracePeriodSeconds,
    enableECSManagedTags and enableExecuteCommand.

    moto 5.2.5's create_service handler never reads these parameters, so
    describe_services omits them (update_service does store them).  AWS
    returns them, with defaults (maximumPercent 200, minimumHealthyPercent 100,
    circuit breaker off, managed tags and execute-command off) for what was
    not sent; without them a read-compare-update step sees a permanent
    difference.  The fix stores them on the service at create and fills the
    same defaults on update.
    """
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    @wrap(EC2ContainerServiceResponse, "create_service")
    def create_service(original: Any, self: Any) -> Any:
        result = original(self)
        service = result.result["service"]
        service.deployment_configuration = _deployment_configuration(
            self._get_param("deploymentConfiguration"))
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service.health_check_grace_period_seconds = grace
        service.enable_ecs_managed_tags = bool(self._get_param("enableECSManagedTags", False))
        service.enable_execute_command = bool(self._get_param("enableExecuteCommand", False))
        return result

    @wrap(EC2ContainerServiceBackend, "update_service")
    def update_service(original: Any, self: Any, service_properties: dict[str, Any]) -> Any:
        sent = service_properties.get("deployment_configuration")
        service = original(self, service_properties)
        if sent is not None:
            service.deployment_configuration = _deployment_configuration(sent)
        return service


def _fix_ecs_running_count() -> None:
    """ECS: runningCount follows desiredCount (pendingCount 0, deployment COMPLETED), so
    services_stable succeeds.

    moto 5.2.5 starts no tasks for a service: after create_service with
    desiredCount N > 0 it reports runningCount 0 / pendingCount N forever (and
    after update_service the PRIMARY deployment keeps its old counts), so the
    botocore waiter ``services_stable`` (one deployment and runningCount ==
    desiredCount) times out on correct code.  On AWS the scheduler starts the
    tasks and the service settles.  The fix settles it at once on create and
    update.  If the server was started with moto's own
    ``MOTO_ECS_SERVICE_RUNNING`` setting, create keeps moto's behaviour.
    """
    from moto.ecs.models import EC2ContainerServiceBackend, Service

    @wrap(Service, "__init__")
    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if "MOTO_ECS_SERVICE_RUNNING" not in os.environ:
            _settle_deployments(self)

    # Wraps the update_service wrapper of _fix_ecs_service_settings (order: see _FIXES).
    @wrap(EC2ContainerServiceBackend, "update_service")
    def update_service(original: Any, self: Any, service_properties: dict[str, Any]) -> Any:
        service = original(self, service_properties)
        _settle_deployments(service)
        return service


def _fix_ecs_describe_family() -> None:
    """ECS: describe_task_definition by family alone answers the latest ACTIVE revision.

    AWS's DescribeTaskDefinition takes "the family for the latest ACTIVE
    revision" (API reference, ``taskDefinition``); with no ACTIVE revision
    it answers ``ClientException``.  moto 5.2.5 answers the highest revision
    whatever its status, so after the newest revision is deregistered a
    family-only describe returns an INACTIVE one where AWS returns the
    newest still ACTIVE.  A family or ``family:revision`` with a revision is
    left to moto.
    """
    from moto.ecs.exceptions import TaskDefinitionNotFoundException
    from moto.ecs.models import EC2ContainerServiceBackend

    @wrap(EC2ContainerServiceBackend, "describe_task_definition")
    def describe_task_definition(original: Any, self: Any, task_definition_str: str) -> Any:
        name = task_definition_str.rsplit("/", maxsplit=1)[-1]
        if ":" in name:
            return original(self, task_definition_str)
        active = [revision for revision, definition in self.task_definitions.get(name, {}).items()
                  if definition.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        return self.task_definitions[name][max(active)]


#: The fixes of this module, in application order.
FIXES: list[Callable[[], None]] = [
    _fix_ecs_service_settings,
    _fix_ecs_running_count,
    _fix_ecs_describe_family,
]
