"""VPC flow logs: the request AWS receives, drift as replacement, deletion, config rules.

Stubber clients: the emulator accepts a flow log whose role cannot write
to the group, so what is sent is asserted here; the e2e test reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.ec2 import tag_list
from vivr_provision.steps.flow_logs import FlowLogStep
from vivr_provision.steps.iam import IamRoleStep
from vivr_provision.steps.logs import LogGroupStep

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/vivr-vpc-flow-logs-role"
GROUP = "/vivr/production/vpc-flow"
OUTPUTS = {"vpc": {"vpc_id": "vpc-0abc"}, "logs.vpc_flow": {"name": GROUP},
           "iam.vpc_flow_logs_role": {"role_arn": ROLE_ARN}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> FlowLogStep:
    assert config.network.flow_logs is not None
    return FlowLogStep(config, config.network.flow_logs)


def _described(**changes: Any) -> dict[str, Any]:
    return {"FlowLogId": "fl-0123", "ResourceId": "vpc-0abc", "TrafficType": "ALL",
            "LogGroupName": GROUP, "DeliverLogsPermissionArn": ROLE_ARN,
            "LogDestinationType": "cloud-watch-logs", "MaxAggregationInterval": 600,
            "Tags": [], **changes}


def test_create_sends_the_vpc_group_role_and_token(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        aws.expect("ec2", "create_flow_logs", {"FlowLogIds": ["fl-0123"], "Unsuccessful": []}, {
            "ResourceIds": ["vpc-0abc"], "ResourceType": "VPC", "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs", "LogGroupName": GROUP,
            "DeliverLogsPermissionArn": ROLE_ARN, "MaxAggregationInterval": 600,
            "TagSpecifications": [{"ResourceType": "vpc-flow-log",
                                   "Tags": tag_list(step.tags())}],
            "ClientToken": "token-1"})
        aws.expect("ec2", "describe_flow_logs", {"FlowLogs": [_described()]},
                   {"FlowLogIds": ["fl-0123"]})
        created = step.create(aws.context(config, OUTPUTS), "token-1")
    assert created.id == "fl-0123"
    assert step.outputs(created) == {"id": "fl-0123", "flow_log_id": "fl-0123",
                                     "log_group": GROUP}


def test_a_refused_flow_log_is_a_one_line_error(config: PlatformConfig) -> None:
    with StubbedAws() as aws:
        aws.expect("ec2", "create_flow_logs", {"FlowLogIds": [], "Unsuccessful": [{
            "ResourceId": "vpc-0abc", "Error": {"Code": "400", "Message": "Access error"}}]})
        with pytest.raises(RuntimeError, match=r"^flow-log: CreateFlowLogs refused vpc-0abc: "
                                               r"400: Access error$"):
            _step(config).create(aws.context(config, OUTPUTS), "token-1")


@pytest.mark.parametrize(("described", "expected"), [
    ({}, []),
    ({"MaxAggregationInterval": None}, []),                       # AWS's default, omitted
    ({"TrafficType": "REJECT"}, [("traffic_type", "REJECT", "ALL")]),
    ({"LogGroupName": "/elsewhere"}, [("log_group", "/elsewhere", GROUP)]),
    ({"ResourceId": "vpc-other"}, [("vpc", "vpc-other", "vpc-0abc")]),
    ({"MaxAggregationInterval": 60}, [("max_aggregation_interval", 60, 600)]),
])
def test_every_setting_is_fixed_so_drift_is_a_replacement(
        config: PlatformConfig, described: dict[str, Any],
        expected: list[tuple[str, Any, Any]]) -> None:
    step = _step(config)
    data = {k: v for k, v in _described(Tags=tag_list(step.tags()), **described).items()
            if v is not None}
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS), Resource("fl-0123", data))
    assert [(c.field, c.current, c.desired) for c in changes] == expected
    assert all(c.replace for c in changes)


def test_delete_accepts_a_flow_log_already_gone_and_reports_any_other_refusal(
        config: PlatformConfig) -> None:
    step = _step(config)
    gone = {"Unsuccessful": [{"ResourceId": "fl-0123", "Error": {
        "Code": "InvalidFlowLogId.NotFound", "Message": "no such flow log"}}]}
    refused = {"Unsuccessful": [{"ResourceId": "fl-0123", "Error": {
        "Code": "UnauthorizedOperation", "Message": "denied"}}]}
    with StubbedAws() as aws:
        aws.expect("ec2", "delete_flow_logs", gone, {"FlowLogIds": ["fl-0123"]})
        aws.expect("ec2", "delete_flow_logs", refused, {"FlowLogIds": ["fl-0123"]})
        ctx = aws.context(config, OUTPUTS)
        step.delete(ctx, Resource("fl-0123", {}))
        with pytest.raises(RuntimeError, match="UnauthorizedOperation: denied"):
            step.delete(ctx, Resource("fl-0123", {}))


def _load(edit: Any, folder: Path) -> PlatformConfig:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    edit(data)
    path = folder / "production.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path, "production")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["network"]["flow_logs"].update(log_group="nope"),
     "network.flow_logs.log_group 'nope' is not a key of logs.groups"),
    (lambda d: d["iam"]["vpc_flow_logs_role"].update(grants=[]),
     "network.flow_logs.role vpc_flow_logs_role: needs CloudWatchLogsDeliver on vpc_flow"),
    (lambda d: d["iam"]["vpc_flow_logs_role"].update(trust_service="ecs-tasks.amazonaws.com"),
     "trust_service must be vpc-flow-logs.amazonaws.com"),
    (lambda d: d["dr"]["network"]["flow_logs"].pop("dr_group_name"),
     "dr.network.flow_logs.dr_group_name: the DR VPC's flow log needs a group in its own"),
    (lambda d: d["network"]["flow_logs"].update(dr_group_name="/x"),
     "network.flow_logs.dr_group_name: only dr.network.flow_logs has a group of its own"),
    (lambda d: d["dr"]["network"]["flow_logs"].update(role="task_role"),
     "dr.network.flow_logs.role task_role: trust_service must be"),
])
def test_config_refuses_a_flow_log_that_could_not_publish(edit: Any, message: str,
                                                         tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(edit, tmp_path)


def test_without_flow_logs_there_is_no_step_and_no_role(tmp_path: Path) -> None:
    from vivr_provision.steps import build_steps

    def drop(data: dict[str, Any]) -> None:
        del data["network"]["flow_logs"]

    names = {s.name for s in build_steps(_load(drop, tmp_path))}
    assert "flow-log" not in names and "iam.vpc_flow_logs_role" not in names


DR_GROUP = "/vivr/production/dr/vpc-flow"
DR_OUTPUTS = {"dr.vpc": {"vpc_id": "vpc-0dr"}, "dr.logs.vpc_flow": {"name": DR_GROUP},
              "iam.vpc_flow_logs_role": {"role_arn": ROLE_ARN}}


def test_the_dr_vpc_publishes_into_its_own_group_in_us_west_2(config: PlatformConfig) -> None:
    steps = {s.name: s for s in build_steps(config)}
    group, flow = steps["dr.logs.vpc_flow"], steps["dr.flow-log"]
    assert isinstance(flow, FlowLogStep) and isinstance(group, LogGroupStep)
    assert (group.region, group.group.name, group.group.retention_days) == \
        ("us-west-2", DR_GROUP, 30)
    assert group.depends_on() == ("dr.kms",), "encrypted with the DR key"
    assert flow.region == "us-west-2"
    assert flow.depends_on() == ("dr.vpc", "dr.logs.vpc_flow", "iam.vpc_flow_logs_role")
    with StubbedAws("us-west-2") as aws:
        aws.expect("ec2", "create_flow_logs", {"FlowLogIds": ["fl-0dr"], "Unsuccessful": []}, {
            "ResourceIds": ["vpc-0dr"], "ResourceType": "VPC", "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs", "LogGroupName": DR_GROUP,
            "DeliverLogsPermissionArn": ROLE_ARN, "MaxAggregationInterval": 600,
            "TagSpecifications": [{"ResourceType": "vpc-flow-log",
                                   "Tags": tag_list(flow.tags())}],
            "ClientToken": "token-dr"}, region="us-west-2")
        aws.expect("ec2", "describe_flow_logs", {"FlowLogs": [_described(
            FlowLogId="fl-0dr", ResourceId="vpc-0dr", LogGroupName=DR_GROUP)]},
            {"FlowLogIds": ["fl-0dr"]}, region="us-west-2")
        created = flow.create(aws.context(config, DR_OUTPUTS), "token-dr")
    assert flow.resource_name() == "vivr-dr-vpc-flow-log"
    assert flow.outputs(created)["log_group"] == DR_GROUP


def test_the_one_role_may_write_into_both_groups(config: PlatformConfig) -> None:
    [role] = [s for s in build_steps(config) if s.name == "iam.vpc_flow_logs_role"]
    assert isinstance(role, IamRoleStep)
    with StubbedAws() as aws:
        document = role.inline_policy(aws.context(config, {}))
    assert document is not None
    streams = {s["Sid"]: s for s in document["Statement"]}["CloudWatchLogsDeliverStreams"]
    assert streams["Resource"] == [
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{GROUP}:*",
        f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:{DR_GROUP}:*"]
