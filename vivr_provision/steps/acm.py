"""ACM: the public certificate of the HTTPS listener, validated through our own zone.

``RequestCertificate`` takes an idempotency token (honoured for an hour by
AWS) and the tags, so the certificate carries its ownership from the first
call.  Certificates are not unique by name: a certificate for the same
domain that is not tagged ours is somebody else's and is left alone; ours
is found by the ARN recorded in state, else by listing the pending and
issued certificates of the domain and checking their tags.

DNS validation needs the CNAME records ACM names in ``DomainValidationOptions``
to exist in the zone.  ACM fills those in a few seconds after the request,
so the step polls for them, UPSERTs them into the hosted zone (the step
depends on ``route53-zone``) and then waits for ``ISSUED`` with a budget far
above botocore's 5 minutes: validation usually takes minutes but can take
much longer when DNS is slow to propagate.  The records stay while the
certificate lives, because managed renewal validates through them again;
a missing one is reported as drift and written back.

Nothing about an issued certificate can change (domain, names, key
algorithm): ACM has no call that edits them, so a change is a new
certificate.  Its users (the HTTPS listener, CloudFront) hold the ARN, and
ACM refuses to delete a certificate in use, so the replacement is made
before the old one goes: apply requests the new certificate (tagged
``vivr:replaces=<old ARN>``), validates it, and records its ARN; the
listener and the distribution then see the step's new ARN as drift and move
to it in the same apply (in-place updates downstream of the planned
change); the next apply deletes the old certificate once ``InUseBy`` is
empty (plan shows ``replaced_certificate: '<old ARN>' -> None``).  Plan
shows the first change as ``(replace: a new certificate ...)``.  Adding the
failover name to existing certificates (issue 11) goes this way.  Destroy
retries ``ResourceInUseException`` for
a while (a listener or distribution being deleted releases the certificate
with a delay) and then removes the validation records it wrote, unless
another live certificate still validates with the same record.

The same step requests the DR region's copy (``dr.acm``, for the standby
ALB: ELB takes only certificates of its own region).  ACM derives the
validation CNAME from the account and the domain name, not the region, so
both certificates validate through the very same records.  ``dr.acm``
therefore depends on ``acm`` (``shares_records_with``): their lifetimes
nest, and on destroy the DR certificate goes first, sees the primary still
alive and leaves the records, which the primary's deletion then removes.
Without that order, two concurrent deletions could each see the other's
certificate still alive and both leave the records behind, and the zone
could not be deleted.  Records left for another certificate of this stack
are not reported as "kept": that certificate's step owns them now.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.log import get_logger
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import (
    MANAGED_BY,
    Change,
    Resource,
    Site,
    Step,
    StepContext,
    StepTimeout,
)
from vivr_provision.steps.common import (
    KindTaggedStep,
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    read_tags,
    step_tags,
)
from vivr_provision.steps.delegation import Delegation, check_delegation
from vivr_provision.steps.dns import (
    ZONE_STEP,
    change_records,
    entry_of,
    first_record,
    fqdn,
    get_record,
    written_record,
)
from vivr_provision.steps.drift import TAGS, UNREPORTED, Field, converge, drift
from vivr_provision.steps.kinds import CERTIFICATE


class ValidationBlocked(Exception):
    """DNS validation cannot proceed: the zone is not delegated (the message says what to set)."""


events = get_logger("vivr.acm")
#: Statuses of a certificate that is (or may become) usable.
LIVE_STATUSES = ("PENDING_VALIDATION", "ISSUED")
#: ListCertificates returns only RSA_2048 certificates unless asked for the others.
KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1",
             "EC_secp384r1", "EC_secp521r1"]
#: A listener or distribution being deleted releases the certificate with a delay.
CERTIFICATE_IN_USE = policy({"ResourceInUseException"},
                            "a listener or distribution is still releasing the certificate",
                            deadline_s=900, max_attempts=40, initial_s=5.0, max_wait_s=60.0)
#: Time ACM takes to put the validation records into DescribeCertificate.
RECORDS_VISIBLE_S = 300.0
VALIDATION_TTL = 300


#: Tag on a certificate requested to replace another: the replaced one's ARN.
REPLACES_TAG = "vivr:replaces"
#: The change that deletes a replaced certificate nothing uses any more.
REPLACED_FIELD = "replaced_certificate"


@dataclass(frozen=True)
class NewCertificate(Change):
    """A setting ACM cannot change: apply requests a new certificate, users move, old goes.

    Not ``replace=True``: that makes the engine stop (or delete first, which
    ACM refuses while a listener uses the certificate).  The line plan
    prints still says what happens.
    """

    def describe(self) -> str:
        return (f"{self.field}: {self.current!r} -> {self.desired!r} (replace: a new "
                "certificate; its listeners and CloudFront move to it in this apply, the old "
                "one is deleted by the next apply once unused)")


def token_for_acm(token: str) -> str:
    """ACM's IdempotencyToken allows only ``\\w`` characters, at most 32."""
    return re.sub(r"[^A-Za-z0-9_]", "_", token)[:32]


