"""The sandbox under a timing profile: AWS's transitional states, then the final ones.

A timed :class:`SandboxServer` runs in this process beside the suite's plain
one.  Every operation profiles/aws.yaml times lasts the same 12 minutes here,
scaled to one second of a *virtual* clock that advances a tenth of a second
with each API call the test makes: each transitional state lasts ten calls,
however loaded the machine is (a wall-clock window of a fraction of a second
was missed under load).  The real figures are checked by the profile tests;
the real clock by tests/e2e/test_sandbox_timing.py (an apply through the CLI)
and the throttling tests.

Each test creates, modifies and deletes one kind of resource with boto3 and
checks what ``describe`` reports right after each call, then lets botocore's
own waiter (the one the tool uses) poll until it passes.  The sandbox's
journal counts the waiter's describes: more than one means it saw the
transitional state and kept polling instead of failing.  No assertion is
about time.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REPO
from vivr_sandbox.server import SandboxServer
from vivr_sandbox.timing import Timing, load_profile
from vivr_sandbox.timing.clock import phase_of
from vivr_sandbox.timing.profile import (
    KIND_OPERATIONS,
    Kind,
    Profile,
    ProfileError,
    parse_profile,
)
from vivr_sandbox.timing.throttling import TokenBuckets

PROFILE = REPO / "profiles" / "aws.yaml"
#: 12 minutes -> 1 virtual second; each API call advances the clock by STEP.
SCALE = 1 / 720
STEP = 0.1


def uniform(profile: Profile, minutes: float) -> Profile:
    """``profile`` with every timed operation lasting ``minutes``."""
    return Profile.model_validate({"description": "uniform", "kinds": {
        kind: {op: {"minutes": minutes, "source": "uniform test figure"}
               for op in ("create", "modify", "delete") if timing.figure(op) is not None}
        for kind, timing in profile.kinds.items()}})

#: Waiters poll without sleeping (the clock is virtual); a phase lasts 10 calls.
POLL = {"Delay": 0, "MaxAttempts": 40}
_numbers = itertools.count(1)

Client = Callable[..., Any]


class VirtualClock:
    """Seconds that pass per API call rather than per wall-clock second."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, **_: Any) -> None:
        """botocore ``after-call`` handler: one call made, STEP seconds passed."""
        self.now += STEP


CLOCK = VirtualClock()


@pytest.fixture(scope="module")
def timed() -> Iterator[SandboxServer]:
    timing = Timing(uniform(load_profile(PROFILE), 12), SCALE, clock=CLOCK)
    server = SandboxServer("127.0.0.1", 0, timing).start()
    yield server
    server.stop()


class Account:
    """A fresh account on one server: clients, and what its journal recorded."""

    def __init__(self, server: SandboxServer) -> None:
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0")
        self.id = f"8{worker:02d}{os.getpid() % 10000:04d}{next(_numbers):05d}"
        self.server = server
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str = "us-east-1") -> Any:
        if (service, region) not in self._clients:
            client = boto3.client(
                service, region_name=region, endpoint_url=self.server.url,
                aws_access_key_id=f"sandbox{self.id}", aws_secret_access_key="sandbox")
            client.meta.events.register("after-call", CLOCK.tick)
            self._clients[service, region] = client
        return self._clients[service, region]

    def calls(self, operation: str) -> int:
        return sum(c.operation == operation for c in self.server.app.journal(self.id))

    def wait(self, service: str, waiter: str, operation: str, region: str = "us-east-1",
             **params: Any) -> int:
        """Run botocore's waiter; return how many ``operation`` calls it made."""
        before = self.calls(operation)
        self(service, region).get_waiter(waiter).wait(WaiterConfig=POLL, **params)
        return self.calls(operation) - before


@pytest.fixture(scope="module")
def aws(timed: SandboxServer) -> Account:
    """One account for the module: moto builds each account's default VPC (about a second)
    on its first EC2 call; the tests' resources have names of their own."""
    return Account(timed)


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def default_subnets(aws: Client, region: str = "us-east-1") -> list[str]:
    subnets = aws("ec2", region).describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])]


# --------------------------------------------------------------------------- the profile

