"""Sandbox fixes for the Resource Groups Tagging API (rules: :mod:`vivr_sandbox.fixes`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from vivr_sandbox.fixes.elasticache import _parameter_groups
from vivr_sandbox.fixes.patching import wrap


def _fix_get_resources_lists_every_type_we_tag() -> None:
    """Resource Groups Tagging: GetResources also lists RDS subnet groups, parameter
    groups and event subscriptions, ELBv2 listeners and rules, ElastiCache
    parameter groups and backup plans, with all their tags.

    moto 5.2.5's backends list only some of their types to GetResources (RDS
    instances, clusters and snapshots; balancers and target groups; backup
    vaults), so the tool's tag batch misses the rest and reads their tags one
    by one.  AWS lists every tagged resource type except IAM users and roles
    ("Services that support the Resource Groups Tagging API": "The
    GetResources, GetTagKeys, and GetTagValues operations support all
    resource types"), under the ARN each service's own calls use
    (``rds:subgrp``, ``rds:pg``, ``rds:es``, ``elasticloadbalancing:listener``,
    ``elasticloadbalancing:listener-rule``, ``elasticache:parametergroup``,
    ``backup:backup-plan``).
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
        tagged = backend.tagging_service.get_tag_dict_for_resource
        for balancer in list(backend.load_balancers.values()):
            for listener in list(balancer.listeners.values()):
                yield TaggedResource(listener.arn, tagged(listener.arn),
                                     "elasticloadbalancing:listener")
                for rule in list(listener.rules.values()):
                    yield TaggedResource(rule.arn, tagged(rule.arn),
                                         "elasticloadbalancing:listener-rule")

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


def _fix_get_resources_lists_web_acls_and_schedule_groups() -> None:
    """Resource Groups Tagging: GetResources lists WAFv2 web ACLs (CloudFront-scoped
    ones in us-east-1), EventBridge Scheduler schedule groups, and Route 53 hosted
    zones and health checks (in us-east-1).

    moto 5.2.5's WAFv2, Scheduler and Route 53 backends take no part in the
    tagging API at all; AWS lists their tagged resources like any other
    ("support all resource types").  A CloudFront-scoped web ACL's ARN names
    us-east-1 (``arn:aws:wafv2:us-east-1:...:global/webacl/...``), which is
    where GetResources lists it; moto keeps such ACLs in its ``global``
    backend.  Route 53 is global: its resources (``arn:aws:route53:::
    hostedzone/<id>``, ``healthcheck/<id>``) are listed in us-east-1, as
    CloudFront distributions are (cloud-custodian PR #2729).
    """
    from moto.core.resource_tagging import TaggedResource, make_tag_matcher, match_resource_type
    from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend
    from moto.route53.models import route53_backends
    from moto.scheduler.models import scheduler_backends
    from moto.wafv2.models import GLOBAL_REGION, wafv2_backends

    def untracked(account: str, region: str) -> Iterator[TaggedResource]:
        if account in wafv2_backends:
            regions = [region, GLOBAL_REGION] if region == "us-east-1" else [region]
            for where in regions:
                waf = wafv2_backends[account][where]
                for acl in list(waf.wacls.values()):
                    yield TaggedResource(acl.arn,
                                         waf.tagging_service.get_tag_dict_for_resource(acl.arn),
                                         "wafv2:webacl")
        if account in route53_backends and region == "us-east-1":
            route53 = route53_backends[account]["aws"]
            listed = [("hostedzone", zone.resource_id) for zone in list(route53.zones.values())]
            listed += [("healthcheck", check.id)
                       for check in list(route53.health_checks.values())]
            for kind, ident in listed:
                yield TaggedResource(f"arn:aws:route53:::{kind}/{ident}",
                                     dict(route53.resource_tags.get(ident, {})),
                                     f"route53:{kind}")
        if account in scheduler_backends:
            scheduler = scheduler_backends[account][region]
            for group in list(scheduler.schedule_groups.values()):
                yield TaggedResource(group.arn, scheduler.tagger.get_tag_dict_for_resource(
                    group.arn), "scheduler:schedule-group")

    @wrap(ResourceGroupsTaggingAPIBackend, "_get_resources_generator")
    def resources(original: Any, self: Any, tag_filters: Any = None,
                  resource_type_filters: Any = None,
                  resource_arn_list: Any = None) -> Iterator[TaggedResource]:
        yield from original(self, tag_filters=tag_filters,
                            resource_type_filters=resource_type_filters,
                            resource_arn_list=resource_arn_list)
        matches = make_tag_matcher(tag_filters)
        for resource in untracked(self.account_id, self.region_name):
            if (resource.tags and matches(resource.tags)
                    and match_resource_type(resource.resource_type, resource_type_filters)
                    and (not resource_arn_list or resource.arn in resource_arn_list)):
                yield resource


def _fix_get_resources_pages_by_the_limit_sent() -> None:
    """Resource Groups Tagging: GetResources pages by ``ResourcesPerPage`` alone when only
    that limit is sent.

    moto 5.2.5 applies a ``TagsPerPage`` of 100 whenever the request does not
    send one, so a request for 100 resources a page comes back about 14 of
    our resources (7 tags each) a page.  AWS's API reference offers the two
    as alternatives ("AWS recommends using ResourcesPerPage instead of this
    parameter") and documents no default tag limit; the sandbox therefore
    splits pages by the limit the request names.  Whether AWS also splits by
    tags when only ``ResourcesPerPage`` is sent is not documented (README,
    "What the emulator cannot verify").
    """
    import threading

    from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend
    from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

    resources_only = threading.local()

    @wrap(ResourceGroupsTaggingAPIResponse, "get_resources")
    def get_resources(original: Any, self: Any) -> Any:
        resources_only.on = (self._get_param("TagsPerPage") is None
                             and self._get_param("ResourcesPerPage") is not None)
        try:
            return original(self)
        finally:
            resources_only.on = False

    @wrap(ResourceGroupsTaggingAPIBackend, "get_resources")
    def backend_get_resources(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(resources_only, "on", False):
            kwargs["tags_per_page"] = 10**9
        return original(self, *args, **kwargs)


FIXES = [_fix_get_resources_lists_every_type_we_tag,
         _fix_get_resources_lists_web_acls_and_schedule_groups,
         _fix_get_resources_pages_by_the_limit_sent]
