"""What the three ElastiCache steps share: the client, reading by name, the rename row."""

from __future__ import annotations

from typing import Any

from vivr_provision.config.data import RedisConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Resource, StepContext
from vivr_provision.steps.common import KindStep
from vivr_provision.steps.drift import Field

#: A group whose replication group was just deleted may still be held for a moment.
GROUP_RELEASING = policy(
    {"CacheSubnetGroupInUse", "InvalidCacheParameterGroupState"},
    "a cache subnet/parameter group stays in use until its replication group is gone",
    deadline_s=900, max_attempts=60,
)


def name_row(id_field: str) -> Field:
    """The name is the id: one renamed in the config is a new resource.

    ``describe_by_id`` reads the name state recorded, so the old resource is
    what gets compared; this row reports the rename as a replacement (apply
    stops and says so) instead of keeping the old one under the new name.
    """
    return Field("name", lambda d: d[id_field], lambda s, ctx: s.resource_name(),
                 effect="replace")


class ElastiCacheStep(KindStep):
    """An ElastiCache resource read by name as its kind declares, tagged by its ARN."""

    service = "elasticache"
    expected_seconds = 3.0

    @property
    def redis(self) -> RedisConfig:
        return self.config.redis

    def ec(self, ctx: StepContext) -> Any:
        return ctx.client("elasticache", self.region)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The resource under the name state recorded (see :func:`name_row`)."""
        return self.lookup(ctx, resource_id)


__all__ = ["GROUP_RELEASING", "ElastiCacheStep", "name_row"]
