"""Sandbox fixes for log delivery (CloudWatch Logs deliveries, ElastiCache log delivery).

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that
module for the rules: applied in the sandbox server's own process, never in
the product's code path).  Each fix's docstring says what moto 5.2.5 does,
what AWS does and why the tool needs it; its first paragraph is the line
``apply_moto_fixes`` returns.  moto is imported inside the fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap

#: Log types an Application Load Balancer delivery source sends (botocore logs
#: model, PutDeliverySource.logType).
ALB_LOG_TYPES = frozenset({"ALB_ACCESS_LOGS", "ALB_CONNECTION_LOGS", "ALB_HEALTH_CHECK_LOGS"})


def _fix_logs_alb_delivery_source() -> None:
    """Logs: PutDeliverySource accepts an Application Load Balancer (ALB_ACCESS_LOGS,
    ALB_CONNECTION_LOGS, ALB_HEALTH_CHECK_LOGS).

    moto 5.2.5 knows a fixed list of delivery source services (CloudFront,
    Bedrock, WorkMail ...) and answers an ``elasticloadbalancing`` ARN with
    ``ResourceNotFoundException: Cannot access provided service``.  AWS
    takes ALBs with these log types (botocore's logs model documents them),
    so delivering ALB access logs into a log group failed only here.  The
    fix stores such a source the way moto stores the others, with moto's
    own conflict rules (tags only on create, no change of resource).
    """
    from moto.logs.exceptions import ConflictException, ValidationException
    from moto.logs.models import DeliverySource, LogsBackend

    @wrap(LogsBackend, "put_delivery_source")
    def put_delivery_source(original: Any, self: Any, **params: Any) -> Any:
        # moto's handler passes name, resource_arn, log_type and tags by keyword.
        name, resource_arn = str(params["name"]), str(params["resource_arn"])
        log_type, tags = params["log_type"], params.get("tags")
        parts = resource_arn.split(":")
        if len(parts) < 6 or parts[2] != "elasticloadbalancing" or \
                not parts[5].startswith("loadbalancer/app/"):
            return original(self, **params)
        if log_type not in ALB_LOG_TYPES:
            raise ValidationException(" This service is not allowed for this LogSource.")
        existing = self.delivery_sources.get(name)
        if existing is not None:
            if tags:
                raise ConflictException(msg="Tags can only be provided when a resource is "
                                            "being created, not updated.")
            if resource_arn not in existing.resource_arns:
                raise ConflictException(msg="Update to existing Delivery Source with new "
                                            "ResourceId is not allowed. Please create a new "
                                            "Delivery Source instead.")
        source = DeliverySource(account_id=self.account_id, region=self.region_name, name=name,
                                resource_arn=resource_arn, log_type=log_type, tags=tags)
        self.delivery_sources[name] = source
        if tags:
            self.tag_resource(source.arn, tags)
        return source


def _fix_logs_delete_delivery_parts_in_use() -> None:
    """Logs: a delivery source or destination that a delivery still uses cannot be deleted
    (ConflictException).

    moto 5.2.5 deletes them and leaves the delivery pointing at nothing.  AWS
    refuses ("You can't delete a delivery source if any current deliveries
    are associated with it", the same for a destination: botocore's logs
    model), so a teardown in the wrong order works only here.  The fix
    refuses while a delivery names the source or the destination's ARN.
    """
    from moto.logs.exceptions import ConflictException
    from moto.logs.models import LogsBackend

    @wrap(LogsBackend, "delete_delivery_source")
    def delete_delivery_source(original: Any, self: Any, name: str) -> None:
        if any(d.delivery_source_name == name for d in self.deliveries.values()):
            raise ConflictException(msg="Delivery source is used by a delivery; delete the "
                                        "delivery first.")
        original(self, name)

    @wrap(LogsBackend, "delete_delivery_destination")
    def delete_delivery_destination(original: Any, self: Any, name: str) -> None:
        found = self.delivery_destinations.get(name)
        if found is not None and any(d.delivery_destination_arn == found.arn
                                     for d in self.deliveries.values()):
            raise ConflictException(msg="Delivery destination is used by a delivery; delete "
                                        "the delivery first.")
        original(self, name)


def _fix_elasticache_modify_log_delivery() -> None:
    """ElastiCache: ModifyReplicationGroup applies LogDeliveryConfigurations (enable,
    change, and disable with Enabled=false).

    moto 5.2.5 stores LogDeliveryConfigurations on create only; its modify
    handler never reads them, so a replication group created without log
    delivery (or with other groups) can never be converged and shows drift
    on every apply.  AWS applies them (with ApplyImmediately) and reports
    each log type until it is disabled.  The fix replaces the configuration
    of each log type sent, and drops a log type sent with ``Enabled`` false.
    """
    from moto.elasticache.responses import ElastiCacheResponse

    @wrap(ElastiCacheResponse, "modify_replication_group")
    def modify_replication_group(original: Any, self: Any) -> Any:
        result = original(self)
        sent = self._get_params().get("LogDeliveryConfigurations")
        if not sent:
            return result
        group = result.result["ReplicationGroup"]
        current = {c["LogType"]: c for c in group.log_delivery_configurations or []}
        for item in sent:
            log_type = item.get("LogType")
            if str(item.get("Enabled", True)).lower() in ("false", "0"):
                current.pop(log_type, None)
                continue
            entry = {k: v for k, v in item.items() if k != "Enabled"}
            # The keys moto's own create stores (its serialiser maps them).
            entry.update(status="active", message="Log delivery configuration is active.")
            current[log_type] = entry
        group.log_delivery_configurations = list(current.values())
        return result


#: The fixes of this module, in application order (``apply_moto_fixes`` runs them).
FIXES: list[Callable[[], None]] = [
    _fix_logs_alb_delivery_source,
    _fix_logs_delete_delivery_parts_in_use,
    _fix_elasticache_modify_log_delivery,
]
