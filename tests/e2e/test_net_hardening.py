"""Issue 12's network and logging hardening through the real CLI, read back from the sandbox.

One apply of a few targets, shared by the assertions (the suite's time is
budgeted): both VPCs' default security groups emptied and kept empty; the
DR VPC's flow log in us-west-2 (the primary's is tests/e2e/test_flow_logs.py);
the web ACL's logging into its ``aws-waf-logs-`` group in us-east-1; the
public zone's DNS query logging.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e


def _default_group_rules(aws: Aws, region: str, vpc_name: str) -> tuple[str, list[Any]]:
    ec2 = aws.client("ec2", region)
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [vpc_name]}])["Vpcs"]
    [group] = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
    return group["GroupId"], list(rules)


TARGETS = ("--target", "default-sg", "--target", "dr.default-sg", "--target", "dr.flow-log",
           "--target", "waf-logging", "--target", "dns-query-logging")
WAF_GROUP = "aws-waf-logs-vivr-production"
DR = "us-west-2"


def test_default_groups_emptied_and_dr_flow_waf_and_dns_query_logs_on(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0, report
    # AWS made the groups with the VPCs: apply takes them over, revoking their rules.
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert (actions["default-sg"], actions["dr.default-sg"]) == ("created", "created")
    group_id, rules = _default_group_rules(aws, "us-east-1", "vivr-vpc")
    assert rules == []
    assert _default_group_rules(aws, DR, "vivr-dr-vpc")[1] == []

    # The DR VPC's flow log: its own group in us-west-2 (DR key), the one global role.
    [flow] = aws.client("ec2", DR).describe_flow_logs()["FlowLogs"]
    [vpc] = aws.client("ec2", DR).describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["vivr-dr-vpc"]}])["Vpcs"]
    role = aws.client("iam").get_role(RoleName="vivr-vpc-flow-logs-role")["Role"]
    assert (flow["ResourceId"], flow["TrafficType"], flow["LogGroupName"],
            flow["DeliverLogsPermissionArn"]) == \
        (vpc["VpcId"], "ALL", "/vivr/production/dr/vpc-flow", role["Arn"])
    [group] = aws.client("logs", DR).describe_log_groups(
        logGroupNamePrefix="/vivr/production/dr/vpc-flow")["logGroups"]
    dr_key = aws.client("kms", DR).describe_key(KeyId="alias/vivr-production")["KeyMetadata"]
    assert (group["retentionInDays"], group["kmsKeyId"]) == (30, dr_key["Arn"])
    policy = aws.client("iam").get_role_policy(RoleName="vivr-vpc-flow-logs-role",
                                               PolicyName="vivr-grants")["PolicyDocument"]
    streams = {s["Sid"]: s for s in policy["Statement"]}["CloudWatchLogsDeliverStreams"]
    assert f"arn:aws:logs:{DR}:{aws.account}:log-group:/vivr/production/dr/vpc-flow:*" in \
        streams["Resource"]

    # WAF logging: the ACL into its aws-waf-logs- group (us-east-1), and the
    # delivery policy admitting delivery.logs.amazonaws.com on that group.
    wafv2 = aws.client("wafv2")
    [acl] = [a for a in wafv2.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]
             if a["Name"] == "vivr-waf"]
    logging = wafv2.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    assert logging["LogDestinationConfigs"] == [
        f"arn:aws:logs:us-east-1:{aws.account}:log-group:{WAF_GROUP}"]
    [group] = aws.client("logs").describe_log_groups(logGroupNamePrefix=WAF_GROUP)["logGroups"]
    assert group["retentionInDays"] == 30 and group.get("kmsKeyId")
    [policy] = [p for p in aws.client("logs").describe_resource_policies()["resourcePolicies"]
                if p["policyName"] == "vivr-production-log-delivery"]
    statements = {s["Sid"]: s for s in json.loads(policy["policyDocument"])["Statement"]}
    statement = statements["AWSLogDeliveryWrite"]
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert f"arn:aws:logs:us-east-1:{aws.account}:log-group:{WAF_GROUP}:log-stream:*" in \
        statement["Resource"]

    # Route 53 query logging: the zone into its group, Route 53 admitted on it.
    [zone] = [z for z in aws.client("route53").list_hosted_zones()["HostedZones"]
              if z["Name"] == "vivr.example.com."]
    [query_logs] = aws.client("route53").list_query_logging_configs(
        HostedZoneId=zone["Id"].split("/")[-1])["QueryLoggingConfigs"]
    assert query_logs["CloudWatchLogsLogGroupArn"] == \
        f"arn:aws:logs:us-east-1:{aws.account}:log-group:/vivr/production/dns-queries"
    route53 = statements["Route53QueryLogsWrite"]
    assert (route53["Principal"], route53["Resource"]) == (
        {"Service": "route53.amazonaws.com"},
        [f"arn:aws:logs:us-east-1:{aws.account}:log-group:/vivr/production/dns-queries:*"])

    # A rule added by hand is drift: apply names it and revokes it.
    aws.client("ec2").authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    code, report = aws.cli_json("apply", "--target", "default-sg")
    assert code == 0, report
    step = {s["step"]: s for s in report["steps"]}["default-sg"]
    assert (step["action"], step["changes"]) == \
        ("updated", ["rules: ['ingress tcp/22-22 from 0.0.0.0/0'] -> [] (update)"])
    assert _default_group_rules(aws, "us-east-1", "vivr-vpc")[1] == []

    # Re-apply: nothing to do, and no mutating call.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *TARGETS)
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}, report
    assert aws.mutating_calls(since=mark) == []
