"""What the record steps share: step names, record values compared as Route 53 holds them,
and :class:`RecordStep`, a few record sets of one name in our zone.

Records carry no tags, so a record's value is the only proof of ownership:
:func:`same_record` compares it in a canonical form, :func:`summary` shows
it in plan, and :meth:`RecordStep._delete_owned` deletes only what still
holds a value this tool writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.log import get_logger
from vivr_provision.steps.alb import LB_STEP
from vivr_provision.steps.base import (
    Change,
    Resource,
    Step,
    StepContext,
)
from vivr_provision.steps.common import absent_on
from vivr_provision.steps.dns import (
    ZONE_STEP,
    bare_zone_id,
    change_records,
    first_record,
    fqdn,
)
from vivr_provision.steps.kinds import HOSTED_ZONE

events = get_logger("vivr.route53")

CLOUDFRONT_STEP = "cloudfront"
ALB_STEP = LB_STEP
ALIAS_FAMILY = "dns-alias"
HEALTH_CHECK_FAMILY = "health-check"
HEALTH_CHECK_KEY = "primary-alb"
HEALTH_CHECK_STEP = f"{HEALTH_CHECK_FAMILY}.{HEALTH_CHECK_KEY}"
#: The standby ALB's own check (``secondary_health_check``, off in production).
STANDBY_CHECK_KEY = "standby-alb"
STANDBY_CHECK_STEP = f"{HEALTH_CHECK_FAMILY}.{STANDBY_CHECK_KEY}"
FAILOVER_FAMILY = "dns-failover"
#: Every type an alias step looks at: a type dropped from the config is
#: still found (and removed when it is ours).
ALIAS_TYPES = ("A", "AAAA")
PRIMARY_ID = "primary"
SECONDARY_ID = "secondary"


class RecordRepointedError(Exception):
    """A record this step manages now holds a value it did not write.

    Records carry no tags, so the value is the only proof of ownership;
    deleting a record someone repointed would take down their change.
    """


# --------------------------------------------------------------------------- record values


def _canonical(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A record set in a comparable form.

    Route 53 reports names with a trailing dot and in lowercase, alias
    targets with a trailing dot and sometimes the ``/hostedzone/`` prefix;
    what we send may have none of these.  Everything else (TTL, failover
    role, set identifier, health check, routing fields someone added by
    hand) is compared as is, so any extra field makes the record differ.
    """
    if record is None:
        return None
    canonical: dict[str, Any] = {}
    for key, value in record.items():
        if key == "Name":
            canonical[key] = fqdn(str(value))
        elif key == "AliasTarget":
            canonical[key] = (fqdn(str(value["DNSName"])), bare_zone_id(str(value["HostedZoneId"])),
                              bool(value.get("EvaluateTargetHealth", False)))
        elif key == "ResourceRecords":
            values = [str(v["Value"]) for v in value]
            if record.get("Type") == "CNAME":
                values = [fqdn(v) for v in values]
            canonical[key] = sorted(values)
        else:
            canonical[key] = value
    return canonical


def same_record(current: Mapping[str, Any] | None, desired: Mapping[str, Any] | None) -> bool:
    """Whether Route 53's ``current`` record is exactly ``desired`` (None: absent)."""
    return _canonical(current) == _canonical(desired)


def summary(record: Mapping[str, Any] | None) -> str | None:
    """A short human form for drift reports: ``alias d1.cloudfront.net.`` or ``CNAME x TTL 60``."""
    if record is None:
        return None
    canonical = _canonical(record)
    assert canonical is not None
    if "AliasTarget" in canonical:
        target, zone, evaluate = canonical["AliasTarget"]
        text = f"alias {target} (zone {zone}, evaluate target health {str(evaluate).lower()})"
    else:
        values = ",".join(canonical.get("ResourceRecords", []))
        text = f"{canonical.get('Type')} {values} TTL {canonical.get('TTL')}"
    if "Failover" in canonical:
        text += f" {canonical['Failover']}"
    if "HealthCheckId" in canonical:
        text += f" health check {canonical['HealthCheckId']}"
    extra = sorted(set(canonical) - {"Name", "Type", "AliasTarget", "ResourceRecords", "TTL",
                                     "Failover", "SetIdentifier", "HealthCheckId"})
    if extra:
        text += " + " + ",".join(extra)
    return text


def _split_id(resource_id: str) -> tuple[str, str]:
    """``(zone id, record name)`` from a record step's resource id ``Z123:name.``."""
    zone_id, _, name = resource_id.partition(":")
    return zone_id, name


