"""Is a public hosted zone delegated?  What AWS lets this account see of it.

DNS validation of an ACM certificate needs the public internet to reach
the hosted zone holding the validation records, i.e. the registrar (for a
registered domain) or the parent zone (for a subdomain) must list the
zone's name servers.  The tool has no DNS resolver (the standard library
has no NS lookup) and Route 53's ``TestDNSAnswer`` answers from Route 53
itself, not through the public delegation, so only two facts are checkable
with AWS APIs, and both are definitive when they apply:

* the zone's name is registered with Route 53 Domains in this account:
  ``GetDomainDetail`` lists the name servers the registry has;
* a parent zone of it is a public hosted zone of this account: its NS
  record for our name is the delegation.

Anything else (a registrar or parent DNS outside this account) cannot be
seen from here; the caller then has only time as evidence: records in
place, certificate still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.dns import bare_zone_id, fqdn, get_record

#: Route 53 Domains has one endpoint (AWS General Reference "Route 53 Domains endpoints").
DOMAINS_REGION = "us-east-1"
#: GetDomainDetail of a domain this account has not registered, a TLD Route 53
#: does not sell, or a caller without route53domains permissions: not knowable here.
DOMAIN_UNKNOWN = frozenset({"InvalidInput", "UnsupportedTLD", "AccessDeniedException",
                            "AccessDenied", "UnrecognizedClientException"})


@dataclass(frozen=True)
class Delegation:
    """What could be found out: ``delegated`` True/False when proven, None when unknown."""

    delegated: bool | None
    #: What was checked and what it showed (one clause, for the operator).
    finding: str
    #: Where the operator sets the name servers.
    where: str


def _servers(names: list[str]) -> set[str]:
    return {n.lower().rstrip(".") for n in names}


def _registrar_servers(ctx: StepContext, domain: str) -> list[str] | None:
    """Name servers Route 53 Domains lists for ``domain``, None if not registered here."""
    client = ctx.client("route53domains", DOMAINS_REGION)
    try:
        reply = client.get_domain_detail(DomainName=domain)
    except aws_errors.ClientError as exc:
        if error_code(exc) in DOMAIN_UNKNOWN:
            return None
        raise
    return [str(ns["Name"]) for ns in reply.get("Nameservers", [])]


def _parent_zone_ids(ctx: StepContext, parent: str) -> list[str]:
    """This account's public hosted zones named ``parent`` (the listing is in name order)."""
    reply = ctx.client("route53").list_hosted_zones_by_name(DNSName=fqdn(parent), MaxItems="10")
    return [bare_zone_id(z["Id"]) for z in reply["HostedZones"]
            if fqdn(z["Name"]) == fqdn(parent) and not z.get("Config", {}).get("PrivateZone")]


def _ns_values(record: dict[str, Any] | None) -> list[str]:
    return [str(r["Value"]) for r in (record or {}).get("ResourceRecords", [])]


def ancestors(zone_name: str) -> list[str]:
    """``a.b.example.com`` -> ``b.example.com``, ``example.com`` (never the bare TLD)."""
    labels = zone_name.rstrip(".").split(".")
    return [".".join(labels[cut:]) for cut in range(1, len(labels) - 1)]


def check_delegation(ctx: StepContext, zone_name: str, name_servers: list[str]) -> Delegation:
    """Whether the registrar or a parent zone in this account delegates to ``name_servers``."""
    zone = zone_name.rstrip(".")
    wanted = _servers(name_servers)
    listed = _registrar_servers(ctx, zone)
    if listed is not None:
        shown = ", ".join(sorted(_servers(listed))) or "no name servers"
        return Delegation(_servers(listed) == wanted,
                          f"Route 53 Domains lists {shown} for {zone}",
                          f"as the name servers of {zone} in Route 53 Domains")
    for parent in ancestors(zone):
        zone_ids = _parent_zone_ids(ctx, parent)
        if not zone_ids:
            continue
        values = [_ns_values(get_record(ctx, zone_id, zone, "NS")) for zone_id in zone_ids]
        ok = any(_servers(v) == wanted for v in values)
        found = next((v for v in values if v), [])
        shown = f"NS {', '.join(sorted(_servers(found)))}" if found else "no NS record"
        return Delegation(ok, f"parent zone {parent} in this account has {shown} for {zone}",
                          f"as the NS record of {zone} in hosted zone {parent}")
    return Delegation(None, "its registrar is not in this account, so the delegation could "
                            "not be checked",
                      f"at the registrar of {zone} (for a subdomain: as its NS record at the "
                      "parent zone's DNS host)")


__all__ = ["Delegation", "ancestors", "check_delegation"]
