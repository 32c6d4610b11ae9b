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
from vivr_provision.steps.base import Resource
from vivr_provision.steps.ec2 import tag_list
from vivr_provision.steps.flow_logs import FlowLogStep

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
    (lambda d: d["dr"]["network"].update(flow_logs=d["network"]["flow_logs"]),
     "dr.network.flow_logs: flow logs are built for the primary network only"),
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
