"""The tag batch: one GetResources per region answers many steps' tag reads, on stubbed clients.

Each step still describes its own resource (the batch never says a resource
exists); its tags then come from the region's one GetResources answer, equal
to what the step's own list-tags call returns; anything the answer lacks,
or a batch AWS refuses, is read the old way.  The steps are DB subnet
groups: a KindStep whose describe no other batch answers.
"""

from __future__ import annotations

from typing import Any

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.steps.alb import ListenerStep
from vivr_provision.steps.base import Resource, StepContext
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.kms import KmsKeyStep
from vivr_provision.steps.rds import DbSubnetGroupStep
from vivr_provision.tag_batch import (
    PAGE_SIZE,
    SERVICES,
    answers_for,
    bucket_tags,
    region_of,
    request,
    route53_arn,
)

CONFIG = production_config()
GROUPS = [DbSubnetGroupStep(CONFIG, CONFIG.rds.subnet_group.model_copy(
    update={"name": f"vivr-db-subnets-{n}"})) for n in range(3)]


def _arn(step: DbSubnetGroupStep) -> str:
    return f"arn:aws:rds:us-east-1:{ACCOUNT}:subgrp:{step.resource_name()}"


def _mapping(arn: str, tags: dict[str, str]) -> dict[str, Any]:
    return {"ResourceARN": arn, "Tags": aws_tags(tags)}


def _expect_describe(aws: StubbedAws, step: DbSubnetGroupStep) -> None:
    aws.expect("rds", "describe_db_subnet_groups", {"DBSubnetGroups": [
        {"DBSubnetGroupName": step.resource_name(), "DBSubnetGroupArn": _arn(step)}]},
        {"DBSubnetGroupName": step.resource_name()})


def _expect_listed(aws: StubbedAws, step: DbSubnetGroupStep, tags: dict[str, str]) -> None:
    aws.expect("rds", "list_tags_for_resource", {"TagList": aws_tags(tags)},
               {"ResourceName": _arn(step)})


def _read(aws: StubbedAws, steps: list[DbSubnetGroupStep], *,
          batched: bool = True) -> list[Resource | None]:
    ctx = aws.context(CONFIG, batched=batched)
    return [step.lookup(ctx) for step in steps]


def test_the_request_filters_on_the_ownership_tags_and_the_services_it_answers() -> None:
    tags = GROUPS[0].tags()
    assert request(tags) == {
        "TagFilters": [{"Key": "ManagedBy", "Values": ["vivr-provision"]},
                       {"Key": "Project", "Values": [CONFIG.project]},
                       {"Key": "Environment", "Values": [CONFIG.environment]}],
        "ResourceTypeFilters": sorted(SERVICES), "ResourcesPerPage": PAGE_SIZE}
    # The model's limits: 50 tag keys, 100 resource types, 1..100 per page.
    assert len(SERVICES) <= 100 and 1 <= PAGE_SIZE <= 100


def test_one_call_answers_every_step_and_each_gets_what_its_own_read_gives() -> None:
    with StubbedAws() as aws:  # the reads before: describe + ListTagsForResource each
        for step in GROUPS:
            _expect_describe(aws, step)
            _expect_listed(aws, step, step.tags())
        direct = _read(aws, GROUPS, batched=False)
    with StubbedAws() as aws:  # batched: one GetResources (two pages) for the three
        ours = [_mapping(_arn(step), step.tags()) for step in GROUPS]
        aws.expect("resourcegroupstaggingapi", "get_resources",
                   {"ResourceTagMappingList": ours[:2], "PaginationToken": "p2"},
                   request(GROUPS[0].tags()))
        aws.expect("resourcegroupstaggingapi", "get_resources",
                   {"ResourceTagMappingList": ours[2:], "PaginationToken": ""},
                   {**request(GROUPS[0].tags()), "PaginationToken": "p2"})
        for step in GROUPS:
            _expect_describe(aws, step)
        batched = _read(aws, GROUPS)
    assert batched == direct
    assert all(found is not None and found.data["TagMap"] == step.tags()
               for found, step in zip(batched, GROUPS, strict=True))


def test_what_the_batch_lacks_and_a_second_read_go_to_the_service() -> None:
    first, second = GROUPS[:2]
    with StubbedAws() as aws:
        aws.expect("resourcegroupstaggingapi", "get_resources", {
            "ResourceTagMappingList": [_mapping(_arn(first), first.tags())]})
        _expect_describe(aws, first)
        # Not in the answer (created a moment ago; GetResources is eventually consistent).
        _expect_describe(aws, second)
        _expect_listed(aws, second, second.tags())
        # The same step reading again (after an update): its own call, never the batch.
        _expect_describe(aws, first)
        now = {**first.tags(), "CostCenter": "edited"}
        _expect_listed(aws, first, now)
        ctx = aws.context(CONFIG, batched=True)
        found = [first.lookup(ctx), second.lookup(ctx)]
        again = first.describe_by_id(ctx, first.resource_name())
    assert [f.data["TagMap"] if f else None for f in found] == [first.tags(), second.tags()]
    assert again is not None and again.data["TagMap"] == now


