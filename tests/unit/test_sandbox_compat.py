"""The sandbox's moto compatibility fixes, seen the way an AWS user sees them.

Every test drives boto3 over HTTP against a real :class:`SandboxServer` and
asserts what a real AWS account would show: the real botocore waiters finish,
deletes remove resources, settings read back as sent.  Each test gets its own
account (an access key ending in 12 digits), so tests never see each other.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from vivr_provision.steps.key_pairs import generate_private_key_pem, public_key_pem
from vivr_sandbox.fixes import apply_moto_fixes
from vivr_sandbox.server import SandboxServer

Client = Callable[..., Any]
FAST = {"Delay": 1, "MaxAttempts": 5}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    sandbox = SandboxServer("127.0.0.1", 0).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def client(server: SandboxServer) -> Client:
    """``client(service, region)`` for a fresh account (prefix 9: apart from conftest's)."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0")
    account = f"9{worker:02d}{os.getpid() % 10000:04d}{next(_numbers):05d}"
    cache: dict[tuple[str, str], Any] = {}

    def make(service: str, region: str = "us-east-1") -> Any:
        if (service, region) not in cache:
            cache[service, region] = boto3.client(
                service, region_name=region, endpoint_url=server.url,
                aws_access_key_id=f"sandbox{account}", aws_secret_access_key="sandbox")
        return cache[service, region]

    return make


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def default_subnets(client: Client, region: str = "us-east-1") -> list[dict[str, Any]]:
    subnets = client("ec2", region).describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])


# --------------------------------------------------------------------------- the fix list

def test_fixes_are_listed_once_and_applying_twice_changes_nothing(
        server: SandboxServer) -> None:
    from moto.elasticache.models import ElastiCacheBackend
    from moto.rds.models import DBInstance

    first = apply_moto_fixes()
    patched = (ElastiCacheBackend.describe_replication_groups, DBInstance.__init__)
    assert apply_moto_fixes() == first
    assert (ElastiCacheBackend.describe_replication_groups, DBInstance.__init__) == patched
    # 47 + the two CloudFront field-level encryption fixes + the ALB access-log bucket check
    # + ECS's family-only describe (latest ACTIVE revision)
    # + GetResources listing every type the tag batch reads (two fixes)
    # + ListBuckets' regions and pages + GetResources paged by the limit sent
    # + ElastiCache member clusters described by id
    assert len(first) == 56 and len(set(first)) == 56
    services = ("ElastiCache", "RDS", "ECS", "S3", "CloudFront", "ELBv2", "Logs", "ACM",
                "WAFv2", "IAM", "Application Auto Scaling", "Secrets Manager", "Route 53",
                "AWS Backup", "EventBridge Scheduler", "KMS", "EC2", "Lambda",
                "Resource Groups Tagging")
    assert all(line.split(":", 1)[0] in services for line in first)


# --------------------------------------------------------------------------- ElastiCache

def test_cache_parameter_group_lifecycle(client: Client) -> None:
    ec = client("elasticache")
    group = ec.create_cache_parameter_group(
        CacheParameterGroupName="vivr-redis7", CacheParameterGroupFamily="redis7",
        Description="VIVR cache", Tags=[{"Key": "Project", "Value": "vivr"}],
    )["CacheParameterGroup"]
    assert group["CacheParameterGroupFamily"] == "redis7"
    assert group["ARN"].endswith(":parametergroup:vivr-redis7")
    with pytest.raises(ClientError) as duplicate:
        ec.create_cache_parameter_group(CacheParameterGroupName="vivr-redis7",
                                        CacheParameterGroupFamily="redis7", Description="x")
    assert error_of(duplicate)[0] == "CacheParameterGroupAlreadyExists"
    with pytest.raises(ClientError) as bad_family:
        ec.create_cache_parameter_group(CacheParameterGroupName="other",
                                        CacheParameterGroupFamily="redis7.x", Description="x")
    assert error_of(bad_family)[0] == "InvalidParameterValue"

    modified = ec.modify_cache_parameter_group(
        CacheParameterGroupName="vivr-redis7",
        ParameterNameValues=[{"ParameterName": "maxmemory-policy",
                              "ParameterValue": "allkeys-lru"}])
    assert modified["CacheParameterGroupName"] == "vivr-redis7"

    parameters = ec.describe_cache_parameters(CacheParameterGroupName="vivr-redis7",
                                              Source="user")["Parameters"]
    assert [(p["ParameterName"], p["ParameterValue"], p["Source"]) for p in parameters] == [
        ("maxmemory-policy", "allkeys-lru", "user")]
    described = ec.describe_cache_parameter_groups(
        CacheParameterGroupName="vivr-redis7")["CacheParameterGroups"]
    assert [(g["CacheParameterGroupName"], g["Description"]) for g in described] == [
        ("vivr-redis7", "VIVR cache")]
    assert ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"] == [
        {"Key": "Project", "Value": "vivr"}]

    ec.reset_cache_parameter_group(CacheParameterGroupName="vivr-redis7",
                                   ResetAllParameters=True)
    assert ec.describe_cache_parameters(CacheParameterGroupName="vivr-redis7",
                                        Source="user")["Parameters"] == []

    ec.delete_cache_parameter_group(CacheParameterGroupName="vivr-redis7")
    with pytest.raises(ClientError) as missing:
        ec.describe_cache_parameter_groups(CacheParameterGroupName="vivr-redis7")
    assert error_of(missing) == ("CacheParameterGroupNotFound", 404)
    # Other regions and accounts never saw it.
    assert client("elasticache", "us-west-2").describe_cache_parameter_groups()[
        "CacheParameterGroups"] == []


