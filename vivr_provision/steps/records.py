"""Route 53 records in front of the platform, and the health check behind failover.

Spec "High-Level Architecture" puts Route 53 in front of CloudFront, and
"Failover Architecture / Route53 Health Check" has Route 53 watch the
primary ALB and fail over to the standby ALB in the DR region with a 60 s
TTL.  Three step families live here:

``dns-alias.<name>``
    One alias record set per configured type (A, AAAA) pointing at the
    CloudFront distribution (or the ALB).  Records carry no tags, so
    ownership is decided by value: a record is ours when it points where
    this step points it (now, or as recorded at the last apply).  Apply
    rewrites a record that drifted (the config says where the name points);
    destroy deletes only records that are still ours and refuses otherwise,
    because a record someone repointed is theirs now.

``health-check.primary-alb``
    The HTTPS check of the primary ALB.  ``CreateHealthCheck`` takes no
    tags, so they are added by a second call; a crash in between leaves an
    untagged check that is still recognised as ours by its
    ``CallerReference`` (the engine's deterministic token), exactly as the
    hosted zone does.  The lookup never relies on the server honouring the
    reference (a local emulator creates a new check on every call): it
    lists the checks and reads their tags before any create.

``dns-failover.<name>``
    The failover pair: PRIMARY (CNAME to the primary ALB, the health check
    attached) and SECONDARY (CNAME to the DR region's standby ALB,
    ``dr.alb``, no health check: Route 53 answers it whenever the PRIMARY
    is unhealthy), both with the spec's 60 s TTL.  Config validation lets a
    failover record through only with ``dr.standby.alb`` and a ``dr.alb``
    section, so the pair is always written whole.  Destroy deletes each
    record only while it holds the value this step writes.

Every write goes through :func:`~vivr_provision.steps.dns.change_records`
(one atomic batch, then the INSYNC wait) and every read through
:func:`~vivr_provision.steps.dns.get_record`, so an UPSERT is sent only when
what Route 53 holds differs, and a DELETE carries the record exactly as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from botocore.exceptions import ClientError

from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import (
    AliasRecordConfig,
    FailoverRecordConfig,
    Route53HealthCheckConfig,
)
from vivr_provision.errors import ConfigError
from vivr_provision.retry import policy
from vivr_provision.steps.alb import LB_STEP
from vivr_provision.steps.base import (
    Change,
    DependencyMissing,
    Resource,
    Step,
    StepContext,
    idempotency_token,
)
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    tag_map,
)
from vivr_provision.steps.dns import (
    TOKEN_GENERATIONS,
    ZONE_STEP,
    bare_zone_id,
    change_records,
    fqdn,
    get_record,
)
from vivr_provision.steps.dr import standby_alb_step
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import HEALTH_CHECK, HOSTED_ZONE

events = structlog.get_logger("vivr.route53")

CLOUDFRONT_STEP = "cloudfront"
ALB_STEP = LB_STEP
ALIAS_FAMILY = "dns-alias"
HEALTH_CHECK_FAMILY = "health-check"
HEALTH_CHECK_KEY = "primary-alb"
HEALTH_CHECK_STEP = f"{HEALTH_CHECK_FAMILY}.{HEALTH_CHECK_KEY}"
FAILOVER_FAMILY = "dns-failover"
#: Every type an alias step looks at: a type dropped from the config is
#: still found (and removed when it is ours).
ALIAS_TYPES = ("A", "AAAA")
#: Another writer updated the check between our read and our update.
VERSION_MOVED = policy({"HealthCheckVersionMismatch"},
                       "the health check changed since it was read; re-reading its version",
                       deadline_s=60, max_attempts=5, initial_s=0.5)
#: ListTagsForResources takes at most 10 ids per call.
TAG_BATCH = 10
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
            records[slot] = absent_on(HOSTED_ZONE.not_found, get_record, ctx, zone_id,
                                      self.record_name, record_type, set_identifier)
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


# --------------------------------------------------------------------------- alias records


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


# --------------------------------------------------------------------------- health check


#: What CreateHealthCheck fixes for the check's life (UpdateHealthCheck takes neither).
FIXED_AT_CREATE = ("Type", "RequestInterval")


def _check_setting(key: str) -> Field:
    """One HealthCheckConfig setting; Inverted and Disabled are False when not reported."""
    defaulted = key in ("Inverted", "Disabled")
    return Field(key, lambda d: (d.get("HealthCheckConfig") or {}).get(key),
                 lambda s, ctx: s.desired(ctx)[key],
                 compare="defaulted" if defaulted else "exact",
                 default=False if defaulted else None,
                 effect="replace" if key in FIXED_AT_CREATE else "in_place",
                 apply=None if key in FIXED_AT_CREATE else "update_check")


def _host(name: Any) -> str:
    """A DNS name compared as DNS does: without case or the final dot."""
    return str(name or "").lower().rstrip(".")


#: The check's settings in HealthCheckConfig order, tags first.
HEALTH_CHECK_FIELDS = (
    TAGS,
    _check_setting("Type"),
    Field("FullyQualifiedDomainName",
          lambda d: _host((d.get("HealthCheckConfig") or {}).get("FullyQualifiedDomainName")),
          lambda s, ctx: _host(s.desired(ctx)["FullyQualifiedDomainName"]),
          apply="update_check"),
    *(_check_setting(key) for key in ("Port", "ResourcePath", "RequestInterval",
                                      "FailureThreshold", "EnableSNI", "Inverted", "Disabled")),
)


class HealthCheckStep(Step):
    """``health-check.primary-alb``: Route 53 probes the primary ALB's health endpoint."""

    family = HEALTH_CHECK_FAMILY
    service = "route53"
    expected_seconds = 5.0
    #: Type and request interval cannot change in place; the failover record
    #: refers to the check, so a replacement is left to the operator.
    replace_automatically = False

    def __init__(self, config: PlatformConfig, check: Route53HealthCheckConfig) -> None:
        super().__init__(config, HEALTH_CHECK_KEY)
        self.check = check

    def resource_name(self) -> str:
        return f"{self.config.alb.name}-health"

    def depends_on(self) -> tuple[str, ...]:
        return (ALB_STEP,)

    def route53(self, ctx: StepContext) -> Any:
        return ctx.client("route53")

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        """The HealthCheckConfig the spec asks for, against the ALB's own DNS name.

        SNI carries the host name in the TLS handshake, as browsers do;
        Route 53 does not validate the certificate, so the ALB's DNS name
        (not on the vivr.example.com certificate) is fine to probe.
        """
        return {"Type": self.check.type,
                "FullyQualifiedDomainName": str(ctx.output(ALB_STEP, "dns_name")),
                "Port": self.check.port,
                "ResourcePath": self.check.resource_path,
                "RequestInterval": self.check.request_interval_seconds,
                "FailureThreshold": self.check.failure_threshold,
                "EnableSNI": self.check.type == "HTTPS",
                "Inverted": False,
                "Disabled": False}

    # -- lookup ----------------------------------------------------------------
    def _ours_by_reference(self, caller_reference: str) -> bool:
        """Whether ``caller_reference`` is a token the engine would give this step."""
        return any(caller_reference == idempotency_token(self.config.project,
                                                         self.config.environment, self.name, g)
                   for g in range(TOKEN_GENERATIONS))

    def _is_ours(self, check: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
        return is_owned_by(self, tags) or self._ours_by_reference(
            str(check.get("CallerReference", "")))

    def _tags(self, ctx: StepContext, check_id: str) -> dict[str, str]:
        reply = self.route53(ctx).list_tags_for_resource(ResourceType="healthcheck",
                                                         ResourceId=check_id)
        return tag_map(reply["ResourceTagSet"].get("Tags"))

    def _resource(self, check: Mapping[str, Any], tags: dict[str, str]) -> Resource:
        return Resource(str(check["Id"]), {**check, "TagMap": tags})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(HEALTH_CHECK.not_found, self.route53(ctx).get_health_check,
                          HealthCheckId=resource_id)
        if reply is None:
            return None
        check = dict(reply["HealthCheck"])
        tags = self._tags(ctx, check["Id"])
        return self._resource(check, tags) if self._is_ours(check, tags) else None

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """List every check, read tags ten at a time; the first one of ours wins."""
        route53 = self.route53(ctx)
        checks = [dict(c) for page in route53.get_paginator("list_health_checks").paginate()
                  for c in page["HealthChecks"]]
        for start in range(0, len(checks), TAG_BATCH):
            batch = checks[start:start + TAG_BATCH]
            reply = route53.list_tags_for_resources(ResourceType="healthcheck",
                                                    ResourceIds=[c["Id"] for c in batch])
            tags = {s["ResourceId"]: tag_map(s.get("Tags")) for s in reply["ResourceTagSets"]}
            for check in batch:
                if self._is_ours(check, tags.get(check["Id"], {})):
                    return self._resource(check, tags.get(check["Id"], {}))
        return None

    # -- lifecycle ---------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        reply = self.route53(ctx).create_health_check(CallerReference=token,
                                                      HealthCheckConfig=self.desired(ctx))
        check = dict(reply["HealthCheck"])
        # Tags by a second call (CreateHealthCheck takes none); a crash before
        # it is recognised by the CallerReference and tagged by the next diff.
        self._tag(ctx, check["Id"], self.tags())
        events.info("route53.health_check.created", step=self.name, id=check["Id"],
                    fqdn=check["HealthCheckConfig"].get("FullyQualifiedDomainName"))
        return self._resource(check, self._tags(ctx, check["Id"]))

    def _tag(self, ctx: StepContext, check_id: str, tags: dict[str, str]) -> None:
        self.route53(ctx).change_tags_for_resource(ResourceType="healthcheck",
                                                   ResourceId=check_id, AddTags=aws_tags(tags))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, HEALTH_CHECK_FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, HEALTH_CHECK_FIELDS)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None
        return found

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self._tag(ctx, resource.id, changes[-1].desired)

    def update_check(self, ctx: StepContext, resource: Resource,
                     changes: list[Change]) -> None:
        """Every settable setting in one UpdateHealthCheck (type and interval cannot change)."""
        settable = {k: v for k, v in self.desired(ctx).items() if k not in FIXED_AT_CREATE}

        def _update() -> None:
            # The version is read afresh on each try: UpdateHealthCheck
            # refuses a stale one, so a concurrent edit is never overwritten blind.
            current = self.route53(ctx).get_health_check(HealthCheckId=resource.id)
            self.route53(ctx).update_health_check(
                HealthCheckId=resource.id,
                HealthCheckVersion=current["HealthCheck"]["HealthCheckVersion"], **settable)

        VERSION_MOVED.call(f"update health check {resource.id}", _update)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete; a check a record still refers to is named, not retried forever."""
        try:
            gone_on(HEALTH_CHECK.not_found, self.route53(ctx).delete_health_check,
                    HealthCheckId=resource.id)
        except ClientError as exc:
            if error_code(exc) != "HealthCheckInUse":
                raise
            raise RuntimeError(
                f"{self.name}: health check {resource.id} is still attached to a record set "
                "that vivr-provision did not write; remove that reference and rerun destroy"
            ) from exc

    def outputs(self, resource: Resource) -> dict[str, Any]:
        config = resource.data.get("HealthCheckConfig") or {}
        return {"id": resource.id, "health_check_id": resource.id,
                "fqdn": config.get("FullyQualifiedDomainName")}


# --------------------------------------------------------------------------- failover records


class FailoverRecordStep(RecordStep):
    """``dns-failover.<name>``: PRIMARY to the ALB with the health check; SECONDARY to DR."""

    family = FAILOVER_FAMILY

    def __init__(self, config: PlatformConfig, record: FailoverRecordConfig) -> None:
        super().__init__(config, record.name)
        self.record = record
        self.standby_step = standby_alb_step(config)

    def depends_on(self) -> tuple[str, ...]:
        return (ZONE_STEP, ALB_STEP, HEALTH_CHECK_STEP, self.standby_step)

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
        """The standby ALB, with no health check of its own.

        A SECONDARY without a check is always considered healthy, so Route 53
        answers it whenever the PRIMARY's check fails, which is the spec's
        "automatic failover"; a check on a standby with no targets yet would
        only make both records unhealthy and Route 53 fall back to the PRIMARY.
        """
        return {"Name": self.record_name, "Type": self.record.type,
                "SetIdentifier": SECONDARY_ID, "Failover": "SECONDARY",
                "TTL": self.record.ttl_seconds,
                "ResourceRecords": [{"Value": str(ctx.output(self.standby_step, "dns_name"))}]}

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
                "primary_target": target(primary), "secondary_target": target(secondary)}


# --------------------------------------------------------------------------- factory


def _health_check(config: PlatformConfig) -> Route53HealthCheckConfig | None:
    """The one check of the primary ALB; every failover record must describe the same."""
    records = config.route53.failover_records
    if not records:
        return None
    first = records[0].health_check
    for index, record in enumerate(records[1:], start=1):
        if record.health_check != first:
            raise ConfigError(
                f"route53.failover_records[{index}].health_check differs from "
                "failover_records[0].health_check: one health check watches the primary ALB")
    return first


def record_steps(config: PlatformConfig) -> list[Step]:
    """Alias records, the primary ALB's health check and the failover records."""
    steps: list[Step] = [AliasRecordStep(config, r) for r in config.route53.records]
    check = _health_check(config)
    if check is not None:
        steps.append(HealthCheckStep(config, check))
        steps += [FailoverRecordStep(config, r) for r in config.route53.failover_records]
    return steps


__all__ = ["AliasRecordStep", "FailoverRecordStep", "HealthCheckStep", "RecordRepointedError",
           "record_steps", "same_record"]
