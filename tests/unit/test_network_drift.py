"""Network drift (VPC, subnets, internet gateway, NAT, route tables, security groups),
table-driven on Stubber clients (no sandbox).

Each case is AWS's description of one resource edited by hand: what plan
shows, and for a setting AWS changes in place, the exact requests apply sends.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Change, Resource, Step
from vivr_provision.steps.ec2 import tag_list
from vivr_provision.steps.network import (
    InternetGatewayStep,
    NatGatewayStep,
    RouteTableStep,
    SubnetStep,
    VpcStep,
)
from vivr_provision.steps.security import SecurityGroupStep

SUBNET_IDS = {"public-1a": "subnet-pa", "public-1b": "subnet-pb", "private-1a": "subnet-a",
              "private-1b": "subnet-b", "private-1c": "subnet-c"}
OUTPUTS: dict[str, dict[str, Any]] = {
    "vpc": {"vpc_id": "vpc-1"}, "igw": {"igw_id": "igw-1"}, "nat": {"nat_gateway_id": "nat-1"},
    "eip.nat": {"allocation_id": "eipalloc-1"},
    **{f"subnet.{name}": {"subnet_id": sid} for name, sid in SUBNET_IDS.items()}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _tags(step: Step) -> list[dict[str, str]]:
    return tag_list(step.tags())


def _vpc(step: VpcStep, **edits: Any) -> dict[str, Any]:
    return {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "State": "available",
            "Tags": _tags(step), **edits}


def _expect_dns(aws: StubbedAws, support: bool, hostnames: bool) -> None:
    aws.expect("ec2", "describe_vpc_attribute",
               {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": support}},
               {"VpcId": "vpc-1", "Attribute": "enableDnsSupport"})
    aws.expect("ec2", "describe_vpc_attribute",
               {"VpcId": "vpc-1", "EnableDnsHostnames": {"Value": hostnames}},
               {"VpcId": "vpc-1", "Attribute": "enableDnsHostnames"})


def _refresh(aws: StubbedAws, call: str, key: str, item: dict[str, Any]) -> None:
    aws.expect("ec2", call, {key: [item]})


@pytest.mark.parametrize(("edits", "dns", "expected"), [
    ({}, (True, True), []),
    ({}, (True, False), [Change("enableDnsHostnames", False, True)]),
    ({"CidrBlock": "10.9.0.0/16"}, (True, True),
     [Change("cidr", "10.9.0.0/16", "10.0.0.0/16", replace=True)]),
    ({"Tags": []}, (True, True), ["tags"]),
])
def test_vpc_drift(config: PlatformConfig, edits: dict[str, Any], dns: tuple[bool, bool],
                   expected: list[Change | str]) -> None:
    step = VpcStep(config, config.network)
    with StubbedAws() as aws:
        _expect_dns(aws, *dns)
        changes = step.diff(aws.context(config, OUTPUTS), Resource("vpc-1", _vpc(step, **edits)))
    assert [c if isinstance(e, Change) else c.field for c, e in zip(changes, expected,
                                                                     strict=True)] == expected


def test_vpc_dns_is_set_one_attribute_per_call_and_tags_by_create_tags(
        config: PlatformConfig) -> None:
    step = VpcStep(config, config.network)
    resource = Resource("vpc-1", _vpc(step, Tags=[]))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        _expect_dns(aws, False, False)
        changes = step.diff(ctx, resource)
        assert [c.field for c in changes] == ["tags", "enableDnsSupport", "enableDnsHostnames"]
        aws.expect("ec2", "create_tags", {}, {"Resources": ["vpc-1"], "Tags": _tags(step)})
        aws.expect("ec2", "modify_vpc_attribute", {},
                   {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": True}})
        aws.expect("ec2", "modify_vpc_attribute", {},
                   {"VpcId": "vpc-1", "EnableDnsHostnames": {"Value": True}})
        _refresh(aws, "describe_vpcs", "Vpcs", _vpc(step))
        step.update(ctx, resource, changes)


def _subnet(step: SubnetStep, **edits: Any) -> dict[str, Any]:
    return {"SubnetId": "subnet-a", "CidrBlock": step.subnet.cidr, "VpcId": "vpc-1",
            "AvailabilityZone": step.subnet.availability_zone, "State": "available",
            "MapPublicIpOnLaunch": step.subnet.map_public_ip_on_launch, "Tags": _tags(step),
            **edits}


def _subnet_step(config: PlatformConfig, name: str) -> SubnetStep:
    [subnet] = [s for s in config.network.subnets if s.name == name]
    return SubnetStep(config, config.network, subnet)


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"AvailabilityZone": "us-east-1f"},
     [("availability_zone", "us-east-1f", True)]),
    ({"VpcId": "vpc-9"}, [("vpc", "vpc-9", True)]),
    ({"MapPublicIpOnLaunch": True}, [("map_public_ip_on_launch", True, False)]),
])
def test_subnet_drift(config: PlatformConfig, edits: dict[str, Any],
                      expected: list[tuple[str, Any, bool]]) -> None:
    step = _subnet_step(config, "private-1a")
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource("subnet-a", _subnet(step, **edits)))
    assert [(c.field, c.current, c.replace) for c in changes] == expected


def test_a_subnet_made_public_by_hand_is_made_private_again(config: PlatformConfig) -> None:
    step = _subnet_step(config, "private-1a")
    resource = Resource("subnet-a", _subnet(step, MapPublicIpOnLaunch=True))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, resource)
        aws.expect("ec2", "modify_subnet_attribute", {},
                   {"SubnetId": "subnet-a", "MapPublicIpOnLaunch": {"Value": False}})
        _refresh(aws, "describe_subnets", "Subnets", _subnet(step))
        step.update(ctx, resource, changes)


def test_a_detached_internet_gateway_is_attached_again(config: PlatformConfig) -> None:
    step = InternetGatewayStep(config, config.network)
    gateway = {"InternetGatewayId": "igw-1", "Attachments": [], "Tags": _tags(step)}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource("igw-1", gateway))
        assert changes == [Change("attachment", None, "vpc-1")]
        aws.expect("ec2", "attach_internet_gateway", {},
                   {"InternetGatewayId": "igw-1", "VpcId": "vpc-1"})
        _refresh(aws, "describe_internet_gateways", "InternetGateways",
                 {**gateway, "Attachments": [{"VpcId": "vpc-1", "State": "available"}]})
        step.update(ctx, Resource("igw-1", gateway), changes)


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"SubnetId": "subnet-pb"}, [("subnet", True)]),
    ({"NatGatewayAddresses": [{"AllocationId": "eipalloc-9", "IsPrimary": True}]},
     [("elastic_ip", True)]),
])
def test_nat_gateway_settings_are_fixed(config: PlatformConfig, edits: dict[str, Any],
                                        expected: list[tuple[str, bool]]) -> None:
    step = NatGatewayStep(config, config.network)
    nat = {"NatGatewayId": "nat-1", "SubnetId": "subnet-pa", "State": "available",
           "NatGatewayAddresses": [{"AllocationId": "eipalloc-1", "IsPrimary": True}],
           "Tags": _tags(step), **edits}
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS), Resource("nat-1", nat))
    assert [(c.field, c.replace) for c in changes] == expected


def _route_table(step: RouteTableStep, routes: list[dict[str, Any]],
                 subnets: list[str]) -> dict[str, Any]:
    return {"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": routes, "Tags": _tags(step),
            "Associations": [{"SubnetId": s, "RouteTableAssociationId": f"rtbassoc-{s}",
                              "Main": False} for s in subnets]}


def test_a_private_table_gets_its_nat_route_and_associations_back(
        config: PlatformConfig) -> None:
    [table] = [t for t in config.network.route_tables if t.name == "vivr-private-rt"]
    step = RouteTableStep(config, config.network, table)
    local = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}
    resource = Resource("rtb-1", _route_table(step, [local], ["subnet-a", "subnet-pa"]))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, resource)
        assert [(c.field, c.current, c.desired) for c in changes] == [
            ("default_route", None, ("NatGatewayId", "nat-1")),
            ("associations", ["subnet-a", "subnet-pa"],
             ["subnet-a", "subnet-b", "subnet-c"])]
        aws.expect("ec2", "create_route", {"Return": True},
                   {"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0",
                    "NatGatewayId": "nat-1"})
        # One look for both: subnet-c is in another table (moved), subnet-b in none.
        elsewhere = {"RouteTableId": "rtb-9", "Associations": [
            {"SubnetId": "subnet-c", "RouteTableAssociationId": "rtbassoc-9c", "Main": False},
            {"SubnetId": "subnet-z", "RouteTableAssociationId": "rtbassoc-9z", "Main": False}]}
        aws.expect("ec2", "describe_route_tables", {"RouteTables": [elsewhere]},
                   {"Filters": [{"Name": "association.subnet-id",
                                 "Values": ["subnet-b", "subnet-c"]}]})
        aws.expect("ec2", "associate_route_table", {"AssociationId": "rtbassoc-subnet-b"},
                   {"RouteTableId": "rtb-1", "SubnetId": "subnet-b"})
        aws.expect("ec2", "replace_route_table_association",
                   {"NewAssociationId": "rtbassoc-new"},
                   {"AssociationId": "rtbassoc-9c", "RouteTableId": "rtb-1"})
        aws.expect("ec2", "disassociate_route_table", {},
                   {"AssociationId": "rtbassoc-subnet-pa"})
        _refresh(aws, "describe_route_tables", "RouteTables", resource.data)
        step.update(ctx, resource, changes)


def test_a_default_route_to_the_wrong_target_is_replaced(config: PlatformConfig) -> None:
    [table] = [t for t in config.network.route_tables if t.name == "vivr-public-rt"]
    step = RouteTableStep(config, config.network, table)
    wrong = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"}
    resource = Resource("rtb-1", _route_table(step, [wrong], ["subnet-pa", "subnet-pb"]))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, resource)
        assert changes == [Change("default_route", ("NatGatewayId", "nat-1"),
                                  ("GatewayId", "igw-1"))]
        aws.expect("ec2", "delete_route", {},
                   {"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0"})
        aws.expect("ec2", "create_route", {"Return": True},
                   {"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0",
                    "GatewayId": "igw-1"})
        _refresh(aws, "describe_route_tables", "RouteTables", resource.data)
        step.update(ctx, resource, changes)


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"Description": "edited"}, [("description", True)]),
    ({"VpcId": "vpc-9"}, [("vpc", True)]),
    ({"Tags": []}, [("tags", False)]),
])
def test_security_group_drift(config: PlatformConfig, edits: dict[str, Any],
                              expected: list[tuple[str, bool]]) -> None:
    group = config.security_groups[0]
    step = SecurityGroupStep(config, group)
    data = {"GroupId": "sg-1", "GroupName": group.name, "Description": group.description,
            "VpcId": "vpc-1", "Tags": _tags(step), **edits}
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS), Resource("sg-1", data))
    assert [(c.field, c.replace) for c in changes] == expected
