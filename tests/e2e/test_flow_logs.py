"""VPC flow logs through the real CLI: built, read back, unchanged, replaced on drift, destroyed."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import Aws
from tests.e2e.inventory import tags_of

pytestmark = pytest.mark.e2e

GROUP = "/vivr/production/vpc-flow"
ROLE = "vivr-vpc-flow-logs-role"


def _flow_logs(aws: Aws) -> list[dict[str, Any]]:
    return list(aws.client("ec2").describe_flow_logs()["FlowLogs"])


def test_flow_log_lifecycle(aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--target", "flow-log")
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert actions["flow-log"] == "created"
    # The group has a writer now: no "nothing delivers into" note for it.
    notes = [n for s in report["steps"] for n in s.get("notes", [])]
    assert not any(GROUP in n and "nothing delivers" in n for n in notes), notes
    assert {"vpc", "logs.vpc_flow", "iam.vpc_flow_logs_role"} <= set(actions)

    [flow] = _flow_logs(aws)
    [vpc] = aws.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["vivr-vpc"]}])["Vpcs"]
    role = aws.client("iam").get_role(RoleName=ROLE)["Role"]
    assert (flow["ResourceId"], flow["TrafficType"], flow["LogGroupName"],
            flow["DeliverLogsPermissionArn"], flow["MaxAggregationInterval"]) == \
        (vpc["VpcId"], "ALL", GROUP, role["Arn"], 600)
    tags = tags_of(flow)
    assert (tags["ManagedBy"], tags["Name"], tags["vivr:step"]) == \
        ("vivr-provision", "vivr-vpc-flow-log", "flow-log")
    # The role trusts the flow-logs service and may write only into its group.
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    policy = aws.client("iam").get_role_policy(RoleName=ROLE, PolicyName="vivr-grants")
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["CloudWatchLogsDeliverStreams"]["Resource"] == [
        f"arn:aws:logs:us-east-1:{aws.account}:log-group:{GROUP}:*",
        f"arn:aws:logs:us-west-2:{aws.account}:log-group:/vivr/production/dr/vpc-flow:*"]
    [group] = aws.client("logs").describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert group["retentionInDays"] == 30 and group.get("kmsKeyId")

    # Re-apply: nothing to do, and no mutating call.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--target", "flow-log")
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}, report
    assert aws.mutating_calls(since=mark) == []

    # Another traffic type: plan says replace; apply replaces it on its own.
    data = yaml.safe_load(aws.config.read_text())
    data["network"]["flow_logs"]["traffic_type"] = "REJECT"
    edited = aws.workdir / "production-reject.yaml"
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    code, plan = aws.cli_json("plan", "--target", "flow-log", config=edited)
    assert code == 0, plan
    step = {s["step"]: s for s in plan["steps"]}["flow-log"]
    assert step["action"] == "replace"
    assert step["changes"] == ["traffic_type: 'ALL' -> 'REJECT' (replace)"]
    assert step["settings"] == [{"field": "traffic_type", "current": '"ALL"',
                                 "desired": '"REJECT"', "replace": True, "when": ""}]
    # A replacement needs approval: off a terminal, --yes.
    mark = len(aws.calls())
    refused = aws.cli("apply", "--target", "flow-log", config=edited)
    assert refused.returncode == 1 and "apply would replace 1 resource(s)" in refused.stderr
    assert aws.mutating_calls(since=mark) == []
    code, report = aws.cli_json("apply", "--yes", "--target", "flow-log", config=edited)
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["flow-log"] == "replaced"
    [replaced] = _flow_logs(aws)
    assert replaced["TrafficType"] == "REJECT" and replaced["FlowLogId"] != flow["FlowLogId"]

    # Destroy of the whole network takes the flow log before the VPC, its role and group.
    code, report = aws.cli_json("destroy", "--yes", "--target", "vpc", "--target", "logs.vpc_flow",
                                "--target", "iam.vpc_flow_logs_role", config=edited)
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["flow-log"] == "deleted"
    assert _flow_logs(aws) == []
    assert aws.client("logs").describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"] == []
