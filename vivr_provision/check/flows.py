"""The traffic flows the platform needs, proven over security groups, routes and NACLs.

A flow goes from a source placement (subnets, security groups) to a
destination placement and port.  It holds when

* a rule of the source's groups lets it out (egress: the destination group by
  reference, a CIDR covering every destination subnet, or 0.0.0.0/0 for the
  internet), security groups being stateful so replies need nothing;
* a rule of the destination's groups lets it in (ingress: a source group by
  reference, a CIDR covering every source subnet, the internet as
  0.0.0.0/0, CloudFront as 0.0.0.0/0 or its origin-facing prefix list);
* a route exists: the VPC's local route inside the VPC, the internet
  gateway from the ALB's public subnets, the NAT gateway from private
  subnets (whose NAT sits in a subnet routed to the internet gateway);
* the network ACLs pass it: the tool creates no NACL, so every subnet keeps
  its VPC's default NACL, which allows all traffic both ways (VPC User
  Guide, "Default network ACL").

Placements come from config (``ecs.service``, ``pgbouncer``, the RDS and
Redis subnet groups, ``alb``), the same values the steps use.  Besides the
flows that must exist, two kinds must not: data subnets with an internet
route, and any ingress to the database or cache groups from other than the
components that use them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import AlbConfig
from vivr_provision.config.edge import AlbOriginConfig
from vivr_provision.config.network import NetworkConfig, SecurityGroupConfig, SecurityRule
from vivr_provision.config.standby import standby_ecs_built

ANYWHERE = "0.0.0.0/0"
#: The AWS-managed prefix list of CloudFront's origin-facing addresses.
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
NACL = "NACL: VPC default, allows all (the tool manages none)"


@dataclass(frozen=True)
class Place:
    """Where a component sits; ``external`` places (internet, CloudFront) have no subnet."""

    label: str
    subnets: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    external: str | None = None


INTERNET = Place("internet", external="internet")
CLOUDFRONT = Place("CloudFront", external="cloudfront")


@dataclass(frozen=True)
class Site:
    """The primary site or the DR site: its network and its security groups."""

    label: str
    network: NetworkConfig
    groups: dict[str, SecurityGroupConfig]

    def rules(self, names: Iterable[str], egress: bool) -> list[tuple[str, SecurityRule]]:
        out = []
        for name in names:
            group = self.groups.get(name)
            if group is not None:
                out += [(name, r) for r in (group.egress if egress else group.ingress)]
        return out

    def missing_groups(self, place: Place) -> list[str]:
        return [g for g in place.groups if g not in self.groups]

    def cidrs(self, place: Place) -> list[ipaddress.IPv4Network]:
        known = {s.name: s for s in self.network.subnets}
        return [ipaddress.IPv4Network(known[n].cidr) for n in place.subnets if n in known]

    def route(self, subnet: str) -> tuple[str, str]:
        """(default route, route table); a subnet in no table keeps the main table: local only."""
        for table in self.network.route_tables:
            if subnet in table.subnets:
                return table.default_route, table.name
        return "none", "the VPC's main route table"


@dataclass(frozen=True)
class FlowResult:
    name: str
    ok: bool
    evidence: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def describe(rule: SecurityRule, egress: bool) -> str:
    if rule.protocol == "all":
        ports = "all"
    elif rule.protocol == "icmp":
        ports = "icmp"
    else:
        low, high = rule.port_range
        ports = f"{rule.protocol}/{low}" + (f"-{high}" if high != low else "")
    peer = rule.group or rule.cidr or f"prefix list {rule.prefix_list}"
    return f"{ports} {'to' if egress else 'from'} {peer}"


def _covers_port(rule: SecurityRule, port: int) -> bool:
    if rule.protocol == "all":
        return True
    if rule.protocol != "tcp":
        return False
    low, high = rule.port_range
    return low <= port <= high


def _covers_all(cidr: str, nets: list[ipaddress.IPv4Network]) -> bool:
    outer = ipaddress.IPv4Network(cidr)
    return bool(nets) and all(net.subnet_of(outer) for net in nets)


def _peer_matches(site: Site, rule: SecurityRule, peer: Place) -> bool:
    if peer.external == "internet":
        return rule.cidr == ANYWHERE
    if peer.external == "cloudfront":
        return rule.cidr == ANYWHERE or rule.prefix_list == CLOUDFRONT_PREFIX_LIST
    if rule.group is not None:
        return rule.group in peer.groups
    if rule.cidr is not None:
        return _covers_all(rule.cidr, site.cidrs(peer))
    return False


def _allowing(site: Site, owner: Place, peer: Place, port: int, egress: bool) -> str | None:
    for name, rule in site.rules(owner.groups, egress):
        if _covers_port(rule, port) and _peer_matches(site, rule, peer):
            return f"{name} {'egress' if egress else 'ingress'} {describe(rule, egress)}"
    return None


def _sg_checks(site: Site, src: Place, dst: Place, port: int) -> tuple[list[str], list[str]]:
    evidence: list[str] = []
    problems: list[str] = []
    for place in (src, dst):
        problems += [f"security group {g} of {place.label} is not defined"
                     for g in site.missing_groups(place)]
    if src.external is None:
        out = _allowing(site, src, dst, port, egress=True)
        if out is None:
            target = "0.0.0.0/0" if dst.external else ", ".join(dst.groups)
            problems.append(f"no egress rule of {', '.join(src.groups)} allows tcp/{port} to "
                            f"{target}")
        else:
            evidence.append(out)
    if dst.external is None:
        into = _allowing(site, dst, src, port, egress=False)
        if into is None:
            origin = {"internet": "0.0.0.0/0",
                      "cloudfront": f"0.0.0.0/0 or {CLOUDFRONT_PREFIX_LIST}"}.get(
                src.external or "", ", ".join(src.groups))
            problems.append(f"no ingress rule of {', '.join(dst.groups)} allows tcp/{port} "
                            f"from {origin}")
        else:
            evidence.append(into)
    return evidence, problems


def _result(name: str, evidence: list[str], problems: list[str],
            notes: Iterable[str] = ()) -> FlowResult:
    return FlowResult(name, not problems, tuple(evidence), tuple(problems), tuple(notes))


def internal_flow(site: Site, src: Place, dst: Place, port: int) -> FlowResult:
    """Inside one VPC: both groups, the local route, the default NACL."""
    evidence, problems = _sg_checks(site, src, dst, port)
    evidence += [f"route: local ({site.network.vpc.cidr})", NACL]
    return _result(f"{src.label} → {dst.label} tcp/{port}", evidence, problems)


def egress_via_nat(site: Site, src: Place, port: int, purpose: str) -> FlowResult:
    evidence, problems = _sg_checks(site, src, INTERNET, port)
    network = site.network
    nat = network.nat_gateway
    if nat is None:
        problems.append("network.nat_gateway is not configured")
    for subnet in src.subnets:
        route, table = site.route(subnet)
        if route != "nat_gateway":
            problems.append(f"subnet {subnet} has no 0.0.0.0/0 route to the NAT gateway "
                            f"({table}: {route})")
    if nat is not None:
        route, table = site.route(nat.subnet)
        if route != "internet_gateway":
            problems.append(f"the NAT gateway's subnet {nat.subnet} is not routed to the "
                            f"internet gateway ({table}: {route})")
        else:
            evidence.append(f"route: {', '.join(src.subnets)} → {nat.name} in {nat.subnet} "
                            f"→ internet gateway")
    evidence.append(NACL)
    return _result(f"{src.label} → internet tcp/{port} via NAT ({purpose})", evidence, problems)


def no_internet_route(site: Site, label: str, subnets: Iterable[str]) -> FlowResult:
    evidence: list[str] = []
    problems: list[str] = []
    known = {s.name: s for s in site.network.subnets}
    for subnet in subnets:
        route, table = site.route(subnet)
        if route != "none":
            problems.append(f"subnet {subnet} routes 0.0.0.0/0 to the {route.replace('_', ' ')} "
                            f"({table})")
        else:
            evidence.append(f"{subnet}: local route only ({table})")
        if subnet in known and known[subnet].map_public_ip_on_launch:
            problems.append(f"subnet {subnet} assigns public IPs on launch")
    return _result(f"{label} subnets: no internet route", evidence, problems)


def only_from(site: Site, dst: Place, port: int, allowed: list[Place]) -> FlowResult:
    """Nothing but ``allowed`` may reach ``dst``: every ingress rule of its groups is checked."""
    evidence: list[str] = []
    problems: list[str] = []
    vpc = ipaddress.IPv4Network(site.network.vpc.cidr)
    allowed_groups = {g for place in allowed for g in place.groups}
    allowed_subnets = {s for place in allowed for s in place.subnets}
    for name, rule in site.rules(dst.groups, egress=False):
        text = f"{name} ingress {describe(rule, False)}"
        if rule.protocol == "all" or rule.port_range != (port, port) or rule.protocol != "tcp":
            problems.append(f"{text} admits more than tcp/{port}")
        if rule.prefix_list is not None:
            problems.append(f"{text} admits addresses outside the VPC")
        elif rule.group is not None and rule.group not in allowed_groups:
            problems.append(f"{text} admits {rule.group}, which is not "
                            f"{' or '.join(p.label for p in allowed)}")
        elif rule.cidr is not None:
            net = ipaddress.IPv4Network(rule.cidr)
            if not net.subnet_of(vpc):
                problems.append(f"{text} admits addresses outside the VPC ({vpc})")
            else:
                stray = [s for s in site.network.subnets
                         if net.overlaps(ipaddress.IPv4Network(s.cidr))
                         and s.name not in allowed_subnets]
                if stray and allowed:
                    problems.append(f"{text} also admits "
                                    + ", ".join(f"{s.tier} subnet {s.name}" for s in stray[:3])
                                    + (" ..." if len(stray) > 3 else ""))
                evidence.append(text)
        else:
            evidence.append(text)
    if allowed:
        name = f"only {' and '.join(p.label for p in allowed)} may reach {dst.label} tcp/{port}"
    else:
        name = f"nothing outside {site.network.vpc.name} reaches {dst.label} tcp/{port}"
    return _result(name, evidence, problems)


def primary_site(config: PlatformConfig) -> Site:
    return Site("", config.network, {g.name: g for g in config.security_groups})


def placements(config: PlatformConfig) -> dict[str, Place]:
    pgb = config.pgbouncer
    return {
        "alb": Place("ALB", tuple(config.alb.subnets), tuple(config.alb.security_groups)),
        "app": Place("app", tuple(config.ecs.service.subnets),
                     tuple(config.ecs.service.security_groups)),
        "pgbouncer": Place("PgBouncer", (pgb.subnet,),
                           (pgb.security_group, *pgb.boot_security_groups)),
        "rds": Place("RDS", tuple(config.rds.subnet_group.subnets),
                     tuple(config.rds.security_groups)),
        "redis": Place("Redis", tuple(config.redis.subnet_group.subnets),
                       tuple(config.redis.security_groups)),
    }


def _viewer_flow(config: PlatformConfig) -> FlowResult:
    cf = config.cloudfront
    problems = [] if cf.enabled else ["cloudfront.enabled is false"]
    plain = [b.path_pattern for b in cf.behaviours if b.viewer_protocol_policy == "allow-all"]
    if plain:
        problems.append(f"behaviours {', '.join(plain)} serve viewers over plain HTTP")
    evidence = [f"{cf.name}: viewers over HTTPS only, WAF {cf.web_acl}"]
    return _result("internet → CloudFront tcp/443", evidence, problems)


def _alb_edge(site: Site, config: PlatformConfig, alb: Place, scheme: str) -> tuple[
        list[str], list[str]]:
    evidence: list[str] = []
    problems: list[str] = []
    if scheme != "internet-facing":
        problems.append(f"the ALB scheme is {scheme}; CloudFront reaches only internet-facing")
    for subnet in alb.subnets:
        route, table = site.route(subnet)
        if route != "internet_gateway":
            problems.append(f"ALB subnet {subnet} has no route to the internet gateway "
                            f"({table}: {route})")
    if not problems:
        evidence.append(f"route: {', '.join(alb.subnets)} → internet gateway")
    return evidence, problems


def _origin_flow(config: PlatformConfig, site: Site, alb: Place) -> FlowResult:
    verify = config.alb.origin_verify
    origins = [o for o in config.cloudfront.origins if isinstance(o, AlbOriginConfig)]
    evidence: list[str] = []
    problems: list[str] = []
    port = 443
    if not origins:
        problems.append("cloudfront.origins has no alb origin")
    for origin in origins:
        port = origin.https_port
        if origin.protocol_policy != "https-only":
            problems.append(f"CloudFront origin {origin.id} uses {origin.protocol_policy}, "
                            "not https-only")
        if not any(lst.protocol == "HTTPS" and lst.port == origin.https_port
                   and lst.action == "forward" for lst in config.alb.listeners):
            problems.append(f"no HTTPS listener of the ALB forwards on {origin.https_port}")
        if verify is not None:
            sent = [h for h in origin.custom_headers
                    if h.name.lower() == verify.header.lower() and h.secret == verify.secret]
            if sent:
                evidence.append(f"CloudFront origin {origin.id} sends {verify.header} "
                                f"(secret {verify.secret})")
            else:
                problems.append(f"CloudFront origin {origin.id} does not send {verify.header} "
                                f"with secret {verify.secret}; the ALB would answer "
                                f"{verify.deny_status_code} to every request")
    sg_evidence, sg_problems = _sg_checks(site, CLOUDFRONT, alb, port)
    edge_evidence, edge_problems = _alb_edge(site, config, alb, config.alb.scheme)
    header = verify.header if verify is not None else "the origin header"
    return _result(f"CloudFront → ALB tcp/{port} with {header}",
                   evidence + sg_evidence + edge_evidence + [NACL],
                   problems + sg_problems + edge_problems)


def _bypass_flow(label: str, where: str, alb: AlbConfig) -> FlowResult:
    """Requests straight to the ALB (not through CloudFront) must get no content."""
    evidence: list[str] = []
    problems: list[str] = []
    verify = alb.origin_verify
    for listener in alb.listeners:
        protocol, port = listener.protocol, listener.port
        if listener.action == "redirect":
            evidence.append(f"{protocol} {port}: redirects only")
        elif protocol != "HTTPS":
            problems.append(f"{protocol} listener {port} forwards without the header check")
        elif verify is not None:
            evidence.append(f"HTTPS {port}: forwards only with {verify.header}, "
                            f"else {verify.deny_status_code}")
    if verify is None:
        problems.append(f"{where}.origin_verify is not set: the {label} forwards requests that "
                        "bypass CloudFront and its WAF")
    return _result(f"internet → {label} direct (without the header): refused",
                   evidence, problems)


def _dr_flows(config: PlatformConfig) -> list[FlowResult]:
    dr = config.dr
    if not dr.enabled or dr.network is None:
        return []
    site = Site("dr", dr.network, {g.name: g for g in dr.security_groups})
    results: list[FlowResult] = []
    if dr.standby.alb and dr.alb is not None:
        results.append(_bypass_flow("DR ALB", "dr.alb", dr.alb))
        place = Place("DR ALB", tuple(dr.alb.subnets), tuple(dr.alb.security_groups))
        evidence, problems = _sg_checks(site, CLOUDFRONT, place, 443)
        edge_evidence, edge_problems = _alb_edge(site, config, place, dr.alb.scheme)
        results.append(_result("CloudFront → DR ALB tcp/443 (failover)",
                               evidence + edge_evidence + [NACL], problems + edge_problems))
    app = _standby_app(config)
    if app is not None:
        results += _standby_flows(config, site, app)
    if dr.database is not None:
        subnets = tuple(dr.database.subnet_group.subnets)
        results.append(no_internet_route(site, "DR database", subnets))
        database = Place("DR RDS replica", subnets, tuple(dr.database.security_groups))
        result = only_from(site, database, config.rds.port, [app] if app else [])
        if app is not None:
            results += [internal_flow(site, app, database, config.rds.port), result]
        else:
            note = ("the DR replica admits its whole VPC (public subnets included) until the "
                    "standby app tier has subnets of its own")
            results.append(FlowResult(result.name, result.ok, result.evidence, result.problems,
                                      (note,) if result.evidence else ()))
    if dr.standby.redis and dr.redis is not None:
        subnets = tuple(dr.redis.subnet_group.subnets)
        results.append(no_internet_route(site, "DR cache", subnets))
        cache = Place("DR Redis", subnets, tuple(dr.redis.security_groups))
        if app is not None:
            results.append(internal_flow(site, app, cache, config.redis.port))
        result = only_from(site, cache, config.redis.port, [])
        note = ("the standby Redis admits its whole VPC (by CIDR: its group is not named by "
                "the app tier's rules), not only the standby app subnets")
        results.append(FlowResult(result.name, result.ok, result.evidence, result.problems,
                                  (note,) if result.evidence else ()))
    return results


def _standby_app(config: PlatformConfig) -> Place | None:
    """Where the standby tasks run (``dr.standby.app``), when the standby tier is built."""
    app = config.dr.standby.app
    if app is None or not standby_ecs_built(config):
        return None
    return Place("DR app", tuple(app.subnets), tuple(app.security_groups))


def _standby_flows(config: PlatformConfig, site: Site, app: Place) -> list[FlowResult]:
    """The standby ALB reaches the tasks, and the tasks reach AWS's APIs and the image
    registry through the DR NAT gateway (even a pilot light needs it to start)."""
    results = [egress_via_nat(site, app, 443, "image pull, Secrets Manager, KMS, Logs")]
    alb = config.dr.alb
    if alb is not None:
        place = Place("DR ALB", tuple(alb.subnets), tuple(alb.security_groups))
        results.append(internal_flow(site, place, app, alb.target_group.port))
    return results


def check_flows(config: PlatformConfig) -> list[FlowResult]:
    site = primary_site(config)
    place = placements(config)
    results = [
        _viewer_flow(config),
        _origin_flow(config, site, place["alb"]),
        _bypass_flow("ALB", "alb", config.alb),
        internal_flow(site, place["alb"], place["app"], config.alb.target_group.port),
        internal_flow(site, place["app"], place["pgbouncer"], config.pgbouncer.listen_port),
        internal_flow(site, place["pgbouncer"], place["rds"], config.rds.port),
        internal_flow(site, place["app"], place["redis"], config.redis.port),
        egress_via_nat(site, place["app"], 443, "external APIs"),
        egress_via_nat(site, Place("PgBouncer", (config.pgbouncer.subnet,),
                                   tuple(config.pgbouncer.boot_security_groups)),
                       443, "boot: packages, Secrets Manager"),
        no_internet_route(site, "database", config.rds.subnet_group.subnets),
        no_internet_route(site, "cache", config.redis.subnet_group.subnets),
        only_from(site, place["rds"], config.rds.port, [place["app"], place["pgbouncer"]]),
        only_from(site, place["redis"], config.redis.port, [place["app"]]),
    ]
    container_port = config.ecs.task_definition.container.port
    if container_port != config.alb.target_group.port:
        results.append(_result("ALB target port = container port", [], [
            f"alb.target_group.port {config.alb.target_group.port} is not the container's "
            f"port {container_port}"]))
    return [*results, *_dr_flows(config)]
