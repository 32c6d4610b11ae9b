"""``dns-failover.<name>``: the failover pair in front of the primary and standby ALBs.

PRIMARY is a CNAME to the primary ALB with the health check attached;
SECONDARY a CNAME to the DR region's standby ALB (``dr.alb``), by default
with no check of its own, so Route 53 answers it whenever the PRIMARY is
unhealthy (``secondary_health_check`` attaches ``health-check.standby-alb``).
Destroy deletes each record only while it holds the value this step writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import FailoverRecordConfig
from vivr_provision.steps.base import (
    Change,
    DependencyMissing,
    Resource,
    StepContext,
)
from vivr_provision.steps.dns import (
    ZONE_STEP,
    fqdn,
)
from vivr_provision.steps.dr import standby_alb_step
from vivr_provision.steps.records.common import (
    ALB_STEP,
    FAILOVER_FAMILY,
    HEALTH_CHECK_STEP,
    PRIMARY_ID,
    SECONDARY_ID,
    STANDBY_CHECK_STEP,
    RecordRepointedError,
    RecordStep,
)


class FailoverRecordStep(RecordStep):
    """``dns-failover.<name>``: PRIMARY to the ALB with the health check; SECONDARY to DR."""

    family = FAILOVER_FAMILY
    #: A destroy of the DR side deletes the SECONDARY, not the pair.
    detaches_other_sites = True

    def __init__(self, config: PlatformConfig, record: FailoverRecordConfig) -> None:
        super().__init__(config, record.name)
        self.record = record
        self.standby_step = standby_alb_step(config)

    @property
    def standby_checked(self) -> bool:
        """Whether the SECONDARY carries the standby ALB's own health check."""
        return self.record.secondary_health_check is not None

    def depends_on(self) -> tuple[str, ...]:
        deps = (ZONE_STEP, ALB_STEP, HEALTH_CHECK_STEP, self.standby_step)
        return (*deps, STANDBY_CHECK_STEP) if self.standby_checked else deps

    def slots(self) -> Sequence[tuple[str, str, str | None]]:
        return [(PRIMARY_ID, self.record.type, PRIMARY_ID),
                (SECONDARY_ID, self.record.type, SECONDARY_ID)]

    def primary(self, ctx: StepContext) -> dict[str, Any]:
        return {"Name": self.record_name, "Type": self.record.type,
                "SetIdentifier": PRIMARY_ID, "Failover": "PRIMARY",
                "TTL": self.record.ttl_seconds,
                "HealthCheckId": str(ctx.output(HEALTH_CHECK_STEP, "health_check_id")),
                "ResourceRecords": [{"Value": str(ctx.output(ALB_STEP, "dns_name"))}]}

    def secondary(self, ctx: StepContext) -> dict[str, Any]:
        """The standby ALB; its own health check only with ``secondary_health_check``.

        A SECONDARY without a check is always considered healthy, so Route 53
        answers it whenever the PRIMARY's check fails, which is the spec's
        "automatic failover".  With a check, Route 53 answers the PRIMARY
        whenever the SECONDARY is unhealthy, "regardless of the health of
        the primary" (Route 53 API reference, ResourceRecordSet ``Failover``):
        on a pilot-light standby (no tasks, so failing) the check changes
        nothing while the primary is healthy and keeps traffic on a dead
        primary when both fail, which is why production leaves it off.
        """
        record = {"Name": self.record_name, "Type": self.record.type,
                  "SetIdentifier": SECONDARY_ID, "Failover": "SECONDARY",
                  "TTL": self.record.ttl_seconds,
                  "ResourceRecords": [{"Value": str(ctx.output(self.standby_step, "dns_name"))}]}
        if self.standby_checked:
            record["HealthCheckId"] = str(ctx.output(STANDBY_CHECK_STEP, "health_check_id"))
        return record

    def desired(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        return {PRIMARY_ID: self.primary(ctx), SECONDARY_ID: self.secondary(ctx)}

    def _why(self) -> str:
        return f"failover pair {self.record_name}"

    def create(self, ctx: StepContext, token: str) -> Resource:
        """UPSERT both: a resumed run may find one of them written already."""
        zone_id = self._zone_id(ctx)
        self._write(ctx, zone_id, {}, self.desired(ctx), [PRIMARY_ID, SECONDARY_ID],
                    why=self._why())
        return self._reread(ctx, zone_id)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return self._changes(resource.data["Records"], self.desired(ctx), {})

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        zone_id = resource.data["ZoneId"]
        self._write(ctx, zone_id, resource.data["Records"], self.desired(ctx),
                    [c.field for c in changes], why=self._why())
        return self._reread(ctx, zone_id)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete both records, only while each still holds the value this step writes.

        A record's expected value needs its target's outputs; it is computed
        only for the records that exist, so a pair whose SECONDARY was never
        written (or was deleted by hand) is still destroyed.
        """
        records: dict[str, dict[str, Any] | None] = resource.data["Records"]
        owned: dict[str, list[dict[str, Any]]] = {}
        for slot, build, target in ((PRIMARY_ID, self.primary, ALB_STEP),
                                    (SECONDARY_ID, self.secondary, self.standby_step)):
            if records.get(slot) is None:
                continue
            try:
                owned[slot] = [build(ctx)]
            except DependencyMissing as exc:
                raise RecordRepointedError(
                    f"{self.name}: {exc}, so whether the {slot.upper()} {self.record_name} "
                    f"still points at {target} cannot be told; it is not deleted: delete it "
                    "by hand and rerun destroy") from exc
        self._delete_owned(ctx, resource, owned,
                           f"PRIMARY CNAME to {ALB_STEP} with the health check, SECONDARY "
                           f"CNAME to {self.standby_step}")

    def detach_changes(self, ctx: StepContext, resource: Resource,
                       gone: frozenset[str]) -> list[Change]:
        """The SECONDARY goes with the standby ALB it names; the PRIMARY stays (Route 53
        answers a lone failover PRIMARY whatever its check says)."""
        secondary = resource.data["Records"].get(SECONDARY_ID)
        if self.standby_step not in gone or secondary is None:
            return []
        values = [r.get("Value") for r in secondary.get("ResourceRecords") or []]
        return [Change(SECONDARY_ID, values, None)]

    def detach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        records = resource.data["Records"]
        secondary_only = Resource(resource.id, {**resource.data,
                                                "Records": {SECONDARY_ID: records[SECONDARY_ID]}})
        self._delete_owned(ctx, secondary_only, {SECONDARY_ID: [self.secondary(ctx)]},
                           f"SECONDARY CNAME to {self.standby_step}")

    def outputs(self, resource: Resource) -> dict[str, Any]:
        records = resource.data["Records"]
        primary = records.get(PRIMARY_ID) or {}
        secondary = records.get(SECONDARY_ID) or {}

        def target(record: Mapping[str, Any]) -> str | None:
            values = record.get("ResourceRecords") or []
            return fqdn(str(values[0]["Value"])) if values else None

        return {"id": resource.id, "zone_id": resource.data["ZoneId"],
                "name": self.resource_name(), "ttl": primary.get("TTL"),
                "health_check_id": primary.get("HealthCheckId"),
                "secondary_health_check_id": secondary.get("HealthCheckId"),
                "primary_target": target(primary), "secondary_target": target(secondary)}