def test_replication_group_delete_completes_and_frees_its_groups(client: Client) -> None:
    ec = client("elasticache")
    ec.create_cache_subnet_group(
        CacheSubnetGroupName="vivr-cache", CacheSubnetGroupDescription="VIVR cache",
        SubnetIds=[s["SubnetId"] for s in default_subnets(client)[:2]])
    ec.create_cache_parameter_group(CacheParameterGroupName="vivr-redis7",
                                    CacheParameterGroupFamily="redis7", Description="x")
    ec.create_replication_group(
        ReplicationGroupId="vivr-redis", ReplicationGroupDescription="VIVR",
        Engine="redis", EngineVersion="7.1", CacheNodeType="cache.t4g.micro",
        NumNodeGroups=1, ReplicasPerNodeGroup=1, CacheSubnetGroupName="vivr-cache",
        CacheParameterGroupName="vivr-redis7")

    with pytest.raises(ClientError) as subnet_group_in_use:
        ec.delete_cache_subnet_group(CacheSubnetGroupName="vivr-cache")
    assert error_of(subnet_group_in_use)[0] == "CacheSubnetGroupInUse"
    with pytest.raises(ClientError) as parameter_group_in_use:
        ec.delete_cache_parameter_group(CacheParameterGroupName="vivr-redis7")
    assert error_of(parameter_group_in_use)[0] == "InvalidCacheParameterGroupState"

    deleted = ec.delete_replication_group(ReplicationGroupId="vivr-redis",
                                          FinalSnapshotIdentifier="vivr-redis-final")
    assert deleted["ReplicationGroup"]["Status"] == "deleting"
    ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="vivr-redis",
                                                    WaiterConfig=FAST)
    with pytest.raises(ClientError) as gone:
        ec.describe_replication_groups(ReplicationGroupId="vivr-redis")
    assert error_of(gone)[0] == "ReplicationGroupNotFoundFault"
    assert ec.describe_replication_groups()["ReplicationGroups"] == []
    snapshot = ec.describe_snapshots(SnapshotName="vivr-redis-final")["Snapshots"][0]
    assert (snapshot["ReplicationGroupId"], snapshot["SnapshotSource"]) == (
        "vivr-redis", "manual")

    ec.delete_cache_parameter_group(CacheParameterGroupName="vivr-redis7")
    ec.delete_cache_subnet_group(CacheSubnetGroupName="vivr-cache")
    assert ec.describe_cache_subnet_groups()["CacheSubnetGroups"] == []
    with pytest.raises(ClientError) as again:
        ec.delete_cache_subnet_group(CacheSubnetGroupName="vivr-cache")
    assert error_of(again)[0] == "CacheSubnetGroupNotFoundFault"


def test_cache_cluster_delete_completes(client: Client) -> None:
    ec = client("elasticache")
    ec.create_cache_cluster(CacheClusterId="vivr-memcached", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    ec.delete_cache_cluster(CacheClusterId="vivr-memcached")
    ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="vivr-memcached",
                                                WaiterConfig=FAST)
    assert ec.describe_cache_clusters()["CacheClusters"] == []


def test_member_clusters_are_described_by_id_and_follow_the_group(client: Client) -> None:
    """AWS reports a replication group's cluster-level settings on its member clusters,
    each describable by id; ModifyReplicationGroup changes what they report."""
    ec = client("elasticache")
    subnets = default_subnets(client)
    default_vpc = subnets[0]["VpcId"]
    sg = client("ec2").describe_security_groups()["SecurityGroups"][0]["GroupId"]
    ec.create_cache_subnet_group(
        CacheSubnetGroupName="vivr-members", CacheSubnetGroupDescription="x",
        SubnetIds=[s["SubnetId"] for s in subnets[:2]])
    ec.create_cache_parameter_group(CacheParameterGroupName="vivr-members-7",
                                    CacheParameterGroupFamily="redis7", Description="x")
    members = ec.create_replication_group(
        ReplicationGroupId="vivr-members", ReplicationGroupDescription="x", Engine="redis",
        EngineVersion="7.1", CacheNodeType="cache.t4g.micro", NumNodeGroups=1,
        ReplicasPerNodeGroup=1, CacheSubnetGroupName="vivr-members",
        CacheParameterGroupName="vivr-members-7", SecurityGroupIds=[sg],
        PreferredMaintenanceWindow="sun:05:00-sun:06:00")["ReplicationGroup"]["MemberClusters"]
    assert len(members) == 2

    for member in members:
        [cluster] = ec.describe_cache_clusters(CacheClusterId=member)["CacheClusters"]
        assert (cluster["CacheClusterId"], cluster["ReplicationGroupId"]) == (
            member, "vivr-members")
        assert cluster["SecurityGroups"] == [{"SecurityGroupId": sg, "Status": "active"}]
        assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == "vivr-members-7"
        assert (cluster["EngineVersion"], cluster["CacheSubnetGroupName"],
                cluster["PreferredMaintenanceWindow"]) == (
            "7.1", "vivr-members", "sun:05:00-sun:06:00")
        assert cluster["ARN"].endswith(f":cluster:{member}") and "CacheNodes" not in cluster
    [shown] = ec.describe_cache_clusters(CacheClusterId=members[0],
                                         ShowCacheNodeInfo=True)["CacheClusters"]
    assert shown["CacheNodes"][0]["Endpoint"]["Address"].startswith(members[0])

    other = client("ec2").create_security_group(
        GroupName="vivr-members-other", Description="x", VpcId=default_vpc)["GroupId"]
    ec.modify_replication_group(ReplicationGroupId="vivr-members", SecurityGroupIds=[other],
                                PreferredMaintenanceWindow="mon:01:00-mon:02:00",
                                ApplyImmediately=True)
    [modified] = ec.describe_cache_clusters(CacheClusterId=members[1])["CacheClusters"]
    assert (modified["SecurityGroups"], modified["PreferredMaintenanceWindow"]) == (
        [{"SecurityGroupId": other, "Status": "active"}], "mon:01:00-mon:02:00")
    with pytest.raises(ClientError) as unknown:
        ec.describe_cache_clusters(CacheClusterId="vivr-members-009")
    assert error_of(unknown) == ("CacheClusterNotFound", 404)


# --------------------------------------------------------------------------- RDS

def create_primary(rds: Any, **extra: Any) -> dict[str, Any]:
    instance: dict[str, Any] = rds.create_db_instance(
        DBInstanceIdentifier="vivr-db", DBInstanceClass="db.t4g.micro", Engine="postgres",
        EngineVersion="16.15", MasterUsername="vivr", MasterUserPassword="not-a-real-pass",
        AllocatedStorage=20, StorageEncrypted=True, DeletionProtection=True, **extra,
    )["DBInstance"]
    return instance


