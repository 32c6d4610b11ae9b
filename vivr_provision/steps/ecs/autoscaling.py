"""Application Auto Scaling of the service's task count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.log import get_logger
from vivr_provision.steps.base import (
    Change,
    NamedStep,
    Resource,
    StepContext,
)
from vivr_provision.steps.common import (
    gone_on,
)
from vivr_provision.steps.drift import UNREPORTED, Field, converge, drift
from vivr_provision.steps.ecs.common import (
    AUTOSCALING_STEP,
    CLUSTER_STEP,
    SCALABLE_DIMENSION,
    SCALING_PROPAGATION,
    SERVICE_STEP,
)
from vivr_provision.steps.ecs.scaling_reads import shared_target_policies, target_policies
from vivr_provision.steps.kinds import SCALABLE_TARGET, SCALING_POLICY

log = get_logger("vivr.ecs")

#: The policy type this step puts (Application Auto Scaling API, PutScalingPolicy).
TARGET_TRACKING = "TargetTrackingScaling"


def _policy(name: str) -> Any:
    """Where a policy is read in the step's description (None: not there)."""
    return lambda d: d["policies"].get(name)


def _policy_rows(name: str, configuration: dict[str, Any]) -> tuple[Field, ...]:
    """One policy: missing, of another type, or with other settings (``policy <name>.<path>``).

    Each rule is reported only when the one before it holds, so a missing
    policy is one change, not one per setting.
    """
    found = _policy(name)

    def type_of(d: Mapping[str, Any]) -> Any:
        policy = found(d)
        return UNREPORTED if policy is None else policy.get("PolicyType")

    def settings_of(d: Mapping[str, Any]) -> Any:
        policy = found(d)
        if policy is None or policy.get("PolicyType") != TARGET_TRACKING:
            return UNREPORTED
        return policy.get("TargetTrackingScalingPolicyConfiguration")

    label = f"policy {name}"
    return (
        Field(label, lambda d: None if found(d) is None else UNREPORTED,
              lambda s, ctx: configuration, apply="put_policies"),
        Field(f"{label}.PolicyType", type_of, lambda s, ctx: TARGET_TRACKING,
              apply="put_policies"),
        Field(label, settings_of, lambda s, ctx: configuration, compare="document",
              apply="put_policies"),
    )


class EcsAutoscalingStep(NamedStep):
    """Target tracking of the service's task count: CPU 70 %, memory 80 % (spec)."""

    family = AUTOSCALING_STEP
    service = "application-autoscaling"
    kinds = (SCALABLE_TARGET, SCALING_POLICY)
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

    def lookup(self, ctx: StepContext) -> Resource | None:
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
        # The first lookup shares its listing with the scale-out policy's (scaling_reads).
        listed = shared_target_policies(ctx, self.name, self.region, namespace="ecs",
                                        resource_id=self.resource_id,
                                        dimension=SCALABLE_DIMENSION)
        if listed is None:
            listed = target_policies(client, "ecs", self.resource_id, SCALABLE_DIMENSION)
        policies = {p["PolicyName"]: p for p in listed}
        return Resource(self.resource_id, {"target": targets[0], "policies": policies})

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
        found = self.lookup(ctx)
        assert found is not None, "a scalable target just registered is describable"
        return found

    def fields(self) -> tuple[Field, ...]:
        """The target's capacity, then each policy the config names."""
        cfg = self.config.ecs.autoscaling
        capacity = Field("capacity",
                         lambda d: (d["target"].get("MinCapacity"), d["target"].get("MaxCapacity")),
                         lambda s, ctx: (cfg.min_capacity, cfg.max_capacity), apply="register")
        return (capacity, *(row for name, configuration in self.desired_policies().items()
                            for row in _policy_rows(name, configuration)))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields())

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields())
        found = self.lookup(ctx)
        assert found is not None
        return found

    def register(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._register(ctx)

    def put_policies(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """Put again each policy a change names (``policy <name>`` or ``policy <name>.<path>``)."""
        named = {c.field for c in changes}
        for name, configuration in self.desired_policies().items():
            label = f"policy {name}"
            if any(f == label or f.startswith(f"{label}.") for f in named):
                self._put_policy(ctx, name, configuration)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Our policies first (their alarms go with them), then the target."""
        client = self.scaling(ctx)
        for name in sorted(set(self.desired_policies()) & set(resource.data["policies"])):
            gone_on(SCALING_POLICY.not_found, client.delete_scaling_policy,
                    PolicyName=name, ServiceNamespace="ecs", ResourceId=self.resource_id,
                    ScalableDimension=SCALABLE_DIMENSION)
        gone_on(SCALING_POLICY.not_found, client.deregister_scalable_target,
                ServiceNamespace="ecs", ResourceId=self.resource_id,
                ScalableDimension=SCALABLE_DIMENSION)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        policies = resource.data.get("policies", {})
        return {"id": resource.id, "resource_id": self.resource_id,
                "scalable_target_arn": resource.data["target"].get("ScalableTargetARN"),
                "policy_arns": {name: policies[name].get("PolicyARN")
                                for name in sorted(policies) if name in self.desired_policies()}}
