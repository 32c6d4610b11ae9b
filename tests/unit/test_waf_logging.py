"""WAF logging: the request WAF receives, drift, deletion, and the config rules AWS imposes.

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
from vivr_provision.steps.waf_logging import WafLoggingStep

ACL = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/vivr-waf/abc"
GROUP = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-waf-logs-vivr-production"
OUTPUTS = {"waf": {"web_acl_arn": ACL}, "logs.waf": {"arn": GROUP}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> WafLoggingStep:
    [step] = [s for s in build_steps(config) if isinstance(s, WafLoggingStep)]
    return step


def _configuration(destination: str = GROUP) -> dict[str, Any]:
    return {"LoggingConfiguration": {"ResourceArn": ACL, "LogDestinationConfigs": [destination]}}


def test_create_ties_the_acl_to_its_group_in_us_east_1(config: PlatformConfig) -> None:
    step = _step(config)
    assert step.region == "us-east-1"
    assert step.depends_on() == ("waf", "logs.waf", "logs-delivery-policy")
    with StubbedAws() as aws:
        aws.expect("wafv2", "put_logging_configuration", _configuration(),
                   {"LoggingConfiguration": {"ResourceArn": ACL,
                                             "LogDestinationConfigs": [GROUP]}})
        aws.expect("wafv2", "get_logging_configuration", _configuration(), {"ResourceArn": ACL})
        created = step.create(aws.context(config, OUTPUTS), "unused")
    assert step.outputs(created) == {"id": ACL, "web_acl_arn": ACL, "destinations": [GROUP]}


def test_logging_sent_elsewhere_is_drift_put_back(config: PlatformConfig) -> None:
    step = _step(config)
    elsewhere = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-waf-logs-other"
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("wafv2", "get_logging_configuration", _configuration(elsewhere),
                   {"ResourceArn": ACL})
        found = step.find(ctx, ACL)
        assert found is not None
        [change] = step.diff(ctx, found)
        assert (change.current, change.desired) == ([elsewhere], [GROUP])
        aws.expect("wafv2", "put_logging_configuration", _configuration(), None)
        aws.expect("wafv2", "get_logging_configuration", _configuration(), {"ResourceArn": ACL})
        step.update(ctx, found, [change])


def test_no_configuration_is_nothing_found_and_delete_is_by_acl(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect_error("wafv2", "get_logging_configuration", "WAFNonexistentItemException",
                         params={"ResourceArn": ACL})
        assert step.find(ctx, None) is None
        aws.expect("wafv2", "delete_logging_configuration", {}, {"ResourceArn": ACL})
        step.delete(ctx, Resource(ACL, {}))


def test_the_delivery_policy_admits_log_delivery_on_the_waf_group(config: PlatformConfig) -> None:
    [policy] = [s for s in build_steps(config) if isinstance(s, LogDeliveryPolicyStep)]
    with StubbedAws() as aws:
        document = policy.document(aws.context(config, {}))
    statement = {s["Sid"]: s for s in document["Statement"]}["AWSLogDeliveryWrite"]
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-waf-logs-vivr-production:" \
           "log-stream:*" in statement["Resource"]


def _edited(tmp_path: Path, edit: Any) -> PlatformConfig:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    edit(data)
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path, "production")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["logs"]["groups"]["waf"].update(name="/vivr/production/waf"),
     "WAF logs only into a group whose name starts with aws-waf-logs-"),
    (lambda d: d["waf"].update(log_group="nope"),
     "waf.log_group 'nope' is not a key of logs.groups"),
    (lambda d: d["aws"].update(region="eu-west-1"),
     "a CLOUDFRONT-scope web ACL logs only into a group in us-east-1"),
])
def test_config_refuses_a_group_waf_cannot_log_into(edit: Any, message: str,
                                                    tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        _edited(tmp_path, edit)
