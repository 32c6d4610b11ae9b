"""ElastiCache Redis: the cache subnet group, the parameter group and the replication group.

Three steps, in dependency order:

* ``cache-subnet-group``: the subnets the cache nodes live in (config
  ``redis.subnet_group``; subnet ids come from the ``subnet.<name>`` steps).
* ``cache-parameter-group``: the Redis parameters the spec fixes
  (``maxmemory-policy allkeys-lru``), in a group of the configured family.
* ``cache``: the replication group itself (cluster mode disabled, one shard
  of a primary plus ``redis.replicas`` replicas), encrypted at rest with the
  platform KMS key and in transit with TLS, AUTH token from Secrets Manager.

The same three classes build the DR standby (``dr.cache-subnet-group``,
``dr.cache-parameter-group``, ``dr.cache`` in ``dr.region``) from
:func:`~vivr_provision.config.dr_redis.standby_redis`: see
:mod:`vivr_provision.steps.dr`.

Modules: :mod:`.base` (what the steps share: read by name as
:mod:`~vivr_provision.steps.kinds` declares, the rename row), :mod:`.groups`
(the two groups), :mod:`.replication_group` (reading, creating, deleting the
group) and :mod:`.group_drift` (the group's drift table and how an update
converges it).

None of these APIs takes an idempotency token; their names are unique per
account and region, so a create repeated after a crash is prevented by
looking the name up first, and a same-named resource that does not carry our
ownership tags is refused, never adopted.

What is verified against the config on every apply (``diff``), and what is not:

* verified and converged in place: description, node type, replica count,
  automatic failover, Multi-AZ, snapshot retention and window, maintenance
  window, security groups, parameter group, AUTH enabled, minor engine
  version upgrades, tags, every configured parameter value;
* verified, reported as "replace" (AWS cannot change it in place, and this is
  a data store, so apply stops and says so): at-rest encryption, KMS key,
  engine major version (or a downgrade), in-transit encryption (AWS needs a
  two-step ``TransitEncryptionMode`` migration), cluster mode, shard count,
  port, subnet group;
* not verifiable: the AUTH token's *value* (AWS never returns it; rotating it
  is a deliberate ``ROTATE``/``SET`` operation, not drift).

Spec items ElastiCache manages itself, which no API call here configures:

* ``rdb_snapshot_interval_minutes`` (15): ElastiCache takes one automatic
  snapshot a day, in ``snapshot_window``, kept ``snapshot_retention_days``;
  the ``save`` parameter that would set an RDB interval is not modifiable.
  Replicas (Multi-AZ with automatic failover) are what bounds data loss.
* ``aof`` (false): Redis ≥ 2.8.22 on ElastiCache does not support AOF
  (``appendonly`` is not modifiable), so "disabled" is what it gets.
* ``multi_threaded_io``: enhanced I/O multiplexing is switched on by
  ElastiCache for Redis ≥ 7 on node types with enough vCPUs; there is no
  setting for it.
* ``export_to_s3_daily``: exporting a snapshot is ``CopySnapshot`` with a
  ``TargetBucket``, run by a schedule; it belongs to the backup tooling, not
  to the replication group.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.steps.base import Site, Step
from vivr_provision.steps.elasticache.groups import CacheParameterGroupStep, CacheSubnetGroupStep
from vivr_provision.steps.elasticache.replication_group import CacheStep


def site_elasticache_steps(config: PlatformConfig, redis: RedisConfig,
                           site: Site | None = None, *,
                           cache_after: tuple[str, ...] = ()) -> list[Step]:
    """Subnet group and parameter group first, then the replication group, of one site.

    ``cache_after``: extra ordering dependencies of the replication group step.
    """
    return [CacheSubnetGroupStep(config, redis, site=site),
            CacheParameterGroupStep(config, redis, site=site),
            CacheStep(config, redis, site=site, after=cache_after)]


def elasticache_steps(config: PlatformConfig) -> list[Step]:
    """The primary region's cache (``config.redis``), steps named without a prefix."""
    return site_elasticache_steps(config, config.redis)


__all__ = ["CacheParameterGroupStep", "CacheStep", "CacheSubnetGroupStep", "elasticache_steps",
           "site_elasticache_steps"]