class RecordStep(Step):
    """Shared shape of record steps: a resource is a few record sets of one name.

    The resource id is ``<zone id>:<name>`` (stable while the zone lives),
    ``data["Records"]`` maps a slot (a record type, or a failover role) to
    the record Route 53 holds, None when absent.
    """

    service = "route53"
    #: Route 53 propagates a change to every name server within about a minute.
    expected_seconds = 60.0

    def __init__(self, config: PlatformConfig, name: str) -> None:
        super().__init__(config, name)
        self.record_name = fqdn(name)

    def resource_name(self) -> str:
        return self.record_name.rstrip(".")

    # -- what is there -------------------------------------------------------
    def slots(self) -> Sequence[tuple[str, str, str | None]]:
        """``(slot, record type, set identifier)`` of every record set this step reads."""
        raise NotImplementedError

    def desired(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        """The record set each configured slot should hold."""
        raise NotImplementedError

    def _read(self, ctx: StepContext, zone_id: str) -> Resource | None:
        records: dict[str, dict[str, Any] | None] = {}
        for slot, record_type, set_identifier in self.slots():
            records[slot] = absent_on(HOSTED_ZONE.not_found, first_record, ctx, zone_id,
                                      self.record_name, record_type, set_identifier,
                                      reader=self.name)
        if not any(records.values()):
            return None
        zone = bare_zone_id(zone_id)
        return Resource(f"{zone}:{self.record_name}", {"ZoneId": zone, "Records": records})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        zone_id, name = _split_id(resource_id)
        if name != self.record_name:
            return None  # recorded for another name: the config changed
        return self._read(ctx, zone_id)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """Records have no tags: look at the name in our zone (if the zone is ours yet)."""
        if not ctx.has_outputs(ZONE_STEP):
            return None
        return self._read(ctx, str(ctx.output(ZONE_STEP, "zone_id")))

    def _zone_id(self, ctx: StepContext) -> str:
        return bare_zone_id(str(ctx.output(ZONE_STEP, "zone_id")))

    # -- converge --------------------------------------------------------------
    def _changes(self, current: Mapping[str, dict[str, Any] | None],
                 desired: Mapping[str, dict[str, Any]],
                 owned: Mapping[str, Iterable[dict[str, Any]]]) -> list[Change]:
        """One change per slot that differs; a slot no longer configured goes if ours."""
        changes: list[Change] = []
        for slot, _, _ in self.slots():
            have = current.get(slot)
            if slot in desired:
                if not same_record(have, desired[slot]):
                    changes.append(Change(slot, summary(have), summary(desired[slot])))
            elif have is not None and any(same_record(have, o) for o in owned.get(slot, [])):
                changes.append(Change(slot, summary(have), None))
        return changes

    def _write(self, ctx: StepContext, zone_id: str, current: Mapping[str, Any],
               desired: Mapping[str, dict[str, Any]], slots: Iterable[str], *,
               why: str) -> None:
        """UPSERT each drifted configured slot, DELETE each unconfigured one, in one batch."""
        batch: list[tuple[str, dict[str, Any]]] = []
        for slot in slots:
            if slot in desired:
                if not same_record(current.get(slot), desired[slot]):
                    batch.append(("UPSERT", desired[slot]))
            elif current.get(slot) is not None:
                batch.append(("DELETE", dict(current[slot])))
        change_records(ctx, zone_id, batch, comment=f"vivr-provision {self.name}: {why}")
        if batch:
            events.info("route53.records.written", step=self.name,
                        changes=[f"{a} {r['Type']} {r.get('SetIdentifier', '')}".strip()
                                 for a, r in batch])

    def _reread(self, ctx: StepContext, zone_id: str) -> Resource:
        found = self._read(ctx, zone_id)
        if found is None:
            raise RuntimeError(f"{self.name}: records written to zone {zone_id} are not visible")
        return found

    def _delete_owned(self, ctx: StepContext, resource: Resource,
                      owned: Mapping[str, list[dict[str, Any]]], how_to: str) -> None:
        """DELETE every record that still holds one of our values; refuse if any does not.

        Nothing is deleted when one record was repointed, so the operator
        sees the name as it was and decides; the DELETE carries the record
        exactly as read (Route 53 refuses any other).
        """
        records: dict[str, dict[str, Any] | None] = resource.data["Records"]
        doomed: list[dict[str, Any]] = []
        foreign: list[str] = []
        for slot, record in records.items():
            if record is None:
                continue
            if any(same_record(record, o) for o in owned.get(slot, [])):
                doomed.append(record)
            else:
                foreign.append(f"{slot} -> {summary(record)}")
        if foreign:
            raise RecordRepointedError(
                f"{self.name}: {self.record_name} was repointed by someone else "
                f"({'; '.join(foreign)}), not to what vivr-provision wrote ({how_to}); "
                "it is not deleted: delete it by hand, or apply to point it back, "
                "then rerun destroy")
        change_records(ctx, resource.data["ZoneId"], [("DELETE", r) for r in doomed],
                       comment=f"vivr-provision {self.name}: destroy")