def test_cross_region_read_replica_lives_in_its_own_region(client: Client) -> None:
    primary = create_primary(client("rds"))
    west_rds, west_ec2 = client("rds", "us-west-2"), client("ec2", "us-west-2")
    subnets = default_subnets(client, "us-west-2")
    west_rds.create_db_subnet_group(
        DBSubnetGroupName="vivr-dr", DBSubnetGroupDescription="DR",
        SubnetIds=[s["SubnetId"] for s in subnets[:2]])
    security_group = west_ec2.create_security_group(
        GroupName="vivr-dr-db", Description="DR db", VpcId=subnets[0]["VpcId"])["GroupId"]
    west_key = "arn:aws:kms:us-west-2:111122223333:key/dr"

    west_rds.create_db_instance_read_replica(
        DBInstanceIdentifier="vivr-db-dr", SourceDBInstanceIdentifier=primary["DBInstanceArn"],
        SourceRegion="us-east-1", DBInstanceClass="db.t4g.micro",
        DBSubnetGroupName="vivr-dr", VpcSecurityGroupIds=[security_group],
        AvailabilityZone="us-west-2b", KmsKeyId=west_key)

    replica = west_rds.describe_db_instances(DBInstanceIdentifier="vivr-db-dr")[
        "DBInstances"][0]
    assert replica["DBInstanceArn"].startswith("arn:aws:rds:us-west-2:")
    assert replica["DBSubnetGroup"]["DBSubnetGroupName"] == "vivr-dr"
    assert replica["DBSubnetGroup"]["VpcId"] == subnets[0]["VpcId"]
    assert replica["AvailabilityZone"] == "us-west-2b"
    assert replica["KmsKeyId"] == west_key
    assert [g["VpcSecurityGroupId"] for g in replica["VpcSecurityGroups"]] == [security_group]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == primary["DBInstanceArn"]
    assert replica["DeletionProtection"] is False  # AWS default, not the source's True
    source = client("rds").describe_db_instances(DBInstanceIdentifier="vivr-db")[
        "DBInstances"][0]
    assert source["ReadReplicaDBInstanceIdentifiers"] == [replica["DBInstanceArn"]]

    west_rds.delete_db_instance(DBInstanceIdentifier="vivr-db-dr", SkipFinalSnapshot=True)
    west_rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="vivr-db-dr",
                                                    WaiterConfig=FAST)
    source = client("rds").describe_db_instances(DBInstanceIdentifier="vivr-db")[
        "DBInstances"][0]
    assert source["ReadReplicaDBInstanceIdentifiers"] == []


def test_same_region_replicas_can_be_deleted(client: Client) -> None:
    rds = client("rds")
    create_primary(rds)
    explicit = rds.create_db_instance_read_replica(
        DBInstanceIdentifier="vivr-db-r1", SourceDBInstanceIdentifier="vivr-db",
        DeletionProtection=False)["DBInstance"]
    implicit = rds.create_db_instance_read_replica(
        DBInstanceIdentifier="vivr-db-r2", SourceDBInstanceIdentifier="vivr-db")["DBInstance"]
    assert (explicit["DeletionProtection"], implicit["DeletionProtection"]) == (False, False)

    rds.delete_db_instance(DBInstanceIdentifier="vivr-db-r1", SkipFinalSnapshot=True)
    rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="vivr-db-r1",
                                               WaiterConfig=FAST)
    primary = rds.describe_db_instances(DBInstanceIdentifier="vivr-db")["DBInstances"][0]
    assert primary["ReadReplicaDBInstanceIdentifiers"] == ["vivr-db-r2"]
    assert primary["DeletionProtection"] is True

    # Deleting the source promotes its remaining replica, which can then be deleted too.
    rds.modify_db_instance(DBInstanceIdentifier="vivr-db", DeletionProtection=False,
                           ApplyImmediately=True)
    rds.delete_db_instance(DBInstanceIdentifier="vivr-db", SkipFinalSnapshot=True)
    promoted = rds.describe_db_instances(DBInstanceIdentifier="vivr-db-r2")["DBInstances"][0]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
    rds.delete_db_instance(DBInstanceIdentifier="vivr-db-r2", SkipFinalSnapshot=True)
    rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="vivr-db-r2",
                                               WaiterConfig=FAST)


def test_performance_insights_settings_read_back(client: Client) -> None:
    rds = client("rds")
    key = "arn:aws:kms:us-east-1:111122223333:key/pi"
    create_primary(rds, EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=key)

    def insights() -> dict[str, Any]:
        instance = rds.describe_db_instances(DBInstanceIdentifier="vivr-db")["DBInstances"][0]
        return {k: v for k, v in instance.items() if k.startswith("PerformanceInsights")}

    assert insights() == {"PerformanceInsightsEnabled": True,
                          "PerformanceInsightsKMSKeyId": key,
                          "PerformanceInsightsRetentionPeriod": 7}
    rds.modify_db_instance(DBInstanceIdentifier="vivr-db", ApplyImmediately=True,
                           PerformanceInsightsRetentionPeriod=31)
    assert insights()["PerformanceInsightsRetentionPeriod"] == 31
    rds.modify_db_instance(DBInstanceIdentifier="vivr-db", ApplyImmediately=True,
                           EnablePerformanceInsights=False)
    assert insights()["PerformanceInsightsEnabled"] is False

    rds.create_db_instance(DBInstanceIdentifier="plain", DBInstanceClass="db.t4g.micro",
                           Engine="postgres", MasterUsername="vivr",
                           MasterUserPassword="not-a-real-pass", AllocatedStorage=20)
    plain = rds.describe_db_instances(DBInstanceIdentifier="plain")["DBInstances"][0]
    assert plain["PerformanceInsightsEnabled"] is False


def test_enhanced_monitoring_reports_its_log_stream_while_it_is_on(client: Client) -> None:
    """Issue 12: AWS names the RDSOSMetrics stream of a monitored instance (Prowler
    reads it); moto kept the interval and role but never said where metrics go."""
    rds = client("rds")
    role = "arn:aws:iam::111122223333:role/vivr-rds-monitoring-role"
    create_primary(rds, MonitoringInterval=60, MonitoringRoleArn=role)
    replica = rds.create_db_instance_read_replica(
        DBInstanceIdentifier="vivr-db-r1", SourceDBInstanceIdentifier="vivr-db",
        MonitoringInterval=60, MonitoringRoleArn=role)["DBInstance"]

    def described(identifier: str) -> dict[str, Any]:
        return dict(rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0])

    for identifier in ("vivr-db", "vivr-db-r1"):
        instance = described(identifier)
        assert instance["EnhancedMonitoringResourceArn"] == (
            f"arn:aws:logs:us-east-1:{instance['DBInstanceArn'].split(':')[4]}:log-group:"
            f"RDSOSMetrics:log-stream:{instance['DbiResourceId']}")
        assert (instance["MonitoringInterval"], instance["MonitoringRoleArn"]) == (60, role)
    assert replica["EnhancedMonitoringResourceArn"]
    rds.modify_db_instance(DBInstanceIdentifier="vivr-db-r1", MonitoringInterval=0,
                           ApplyImmediately=True)
    assert "EnhancedMonitoringResourceArn" not in described("vivr-db-r1")


