"""KindStep: reading a resource by name as its kind declares, on stubbed clients.

The calls are the ones the kind names (describe by name, then the tag
list call unless tags are inline), a missing resource is None, and a
same-named resource without our ownership tags is refused, never adopted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.steps.common import ForeignResourceError, aws_tags
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
