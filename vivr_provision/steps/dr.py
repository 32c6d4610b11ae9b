"""Disaster-recovery site: the DR region's own network and security groups.

The same step classes as the primary region, placed on a second
:class:`~vivr_provision.steps.base.Site` (name prefix ``dr.``, region
``dr.region``), so one graph holds both and destroy orders them together.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Site, Step
from vivr_provision.steps.network import site_network_steps
from vivr_provision.steps.security import site_security_steps


def dr_site(config: PlatformConfig) -> Site:
    return Site(prefix="dr.", region=config.dr.region)


def dr_network_steps(config: PlatformConfig) -> list[Step]:
    """The DR VPC, subnets, route tables and groups, when DR is on and has a network."""
    if not config.dr.enabled or config.dr.network is None:
        return []
    site = dr_site(config)
    return (site_network_steps(config, config.dr.network, site)
            + site_security_steps(config, config.dr.security_groups, site))
