"""Crashes, failures, interrupts, hand-made drift and locks, through the real CLI."""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter

import pytest

from tests.conftest import Aws
from tests.e2e.inventory import ec2_inventory, tags_of
from vivr_provision.state import SCHEMA_VERSION

pytestmark = pytest.mark.e2e

# One create call per resource kind, and the step whose run makes it. Each crash
# run targets that step, so the call is reached whatever ran in parallel before.
CRASH_POINTS = [
    ("ec2.CreateVpc", "vpc"),
    ("ec2.CreateInternetGateway", "igw"),
    ("ec2.CreateSubnet", "subnet.public-1a"),
    ("ec2.AllocateAddress", "eip.nat"),
    ("ec2.CreateSecurityGroup", "sg.vivr-app-sg"),
    ("ec2.CreateNatGateway", "nat"),
    ("ec2.CreateRouteTable", "rtb.vivr-public-rt"),
    ("ec2.AuthorizeSecurityGroupIngress", "sg-rules.vivr-db-sg"),
]


def _owned_counts(aws: Aws) -> Counter[str]:
    ec2 = aws.client("ec2")
    live = {
        "vpc": ec2.describe_vpcs()["Vpcs"],
        "subnet": ec2.describe_subnets()["Subnets"],
        "sg": ec2.describe_security_groups()["SecurityGroups"],
        "igw": ec2.describe_internet_gateways()["InternetGateways"],
        "eip": ec2.describe_addresses()["Addresses"],
        "rtb": ec2.describe_route_tables()["RouteTables"],
        "nat": [n for n in ec2.describe_nat_gateways()["NatGateways"]
                if n["State"] == "available"],
    }
    counts: Counter[str] = Counter()
    for kind, items in live.items():
        for item in items:
            if tags_of(item).get("ManagedBy") == "vivr-provision":
                counts[kind] += 1
    return counts


def test_crash_after_each_create_call_never_duplicates(aws: Aws) -> None:
    for point, step in CRASH_POINTS:
        crashed = aws.cli("apply", "--target", step, env={"VIVR_FAULT_CRASH_AFTER": point})
        assert crashed.returncode == 137, (point, crashed.stderr[-2000:])
        state = json.loads(aws.state_path.read_text())  # still readable after "kill -9"
        assert state["schema_version"] == SCHEMA_VERSION
    code, report = aws.cli_json("apply")
    assert code == 0, report
    assert _owned_counts(aws) == Counter(
        {"vpc": 1, "subnet": 9, "sg": 7, "igw": 1, "eip": 1, "rtb": 3, "nat": 1})
    actions = Counter(s["action"] for s in report["steps"])
    assert actions["adopted"] + actions["updated"] >= 1, actions
    code, report = aws.cli_json("apply")
    assert {s["action"] for s in report["steps"]} == {"unchanged"}


def test_failed_step_blocks_only_its_dependents_and_rerun_resumes(aws: Aws) -> None:
    code, report = aws.cli_json("apply", env={"VIVR_FAULT_FAIL": "ec2.CreateNatGateway"})
    assert code == 1
    by_step = {s["step"]: s for s in report["steps"]}
    assert by_step["nat"]["action"] == "failed"
    assert "UnauthorizedOperation" in by_step["nat"]["error"]
    assert by_step["rtb.vivr-private-rt"]["action"] == "blocked"
    assert by_step["rtb.vivr-public-rt"]["action"] == "created"
    assert by_step["sg-rules.vivr-app-sg"]["action"] == "created"
    failed = aws.cli("apply", env={"VIVR_FAULT_FAIL": "ec2.CreateNatGateway"})
    assert failed.returncode == 1
    # Both NAT gateways (the primary's and the DR standby's) meet the injected failure.
    assert re.search(r"2 steps did not finish \((dr\.)?nat, (dr\.)?nat\); first, (dr\.)?nat: "
                     r"UnauthorizedOperation", failed.stderr), failed.stderr
    status = json.loads(aws.cli("status", "--output", "json").stdout)
    nat = next(s for s in status["steps"] if s["step"] == "nat")
    assert nat["status"] == "failed" and "UnauthorizedOperation" in nat["error"]

    mark = len(aws.calls())
    code, report = aws.cli_json("apply")
    assert code == 0
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert actions["nat"] == "created"
    assert actions["rtb.vivr-private-rt"] == "created"
    assert actions["vpc"] == "unchanged"
    assert actions["dr.nat"] == "created"
    # One each for the primary's and the DR standby's gateway: no twin.
    assert aws.mutating_calls(since=mark).count("ec2.CreateNatGateway") == 2


