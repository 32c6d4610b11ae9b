"""The fault proxy: each fault reaches a real botocore client the way AWS's network delivers it.

A boto3 client in botocore's ``standard`` retry mode talks to the sandbox
through :class:`~vivr_sandbox.faults.FaultProxy`; one fault is injected on
the first attempt of one operation.  Throttling must be parsed as the
service's throttling code (botocore then backs off on its throttling
scale), a 5xx must be retried, a dropped request never reaches the server,
and a lost response is applied by the server and then retried by the
client: exactly the case that makes a create answer "already exists".
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import boto3
import botocore.retries.standard as standard
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from vivr_sandbox.errors import error_reply, protocol_of
from vivr_sandbox.faults import FaultPlan, FaultProxy, FaultRates
from vivr_sandbox.server import SandboxServer

_numbers = itertools.count(1)


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each retry's backoff as botocore classifies it (True: throttling), without sleeping."""
    seen: list[bool] = []

    def delay(self: Any, context: Any) -> float:
        seen.append(self._get_base_scale(context) == 1)
        return 0.0

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", delay)
    return seen


def _account() -> str:
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0")
    return f"8{worker:02d}{os.getpid() % 10000:04d}{next(_numbers):05d}"


def _client(proxy: FaultProxy, service: str, account: str | None = None) -> Any:
    account = account or _account()
    return boto3.client(service, region_name="us-east-1", endpoint_url=proxy.url,
                        aws_access_key_id=f"sandbox{account}", aws_secret_access_key="sandbox",
                        config=Config(retries={"mode": "standard", "max_attempts": 4}))


def _proxy(server: SandboxServer, fault: str, operation: str) -> FaultProxy:
    plan = FaultPlan(FaultRates.parse(f"{fault}=1"), only={operation}, limit=1)
    return FaultProxy(server.url, plan).start()


#: One read per wire protocol the tool meets: (client, method, journal name).
PROTOCOLS = [
    ("ec2", "describe_vpcs", "ec2.DescribeVpcs"),                    # ec2 query
    ("rds", "describe_db_instances", "rds.DescribeDBInstances"),     # query
    ("kms", "list_keys", "kms.ListKeys"),                            # JSON
    ("cloudwatch", "describe_alarms", "monitoring.DescribeAlarms"),  # JSON 1.0
    ("s3", "list_buckets", "s3.GET /"),                              # S3 REST-XML
    ("route53", "list_hosted_zones", "route53.GET /2013-04-01/hostedzone"),  # REST-XML
]


@pytest.mark.parametrize(("service", "method", "operation"), PROTOCOLS,
                         ids=[p[2].split(" ")[0] for p in PROTOCOLS])
def test_throttling_is_the_protocols_real_error_and_botocore_backs_off_on_it(
        sandbox: SandboxServer, backoffs: list[bool], service: str, method: str,
        operation: str) -> None:
    proxy = _proxy(sandbox, "throttle", operation)
    try:
        getattr(_client(proxy, service), method)()
    finally:
        proxy.stop()
    assert proxy.faults() == {"throttle": 1}
    assert [c.status for c in proxy.calls][-2:] != [200, 200]
    assert backoffs == [True], "botocore did not classify the reply as throttling"


@pytest.mark.parametrize(("service", "method", "operation"), PROTOCOLS[:4],
                         ids=[p[2] for p in PROTOCOLS[:4]])
def test_a_server_error_is_retried_as_a_transient_failure(
        sandbox: SandboxServer, backoffs: list[bool], service: str, method: str,
        operation: str) -> None:
    proxy = _proxy(sandbox, "error", operation)
    try:
        getattr(_client(proxy, service), method)()
    finally:
        proxy.stop()
    assert proxy.faults() == {"error": 1}
    assert backoffs == [False]


def test_a_dropped_request_never_reaches_the_server(sandbox: SandboxServer,
                                                    backoffs: list[bool]) -> None:
    proxy = _proxy(sandbox, "drop", "ec2.CreateVpc")
    try:
        ec2 = _client(proxy, "ec2")
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]}])["Vpcs"]
    finally:
        proxy.stop()
    assert proxy.faults() == {"drop": 1}
    assert len(vpcs) == 1


