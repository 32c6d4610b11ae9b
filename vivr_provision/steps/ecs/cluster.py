"""The ECS cluster (Container Insights, capacity providers).
"""

from __future__ import annotations

from typing import Any

import structlog
from botocore.exceptions import ClientError

from vivr_provision.aws import error_code
from vivr_provision.steps.base import (
    Change,
    NamedStep,
    Resource,
    StepContext,
)
from vivr_provision.steps.common import (
    require_owned,
    tag_drift,
    tag_map,
    write_tags,
)
from vivr_provision.steps.diffing import (
    differences,
)
from vivr_provision.steps.ecs.common import (
    CLUSTER_DRAINING,
    CLUSTER_STEP,
    CLUSTER_UPDATING,
    FARGATE_PROVIDERS,
    EcsStep,
    ecs_tags,
    uses_ec2,
)
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import ECS_CLUSTER, ECS_SERVICE

log = structlog.get_logger("vivr.ecs")

class EcsClusterStep(EcsStep, NamedStep):
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

    def lookup(self, ctx: StepContext) -> Resource | None:
        reply = self.ecs(ctx).describe_clusters(clusters=[self.cluster_name],
                                                include=["TAGS", "SETTINGS"])
        live = [c for c in reply.get("clusters", []) if c.get("status") != "INACTIVE"]
        if not live:
            return None  # never made, or deleted (ECS keeps those as INACTIVE)
        cluster = live[0]
        require_owned(self, f"ECS cluster {self.cluster_name}",
                      tag_map(cluster.get("tags"), "key", "value"))
        return Resource(cluster["clusterArn"], cluster)


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
        found = self.lookup(ctx)
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
                write_tags(ecs, ECS_CLUSTER, resource.id, change.desired)
        found = self.lookup(ctx)
        assert found is not None, "a cluster just updated is describable"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Services are gone by now (they depend on the cluster); tasks may still drain."""
        try:
            CLUSTER_DRAINING.call(f"delete cluster {self.cluster_name}",
                                  self.ecs(ctx).delete_cluster, cluster=self.cluster_name)
        except ClientError as exc:
            if error_code(exc) not in ECS_SERVICE.not_found:
                raise

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "cluster_arn": resource.id,
                "cluster_name": self.cluster_name}


# --------------------------------------------------------------------------- task definition
