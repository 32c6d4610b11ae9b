"""Network steps: VPC, internet gateway, subnets, NAT (with its EIP), route tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.network import (
    InternetGatewayConfig,
    NatGatewayConfig,
    NetworkConfig,
    RouteTableConfig,
    SubnetConfig,
)
from vivr_provision.retry import DEPENDENCY_DRAINING, READ_AFTER_CREATE
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.drift import Field, converge, drift
from vivr_provision.steps.ec2 import Ec2Kind, Ec2Step, tag_list

INTERNET = "0.0.0.0/0"
#: Where VpcStep.observed puts DescribeVpcAttribute's answers.
DNS_SUPPORT, DNS_HOSTNAMES = "EnableDnsSupport", "EnableDnsHostnames"


def _attached(data: Mapping[str, Any]) -> list[str]:
    """The VPCs an internet gateway is attached (or attaching) to."""
    return [a["VpcId"] for a in data.get("Attachments", [])
            if a.get("State") in ("available", "attached", "attaching")]


def _default_target(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(route field, target id) of a route table's route to the internet, or None."""
    for route in data.get("Routes", []):
        if route.get("DestinationCidrBlock") == INTERNET:
            for key in ("GatewayId", "NatGatewayId"):
                if route.get(key):
                    return key, str(route[key])
    return None


def _associations(data: Mapping[str, Any]) -> dict[str, str]:
    """subnet id -> association id for a route table's explicit associations."""
    return {a["SubnetId"]: a["RouteTableAssociationId"] for a in data.get("Associations", [])
            if a.get("SubnetId") and not a.get("Main")}


class NetworkStep(Ec2Step):
    """An EC2 network object of one site's network (primary or DR region)."""

    def __init__(self, config: PlatformConfig, network: NetworkConfig, key: str | None = None,
                 *, site: Site | None = None) -> None:
        super().__init__(config, key, site=site)
        self.network = network

    @property
    def igw(self) -> InternetGatewayConfig:
        assert self.network.internet_gateway is not None, "validated: igw configured"
        return self.network.internet_gateway

    @property
    def nat(self) -> NatGatewayConfig:
        assert self.network.nat_gateway is not None, "validated: nat configured"
        return self.network.nat_gateway


