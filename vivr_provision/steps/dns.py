"""Route 53: the public hosted zone, and the record-set helpers other steps share.

The zone is found by its name (``ListHostedZonesByName``, exact match with
the trailing dot) and adopted only when it carries our ownership tags:
Route 53 allows several zones with the same name, and a second public zone
that the registrar does not delegate to would silently serve nothing, so a
same-named zone of somebody else stops the step instead.

``CreateHostedZone`` takes no tags; they are added by a second call.  A
crash between the two leaves an untagged zone, which is still recognised as
ours by its ``CallerReference``: it is the engine's deterministic token for
this step (project, environment, step, generation), so a resumed run adopts
and tags it instead of creating a second zone.

Destroy deletes the zone only when nothing but its own SOA and NS records is
left: every record this tool writes belongs to a step that depends on the
zone (ACM validation records, alias and failover records) and is removed by
that step first, so anything still there was written by someone else and is
listed in the error instead of being deleted.

:func:`change_records` and :func:`get_record` are the one place where
record sets are written and read (``ChangeResourceRecordSets`` then the
``resource_record_sets_changed`` waiter), reused by the ACM validation
records and later by the alias and failover records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.log import get_logger
from vivr_provision.retry import policy
from vivr_provision.steps.base import Change, Resource, Step, StepContext, idempotency_token
from vivr_provision.steps.common import (
    ForeignResourceError,
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    tag_map,
)
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import HOSTED_ZONE
from vivr_provision.tag_batch import batched_tags, route53_arn

ZONE_STEP = "route53-zone"
events = get_logger("vivr.route53")
#: Route 53 serialises changes per zone; a change sent while the previous one
#: is still being applied is refused with PriorRequestNotComplete.
ZONE_BUSY = policy({"PriorRequestNotComplete"},
                   "Route 53 is still applying the previous change to this zone",
                   deadline_s=300, initial_s=2.0)
#: Route 53 propagates a change to its name servers within about a minute;
#: botocore's own waiter allows 30 minutes, which we keep.
CHANGE_BUDGET_S = 1800.0
#: How many generations of this step's token are recognised as ours when a
#: zone lost its tags (a crash between CreateHostedZone and the tagging call).
TOKEN_GENERATIONS = 256
#: The records Route 53 creates with every zone (at its apex).
ZONE_OWN_TYPES = frozenset({"SOA", "NS"})


def fqdn(name: str) -> str:
    """A DNS name as Route 53 reports it: lowercase with the trailing dot."""
    name = name.lower()
    return name if name.endswith(".") else name + "."


def bare_zone_id(zone_id: str) -> str:
    """``Z123`` from ``/hostedzone/Z123`` (APIs report both forms)."""
    return zone_id.rsplit("/", 1)[-1]


def written_record(zone_id: str, name: str, record_type: str, value: str) -> dict[str, str]:
    """The journal entry of a simple record another step writes into the zone
    (``StepContext.note_written``): what the zone's delete recognises as ours."""
    return {"container": f"hosted-zone:{bare_zone_id(zone_id)}", "name": fqdn(_unescape(name)),
            "type": record_type, "value": fqdn(value)}


def entry_of(zone_id: str, record: Mapping[str, Any]) -> dict[str, str] | None:
    """:func:`written_record` of a record set as Route 53 lists it (one value), or None."""
    values = record.get("ResourceRecords") or []
    if len(values) != 1:
        return None
    return written_record(zone_id, str(record["Name"]), str(record["Type"]),
                          str(values[0]["Value"]))


def get_record(ctx: StepContext, zone_id: str, name: str, record_type: str,
               set_identifier: str | None = None) -> dict[str, Any] | None:
    """The record set ``name``/``record_type`` (and set identifier) of a zone, or None.

    ``ListResourceRecordSets`` lists from a start name in DNS order, so one
    small page at the record's own name and type answers the question.
    """
    route53 = ctx.client("route53")
    wanted = fqdn(name)
    params: dict[str, Any] = {"HostedZoneId": bare_zone_id(zone_id), "StartRecordName": wanted,
                              "StartRecordType": record_type, "MaxItems": "10"}
    if set_identifier is not None:
        params["StartRecordIdentifier"] = set_identifier
    for record in route53.list_resource_record_sets(**params)["ResourceRecordSets"]:
        if (_unescape(record["Name"]) == wanted and record["Type"] == record_type
                and record.get("SetIdentifier") == set_identifier):
            return dict(record)
    return None


def first_record(ctx: StepContext, zone_id: str, name: str, record_type: str,
                 set_identifier: str | None = None, *, reader: str) -> dict[str, Any] | None:
    """:func:`get_record` for step ``reader``'s first look: one listing of the zone
    answers every records step of the run (:mod:`vivr_provision.batch_reads`); a
    record the listing lacks, or a second look, is read on its own."""
    zone = bare_zone_id(zone_id)

    def listing() -> dict[str, dict[str, Any]]:
        return {_record_key(_unescape(r["Name"]), r["Type"], r.get("SetIdentifier")): r
                for r in list_records(ctx, zone)}

    batched = ctx.reads.take(("route53", zone, "records"),
                             _record_key(fqdn(name), record_type, set_identifier), listing,
                             reader)
    if batched is not None:
        return dict(batched)
    return get_record(ctx, zone, name, record_type, set_identifier)