# --------------------------------------------------------------------------- ECS

def test_ecs_describe_by_family_answers_the_latest_active_revision(client: Client) -> None:
    ecs = client("ecs")
    for image in ("nginx:1", "nginx:2"):
        ecs.register_task_definition(family="vivr-family", containerDefinitions=[
            {"name": "api", "image": image, "memory": 512}])
    latest = ecs.describe_task_definition(taskDefinition="vivr-family")["taskDefinition"]
    assert latest["revision"] == 2
    ecs.deregister_task_definition(taskDefinition="vivr-family:2")
    assert ecs.describe_task_definition(
        taskDefinition="vivr-family")["taskDefinition"]["revision"] == 1
    assert ecs.describe_task_definition(
        taskDefinition="vivr-family:2")["taskDefinition"]["status"] == "INACTIVE"
    ecs.deregister_task_definition(taskDefinition="vivr-family:1")
    with pytest.raises(ClientError) as raised:
        ecs.describe_task_definition(taskDefinition="vivr-family")
    assert raised.value.response["Error"]["Code"] == "ClientException"


def test_ecs_service_settles_and_keeps_its_settings(client: Client) -> None:
    ecs, ec2 = client("ecs"), client("ec2")
    subnets = [s["SubnetId"] for s in default_subnets(client)[:2]]
    security_group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    ecs.create_cluster(clusterName="vivr")
    ecs.register_task_definition(
        family="vivr-api", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512",
        containerDefinitions=[{"name": "api", "image": "nginx", "memory": 512}])
    deployment = {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                  "maximumPercent": 200, "minimumHealthyPercent": 50}

    ecs.create_service(
        cluster="vivr", serviceName="api", taskDefinition="vivr-api", desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets,
                                                      "securityGroups": [security_group]}},
        deploymentConfiguration=deployment, healthCheckGracePeriodSeconds=60,
        enableECSManagedTags=True, enableExecuteCommand=True)
    ecs.get_waiter("services_stable").wait(cluster="vivr", services=["api"],
                                           WaiterConfig=FAST)
    service = ecs.describe_services(cluster="vivr", services=["api"])["services"][0]
    assert service["deploymentConfiguration"] == deployment
    assert service["healthCheckGracePeriodSeconds"] == 60
    assert service["enableECSManagedTags"] is True
    assert service["enableExecuteCommand"] is True
    assert (service["runningCount"], service["pendingCount"]) == (2, 0)
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]

    ecs.update_service(cluster="vivr", service="api", desiredCount=3,
                       deploymentConfiguration={"maximumPercent": 150,
                                                "minimumHealthyPercent": 100},
                       healthCheckGracePeriodSeconds=30, enableExecuteCommand=False)
    ecs.get_waiter("services_stable").wait(cluster="vivr", services=["api"],
                                           WaiterConfig=FAST)
    service = ecs.describe_services(cluster="vivr", services=["api"])["services"][0]
    assert service["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 150, "minimumHealthyPercent": 100}
    assert service["healthCheckGracePeriodSeconds"] == 30
    assert (service["enableECSManagedTags"], service["enableExecuteCommand"]) == (True, False)
    assert service["deployments"][0]["runningCount"] == service["runningCount"] == 3

    ecs.create_service(cluster="vivr", serviceName="defaults", taskDefinition="vivr-api",
                       desiredCount=0, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {
                           "subnets": subnets, "securityGroups": [security_group]}})
    defaults = ecs.describe_services(cluster="vivr", services=["defaults"])["services"][0]
    assert defaults["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200, "minimumHealthyPercent": 100}
    assert (defaults["enableECSManagedTags"], defaults["enableExecuteCommand"]) == (
        False, False)

    ecs.delete_service(cluster="vivr", service="api", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="vivr", services=["api"],
                                             WaiterConfig=FAST)


def test_modified_db_subnet_group_is_still_there(client: Client) -> None:
    subnets = default_subnets(client)
    rds = client("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="g", DBSubnetGroupDescription="d",
                               SubnetIds=[subnets[0]["SubnetId"], subnets[1]["SubnetId"]])
    rds.modify_db_subnet_group(DBSubnetGroupName="g", DBSubnetGroupDescription="d2",
                               SubnetIds=[subnets[0]["SubnetId"], subnets[2]["SubnetId"]])
    group = rds.describe_db_subnet_groups(DBSubnetGroupName="g")["DBSubnetGroups"][0]
    assert group["DBSubnetGroupDescription"] == "d2"
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == {
        subnets[0]["SubnetId"], subnets[2]["SubnetId"]}


def test_get_resources_pages_by_the_limit_the_request_sends(client: Client) -> None:
    sns, tagging = client("sns"), client("resourcegroupstaggingapi")
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(7)] + [
        {"Key": "Paging", "Value": "by-limit"}]
    for number in range(20):
        sns.create_topic(Name=f"paged-{number}", Tags=tags)
    ours = [{"Key": "Paging", "Values": ["by-limit"]}]
    by_resources = tagging.get_resources(TagFilters=ours, ResourcesPerPage=100)
    assert len(by_resources["ResourceTagMappingList"]) == 20
    assert not by_resources.get("PaginationToken")
    by_tags = tagging.get_resources(TagFilters=ours, TagsPerPage=100)
    assert len(by_tags["ResourceTagMappingList"]) < 20 and by_tags["PaginationToken"]