def _key_algorithm(reported: str) -> str:
    """DescribeCertificate reports ``RSA-2048``; RequestCertificate takes ``RSA_2048``."""
    return reported.replace("-", "_")


def subject_alternative_names(config: PlatformConfig) -> list[str]:
    """``acm.subject_alternative_names`` plus every failover record's name, in that order.

    Both ALBs (``acm`` and ``dr.acm``) answer on the failover names
    (``origin.vivr.example.com``): CloudFront's application origin is that
    name (``cloudfront.origins[].failover_record``) and CloudFront refuses an
    origin whose certificate matches neither the origin's domain nor the
    Host header it forwards (CloudFront developer guide, "Requiring HTTPS
    for communication between CloudFront and your custom origin").  Derived,
    not listed twice, so a failover name cannot be forgotten on a certificate.
    """
    names = [n for n in config.acm.subject_alternative_names if n != config.acm.domain_name]
    for record in config.route53.failover_records:
        if record.name not in names and record.name != config.acm.domain_name \
                and not config.acm.covers(record.name):
            names.append(record.name)
    return names


class CertificateStep(KindTaggedStep):
    """``acm.domain_name`` plus its SANs, validated by DNS in our hosted zone."""

    family = "acm"
    service = "acm"
    kind = CERTIFICATE
    expected_seconds = 300.0
    timing_kind = "acm_certificate"
    #: DESIGN: ACM >= 45 minutes (botocore's waiter gives up after 5).
    wait_budget_s = 3600.0
    #: Poll fast at first (validation through a zone we own often passes in
    #: seconds), then slowly, to stay far below DescribeCertificate's rate limit.
    fast_poll_s = 1.0
    fast_window_s = 30.0
    slow_poll_s = 20.0

    def __init__(self, config: PlatformConfig, *, site: Site | None = None,
                 shares_records_with: str | None = None) -> None:
        """``shares_records_with``: the step of another certificate for the same names.

        It validates through the same CNAMEs, so it is made first and
        destroyed last (see the module docstring).
        """
        super().__init__(config, site=site)
        self.cert = config.acm
        self.sans = subject_alternative_names(config)
        self.shares_records_with = shares_records_with

    def resource_name(self) -> str:
        return self.cert.domain_name

    @property
    def dns_validated(self) -> bool:
        return self.cert.validation_method == "DNS"

    def depends_on(self) -> tuple[str, ...]:
        if not self.dns_validated:
            return ()
        if self.shares_records_with:
            return (ZONE_STEP, self.shares_records_with)
        return (ZONE_STEP,)

    def acm(self, ctx: StepContext, region: str | None = None) -> Any:
        return ctx.client("acm", region or self.region)

    @property
    def names(self) -> set[str]:
        return {self.cert.domain_name, *self.sans}

    # -- finding -------------------------------------------------------------
    def _describe(self, ctx: StepContext, arn: str) -> Resource | None:
        reply = absent_on(CERTIFICATE.not_found, self.acm(ctx).describe_certificate,
                          CertificateArn=arn)
        if reply is None:
            return None
        data = dict(reply["Certificate"])
        data["TagMap"] = step_tags(ctx, self, self.acm(ctx), CERTIFICATE, arn)
        return Resource(arn, data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        found = self._describe(ctx, resource_id)
        if found is None or not is_owned_by(self, found.data["TagMap"]):
            return None
        # Returned whatever its status: an expired, revoked, failed or timed-out
        # certificate is reported by diff as a replacement (and deleted by
        # destroy) rather than silently joined by a second one.
        return found

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        pages = self.acm(ctx).get_paginator("list_certificates").paginate(
            CertificateStatuses=list(LIVE_STATUSES), Includes={"keyTypes": KEY_TYPES})
        found: list[Resource] = []
        for page in pages:
            for summary in page["CertificateSummaryList"]:
                if summary.get("DomainName") != self.cert.domain_name:
                    continue
                arn = summary["CertificateArn"]
                if is_owned_by(self, read_tags(self.acm(ctx), CERTIFICATE, arn)):
                    described = self._describe(ctx, arn)
                    if described is not None:
                        found.append(described)
        if not found:
            return None
        # Prefer an issued certificate, then the newest request.
        found.sort(key=lambda r: (r.data.get("Status") == "ISSUED",
                                  str(r.data.get("CreatedAt", ""))), reverse=True)
        if len(found) > 1:
            events.warning("acm.certificate.duplicates", step=self.name, adopted=found[0].id,
                           others=[r.id for r in found[1:]])
        return found[0]

    # -- creating ------------------------------------------------------------
    def _request(self, ctx: StepContext, token: str, tags: dict[str, str]) -> Resource:
        params: dict[str, Any] = {
            "DomainName": self.cert.domain_name,
            "ValidationMethod": self.cert.validation_method,
            "KeyAlgorithm": self.cert.key_algorithm,
            "IdempotencyToken": token_for_acm(token),
            "Tags": aws_tags(tags),
        }
        if self.sans:
            params["SubjectAlternativeNames"] = list(self.sans)
        arn = self.acm(ctx).request_certificate(**params)["CertificateArn"]
        found = until_found(f"describe certificate {arn}", lambda: self._describe(ctx, arn),
                            deadline_s=60)
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._request(ctx, token, self.tags())

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("Status") == "ISSUED"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        """Write the validation records (DNS), then wait until ACM has issued.

        A zone the registrar does not delegate to never lets ACM see the
        records, so the wait would run out its whole budget in silence.
        Right after writing them the step checks the delegation where this
        account can see it (:mod:`vivr_provision.steps.delegation`); when it
        cannot, a certificate still pending ``acm.delegation_check_after_seconds``
        later is taken as "most likely not delegated".  Either way the step
        then fails with the name servers to set, or (``on_undelegated_zone:
        wait``) logs that reason and keeps waiting.
        """
        if self.is_ready(resource):
            return resource
        params = {"region": self.region, "CertificateArn": resource.id}
        budget, blocked = self.wait_budget_s, None
        if self.dns_validated:
            self._write_validation_records(ctx, resource.id)
            zone, servers = self._zone_name(ctx), self._name_servers(ctx)
            delegation = check_delegation(ctx, zone, servers)
            if delegation.delegated is False:
                blocked = self._blocked(f"cannot validate: hosted zone {zone} is not "
                                        f"delegated ({delegation.finding})", delegation, servers)
            elif delegation.delegated is None:
                grace = min(float(self.cert.delegation_check_after_seconds), budget)
                try:
                    self._poll(ctx, params, grace)
                    return self._issued(ctx, resource)
                except StepTimeout:
                    budget -= grace
                blocked = self._blocked(
                    f"is still PENDING_VALIDATION {grace:.0f}s after its validation "
                    f"records went into hosted zone {zone}: the zone is most likely not "
                    f"delegated ({delegation.finding})", delegation, servers)
        if blocked is not None:
            events.warning("acm.validation.blocked", step=self.name, arn=resource.id,
                           reason=blocked, waiting_s=round(budget))
        self._poll(ctx, params, budget, blocked=blocked)
        return self._issued(ctx, resource)

    def _blocked(self, reason: str, delegation: Delegation, servers: list[str]) -> str:
        """The one-line reason with the name servers to set; raised at once in ``fail`` mode."""
        action = f"set {' '.join(sorted(s.rstrip('.') for s in servers))} {delegation.where}"
        message = (f"{self.name}: {self.cert.domain_name} {reason}; {action}, then rerun apply "
                   "(the pending certificate is kept)")
        if self.cert.on_undelegated_zone == "fail":
            raise ValidationBlocked(message)
        return message

    def _poll(self, ctx: StepContext, params: dict[str, Any], budget_s: float,
              blocked: str | None = None) -> None:
        """Poll fast first, then slowly; a timeout repeats why, when a reason is known."""
        try:
            try:
                ctx.wait("acm", "certificate_validated",
                         budget_s=min(self.fast_window_s, budget_s), delay_s=self.fast_poll_s,
                         **params)
            except StepTimeout:
                if budget_s <= self.fast_window_s:
                    raise
                ctx.wait("acm", "certificate_validated", budget_s=budget_s - self.fast_window_s,
                         delay_s=self.slow_poll_s, **params)
        except StepTimeout as exc:
            if blocked is None:
                raise
            raise StepTimeout(f"{blocked} (waited out the step's budget)") from exc

    def _issued(self, ctx: StepContext, resource: Resource) -> Resource:
        found = self._describe(ctx, resource.id)
        assert found is not None, "an issued certificate is describable"
        events.info("acm.certificate.issued", step=self.name, arn=resource.id)
        return found

    def _zone_name(self, ctx: StepContext) -> str:
        return str(ctx.output(ZONE_STEP, "name"))

    def _name_servers(self, ctx: StepContext) -> list[str]:
        outputs = ctx.outputs_of(ZONE_STEP) or {}
        servers = list(outputs.get("name_servers") or [])
        if servers:
            return [str(s) for s in servers]
        reply = ctx.client("route53").get_hosted_zone(Id=self._zone_id(ctx))
        return [str(s) for s in (reply.get("DelegationSet") or {}).get("NameServers", [])]

    # -- validation records ---------------------------------------------------
    @staticmethod
    def validation_records(data: dict[str, Any]) -> list[dict[str, str]] | None:
        """The distinct CNAMEs ACM asks for, or None while it has not named them all."""
        options = [o for o in data.get("DomainValidationOptions") or []
                   if o.get("ValidationMethod", "DNS") == "DNS"]
        if not options or any("ResourceRecord" not in o for o in options):
            return None
        records: dict[str, dict[str, str]] = {}
        for option in options:
            record = option["ResourceRecord"]
            # A wildcard and its apex share one record.
            records[fqdn(record["Name"])] = {"Name": fqdn(record["Name"]),
                                             "Type": record["Type"], "Value": record["Value"]}
        return [records[name] for name in sorted(records)]

    def _zone_id(self, ctx: StepContext) -> str:
        return str(ctx.output(ZONE_STEP, "zone_id"))

    @staticmethod
    def _present(current: dict[str, Any] | None, record: dict[str, str]) -> bool:
        values = [fqdn(v["Value"]) for v in (current or {}).get("ResourceRecords", [])]
        return values == [fqdn(record["Value"])]

    def _missing_records(self, ctx: StepContext,
                         records: list[dict[str, str]]) -> list[dict[str, str]]:
        zone = self._zone_id(ctx)
        return [r for r in records
                if not self._present(first_record(ctx, zone, r["Name"], r["Type"],
                                                      reader=self.name), r)]

    def _upsert(self, ctx: StepContext, records: list[dict[str, str]]) -> None:
        # Journalled first: if the certificate is deleted and the run stops before
        # these are, the zone's step still knows them as ours (and deletes them).
        zone = self._zone_id(ctx)
        ctx.note_written(self.name, [written_record(zone, r["Name"], r["Type"], r["Value"])
                                     for r in records])
        change_records(
            ctx, zone,
            [("UPSERT", {"Name": r["Name"], "Type": r["Type"], "TTL": VALIDATION_TTL,
                         "ResourceRecords": [{"Value": r["Value"]}]}) for r in records],
            comment=f"vivr-provision {self.name}: ACM validation of {self.cert.domain_name}")

    def _write_validation_records(self, ctx: StepContext, arn: str) -> None:
        def _named() -> list[dict[str, str]] | None:
            found = self._describe(ctx, arn)
            return None if found is None else self.validation_records(found.data)

        records = until_found(f"validation records of {arn}", _named,
                              deadline_s=RECORDS_VISIBLE_S, initial_s=0.2, max_wait_s=5.0)
        missing = self._missing_records(ctx, records)
        if missing:
            self._upsert(ctx, missing)
            events.info("acm.validation_records.written", step=self.name,
                        records=[r["Name"] for r in missing])

    # -- drift ---------------------------------------------------------------
    def fields(self) -> tuple[Field, ...]:
        """What the certificate is: all fixed at RequestCertificate (``replace`` here;
        :meth:`diff` turns them into a :class:`NewCertificate`), and tags."""
        domain = self.cert.domain_name

        def other_names(data: Mapping[str, Any]) -> list[str]:
            # The domain is a SAN of its own certificate too: compared apart.
            return sorted({*data.get("SubjectAlternativeNames", []),
                           str(data.get("DomainName"))} - {domain})

        def algorithm(data: Mapping[str, Any]) -> Any:
            reported = data.get("KeyAlgorithm")
            return _key_algorithm(str(reported)) if reported else UNREPORTED

        def methods(data: Mapping[str, Any]) -> Any:
            found = {o.get("ValidationMethod") for o in data.get("DomainValidationOptions") or []}
            found.discard(None)
            return sorted(found) if found else UNREPORTED

        return (
            # Expired, revoked, failed or timed out: cannot be revived, a new one
            # has to be requested.  A pending one is on its way to ISSUED.
            Field("status", lambda d: d.get("Status"), lambda s, ctx: ("ISSUED", *LIVE_STATUSES),
                  compare="any_of", effect="replace"),
            Field("domain_name", lambda d: d.get("DomainName"), lambda s, ctx: domain,
                  effect="replace"),
            Field("subject_alternative_names", other_names,
                  lambda s, ctx: sorted(set(s.sans) - {domain}),
                  effect="replace"),
            Field("key_algorithm", algorithm, lambda s, ctx: s.cert.key_algorithm,
                  effect="replace"),
            # Reported as the list of every name's method, which must be just ours.
            Field("validation_method", methods,
                  lambda s, ctx: (s.cert.validation_method, [s.cert.validation_method]),
                  compare="any_of", effect="replace"),
            TAGS,
        )

    #: The validation records, compared only while the certificate is not to be
    #: replaced: ``data["MissingRecords"]`` is what :meth:`diff` read from the zone.
    RECORDS = Field("validation_records", lambda d: d["MissingRecords"] or UNREPORTED,
                    lambda s, ctx: "present in the hosted zone", apply="write_missing_records")

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        """Drift; what ACM cannot change is a :class:`NewCertificate` (reported alone,
        with the tags); else missing validation records and a replaced certificate
        that nothing uses any more."""
        changes = drift(self, ctx, resource.data, self.fields())
        if any(c.replace for c in changes):
            return [NewCertificate(c.field, c.current, c.desired) if c.replace else c
                    for c in changes]
        if self.dns_validated:
            records = self.validation_records(resource.data)
            missing = self._missing_records(ctx, records) if records else []
            changes += drift(self, ctx, {"MissingRecords": [r["Name"] for r in missing]},
                             (self.RECORDS,))
        replaced = self._replaced(ctx, resource)
        if replaced is not None and not replaced.data.get("InUseBy"):
            changes.append(Change(REPLACED_FIELD, replaced.id, None))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        if any(isinstance(c, NewCertificate) for c in changes):
            return self._request_replacement(ctx, resource)
        converge(self, ctx, resource, changes, (*self.fields(), self.RECORDS))
        for change in changes:
            if change.field == REPLACED_FIELD:
                self._delete_replaced(ctx, str(change.current))
        found = self._describe(ctx, resource.id)
        assert found is not None
        return found

    # -- replacement (create before delete) -------------------------------------
    def _replaced(self, ctx: StepContext, resource: Resource | None) -> Resource | None:
        """The certificate ``resource`` replaced, while it still exists (its tag says which)."""
        arn = ((resource.data.get("TagMap") or {}) if resource else {}).get(REPLACES_TAG)
        if not arn or arn == (resource.id if resource else None):
            return None
        found = self._describe(ctx, str(arn))
        return found if found is not None and is_owned_by(self, found.data["TagMap"]) else None

    def _request_replacement(self, ctx: StepContext, resource: Resource) -> Resource:
        """Request the certificate the config describes, tagged with the one it replaces.

        The token is derived from the old ARN and the new settings, so a run
        interrupted after the request gets the same certificate back from
        ACM (which honours a token for an hour) rather than a second one.
        The engine records the new ARN; :meth:`wait` validates it.
        """
        seed = "|".join([resource.id, self.cert.domain_name, *sorted(self.sans),
                         self.cert.key_algorithm, self.cert.validation_method])
        token = hashlib.sha256(seed.encode()).hexdigest()
        new = self._request(ctx, token, {**self.tags(), REPLACES_TAG: resource.id})
        events.info("acm.certificate.replacing", step=self.name, old=resource.id, new=new.id)
        return new

    def _delete_replaced(self, ctx: StepContext, arn: str) -> None:
        """Delete a replaced certificate and the validation records only it used."""
        old = self._describe(ctx, arn)
        if old is None:
            return
        records = self.validation_records(old.data) or []
        CERTIFICATE_IN_USE.call(f"delete certificate {arn}", gone_on, CERTIFICATE.not_found,
                                self.acm(ctx).delete_certificate, CertificateArn=arn)
        events.info("acm.certificate.replaced_deleted", step=self.name, arn=arn)
        if self.dns_validated and records and ctx.has_outputs(ZONE_STEP):
            self._delete_validation_records(ctx, arn, records)

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """A replaced certificate still in use: why plan does not delete it yet."""
        replaced = self._replaced(ctx, resource)
        if replaced is None or not replaced.data.get("InUseBy"):
            return []
        users = ", ".join(str(u) for u in replaced.data["InUseBy"])
        return [f"certificate {replaced.id} (replaced) is still used by {users}; an apply "
                "deletes it once nothing uses it"]

    def write_missing_records(self, ctx: StepContext, resource: Resource,
                              changes: list[Change]) -> None:
        """UPSERT the validation records the zone lacks now (read again, not trusted)."""
        records = self.validation_records(resource.data) or []
        self._upsert(ctx, self._missing_records(ctx, records))

    # -- teardown --------------------------------------------------------------
    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        replaced = self._replaced(ctx, resource)
        if replaced is not None:  # made before this one, gone before it too
            self._delete_replaced(ctx, replaced.id)
        records = self.validation_records(resource.data) or []
        if resource.data.get("InUseBy"):
            events.info("acm.certificate.in_use", step=self.name, arn=resource.id,
                        used_by=resource.data["InUseBy"])
        CERTIFICATE_IN_USE.call(f"delete certificate {resource.id}", gone_on, CERTIFICATE.not_found,
                                self.acm(ctx).delete_certificate, CertificateArn=resource.id)
        if not self.dns_validated or not records or not ctx.has_outputs(ZONE_STEP):
            return []
        return self._delete_validation_records(ctx, resource.id, records)

    def _same_stack(self, tags: dict[str, str]) -> bool:
        """Whether a certificate was made by this tool for this project and environment."""
        return (tags.get("ManagedBy") == MANAGED_BY
                and tags.get("Project") == self.config.project
                and tags.get("Environment") == self.config.environment)

    def _records_in_use(self, ctx: StepContext, deleted_arn: str) -> dict[str, tuple[str, bool]]:
        """Validation record name -> (a live certificate other than ours that needs it,
        whether that certificate belongs to this stack).

        ACM derives the record from the account and the domain, so another
        certificate for the same names (the DR region's, a CloudFront copy)
        validates and renews with the very same CNAME.
        """
        used: dict[str, tuple[str, bool]] = {}
        regions = dict.fromkeys([self.region, self.config.aws.region, self.config.aws.dr_region])
        for region in regions:
            pages = self.acm(ctx, region).get_paginator("list_certificates").paginate(
                CertificateStatuses=list(LIVE_STATUSES), Includes={"keyTypes": KEY_TYPES})
            for page in pages:
                for summary in page["CertificateSummaryList"]:
                    arn = summary["CertificateArn"]
                    names = {summary.get("DomainName"),
                             *summary.get("SubjectAlternativeNameSummaries", [])}
                    if arn == deleted_arn or not names & self.names:
                        continue
                    reply = absent_on(CERTIFICATE.not_found,
                                      self.acm(ctx, region).describe_certificate,
                                      CertificateArn=arn)
                    if reply is None:
                        continue
                    tags = absent_on(CERTIFICATE.not_found, read_tags,
                                     self.acm(ctx, region), CERTIFICATE, arn) or {}
                    for record in self.validation_records(dict(reply["Certificate"])) or []:
                        used.setdefault(record["Name"], (arn, self._same_stack(tags)))
        return used

    def _delete_validation_records(self, ctx: StepContext, arn: str,
                                   records: list[dict[str, str]]) -> list[str]:
        zone = self._zone_id(ctx)
        in_use = self._records_in_use(ctx, arn)
        kept: list[str] = []
        doomed: list[dict[str, Any]] = []
        for record in records:
            current = get_record(ctx, zone, record["Name"], record["Type"])
            if current is None or not self._present(current, record):
                continue  # gone already, or rewritten by someone else: not ours to delete
            if record["Name"] in in_use:
                user, same_stack = in_use[record["Name"]]
                if same_stack:
                    # Handed over, not left behind: that certificate's step
                    # deletes the record when its own certificate goes.
                    events.info("acm.validation_record.shared", step=self.name,
                                record=record["Name"], certificate=user)
                else:
                    kept.append(f"validation record {record['Name']} CNAME kept: certificate "
                                f"{user} validates and renews with it")
                continue
            doomed.append(current)
        change_records(ctx, zone, [("DELETE", r) for r in doomed],
                       comment=f"vivr-provision {self.name}: certificate {arn} deleted")
        ctx.forget_written(self.name, [e for r in doomed if (e := entry_of(zone, r))])
        return kept

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "certificate_arn": resource.id,
                "domain": self.cert.domain_name, "region": self.region}


def acm_steps(config: PlatformConfig) -> list[Step]:
    """The certificate in the primary region (the ALB's; also CloudFront's in us-east-1)."""
    return [CertificateStep(config)]
