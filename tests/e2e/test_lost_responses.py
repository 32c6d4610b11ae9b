"""Lost responses: a call AWS applied whose answer never arrived, retried by botocore.

The CLI talks to the sandbox through the fault proxy
(:mod:`vivr_sandbox.faults`), which forwards the first call of each chosen
operation, lets the sandbox apply it, and then closes the connection
without the answer.  botocore retries; the retry meets the work already
done ("already exists", "duplicate", "conflict", "not found").  The run
must still succeed, leave exactly one resource per step, and a destroy
must leave nothing behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Aws
from tests.e2e.inventory import ec2_inventory, tags_of
from vivr_sandbox.faults import FaultPlan, FaultProxy, FaultRates

pytestmark = pytest.mark.e2e

Lossy = Callable[[set[str]], FaultProxy]

NETWORK = ("rtb.vivr-public-rt", "rtb.vivr-private-rt", "sg-rules.vivr-app-sg",
           "sg-rules.vivr-alb-sg")
NETWORK_CREATES = {f"ec2.{op}" for op in (
    "CreateVpc", "ModifyVpcAttribute", "CreateInternetGateway", "AttachInternetGateway",
    "CreateSubnet", "AllocateAddress", "CreateNatGateway",
    "CreateRouteTable", "CreateRoute", "AssociateRouteTable", "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupEgress")}
NETWORK_DELETES = {f"ec2.{op}" for op in (
    "DeleteVpc", "DeleteSubnet", "DisassociateRouteTable", "DeleteRouteTable",
    "DetachInternetGateway", "DeleteInternetGateway", "ReleaseAddress", "DeleteNatGateway",
    "DeleteSecurityGroup", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress")}

IDENTITY = ("iam.task_execution_role", "iam.rds_monitoring_role", "secret.sentry",
            "secret.cloudinary", "logs.app")
IDENTITY_CREATES = {"iam.CreateRole", "iam.AttachRolePolicy", "iam.PutRolePolicy",
                    "secretsmanager.CreateSecret", "logs.CreateLogGroup",
                    "logs.PutRetentionPolicy"}
IDENTITY_DELETES = {"iam.DetachRolePolicy", "iam.DeleteRolePolicy", "iam.DeleteRole",
                    "secretsmanager.DeleteSecret", "logs.DeleteLogGroup"}


@pytest.fixture
def lossy(aws: Aws) -> Iterator[Lossy]:
    """Start a proxy that loses the first answer of each of the given operations."""
    proxies: list[FaultProxy] = []

    def start(operations: set[str]) -> FaultProxy:
        plan = FaultPlan(FaultRates(lose=1.0), only=operations, once=True)
        proxies.append(FaultProxy(aws.sandbox.url, plan).start())
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.stop()


def _targets(steps: tuple[str, ...]) -> list[str]:
    return [arg for step in steps for arg in ("--target", step)]


def _run(aws: Aws, proxy: FaultProxy, *args: str) -> Any:
    return aws.cli(*args, env={"AWS_ENDPOINT_URL": proxy.url}, timeout=600)


def _ours_per_step(aws: Aws) -> dict[str, Counter[str]]:
    """Per EC2 kind, how many live resources carry each step's ownership tag."""
    ec2 = aws.client("ec2")
    listings: dict[str, list[dict[str, Any]]] = {
        "vpc": ec2.describe_vpcs()["Vpcs"],
        "subnet": ec2.describe_subnets()["Subnets"],
        "igw": ec2.describe_internet_gateways()["InternetGateways"],
        "eip": ec2.describe_addresses()["Addresses"],
        "nat": [n for n in ec2.describe_nat_gateways()["NatGateways"]
                if n["State"] not in ("deleting", "deleted")],
        "rtb": ec2.describe_route_tables()["RouteTables"],
        "sg": ec2.describe_security_groups()["SecurityGroups"],
    }
    return {kind: Counter(tags_of(item).get("vivr:step", "") for item in items
                          if tags_of(item).get("ManagedBy") == "vivr-provision")
            for kind, items in listings.items()}


def _lost(proxy: FaultProxy) -> set[str]:
    return {f"{c.service}.{c.operation}" for c in proxy.calls if c.fault == "lose"}


def test_network_creates_and_deletes_whose_answers_were_lost(aws: Aws, lossy: Lossy) -> None:
    before = ec2_inventory(aws.client("ec2"))
    proxy = lossy(NETWORK_CREATES)
    applied = _run(aws, proxy, "apply", *_targets(NETWORK))
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    assert _lost(proxy) == NETWORK_CREATES, "every chosen create lost one answer"
    assert "AWS calls retried: " in applied.stdout, "botocore's retries are reported"
    duplicated = {kind: {step: n for step, n in counts.items() if n > 1}
                  for kind, counts in _ours_per_step(aws).items()}
    assert all(not steps for steps in duplicated.values()), duplicated

    mark = len(aws.calls())
    again = aws.cli("apply", *_targets(NETWORK))
    assert again.returncode == 0, again.stderr[-2000:]
    assert aws.mutating_calls(mark) == [], "the lost creates left work for the next apply"

    proxy = lossy(NETWORK_DELETES)
    destroyed = _run(aws, proxy, "destroy", "--yes")
    assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
    assert _lost(proxy) == NETWORK_DELETES
    assert ec2_inventory(aws.client("ec2")) == before


def test_identity_creates_and_deletes_whose_answers_were_lost(aws: Aws, lossy: Lossy) -> None:
    proxy = lossy(IDENTITY_CREATES)
    applied = _run(aws, proxy, "apply", *_targets(IDENTITY))
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    assert _lost(proxy) == IDENTITY_CREATES
    iam, sm = aws.client("iam"), aws.client("secretsmanager")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert sorted(roles) == sorted(set(roles))
    secrets = [s["Name"] for s in sm.list_secrets()["SecretList"]]
    assert sorted(secrets) == sorted(set(secrets))

    mark = len(aws.calls())
    again = aws.cli("apply", *_targets(IDENTITY))
    assert again.returncode == 0, again.stderr[-2000:]
    assert aws.mutating_calls(mark) == []

    proxy = lossy(IDENTITY_DELETES)
    destroyed = _run(aws, proxy, "destroy", "--yes")
    assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
    assert _lost(proxy) == IDENTITY_DELETES
    assert [r for r in iam.list_roles()["Roles"]
            if r["RoleName"].startswith("vivr")] == []
    assert aws.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/")["logGroups"] == []
