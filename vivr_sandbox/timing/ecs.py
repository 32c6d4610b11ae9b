"""ECS under a timing profile: a service's deployment rolls out for AWS's duration.

The sandbox's fix settles a service at once (runningCount = desiredCount,
the PRIMARY deployment COMPLETED), and moto marks a deleted service INACTIVE
at once.  On AWS a new service's deployment is IN_PROGRESS until its tasks
run and pass health checks; an update that replaces the task definition
runs a second deployment beside the old one until the old tasks drain; a
deleted service is DRAINING, then INACTIVE.  ``services_stable`` succeeds
only when each service has one deployment and runningCount == desiredCount,
so the states reported here keep it polling (and it fails on DRAINING or
INACTIVE, which only a deleted service shows); ``services_inactive`` keeps
polling on DRAINING.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.attributes import stored, time_attribute
from vivr_sandbox.timing.clock import begin

KIND = "ecs_service"


def _in_progress(deployment: dict[str, Any], running: int, desired: int) -> dict[str, Any]:
    return {**deployment, "rolloutState": "IN_PROGRESS", "runningCount": running,
            "pendingCount": max(desired - running, 0), "desiredCount": desired,
            "rolloutStateReason": f"ECS deployment {deployment.get('id')} in progress."}


def rolling_out(running: int) -> Callable[[Any, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Deployments as they read while the PRIMARY one has ``running`` tasks up."""

    def read(service: Any, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [_in_progress(d, running, service.desired_count) if d.get("status") == "PRIMARY"
                else d for d in deployments]

    return read


def replacing(old: list[dict[str, Any]]) -> Callable[[Any, list[dict[str, Any]]],
                                                     list[dict[str, Any]]]:
    """Deployments while a new PRIMARY replaces ``old`` (kept as ACTIVE until drained)."""

    def read(service: Any, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        new = [_in_progress({**d, "taskDefinition": service.task_definition}, 0,
                            service.desired_count)
               for d in deployments if d.get("status") == "PRIMARY"]
        draining = [{**d, "status": "ACTIVE"} for d in old if d.get("status") == "PRIMARY"]
        return new + draining

    return read


def _time_services() -> None:
    """ECS: services roll out (IN_PROGRESS, fewer tasks running) for the profile's create
    and update durations, and are DRAINING for its delete duration."""
    from moto.ecs.models import EC2ContainerServiceBackend, Service

    for name in ("running_count", "pending_count", "deployments", "status"):
        time_attribute(Service, name)

    @wrap(EC2ContainerServiceBackend, "create_service")
    def create_service(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        if service.desired_count > 0:
            begin(service, KIND, "create", {
                "running_count": 0,
                "pending_count": lambda s, _: s.desired_count,
                "deployments": rolling_out(0)})
        return service

    @wrap(EC2ContainerServiceBackend, "update_service")
    def update_service(original: Any, self: Any, service_properties: dict[str, Any]) -> Any:
        try:
            before = self._get_service(service_properties.get("cluster", "default"),
                                       str(service_properties["service"]).split("/")[-1])
        except Exception:
            return original(self, service_properties)  # moto answers the error
        old_task = stored(before, "task_definition")
        old_deployments = copy.deepcopy(stored(before, "deployments"))
        old_running = int(stored(before, "running_count"))
        forced = bool(service_properties.get("force_new_deployment"))
        service = original(self, service_properties)
        if forced or stored(service, "task_definition") != old_task:
            begin(service, KIND, "modify", {"deployments": replacing(old_deployments)})
        elif old_running < service.desired_count:
            # Scaling out: the extra tasks start during the window (scaling in stays
            # immediate: the profile does not time tasks stopping).
            begin(service, KIND, "modify", {
                "running_count": old_running,
                "pending_count": lambda s, _: s.desired_count - old_running,
                "deployments": rolling_out(old_running)})
        return service

    @wrap(EC2ContainerServiceBackend, "delete_service")
    def delete_service(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        begin(service, KIND, "delete", {"status": "DRAINING"})
        return service


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_services]