def test_the_profile_times_every_kind_the_sandbox_can_time_with_sources() -> None:
    profile = load_profile(PROFILE)
    assert set(get_args(Kind)) == set(KIND_OPERATIONS) == set(profile.kinds)
    for kind, timing in profile.kinds.items():
        for operation in ("create", "modify", "delete"):
            figure = timing.figure(operation)
            if figure is not None:
                assert operation in KIND_OPERATIONS[kind]
                assert len(figure.source) > 20, (kind, operation)
    minutes = {(kind, op): profile.seconds(kind, op) for kind, op in [
        ("rds_instance_multi_az", "create"), ("rds_cross_region_replica", "create"),
        ("elasticache_replication_group", "create"), ("cloudfront_distribution", "create"),
        ("cloudfront_distribution", "delete"), ("nat_gateway", "create"),
        ("load_balancer", "create")]}
    assert {k: v / 60 for k, v in minutes.items() if v is not None} == {
        ("rds_instance_multi_az", "create"): 15, ("rds_cross_region_replica", "create"): 25,
        ("elasticache_replication_group", "create"): 12,
        ("cloudfront_distribution", "create"): 8, ("cloudfront_distribution", "delete"): 15,
        ("nat_gateway", "create"): 2, ("load_balancer", "create"): 3}


@pytest.mark.parametrize(("text", "message"), [
    ("description: x\nkinds:\n  rds_cluster: {}",
     "p.yaml: kinds.rds_cluster: Input should be 'rds_instance', "),
    ("description: x\nkinds:\n  nat_gateway: {create: {minutes: 2, source: VPC guide, "
     "seconds: 3}}", "p.yaml: kinds.nat_gateway.create.seconds: Extra inputs are not permitted"),
    ("description: x\nkinds:\n  load_balancer: {delete: {minutes: 1, source: ELB guide}}",
     "p.yaml: kinds.load_balancer.delete: load_balancer has no transitional state for delete "
     "on AWS; timed operations: create"),
    ("description: x\nkinds:\n  nat_gateway: {create: {minutes: 0, source: VPC guide}}",
     "p.yaml: kinds.nat_gateway.create.minutes: Input should be greater than 0"),
    ("description: x\nkinds: [", "p.yaml: line 2 is not valid YAML"),
])
def test_a_wrong_profile_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ProfileError) as refused:
        parse_profile(text, "p.yaml")
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_missing_profile_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as refused:
        load_profile(tmp_path / "nope.yaml")
    assert str(refused.value) == (
        f"cannot read timing profile {tmp_path / 'nope.yaml'}: No such file or directory")


# --------------------------------------------------------------------------- EC2, ELBv2, ACM