class VpcStep(NetworkStep):
    """The VPC with DNS support and hostnames as configured."""

    family = "vpc"
    kind = Ec2Kind("describe_vpcs", "Vpcs", "VpcId", "VpcIds", "vpc", "InvalidVpcID.NotFound",
                   delete=("delete_vpc", "VpcId"))

    def resource_name(self) -> str:
        return self.network.vpc.name

    def create(self, ctx: StepContext, token: str) -> Resource:
        vpc = self.network.vpc
        created = self.ec2(ctx).create_vpc(
            CidrBlock=vpc.cidr, TagSpecifications=self.tag_specifications()
        )["Vpc"]
        self.reap_twins(ctx, created["VpcId"])
        resource = Resource(created["VpcId"], created)
        self.wait(ctx, resource)
        self._set_dns(ctx, resource.id, support=vpc.enable_dns_support,
                      hostnames=vpc.enable_dns_hostnames)
        return self.refresh(ctx, resource)

    def _set_dns(self, ctx: StepContext, vpc_id: str, *, support: bool | None,
                 hostnames: bool | None) -> None:
        # One attribute per call: the API refuses both in one request.
        ec2 = self.ec2(ctx)
        if support is not None:
            READ_AFTER_CREATE.call("modify vpc dns support", ec2.modify_vpc_attribute,
                                   VpcId=vpc_id, EnableDnsSupport={"Value": support})
        if hostnames is not None:
            READ_AFTER_CREATE.call("modify vpc dns hostnames", ec2.modify_vpc_attribute,
                                   VpcId=vpc_id, EnableDnsHostnames={"Value": hostnames})

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("State") == "available"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if not self.is_ready(resource):
            ctx.wait("ec2", "vpc_available", budget_s=self.wait_budget_s, delay_s=2,
                     region=self.region, VpcIds=[resource.id])
        return resource

    FIELDS = (
        *NetworkStep.FIELDS,
        Field("cidr", lambda d: d.get("CidrBlock"), lambda s, ctx: s.network.vpc.cidr,
              effect="replace"),
        # DescribeVpcAttribute, one attribute per call (see observed).
        Field("enableDnsSupport", lambda d: d.get(DNS_SUPPORT),
              lambda s, ctx: s.network.vpc.enable_dns_support, apply="converge_dns"),
        Field("enableDnsHostnames", lambda d: d.get(DNS_HOSTNAMES),
              lambda s, ctx: s.network.vpc.enable_dns_hostnames, apply="converge_dns"),
    )

    def observed(self, ctx: StepContext, resource: Resource) -> Mapping[str, Any]:
        data = dict(resource.data)
        for attribute, key in (("enableDnsSupport", DNS_SUPPORT),
                               ("enableDnsHostnames", DNS_HOSTNAMES)):
            reply = self.ec2(ctx).describe_vpc_attribute(VpcId=resource.id, Attribute=attribute)
            data[key] = reply.get(attribute[0].upper() + attribute[1:], {}).get("Value")
        return data

    def converge_dns(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        wanted = {c.field: c.desired for c in changes}
        self._set_dns(ctx, resource.id, support=wanted.get("enableDnsSupport"),
                      hostnames=wanted.get("enableDnsHostnames"))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        DEPENDENCY_DRAINING.call("delete vpc", self.ec2(ctx).delete_vpc, VpcId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "vpc_id": resource.id, "cidr": resource.data.get("CidrBlock")}


class InternetGatewayStep(NetworkStep):
    """The internet gateway, attached to the VPC (one step: useless apart)."""

    family = "igw"
    kind = Ec2Kind("describe_internet_gateways", "InternetGateways", "InternetGatewayId",
                   "InternetGatewayIds", "internet-gateway",
                   "InvalidInternetGatewayID.NotFound",
                   already_exists=frozenset({"Resource.AlreadyAssociated"}),
                   inner_not_found=frozenset({"Gateway.NotAttached"}),
                   delete=("delete_internet_gateway", "InternetGatewayId"))

    def resource_name(self) -> str:
        return self.igw.name

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("vpc"),)

    def _attached_vpcs(self, resource: Resource) -> list[str]:
        return _attached(resource.data)

    def create(self, ctx: StepContext, token: str) -> Resource:
        created = self.ec2(ctx).create_internet_gateway(
            TagSpecifications=self.tag_specifications()
        )["InternetGateway"]
        self.reap_twins(ctx, created["InternetGatewayId"])
        resource = Resource(created["InternetGatewayId"], created)
        self._attach(ctx, resource)
        return self.refresh(ctx, resource)

    def _attach(self, ctx: StepContext, resource: Resource) -> None:
        vpc_id = ctx.output(self.site.step("vpc"), "vpc_id")
        READ_AFTER_CREATE.call("attach internet gateway", self.ec2(ctx).attach_internet_gateway,
                               InternetGatewayId=resource.id, VpcId=vpc_id)

    FIELDS = (
        *NetworkStep.FIELDS,
        # An internet gateway attaches to one VPC at most.
        Field("attachment", lambda d: next(iter(_attached(d)), None),
              lambda s, ctx: ctx.output(s.site.step("vpc"), "vpc_id"), apply="reattach"),
    )

    def reattach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        for vpc_id in self._attached_vpcs(resource):
            self.ec2(ctx).detach_internet_gateway(InternetGatewayId=resource.id, VpcId=vpc_id)
        self._attach(ctx, resource)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        ec2 = self.ec2(ctx)
        for vpc_id in self._attached_vpcs(resource):
            DEPENDENCY_DRAINING.call("detach internet gateway", ec2.detach_internet_gateway,
                                     InternetGatewayId=resource.id, VpcId=vpc_id)
        DEPENDENCY_DRAINING.call("delete internet gateway", ec2.delete_internet_gateway,
                                 InternetGatewayId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "igw_id": resource.id}


