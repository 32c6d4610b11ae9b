"""Issue 12's network and logging hardening through the real CLI, read back from the sandbox.

One apply of a few targets, shared by the assertions (the suite's time is
budgeted): both VPCs' default security groups emptied and kept empty.
"""

from __future__ import annotations

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


def test_default_groups_of_both_vpcs_are_emptied_and_kept_empty(aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--target", "default-sg", "--target", "dr.default-sg")
    assert code == 0, report
    # AWS made the groups with the VPCs: apply finds them and revokes their rules.
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert (actions["default-sg"], actions["dr.default-sg"]) == ("updated", "updated")
    group_id, rules = _default_group_rules(aws, "us-east-1", "vivr-vpc")
    assert rules == []
    assert _default_group_rules(aws, "us-west-2", "vivr-dr-vpc")[1] == []

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
    code, report = aws.cli_json("apply", "--target", "default-sg", "--target", "dr.default-sg")
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}, report
    assert aws.mutating_calls(since=mark) == []
