"""A listing of what exists in one sandbox account, to compare before/after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REGIONS = ("us-east-1", "us-west-2")


def ec2_inventory(ec2: Any) -> dict[str, list[str]]:
    """Ids of every live EC2 network object (what a destroy must give back)."""
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    nacls = [n["NetworkAclId"] for n in ec2.describe_network_acls()["NetworkAcls"]
             # moto keeps a deleted VPC's default NACL (AWS deletes it with the VPC).
             if n["VpcId"] in vpcs]
    instances = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                 for i in r["Instances"] if i["State"]["Name"] not in ("terminated",
                                                                        "shutting-down")]
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
        "flow_logs": sorted(f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]),
        "network_acls": sorted(nacls),
        "instances": sorted(instances),
    }


def _region_inventory(client: Callable[[str], Any]) -> dict[str, list[str]]:
    """Everything this tool can create in one region, by kind."""
    rds, cache, kms, sm = (client("rds"), client("elasticache"), client("kms"),
                           client("secretsmanager"))
    listing = ec2_inventory(client("ec2"))
    listing["db_instances"] = sorted(
        d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"])
    listing["db_subnet_groups"] = sorted(
        g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"])
    listing["db_parameter_groups"] = sorted(
        g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
        if not g["DBParameterGroupName"].startswith("default."))
    listing["db_snapshots"] = sorted(
        s["DBSnapshotIdentifier"] for s in
        rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])
    listing["db_event_subscriptions"] = sorted(
        e["CustSubscriptionId"] for e in
        rds.describe_event_subscriptions()["EventSubscriptionsList"])
    listing["replication_groups"] = sorted(
        g["ReplicationGroupId"] for g in cache.describe_replication_groups()["ReplicationGroups"])
    listing["cache_subnet_groups"] = sorted(
        g["CacheSubnetGroupName"] for g in
        cache.describe_cache_subnet_groups()["CacheSubnetGroups"])
    listing["kms_keys"] = sorted(
        k["KeyId"] for k in kms.list_keys()["Keys"]
        if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled")
    listing["kms_aliases"] = sorted(
        a["AliasName"] for a in kms.list_aliases()["Aliases"]
        if not a["AliasName"].startswith("alias/aws/"))
    listing["secrets"] = sorted(s["Name"] for s in sm.list_secrets()["SecretList"])
    listing["lambda_functions"] = sorted(
        f["FunctionName"] for f in client("lambda").list_functions()["Functions"])
    elbv2, ecs, acm, logs = (client("elbv2"), client("ecs"), client("acm"), client("logs"))
    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    listing["load_balancers"] = sorted(b["LoadBalancerName"] for b in balancers)
    listing["listeners"] = sorted(
        f"{b['LoadBalancerName']}:{listener['Port']}" for b in balancers
        for listener in elbv2.describe_listeners(
            LoadBalancerArn=b["LoadBalancerArn"])["Listeners"])
    listing["target_groups"] = sorted(
        g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"])
    clusters = ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
    # moto keeps a deleted cluster listed as INACTIVE (AWS drops it after a while).
    active = [c["clusterName"] for c in clusters if c["status"] != "INACTIVE"]
    listing["ecs_clusters"] = sorted(active)
    listing["ecs_services"] = sorted(
        s.rsplit("/", 1)[-1] for name in active
        for s in ecs.list_services(cluster=name)["serviceArns"])
    listing["task_definitions"] = sorted(
        a.rsplit("/", 1)[-1] for a in ecs.list_task_definitions(status="ACTIVE")[
            "taskDefinitionArns"])
    listing["certificates"] = sorted(
        c["DomainName"] for c in acm.list_certificates()["CertificateSummaryList"])
    listing["log_groups"] = sorted(
        g["logGroupName"] for g in logs.describe_log_groups()["logGroups"])
    scaling = client("application-autoscaling")
    listing["scalable_targets"] = sorted(
        t["ResourceId"] for t in scaling.describe_scalable_targets(
            ServiceNamespace="ecs")["ScalableTargets"])
    listing["scaling_policies"] = sorted(
        p["PolicyName"] for p in scaling.describe_scaling_policies(
            ServiceNamespace="ecs")["ScalingPolicies"])
    listing["alarms"] = sorted(
        a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"])
    listing["auto_scaling_groups"] = sorted(
        g["AutoScalingGroupName"] for g in client("autoscaling").describe_auto_scaling_groups()[
            "AutoScalingGroups"])
    listing["launch_templates"] = sorted(
        t["LaunchTemplateName"] for t in client("ec2").describe_launch_templates()[
            "LaunchTemplates"])
    return listing


def account_inventory(client: Callable[[str, str], Any]) -> dict[str, Any]:
    """Per region plus global (IAM): what a full destroy must give back.

    KMS keys pending deletion, secrets in their recovery window and final
    snapshots are listed separately by the tests that expect them.
    """
    listing: dict[str, Any] = {
        region: _region_inventory(lambda service, r=region: client(service, r))
        for region in REGIONS}
    iam = client("iam", "us-east-1")
    listing["iam_roles"] = sorted(r["RoleName"] for r in iam.list_roles()["Roles"])
    s3 = client("s3", "us-east-1")
    listing["buckets"] = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    route53 = client("route53", "us-east-1")
    listing["hosted_zones"] = sorted(
        z["Name"] for z in route53.list_hosted_zones()["HostedZones"])
    listing["health_checks"] = sorted(
        h["Id"] for h in route53.list_health_checks()["HealthChecks"])
    listing["instance_profiles"] = sorted(
        p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"])
    return listing


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}
