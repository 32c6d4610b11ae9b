"""A listing of what exists in one sandbox account, to compare before/after."""

from __future__ import annotations

from typing import Any


def ec2_inventory(ec2: Any) -> dict[str, list[str]]:
    """Ids of every live EC2 network object (what a destroy must give back)."""
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    nacls = [n["NetworkAclId"] for n in ec2.describe_network_acls()["NetworkAcls"]
             # moto keeps a deleted VPC's default NACL (AWS deletes it with the VPC).
             if n["VpcId"] in vpcs]
    return {
        "vpcs": sorted(vpcs),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
        "security_groups": sorted(g["GroupId"] for g in
                                  ec2.describe_security_groups()["SecurityGroups"]),
        "security_group_rules": sorted(
            r["SecurityGroupRuleId"] for r in
            ec2.describe_security_group_rules()["SecurityGroupRules"]),
        "route_tables": sorted(t["RouteTableId"] for t in
                               ec2.describe_route_tables()["RouteTables"]),
        "internet_gateways": sorted(i["InternetGatewayId"] for i in
                                    ec2.describe_internet_gateways()["InternetGateways"]),
        "nat_gateways": sorted(n["NatGatewayId"] for n in
                               ec2.describe_nat_gateways()["NatGateways"]
                               if n["State"] not in ("deleted", "deleting")),
        "addresses": sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]),
        "network_acls": sorted(nacls),
    }


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}
