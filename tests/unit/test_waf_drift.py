"""Web ACL drift from one field table: plan's changes, and one UpdateWebACL for all of them.

Each case is what GetWebACL answers (the production ACL as AWS returns it,
with an edit), a config override, and the changes plan shows.  A rule is
shown by its one-line summary, or by its JSON where only a detail the
summary leaves out differs.  Converging sends the whole ACL once, under a
fresh LockToken, with the settings we do not manage passed through; tags go
through the kind's TagResource.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.waf import WebAclStep

ACL_ID = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/vivr-waf/{ACL_ID}"
#: The ACL's tags: the config's common tags, ownership, its name and step.
TAGS = {"Owner": "platform-team", "CostCenter": "vivr-ecommerce", "Project": "vivr",
        "Environment": "production", "ManagedBy": "vivr-provision", "Name": "vivr-waf",
        "vivr:step": "waf"}


def _visibility(metric: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
            "MetricName": metric}


def _group(name: str, priority: int) -> dict[str, Any]:
    return {"Name": name, "Priority": priority,
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
            "OverrideAction": {"None": {}}, "VisibilityConfig": _visibility(f"vivr-waf-{name}")}


#: The production ACL's rules as AWS returns them (config/production.yaml, waf), by priority.
RULES = [
    {"Name": "vivr-rate-limit", "Priority": 0,
     "Statement": {"RateBasedStatement": {"Limit": 2000, "EvaluationWindowSec": 300,
                                          "AggregateKeyType": "IP"}},
     "Action": {"Block": {}}, "VisibilityConfig": _visibility("vivr-waf-vivr-rate-limit")},
    _group("AWSManagedRulesCommonRuleSet", 1),
    _group("AWSManagedRulesKnownBadInputsRuleSet", 2),
    _group("AWSManagedRulesSQLiRuleSet", 3),
]
ACL = {"Name": "vivr-waf", "Id": ACL_ID, "ARN": ARN, "DefaultAction": {"Allow": {}},
       "Description": "VIVR edge protection", "Rules": RULES,
       "VisibilityConfig": _visibility("vivr-waf")}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _described(step: WebAclStep, edit: Callable[[dict[str, Any]], None] | None = None,
               tags: dict[str, str] | None = None) -> dict[str, Any]:
    """``Resource.data``: GetWebACL's WebACL, edited, plus its tags."""
    acl = copy.deepcopy(ACL)
    if edit is not None:
        edit(acl)
    return {**acl, "LockToken": "token-1", "TagMap": step.tags() if tags is None else tags}


def _rate(acl: dict[str, Any]) -> Any:
    """The rate-based rule (priority 0, first)."""
    return acl["Rules"][0]


def _set_limit(acl: dict[str, Any]) -> None:
    _rate(acl)["Statement"]["RateBasedStatement"]["Limit"] = 5000


def _rename_metric(acl: dict[str, Any]) -> None:
    _rate(acl)["VisibilityConfig"]["MetricName"] = "renamed"


def _extra_rule(acl: dict[str, Any]) -> None:
    acl["Rules"].append({**_group("AWSManagedRulesAdminProtectionRuleSet", 9),
                         "OverrideAction": {"Count": {}}})


def _drop_sqli(acl: dict[str, Any]) -> None:
    acl["Rules"].pop()


def _nulls(acl: dict[str, Any]) -> None:
    """What some endpoints add: null members and empty lists (not drift)."""
    acl["Rules"][1]["Action"] = None
    acl["Rules"][1]["RuleLabels"] = []


def _tighter(config: PlatformConfig) -> PlatformConfig:
    waf = config.waf
    return config.model_copy(update={"waf": waf.model_copy(update={
        "rate_limit": waf.rate_limit.model_copy(update={"limit": 1000}),
        "default_action": "block"})})


def _rate_json(limit: int, metric: str) -> str:
    rule = copy.deepcopy(RULES[0])
    rule["Statement"]["RateBasedStatement"]["Limit"] = limit
    rule["VisibilityConfig"]["MetricName"] = metric
    return json.dumps(rule, sort_keys=True)