def test_get_resources_lists_the_types_aws_lists_with_all_their_tags(client: Client) -> None:
    """RDS subnet and parameter groups, ElastiCache parameter groups, backup plans, a
    CloudFront-scoped web ACL, a schedule group and a hosted zone come back from
    us-east-1's GetResources as AWS lists them (the tool's tag batch reads them)."""
    tags = [{"Key": "ManagedBy", "Value": "vivr-provision"}, {"Key": "Name", "Value": "g"}]
    subnets = default_subnets(client)
    rds = client("rds")
    group = rds.create_db_subnet_group(
        DBSubnetGroupName="g", DBSubnetGroupDescription="d", Tags=tags,
        SubnetIds=[subnets[0]["SubnetId"], subnets[1]["SubnetId"]])["DBSubnetGroup"]
    params = rds.create_db_parameter_group(
        DBParameterGroupName="p", DBParameterGroupFamily="postgres16", Description="d",
        Tags=tags)["DBParameterGroup"]
    cache = client("elasticache").create_cache_parameter_group(
        CacheParameterGroupName="c", CacheParameterGroupFamily="redis7", Description="d",
        Tags=tags)["CacheParameterGroup"]
    plan = client("backup").create_backup_plan(
        BackupPlan={"BackupPlanName": "b", "Rules": [{"RuleName": "r",
                                                       "TargetBackupVaultName": "Default"}]},
        BackupPlanTags={"ManagedBy": "vivr-provision", "Name": "g"})
    acl = client("wafv2").create_web_acl(
        Name="w", Scope="CLOUDFRONT", DefaultAction={"Allow": {}}, Tags=tags,
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
                          "MetricName": "w"})["Summary"]
    schedules = client("scheduler").create_schedule_group(Name="s", Tags=tags)
    route53 = client("route53")
    zone = route53.create_hosted_zone(Name="tagged.example", CallerReference="t")["HostedZone"]
    zone_id = zone["Id"].rsplit("/", 1)[-1]
    route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id,
                                     AddTags=tags)
    rds.create_db_subnet_group(  # not ours: filtered out
        DBSubnetGroupName="other", DBSubnetGroupDescription="d",
        SubnetIds=[subnets[0]["SubnetId"], subnets[1]["SubnetId"]],
        Tags=[{"Key": "ManagedBy", "Value": "someone"}])
    listed = client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "ManagedBy", "Values": ["vivr-provision"]}],
        ResourceTypeFilters=["rds", "elasticache", "backup", "wafv2", "scheduler", "route53"],
    )["ResourceTagMappingList"]
    found = {item["ResourceARN"]: {t["Key"]: t["Value"] for t in item["Tags"]}
             for item in listed}
    assert found == {arn: {"ManagedBy": "vivr-provision", "Name": "g"} for arn in (
        group["DBSubnetGroupArn"], params["DBParameterGroupArn"], cache["ARN"],
        plan["BackupPlanArn"], acl["ARN"], schedules["ScheduleGroupArn"],
        f"arn:aws:route53:::hostedzone/{zone_id}")}


# --------------------------------------------------------------------------- CloudFront

def _distribution_config(reference: str, control_id: str, cache_policy_id: str,
                         request_policy_id: str) -> dict[str, Any]:
    behaviour = {"TargetOriginId": "assets", "ViewerProtocolPolicy": "https-only",
                 "CachePolicyId": cache_policy_id, "OriginRequestPolicyId": request_policy_id}
    return {
        "CallerReference": reference, "Comment": "vivr-cdn", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "assets", "DomainName": "vivr-assets.s3.us-east-1.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "OriginAccessControlId": control_id}]},
        "DefaultCacheBehavior": behaviour,
    }


def test_cloudfront_policies_origin_access_control_and_teardown_order(client: Client) -> None:
    cf = client("cloudfront")
    cache_config = {
        "Name": "vivr-static-1y", "Comment": "1 year", "MinTTL": 31536000,
        "DefaultTTL": 31536000, "MaxTTL": 31536000,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": True, "EnableAcceptEncodingBrotli": True,
            "HeadersConfig": {"HeaderBehavior": "none"},
            "CookiesConfig": {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "none"}}}
    created = cf.create_cache_policy(CachePolicyConfig=cache_config)
    policy_id = created["CachePolicy"]["Id"]
    assert created["CachePolicy"]["CachePolicyConfig"]["DefaultTTL"] == 31536000
    with pytest.raises(ClientError) as duplicate:
        cf.create_cache_policy(CachePolicyConfig=cache_config)
    assert error_of(duplicate) == ("CachePolicyAlreadyExists", 409)
    listed = cf.list_cache_policies(Type="custom")["CachePolicyList"]["Items"]
    assert [p["CachePolicy"]["Id"] for p in listed] == [policy_id]
    assert cf.list_cache_policies(Type="managed")["CachePolicyList"]["Quantity"] == 0

    # Updates need the current ETag, and issue a new one.
    with pytest.raises(ClientError) as stale:
        cf.update_cache_policy(Id=policy_id, IfMatch="stale",
                               CachePolicyConfig={**cache_config, "Comment": "x"})
    assert error_of(stale) == ("PreconditionFailed", 412)
    updated = cf.update_cache_policy(Id=policy_id, IfMatch=created["ETag"],
                                     CachePolicyConfig={**cache_config, "Comment": "x"})
    assert updated["ETag"] != created["ETag"]
    assert cf.get_cache_policy_config(Id=policy_id)["CachePolicyConfig"]["Comment"] == "x"

    request = cf.create_origin_request_policy(OriginRequestPolicyConfig={
        "Name": "vivr-s3-simple", "Comment": "nothing",
        "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
        "QueryStringsConfig": {"QueryStringBehavior": "none"}})
    request_id = request["OriginRequestPolicy"]["Id"]
    control = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "vivr-cdn-s3", "SigningProtocol": "sigv4", "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3"})["OriginAccessControl"]["Id"]

    # The origin keeps its OAC and S3 settings.
    distribution = cf.create_distribution(DistributionConfig=_distribution_config(
        "ref-1", control, policy_id, request_id))["Distribution"]
    reply = cf.get_distribution_config(Id=distribution["Id"])
    [origin] = reply["DistributionConfig"]["Origins"]["Items"]
    assert origin["OriginAccessControlId"] == control
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}

    # Nothing a distribution uses can go, and an enabled distribution cannot either.
    with pytest.raises(ClientError) as policy_in_use:
        cf.delete_cache_policy(Id=policy_id, IfMatch=updated["ETag"])
    assert error_of(policy_in_use) == ("CachePolicyInUse", 409)
    request_etag = cf.get_origin_request_policy(Id=request_id)["ETag"]
    with pytest.raises(ClientError) as request_in_use:
        cf.delete_origin_request_policy(Id=request_id, IfMatch=request_etag)
    assert error_of(request_in_use) == ("OriginRequestPolicyInUse", 409)
    with pytest.raises(ClientError) as control_in_use:
        cf.delete_origin_access_control(Id=control, IfMatch="x")
    assert error_of(control_in_use) == ("OriginAccessControlInUse", 409)
    with pytest.raises(ClientError) as enabled:
        cf.delete_distribution(Id=distribution["Id"], IfMatch=reply["ETag"])
    assert error_of(enabled) == ("DistributionNotDisabled", 409)

    # Disable, wait, delete: then everything it used can be deleted.
    disabled = cf.update_distribution(
        Id=distribution["Id"], IfMatch=reply["ETag"],
        DistributionConfig={**reply["DistributionConfig"], "Enabled": False})
    cf.get_waiter("distribution_deployed").wait(Id=distribution["Id"], WaiterConfig=FAST)
    cf.delete_distribution(Id=distribution["Id"], IfMatch=disabled["ETag"])
    cf.delete_cache_policy(Id=policy_id, IfMatch=updated["ETag"])
    cf.delete_origin_request_policy(Id=request_id, IfMatch=request_etag)
    cf.delete_origin_access_control(Id=control, IfMatch="x")
    with pytest.raises(ClientError) as gone:
        cf.get_cache_policy(Id=policy_id)
    assert error_of(gone) == ("NoSuchCachePolicy", 404)
    with pytest.raises(ClientError) as unknown:
        cf.delete_origin_access_control(Id=control, IfMatch="x")
    assert error_of(unknown) == ("NoSuchOriginAccessControl", 404)
    assert cf.list_origin_request_policies()["OriginRequestPolicyList"]["Quantity"] == 0


