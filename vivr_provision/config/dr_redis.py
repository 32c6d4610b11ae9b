"""The standby Redis's settings: ``dr.redis`` over the primary's ``redis``.

Derived once, here, and shared by the steps (``dr.cache*``) and ``cost``:
the standby is the primary's replication group (engine, version, TLS,
AUTH, encryption at rest, parameters, port, windows) with the DR site's
own names, subnets and groups and the standby's size (one node by
default, no Multi-AZ, no automatic failover), and without what only the
primary region has (log groups, the export bucket).
"""

from __future__ import annotations

from vivr_provision.config.data import RedisConfig
from vivr_provision.config.model import PlatformConfig


def standby_redis_built(config: PlatformConfig) -> bool:
    """Whether the graph holds the standby Redis (config validation requires ``dr.redis``)."""
    dr = config.dr
    return dr.enabled and dr.standby.redis and dr.redis is not None and dr.network is not None


def standby_redis(config: PlatformConfig) -> RedisConfig | None:
    """The standby's replication group as a :class:`RedisConfig`, or None when not built.

    Validated again as a whole, so the primary's cross-field rules (AUTH
    needs TLS, Multi-AZ needs failover ...) hold for the mix too.
    """
    standby = config.dr.redis
    if standby is None or not standby_redis_built(config):
        return None
    primary = config.redis
    parameter_group = primary.parameter_group.model_copy(
        update={"name": standby.parameter_group_name or primary.parameter_group.name})
    retention = (primary.snapshot_retention_days if standby.snapshot_retention_days is None
                 else standby.snapshot_retention_days)
    return RedisConfig.model_validate({
        **primary.model_dump(),
        "replication_group_id": standby.replication_group_id,
        "description": standby.description,
        "node_type": standby.node_type or primary.node_type,
        "replicas": standby.replicas,
        "multi_az": standby.multi_az,
        "automatic_failover": standby.automatic_failover,
        "subnet_group": standby.subnet_group.model_dump(),
        "security_groups": list(standby.security_groups),
        "parameter_group": parameter_group.model_dump(),
        "snapshot_retention_days": retention,
        # CloudWatch Logs groups and the export bucket are in the primary region;
        # ElastiCache delivers logs only to groups of its own region.
        "slow_log_group": None,
        "engine_log_group": None,
        "export_to_s3_daily": False,
        "export_bucket": None,
    })


__all__ = ["standby_redis", "standby_redis_built"]