def _record_key(name: str, record_type: str, set_identifier: str | None) -> str:
    return f"{name}|{record_type}|{set_identifier or ''}"


def list_records(ctx: StepContext, zone_id: str) -> list[dict[str, Any]]:
    """Every record set of a zone (paginated)."""
    pages = ctx.client("route53").get_paginator("list_resource_record_sets").paginate(
        HostedZoneId=bare_zone_id(zone_id))
    return [dict(r) for page in pages for r in page["ResourceRecordSets"]]


def change_records(ctx: StepContext, zone_id: str,
                   changes: Sequence[tuple[str, dict[str, Any]]], *, comment: str,
                   budget_s: float = CHANGE_BUDGET_S) -> str | None:
    """Apply ``(action, record set)`` changes in one batch and wait until INSYNC.

    One ``ChangeBatch`` is atomic in Route 53: either every change applies or
    none does, so related records (a failover pair, the validation records
    of one certificate) never end half-written.  ``action`` is ``UPSERT``,
    ``CREATE`` or ``DELETE``; a DELETE must carry the record exactly as it is
    (read it with :func:`get_record` first).  Returns the change id, None
    when there was nothing to change.
    """
    if not changes:
        return None
    reply = ZONE_BUSY.call(
        "change record sets", ctx.client("route53").change_resource_record_sets,
        HostedZoneId=bare_zone_id(zone_id),
        ChangeBatch={"Comment": comment[:256],
                     "Changes": [{"Action": action, "ResourceRecordSet": record}
                                 for action, record in changes]})
    change_id = str(reply["ChangeInfo"]["Id"])
    if reply["ChangeInfo"].get("Status") != "INSYNC":
        ctx.wait("route53", "resource_record_sets_changed", budget_s=budget_s, delay_s=10,
                 Id=change_id)
    return change_id