def test_cloudfront_field_level_encryption_in_use_order_and_etags(client: Client) -> None:
    """Key -> profile -> config -> behaviour: each refuses to go while the next
    uses it; names and ETags are checked as AWS does; the behaviour keeps its id."""
    cf = client("cloudfront")
    public = public_key_pem(generate_private_key_pem())
    key = cf.create_public_key(PublicKeyConfig={"CallerReference": "k", "Name": "fle-key",
                                                "EncodedKey": public, "Comment": "ours"})
    key_id = key["PublicKey"]["Id"]
    assert cf.get_public_key(Id=key_id)["PublicKey"]["PublicKeyConfig"]["Comment"] == "ours"
    with pytest.raises(ClientError) as taken:
        cf.create_public_key(PublicKeyConfig={"CallerReference": "k2", "Name": "fle-key",
                                              "EncodedKey": public})
    assert error_of(taken) == ("PublicKeyAlreadyExists", 409)
    entities = {"Quantity": 1, "Items": [{"PublicKeyId": key_id, "ProviderId": "app",
                                          "FieldPatterns": {"Quantity": 1,
                                                            "Items": ["password"]}}]}
    profile = cf.create_field_level_encryption_profile(FieldLevelEncryptionProfileConfig={
        "Name": "fle", "CallerReference": "p", "EncryptionEntities": entities})
    profile_id = profile["FieldLevelEncryptionProfile"]["Id"]
    content = {"ForwardWhenContentTypeIsUnknown": True, "ContentTypeProfiles": {
        "Quantity": 1, "Items": [{"Format": "URLEncoded", "ProfileId": profile_id,
                                  "ContentType": "application/x-www-form-urlencoded"}]}}
    fle = cf.create_field_level_encryption_config(FieldLevelEncryptionConfig={
        "CallerReference": "c", "Comment": "ours", "ContentTypeProfileConfig": content})
    fle_id = fle["FieldLevelEncryption"]["Id"]
    assert cf.get_field_level_encryption_config(Id=fle_id)["FieldLevelEncryptionConfig"][
        "ContentTypeProfileConfig"]["ContentTypeProfiles"]["Items"][0]["ProfileId"] == profile_id
    [listed] = cf.list_field_level_encryption_configs()["FieldLevelEncryptionList"]["Items"]
    assert (listed["Id"], listed["Comment"]) == (fle_id, "ours")

    behaviour = {"TargetOriginId": "app", "ViewerProtocolPolicy": "https-only",
                 "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
                 "FieldLevelEncryptionId": fle_id}
    distribution = cf.create_distribution(DistributionConfig={
        "CallerReference": "d", "Comment": "x", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "app", "DomainName": "app.example.com",
                                              "CustomOriginConfig": {
                                                  "HTTPPort": 80, "HTTPSPort": 443,
                                                  "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": behaviour})["Distribution"]
    assert distribution["DistributionConfig"]["DefaultCacheBehavior"][
        "FieldLevelEncryptionId"] == fle_id

    def refused(call: Callable[[], Any]) -> tuple[str, int]:
        with pytest.raises(ClientError) as caught:
            call()
        return error_of(caught)

    assert refused(lambda: cf.delete_public_key(
        Id=key_id, IfMatch=cf.get_public_key(Id=key_id)["ETag"])) == ("PublicKeyInUse", 409)
    assert refused(lambda: cf.delete_field_level_encryption_profile(
        Id=profile_id, IfMatch=profile["ETag"])) == ("FieldLevelEncryptionProfileInUse", 409)
    assert refused(lambda: cf.delete_field_level_encryption_config(
        Id=fle_id, IfMatch=fle["ETag"])) == ("FieldLevelEncryptionConfigInUse", 409)
    assert refused(lambda: cf.delete_field_level_encryption_config(
        Id=fle_id, IfMatch="stale")) == ("PreconditionFailed", 412)
    assert refused(lambda: cf.get_field_level_encryption_profile(Id="nope")) == \
        ("NoSuchFieldLevelEncryptionProfile", 404)
    assert refused(lambda: cf.get_public_key(Id="nope")) == ("NoSuchPublicKey", 404)

    reply = cf.get_distribution_config(Id=distribution["Id"])
    cf.update_distribution(Id=distribution["Id"], IfMatch=reply["ETag"], DistributionConfig={
        **reply["DistributionConfig"],
        "DefaultCacheBehavior": {**behaviour, "FieldLevelEncryptionId": ""}})
    cf.delete_field_level_encryption_config(Id=fle_id, IfMatch=fle["ETag"])
    cf.delete_field_level_encryption_profile(Id=profile_id, IfMatch=profile["ETag"])
    cf.delete_public_key(Id=key_id, IfMatch=cf.get_public_key(Id=key_id)["ETag"])
    assert cf.list_field_level_encryption_profiles()["FieldLevelEncryptionProfileList"][
        "Quantity"] == 0
    assert not cf.list_public_keys()["PublicKeyList"].get("Items")


# --------------------------------------------------------------------------- Secrets Manager

def test_a_secret_replica_keeps_its_key_and_goes_before_the_primary(client: Client) -> None:
    """The replica reports the key it was replicated with, in the primary's
    ReplicationStatus and in its own region; the primary is deleted only
    after its replicas are removed."""
    sm, west = client("secretsmanager"), client("secretsmanager", "us-west-2")
    key = client("kms", "us-west-2").create_key()["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name="replicated", SecretString="v", AddReplicaRegions=[
        {"Region": "us-west-2", "KmsKeyId": key}])["ARN"]
    [status] = sm.describe_secret(SecretId=arn)["ReplicationStatus"]
    assert (status["Region"], status["KmsKeyId"], status["Status"]) == (
        "us-west-2", key, "InSync")
    replica = west.describe_secret(SecretId="replicated")
    assert (replica["KmsKeyId"], replica["PrimaryRegion"]) == (key, "us-east-1")
    with pytest.raises(ClientError) as refused:
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    assert error_of(refused)[0] == "InvalidParameterException"
    sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=["us-west-2"])
    assert "ReplicationStatus" not in sm.describe_secret(SecretId=arn)
    assert west.list_secrets()["SecretList"] == []
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    # A secret replicated without a key keeps AWS's default one.
    other = sm.create_secret(Name="default-key", SecretString="v")["ARN"]
    [status] = sm.replicate_secret_to_regions(SecretId=other, AddReplicaRegions=[
        {"Region": "us-west-2"}])["ReplicationStatus"]
    assert status["KmsKeyId"] == "alias/aws/secretsmanager"


