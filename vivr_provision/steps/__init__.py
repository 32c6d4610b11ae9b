"""Step registry: every step family contributes a factory of steps from config.

Adding a resource means one new step class, its config fields, its tests and
one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.acm import acm_steps
from vivr_provision.steps.alb import alb_steps
from vivr_provision.steps.backup_archive import archive_steps
from vivr_provision.steps.base import Step
from vivr_provision.steps.cloudfront import cloudfront_steps
from vivr_provision.steps.default_group import default_group_steps
from vivr_provision.steps.dns import dns_steps
from vivr_provision.steps.dr import dr_cache_steps, dr_network_steps, dr_standby_steps
from vivr_provision.steps.ecs import ecs_steps
from vivr_provision.steps.ecs.standby import standby_ecs_steps
from vivr_provision.steps.elasticache import elasticache_steps
from vivr_provision.steps.flow_logs import flow_log_steps
from vivr_provision.steps.iam import iam_steps
from vivr_provision.steps.kms import kms_steps
from vivr_provision.steps.logs import log_steps
from vivr_provision.steps.monitoring import monitoring_steps
from vivr_provision.steps.network import network_steps
from vivr_provision.steps.pgbouncer import pgbouncer_steps
from vivr_provision.steps.query_logging import query_logging_steps
from vivr_provision.steps.rds import rds_steps
from vivr_provision.steps.rds_events import rds_event_steps
from vivr_provision.steps.records import record_steps
from vivr_provision.steps.redis_export import redis_export_steps
from vivr_provision.steps.s3 import s3_steps
from vivr_provision.steps.secret_policies import secret_policy_steps
from vivr_provision.steps.secret_rotation import rotation_steps
from vivr_provision.steps.secrets import secret_steps
from vivr_provision.steps.security import security_steps
from vivr_provision.steps.service_linked_roles import service_linked_role_steps
from vivr_provision.steps.waf import waf_steps
from vivr_provision.steps.waf_logging import waf_logging_steps

StepFactory = Callable[[PlatformConfig], list[Step]]
#: A factory that reads what else the graph holds (the names of the other steps).
GraphStepFactory = Callable[[PlatformConfig, Collection[str]], list[Step]]

#: Families in declaration order; the engine orders them by dependencies.
FACTORIES: tuple[StepFactory, ...] = (
    network_steps, security_steps, dr_network_steps, default_group_steps,
    service_linked_role_steps, kms_steps, secret_steps, iam_steps, secret_policy_steps,
    rds_steps,
    pgbouncer_steps, elasticache_steps, dr_cache_steps, log_steps, flow_log_steps, s3_steps,
    dns_steps, query_logging_steps, acm_steps, alb_steps, dr_standby_steps, ecs_steps,
    monitoring_steps, rds_event_steps, archive_steps, redis_export_steps,
    waf_steps, waf_logging_steps, cloudfront_steps, rotation_steps,
    record_steps,
)


#: Families built last, from the names of every other step: the standby ECS
#: tier reads the standby Redis (``dr.cache``) only when a family built it,
#: so it works with or without that family in the graph.
GRAPH_FACTORIES: tuple[GraphStepFactory, ...] = (standby_ecs_steps,)


def build_steps(config: PlatformConfig) -> list[Step]:
    """Instantiate every step the config describes."""
    steps = [step for factory in FACTORIES for step in factory(config)]
    names = frozenset(step.name for step in steps)
    return steps + [step for factory in GRAPH_FACTORIES for step in factory(config, names)]


__all__ = ["FACTORIES", "GRAPH_FACTORIES", "Step", "build_steps"]