def test_a_nat_gateway_is_pending_then_available_and_deleting_then_deleted(
        aws: Account) -> None:
    ec2 = aws("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    created = ec2.create_nat_gateway(SubnetId=default_subnets(aws)[0],
                                     AllocationId=allocation)["NatGateway"]
    nat = created["NatGatewayId"]

    def state() -> str:
        return str(ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"])

    assert (created["State"], state()) == ("pending", "pending")
    assert aws.wait("ec2", "nat_gateway_available", "DescribeNatGateways",
                    NatGatewayIds=[nat]) > 1
    assert state() == "available"

    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert state() == "deleting"
    assert aws.wait("ec2", "nat_gateway_deleted", "DescribeNatGateways",
                    NatGatewayIds=[nat]) > 1
    assert state() == "deleted"


def test_a_load_balancer_is_provisioning_then_active(aws: Account) -> None:
    elbv2 = aws("elbv2")
    created = elbv2.create_load_balancer(Name="vivr-alb", Subnets=default_subnets(aws)[:2],
                                         Type="application")["LoadBalancers"][0]
    arn = created["LoadBalancerArn"]

    def state() -> str:
        return str(elbv2.describe_load_balancers(
            LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"])

    assert (created["State"]["Code"], state()) == ("provisioning", "provisioning")
    assert aws.wait("elbv2", "load_balancer_available", "DescribeLoadBalancers",
                    LoadBalancerArns=[arn]) > 1
    assert state() == "active"


def test_a_certificate_is_pending_validation_then_issued(aws: Account) -> None:
    acm = aws("acm")
    arn = acm.request_certificate(DomainName="app.vivr.example", ValidationMethod="DNS",
                                  SubjectAlternativeNames=["www.vivr.example"])["CertificateArn"]

    def statuses() -> tuple[str, set[str]]:
        certificate = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        return certificate["Status"], {o["ValidationStatus"]
                                       for o in certificate["DomainValidationOptions"]}

    assert statuses() == ("PENDING_VALIDATION", {"PENDING_VALIDATION"})
    assert aws.wait("acm", "certificate_validated", "DescribeCertificate",
                    CertificateArn=arn) > 1
    assert statuses() == ("ISSUED", {"SUCCESS"})


# --------------------------------------------------------------------------- RDS

def _create_instance(rds: Any, identifier: str, **extra: Any) -> str:
    created = rds.create_db_instance(
        DBInstanceIdentifier=identifier, DBInstanceClass="db.t4g.micro", Engine="postgres",
        EngineVersion="16.15", MasterUsername="vivr", MasterUserPassword="not-a-real-pass",
        AllocatedStorage=20, StorageEncrypted=True, BackupRetentionPeriod=7,
        **extra)["DBInstance"]
    return str(created["DBInstanceStatus"])


def _status(rds: Any, identifier: str) -> str:
    return str(rds.describe_db_instances(
        DBInstanceIdentifier=identifier)["DBInstances"][0]["DBInstanceStatus"])


def test_db_instances_and_replicas_are_creating_modifying_deleting(aws: Account) -> None:
    rds, west = aws("rds"), aws("rds", "us-west-2")
    assert _create_instance(rds, "vivr-db", MultiAZ=True) == "creating"
    assert _status(rds, "vivr-db") == "creating"
    assert aws.wait("rds", "db_instance_available", "DescribeDBInstances",
                    DBInstanceIdentifier="vivr-db") > 1
    primary_arn = rds.describe_db_instances(
        DBInstanceIdentifier="vivr-db")["DBInstances"][0]["DBInstanceArn"]

    rds.create_db_instance_read_replica(DBInstanceIdentifier="vivr-db-read",
                                        SourceDBInstanceIdentifier="vivr-db",
                                        DeletionProtection=False)
    assert (_status(rds, "vivr-db-read"), _status(rds, "vivr-db")) == ("creating", "available")
    assert aws.wait("rds", "db_instance_available", "DescribeDBInstances",
                    DBInstanceIdentifier="vivr-db-read") > 1
    west.create_db_instance_read_replica(DBInstanceIdentifier="vivr-db-dr",
                                         SourceDBInstanceIdentifier=primary_arn,
                                         SourceRegion="us-east-1", DeletionProtection=False)
    assert _status(west, "vivr-db-dr") == "creating"
    assert aws.wait("rds", "db_instance_available", "DescribeDBInstances", "us-west-2",
                    DBInstanceIdentifier="vivr-db-dr") > 1
    from moto.rds.models import rds_backends  # here: moto reads its settings at import

    east, west_backend = rds_backends[aws.id]["us-east-1"], rds_backends[aws.id]["us-west-2"]
    kinds = [phase_of(database) for database in (
        east.databases["vivr-db"], east.databases["vivr-db-read"],
        west_backend.databases["vivr-db-dr"])]
    assert [phase.kind if phase else None for phase in kinds] == [
        "rds_instance_multi_az", "rds_read_replica", "rds_cross_region_replica"]

    rds.modify_db_instance(DBInstanceIdentifier="vivr-db", BackupRetentionPeriod=14,
                           ApplyImmediately=True)
    assert _status(rds, "vivr-db") == "modifying"
    assert aws.wait("rds", "db_instance_available", "DescribeDBInstances",
                    DBInstanceIdentifier="vivr-db") > 1
    rds.modify_db_instance(DBInstanceIdentifier="vivr-db", BackupRetentionPeriod=10,
                           ApplyImmediately=False)
    assert _status(rds, "vivr-db") == "available"  # pending until the maintenance window

    rds.delete_db_instance(DBInstanceIdentifier="vivr-db-read", SkipFinalSnapshot=True)
    assert _status(rds, "vivr-db-read") == "deleting"
    with pytest.raises(ClientError) as again:
        rds.delete_db_instance(DBInstanceIdentifier="vivr-db-read", SkipFinalSnapshot=True)
    assert error_code(again) == "InvalidDBInstanceState"
    assert aws.wait("rds", "db_instance_deleted", "DescribeDBInstances",
                    DBInstanceIdentifier="vivr-db-read") > 1
    with pytest.raises(ClientError) as gone:
        rds.describe_db_instances(DBInstanceIdentifier="vivr-db-read")
    assert error_code(gone) == "DBInstanceNotFound"


# --------------------------------------------------------------------------- ElastiCache

def test_a_replication_group_is_creating_modifying_deleting(aws: Account) -> None:
    ec = aws("elasticache")
    created = ec.create_replication_group(
        ReplicationGroupId="vivr-redis", ReplicationGroupDescription="VIVR", Engine="redis",
        CacheNodeType="cache.t4g.micro", NumNodeGroups=1, ReplicasPerNodeGroup=1)

    def status() -> str:
        return str(ec.describe_replication_groups(
            ReplicationGroupId="vivr-redis")["ReplicationGroups"][0]["Status"])

    assert (created["ReplicationGroup"]["Status"], status()) == ("creating", "creating")
    assert aws.wait("elasticache", "replication_group_available", "DescribeReplicationGroups",
                    ReplicationGroupId="vivr-redis") > 1
    ec.modify_replication_group(ReplicationGroupId="vivr-redis", SnapshotRetentionLimit=5,
                                ApplyImmediately=True)
    assert status() == "modifying"
    assert aws.wait("elasticache", "replication_group_available", "DescribeReplicationGroups",
                    ReplicationGroupId="vivr-redis") > 1

    ec.delete_replication_group(ReplicationGroupId="vivr-redis")
    assert [status(), status()] == ["deleting", "deleting"]  # not gone after one look
    assert aws.wait("elasticache", "replication_group_deleted", "DescribeReplicationGroups",
                    ReplicationGroupId="vivr-redis") > 1
    assert ec.describe_replication_groups()["ReplicationGroups"] == []


def test_a_cache_cluster_is_creating_then_deleting(aws: Account) -> None:
    ec = aws("elasticache")
    ec.create_cache_cluster(CacheClusterId="vivr-memcached", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)

    def status() -> str:
        return str(ec.describe_cache_clusters(
            CacheClusterId="vivr-memcached")["CacheClusters"][0]["CacheClusterStatus"])

    assert status() == "creating"
    assert aws.wait("elasticache", "cache_cluster_available", "DescribeCacheClusters",
                    CacheClusterId="vivr-memcached") > 1
    ec.delete_cache_cluster(CacheClusterId="vivr-memcached")
    assert [status(), status()] == ["deleting", "deleting"]
    assert aws.wait("elasticache", "cache_cluster_deleted", "DescribeCacheClusters",
                    CacheClusterId="vivr-memcached") > 1


# --------------------------------------------------------------------------- CloudFront

def _distribution(reference: str) -> dict[str, Any]:
    return {
        "CallerReference": reference, "Comment": "vivr-cdn", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "assets", "DomainName": "vivr-assets.s3.us-east-1.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "assets", "ViewerProtocolPolicy": "https-only",
                                 # AWS's managed CachingOptimized policy
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}}


def test_a_distribution_is_in_progress_after_create_update_and_disable(aws: Account) -> None:
    cf = aws("cloudfront")
    config = _distribution("vivr-cdn-1")
    created = cf.create_distribution(DistributionConfig=config)["Distribution"]
    ident = created["Id"]

    def status() -> str:
        return str(cf.get_distribution(Id=ident)["Distribution"]["Status"])

    assert (created["Status"], status()) == ("InProgress", "InProgress")
    assert aws.wait("cloudfront", "distribution_deployed", "GET /2020-05-31/distribution/"
                    f"{ident}", Id=ident) > 1

    etag = cf.get_distribution_config(Id=ident)["ETag"]
    updated = cf.update_distribution(Id=ident, IfMatch=etag,
                                     DistributionConfig={**config, "Comment": "v2"})
    assert status() == "InProgress"
    assert aws.wait("cloudfront", "distribution_deployed", "GET /2020-05-31/distribution/"
                    f"{ident}", Id=ident) > 1

    disabled = cf.update_distribution(Id=ident, IfMatch=updated["ETag"],
                                      DistributionConfig={**config, "Enabled": False})
    assert status() == "InProgress"
    with pytest.raises(ClientError) as too_early:
        cf.delete_distribution(Id=ident, IfMatch=disabled["ETag"])
    assert error_code(too_early) == "DistributionNotDisabled"
    assert aws.wait("cloudfront", "distribution_deployed", "GET /2020-05-31/distribution/"
                    f"{ident}", Id=ident) > 1
    cf.delete_distribution(Id=ident, IfMatch=disabled["ETag"])


# --------------------------------------------------------------------------- ECS

def test_an_ecs_service_rolls_out_then_drains(aws: Account) -> None:
    ecs = aws("ecs")
    network = {"awsvpcConfiguration": {"subnets": default_subnets(aws)[:2], "securityGroups": [
        aws("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [
            "default"]}])["SecurityGroups"][0]["GroupId"]]}}
    ecs.create_cluster(clusterName="vivr")
    definition = {"family": "vivr-api", "requiresCompatibilities": ["FARGATE"],
                  "networkMode": "awsvpc", "cpu": "256", "memory": "512",
                  "containerDefinitions": [{"name": "api", "image": "nginx", "memory": 512}]}
    first = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="vivr", serviceName="api", taskDefinition=first, desiredCount=2,
                       launchType="FARGATE", networkConfiguration=network)

    def service() -> dict[str, Any]:
        found: dict[str, Any] = ecs.describe_services(cluster="vivr",
                                                      services=["api"])["services"][0]
        return found

    def rollout() -> list[tuple[str, str, int]]:
        return [(d["status"], d["rolloutState"], d["runningCount"])
                for d in service()["deployments"]]

    assert (service()["runningCount"], rollout()) == (0, [("PRIMARY", "IN_PROGRESS", 0)])
    assert aws.wait("ecs", "services_stable", "DescribeServices", cluster="vivr",
                    services=["api"]) > 1
    assert (service()["runningCount"], rollout()) == (2, [("PRIMARY", "COMPLETED", 2)])

    second = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="vivr", service="api", taskDefinition=second)
    assert rollout() == [("PRIMARY", "IN_PROGRESS", 0), ("ACTIVE", "COMPLETED", 2)]
    assert aws.wait("ecs", "services_stable", "DescribeServices", cluster="vivr",
                    services=["api"]) > 1
    assert rollout() == [("PRIMARY", "COMPLETED", 2)]

    ecs.delete_service(cluster="vivr", service="api", force=True)
    assert service()["status"] == "DRAINING"
    assert aws.wait("ecs", "services_inactive", "DescribeServices", cluster="vivr",
                    services=["api"]) > 1
    assert service()["status"] == "INACTIVE"


