"""The Application Load Balancer: target group, load balancer and listeners.

Three kinds of steps, because AWS orders them both ways: the listeners need
the load balancer, the target group and (HTTPS) the issued certificate;
on teardown they must go first, or the target group cannot be deleted
("currently in use by a listener", ResourceInUse).  The declared
dependencies give both orders.  One module per step
(:mod:`~vivr_provision.steps.alb.target_group`,
:mod:`~vivr_provision.steps.alb.load_balancer`,
:mod:`~vivr_provision.steps.alb.listener`, the listener's origin-check
rules in :mod:`~vivr_provision.steps.alb.rules`); this module builds them.

ELBv2 create calls are idempotent on AWS when repeated with the same
settings, but not every implementation honours that (a local emulator
creates a second load balancer of the same name, or a second listener on
the same port), so each step looks up its resource first: load balancer and
target group by name, a listener by (load balancer, port).  Everything is
created with our ownership tags and adopted only when it carries them.

The same classes build two balancers: the primary one from ``config.alb``
(steps ``alb-target-group``, ``alb``, ``alb-listener.<port>``) and the DR
region's standby from ``config.dr.alb`` on the DR
:class:`~vivr_provision.steps.base.Site` (``dr.alb`` ...).  Every step
reads its settings from the :class:`AlbConfig` it was given and names its
dependencies through its site (``dr.vpc``, ``dr.subnet.*``, ``dr.sg.*``,
``dr.acm``), because subnets, groups and certificates are regional.  Only
the access-log bucket is a primary-region step (``s3.<key>``): an ALB logs
only to a bucket of its own region, so config validation keeps the
standby's logging off.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import AlbConfig
from vivr_provision.steps.alb.common import (
    ACM_STEP,
    LB_STEP,
    LISTENER_FAMILY,
    TG_STEP,
    AlbPartStep,
    arn_resource,
)
from vivr_provision.steps.alb.listener import ListenerStep
from vivr_provision.steps.alb.load_balancer import LoadBalancerStep
from vivr_provision.steps.alb.target_group import TargetGroupStep
from vivr_provision.steps.base import Site, Step


def site_alb_steps(config: PlatformConfig, alb: AlbConfig, site: Site | None = None, *,
                   lb_after: tuple[str, ...] = ()) -> list[Step]:
    """Target group, load balancer, then one step per listener, of one site's balancer.

    ``lb_after``: extra ordering dependencies of the load balancer step.
    """
    steps: list[Step] = [TargetGroupStep(config, alb, site=site),
                         LoadBalancerStep(config, alb, site=site, after=lb_after)]
    steps += [ListenerStep(config, alb, listener, site=site) for listener in alb.listeners]
    return steps


def alb_steps(config: PlatformConfig) -> list[Step]:
    """The primary region's balancer (``config.alb``), steps named without a prefix."""
    return site_alb_steps(config, config.alb)


__all__ = ["ACM_STEP", "LB_STEP", "LISTENER_FAMILY", "TG_STEP", "AlbPartStep", "ListenerStep",
           "LoadBalancerStep", "TargetGroupStep", "alb_steps", "arn_resource", "site_alb_steps"]
