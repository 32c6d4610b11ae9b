"""CloudWatch Logs delivery drift from its field tables: the three parts, their tags, the policy.

Each case is what the Get/Describe calls answered (source, destination,
delivery, edited as someone changed them by hand), the changes plan lists
and, for changes apply converges in place, the exact requests it sends
before it re-reads the parts (and creates any missing one).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.log_delivery import LogDeliveryPolicyStep, LogDeliveryStep

REGION_ACCOUNT = f"us-east-1:{ACCOUNT}"
LB_ARN = f"arn:aws:elasticloadbalancing:{REGION_ACCOUNT}:loadbalancer/app/vivr-alb/50dc6c495c0c9188"
GROUP_ARN = f"arn:aws:logs:{REGION_ACCOUNT}:log-group:/vivr/production/alb"
SOURCE_ARN = f"arn:aws:logs:{REGION_ACCOUNT}:delivery-source:vivr-production-alb-access-logs"
DESTINATION_ARN = (f"arn:aws:logs:{REGION_ACCOUNT}:delivery-destination:"
                   "vivr-production-alb-logs")
DELIVERY_ARN = f"arn:aws:logs:{REGION_ACCOUNT}:delivery:abcdef"
OUTPUTS = {"alb": {"load_balancer_arn": LB_ARN}, "logs.alb": {"arn": GROUP_ARN}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> LogDeliveryStep:
    return LogDeliveryStep(config, "alb", config.logs.deliveries["alb"])


def _parts(step: LogDeliveryStep) -> dict[str, dict[str, Any]]:
    """The three parts as created by this step."""
    tags = step.tags()
    return {
        "source": {"name": "vivr-production-alb-access-logs", "arn": SOURCE_ARN,
                   "resourceArns": [LB_ARN], "logType": "ALB_ACCESS_LOGS", "tags": tags},
        "destination": {"name": "vivr-production-alb-logs", "arn": DESTINATION_ARN,
                        "outputFormat": "json", "tags": tags,
                        "deliveryDestinationConfiguration": {
                            "destinationResourceArn": GROUP_ARN}},
        "delivery": {"id": "abcdef", "arn": DELIVERY_ARN,
                     "deliverySourceName": "vivr-production-alb-access-logs",
                     "deliveryDestinationArn": DESTINATION_ARN, "tags": tags},
    }


class Case(NamedTuple):
    #: Per part: edits of its description, or None when the part is missing.
    edits: dict[str, dict[str, Any] | None]
    expected: list[tuple[str, Any, Any, bool]]
    #: (operation, exact params) apply sends before re-reading, in order.
    requests: list[tuple[str, dict[str, Any]]]


CASES = {
    "converged": Case({}, [], []),
    "a missing delivery is drift, created by apply": Case(
        {"delivery": None}, [("delivery", None, "present", False)], []),
    "another load balancer can only be a new source": Case(
        {"source": {"resourceArns": ["arn:other"]}},
        [("source_resource", (["arn:other"], "ALB_ACCESS_LOGS"), ([LB_ARN], "ALB_ACCESS_LOGS"),
          True)], []),
    "another format can only be a new destination": Case(
        {"destination": {"outputFormat": "plain"}},
        [("output_format", "plain", "json", True)], []),
    "the destination pointed elsewhere is put back": Case(
        {"destination": {"deliveryDestinationConfiguration": {
            "destinationResourceArn": "arn:other-group"}}},
        [("destination_group", "arn:other-group", GROUP_ARN, False)],
        [("put_delivery_destination", {
            "name": "vivr-production-alb-logs", "outputFormat": "json",
            "deliveryDestinationConfiguration": {"destinationResourceArn": GROUP_ARN}})]),
    "each part is tagged on its own ARN": Case(
        {"source": {"tags": {}}, "delivery": {"tags": {"team": "theirs"}}},
        [("source_tags", "ours missing", "ours", False),
         ("delivery_tags", "ours missing", "ours", False)],
        [("tag_resource", {"resourceArn": SOURCE_ARN, "tags": "ours"}),
         ("tag_resource", {"resourceArn": DELIVERY_ARN, "tags": "ours"})]),
}


def _resolve(step: LogDeliveryStep, value: Any) -> Any:
    """The step's tags where a case says "ours" (and None for each where "ours missing")."""
    if value == "ours":
        return step.tags()
    if value == "ours missing":
        return dict.fromkeys(step.tags())
    return value


def _announce_reads(aws: StubbedAws, parts: dict[str, Any]) -> None:
    aws.expect("logs", "get_delivery_source", {"deliverySource": parts["source"]},
               {"name": "vivr-production-alb-access-logs"})
    aws.expect("logs", "get_delivery_destination", {"deliveryDestination": parts["destination"]},
               {"name": "vivr-production-alb-logs"})
    aws.expect("logs", "describe_deliveries", {"deliveries": [parts["delivery"]]},
               {"deliverySourceNames": ["vivr-production-alb-access-logs"]})


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_log_delivery_drift(config: PlatformConfig, case: Case) -> None:
    step = _step(config)
    data: dict[str, Any] = _parts(step)
    for part, edits in case.edits.items():
        data[part] = None if edits is None else {**data[part], **edits}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource("abcdef", data))
        assert [(c.field, c.current, c.desired, c.replace) for c in changes] == [
            (f, _resolve(step, current), _resolve(step, desired), r)
            for f, current, desired, r in case.expected]
        for operation, params in case.requests:
            aws.expect("logs", operation, {} if operation == "tag_resource" else {
                "deliveryDestination": _parts(step)["destination"]},
                {k: _resolve(step, v) for k, v in params.items()})
        if case.requests:
            for _ in ("parts to complete", "the result"):  # converged: nothing to create
                _announce_reads(aws, _parts(step))
            step.update(ctx, Resource("abcdef", data), [c for c in changes if not c.replace])


def test_the_policy_is_compared_as_json_and_put_whole(config: PlatformConfig) -> None:
    step = LogDeliveryPolicyStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config)
        document = step.document(ctx)
        same = {"policyName": step.resource_name(), "policyDocument": json.dumps(document)}
        assert step.diff(ctx, Resource(step.resource_name(), same)) == []
        document["Statement"][0]["Resource"] = ["*"]
        edited = {**same, "policyDocument": json.dumps(document)}
        changes = step.diff(ctx, Resource(step.resource_name(), edited))
        assert [(c.field, c.current, c.desired) for c in changes] == [
            ("policy", "differs", "delivery into the configured groups")]
        aws.expect("logs", "put_resource_policy", {}, {
            "policyName": step.resource_name(),
            "policyDocument": json.dumps(step.document(ctx), sort_keys=True)})
        aws.expect("logs", "describe_resource_policies", {"resourcePolicies": [same]}, {})
        step.update(ctx, Resource(step.resource_name(), edited), changes)