class SubnetStep(NetworkStep):
    """One subnet with its CIDR and AZ from config."""

    family = "subnet"
    kind = Ec2Kind("describe_subnets", "Subnets", "SubnetId", "SubnetIds", "subnet",
                   "InvalidSubnetID.NotFound",
                   # CreateSubnet retried: its CIDR is now taken by the first attempt's subnet.
                   already_exists=frozenset({"InvalidSubnet.Conflict"}))

    def __init__(self, config: PlatformConfig, network: NetworkConfig, subnet: SubnetConfig,
                 *, site: Site | None = None) -> None:
        super().__init__(config, network, subnet.name, site=site)
        self.subnet = subnet

    def resource_name(self) -> str:
        return self.subnet.name

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("vpc"),)

    def tags(self) -> dict[str, str]:
        return {**super().tags(), "Tier": self.subnet.tier}

    def create(self, ctx: StepContext, token: str) -> Resource:
        created = self.ec2(ctx).create_subnet(
            VpcId=ctx.output(self.site.step("vpc"), "vpc_id"),
            CidrBlock=self.subnet.cidr,
            AvailabilityZone=self.subnet.availability_zone,
            TagSpecifications=self.tag_specifications(),
        )["Subnet"]
        resource = Resource(created["SubnetId"], created)
        self.wait(ctx, resource)
        if self.subnet.map_public_ip_on_launch:
            self._set_public_ip(ctx, resource.id, True)
        return self.refresh(ctx, resource)

    def _set_public_ip(self, ctx: StepContext, subnet_id: str, value: bool) -> None:
        READ_AFTER_CREATE.call("modify subnet", self.ec2(ctx).modify_subnet_attribute,
                               SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": value})

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("State") == "available"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if not self.is_ready(resource):
            ctx.wait("ec2", "subnet_available", budget_s=self.wait_budget_s, delay_s=2,
                     region=self.region, SubnetIds=[resource.id])
        return resource

    FIELDS = (
        *NetworkStep.FIELDS,
        Field("cidr", lambda d: d.get("CidrBlock"), lambda s, ctx: s.subnet.cidr,
              effect="replace"),
        Field("availability_zone", lambda d: d.get("AvailabilityZone"),
              lambda s, ctx: s.subnet.availability_zone, effect="replace"),
        Field("vpc", lambda d: d.get("VpcId"),
              lambda s, ctx: ctx.output(s.site.step("vpc"), "vpc_id"), effect="replace"),
        Field("map_public_ip_on_launch", lambda d: bool(d.get("MapPublicIpOnLaunch")),
              lambda s, ctx: s.subnet.map_public_ip_on_launch, apply="converge_public_ip"),
    )

    def converge_public_ip(self, ctx: StepContext, resource: Resource,
                           changes: list[Change]) -> None:
        self._set_public_ip(ctx, resource.id, bool(changes[-1].desired))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        DEPENDENCY_DRAINING.call("delete subnet", self.ec2(ctx).delete_subnet,
                                 SubnetId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {
            "id": resource.id,
            "subnet_id": resource.id,
            "availability_zone": resource.data.get("AvailabilityZone"),
            "cidr": resource.data.get("CidrBlock"),
        }


class ElasticIpStep(NetworkStep):
    """The Elastic IP the NAT gateway uses."""

    family = "eip"
    kind = Ec2Kind("describe_addresses", "Addresses", "AllocationId", "AllocationIds",
                   "elastic-ip", "InvalidAllocationID.NotFound",
                   delete=("release_address", "AllocationId"))

    def __init__(self, config: PlatformConfig, network: NetworkConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, network, "nat", site=site)

    def resource_name(self) -> str:
        return self.nat.eip_name

    def create(self, ctx: StepContext, token: str) -> Resource:
        created = self.ec2(ctx).allocate_address(
            Domain="vpc", TagSpecifications=self.tag_specifications()
        )
        self.reap_twins(ctx, created["AllocationId"])
        return self.refresh(ctx, Resource(created["AllocationId"], created))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        DEPENDENCY_DRAINING.call("release address", self.ec2(ctx).release_address,
                                 AllocationId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "allocation_id": resource.id,
                "public_ip": resource.data.get("PublicIp")}


class NatGatewayStep(NetworkStep):
    """The NAT gateway in its public subnet; private app subnets route through it."""

    family = "nat"
    expected_seconds = 120.0
    timing_kind = "nat_gateway"
    wait_budget_s = 1200.0
    kind = Ec2Kind("describe_nat_gateways", "NatGateways", "NatGatewayId", "NatGatewayIds",
                   "natgateway", "NatGatewayNotFound", state_field="State",
                   dead_states=frozenset({"deleting", "deleted", "failed"}))

    def resource_name(self) -> str:
        return self.nat.name

    def _subnet_step(self) -> str:
        return self.site.step(f"subnet.{self.nat.subnet}")

    def depends_on(self) -> tuple[str, ...]:
        # The IGW must be attached before a public NAT can route.
        return (self._subnet_step(), self.site.step("eip.nat"), self.site.step("igw"))

    def create(self, ctx: StepContext, token: str) -> Resource:
        created = self.ec2(ctx).create_nat_gateway(
            SubnetId=ctx.output(self._subnet_step(), "subnet_id"),
            AllocationId=ctx.output(self.site.step("eip.nat"), "allocation_id"),
            ConnectivityType="public",
            ClientToken=token,
            TagSpecifications=self.tag_specifications(),
        )["NatGateway"]
        return Resource(created["NatGatewayId"], created)

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("State") == "available"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        ctx.wait("ec2", "nat_gateway_available", budget_s=self.wait_budget_s, delay_s=10,
                 expected_s=self.aws_seconds("create"), region=self.region,
                 NatGatewayIds=[resource.id])
        return self.refresh(ctx, resource)

    FIELDS = (
        *NetworkStep.FIELDS,
        Field("subnet", lambda d: d.get("SubnetId"),
              lambda s, ctx: ctx.output(s._subnet_step(), "subnet_id"), effect="replace"),
        # The primary address: the Elastic IP the gateway was made with.
        Field("elastic_ip",
              lambda d: next((a.get("AllocationId") for a in d.get("NatGatewayAddresses", [])
                              if a.get("IsPrimary", True)), None),
              lambda s, ctx: ctx.output(s.site.step("eip.nat"), "allocation_id"),
              effect="replace"),
    )

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        self.ec2(ctx).delete_nat_gateway(NatGatewayId=resource.id)
        ctx.wait("ec2", "nat_gateway_deleted", budget_s=self.wait_budget_s, delay_s=10,
                 expected_s=self.aws_seconds("delete"), region=self.region,
                 NatGatewayIds=[resource.id])

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "nat_gateway_id": resource.id}


class RouteTableStep(NetworkStep):
    """A route table, its default route and its subnet associations."""

    family = "rtb"
    kind = Ec2Kind("describe_route_tables", "RouteTables", "RouteTableId", "RouteTableIds",
                   "route-table", "InvalidRouteTableID.NotFound",
                   already_exists=frozenset({"RouteAlreadyExists", "Resource.AlreadyAssociated"}),
                   inner_not_found=frozenset({"InvalidRoute.NotFound",
                                              "InvalidAssociationID.NotFound"}))

    def __init__(self, config: PlatformConfig, network: NetworkConfig, table: RouteTableConfig,
                 *, site: Site | None = None) -> None:
        super().__init__(config, network, table.name, site=site)
        self.table = table

    def resource_name(self) -> str:
        return self.table.name

    def _target_step(self) -> str | None:
        target = {"internet_gateway": "igw", "nat_gateway": "nat", "none": None}[
            self.table.default_route
        ]
        return self.site.step(target) if target else None

    def depends_on(self) -> tuple[str, ...]:
        deps = [self.site.step("vpc"), *(self.site.step(f"subnet.{s}") for s in self.table.subnets)]
        target = self._target_step()
        if target:
            deps.append(target)
        return tuple(deps)

    def _desired_target(self, ctx: StepContext) -> tuple[str, str] | None:
        """(route field, id) of the default route, or None for no internet route."""
        if self.table.default_route == "internet_gateway":
            return "GatewayId", ctx.output(self.site.step("igw"), "igw_id")
        if self.table.default_route == "nat_gateway":
            return "NatGatewayId", ctx.output(self.site.step("nat"), "nat_gateway_id")
        return None

    def _associations(self, resource: Resource) -> dict[str, str]:
        return _associations(resource.data)

    def create(self, ctx: StepContext, token: str) -> Resource:
        created = self.ec2(ctx).create_route_table(
            VpcId=ctx.output(self.site.step("vpc"), "vpc_id"),
            ClientToken=token,
            TagSpecifications=self.tag_specifications(),
        )["RouteTable"]
        resource = Resource(created["RouteTableId"], created)
        converge(self, ctx, resource, drift(self, ctx, resource.data, self.FIELDS[1:]),
                 self.FIELDS)
        return self.refresh(ctx, resource)

    FIELDS = (
        *NetworkStep.FIELDS,
        Field("default_route", _default_target,
              lambda s, ctx: s._desired_target(ctx), apply="converge_default_route"),
        Field("associations", lambda d: sorted(_associations(d)),
              lambda s, ctx: sorted(ctx.output(s.site.step(f"subnet.{n}"), "subnet_id")
                                    for n in s.table.subnets),
              apply="converge_associations"),
    )

    def converge_default_route(self, ctx: StepContext, resource: Resource,
                               changes: list[Change]) -> None:
        ec2 = self.ec2(ctx)
        change = changes[-1]
        if change.current is not None:
            ec2.delete_route(RouteTableId=resource.id, DestinationCidrBlock=INTERNET)
        if change.desired is not None:
            key, target = change.desired
            READ_AFTER_CREATE.call("create route", ec2.create_route, RouteTableId=resource.id,
                                   DestinationCidrBlock=INTERNET, **{key: target})

    def converge_associations(self, ctx: StepContext, resource: Resource,
                              changes: list[Change]) -> None:
        have = self._associations(resource)
        wanted = set(changes[-1].desired)
        missing = sorted(wanted - set(have))
        elsewhere = self._explicit_associations(ctx, missing) if missing else {}
        for subnet_id in missing:
            self._associate(ctx, resource.id, subnet_id, elsewhere.get(subnet_id))
        for subnet_id in sorted(set(have) - wanted):
            self.ec2(ctx).disassociate_route_table(AssociationId=have[subnet_id])

    def _explicit_associations(self, ctx: StepContext, subnet_ids: list[str]) -> dict[str, str]:
        """Subnet id -> its explicit association with another table, for those of
        ``subnet_ids`` that have one: one call for all (a filter's values are ORed)."""
        tables = self.ec2(ctx).describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}])["RouteTables"]
        return {str(a["SubnetId"]): str(a["RouteTableAssociationId"])
                for table in tables for a in table.get("Associations", [])
                if a.get("SubnetId") in subnet_ids and not a.get("Main")}

    def _associate(self, ctx: StepContext, table_id: str, subnet_id: str,
                   association_id: str | None) -> None:
        """Associate ``subnet_id``; a subnet can be explicitly associated with one table
        only, so one in another table (``association_id``) is moved."""
        ec2 = self.ec2(ctx)
        if association_id is not None:
            ec2.replace_route_table_association(AssociationId=association_id,
                                                RouteTableId=table_id)
            return
        READ_AFTER_CREATE.call("associate route table", ec2.associate_route_table,
                               RouteTableId=table_id, SubnetId=subnet_id)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        ec2 = self.ec2(ctx)
        for association_id in self._associations(resource).values():
            ec2.disassociate_route_table(AssociationId=association_id)
        DEPENDENCY_DRAINING.call("delete route table", ec2.delete_route_table,
                                 RouteTableId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "route_table_id": resource.id}


def site_network_steps(config: PlatformConfig, network: NetworkConfig,
                       site: Site | None = None) -> list[Step]:
    """The network steps of one site; gateways only where the network has them."""
    steps: list[Step] = [VpcStep(config, network, site=site)]
    if network.internet_gateway is not None:
        steps.append(InternetGatewayStep(config, network, site=site))
    steps += [SubnetStep(config, network, s, site=site) for s in network.subnets]
    if network.nat_gateway is not None:
        steps += [ElasticIpStep(config, network, site=site),
                  NatGatewayStep(config, network, site=site)]
    steps += [RouteTableStep(config, network, t, site=site) for t in network.route_tables]
    return steps


def network_steps(config: PlatformConfig) -> list[Step]:
    """All network steps of the primary region, in declaration order."""
    return site_network_steps(config, config.network)


__all__ = ["network_steps", "tag_list"]
