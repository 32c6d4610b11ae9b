"""Sandbox fixes for the Resource Groups Tagging API (rules: :mod:`vivr_sandbox.fixes`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from vivr_sandbox.fixes.elasticache import _parameter_groups
from vivr_sandbox.fixes.patching import wrap


def _fix_get_resources_lists_every_type_we_tag() -> None:
    """Resource Groups Tagging: GetResources also lists RDS subnet groups, parameter
    groups and event subscriptions, ELBv2 listeners, ElastiCache parameter groups
    and backup plans, with all their tags.

    moto 5.2.5's backends list only some of their types to GetResources (RDS
    instances, clusters and snapshots; balancers and target groups; backup
    vaults), so the tool's tag batch misses the rest and reads their tags one
    by one.  AWS lists every tagged resource type except IAM users and roles
    ("Services that support the Resource Groups Tagging API": "The
    GetResources, GetTagKeys, and GetTagValues operations support all
    resource types"), under the ARN each service's own calls use
    (``rds:subgrp``, ``rds:pg``, ``rds:es``, ``elasticloadbalancing:listener``,
    ``elasticache:parametergroup``, ``backup:backup-plan``).
    """
    from moto.backup.models import BackupBackend
    from moto.core.resource_tagging import TaggedResource
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elbv2.models import ELBv2Backend
    from moto.rds.models import RDSBackend

    def rds_extra(backend: Any) -> Iterator[TaggedResource]:
        for kind, resources in (("rds:subgrp", backend.subnet_groups.values()),
                                ("rds:pg", backend.db_parameter_groups.values()),
                                ("rds:es", backend.event_subscriptions.values())):
            for resource in list(resources):
                yield TaggedResource(resource.arn,
                                     {t["Key"]: t["Value"] for t in resource.get_tags()}, kind)

    def elbv2_extra(backend: Any) -> Iterator[TaggedResource]:
        for balancer in list(backend.load_balancers.values()):
            for listener in list(balancer.listeners.values()):
                yield TaggedResource(
                    listener.arn, backend.tagging_service.get_tag_dict_for_resource(listener.arn),
                    "elasticloadbalancing:listener")

    def cache_extra(backend: Any) -> Iterator[TaggedResource]:
        for group in list(_parameter_groups(backend).values()):
            yield TaggedResource(group.arn,
                                 backend.tagging_service.get_tag_dict_for_resource(group.arn),
                                 "elasticache:parametergroup")

    def backup_extra(backend: Any) -> Iterator[TaggedResource]:
        for plan in list(backend.plans.values()):
            if plan.deletion_date is None:
                arn = plan.backup_plan_arn
                yield TaggedResource(arn, backend.tagger.get_tag_dict_for_resource(arn),
                                     "backup:backup-plan")

    extras: list[tuple[type, Callable[[Any], Iterator[TaggedResource]]]] = [
        (RDSBackend, rds_extra), (ELBv2Backend, elbv2_extra),
        (ElastiCacheBackend, cache_extra), (BackupBackend, backup_extra)]
    for backend_class, extra in extras:
        def listed(original: Any, self: Any,
                   more: Callable[[Any], Iterator[TaggedResource]] = extra
                   ) -> Iterator[TaggedResource]:
            yield from original(self)
            yield from more(self)

        wrap(backend_class, "iter_tagged_resources")(listed)


FIXES = [_fix_get_resources_lists_every_type_we_tag]
