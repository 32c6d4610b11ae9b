"""RDS event subscriptions: instance failures, failovers, low storage, maintenance to DevOps.

Why it is built this way:

* **One subscription per region with instances** (``rds-events`` and
  ``dr.rds-events``).  RDS publishes only to a topic of the instance's
  region, so the primary region's subscription names the primary and its
  same-region replicas and notifies ``sns.<topic>``; the DR region's names
  the cross-region replica and notifies ``dr.sns.<topic>``.  After ``dr
  promote`` the promoted instance keeps its identifier, so the DR
  subscription keeps covering it.
* **Source ids are listed, not "every instance"**: staging and production
  share a region, and a subscription without ``SourceIds`` would mail each
  environment's DevOps the other's events.
* **No categories means every category**: ``EventCategories`` is left out of
  the create, and RDS lists none (``EventCategoriesList`` empty).  The API
  has no documented way to go back from a list to "every category" in
  place, so that change replaces the subscription (destroy, then apply).
* **Source ids converge by add/remove** (``ModifyEventSubscription`` cannot
  change them; botocore's model: ``AddSourceIdentifierToSubscription`` /
  ``RemoveSourceIdentifierFromSubscription``); the topic, categories and
  the switch go in one ``ModifyEventSubscription``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.ops import RdsEventsConfig
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.common import KindStep, aws_tags, gone_on
from vivr_provision.steps.drift import NAME, TAGS, Field, converge, drift
from vivr_provision.steps.kinds import EVENT_SUBSCRIPTION

FAMILY = "rds-events"


def _primary_site(config: PlatformConfig) -> Site:
    return Site(prefix="", region=config.aws.region)


def rds_event_sources(config: PlatformConfig) -> list[tuple[Site, list[str]]]:
    """Each site with DB instances and the instance steps' identifiers there."""
    if config.monitoring.rds_events is None:
        return []
    rds = config.rds
    here = [rds.identifier, *(r.identifier for r in rds.read_replicas
                              if r.region == config.aws.region)]
    sites = [(_primary_site(config), here)]
    away = [r.identifier for r in rds.read_replicas if r.region == config.dr.region
            and r.region != config.aws.region]
    if away:
        sites.append((Site(prefix="dr.", region=config.dr.region), away))
    return sites


def rds_event_topic_sites(config: PlatformConfig) -> list[tuple[Site, str]]:
    """(site, topic key) pairs whose topic copy the subscriptions need outside aws.region."""
    events = config.monitoring.rds_events
    if events is None:
        return []
    return [(site, events.topic) for site, _ in rds_event_sources(config) if site.prefix]


class RdsEventSubscriptionStep(KindStep):
    """``monitoring.rds_events`` in one region, for that region's instances."""

    family = FAMILY
    service = "rds"
    kind = EVENT_SUBSCRIPTION
    expected_seconds = 3.0

    def __init__(self, config: PlatformConfig, events: RdsEventsConfig, identifiers: list[str],
                 *, site: Site | None = None) -> None:
        super().__init__(config, site=site)
        self.events = events
        self.identifiers = sorted(identifiers)

    def resource_name(self) -> str:
        return self.events.name

    @property
    def topic_step(self) -> str:
        return self.site.step(f"sns.{self.events.topic}")

    def instance_step(self, identifier: str) -> str:
        """The instance's step (a DR replica is on the DR site)."""
        return self.site.step(f"rds.{identifier}")

    def depends_on(self) -> tuple[str, ...]:
        # CreateEventSubscription answers SourceNotFound for an instance not there yet.
        return (self.topic_step, *(self.instance_step(i) for i in self.identifiers))

    def topic_arn(self, ctx: StepContext) -> str:
        return str(ctx.output(self.topic_step, "topic_arn"))

    def _categories(self) -> dict[str, Any]:
        """``EventCategories`` when the config lists some; none means every category."""
        wanted = sorted(self.events.categories)
        return {"EventCategories": wanted} if wanted else {}

    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.client("rds", self.region).create_event_subscription(
            SubscriptionName=self.events.name, SnsTopicArn=self.topic_arn(ctx),
            SourceType=self.events.source_type, **self._categories(),
            SourceIds=self.identifiers, Enabled=self.events.enabled,
            Tags=aws_tags(self.tags()))
        return self.reread(ctx)

    def fields(self) -> tuple[Field, ...]:
        """The settings; back to "every category" is a replacement (see the module)."""
        return (
            NAME,
            TAGS,
            Field("topic", lambda d: d.get("SnsTopicArn"), lambda s, ctx: s.topic_arn(ctx),
                  apply="modify_subscription"),
            Field("source_type", lambda d: d.get("SourceType"),
                  lambda s, ctx: s.events.source_type, apply="modify_subscription"),
            Field("categories", lambda d: sorted(d.get("EventCategoriesList") or []),
                  lambda s, ctx: sorted(s.events.categories), compare="unordered",
                  effect="in_place" if self.events.categories else "replace",
                  apply="modify_subscription"),
            Field("enabled", lambda d: d.get("Enabled"), lambda s, ctx: s.events.enabled,
                  apply="modify_subscription"),
            Field("source_ids", lambda d: sorted(d.get("SourceIdsList") or []),
                  lambda s, ctx: s.identifiers, compare="unordered",
                  apply="converge_sources"),
        )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields())

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields())
        return self.reread(ctx)

    def modify_subscription(self, ctx: StepContext, resource: Resource,
                            changes: list[Change]) -> None:
        ctx.client("rds", self.region).modify_event_subscription(
            SubscriptionName=self.events.name, SnsTopicArn=self.topic_arn(ctx),
            SourceType=self.events.source_type, **self._categories(),
            Enabled=self.events.enabled)

    def converge_sources(self, ctx: StepContext, resource: Resource,
                         changes: list[Change]) -> None:
        rds = ctx.client("rds", self.region)
        have = set(resource.data.get("SourceIdsList") or [])
        for identifier in sorted(set(self.identifiers) - have):
            rds.add_source_identifier_to_subscription(SubscriptionName=self.events.name,
                                                      SourceIdentifier=identifier)
        for identifier in sorted(have - set(self.identifiers)):
            rds.remove_source_identifier_from_subscription(SubscriptionName=self.events.name,
                                                           SourceIdentifier=identifier)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(EVENT_SUBSCRIPTION.not_found, ctx.client("rds", self.region)
                .delete_event_subscription, SubscriptionName=self.events.name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        data: Mapping[str, Any] = resource.data
        return {"id": self.events.name, "name": self.events.name,
                "arn": data.get("EventSubscriptionArn"), "source_ids": self.identifiers}


def rds_event_steps(config: PlatformConfig) -> list[Step]:
    """One subscription per site with DB instances (none without ``monitoring.rds_events``)."""
    events = config.monitoring.rds_events
    if events is None:
        return []
    return [RdsEventSubscriptionStep(config, events, ids, site=site if site.prefix else None)
            for site, ids in rds_event_sources(config)]


__all__ = ["RdsEventSubscriptionStep", "rds_event_sources", "rds_event_steps",
           "rds_event_topic_sites"]
