"""What the three ElastiCache steps share: the client and reading by name."""

from __future__ import annotations

from typing import Any

from vivr_provision.config.data import RedisConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.common import KindStep

#: A group whose replication group was just deleted may still be held for a moment.
GROUP_RELEASING = policy(
    {"CacheSubnetGroupInUse", "InvalidCacheParameterGroupState"},
    "a cache subnet/parameter group stays in use until its replication group is gone",
    deadline_s=900, max_attempts=60,
)


class ElastiCacheStep(KindStep):
    """An ElastiCache resource read by name as its kind declares, tagged by its ARN."""

    service = "elasticache"
    expected_seconds = 3.0

    @property
    def redis(self) -> RedisConfig:
        return self.config.redis

    def ec(self, ctx: StepContext) -> Any:
        return ctx.client("elasticache", self.region)


__all__ = ["GROUP_RELEASING", "ElastiCacheStep"]
