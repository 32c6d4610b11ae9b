"""KindStep: reading a resource by name as its kind declares, on stubbed clients.

The calls are the ones the kind names (describe by name, then the tag
list call unless tags are inline), a missing resource is None, and a
same-named resource without our ownership tags is refused, never adopted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.steps.alb import LoadBalancerStep
from vivr_provision.steps.base import Change
from vivr_provision.steps.common import ForeignResourceError, aws_tags
from vivr_provision.steps.drift import NAME, NAME_KEY, drift
from vivr_provision.steps.rds import DbPrimaryStep, DbSubnetGroupStep

ARN = "arn:aws:rds:us-east-1:123456789012:subgrp:vivr-db-subnet-group"


def _subnet_group_step() -> DbSubnetGroupStep:
    config = production_config()
    return DbSubnetGroupStep(config, config.rds.subnet_group)


def _described(name: str) -> dict[str, Any]:
    return {"DBSubnetGroups": [{"DBSubnetGroupName": name, "DBSubnetGroupArn": ARN}]}


def test_a_resource_of_ours_is_read_with_its_listed_tags() -> None:
    step = _subnet_group_step()
    name = step.resource_name()
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_subnet_groups", _described(name),
                   {"DBSubnetGroupName": name})
        aws.expect("rds", "list_tags_for_resource", {"TagList": aws_tags(step.tags())},
                   {"ResourceName": ARN})
        found = step.lookup(aws.context(step.config))
    assert found is not None
    assert (found.id, found.data["TagMap"]) == (name, step.tags())
    assert step.tag_target(found) == ARN


def test_not_found_is_none() -> None:
    step = _subnet_group_step()
    with StubbedAws() as aws:
        aws.expect_error("rds", "describe_db_subnet_groups", "DBSubnetGroupNotFoundFault",
                         status=404)
        assert step.lookup(aws.context(step.config)) is None


def test_a_same_named_resource_without_our_tags_is_refused() -> None:
    step = _subnet_group_step()
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_subnet_groups", _described(step.resource_name()))
        aws.expect("rds", "list_tags_for_resource", {"TagList": [{"Key": "team",
                                                                    "Value": "theirs"}]})
        with pytest.raises(ForeignResourceError, match="ownership tags missing"):
            step.lookup(aws.context(step.config))


@pytest.mark.parametrize(("status", "live"), [("available", True), ("deleting", False)])
def test_inline_tags_need_no_list_call_and_a_deleting_instance_is_gone(
        status: str, live: bool) -> None:
    step = DbPrimaryStep(production_config())
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances", {"DBInstances": [{
            "DBInstanceIdentifier": step.identifier, "DBInstanceStatus": status,
            "DBInstanceArn": f"arn:aws:rds:us-east-1:123456789012:db:{step.identifier}",
            "TagList": aws_tags(step.tags())}]}, {"DBInstanceIdentifier": step.identifier})
        found = step.lookup(aws.context(step.config))
    assert (found is not None) is live


def test_the_resource_state_recorded_is_read_by_its_id_and_a_rename_is_a_replacement() -> None:
    """Renamed in the config: the old group is what state knows, so it is compared
    (and the NAME row says AWS cannot rename it) instead of a second one being made."""
    step = _subnet_group_step()
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_subnet_groups", _described("vivr-old-subnets"),
                   {"DBSubnetGroupName": "vivr-old-subnets"})
        aws.expect("rds", "list_tags_for_resource", {"TagList": aws_tags(step.tags())})
        ctx = aws.context(step.config)
        found = step.find(ctx, "vivr-old-subnets")
        assert found is not None
        changes = drift(step, ctx, found.data, [NAME])
    assert changes == [Change("name", "vivr-old-subnets", step.resource_name(), replace=True)]


def test_a_balancer_is_read_back_by_the_arn_state_recorded() -> None:
    config = production_config()
    step = LoadBalancerStep(config, config.alb)
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/old/1"
    with StubbedAws() as aws:
        aws.expect("elbv2", "describe_load_balancers", {"LoadBalancers": [{
            "LoadBalancerArn": arn, "LoadBalancerName": "old", "State": {"Code": "active"}}]},
            {"LoadBalancerArns": [arn]})
        aws.expect("elbv2", "describe_tags", {"TagDescriptions": [{
            "ResourceArn": arn, "Tags": aws_tags(step.tags())}]}, {"ResourceArns": [arn]})
        aws.expect("elbv2", "describe_load_balancer_attributes", {"Attributes": []},
                   {"LoadBalancerArn": arn})
        found = step.describe_by_id(aws.context(config), arn)
    assert found is not None and found.id == arn
    assert found.data[NAME_KEY] == "old" and found.data["Attributes"] == {}
