"""The VPC's default security group: found through its VPC, emptied, drift on a rule added back.

Stubber clients: the requests AWS receives (revoke by rule id, one call per
direction) and what ``plan`` shows; the e2e test reads the empty group back.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps import build_steps
from vivr_provision.steps.default_group import DefaultSecurityGroupStep
from vivr_provision.steps.security import SecurityGroupRulesStep

OUTPUTS = {"vpc": {"vpc_id": "vpc-0abc"}, "dr.vpc": {"vpc_id": "vpc-0dr"}}
FILTERS = [{"Name": "vpc-id", "Values": ["vpc-0abc"]},
           {"Name": "group-name", "Values": ["default"]}]
RULES_FILTER = [{"Name": "group-id", "Values": ["sg-0def"]}]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> DefaultSecurityGroupStep:
    [step] = [s for s in build_steps(config) if s.name == "default-sg"]
    assert isinstance(step, DefaultSecurityGroupStep)
    return step


def _aws_defaults() -> list[dict[str, Any]]:
    """What AWS puts in a new VPC's default group: all in from itself, all out."""
    return [
        {"SecurityGroupRuleId": "sgr-in", "GroupId": "sg-0def", "IsEgress": False,
         "IpProtocol": "-1", "FromPort": -1, "ToPort": -1,
         "ReferencedGroupInfo": {"GroupId": "sg-0def"}},
        {"SecurityGroupRuleId": "sgr-out", "GroupId": "sg-0def", "IsEgress": True,
         "IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"},
    ]


def _expect_find(aws: StubbedAws, rules: list[dict[str, Any]]) -> None:
    aws.expect("ec2", "describe_security_groups",
               {"SecurityGroups": [{"GroupId": "sg-0def", "GroupName": "default"}]},
               {"Filters": FILTERS})
    aws.expect("ec2", "describe_security_group_rules", {"SecurityGroupRules": rules},
               {"Filters": RULES_FILTER})


def test_both_vpcs_get_one_and_the_dr_one_reads_its_own_vpc(config: PlatformConfig) -> None:
    steps = {s.name: s for s in build_steps(config) if isinstance(s, DefaultSecurityGroupStep)}
    assert set(steps) == {"default-sg", "dr.default-sg"}
    assert steps["default-sg"].depends_on() == ("vpc",)
    assert steps["dr.default-sg"].depends_on() == ("dr.vpc",)
    assert steps["dr.default-sg"].region == "us-west-2"


def test_keeping_aws_rules_is_a_config_choice(config: PlatformConfig) -> None:
    network = config.network.model_copy(update={"empty_default_security_group": False})
    kept = config.model_copy(update={"network": network})
    names = {s.name for s in build_steps(kept)}
    assert "default-sg" not in names and "dr.default-sg" in names


