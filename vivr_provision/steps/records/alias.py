"""``dns-alias.<name>``: A/AAAA alias records to the CloudFront distribution (or the ALB).

Ownership is decided by value: a record is ours when it points where this
step points it (now, or as recorded at the last apply).  Apply rewrites a
record that drifted; destroy deletes only records that are still ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import AliasRecordConfig
from vivr_provision.steps.base import (
    Change,
    DependencyMissing,
    Resource,
    StepContext,
)
from vivr_provision.steps.dns import (
    ZONE_STEP,
    bare_zone_id,
    fqdn,
)
from vivr_provision.steps.records.common import (
    ALB_STEP,
    ALIAS_FAMILY,
    ALIAS_TYPES,
    CLOUDFRONT_STEP,
    RecordRepointedError,
    RecordStep,
)


class AliasRecordStep(RecordStep):
    """``dns-alias.<name>``: A/AAAA alias records to the distribution (or the ALB)."""

    family = ALIAS_FAMILY

    def __init__(self, config: PlatformConfig, record: AliasRecordConfig) -> None:
        super().__init__(config, record.name)
        self.record = record

    @property
    def target_step(self) -> str:
        return CLOUDFRONT_STEP if self.record.target == "cloudfront" else ALB_STEP

    def depends_on(self) -> tuple[str, ...]:
        return (ZONE_STEP, self.target_step)

    def slots(self) -> Sequence[tuple[str, str, str | None]]:
        return [(t, t, None) for t in ALIAS_TYPES]

    def alias_target(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The AliasTarget for the target's outputs.

        CloudFront: its domain and its fixed zone (Z2FDTNDATAQYW2), and
        EvaluateTargetHealth must be false (AWS refuses true for a
        distribution).  ALB: its DNS name and canonical zone; its health
        then counts, so an alias to a dead load balancer is not answered.
        """
        if self.record.target == "cloudfront":
            return {"HostedZoneId": str(outputs["hosted_zone_id"]),
                    "DNSName": fqdn(str(outputs["domain_name"])), "EvaluateTargetHealth": False}
        return {"HostedZoneId": str(outputs["canonical_hosted_zone_id"]),
                "DNSName": fqdn(str(outputs["dns_name"])), "EvaluateTargetHealth": True}

    def _records_for(self, target: dict[str, Any], types: Iterable[str]) -> dict[str, Any]:
        return {t: {"Name": self.record_name, "Type": t, "AliasTarget": target} for t in types}

    def desired(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        outputs = ctx.outputs_of(self.target_step)
        if not outputs:
            raise DependencyMissing(f"{self.target_step} has not been applied")
        return self._records_for(self.alias_target(outputs), self.record.types)

    def _owned(self, ctx: StepContext) -> dict[str, list[dict[str, Any]]]:
        """Every value this step would write now or wrote at its last apply, per type."""
        targets: list[dict[str, Any]] = []
        target_outputs = ctx.outputs_of(self.target_step)
        if target_outputs:
            targets.append(self.alias_target(target_outputs))
        mine = ctx.outputs_of(self.name) or {}
        if mine.get("alias_dns_name") and mine.get("alias_hosted_zone_id"):
            targets.append({"HostedZoneId": mine["alias_hosted_zone_id"],
                            "DNSName": mine["alias_dns_name"],
                            "EvaluateTargetHealth": bool(mine.get("evaluate_target_health"))})
        owned: dict[str, list[dict[str, Any]]] = {t: [] for t in ALIAS_TYPES}
        for target in targets:
            for record_type, record in self._records_for(target, ALIAS_TYPES).items():
                owned[record_type].append(record)
        return owned

    def create(self, ctx: StepContext, token: str) -> Resource:
        """UPSERT, not CREATE: a resumed run may find some of the types written already."""
        zone_id = self._zone_id(ctx)
        self._write(ctx, zone_id, {}, self.desired(ctx), ALIAS_TYPES,
                    why=f"alias {self.record_name} to {self.record.target}")
        return self._reread(ctx, zone_id)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return self._changes(resource.data["Records"], self.desired(ctx), self._owned(ctx))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        zone_id = resource.data["ZoneId"]
        desired = self.desired(ctx)
        self._write(ctx, zone_id, resource.data["Records"], desired,
                    [c.field for c in changes],
                    why=f"alias {self.record_name} to {self.record.target}")
        return self._reread(ctx, zone_id)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        owned = self._owned(ctx)
        if not any(owned.values()):
            raise RecordRepointedError(
                f"{self.name}: neither {self.target_step} nor this step has recorded outputs, so "
                f"whether {self.record_name} still points where vivr-provision pointed it "
                "cannot be told; it is not deleted: delete it by hand and rerun destroy")
        self._delete_owned(ctx, resource, owned, f"alias to {self.target_step}")

    def outputs(self, resource: Resource) -> dict[str, Any]:
        records: dict[str, dict[str, Any] | None] = resource.data["Records"]
        written = [r for t in self.record.types if (r := records.get(t)) is not None]
        alias: dict[str, Any] = dict(written[0].get("AliasTarget") or {}) if written else {}
        return {"id": resource.id, "zone_id": resource.data["ZoneId"],
                "name": self.resource_name(), "types": list(self.record.types),
                "alias_dns_name": fqdn(str(alias["DNSName"])) if alias else None,
                "alias_hosted_zone_id": (bare_zone_id(str(alias["HostedZoneId"]))
                                         if alias else None),
                "evaluate_target_health": bool(alias.get("EvaluateTargetHealth", False))}