# --------------------------------------------------------------------------- no profile

def test_without_a_profile_everything_is_ready_at_once(timed: SandboxServer,
                                                       sandbox: SandboxServer) -> None:
    """The plain sandbox in the same process (the hooks are installed) is unchanged."""
    aws = Account(sandbox)
    rds, ec, cf = aws("rds"), aws("elasticache"), aws("cloudfront")
    assert _create_instance(rds, "vivr-db", MultiAZ=True) == "available"
    ec.create_replication_group(
        ReplicationGroupId="vivr-redis", ReplicationGroupDescription="VIVR", Engine="redis",
        CacheNodeType="cache.t4g.micro", NumNodeGroups=1, ReplicasPerNodeGroup=1)
    assert ec.describe_replication_groups(
        ReplicationGroupId="vivr-redis")["ReplicationGroups"][0]["Status"] == "available"
    created = cf.create_distribution(DistributionConfig=_distribution("plain-1"))["Distribution"]
    assert cf.get_distribution(Id=created["Id"])["Distribution"]["Status"] == "Deployed"

    ec.delete_replication_group(ReplicationGroupId="vivr-redis")
    ec.describe_replication_groups(ReplicationGroupId="vivr-redis")  # deleting, once
    assert ec.describe_replication_groups()["ReplicationGroups"] == []
    rds.delete_db_instance(DBInstanceIdentifier="vivr-db", SkipFinalSnapshot=True)
    assert rds.describe_db_instances()["DBInstances"] == []


