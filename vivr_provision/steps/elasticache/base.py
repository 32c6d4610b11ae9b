"""What the three ElastiCache steps share: their Redis config, site, client and reading by name."""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.retry import policy
from vivr_provision.steps.base import Site, StepContext
from vivr_provision.steps.common import KindStep

#: A group whose replication group was just deleted may still be held for a moment.
GROUP_RELEASING = policy(
    {"CacheSubnetGroupInUse", "InvalidCacheParameterGroupState"},
    "a cache subnet/parameter group stays in use until its replication group is gone",
    deadline_s=900, max_attempts=60,
)


class ElastiCacheStep(KindStep):
    """An ElastiCache resource read by name as its kind declares, tagged by its ARN.

    The same classes build two caches, as the ALB's build two balancers:
    the primary (``config.redis``, steps ``cache*``) and the DR standby
    (:func:`~vivr_provision.config.dr_redis.standby_redis` on the DR
    :class:`~vivr_provision.steps.base.Site`, steps ``dr.cache*``).  Names
    of sibling steps go through ``self.site`` (subnets, groups, the KMS
    key and the cache's own groups are regional); only the AUTH token's
    secret is the primary region's step.
    """

    service = "elasticache"
    expected_seconds = 3.0

    def __init__(self, config: PlatformConfig, redis: RedisConfig | None = None, *,
                 site: Site | None = None) -> None:
        super().__init__(config, site=site)
        self._redis = redis

    @property
    def redis(self) -> RedisConfig:
        return self._redis or self.config.redis

    def ec(self, ctx: StepContext) -> Any:
        return ctx.client("elasticache", self.region)


__all__ = ["GROUP_RELEASING", "ElastiCacheStep"]
