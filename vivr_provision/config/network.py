"""Config of the VPC, subnets, NAT, route tables and security groups.

Cross-field rules that only need this section are checked here; rules that
need the region live in the root model.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vivr_provision.config.base import Cidr, ConfigProblems, Name, Port, StrictModel

SubnetTier = Literal["public", "private", "database", "cache"]


class VpcConfig(StrictModel):
    name: Name
    cidr: Cidr
    enable_dns_support: bool
    enable_dns_hostnames: bool


class SubnetConfig(StrictModel):
    name: Name
    cidr: Cidr
    availability_zone: str
    tier: SubnetTier
    map_public_ip_on_launch: bool = False


class InternetGatewayConfig(StrictModel):
    name: Name


class NatGatewayConfig(StrictModel):
    name: Name
    subnet: Name
    eip_name: Name


class RouteTableConfig(StrictModel):
    name: Name
    subnets: list[Name]
    default_route: Literal["internet_gateway", "nat_gateway", "none"]


class FlowLogConfig(StrictModel):
    """VPC flow logs published to a CloudWatch Logs group (EC2 ``CreateFlowLogs``).

    ``log_group`` is a key of ``logs.groups`` (created with its retention and
    the platform key); ``role`` a key of ``iam`` whose role trusts
    ``vpc-flow-logs.amazonaws.com`` and holds ``CloudWatchLogsDeliver`` on that
    group (VPC User Guide, "IAM role for publishing flow logs to CloudWatch
    Logs").  Every setting is fixed once created: a change replaces the flow
    log (the records already delivered stay in the group).
    """

    log_group: Name
    role: Name
    traffic_type: Literal["ACCEPT", "REJECT", "ALL"] = "ALL"
    #: Seconds over which a flow is aggregated into one record (AWS allows 60 or 600).
    max_aggregation_interval: Literal[60, 600] = 600
    #: The DR VPC's own group (``dr.network.flow_logs`` only): a flow log publishes
    #: into a group of its own region, so the DR site gets ``dr.logs.<log_group>``
    #: under this name, with ``log_group``'s description and retention and the DR key.
    dr_group_name: str | None = None


class NetworkConfig(StrictModel):
    """One VPC and what it holds; gateways are optional (the DR network may have none)."""

    vpc: VpcConfig
    internet_gateway: InternetGatewayConfig | None = None
    subnets: list[SubnetConfig]
    nat_gateway: NatGatewayConfig | None = None
    route_tables: list[RouteTableConfig]
    flow_logs: FlowLogConfig | None = None
    #: Revoke every rule of the VPC's default security group and keep it empty
    #: (CIS AWS Foundations 5.4; step ``default-sg``).  Nothing of the platform
    #: uses that group; an ENI launched without a group would get no traffic.
    empty_default_security_group: bool = True

    def subnet(self, name: str) -> SubnetConfig:
        """The subnet called ``name`` (validated to exist wherever it is referenced)."""
        for subnet in self.subnets:
            if subnet.name == name:
                return subnet
        raise KeyError(name)

    def subnets_of_tier(self, tier: SubnetTier) -> list[SubnetConfig]:
        return [s for s in self.subnets if s.tier == tier]

    @model_validator(mode="after")
    def _check_topology(self) -> NetworkConfig:
        problems: list[str] = []
        vpc = ipaddress.IPv4Network(self.vpc.cidr)
        seen: dict[str, ipaddress.IPv4Network] = {}
        for subnet in self.subnets:
            net = ipaddress.IPv4Network(subnet.cidr)
            where = f"subnets.{subnet.name}.cidr"
            if subnet.name in seen:
                problems.append(f"subnets.{subnet.name}: duplicate subnet name")
                continue
            if not net.subnet_of(vpc):
                problems.append(f"{where} {subnet.cidr} is outside vpc.cidr {self.vpc.cidr}")
            for other_name, other in seen.items():
                if net.overlaps(other):
                    problems.append(
                        f"{where} {subnet.cidr} overlaps subnets.{other_name}.cidr {other}"
                    )
            seen[subnet.name] = net
        nat = self.nat_gateway
        nat_subnet = next((s for s in self.subnets if nat and s.name == nat.subnet), None)
        if nat is None:
            pass
        elif self.internet_gateway is None:
            problems.append("nat_gateway: a public NAT gateway needs internet_gateway")
        elif nat_subnet is None:
            problems.append(f"nat_gateway.subnet {nat.subnet!r} is not a subnet")
        elif nat_subnet.tier != "public":
            problems.append(
                f"nat_gateway.subnet {nat_subnet.name!r} is a {nat_subnet.tier} subnet; "
                "a NAT gateway needs a public subnet"
            )
        associated: dict[str, str] = {}
        for table in self.route_tables:
            if table.default_route == "internet_gateway" and self.internet_gateway is None:
                problems.append(f"route_tables.{table.name}: routes to internet_gateway, "
                                "which is not configured")
            if table.default_route == "nat_gateway" and self.nat_gateway is None:
                problems.append(f"route_tables.{table.name}: routes to nat_gateway, "
                                "which is not configured")
            for name in table.subnets:
                member = next((s for s in self.subnets if s.name == name), None)
                if member is None:
                    problems.append(f"route_tables.{table.name}.subnets: unknown subnet {name!r}")
                    continue
                if name in associated:
                    problems.append(
                        f"route_tables.{table.name}.subnets: {name!r} is already associated "
                        f"with route table {associated[name]!r}"
                    )
                associated[name] = table.name
                if table.default_route == "internet_gateway" and member.tier != "public":
                    problems.append(
                        f"route_tables.{table.name}.subnets: {name!r} is a {member.tier} subnet "
                        "and must not route to the internet gateway"
                    )
                if table.default_route != "none" and member.tier in ("database", "cache"):
                    problems.append(
                        f"route_tables.{table.name}.subnets: {name!r} is a {member.tier} subnet "
                        "and must have no route to the internet"
                    )
        if problems:
            raise ConfigProblems(problems)
        return self


Protocol = Literal["tcp", "udp", "icmp", "all"]


class SecurityRule(StrictModel):
    """One inbound or outbound rule; the peer is a CIDR, another group by name,
    or an AWS-managed prefix list by name (e.g.
    ``com.amazonaws.global.cloudfront.origin-facing``, resolved to its id at apply).
    """

    protocol: Protocol
    port: Port | None = None
    to_port: Port | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    cidr: Cidr | None = None
    group: Name | None = None
    prefix_list: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    description: str

    @model_validator(mode="after")
    def _check_shape(self) -> SecurityRule:
        peers = [p for p in (self.cidr, self.group, self.prefix_list) if p is not None]
        if len(peers) != 1:
            raise ValueError("exactly one of cidr, group or prefix_list must be set")
        if self.protocol in ("tcp", "udp"):
            if self.port is None:
                raise ValueError(f"a {self.protocol} rule needs a port")
            if self.port == 0:
                raise ValueError("port 0 is out of range (1-65535)")
            if self.to_port is not None and self.to_port < self.port:
                raise ValueError(f"to_port {self.to_port} is below port {self.port}")
        elif self.port is not None or self.to_port is not None:
            raise ValueError(f"a {self.protocol} rule takes no port")
        if self.protocol == "icmp":
            for label, value in (("icmp_type", self.icmp_type), ("icmp_code", self.icmp_code)):
                if value is not None and not -1 <= value <= 255:
                    raise ValueError(f"{label} {value} is out of range (-1..255)")
        elif self.icmp_type is not None or self.icmp_code is not None:
            raise ValueError("icmp_type/icmp_code only apply to icmp rules")
        return self

    @property
    def port_range(self) -> tuple[int, int]:
        """The (FromPort, ToPort) pair AWS uses; -1/-1 means all."""
        if self.protocol in ("tcp", "udp"):
            assert self.port is not None
            return self.port, self.to_port if self.to_port is not None else self.port
        if self.protocol == "icmp":
            icmp_type = -1 if self.icmp_type is None else self.icmp_type
            return icmp_type, -1 if self.icmp_code is None else self.icmp_code
        return -1, -1


class SecurityGroupConfig(StrictModel):
    name: Name
    description: str
    ingress: list[SecurityRule]
    egress: list[SecurityRule]