def test_a_resource_its_describe_does_not_find_is_gone_whatever_the_batch_says() -> None:
    """GetResources lists resources deleted a moment ago: it is not even asked."""
    step = GROUPS[0]
    with StubbedAws() as aws:
        aws.expect_error("rds", "describe_db_subnet_groups", "DBSubnetGroupNotFoundFault",
                         status=404)
        assert step.lookup(aws.context(CONFIG, batched=True)) is None


def test_a_refused_batch_leaves_every_step_to_its_own_read() -> None:
    with StubbedAws() as aws:
        aws.expect_error("resourcegroupstaggingapi", "get_resources", "AccessDeniedException",
                         "not authorized to perform: tag:GetResources")
        for step in GROUPS[:2]:
            _expect_describe(aws, step)
            _expect_listed(aws, step, step.tags())
        found = _read(aws, GROUPS[:2])
    assert [f.data["TagMap"] if f else None for f in found] == [s.tags() for s in GROUPS[:2]]


def test_a_kms_key_is_found_in_the_batch_by_its_arn_and_read_by_its_id_otherwise() -> None:
    step = KmsKeyStep(CONFIG)
    key_id = "mrk-1234abcd"
    meta = {"KeyId": key_id, "Arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}",
            "KeyState": "Enabled"}
    alias = CONFIG.kms.alias  # a recorded key is read through its alias (kms.py)
    with StubbedAws() as aws:
        aws.expect("kms", "describe_key", {"KeyMetadata": meta}, {"KeyId": alias})
        aws.expect("resourcegroupstaggingapi", "get_resources", {
            "ResourceTagMappingList": [_mapping(meta["Arn"], step.tags())]})
        aws.expect("kms", "describe_key", {"KeyMetadata": meta}, {"KeyId": alias})
        aws.expect("kms", "list_resource_tags", {"Tags": []}, {"KeyId": key_id})
        ctx: StepContext = aws.context(CONFIG, batched=True)
        batched = step.describe_by_id(ctx, key_id)
        direct = step.describe_by_id(ctx, key_id)
    assert batched is not None and batched.data["TagMap"] == step.tags()
    assert direct is not None and direct.data["TagMap"] == {}


def test_which_arns_it_answers_and_where_it_asks() -> None:
    assert answers_for(f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/vivr/app")
    assert answers_for(f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/x/1")
    # IAM roles are not listed by GetResources (GetRole carries their tags).
    assert not answers_for(f"arn:aws:iam::{ACCOUNT}:role/vivr")
    # Route 53's tag calls take ids: the batch knows them by ARN, in us-east-1.
    zone = route53_arn("hostedzone", "/hostedzone/Z1")
    assert zone == "arn:aws:route53:::hostedzone/Z1" and answers_for(zone)
    assert region_of(zone) == "us-east-1"
    assert not answers_for("vivr-db-subnet-group")
    # Global resources are listed in us-east-1; others where their ARN says.
    assert region_of(f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1") == "us-east-1"
    assert region_of(f"arn:aws:sns:us-west-2:{ACCOUNT}:alerts") == "us-west-2"


def test_a_bucket_is_looked_up_in_the_region_it_lives_in() -> None:
    step = GROUPS[0]
    with StubbedAws() as aws:
        aws.expect("resourcegroupstaggingapi", "get_resources", {"ResourceTagMappingList": [
            _mapping("arn:aws:s3:::vivr-logs-dr", {**step.tags(), "Name": "dr"})]},
            region="us-west-2")
        ctx = aws.context(CONFIG, batched=True)
        tags = bucket_tags(ctx, "bucket.logs_dr", "vivr-logs-dr", "us-west-2", step.tags())
        missing = bucket_tags(ctx, "bucket.logs_dr", "vivr-temp", "us-west-2", step.tags())
    assert tags == {**step.tags(), "Name": "dr"}
    assert missing is None


def test_listener_rules_in_the_batch_need_no_describe_tags_and_the_rest_are_read() -> None:
    [listener] = [li for li in CONFIG.alb.listeners if li.port == 443]
    step = ListenerStep(CONFIG, CONFIG.alb, listener)
    listener_arn = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/vivr-alb/1/2"
    ours, theirs = (listener_arn.replace(":listener/", ":listener-rule/") + f"/{n}"
                    for n in ("r1", "r2"))
    rule_tags = step.rule_tags("origin-verify")
    with StubbedAws() as aws:
        aws.expect("elbv2", "describe_rules", {"Rules": [
            {"RuleArn": ours, "Priority": "1"}, {"RuleArn": theirs, "Priority": "2"}]},
            {"ListenerArn": listener_arn})
        aws.expect("resourcegroupstaggingapi", "get_resources",
                   {"ResourceTagMappingList": [_mapping(ours, rule_tags)]})
        aws.expect("elbv2", "describe_tags", {"TagDescriptions": [
            {"ResourceArn": theirs, "Tags": [{"Key": "team", "Value": "theirs"}]}]},
            {"ResourceArns": [theirs]})
        mine, others = step.read_rules(aws.context(CONFIG, batched=True), listener_arn)
    assert mine["origin-verify"]["TagMap"] == rule_tags
    assert [rule["RuleArn"] for rule in others] == [theirs]
