"""RDS event subscriptions (issue 12): one per region with instances, requests and drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig, parse_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps.base import Resource
from vivr_provision.steps.drift import NAME_KEY
from vivr_provision.steps.monitoring import monitoring_steps
from vivr_provision.steps.rds_events import RdsEventSubscriptionStep, rds_event_steps

NAME = "vivr-production-db-events"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:vivr-production-devops-alerts"
DR_TOPIC = f"arn:aws:sns:us-west-2:{ACCOUNT}:vivr-production-devops-alerts"
OUTPUTS = {"sns.devops": {"topic_arn": TOPIC}, "dr.sns.devops": {"topic_arn": DR_TOPIC}}
#: A config that names categories (production subscribes to every category: none named).
CATEGORIES = ["failover", "failure", "low storage", "maintenance"]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _listing(config: PlatformConfig) -> PlatformConfig:
    events = config.monitoring.rds_events
    assert events is not None
    return config.model_copy(update={"monitoring": config.monitoring.model_copy(update={
        "rds_events": events.model_copy(update={"categories": CATEGORIES})})})


def _steps(config: PlatformConfig) -> dict[str, RdsEventSubscriptionStep]:
    return {s.name: s for s in rds_event_steps(config)
            if isinstance(s, RdsEventSubscriptionStep)}


def test_each_region_subscribes_its_own_instances_to_its_own_devops_topic(
        config: PlatformConfig) -> None:
    steps = _steps(config)
    assert {name: (s.region, s.identifiers, s.depends_on()) for name, s in steps.items()} == {
        "rds-events": ("us-east-1", ["vivr-db", "vivr-db-replica-1"],
                       ("sns.devops", "rds.vivr-db", "rds.vivr-db-replica-1")),
        "dr.rds-events": ("us-west-2", ["vivr-db-dr"], ("dr.sns.devops", "dr.rds.vivr-db-dr")),
    }
    # The DR subscription's topic copy is built even if no DR alarm needed it.
    assert "dr.sns.devops" in {s.name for s in monitoring_steps(config)}


def test_without_the_block_there_is_no_subscription(config: PlatformConfig) -> None:
    off = config.model_copy(update={"monitoring": config.monitoring.model_copy(
        update={"rds_events": None})})
    assert rds_event_steps(off) == []


def _live(step: RdsEventSubscriptionStep, **edits: Any) -> dict[str, Any]:
    """DescribeEventSubscriptions' entry as created, read through the kind."""
    return {"CustSubscriptionId": NAME, NAME_KEY: NAME, "SnsTopicArn": TOPIC,
            "SourceType": "db-instance",
            "EventCategoriesList": list(reversed(step.events.categories)),
            "SourceIdsList": ["vivr-db-replica-1", "vivr-db"], "Enabled": True,
            "EventSubscriptionArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:es:{NAME}",
            "TagMap": step.tags(), **edits}


@pytest.mark.parametrize("listing", [False, True], ids=["every category", "listed"])
def test_create_sends_the_configured_subscription(config: PlatformConfig, listing: bool) -> None:
    """Production subscribes to every category: no EventCategories at all (RDS API)."""
    step = _steps(_listing(config) if listing else config)["rds-events"]
    arn = f"arn:aws:rds:us-east-1:{ACCOUNT}:es:{NAME}"
    with StubbedAws() as aws:
        aws.expect("rds", "create_event_subscription", {}, {
            "SubscriptionName": NAME, "SnsTopicArn": TOPIC, "SourceType": "db-instance",
            **({"EventCategories": CATEGORIES} if listing else {}),
            "SourceIds": ["vivr-db", "vivr-db-replica-1"], "Enabled": True,
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(step.tags().items())]})
        aws.expect("rds", "describe_event_subscriptions", {"EventSubscriptionsList": [{
            "CustSubscriptionId": NAME, "SnsTopicArn": TOPIC, "EventSubscriptionArn": arn}]},
            {"SubscriptionName": NAME})
        aws.expect("rds", "list_tags_for_resource", {"TagList": [
            {"Key": k, "Value": v} for k, v in step.tags().items()]}, {"ResourceName": arn})
        created = step.create(aws.context(config, OUTPUTS), "token")
    assert created.id == NAME


