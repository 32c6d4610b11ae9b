"""Disaster-recovery site: the DR region's network, security groups, standby ALB and Redis.

The same step classes as the primary region, placed on a second
:class:`~vivr_provision.steps.base.Site` (name prefix ``dr.``, region
``dr.region``), so one graph holds both and destroy orders them together.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.config.dr_redis import standby_redis
from vivr_provision.steps.acm import CertificateStep
from vivr_provision.steps.alb import ACM_STEP, LB_STEP, site_alb_steps
from vivr_provision.steps.base import Site, Step
from vivr_provision.steps.elasticache import site_elasticache_steps
from vivr_provision.steps.network import site_network_steps
from vivr_provision.steps.security import site_security_steps


def dr_site(config: PlatformConfig) -> Site:
    return Site(prefix="dr.", region=config.dr.region)


def standby_alb_built(config: PlatformConfig) -> bool:
    """Whether the graph holds the standby ALB (config validation requires ``dr.alb``)."""
    return config.dr.enabled and config.dr.standby.alb and config.dr.alb is not None


def standby_alb_step(config: PlatformConfig) -> str:
    """The name of the standby load balancer's step (``dr.alb``)."""
    return dr_site(config).step(LB_STEP)


def dr_network_steps(config: PlatformConfig) -> list[Step]:
    """The DR VPC, subnets, route tables and groups, when DR is on and has a network."""
    if not config.dr.enabled or config.dr.network is None:
        return []
    site = dr_site(config)
    return (site_network_steps(config, config.dr.network, site)
            + site_security_steps(config, config.dr.security_groups, site))


def dr_standby_steps(config: PlatformConfig) -> list[Step]:
    """The standby ALB (``dr.alb`` ...) and, for its HTTPS listener, ``dr.acm``.

    Spec "Failover Region: us-west-2 / Standby ALB": the target of the
    failover SECONDARY record.  Its certificate is a second request for the
    same names in the DR region, because ELB takes only certificates of its
    own region; it validates through the primary's CNAMEs, hence the order.
    """
    alb = config.dr.alb
    if alb is None or not standby_alb_built(config):
        return []
    site = dr_site(config)
    steps: list[Step] = []
    if any(listener.protocol == "HTTPS" for listener in alb.listeners):
        steps.append(CertificateStep(config, site=site, shares_records_with=ACM_STEP))
    return steps + site_alb_steps(config, alb, site, lb_after=_reachable_after(config))


def dr_cache_steps(config: PlatformConfig) -> list[Step]:
    """The standby Redis: ``dr.cache-subnet-group``, ``dr.cache-parameter-group``, ``dr.cache``.

    An independent replication group in ``dr.region``, not a Global
    Datastore secondary: AWS runs Global Datastore only on node types of
    size large and above, the same on both sides, and the primary is a
    cache.t3.small (``dr.redis.mode`` records the choice; config
    validation refuses ``global_datastore``).  So the standby holds no data
    until the application writes to it after a failover: the spec's
    sessions and carts are lost at failover, and product and rate-limit
    entries refill on first use.  Its settings are the primary's (engine,
    TLS, AUTH with the same secret value, parameters) but encrypted with
    the DR key (``dr.kms``: ElastiCache takes only a key of its own region)
    and sized by ``dr.redis`` (one node by default: a cold cache needs no
    replica to fail over to).
    """
    redis = standby_redis(config)
    if redis is None:
        return []
    site = dr_site(config)
    # Its groups' rules too, so `apply --target 'dr.cache*'` leaves a cache the DR
    # VPC can reach (6379 in) with AWS's default allow-all egress revoked, and
    # destroy removes the cache before them.
    rules = tuple(site.step(f"sg-rules.{name}") for name in redis.security_groups)
    return site_elasticache_steps(config, redis, site, cache_after=rules)


def _reachable_after(config: PlatformConfig) -> tuple[str, ...]:
    """What the standby balancer needs in place to answer, besides what it reads.

    The route tables of its subnets (they depend on the internet gateway:
    AWS refuses an internet-facing balancer in a VPC with none attached,
    and the gateway cannot be detached while the balancer holds public
    addresses) and its groups' rules, so ``apply --target dr.alb`` leaves a
    balancer clients can reach and destroy removes it before any of them.
    """
    alb, network, site = config.dr.alb, config.dr.network, dr_site(config)
    if alb is None or network is None:
        return ()
    tables = [site.step(f"rtb.{t.name}") for t in network.route_tables
              if set(t.subnets) & set(alb.subnets)]
    rules = [site.step(f"sg-rules.{g}") for g in alb.security_groups]
    return (*tables, *rules)
