"""The sandbox's view of the public DNS: which hosted zones the internet delegates to.

On AWS, ACM validates a DNS-validated certificate only when a public
resolver finds its validation CNAME, i.e. when the registrar of the domain
(or the parent zone) delegates to the name servers of the hosted zone that
holds the record.  A new public hosted zone is not delegated until the
operator sets its name servers at the registrar, and until then the
certificate stays ``PENDING_VALIDATION`` (for up to 72 hours, then
``VALIDATION_TIMED_OUT``).

moto 5.2.5 issues every pending certificate once ``MOTO_ACM_VALIDATION_WAIT``
seconds have passed, whatever the DNS says; the setting is global and read
at import, so no test can show a certificate that cannot validate.  This
module gives the sandbox a registrar:

* :data:`registrar` records, per account, the name servers an *external*
  registrar (one this account cannot query, as on AWS) lists for a domain:
  ``registrar.point(account, "vivr.example.com", ["ns1.elsewhere.example"])``
  says the registrar still points elsewhere.  The sandbox runs in the test
  process, so tests call it directly; ``registrar.clear(account, domain)``
  is the operator fixing the delegation.
* A domain registered in the account with Route 53 Domains (moto's
  ``route53domains``) delegates to the name servers listed there.
* A zone whose parent is a public zone of the same account is delegated by
  that parent's NS record for it.
* Otherwise the zone counts as delegated: the sandbox's default, so
  every existing run validates as before.

:func:`fix_acm_validation_needs_delegation` (registered in
``vivr_sandbox.fixes``) keeps a certificate ``PENDING_VALIDATION`` while any of
its names lies in a zone of the account that the registrar does not
delegate to.  Nothing here is on the product's code path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any


def _fqdn(name: str) -> str:
    name = name.lower().removeprefix("*.")
    return name if name.endswith(".") else name + "."


def _servers(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.lower().rstrip(".") for n in names)


class Registrar:
    """Name servers an external registrar lists per (account, domain); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listed: dict[tuple[str, str], frozenset[str]] = {}

    def point(self, account: str, domain: str, name_servers: Iterable[str]) -> None:
        """The registrar of ``domain`` delegates to ``name_servers`` (e.g. another DNS host)."""
        with self._lock:
            self._listed[(account, _fqdn(domain))] = _servers(name_servers)

    def clear(self, account: str, domain: str) -> None:
        """Forget the entry: the domain counts as delegated to this account's zone again."""
        with self._lock:
            self._listed.pop((account, _fqdn(domain)), None)

    def listed(self, account: str, domain: str) -> frozenset[str] | None:
        with self._lock:
            return self._listed.get((account, _fqdn(domain)))


registrar = Registrar()


def _route53_backend(account: str) -> Any:
    from moto.route53.models import route53_backends

    return route53_backends[account]["aws"]


def _route53domains_servers(account: str, domain: str) -> frozenset[str] | None:
    """Name servers of ``domain`` if it is registered with Route 53 Domains in this account."""
    from moto.route53domains.models import route53domains_backends

    backend = route53domains_backends[account]["aws"]
    domains = getattr(backend, "_Route53DomainsBackend__domains", {})
    found = domains.get(domain.rstrip("."))
    if found is None:
        return None
    return _servers(getattr(s, "name", "") for s in getattr(found, "nameservers", []) or [])


def _public_zones(account: str) -> list[Any]:
    return [z for z in _route53_backend(account).zones.values() if not z.private_zone]


def _zone_servers(zone: Any) -> frozenset[str]:
    return _servers(zone.delegation_set.name_servers if zone.delegation_set else [])


def _ns_record(zone: Any, name: str) -> frozenset[str] | None:
    for record in zone.rrsets:
        if record.type == "NS" and _fqdn(record.name) == name:
            return _servers(r["Value"] if isinstance(r, dict) else str(r)
                            for r in record.records)
    return None


def zone_delegated(account: str, zone: Any, depth: int = 0) -> bool:
    """Whether the public internet reaches ``zone`` (see the module docstring)."""
    name = _fqdn(zone.name)
    listed = registrar.listed(account, name)
    if listed is None:
        listed = _route53domains_servers(account, name)
    if listed is not None:
        return listed == _zone_servers(zone)
    labels = name.rstrip(".").split(".")
    for cut in range(1, len(labels) - 1):
        parent_name = _fqdn(".".join(labels[cut:]))
        parents = [z for z in _public_zones(account) if _fqdn(z.name) == parent_name]
        if parents and depth < 8:
            return any(_ns_record(p, name) == _zone_servers(zone)
                       and zone_delegated(account, p, depth + 1) for p in parents)
    return True


def _zone_of(account: str, domain: str) -> Any | None:
    """The account's public zone with the longest name that ``domain`` falls in."""
    name = _fqdn(domain)
    matching = [z for z in _public_zones(account)
                if name == _fqdn(z.name) or name.endswith("." + _fqdn(z.name))]
    return max(matching, key=lambda z: len(_fqdn(z.name)), default=None)


def names_resolvable(account: str, names: Iterable[str]) -> bool:
    """Whether every name lies in no zone of the account, or in one the internet delegates to.

    When several same-named zones exist, any delegated one will do.
    """
    for domain in names:
        zone = _zone_of(account, domain)
        if zone is None:
            continue
        twins = [z for z in _public_zones(account) if _fqdn(z.name) == _fqdn(zone.name)]
        if not any(zone_delegated(account, z) for z in twins):
            return False
    return True


def fix_acm_validation_needs_delegation() -> None:
    """ACM: a DNS-validated certificate stays PENDING_VALIDATION while its zone is not
    delegated (the sandbox registrar, ``vivr_sandbox.dns``).

    moto 5.2.5 issues every Amazon-issued certificate once
    ``MOTO_ACM_VALIDATION_WAIT`` seconds have passed.  AWS issues it only
    when public DNS answers the validation CNAME, which a new zone the
    registrar does not delegate to never does.  The fix skips moto's
    issuing step while a name of the certificate lies in a zone of the
    account that :data:`registrar` says is not delegated.
    """
    from moto.acm.models import CertBundle

    from vivr_sandbox.fixes.patching import wrap

    @wrap(CertBundle, "check")
    def check(original: Any, self: Any) -> None:
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION":
            account = str(getattr(self, "arn", "")).split(":")[4:5]
            names = {self.common_name, *self.sans}
            if account and not names_resolvable(account[0], names):
                return
        original(self)


__all__ = ["Registrar", "fix_acm_validation_needs_delegation", "names_resolvable", "registrar",
           "zone_delegated"]
