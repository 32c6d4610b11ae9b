"""The ECS cluster (Container Insights, capacity providers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.common import KindStep
from vivr_provision.steps.drift import NAME, TAGS, Field, converge, drift
from vivr_provision.steps.ecs.common import (
    CLUSTER_DRAINING,
    CLUSTER_STEP,
    CLUSTER_UPDATING,
    FARGATE_PROVIDERS,
    EcsStep,
    ecs_tags,
    strategy_of,
)
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import ECS_CLUSTER, ECS_SERVICE


def _settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster's settings as a map (``include=["SETTINGS"]`` returns them)."""
    return {s["name"]: s["value"] for s in data.get("settings") or []}


class EcsClusterStep(EcsStep, KindStep):
    """The cluster: Container Insights, Fargate capacity providers, tags.

    With the EC2 launch type the cluster's capacity providers belong to the
    ``ecs-capacity-provider`` step (which needs the cluster first, so that
    container instances boot into a cluster that exists), and are not
    compared here.
    """

    family = CLUSTER_STEP
    kind = ECS_CLUSTER
    expected_seconds = 5.0

    #: Every cluster; the setting is named as ECS names it.
    FIELDS = (
        NAME,
        TAGS,
        Field("containerInsights", lambda d: _settings(d).get("containerInsights"),
              lambda s, ctx: s.insights(), apply="update_settings"),
    )
    #: Fargate only: with EC2 the capacity provider step owns these.
    FARGATE_FIELDS = (
        Field("capacity_providers", lambda d: sorted(d.get("capacityProviders") or []),
              lambda s, ctx: list(FARGATE_PROVIDERS), compare="unordered",
              apply="put_capacity_providers"),
        Field("default_capacity_provider_strategy",
              lambda d: strategy_of(d.get("defaultCapacityProviderStrategy")),
              lambda s, ctx: s.desired_strategy(), apply="put_capacity_providers"),
    )

    def resource_name(self) -> str:
        return self.cluster_name

    def is_live(self, item: Mapping[str, Any]) -> bool:
        return item.get("status") != "INACTIVE"  # ECS keeps a deleted cluster as INACTIVE

    def fields(self) -> tuple[Field, ...]:
        return self.FIELDS if self.on_ec2 else self.FIELDS + self.FARGATE_FIELDS

    @property
    def on_ec2(self) -> bool:
        return self.tier.ecs.launch_type == "ec2"

    def insights(self) -> str:
        return "enabled" if self.tier.ecs.container_insights else "disabled"

    def desired_settings(self) -> list[dict[str, str]]:
        return [{"name": "containerInsights", "value": self.insights()}]

    def desired_strategy(self) -> list[dict[str, Any]]:
        return [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]

    def create(self, ctx: StepContext, token: str) -> Resource:
        params: dict[str, Any] = {"clusterName": self.cluster_name,
                                  "settings": self.desired_settings(),
                                  "tags": ecs_tags(self.tags())}
        if not self.on_ec2:
            params["capacityProviders"] = list(FARGATE_PROVIDERS)
            params["defaultCapacityProviderStrategy"] = self.desired_strategy()
        # The first cluster of an account creates ECS's service-linked role;
        # capacity providers are refused until it can be assumed.
        cluster = ROLE_PROPAGATION.call(f"create cluster {self.cluster_name}",
                                        self.ecs(ctx).create_cluster, **params)["cluster"]
        found = self.lookup(ctx)
        return found or Resource(cluster["clusterArn"], cluster)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields())

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields())
        return self.reread(ctx)

    def update_settings(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        self.ecs(ctx).update_cluster(cluster=self.cluster_name, settings=self.desired_settings())

    def put_capacity_providers(self, ctx: StepContext, resource: Resource,
                               changes: list[Change]) -> None:
        CLUSTER_UPDATING.call(
            f"capacity providers of {self.cluster_name}",
            self.ecs(ctx).put_cluster_capacity_providers, cluster=self.cluster_name,
            capacityProviders=list(FARGATE_PROVIDERS),
            defaultCapacityProviderStrategy=self.desired_strategy())

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Services are gone by now (they depend on the cluster); tasks may still drain."""
        try:
            CLUSTER_DRAINING.call(f"delete cluster {self.cluster_name}",
                                  self.ecs(ctx).delete_cluster, cluster=self.cluster_name)
        except aws_errors.ClientError as exc:
            if error_code(exc) not in ECS_SERVICE.not_found:
                raise

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "cluster_arn": resource.id,
                "cluster_name": self.cluster_name}