def test_create_revokes_aws_defaults_by_rule_id(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        _expect_find(aws, _aws_defaults())
        aws.expect("ec2", "revoke_security_group_ingress", {"Return": True},
                   {"GroupId": "sg-0def", "SecurityGroupRuleIds": ["sgr-in"]})
        aws.expect("ec2", "revoke_security_group_egress", {"Return": True},
                   {"GroupId": "sg-0def", "SecurityGroupRuleIds": ["sgr-out"]})
        aws.expect("ec2", "describe_security_group_rules", {"SecurityGroupRules": []},
                   {"Filters": RULES_FILTER})
        created = step.create(aws.context(config, OUTPUTS, batched=True), "token-unused")
    assert step.outputs(created) == {"id": "sg-0def", "group_id": "sg-0def", "rule_count": 0}


def test_a_rule_added_by_hand_is_drift_plan_names(config: PlatformConfig) -> None:
    step = _step(config)
    added = [{"SecurityGroupRuleId": "sgr-ssh", "GroupId": "sg-0def", "IsEgress": False,
              "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}]
    with StubbedAws() as aws:
        _expect_find(aws, added)
        ctx = aws.context(config, OUTPUTS, batched=True)
        found = step.find(ctx, "sg-0def")
        assert found is not None
        [change] = step.diff(ctx, found)
    assert change.describe() == "rules: ['ingress tcp/22-22 from 0.0.0.0/0'] -> [] (update)"


def test_an_empty_group_is_unchanged_and_destroy_only_lets_go(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        _expect_find(aws, [])
        ctx = aws.context(config, OUTPUTS, batched=True)
        found = step.find(ctx, "sg-0def")
        assert found is not None and step.diff(ctx, found) == []
        # No call at all: DeleteSecurityGroup refuses a default group.
        kept = step.delete(ctx, found)
    assert kept == ["default security group sg-0def kept (empty): AWS deletes it with its VPC"]


def test_nothing_to_find_before_the_vpc_exists_or_state_records_the_group(
        config: PlatformConfig) -> None:
    with StubbedAws() as aws:
        assert _step(config).find(aws.context(config, {}, batched=True), "sg-0def") is None
        # Not taken over yet (no id in state): apply's "create" empties it.
        assert _step(config).find(aws.context(config, OUTPUTS, batched=True), None) is None


def test_a_vpc_without_its_default_group_is_an_error_on_create(config: PlatformConfig) -> None:
    with StubbedAws() as aws:
        aws.expect("ec2", "describe_security_groups", {"SecurityGroups": []}, {"Filters": FILTERS})
        with pytest.raises(RuntimeError, match="default-sg: the VPC has no default security"):
            _step(config).create(aws.context(config, OUTPUTS, batched=True), "t")



def _site_outputs(config: PlatformConfig) -> dict[str, dict[str, Any]]:
    """A re-apply's recorded outputs: the VPC, the site's groups, the default group."""
    groups = {f"sg.{g.name}": {"group_id": f"sg-{g.name}"} for g in config.security_groups}
    return {**OUTPUTS, **groups, "default-sg": {"group_id": "sg-0def"}}


def test_a_recorded_group_reads_its_rules_with_the_site_rule_sets(
        config: PlatformConfig) -> None:
    """One DescribeSecurityGroupRules for the default group and every rule-set step of the
    site, whichever looks first; the default group's data is what its own read gives."""
    step = _step(config)
    rule_steps = [s for s in build_steps(config)
                  if isinstance(s, SecurityGroupRulesStep) and s.site.prefix == ""]
    ids = [f"sg-{g.name}" for g in config.security_groups] + ["sg-0def"]
    app_rule = {"SecurityGroupRuleId": "sgr-app", "GroupId": f"sg-{rule_steps[0].group.name}",
                "IsEgress": True, "IpProtocol": "-1", "FromPort": -1, "ToPort": -1,
                "CidrIpv4": "0.0.0.0/0"}
    with StubbedAws() as aws:
        aws.expect("ec2", "describe_security_groups",
                   {"SecurityGroups": [{"GroupId": "sg-0def", "GroupName": "default"}]},
                   {"Filters": FILTERS})
        aws.expect("ec2", "describe_security_group_rules",
                   {"SecurityGroupRules": [*_aws_defaults(), app_rule]},
                   {"Filters": [{"Name": "group-id", "Values": ids}]})
        ctx = aws.context(config, _site_outputs(config), batched=True)
        batched = step.find(ctx, "sg-0def")
        for rule_step in rule_steps:  # served from the same listing: no further call
            rule_step.find(ctx, None)
    with StubbedAws() as aws:
        _expect_find(aws, _aws_defaults())
        direct = step.find(aws.context(config, OUTPUTS, batched=True), "sg-0def")
    assert batched is not None and direct is not None
    assert (batched.id, batched.data) == (direct.id, direct.data)
    assert ctx.reads.loads == 1 and ctx.reads.served_to("default-sg") == 1


def test_a_second_find_reads_the_rules_directly(config: PlatformConfig) -> None:
    """Drift seen on the listing is confirmed by a second find (the engine's rule): that
    one reads the group's rules itself, not the listing again."""
    step = _step(config)
    outputs = {**OUTPUTS, "default-sg": {"group_id": "sg-0def"}}
    with StubbedAws() as aws:
        aws.expect("ec2", "describe_security_groups",
                   {"SecurityGroups": [{"GroupId": "sg-0def", "GroupName": "default"}]},
                   {"Filters": FILTERS})
        aws.expect("ec2", "describe_security_group_rules",
                   {"SecurityGroupRules": _aws_defaults()}, {"Filters": RULES_FILTER})
        _expect_find(aws, [])
        ctx = aws.context(config, outputs, batched=True)
        first, second = step.find(ctx, "sg-0def"), step.find(ctx, "sg-0def")
    assert first is not None and len(first.data["rules"]) == 2
    assert second is not None and second.data["rules"] == []


def test_before_its_id_is_recorded_the_site_listing_is_left_to_the_rule_sets(
        config: PlatformConfig) -> None:
    """Neither the run nor state knows the default group's id yet (its first apply): it
    reads its own rules and loads no listing."""
    outputs = {**_site_outputs(config)}
    del outputs["default-sg"]
    with StubbedAws() as aws:
        _expect_find(aws, [])
        ctx = aws.context(config, outputs, batched=True)
        assert _step(config).find(ctx, "sg-0def") is not None
    assert ctx.reads.loads == 0


def test_plan_and_refresh_ask_the_listing_for_every_recorded_group(
        config: PlatformConfig) -> None:
    """Plan and refresh fill the run's outputs as they observe steps, so the default
    group, found early, would know none of the site's groups yet: the listing asks for
    the ids state recorded (``recorded_outputs``) and serves every step all the same."""
    step = _step(config)
    ids = [f"sg-{g.name}" for g in config.security_groups] + ["sg-0def"]
    recorded = _site_outputs(config)
    with StubbedAws() as aws:
        aws.expect("ec2", "describe_security_groups",
                   {"SecurityGroups": [{"GroupId": "sg-0def", "GroupName": "default"}]},
                   {"Filters": FILTERS})
        aws.expect("ec2", "describe_security_group_rules", {"SecurityGroupRules": []},
                   {"Filters": [{"Name": "group-id", "Values": ids}]})
        ctx = aws.context(config, OUTPUTS, batched=True)  # the VPC alone observed so far
        ctx.recorded_outputs = recorded.get
        assert step.find(ctx, "sg-0def") is not None
    assert ctx.reads.loads == 1 and ctx.reads.served_to("default-sg") == 1