@pytest.mark.parametrize(("listing", "edits", "expected"), [
    (False, {}, []),
    (True, {}, []),
    (False, {"Enabled": False}, [("enabled", False, True, False)]),
    (True, {"EventCategoriesList": ["failure"]},
     [("categories", ["failure"], CATEGORIES, False)]),
    # Back to every category: no documented in-place call, so a replacement.
    (False, {"EventCategoriesList": ["failure"]}, [("categories", ["failure"], [], True)]),
    (False, {"SourceIdsList": ["vivr-db", "vivr-db-old"]},
     [("source_ids", ["vivr-db", "vivr-db-old"], ["vivr-db", "vivr-db-replica-1"], False)]),
])
def test_drift(config: PlatformConfig, listing: bool, edits: dict[str, Any],
               expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = _steps(_listing(config) if listing else config)["rds-events"]
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS), Resource(NAME, _live(step, **edits)))
    assert [(c.field, c.current, c.desired, c.replace) for c in changes] == expected


def test_update_modifies_settings_and_moves_source_ids_one_by_one(
        config: PlatformConfig) -> None:
    """ModifyEventSubscription cannot change source ids: they are added and removed."""
    step = _steps(_listing(config))["rds-events"]
    drifted = Resource(NAME, _live(step, Enabled=False, SourceIdsList=["vivr-db", "old-db"]))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, drifted)
        aws.expect("rds", "modify_event_subscription", {}, {
            "SubscriptionName": NAME, "SnsTopicArn": TOPIC, "SourceType": "db-instance",
            "EventCategories": CATEGORIES, "Enabled": True})
        aws.expect("rds", "add_source_identifier_to_subscription", {}, {
            "SubscriptionName": NAME, "SourceIdentifier": "vivr-db-replica-1"})
        aws.expect("rds", "remove_source_identifier_from_subscription", {}, {
            "SubscriptionName": NAME, "SourceIdentifier": "old-db"})
        arn = drifted.data["EventSubscriptionArn"]
        aws.expect("rds", "describe_event_subscriptions", {"EventSubscriptionsList": [{
            "CustSubscriptionId": NAME, "EventSubscriptionArn": arn}]})
        aws.expect("rds", "list_tags_for_resource", {"TagList": [
            {"Key": k, "Value": v} for k, v in step.tags().items()]})
        step.update(ctx, drifted, changes)


def test_delete_of_a_subscription_already_gone_is_done(config: PlatformConfig) -> None:
    step = _steps(config)["dr.rds-events"]
    with StubbedAws() as aws:
        aws.expect_error("rds", "delete_event_subscription", "SubscriptionNotFound",
                         params={"SubscriptionName": NAME}, status=404, region="us-west-2")
        step.delete(aws.context(config, OUTPUTS), Resource(NAME, {}))


# --------------------------------------------------------------------------- config
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["monitoring"]["rds_events"].update(topic="pager"),
     "rds_events.topic: 'pager' is not a key of topics"),
    (lambda d: d["monitoring"]["rds_events"].update(categories=["failures"]),
     "categories"),
    # The dr.sns.* copies are encrypted with dr.kms: no multi-Region key, no DR key.
    (lambda d: (d["kms"].update(multi_region=False),
                d["dr"]["standby"].update(replicate_secrets=False)),
     "monitoring.encrypt_topics: the topics in dr.region are encrypted with the key's "
     "replica there, which needs kms.multi_region: true"),
])
def test_a_wrong_block_is_refused_with_its_path(mutate: Callable[[dict[str, Any]], Any],
                                                expected: str) -> None:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "production.yaml")
    assert expected in str(caught.value)
