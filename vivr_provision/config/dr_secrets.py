"""Which secrets the DR standby reads, and which of them are replicated to ``dr.region``.

Derived from the config, never listed twice: the standby reads what the ECS
container names (``ecs.task_definition.container.secrets``) and the secret
whose value the standby ALB's origin-verify rule matches
(``dr.alb.origin_verify.secret``).  The secret steps replicate these
(:mod:`vivr_provision.steps.secret_replicas`) and ``cost`` prices the replicas.
"""

from __future__ import annotations

from vivr_provision.config.model import PlatformConfig


def standby_secret_keys(config: PlatformConfig) -> frozenset[str]:
    """Keys of the secrets the standby reads: the ECS container's and the
    standby ALB's origin-verify secret (when that balancer has the rule)."""
    keys = {entry.secret for entry in config.ecs.task_definition.container.secrets}
    alb = config.dr.alb
    if config.dr.standby.alb and alb is not None and alb.origin_verify is not None:
        keys.add(alb.origin_verify.secret)
    return frozenset(keys)


def replicated_secret_keys(config: PlatformConfig) -> frozenset[str]:
    """The keys whose secrets have a replica in ``dr.region`` (none when
    ``dr.standby.replicate_secrets`` is off or there is no DR key)."""
    dr = config.dr
    if not (dr.enabled and dr.standby.replicate_secrets and config.kms.multi_region):
        return frozenset()
    return standby_secret_keys(config)


__all__ = ["replicated_secret_keys", "standby_secret_keys"]