def test_throttling_is_absorbed_by_botocore_retries(aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--target", "vpc",
                                env={"VIVR_FAULT_THROTTLE": "ec2.CreateVpc:2"})
    assert code == 0, report
    assert [s["action"] for s in report["steps"]] == ["created"]
    assert len(aws.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:ManagedBy", "Values": ["vivr-provision"]}])["Vpcs"]) == 1


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_a_signal_saves_state_exits_128_plus_it_and_rerun_finishes(
        aws: Aws, signum: int, exit_code: int) -> None:
    """Ctrl-C and SIGTERM (a cancelled CI job) both finish calls in flight and save."""
    process = aws.popen("apply", "--parallelism", "2", env={"VIVR_FAULT_DELAY_S": "0.15"})
    # A step transition is a line of the state's journal until the run folds it in.
    journal = aws.state_path.with_name(aws.state_path.name + ".journal")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(path.exists() and '"ready"' in path.read_text()
               for path in (aws.state_path, journal)):
            break
        time.sleep(0.05)
    assert time.monotonic() < deadline, "a step became ready within a minute"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr[-2000:]
    assert "interrupted" in stderr
    state = json.loads(aws.state_path.read_text())
    statuses = Counter(r["status"] for r in state["steps"].values())
    assert statuses["ready"] >= 1
    total = len(json.loads(aws.cli("graph", "--format", "json").stdout)["steps"])
    assert statuses["ready"] < total, "the interrupt must stop the run before the end"

    code, report = aws.cli_json("apply")
    assert code == 0, report
    assert _owned_counts(aws)["subnet"] == 9
    assert _owned_counts(aws)["vpc"] == 1


def test_hand_deleted_and_changed_resources_are_reported_and_repaired(aws: Aws) -> None:
    assert aws.cli("apply").returncode == 0
    ec2 = aws.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["db-1b"]}])[
        "Subnets"][0]
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}])
    for assoc in tables["RouteTables"][0]["Associations"]:
        if assoc.get("SubnetId") == subnet["SubnetId"]:
            ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    cache_sg = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["vivr-cache-sg"]}])["SecurityGroups"][0]
    ec2.authorize_security_group_ingress(
        GroupId=cache_sg["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    code, report = aws.cli_json("status", "--refresh")
    assert code == 0
    by_step = {s["step"]: s for s in report["steps"]}
    assert by_step["subnet.db-1b"]["action"] == "missing"
    assert by_step["sg-rules.vivr-cache-sg"]["action"] == "drifted"
    assert "0.0.0.0/0" in " ".join(by_step["sg-rules.vivr-cache-sg"]["changes"])
    assert by_step["vpc"]["action"] == "ok"

    code, report = aws.cli_json("plan")
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert actions["subnet.db-1b"] == "create"
    assert actions["sg-rules.vivr-cache-sg"] == "update"

    code, report = aws.cli_json("apply")
    assert code == 0
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert actions["subnet.db-1b"] == "created"
    assert actions["rtb.vivr-data-rt"] == "updated"
    assert actions["sg-rules.vivr-cache-sg"] == "updated"
    code, report = aws.cli_json("status", "--refresh")
    assert {s["action"] for s in report["steps"]} == {"ok"}
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [cache_sg["GroupId"]]}])["SecurityGroupRules"]
    assert not any(r.get("CidrIpv4") == "0.0.0.0/0" for r in rules)


def test_destroy_leaves_resources_it_did_not_create(aws: Aws) -> None:
    ec2 = aws.client("ec2")
    foreign = ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "vivr-vpc"},
                                        {"Key": "Project", "Value": "vivr"}]}])["Vpc"]["VpcId"]
    before = ec2_inventory(ec2)
    assert aws.cli("apply").returncode == 0
    destroyed = aws.cli("destroy", "--yes", "--disable-deletion-protection")
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    assert ec2_inventory(ec2) == before
    assert foreign in before["vpcs"]


def test_a_destroy_killed_between_a_certificate_and_its_records_finishes_on_rerun(
        aws: Aws) -> None:
    """The validation CNAMEs were journalled when written: once the certificate step is
    gone, the zone's step still knows them as ours, deletes them and then the zone."""
    assert aws.cli("apply", "--target", "acm").returncode == 0
    killed = aws.cli("destroy", "--yes", env={"VIVR_FAULT_CRASH_AFTER": "acm.DeleteCertificate"})
    assert killed.returncode == 137, killed.stderr[-2000:]
    route53 = aws.client("route53")
    zone = route53.list_hosted_zones()["HostedZones"][0]["Id"]
    left = [r["Type"] for r in route53.list_resource_record_sets(
        HostedZoneId=zone)["ResourceRecordSets"]]
    assert "CNAME" in left, "the kill came before the records' deletion"

    resumed = aws.cli("destroy", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert route53.list_hosted_zones()["HostedZones"] == []