def _unescape(name: str) -> str:
    """Route 53 reports ``*`` and other specials as octal escapes (``\\052``)."""
    if "\\" not in name:
        return name.lower()
    out, i = [], 0
    while i < len(name):
        if name[i] == "\\" and name[i + 1:i + 4].isdigit():
            out.append(chr(int(name[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(name[i])
            i += 1
    return "".join(out).lower()


class HostedZoneStep(Step):
    """The public hosted zone ``route53.hosted_zone.name``."""

    family = ZONE_STEP
    kinds = (HOSTED_ZONE,)
    service = "route53"
    expected_seconds = 30.0

    #: The name and the public/private choice are fixed at CreateHostedZone
    #: (a replacement, which apply refuses: the registrar delegates to this
    #: zone's name servers); the comment has its own call.  Route 53 takes no
    #: tags at create and tags by resource type, so :meth:`converge_tags` is
    #: this step's own.
    FIELDS = (
        TAGS,
        # As Route 53 reports names (lowercase, trailing dot), like ``zone_name``.
        Field("name", lambda d: fqdn(d["Name"]), lambda s, ctx: s.zone_name, effect="replace"),
        Field("comment", lambda d: (d.get("Config") or {}).get("Comment", ""),
              lambda s, ctx: s.config.route53.hosted_zone.comment, apply="update_comment"),
        Field("private_zone", lambda d: bool((d.get("Config") or {}).get("PrivateZone")),
              lambda s, ctx: False, effect="replace"),
    )

    def resource_name(self) -> str:
        return self.config.route53.hosted_zone.name

    @property
    def zone_name(self) -> str:
        return fqdn(self.config.route53.hosted_zone.name)

    def route53(self, ctx: StepContext) -> Any:
        return ctx.client("route53")

    def _tags(self, ctx: StepContext, zone_id: str) -> dict[str, str]:
        """Its tags: us-east-1's tag batch on the first read (call it for a zone
        GetHostedZone found), else ListTagsForResource."""
        batched = batched_tags(ctx, self.name, route53_arn("hostedzone", zone_id), self.tags())
        if batched is not None:
            return batched
        reply = self.route53(ctx).list_tags_for_resource(ResourceType="hostedzone",
                                                          ResourceId=bare_zone_id(zone_id))
        return tag_map(reply["ResourceTagSet"].get("Tags"))

    def _ours_by_reference(self, caller_reference: str) -> bool:
        """Whether ``caller_reference`` is a token the engine would give this step."""
        return any(caller_reference == idempotency_token(self.config.project,
                                                         self.config.environment, self.name, g)
                   for g in range(TOKEN_GENERATIONS))

    def _describe(self, ctx: StepContext, zone_id: str) -> Resource | None:
        reply = absent_on(HOSTED_ZONE.not_found, self.route53(ctx).get_hosted_zone,
                          Id=bare_zone_id(zone_id))
        if reply is None:
            return None
        zone = dict(reply["HostedZone"])
        data = {**zone, "NameServers": list((reply.get("DelegationSet") or {})
                                             .get("NameServers", [])),
                "TagMap": self._tags(ctx, zone["Id"])}
        return Resource(bare_zone_id(zone["Id"]), data)

    def _is_ours(self, resource: Resource) -> bool:
        return is_owned_by(self, resource.data["TagMap"]) or self._ours_by_reference(
            str(resource.data.get("CallerReference", "")))

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        found = self._describe(ctx, resource_id)
        # A recorded zone of another name (the config was changed) is still
        # returned, so the diff reports a replacement instead of orphaning it.
        return found if found is not None and self._is_ours(found) else None

    def _same_named(self, ctx: StepContext) -> Iterable[dict[str, Any]]:
        """Public zones named exactly like ours (the listing starts at the name, in order)."""
        route53 = self.route53(ctx)
        params: dict[str, Any] = {"DNSName": self.zone_name, "MaxItems": "100"}
        while True:
            reply = route53.list_hosted_zones_by_name(**params)
            for zone in reply["HostedZones"]:
                if fqdn(zone["Name"]) != self.zone_name:
                    return
                if not zone.get("Config", {}).get("PrivateZone"):
                    yield zone
            if not reply.get("IsTruncated"):
                return
            params = {"DNSName": reply["NextDNSName"], "HostedZoneId": reply["NextHostedZoneId"],
                      "MaxItems": "100"}

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        foreign = []
        for zone in self._same_named(ctx):
            found = self._describe(ctx, zone["Id"])
            if found is None:
                continue
            if self._is_ours(found):
                return found
            foreign.append(found.id)
        if foreign:
            raise ForeignResourceError(
                f"{self.name}: public hosted zone {self.zone_name} already exists "
                f"({', '.join(foreign)}) but was not created by vivr-provision for "
                f"{self.config.project}/{self.config.environment}; a second zone of the same "
                "name would not be delegated to.  Tag it with ManagedBy, Project, Environment "
                f"and vivr:step={self.name} to adopt it, or delete it")
        return None

    def create(self, ctx: StepContext, token: str) -> Resource:
        reply = self.route53(ctx).create_hosted_zone(
            Name=self.zone_name,
            CallerReference=token,
            HostedZoneConfig={"Comment": self.config.route53.hosted_zone.comment,
                              "PrivateZone": False},
        )
        zone_id = bare_zone_id(reply["HostedZone"]["Id"])
        self._tag(ctx, zone_id, self.tags())
        events.info("route53.zone.created", step=self.name, zone_id=zone_id,
                    name_servers=(reply.get("DelegationSet") or {}).get("NameServers"))
        found = self._describe(ctx, zone_id)
        assert found is not None, "a zone just created is describable"
        return found

    def _tag(self, ctx: StepContext, zone_id: str, tags: dict[str, str]) -> None:
        self.route53(ctx).change_tags_for_resource(ResourceType="hostedzone",
                                                   ResourceId=zone_id, AddTags=aws_tags(tags))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self._describe(ctx, resource.id)
        assert found is not None
        return found

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self._tag(ctx, resource.id, changes[-1].desired)

    def update_comment(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self.route53(ctx).update_hosted_zone_comment(Id=resource.id,
                                                     Comment=changes[-1].desired)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete the zone once only its own SOA/NS records are left; refuse otherwise.

        Records other steps of this tool wrote into the zone and journalled
        (``StepContext.note_written``: ACM's validation CNAMEs) are deleted
        first, even when the step that wrote them is gone already (a destroy
        interrupted between a certificate's deletion and its records'); any
        other record is someone else's, and the zone stays.
        """
        apex = fqdn(str(resource.data.get("Name") or self.zone_name))
        ours = ctx.written_into(f"hosted-zone:{bare_zone_id(resource.id)}")
        records = [r for r in list_records(ctx, resource.id)
                   if not (r["Type"] in ZONE_OWN_TYPES and _unescape(r["Name"]) == apex)]
        leftover = [r for r in records if entry_of(resource.id, r) in ours]
        if leftover:
            change_records(ctx, resource.id, [("DELETE", r) for r in leftover],
                           comment=f"vivr-provision {self.name}: records this tool wrote")
            events.info("route53.zone.written_records_deleted", step=self.name,
                        records=[r["Name"] for r in leftover])
        others = [f"{_unescape(r['Name'])} {r['Type']}" for r in records if r not in leftover]
        if others:
            raise RuntimeError(
                f"{self.name}: hosted zone {apex} ({resource.id}) still holds records this tool "
                f"did not create: {', '.join(sorted(others))}; delete them (or move them to "
                "another zone) and rerun destroy")
        gone_on(HOSTED_ZONE.not_found, self.route53(ctx).delete_hosted_zone, Id=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "zone_id": resource.id, "name": self.zone_name.rstrip("."),
                "name_servers": list(resource.data.get("NameServers", []))}


def dns_steps(config: PlatformConfig) -> list[Step]:
    """The hosted zone; record steps (alias, failover) live with what they point at."""
    return [HostedZoneStep(config)]
