"""Route 53 query logging: the request, replacement on another group, the policy, config rules.

Stubber clients; the e2e test reads the configuration back from the sandbox.
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
from vivr_provision.steps.log_delivery import LogDeliveryPolicyStep
from vivr_provision.steps.query_logging import QueryLoggingStep

GROUP_NAME = "/vivr/production/dns-queries"
GROUP = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{GROUP_NAME}"
OUTPUTS = {"route53-zone": {"zone_id": "Z0123"}, "logs.dns_queries": {"arn": GROUP}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> QueryLoggingStep:
    [step] = [s for s in build_steps(config) if isinstance(s, QueryLoggingStep)]
    return step


def _item(group: str = GROUP) -> dict[str, Any]:
    return {"Id": "qlc-1", "HostedZoneId": "Z0123", "CloudWatchLogsLogGroupArn": group}


def test_create_names_the_zone_and_the_group_arn_without_its_suffix(
        config: PlatformConfig) -> None:
    step = _step(config)
    assert step.depends_on() == ("route53-zone", "logs.dns_queries", "logs-delivery-policy")
    with StubbedAws() as aws:
        aws.expect("route53", "create_query_logging_config",
                   {"QueryLoggingConfig": _item(), "Location": "https://x"},
                   {"HostedZoneId": "Z0123", "CloudWatchLogsLogGroupArn": GROUP})
        outputs = {**OUTPUTS, "logs.dns_queries": {"arn": f"{GROUP}:*"}}
        created = step.create(aws.context(config, outputs), "unused")
    assert step.outputs(created) == {"id": "qlc-1", "query_logging_config_id": "qlc-1",
                                     "log_group_arn": GROUP}


def test_another_group_is_a_replacement_and_delete_is_by_id(config: PlatformConfig) -> None:
    step = _step(config)
    other = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/elsewhere"
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("route53", "list_query_logging_configs",
                   {"QueryLoggingConfigs": [_item(other)]}, {"HostedZoneId": "Z0123"})
        found = step.find(ctx, "qlc-1")
        assert found is not None
        [change] = step.diff(ctx, found)
        assert (change.field, change.current, change.desired, change.replace) == \
            ("log_group", other, GROUP, True)
        aws.expect("route53", "delete_query_logging_config", {}, {"Id": "qlc-1"})
        step.delete(ctx, Resource("qlc-1", {}))


def test_the_same_group_reported_with_its_suffix_is_no_drift(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        assert step.diff(ctx, Resource("qlc-1", _item(f"{GROUP}:*"))) == []


def test_the_policy_admits_route53_of_this_account_on_that_group(config: PlatformConfig) -> None:
    [policy] = [s for s in build_steps(config) if isinstance(s, LogDeliveryPolicyStep)]
    with StubbedAws() as aws:
        document = policy.document(aws.context(config, {}))
    statement = {s["Sid"]: s for s in document["Statement"]}["Route53QueryLogsWrite"]
    assert statement == {
        "Sid": "Route53QueryLogsWrite", "Effect": "Allow",
        "Principal": {"Service": "route53.amazonaws.com"},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [f"{GROUP}:*"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                      "ArnLike": {"aws:SourceArn": "arn:aws:route53:::hostedzone/*"}}}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["route53"].update(query_log_group="nope"),
     "route53.query_log_group 'nope' is not a key of logs.groups"),
    (lambda d: d["aws"].update(region="eu-west-1"),
     "Route 53 logs DNS queries only into a group in us-east-1"),
])
def test_config_refuses_a_group_route53_cannot_log_into(edit: Any, message: str,
                                                       tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    edit(data)
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=message):
        load_config(path, "production")