Expected = list[tuple[str, Any, Any]]
CASES: list[tuple[str, Callable[[dict[str, Any]], None] | None, dict[str, str] | None,
                  Callable[[PlatformConfig], PlatformConfig] | None, Expected]] = [
    ("as configured", None, None, None, []),
    ("nulls and empty lists are not drift", _nulls, None, None, []),
    ("others' tags are left alone", None, {**TAGS, "team": "theirs"}, None, []),
    ("our tags missing", None, {"team": "theirs"}, None,
     [("tags", dict.fromkeys(TAGS), TAGS)]),
    ("one of our tags changed", None, {**TAGS, "Owner": "someone"}, None,
     [("tags", {"Owner": "someone"}, {"Owner": "platform-team"})]),
    ("rate limit raised by hand", _set_limit, None, None,
     [("Rules[vivr-rate-limit]", "p0 rate 5000/300s by IP -> block",
       "p0 rate 2000/300s by IP -> block")]),
    ("a detail the summary leaves out: the rule as JSON", _rename_metric, None, None,
     [("Rules[vivr-rate-limit]", _rate_json(2000, "renamed"),
       _rate_json(2000, "vivr-waf-vivr-rate-limit"))]),
    ("a rule added by hand", _extra_rule, None, None,
     [("Rules[AWSManagedRulesAdminProtectionRuleSet]",
       "p9 managed AWS/AWSManagedRulesAdminProtectionRuleSet -> count", None)]),
    ("a rule removed by hand", _drop_sqli, None, None,
     [("Rules[AWSManagedRulesSQLiRuleSet]", None,
       "p3 managed AWS/AWSManagedRulesSQLiRuleSet -> none")]),
    ("description cleared (AWS omits it)", lambda acl: acl.pop("Description"), None, None,
     [("Description", "", "VIVR edge protection")]),
    ("the config tightens the limit and blocks by default", None, None, _tighter,
     [("DefaultAction", {"Allow": {}}, {"Block": {}}),
      ("Rules[vivr-rate-limit]", "p0 rate 2000/300s by IP -> block",
       "p0 rate 1000/300s by IP -> block")]),
]