# --------------------------------------------------------------------------- API throttling

def _limits(per: str) -> Any:
    return parse_profile(f"""
description: throttled
kinds: {{}}
api:
  throttling:
    ec2:
      source: EC2 API Reference, request throttling
      per: {per}
      buckets:
        reads: {{capacity: 2, refill_per_second: 0.001, operations: read}}
        nat: {{capacity: 1, refill_per_second: 0.001,
               operations: [CreateNatGateway, DeleteNatGateway]}}
    elasticloadbalancing:
      source: ELB guide, API request throttling
      per: category
      buckets:
        account: {{capacity: 3, refill_per_second: 0.001, operations: all}}
        reads: {{capacity: 2, refill_per_second: 0.001, operations: read}}
""", "limits.yaml")


def test_each_api_has_its_own_bucket_of_its_category() -> None:
    buckets = TokenBuckets(_limits("operation").api)
    draws = [buckets.take("1", "us-east-1", "ec2", "DescribeVpcs", False) for _ in range(3)]
    assert draws == [True, True, False]
    assert buckets.take("1", "us-east-1", "ec2", "DescribeSubnets", False)  # its own bucket
    assert buckets.take("2", "us-east-1", "ec2", "DescribeVpcs", False)  # another account
    assert buckets.take("1", "us-west-2", "ec2", "DescribeVpcs", False)  # another Region
    assert [buckets.take("1", "us-east-1", "ec2", "CreateNatGateway", True)
            for _ in range(2)] == [True, False]  # listed by name: its own, smaller bucket
    assert all(buckets.take("1", "us-east-1", "ec2", "CreateVpc", True) for _ in range(9))
    assert all(buckets.take("1", "us-east-1", "ecs", "DescribeServices", False)
               for _ in range(9))  # no bucket: not throttled

    shared = TokenBuckets(_limits("category").api)
    assert [shared.take("1", "us-east-1", "ec2", op, False)
            for op in ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables")] == [
        True, True, False]


