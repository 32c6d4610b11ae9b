"""Disaster-recovery site: the DR region's network, security groups and standby ALB.

The same step classes as the primary region, placed on a second
:class:`~vivr_provision.steps.base.Site` (name prefix ``dr.``, region
``dr.region``), so one graph holds both and destroy orders them together.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.acm import CertificateStep
from vivr_provision.steps.alb import ACM_STEP, LB_STEP, site_alb_steps
from vivr_provision.steps.base import Site, Step
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