@pytest.mark.parametrize(("edit", "tags", "override", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_web_acl_drift(config: PlatformConfig, edit: Callable[[dict[str, Any]], None] | None,
                       tags: dict[str, str] | None,
                       override: Callable[[PlatformConfig], PlatformConfig] | None,
                       expected: Expected) -> None:
    wanted = override(config) if override else config
    step = WebAclStep(wanted)
    with StubbedAws() as aws:  # comparing reads nothing from AWS
        changes = step.diff(aws.context(wanted), Resource(ARN, _described(step, edit, tags)))
    assert [(c.field, c.current, c.desired) for c in changes] == expected
    assert not any(c.replace or c.when for c in changes)


def _acl_reply(acl: dict[str, Any], token: str) -> dict[str, Any]:
    return {"WebACL": acl, "LockToken": token}


def test_every_setting_converges_in_one_update_web_acl_and_tags_apart(
        config: PlatformConfig) -> None:
    wanted = _tighter(config)
    step = WebAclStep(wanted)

    def drifted(acl: dict[str, Any]) -> None:
        _set_limit(acl)
        _extra_rule(acl)
        acl["Description"] = "edited"

    data = _described(step, drifted, tags={})
    # Set by an operator, unmanaged: UpdateWebACL would reset it unless sent again.
    console = {**copy.deepcopy(data), "TokenDomains": ["vivr.example.com"]}
    for key in ("LockToken", "TagMap"):
        console.pop(key)
    rules = copy.deepcopy(RULES)
    rules[0]["Statement"]["RateBasedStatement"]["Limit"] = 1000
    with StubbedAws() as aws:
        ctx = aws.context(wanted)
        changes = step.diff(ctx, Resource(ARN, data))
        assert [c.field for c in changes] == [
            "tags", "Description", "DefaultAction", "Rules[AWSManagedRulesAdminProtectionRuleSet]",
            "Rules[vivr-rate-limit]"]
        aws.expect("wafv2", "tag_resource", {}, {"ResourceARN": ARN, "Tags": [
            {"Key": k, "Value": v} for k, v in sorted(TAGS.items())]})
        aws.expect("wafv2", "get_web_acl", _acl_reply(console, "token-2"),
                   {"Name": "vivr-waf", "Scope": "CLOUDFRONT", "Id": ACL_ID})
        aws.expect("wafv2", "update_web_acl", {"NextLockToken": "token-3"}, {
            "Name": "vivr-waf", "Scope": "CLOUDFRONT", "Id": ACL_ID, "LockToken": "token-2",
            "DefaultAction": {"Block": {}}, "Description": "VIVR edge protection",
            "Rules": rules, "VisibilityConfig": _visibility("vivr-waf"),
            "TokenDomains": ["vivr.example.com"]})
        aws.expect("wafv2", "get_web_acl", _acl_reply(copy.deepcopy(ACL), "token-3"),
                   {"Name": "vivr-waf", "Scope": "CLOUDFRONT", "Id": ACL_ID})
        aws.expect("wafv2", "list_tags_for_resource", {"TagInfoForResource": {
            "ResourceARN": ARN, "TagList": [{"Key": k, "Value": v}
                                            for k, v in step.tags().items()]}},
                   {"ResourceARN": ARN})
        found = step.update(ctx, Resource(ARN, data), changes)
    assert (found.id, found.data["TagMap"], found.data["LockToken"]) == (
        ARN, step.tags(), "token-3")


def test_tags_alone_make_no_update_web_acl(config: PlatformConfig) -> None:
    step = WebAclStep(config)
    data = _described(step, tags={})
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = step.diff(ctx, Resource(ARN, data))
        assert [c.field for c in changes] == ["tags"]
        aws.expect("wafv2", "tag_resource", {}, {"ResourceARN": ARN, "Tags": [
            {"Key": k, "Value": v} for k, v in sorted(TAGS.items())]})
        aws.expect("wafv2", "get_web_acl", _acl_reply(copy.deepcopy(ACL), "token-2"))
        aws.expect("wafv2", "list_tags_for_resource", {"TagInfoForResource": {
            "ResourceARN": ARN, "TagList": [{"Key": k, "Value": v}
                                            for k, v in step.tags().items()]}})
        step.update(ctx, Resource(ARN, data), changes)


def test_a_hand_raised_rate_limit_is_put_back() -> None:
    """The production limit (2000 per 5 minutes per IP) goes back in one UpdateWebACL."""
    config = production_config()
    step = WebAclStep(config)
    data = _described(step, _set_limit)
    acl = {k: v for k, v in data.items() if k not in ("LockToken", "TagMap")}
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = step.diff(ctx, Resource(ARN, data))
        assert [c.describe() for c in changes] == [
            "Rules[vivr-rate-limit]: 'p0 rate 5000/300s by IP -> block' -> "
            "'p0 rate 2000/300s by IP -> block' (update)"]
        aws.expect("wafv2", "get_web_acl", _acl_reply(acl, "token-2"))
        aws.expect("wafv2", "update_web_acl", {"NextLockToken": "token-3"}, {
            "Name": "vivr-waf", "Scope": "CLOUDFRONT", "Id": ACL_ID, "LockToken": "token-2",
            "DefaultAction": {"Allow": {}}, "Description": "VIVR edge protection",
            "Rules": RULES, "VisibilityConfig": _visibility("vivr-waf")})
        aws.expect("wafv2", "get_web_acl", _acl_reply(copy.deepcopy(ACL), "token-3"))
        aws.expect("wafv2", "list_tags_for_resource", {"TagInfoForResource": {
            "ResourceARN": ARN, "TagList": [{"Key": k, "Value": v} for k, v in TAGS.items()]}})
        step.update(ctx, Resource(ARN, data), changes)