def test_an_account_bucket_is_drawn_by_every_call_beside_its_category() -> None:
    buckets = TokenBuckets(_limits("category").api)
    elb = "elasticloadbalancing"
    assert [buckets.take("1", "us-east-1", elb, op, False)
            for op in ("DescribeLoadBalancers", "DescribeTargetGroups", "DescribeListeners")
            ] == [True, True, False]  # the reads bucket (2) empties first
    assert buckets.take("1", "us-east-1", elb, "CreateListener", True)  # account: 1 left
    assert not buckets.take("1", "us-east-1", elb, "CreateRule", True)  # account empty


def test_an_empty_bucket_answers_as_aws_throttles() -> None:
    """RequestLimitExceeded (503) in EC2's shape, journaled, never reaching moto."""
    server = SandboxServer("127.0.0.1", 0, Timing(_limits("operation"), 1.0)).start()
    try:
        aws = Account(server)
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=server.url,
                           aws_access_key_id=f"sandbox{aws.id}", aws_secret_access_key="x",
                           config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        ec2.describe_vpcs()
        ec2.describe_vpcs()
        with pytest.raises(ClientError) as throttled:
            ec2.describe_vpcs()
        assert throttled.value.response["Error"]["Code"] == "RequestLimitExceeded"
        assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert [c.status for c in server.app.journal(aws.id)] == [200, 200, 503]
        assert server.app.timing is not None and server.app.timing.buckets is not None
        assert server.app.timing.buckets.refused == {("ec2", "DescribeVpcs"): 1}
    finally:
        server.stop()


def test_a_wrong_bucket_is_refused_in_one_line() -> None:
    with pytest.raises(ProfileError) as refused:
        parse_profile("description: x\nkinds: {}\napi:\n  throttling:\n    ec2:\n"
                      "      source: EC2 guide\n      per: operation\n      buckets:\n"
                      "        reads: {capacity: 2, refill_per_second: 1, operations: writes}\n",
                      "p.yaml")
    assert str(refused.value).startswith(
        "p.yaml: api.throttling.ec2.buckets.reads.operations: "
        "Input should be 'read', 'mutating' or 'all'")