def test_a_lost_response_was_applied_and_the_retry_applies_it_again(
        sandbox: SandboxServer, backoffs: list[bool]) -> None:
    """CreateVpc takes no idempotency token: the retry makes a second VPC, as on AWS."""
    proxy = _proxy(sandbox, "lose", "ec2.CreateVpc")
    try:
        ec2 = _client(proxy, "ec2")
        ec2.create_vpc(CidrBlock="10.8.0.0/16")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.8.0.0/16"]}])["Vpcs"]
    finally:
        proxy.stop()
    assert proxy.faults() == {"lose": 1}
    assert len(vpcs) == 2


def test_rates_parse_and_refuse_nonsense() -> None:
    assert FaultRates.parse("throttle=0.1,lose=0.01") == FaultRates(throttle=0.1, lose=0.01)
    with pytest.raises(ValueError, match="unknown fault"):
        FaultRates.parse("jitter=0.1")
    with pytest.raises(ValueError, match="sum to at most 1"):
        FaultRates.parse("throttle=0.8,error=0.8")


def test_a_seed_replays_the_same_faults() -> None:
    def run(seed: int) -> list[str | None]:
        plan = FaultPlan(FaultRates(throttle=0.3, lose=0.2), seed)
        return [plan.decide("ec2", "CreateVpc") for _ in range(50)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_error_bodies_name_the_code() -> None:
    for protocol in ("ec2", "query", "rest-xml", "s3", "json", "rest-json"):
        status, _, body = error_reply(protocol, "Throttling", 400, "slow down")
        assert status == 400 and b"Throttling" in body


# ----------------------------------------------------------------------- idempotency tokens


def test_a_lost_create_retried_with_its_client_token_makes_one_resource(
        sandbox: SandboxServer, backoffs: list[bool]) -> None:
    """EC2 answers a repeated ClientToken with the first result (moto alone made two)."""
    proxy = _proxy(sandbox, "lose", "ec2.CreateRouteTable")
    try:
        ec2 = _client(proxy, "ec2")
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        created = ec2.create_route_table(VpcId=vpc, ClientToken="token-1")["RouteTable"]
        again = ec2.create_route_table(VpcId=vpc, ClientToken="token-1")["RouteTable"]
        tables = ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
        with pytest.raises(ClientError, match="IdempotentParameterMismatch"):
            ec2.create_route_table(VpcId=ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"],
                                   ClientToken="token-1")
    finally:
        proxy.stop()
    assert proxy.faults() == {"lose": 1}
    assert created["RouteTableId"] == again["RouteTableId"]
    assert len(tables) == 2, "the VPC's main table and ours, not a duplicate"


def test_route53_caller_references_answer_as_route53_does(sandbox: SandboxServer,
                                                          backoffs: list[bool]) -> None:
    proxy = _proxy(sandbox, "lose", "route53.POST /2013-04-01/healthcheck")
    settings = {"Type": "HTTPS", "FullyQualifiedDomainName": "example.com",
                "ResourcePath": "/api/health"}
    try:
        route53 = _client(proxy, "route53")
        first = route53.create_health_check(CallerReference="ref-1",
                                            HealthCheckConfig=settings)["HealthCheck"]
        checks = route53.list_health_checks()["HealthChecks"]
        route53.create_hosted_zone(Name="example.com", CallerReference="zone-1")
        with pytest.raises(ClientError, match="HostedZoneAlreadyExists"):
            route53.create_hosted_zone(Name="example.com", CallerReference="zone-1")
    finally:
        proxy.stop()
    assert proxy.faults() == {"lose": 1}
    assert [c["Id"] for c in checks] == [first["Id"]]


def test_acm_issues_one_certificate_per_idempotency_token(sandbox: SandboxServer,
                                                          backoffs: list[bool]) -> None:
    proxy = _proxy(sandbox, "lose", "acm.RequestCertificate")
    try:
        acm = _client(proxy, "acm")
        arn = acm.request_certificate(DomainName="example.com", ValidationMethod="DNS",
                                      IdempotencyToken="tok1")["CertificateArn"]
        listed = acm.list_certificates()["CertificateSummaryList"]
    finally:
        proxy.stop()
    assert proxy.faults() == {"lose": 1}
    assert [c["CertificateArn"] for c in listed] == [arn]


def test_the_tools_clients_count_and_log_botocores_retries(
        sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What botocore retried is in the run report and, at -v, in the log (vivr.aws)."""
    import io
    import json

    from vivr_provision import log
    from vivr_provision.aws import AwsSettings, ClientFactory

    # An account of its own, as the other tests here have: with the ambient test
    # credentials it used the sandbox's default account (which the sandbox serves one
    # request at a time, and earlier tests had filled), and its first DescribeVpcs
    # waited ~12 s for the sandbox's answer after this file's other tests (37 s in CI).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"sandbox{_account()}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sandbox")

    plan = FaultPlan(FaultRates(throttle=1.0), only={"ec2.DescribeVpcs", "iam.ListRoles"},
                     once=True)
    proxy = FaultProxy(sandbox.url, plan).start()
    clients = ClientFactory(AwsSettings(region="us-east-1", endpoint_url=proxy.url))
    stream = io.StringIO()
    log.configure(verbosity=2, json_logs=True, stream=stream)  # what -vv shows
    try:
        clients.client("ec2").describe_vpcs()
        clients.client("iam").list_roles()
        clients.client("ec2").describe_vpcs()
    finally:
        proxy.stop()
        log.configure(verbosity=0, json_logs=True, stream=io.StringIO())
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    # The log is process-wide: a thread an earlier test of this worker left running
    # (its sandbox is shared) may log its own retries here; only this test's count.
    retried = [(e["service"], e["operation"], e["attempt"], e["after"]) for e in events
               if e["event"] == "aws.retry" and e["operation"] in ("DescribeVpcs", "ListRoles")]
    throttled = [r for r in retried if r[3] in ("RequestLimitExceeded", "Throttling")]
    assert throttled == [("ec2", "DescribeVpcs", 2, "RequestLimitExceeded"),
                         ("iam", "ListRoles", 2, "Throttling")]
    # Each throttled call is counted once in the report.  On a loaded machine botocore
    # may also retry a connection the proxy was slow to accept (connect timeout): that
    # is a retry too, and counted as one (seen in CI: ec2 2), so ec2 is at least 1.
    counts = clients.retries.counts()
    assert counts["iam"] == 1 and counts["ec2"] >= 1 and set(counts) == {"ec2", "iam"}


def test_a_lost_create_load_balancer_retried_returns_the_same_balancer(
        sandbox: SandboxServer, backoffs: list[bool]) -> None:
    """ELBv2 documents CreateLoadBalancer as idempotent (moto alone made a second one)."""
    proxy = _proxy(sandbox, "lose", "elasticloadbalancing.CreateLoadBalancer")
    try:
        account = _account()
        ec2, elbv2 = _client(proxy, "ec2", account), _client(proxy, "elbv2", account)
        vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.5.{i}.0/24",
                                     AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
                   for i, zone in enumerate("ab")]
        created = elbv2.create_load_balancer(Name="vivr-alb", Subnets=subnets)
        balancers = elbv2.describe_load_balancers()["LoadBalancers"]
        with pytest.raises(ClientError, match="DuplicateLoadBalancerName"):
            elbv2.create_load_balancer(Name="vivr-alb", Subnets=subnets[:1])
    finally:
        proxy.stop()
    assert proxy.faults() == {"lose": 1}
    assert [b["LoadBalancerArn"] for b in balancers] == [
        created["LoadBalancers"][0]["LoadBalancerArn"]]


def test_a_bodiless_rest_json_request_gets_its_errors_in_rest_json() -> None:
    """A GET of AWS Backup or Scheduler has no JSON content type; botocore parses
    its throttle only in REST-JSON's shape, while Route 53 stays REST-XML."""
    assert protocol_of({}, b"", "backup") == "rest-json"
    assert protocol_of({}, b"", "scheduler") == "rest-json"
    assert protocol_of({}, b"", "route53") == "rest-xml"
    assert protocol_of({}, b"", None) == "rest-xml"
