"""The cache subnet group and the cache parameter group the replication group uses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.common import aws_tags, gone_on
from vivr_provision.steps.drift import NAME, TAGS, Field, converge, drift
from vivr_provision.steps.elasticache.base import GROUP_RELEASING, ElastiCacheStep
from vivr_provision.steps.kinds import CACHE_PARAMETER_GROUP, CACHE_SUBNET_GROUP

#: ModifyCacheParameterGroup and ResetCacheParameterGroup take at most 20 parameters.
PARAMETERS_PER_CALL = 20
#: What a parameter set by hand and absent from the config is reset to.
ENGINE_DEFAULT = "engine default"


def _chunks(items: list[dict[str, str]], size: int) -> Iterable[list[dict[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --------------------------------------------------------------------------- subnet group


class CacheSubnetGroupStep(ElastiCacheStep):
    """The cache subnet group over the configured (cache tier) subnets."""

    family = "cache-subnet-group"
    kind = CACHE_SUBNET_GROUP

    def resource_name(self) -> str:
        return self.redis.subnet_group.name

    def depends_on(self) -> tuple[str, ...]:
        return tuple(self.site.step(f"subnet.{name}") for name in self.redis.subnet_group.subnets)

    def subnet_ids(self, ctx: StepContext) -> list[str]:
        return [str(ctx.output(self.site.step(f"subnet.{name}"), "subnet_id"))
                for name in self.redis.subnet_group.subnets]

    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.redis.subnet_group
        self.ec(ctx).create_cache_subnet_group(
            CacheSubnetGroupName=group.name,
            CacheSubnetGroupDescription=group.description,
            SubnetIds=self.subnet_ids(ctx),
            Tags=aws_tags(self.tags()),
        )
        return self.reread(ctx)

    #: The managed settings (see :mod:`vivr_provision.steps.drift`).
    FIELDS = (
        NAME,
        TAGS,
        Field("description", lambda d: d.get("CacheSubnetGroupDescription"),
              lambda s, ctx: s.redis.subnet_group.description, apply="modify_group"),
        Field("subnets", lambda d: sorted(s["SubnetIdentifier"] for s in d.get("Subnets", [])),
              lambda s, ctx: sorted(s.subnet_ids(ctx)), apply="modify_group"),
    )

    def modify_group(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """ModifyCacheSubnetGroup: the description and the whole subnet list, in one call."""
        self.ec(ctx).modify_cache_subnet_group(
            CacheSubnetGroupName=resource.id,
            CacheSubnetGroupDescription=self.redis.subnet_group.description,
            SubnetIds=self.subnet_ids(ctx),
        )

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        GROUP_RELEASING.call("delete cache subnet group", gone_on, CACHE_SUBNET_GROUP.not_found,
                             self.ec(ctx).delete_cache_subnet_group,
                             CacheSubnetGroupName=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": resource.id, "arn": resource.data.get("ARN"),
                "vpc_id": resource.data.get("VpcId"),
                "subnet_ids": sorted(s["SubnetIdentifier"]
                                     for s in resource.data.get("Subnets", []))}


# --------------------------------------------------------------------------- parameter group


class CacheParameterGroupStep(ElastiCacheStep):
    """The Redis parameter group (``maxmemory-policy`` and whatever else the config sets).

    ``Source=user`` parameters are the ones set on the group, so a value
    changed by hand, or one set by hand and absent from the config (reset
    to the engine default), is drift.
    """

    family = "cache-parameter-group"
    kind = CACHE_PARAMETER_GROUP

    def resource_name(self) -> str:
        return self.redis.parameter_group.name

    def user_parameters(self, ctx: StepContext, name: str) -> dict[str, str | None]:
        pages = self.ec(ctx).get_paginator("describe_cache_parameters").paginate(
            CacheParameterGroupName=name, Source="user")
        return {p["ParameterName"]: p.get("ParameterValue")
                for page in pages for p in page.get("Parameters", [])}

    def _set(self, ctx: StepContext, name: str, parameters: dict[str, str]) -> None:
        values = [{"ParameterName": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
        for chunk in _chunks(values, PARAMETERS_PER_CALL):
            self.ec(ctx).modify_cache_parameter_group(CacheParameterGroupName=name,
                                                      ParameterNameValues=chunk)

    def _reset(self, ctx: StepContext, name: str, parameters: Iterable[str]) -> None:
        values = [{"ParameterName": k} for k in sorted(parameters)]
        for chunk in _chunks(values, PARAMETERS_PER_CALL):
            self.ec(ctx).reset_cache_parameter_group(CacheParameterGroupName=name,
                                                     ResetAllParameters=False,
                                                     ParameterNameValues=chunk)

    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.redis.parameter_group
        self.ec(ctx).create_cache_parameter_group(
            CacheParameterGroupName=group.name,
            CacheParameterGroupFamily=group.family,
            Description=group.description,
            Tags=aws_tags(self.tags()),
        )
        if group.parameters:
            self._set(ctx, group.name, group.parameters)
        return self.reread(ctx)

    #: The managed settings; ``UserParameters`` and ``ParametersNotInConfig`` are
    #: added by :meth:`diff` (the group's description does not carry its values).
    FIELDS = (
        NAME,
        TAGS,
        # Neither can change: ModifyCacheParameterGroup only takes parameter values.
        Field("family", lambda d: d.get("CacheParameterGroupFamily"),
              lambda s, ctx: s.redis.parameter_group.family, effect="replace"),
        Field("description", lambda d: d.get("Description"),
              lambda s, ctx: s.redis.parameter_group.description, effect="replace"),
        # Our parameters with our values, as for tags: the change lists only those that differ.
        Field("parameters", lambda d: d["UserParameters"],
              lambda s, ctx: s.redis.parameter_group.parameters, compare="tags",
              apply="set_parameters"),
        Field("extra_parameters", lambda d: d["ParametersNotInConfig"] or ENGINE_DEFAULT,
              lambda s, ctx: ENGINE_DEFAULT, apply="reset_parameters"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        current = self.user_parameters(ctx, resource.id)
        extra = sorted(set(current) - set(self.redis.parameter_group.parameters))
        return drift(self, ctx, {**resource.data, "UserParameters": current,
                                 "ParametersNotInConfig": {k: current[k] for k in extra}},
                     self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self.reread(ctx)

    def set_parameters(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self._set(ctx, resource.id, dict(changes[0].desired))

    def reset_parameters(self, ctx: StepContext, resource: Resource,
                         changes: list[Change]) -> None:
        self._reset(ctx, resource.id, changes[0].current)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        GROUP_RELEASING.call("delete cache parameter group", gone_on,
                             CACHE_PARAMETER_GROUP.not_found,
                             self.ec(ctx).delete_cache_parameter_group,
                             CacheParameterGroupName=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": resource.id, "arn": resource.data.get("ARN"),
                "family": resource.data.get("CacheParameterGroupFamily")}


__all__ = ["CacheParameterGroupStep", "CacheSubnetGroupStep"]
