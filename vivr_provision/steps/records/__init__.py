"""Route 53 records in front of the platform, and the health check behind failover.

Spec "High-Level Architecture" puts Route 53 in front of CloudFront, and
"Failover Architecture / Route53 Health Check" has Route 53 watch the
primary ALB and fail over to the standby ALB in the DR region with a 60 s
TTL.  Three step families live here, one module each (:mod:`.alias`,
:mod:`.health_check`, :mod:`.failover`; what the record steps share in
:mod:`.common`):

``dns-alias.<name>``
    One alias record set per configured type (A, AAAA) pointing at the
    CloudFront distribution (or the ALB).  Records carry no tags, so
    ownership is decided by value: a record is ours when it points where
    this step points it (now, or as recorded at the last apply).  Apply
    rewrites a record that drifted (the config says where the name points);
    destroy deletes only records that are still ours and refuses otherwise,
    because a record someone repointed is theirs now.

``health-check.primary-alb``
    The HTTPS check of the primary ALB.  ``CreateHealthCheck`` takes no
    tags, so they are added by a second call; a crash in between leaves an
    untagged check that is still recognised as ours by its
    ``CallerReference`` (the engine's deterministic token), exactly as the
    hosted zone does.  The lookup never relies on the server honouring the
    reference (a local emulator creates a new check on every call): it
    lists the checks and reads their tags before any create.

``health-check.standby-alb``
    Only with ``secondary_health_check`` on the failover records (off in
    production): the same check of the standby ALB, attached to the
    SECONDARY.

``dns-failover.<name>``
    The failover pair: PRIMARY (CNAME to the primary ALB, the health check
    attached) and SECONDARY (CNAME to the DR region's standby ALB,
    ``dr.alb``, by default no health check: Route 53 answers it whenever
    the PRIMARY is unhealthy), both with the spec's 60 s TTL.  CloudFront's
    application origin is this name (``failover_record``), so the pair is
    on the path requests take.  Config validation lets a
    failover record through only with ``dr.standby.alb`` and a ``dr.alb``
    section, so the pair is always written whole.  Destroy deletes each
    record only while it holds the value this step writes.

Every write goes through :func:`~vivr_provision.steps.dns.change_records`
(one atomic batch, then the INSYNC wait) and every read through
:func:`~vivr_provision.steps.dns.get_record`, so an UPSERT is sent only when
what Route 53 holds differs, and a DELETE carries the record exactly as it is.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import Route53HealthCheckConfig
from vivr_provision.errors import ConfigError
from vivr_provision.steps.base import Step
from vivr_provision.steps.dr import standby_alb_step
from vivr_provision.steps.records.alias import AliasRecordStep
from vivr_provision.steps.records.common import (
    STANDBY_CHECK_KEY,
    RecordRepointedError,
    same_record,
)
from vivr_provision.steps.records.failover import FailoverRecordStep
from vivr_provision.steps.records.health_check import HealthCheckStep


def _one_check(config: PlatformConfig, field: str,
               watches: str) -> Route53HealthCheckConfig | None:
    """The one ``field`` check every failover record describes (None: no records, or the
    field unset); records that disagree are a config error, as one check watches ``watches``."""
    records = config.route53.failover_records
    if not records:
        return None
    first: Route53HealthCheckConfig | None = getattr(records[0], field)
    for index, record in enumerate(records[1:], start=1):
        if getattr(record, field) != first:
            raise ConfigError(
                f"route53.failover_records[{index}].{field} differs from "
                f"failover_records[0].{field}: one health check watches {watches}")
    return first


def _health_check(config: PlatformConfig) -> Route53HealthCheckConfig | None:
    """The one check of the primary ALB; every failover record must describe the same."""
    return _one_check(config, "health_check", "the primary ALB")


def _standby_check(config: PlatformConfig) -> Route53HealthCheckConfig | None:
    """The one check of the standby ALB (``secondary_health_check``), or None: all must agree."""
    return _one_check(config, "secondary_health_check", "the standby ALB")


def record_steps(config: PlatformConfig) -> list[Step]:
    """Alias records, the ALBs' health checks and the failover records."""
    steps: list[Step] = [AliasRecordStep(config, r) for r in config.route53.records]
    check = _health_check(config)
    if check is not None:
        steps.append(HealthCheckStep(config, check))
        standby = _standby_check(config)
        if standby is not None and config.dr.alb is not None:
            steps.append(HealthCheckStep(config, standby, key=STANDBY_CHECK_KEY,
                                         alb_step=standby_alb_step(config),
                                         alb_name=config.dr.alb.name))
        steps += [FailoverRecordStep(config, r) for r in config.route53.failover_records]
    return steps


__all__ = ["AliasRecordStep", "FailoverRecordStep", "HealthCheckStep", "RecordRepointedError",
           "record_steps", "same_record"]