# --------------------------------------------------------------------------- Route 53

def test_test_dns_answer_follows_the_failover_rule_and_the_checks_flags(
        client: Client) -> None:
    route53 = client("route53")
    zone = route53.create_hosted_zone(Name="dns.example.com", CallerReference="z")[
        "HostedZone"]["Id"].rsplit("/", 1)[-1]
    check = route53.create_health_check(CallerReference="c", HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": "primary.example.net", "Port": 443,
        "ResourcePath": "/api/health"})["HealthCheck"]
    pair = [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "app.dns.example.com", "Type": "CNAME", "SetIdentifier": role.lower(),
        "Failover": role, "TTL": 60, "ResourceRecords": [{"Value": target}],
        **({"HealthCheckId": check["Id"]} if role == "PRIMARY" else {})}}
        for role, target in (("PRIMARY", "primary.example.net"),
                             ("SECONDARY", "standby.example.net"))]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": pair})

    def answer() -> tuple[str, list[str]]:
        reply = route53.test_dns_answer(HostedZoneId=zone, RecordName="app.dns.example.com",
                                        RecordType="CNAME")
        return reply["ResponseCode"], reply["RecordData"]

    assert answer() == ("NOERROR", ["primary.example.net"])
    route53.update_health_check(HealthCheckId=check["Id"], Inverted=True)
    assert answer() == ("NOERROR", ["standby.example.net"]), "an inverted check fails"
    route53.update_health_check(HealthCheckId=check["Id"], Disabled=True)
    assert answer() == ("NOERROR", ["primary.example.net"]), "a disabled check is healthy"
    missing = route53.test_dns_answer(HostedZoneId=zone, RecordName="nope.dns.example.com",
                                      RecordType="CNAME")
    assert (missing["ResponseCode"], missing["RecordData"]) == ("NXDOMAIN", [])


# --------------------------------------------------------------------------- S3

def test_list_buckets_gives_each_region_and_pages_on(client: Client) -> None:
    east, west = client("s3"), client("s3", "us-west-2")
    for name in ("lb-c", "lb-a", "other-x"):
        east.create_bucket(Bucket=name)
    west.create_bucket(Bucket="lb-b",
                       CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    # Without parameters AWS answers without BucketRegion (and so does the sandbox).
    assert [b.get("BucketRegion") for b in east.list_buckets()["Buckets"]] == [None] * 4
    first = east.list_buckets(Prefix="lb-", MaxBuckets=2)
    assert [(b["Name"], b["BucketRegion"]) for b in first["Buckets"]] == [
        ("lb-a", "us-east-1"), ("lb-b", "us-west-2")]
    assert first["Prefix"] == "lb-"
    rest = east.list_buckets(Prefix="lb-", MaxBuckets=2,
                             ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["lb-c"] and "ContinuationToken" not in rest
    pages = east.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 1})
    assert [b["Name"] for page in pages for b in page["Buckets"]] == [
        "lb-a", "lb-b", "lb-c", "other-x"]


# --------------------------------------------------------------------------- KMS

def test_a_replica_key_has_the_policy_replicate_key_gave_it_else_the_default(
        client: Client) -> None:
    primary = client("kms")
    own = ('{"Version": "2012-10-17", "Statement": [{"Sid": "Replica", "Effect": "Allow", '
           '"Principal": {"AWS": "*"}, "Action": "kms:Describe*", "Resource": "*"}]}')
    keys = [primary.create_key(MultiRegion=True, Policy='{"Version": "2012-10-17", '
                               '"Statement": []}')["KeyMetadata"]["KeyId"] for _ in range(2)]
    reply = primary.replicate_key(KeyId=keys[0], ReplicaRegion="us-west-2", Policy=own)
    assert reply["ReplicaPolicy"] == own
    primary.replicate_key(KeyId=keys[1], ReplicaRegion="us-west-2")
    replica = client("kms", "us-west-2")
    policies = [replica.get_key_policy(KeyId=k, PolicyName="default")["Policy"] for k in keys]
    assert policies[0] == own
    assert "Enable IAM User Permissions" in policies[1], "KMS's default, not the primary's"
    assert primary.get_key_policy(KeyId=keys[0], PolicyName="default")["Policy"] != own


# --------------------------------------------------------------------------- issue 12

def test_detailed_monitoring_is_switched_on_a_running_instance(client: Client) -> None:
    ec2 = client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   Monitoring={"Enabled": False})["Instances"]
    ids = [instance["InstanceId"]]

    def state() -> str:
        reply = ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"][0]
        return str(reply["Monitoring"]["State"])

    assert state() == "disabled"
    answer = ec2.monitor_instances(InstanceIds=ids)["InstanceMonitorings"]
    assert answer == [{"InstanceId": ids[0], "Monitoring": {"State": "pending"}}]
    assert state() == "enabled"
    ec2.unmonitor_instances(InstanceIds=ids)
    assert state() == "disabled"


def test_an_event_subscription_is_changed_in_place(client: Client) -> None:
    rds, sns = client("rds"), client("sns")
    topic = sns.create_topic(Name="events")["TopicArn"]
    other = sns.create_topic(Name="other")["TopicArn"]
    rds.create_event_subscription(SubscriptionName="db-events", SnsTopicArn=topic,
                                  SourceType="db-instance", EventCategories=["failure"],
                                  SourceIds=["db-a"], Enabled=True)
    changed = rds.modify_event_subscription(
        SubscriptionName="db-events", SnsTopicArn=other, SourceType="db-instance",
        EventCategories=["failure", "maintenance"], Enabled=False)["EventSubscription"]
    assert (changed["SnsTopicArn"], changed["EventCategoriesList"], changed["Enabled"]) == (
        other, ["failure", "maintenance"], False)
    rds.add_source_identifier_to_subscription(SubscriptionName="db-events",
                                              SourceIdentifier="db-b")
    rds.remove_source_identifier_from_subscription(SubscriptionName="db-events",
                                                   SourceIdentifier="db-a")
    [read] = rds.describe_event_subscriptions(
        SubscriptionName="db-events")["EventSubscriptionsList"]
    assert read["SourceIdsList"] == ["db-b"]
    with pytest.raises(ClientError) as missing:
        rds.modify_event_subscription(SubscriptionName="nope", Enabled=True)
    assert error_of(missing)[0] == "SubscriptionNotFound"


