"""RDS fixes: changing an event subscription (see :mod:`vivr_sandbox.fixes` for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import add_missing


def _fix_modify_event_subscription() -> None:
    """RDS: ModifyEventSubscription, AddSourceIdentifierToSubscription and
    RemoveSourceIdentifierFromSubscription change a subscription.

    moto 5.2.5 creates, describes and deletes event subscriptions but has none
    of the three calls that change one (a 500 NotImplemented), so drift on a
    subscription (``monitoring.rds_events``) could not be repaired in the
    sandbox.  AWS changes the topic, source type, categories and switch in
    place and moves source ids one at a time, answering the subscription
    (botocore's RDS model); an unknown name is ``SubscriptionNotFound``.
    """
    from moto.core.responses import ActionResult
    from moto.rds.models import RDSBackend
    from moto.rds.responses import RDSResponse

    def modify(self: Any, name: str, changes: dict[str, Any]) -> Any:
        [subscription] = self.describe_event_subscriptions(name)  # SubscriptionNotFound
        for key in ("sns_topic_arn", "source_type", "event_categories", "enabled"):
            if changes.get(key) is not None:
                setattr(subscription, key, changes[key])
        return subscription

    def move_source(self: Any, name: str, identifier: str, add: bool) -> Any:
        [subscription] = self.describe_event_subscriptions(name)
        ids = [i for i in subscription.source_ids if i != identifier]
        subscription.source_ids = [*ids, identifier] if add else ids
        return subscription

    add_missing(RDSBackend, "modify_event_subscription", modify)
    add_missing(RDSBackend, "move_event_source", move_source)

    def modify_response(self: Any) -> Any:
        params = dict(self.params)
        subscription = self.backend.modify_event_subscription(
            params.pop("subscription_name"), params)
        return ActionResult({"EventSubscription": subscription})

    def source_response(add: bool) -> Callable[[Any], Any]:
        def respond(self: Any) -> Any:
            subscription = self.backend.move_event_source(
                self.params["subscription_name"], self.params["source_identifier"], add)
            return ActionResult({"EventSubscription": subscription})
        return respond

    add_missing(RDSResponse, "modify_event_subscription", modify_response)
    add_missing(RDSResponse, "add_source_identifier_to_subscription", source_response(True))
    add_missing(RDSResponse, "remove_source_identifier_from_subscription",
                source_response(False))


FIXES: list[Callable[[], None]] = [_fix_modify_event_subscription]
