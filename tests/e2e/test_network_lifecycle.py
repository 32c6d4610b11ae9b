"""apply → read back against the spec → re-apply (no change) → destroy → destroy.

The expected values below are copied from the spec
(../shared/spec/infrastructure-requirements.md), not from config, so a wrong
config value fails here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import yaml

from tests.conftest import Aws
from tests.e2e.inventory import ec2_inventory, tags_of

pytestmark = pytest.mark.e2e

SPEC_SUBNETS = {
    "public-1a": ("10.0.1.0/24", "us-east-1a"),
    "public-1b": ("10.0.2.0/24", "us-east-1b"),
    "private-1a": ("10.0.10.0/24", "us-east-1a"),
    "private-1b": ("10.0.11.0/24", "us-east-1b"),
    "private-1c": ("10.0.12.0/24", "us-east-1c"),
    "db-1a": ("10.0.20.0/24", "us-east-1a"),
    "db-1b": ("10.0.21.0/24", "us-east-1b"),
    "cache-1a": ("10.0.30.0/24", "us-east-1a"),
    "cache-1b": ("10.0.31.0/24", "us-east-1b"),
}
ANY = "0.0.0.0/0"
# (direction, protocol, from, to, peer); peer is a CIDR or "sg:<name>".
SPEC_RULES = {
    "vivr-alb-sg": {
        ("in", "tcp", 80, 80, ANY), ("in", "tcp", 443, 443, ANY), ("in", "icmp", 8, -1, ANY),
        ("out", "-1", -1, -1, "sg:vivr-app-sg"),
    },
    "vivr-app-sg": {
        ("in", "tcp", 3000, 3000, "sg:vivr-alb-sg"), ("in", "tcp", 22, 22, "sg:bastion-sg"),
        ("out", "tcp", 5432, 5432, "sg:vivr-db-sg"), ("out", "tcp", 6379, 6379, "sg:vivr-cache-sg"),
        ("out", "tcp", 443, 443, ANY), ("out", "udp", 53, 53, ANY),
        # Not in the spec's table; its architecture needs it (app -> PgBouncer).
        ("out", "tcp", 6432, 6432, "sg:vivr-pgbouncer-sg"),
    },
    "vivr-db-sg": {
        ("in", "tcp", 5432, 5432, "sg:vivr-app-sg"),
        ("in", "tcp", 5432, 5432, "sg:vivr-pgbouncer-sg"),
    },
    "vivr-cache-sg": {("in", "tcp", 6379, 6379, "sg:vivr-app-sg")},
    "vivr-pgbouncer-sg": {
        ("in", "tcp", 6432, 6432, "sg:vivr-app-sg"), ("out", "tcp", 5432, 5432, "sg:vivr-db-sg"),
    },
    "bastion-sg": {("out", "-1", -1, -1, ANY)},
    # Not in the spec: PgBouncer's boot-time HTTPS, kept apart from vivr-pgbouncer-sg.
    "vivr-pgbouncer-boot-sg": {("out", "tcp", 443, 443, ANY)},
}
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}


def _assert_owned(item: dict[str, Any], name: str) -> None:
    tags = tags_of(item)
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    assert tags.get("Name") == name


def _ours(ec2: Any, describe: str, key: str) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:ManagedBy", "Values": ["vivr-provision"]}]
    return list(getattr(ec2, describe)(Filters=filters)[key])


def assert_network_matches_spec(ec2: Any) -> None:
    vpcs = _ours(ec2, "describe_vpcs", "Vpcs")
    assert len(vpcs) == 1
    vpc = vpcs[0]
    _assert_owned(vpc, "vivr-vpc")
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    vpc_id = vpc["VpcId"]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        reply = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
        assert reply[attribute[0].upper() + attribute[1:]]["Value"] is True

    subnets = {tags_of(s)["Name"]: s for s in _ours(ec2, "describe_subnets", "Subnets")}
    assert {n: (s["CidrBlock"], s["AvailabilityZone"]) for n, s in subnets.items()} == SPEC_SUBNETS
    for name, subnet in subnets.items():
        assert subnet["VpcId"] == vpc_id
        _assert_owned(subnet, name)
    ids = {n: s["SubnetId"] for n, s in subnets.items()}

    igws = _ours(ec2, "describe_internet_gateways", "InternetGateways")
    assert len(igws) == 1 and igws[0]["Attachments"][0]["VpcId"] == vpc_id
    nats = [n for n in _ours(ec2, "describe_nat_gateways", "NatGateways")
            if n["State"] == "available"]
    assert len(nats) == 1
    nat = nats[0]
    assert nat["SubnetId"] == ids["public-1a"]
    eips = _ours(ec2, "describe_addresses", "Addresses")
    assert len(eips) == 1
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == eips[0]["AllocationId"]

    tables = _ours(ec2, "describe_route_tables", "RouteTables")
    route_of: dict[str, dict[str, Any] | None] = {}
    for table in tables:
        defaults = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == ANY]
        for assoc in table["Associations"]:
            name = next(n for n, i in ids.items() if i == assoc["SubnetId"])
            route_of[name] = defaults[0] if defaults else None
    assert set(route_of) == set(SPEC_SUBNETS), "every subnet has an explicit route table"
    for name, route in route_of.items():
        if name.startswith("public"):
            assert route and route.get("GatewayId") == igws[0]["InternetGatewayId"], name
        elif name.startswith("private"):
            assert route and route.get("NatGatewayId") == nat["NatGatewayId"], name
        else:
            assert route is None, f"{name} must have no route to the internet"

    groups = {g["GroupName"]: g for g in _ours(ec2, "describe_security_groups", "SecurityGroups")}
    assert set(groups) == set(SPEC_RULES)
    name_of = {g["GroupId"]: n for n, g in groups.items()}
    for name, group in groups.items():
        assert group["VpcId"] == vpc_id
        _assert_owned(group, name)
        rules = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
        actual = set()
        for rule in rules:
            peer = rule.get("CidrIpv4") or "sg:" + name_of[rule["ReferencedGroupInfo"]["GroupId"]]
            actual.add(("out" if rule["IsEgress"] else "in", rule["IpProtocol"],
                        rule["FromPort"], rule["ToPort"], peer))
        assert actual == SPEC_RULES[name], name


def test_apply_reapply_destroy_round_trip(aws: Aws) -> None:
    ec2 = aws.client("ec2")
    before = aws.inventory()

    code, report = aws.cli_json("apply")
    assert code == 0, report
    assert {s["action"] for s in report["steps"]} == {"created"}
    assert_network_matches_spec(ec2)
    assert aws.state_path.stat().st_mode & 0o777 == 0o600

    mark = len(aws.calls())
    code, report = aws.cli_json("apply")
    assert code == 0
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    # One call per EC2 kind and region answers every step's lookup (batch_reads.py):
    # before, each of the 13 subnets, 6 route tables ... was described on its own.
    reads = Counter(c["operation"] for c in aws.calls()[mark:] if c["service"] == "ec2")
    for operation in ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables",
                      "DescribeNatGateways", "DescribeInternetGateways"):
        assert reads[operation] == 2, (operation, reads)
    # One listing of the zone answers every records step and both certificates'
    # validation records (was one call per record set: 12).
    listings = [c for c in aws.calls()[mark:] if c["service"] == "route53"
                and "rrset" in c["operation"]]
    assert len(listings) == 1, listings

    mark = len(aws.calls())
    code, status = aws.cli_json("status")
    assert code == 0 and {s["status"] for s in status["steps"]} == {"ready"}
    assert aws.calls()[mark:] == [], "status reads only the local state"

    code, report = aws.cli_json("plan")
    assert code == 0
    assert {s["action"] for s in report["steps"]} == {"no-op"}

    code, report = aws.cli_json("destroy", "--yes", "--disable-deletion-protection",
                                "--skip-final-snapshot")
    assert code == 0, report
    assert {s["action"] for s in report["steps"]} == {"deleted"}
    assert aws.inventory() == before, "both regions and IAM are back to the listing before apply"

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes")
    assert code == 0
    assert {s["action"] for s in report["steps"]} == {"absent"}
    assert aws.mutating_calls(since=mark) == []


def test_network_alone_applies_and_destroys_with_targets(aws: Aws) -> None:
    """--target limits apply to a step and its dependencies, destroy to it and its dependents."""
    ec2 = aws.client("ec2")
    before = ec2_inventory(ec2)
    targets = [arg for name in ("rtb.vivr-private-rt", "rtb.vivr-public-rt", "rtb.vivr-data-rt",
                                *(f"sg-rules.{g}" for g in SPEC_RULES))
               for arg in ("--target", name)]
    code, report = aws.cli_json("apply", *targets)
    assert code == 0, report
    assert not any(s["step"].startswith(("rds", "kms", "secret", "dr.")) for s in report["steps"])
    assert_network_matches_spec(ec2)
    code, report = aws.cli_json("destroy", "--yes", "--target", "vpc", "--target", "eip.nat")
    assert code == 0, report
    assert ec2_inventory(ec2) == before


CLOUDFRONT_LIST = "com.amazonaws.global.cloudfront.origin-facing"


def test_a_rule_can_admit_an_aws_managed_prefix_list_by_name(aws: Aws) -> None:
    """Config names the list; the tool sends its regional id, and reads it back as no drift."""
    data = yaml.safe_load(aws.config.read_text())
    [alb] = [g for g in data["security_groups"] if g["name"] == "vivr-alb-sg"]
    [https] = [r for r in alb["ingress"] if r.get("port") == 443]
    https.pop("cidr")
    https["prefix_list"] = CLOUDFRONT_LIST
    config = aws.workdir / "production-prefix-list.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))

    code, report = aws.cli_json("apply", "--target", "sg-rules.vivr-alb-sg", config=config)
    assert code == 0, report
    ec2 = aws.client("ec2")
    [listed] = ec2.describe_managed_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": [CLOUDFRONT_LIST]}])["PrefixLists"]
    [group] = [g for g in _ours(ec2, "describe_security_groups", "SecurityGroups")
               if g["GroupName"] == "vivr-alb-sg"]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
    https_rules = [r for r in rules if r.get("FromPort") == 443]
    assert [(r.get("PrefixListId"), r.get("CidrIpv4")) for r in https_rules] == \
        [(listed["PrefixListId"], None)], https_rules
    [sent] = [p for call in aws.requests("AuthorizeSecurityGroupIngress")
              for p in call["IpPermissions"] if p.get("FromPort") == 443]
    assert sent["PrefixListIds"] == [{"PrefixListId": listed["PrefixListId"],
                                      "Description": "HTTPS"}]
    assert "IpRanges" not in sent and "UserIdGroupPairs" not in sent

    code, report = aws.cli_json("plan", "--target", "sg-rules.vivr-alb-sg", config=config)
    assert code == 0 and {s["action"] for s in report["steps"]} == {"no-op"}, report