# --------------------------------------------------------------------------- ELBv2 TLS policies

def test_the_fips_post_quantum_policies_are_served_tls_12_and_13_aes_gcm_only(
        client: Client) -> None:
    """Issue 12: the ALBs use ``ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09``, which
    moto did not know (the plan-time catalog would refuse it)."""
    [policy] = client("elbv2").describe_ssl_policies(
        Names=["ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09"])["SslPolicies"]
    assert sorted(policy["SslProtocols"]) == ["TLSv1.2", "TLSv1.3"]
    ciphers = [c["Name"] for c in policy["Ciphers"]]
    assert ciphers and all("GCM" in c for c in ciphers), ciphers
    assert "TLS_CHACHA20_POLY1305_SHA256" not in ciphers  # not FIPS-approved
    with pytest.raises(ClientError) as refused:
        client("elbv2").describe_ssl_policies(Names=["ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2099"])
    assert error_of(refused) == ("SSLPolicyNotFound", 400)


# --------------------------------------------------------------------------- Lambda, rotation

_HANDLER = b"""
import os
def handler(event, context):
    return {"event": event, "region": os.environ["AWS_REGION"], "flag": os.environ["FLAG"],
            "key": os.environ["AWS_ACCESS_KEY_ID"], "endpoint": os.environ["AWS_ENDPOINT_URL"]}
"""


def _function(client: Client, name: str, code: bytes) -> str:
    import io
    import json
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn.py", code)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = client("iam").create_role(RoleName=f"{name}-role",
                                     AssumeRolePolicyDocument=json.dumps(trust))
    return str(client("lambda").create_function(
        FunctionName=name, Runtime="python3.13", Role=role["Role"]["Arn"], Handler="fn.handler",
        Code={"ZipFile": buffer.getvalue()}, Environment={"Variables": {"FLAG": "on"}},
        Timeout=30)["FunctionArn"])


def test_a_python_function_runs_from_its_zip_against_the_sandbox(
        client: Client, server: SandboxServer) -> None:
    """The handler ran with the function's environment, the account's sandbox key
    and the sandbox as its endpoint (a synchronous Invoke must not call the same
    account back: the sandbox serves an account's requests one at a time)."""
    import json

    _function(client, "echo", _HANDLER)
    reply = client("lambda").invoke(FunctionName="echo", Payload=json.dumps({"a": 1}))
    result = json.loads(reply["Payload"].read())
    assert "FunctionError" not in reply
    account = client("sts").get_caller_identity()["Account"]
    assert result == {"event": {"a": 1}, "region": "us-east-1", "flag": "on",
                      "key": f"sandbox{account}", "endpoint": server.url}


def test_rotate_secret_answers_then_runs_the_steps_and_refuses_only_a_rotation_in_progress(
        client: Client) -> None:
    """A function that leaves its pending version unfinished: the next RotateSecret is
    refused (AWS: "a previous rotation isn't complete"); a repeat of the same token is not."""
    arn = _function(client, "stuck", b"def handler(event, context):\n    raise RuntimeError('x')\n")
    sm = client("secretsmanager")
    sm.create_secret(Name="rotating", SecretString="v1")
    started = sm.rotate_secret(SecretId="rotating", RotationLambdaARN=arn,
                               RotationRules={"AutomaticallyAfterDays": 30},
                               ClientRequestToken="t" * 32)
    assert started["VersionId"] == "t" * 32
    again = sm.rotate_secret(SecretId="rotating", ClientRequestToken="t" * 32)
    assert again["VersionId"] == "t" * 32
    with pytest.raises(ClientError) as caught:
        sm.rotate_secret(SecretId="rotating")
    assert error_of(caught)[0] == "InvalidRequestException"
    assert sm.get_secret_value(SecretId="rotating")["SecretString"] == "v1"


def test_alb_access_logs_need_a_bucket_of_its_region_that_admits_elb(client: Client) -> None:
    """AWS tests the bucket when access logs are switched on; moto stored any name."""
    region = "us-west-2"
    ec2, elbv2 = client("ec2", region), client("elbv2", region)
    subnets = [s["SubnetId"] for s in default_subnets(client, region)[:2]]
    arn = elbv2.create_load_balancer(Name="logs-alb", Subnets=subnets)[
        "LoadBalancers"][0]["LoadBalancerArn"]
    account = ec2.describe_security_groups()["SecurityGroups"][0]["OwnerId"]
    client("s3").create_bucket(Bucket="east-logs")
    client("s3", region).create_bucket(
        Bucket="west-logs", CreateBucketConfiguration={"LocationConstraint": region})

    def switch_on(bucket: str) -> tuple[str, str]:
        with pytest.raises(ClientError) as caught:
            elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
                {"Key": "access_logs.s3.enabled", "Value": "true"},
                {"Key": "access_logs.s3.bucket", "Value": bucket},
                {"Key": "access_logs.s3.prefix", "Value": "alb"}])
        return error_of(caught)[0], caught.value.response["Error"]["Message"]

    assert switch_on("nowhere")[0] == "InvalidConfigurationRequest"
    assert "not in the load balancer's region us-west-2" in switch_on("east-logs")[1]
    assert switch_on("west-logs") == (
        "InvalidConfigurationRequest",
        "Access Denied for bucket: west-logs. Please check S3bucket permission")
    client("s3", region).put_bucket_policy(Bucket="west-logs", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:PutObject",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Resource": f"arn:aws:s3:::west-logs/alb/AWSLogs/{account}/*"}]}))
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "access_logs.s3.enabled", "Value": "true"},
        {"Key": "access_logs.s3.bucket", "Value": "west-logs"},
        {"Key": "access_logs.s3.prefix", "Value": "alb"}])
    attributes = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
        LoadBalancerArn=arn)["Attributes"]}
    assert (attributes["access_logs.s3.enabled"], attributes["access_logs.s3.bucket"]) == \
        ("true", "west-logs")
    assert client("s3", region).list_objects_v2(Bucket="west-logs")["KeyCount"] == 0
