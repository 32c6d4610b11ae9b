"""Security-group rule drift, table-driven on Stubber clients (no sandbox).

What AWS reports (``DescribeSecurityGroupRules``) against the config's rule
set: which differences ``plan`` shows, and which requests ``apply`` sends.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.config.network import SecurityGroupConfig
from vivr_provision.steps.base import STEP_TAG, Resource
from vivr_provision.steps.ec2 import tag_list
from vivr_provision.steps.security import SecurityGroupRulesStep

IDS = {"vivr-db-sg": "sg-db", "vivr-app-sg": "sg-app", "vivr-pgbouncer-sg": "sg-pgb",
       "vivr-alb-sg": "sg-alb"}
CLOUDFRONT = "com.amazonaws.global.cloudfront.origin-facing"
OUTPUTS = {f"sg.{name}": {"group_id": gid} for name, gid in IDS.items()}


def _rule(rule_id: str, *, egress: bool = False, port: int = 5432, ours: bool = True,
          group: str = "vivr-db-sg", **peer: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"SecurityGroupRuleId": rule_id, "GroupId": "sg-db",
                            "IsEgress": egress, "IpProtocol": "tcp", "FromPort": port,
                            "ToPort": port, "Description": "anything", **peer}
    rule["Tags"] = [{"Key": STEP_TAG, "Value": f"sg-rules.{group}"}] if ours else []
    return rule


FROM_APP = _rule("sgr-1", ReferencedGroupInfo={"GroupId": "sg-app"})
FROM_PGB = _rule("sgr-2", ReferencedGroupInfo={"GroupId": "sg-pgb"})


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig, name: str = "vivr-db-sg") -> SecurityGroupRulesStep:
    [group] = [g for g in config.security_groups if g.name == name]
    return SecurityGroupRulesStep(config, group)


@pytest.mark.parametrize(("current", "expected"), [
    pytest.param([FROM_APP, FROM_PGB], {}, id="as configured"),
    pytest.param([{**FROM_APP, "Description": "edited by hand"}, FROM_PGB], {},
                 id="a description is not drift"),
    pytest.param([FROM_APP], {"rules_missing": ["ingress tcp/5432-5432 from sg-pgb"]},
                 id="a rule revoked by hand"),
    pytest.param([FROM_APP, FROM_PGB, _rule("sgr-9", egress=True, port=443,
                                            CidrIpv4="0.0.0.0/0")],
                 {"rules_extra": ["egress tcp/443-443 to 0.0.0.0/0"]},
                 id="egress the spec says none of"),
    pytest.param([FROM_APP, _rule("sgr-3", port=5432, ours=False,
                                  ReferencedGroupInfo={"GroupId": "sg-pgb"})],
                 {"rule_tags": "ownership tags"}, id="a matching rule without our tags"),
    pytest.param([_rule("sgr-4", port=5433, ReferencedGroupInfo={"GroupId": "sg-app"}),
                  FROM_PGB],
                 {"rules_missing": ["ingress tcp/5432-5432 from sg-app"],
                  "rules_extra": ["ingress tcp/5433-5433 from sg-app"]},
                 id="a port changed by hand is one missing and one extra"),
])
def test_database_group_rule_drift(config: PlatformConfig, current: list[dict[str, Any]],
                                   expected: dict[str, Any]) -> None:
    step = _step(config)
    with StubbedAws() as aws:  # no AWS call: the rule set is compared as described
        changes = step.diff(aws.context(config, OUTPUTS), Resource("sg-db", {"rules": current}))
    assert {c.field: c.desired if c.desired is not None else c.current for c in changes} == expected


def _with_prefix_list(config: PlatformConfig) -> PlatformConfig:
    def edited(group: SecurityGroupConfig) -> SecurityGroupConfig:
        if group.name != "vivr-alb-sg":
            return group
        ingress = [rule.model_copy(update={"cidr": None, "prefix_list": CLOUDFRONT})
                   if rule.port == 443 else rule for rule in group.ingress]
        return SecurityGroupConfig.model_validate(
            {**group.model_dump(), "ingress": [r.model_dump() for r in ingress]})

    return config.model_copy(update={"security_groups": [
        edited(g) for g in config.security_groups]})


def test_a_prefix_list_rule_is_sent_by_its_regional_id_and_read_back_as_no_drift(
        config: PlatformConfig) -> None:
    config = _with_prefix_list(config)
    step = _step(config, "vivr-alb-sg")
    lookup = {"Filters": [{"Name": "prefix-list-name", "Values": [CLOUDFRONT]}]}
    listed = {"PrefixLists": [{"PrefixListId": "pl-3b927c52", "PrefixListName": CLOUDFRONT}]}
    alb = "vivr-alb-sg"
    egress = _rule("sgr-e", egress=True, group=alb, ReferencedGroupInfo={"GroupId": "sg-app"})
    egress.update(IpProtocol="-1", FromPort=-1, ToPort=-1)
    others = [_rule("sgr-80", port=80, group=alb, CidrIpv4="0.0.0.0/0"), egress,
              {**_rule("sgr-icmp", group=alb, CidrIpv4="0.0.0.0/0"), "IpProtocol": "icmp",
               "FromPort": 8, "ToPort": -1}]

    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("ec2", "describe_managed_prefix_lists", listed, lookup)
        aws.expect("ec2", "authorize_security_group_ingress", {"Return": True}, {
            "GroupId": "sg-alb",
            "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                               "PrefixListIds": [{"PrefixListId": "pl-3b927c52",
                                                  "Description": "HTTPS"}]}],
            "TagSpecifications": [{"ResourceType": "security-group-rule",
                                   "Tags": tag_list(step.tags())}]})
        aws.expect("ec2", "describe_security_group_rules", {"SecurityGroupRules": []})
        step.update(ctx, Resource("sg-alb", {"rules": others}), [])

    read_back = [*others, _rule("sgr-443", port=443, group=alb, PrefixListId="pl-3b927c52")]
    with StubbedAws() as aws:
        aws.expect("ec2", "describe_managed_prefix_lists", listed, lookup)
        assert step.diff(aws.context(config, OUTPUTS),
                         Resource("sg-alb", {"rules": read_back})) == []


def test_a_prefix_list_missing_in_the_region_is_a_one_line_error(
        config: PlatformConfig) -> None:
    step = _step(_with_prefix_list(config), "vivr-alb-sg")
    with StubbedAws() as aws:
        aws.expect("ec2", "describe_managed_prefix_lists", {"PrefixLists": []})
        with pytest.raises(RuntimeError, match=f"no managed prefix list named {CLOUDFRONT} "
                                               "in us-east-1"):
            step.diff(aws.context(config, OUTPUTS), Resource("sg-alb", {"rules": []}))
