"""Load balancer, target group and listener drift from their field tables, on stubbed clients.

Each case is what AWS describes (the resource as the step would create it,
with edits), the changes plan shows, and for converging cases the exact
requests apply sends: one ``ModifyLoadBalancerAttributes`` however many
attributes drifted, one ``ModifyTargetGroup`` with every health-check
setting, one ``ModifyListener`` with the whole listener, tags apart.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.alb import ListenerStep, LoadBalancerStep, TargetGroupStep
from vivr_provision.steps.alb.rules import digest
from vivr_provision.steps.base import Change, Resource
from vivr_provision.steps.common import aws_tags

ELB = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}"
LB_ARN = f"{ELB}:loadbalancer/app/vivr-alb/50dc6c495c0c9188"
TG_ARN = f"{ELB}:targetgroup/vivr-app-tg/6d0ecf831eec9f09"
LISTENER_ARN = f"{ELB}:listener/app/vivr-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
CERT_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"
OUTPUTS: dict[str, dict[str, Any]] = {
    "vpc": {"vpc_id": "vpc-0a1b2c3d"},
    "subnet.public-1a": {"subnet_id": "subnet-aaaa"},
    "subnet.public-1b": {"subnet_id": "subnet-bbbb"},
    "sg.vivr-alb-sg": {"group_id": "sg-alb"},
    "alb-target-group": {"target_group_arn": TG_ARN},
    "alb": {"load_balancer_arn": LB_ARN},
    "acm": {"certificate_arn": CERT_ARN},
}
#: Attributes AWS reports that the config does not set: never drift.
OTHERS = {"routing.http.desync_mitigation_mode": "defensive", "waf.fail_open.enabled": "false"}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _pairs(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(values.items())]


def _changes(changes: list[Change]) -> list[tuple[str, Any, Any, bool]]:
    return [(c.field, c.current, c.desired, c.replace) for c in changes]


# --------------------------------------------------------------------------- target group


def _group(config: PlatformConfig) -> TargetGroupStep:
    return TargetGroupStep(config, config.alb)


def _group_described(step: TargetGroupStep, **edits: Any) -> dict[str, Any]:
    """What lookup gives for the group as created: description, attributes, tags."""
    group = step.alb.target_group
    return {"TargetGroupArn": TG_ARN, "TargetGroupName": group.name,
            "Protocol": group.protocol, "Port": group.port, "TargetType": group.target_type,
            "VpcId": "vpc-0a1b2c3d", **step.health_check(),
            "Attributes": {**step.attributes(), **OTHERS}, "TagMap": step.tags(), **edits}


def _expect_group_read(aws: StubbedAws, step: TargetGroupStep, data: dict[str, Any]) -> None:
    described = {k: v for k, v in data.items() if k not in ("Attributes", "TagMap")}
    aws.expect("elbv2", "describe_target_groups", {"TargetGroups": [described]},
               {"Names": [step.resource_name()]})
    aws.expect("elbv2", "describe_tags", {"TagDescriptions": [
        {"ResourceArn": TG_ARN, "Tags": aws_tags(data["TagMap"])}]}, {"ResourceArns": [TG_ARN]})
    aws.expect("elbv2", "describe_target_group_attributes",
               {"Attributes": _pairs(data["Attributes"])}, {"TargetGroupArn": TG_ARN})


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"HealthCheckEnabled": None}, []),  # older API versions do not report it
    ({"HealthCheckPath": "/", "HealthCheckIntervalSeconds": 10},
     [("HealthCheckPath", "/", "/api/health", False),
      ("HealthCheckIntervalSeconds", 10, 30, False)]),
    ({"Matcher": {"HttpCode": "200-399"}},
     [("Matcher", {"HttpCode": "200-399"}, {"HttpCode": "200"}, False)]),
    ({"Port": 8080}, [("Port", 8080, 3000, True)]),
    ({"TargetType": "instance", "VpcId": "vpc-other"},
     [("TargetType", "instance", "ip", True), ("VpcId", "vpc-other", "vpc-0a1b2c3d", True)]),
    ({"Attributes": {"deregistration_delay.timeout_seconds": "300",
                     "stickiness.enabled": "false", "stickiness.type": "lb_cookie",
                     "stickiness.lb_cookie.duration_seconds": "86400", **OTHERS}},
     [("attributes", {"deregistration_delay.timeout_seconds": "300"},
       {"deregistration_delay.timeout_seconds": "30"}, False)]),
    # A cookie duration AWS does not report is one of ours missing.
    ({"Attributes": {"deregistration_delay.timeout_seconds": "30",
                     "stickiness.enabled": "false", "stickiness.type": "lb_cookie"}},
     [("attributes", {"stickiness.lb_cookie.duration_seconds": None},
       {"stickiness.lb_cookie.duration_seconds": "86400"}, False)]),
])
def test_target_group_drift(config: PlatformConfig, edits: dict[str, Any],
                            expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = _group(config)
    with StubbedAws() as aws:  # comparing reads nothing from AWS
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(TG_ARN, _group_described(step, **edits)))
    assert _changes(changes) == expected


def test_target_group_converges_health_check_in_one_call_and_only_drifted_attributes(
        config: PlatformConfig) -> None:
    step = _group(config)
    drifted = _group_described(step, HealthCheckPath="/", HealthyThresholdCount=5, TagMap={},
                               Attributes={**step.attributes(), "stickiness.enabled": "true"})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(TG_ARN, drifted))
        assert [c.field for c in changes] == ["tags", "HealthCheckPath", "HealthyThresholdCount",
                                              "attributes"]
        aws.expect("elbv2", "add_tags", {}, {"ResourceArns": [TG_ARN],
                                             "Tags": aws_tags(step.tags())})
        aws.expect("elbv2", "modify_target_group", {}, {"TargetGroupArn": TG_ARN,
                                                        **step.health_check()})
        aws.expect("elbv2", "modify_target_group_attributes", {}, {
            "TargetGroupArn": TG_ARN,
            "Attributes": [{"Key": "stickiness.enabled", "Value": "false"}]})
        _expect_group_read(aws, step, _group_described(step))
        step.update(ctx, Resource(TG_ARN, drifted), changes)


# --------------------------------------------------------------------------- load balancer


def _balancer(config: PlatformConfig) -> LoadBalancerStep:
    return LoadBalancerStep(config, config.alb)


def _balancer_described(step: LoadBalancerStep, **edits: Any) -> dict[str, Any]:
    return {"LoadBalancerArn": LB_ARN, "LoadBalancerName": "vivr-alb",
            "Scheme": "internet-facing", "Type": "application", "IpAddressType": "ipv4",
            "State": {"Code": "active"}, "VpcId": "vpc-0a1b2c3d",
            "AvailabilityZones": [{"ZoneName": "us-east-1b", "SubnetId": "subnet-bbbb"},
                                  {"ZoneName": "us-east-1a", "SubnetId": "subnet-aaaa"}],
            "SecurityGroups": ["sg-alb"],
            "Attributes": {**step.attributes(), **OTHERS}, "TagMap": step.tags(), **edits}


def _expect_balancer_read(aws: StubbedAws, step: LoadBalancerStep,
                          data: dict[str, Any]) -> None:
    described = {k: v for k, v in data.items() if k not in ("Attributes", "TagMap")}
    aws.expect("elbv2", "describe_load_balancers", {"LoadBalancers": [described]},
               {"Names": ["vivr-alb"]})
    aws.expect("elbv2", "describe_tags", {"TagDescriptions": [
        {"ResourceArn": LB_ARN, "Tags": aws_tags(data["TagMap"])}]}, {"ResourceArns": [LB_ARN]})
    aws.expect("elbv2", "describe_load_balancer_attributes",
               {"Attributes": _pairs(data["Attributes"])}, {"LoadBalancerArn": LB_ARN})


def _attributes(step: LoadBalancerStep, **edits: str) -> dict[str, str]:
    return {**step.attributes(), **OTHERS, **edits}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"Scheme": "internal"}, [("Scheme", "internal", "internet-facing", True)]),
    ({"IpAddressType": "dualstack"}, [("IpAddressType", "dualstack", "ipv4", False)]),
    ({"AvailabilityZones": [{"ZoneName": "us-east-1a", "SubnetId": "subnet-aaaa"}]},
     [("subnets", ["subnet-aaaa"], ["subnet-aaaa", "subnet-bbbb"], False)]),
    ({"SecurityGroups": ["sg-alb", "sg-hand-made"]},
     [("security_groups", ["sg-alb", "sg-hand-made"], ["sg-alb"], False)]),
    # Every attribute the spec sets, each one row of the same change.
    ({"Attributes": {"idle_timeout.timeout_seconds": "4000"}},
     [("attributes", {"idle_timeout.timeout_seconds": "4000",
                      "deletion_protection.enabled": None,
                      "routing.http.drop_invalid_header_fields.enabled": None,
                      "routing.http2.enabled": None,
                      "routing.http.xff_header_processing.mode": None,
                      "access_logs.s3.enabled": None, "access_logs.s3.bucket": None,
                      "access_logs.s3.prefix": None},
       {"idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "true",
        "routing.http.drop_invalid_header_fields.enabled": "true",
        "routing.http2.enabled": "true", "routing.http.xff_header_processing.mode": "append",
        "access_logs.s3.enabled": "true", "access_logs.s3.bucket": "vivr-logs",
        "access_logs.s3.prefix": "alb"}, False)]),
])
def test_load_balancer_drift(config: PlatformConfig, edits: dict[str, Any],
                             expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = _balancer(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(LB_ARN, _balancer_described(step, **edits)))
    assert _changes(changes) == expected


@pytest.mark.parametrize(("attributes", "request_attributes"), [
    ({"deletion_protection.enabled": "false"},
     [{"Key": "deletion_protection.enabled", "Value": "true"}]),
    ({"routing.http2.enabled": "false", "idle_timeout.timeout_seconds": "120",
      "routing.http.drop_invalid_header_fields.enabled": "false",
      "routing.http.xff_header_processing.mode": "remove"},
     [{"Key": "idle_timeout.timeout_seconds", "Value": "60"},
      {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
      {"Key": "routing.http.xff_header_processing.mode", "Value": "append"},
      {"Key": "routing.http2.enabled", "Value": "true"}]),
    ({"access_logs.s3.enabled": "false", "access_logs.s3.bucket": "",
      "access_logs.s3.prefix": ""},
     [{"Key": "access_logs.s3.bucket", "Value": "vivr-logs"},
      {"Key": "access_logs.s3.enabled", "Value": "true"},
      {"Key": "access_logs.s3.prefix", "Value": "alb"}]),
])
def test_load_balancer_attributes_converge_in_one_call_with_only_what_differs(
        config: PlatformConfig, attributes: dict[str, str],
        request_attributes: list[dict[str, str]]) -> None:
    step = _balancer(config)
    drifted = _balancer_described(step, Attributes=_attributes(step, **attributes))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(LB_ARN, drifted))
        assert [c.field for c in changes] == ["attributes"]
        aws.expect("elbv2", "modify_load_balancer_attributes", {}, {
            "LoadBalancerArn": LB_ARN, "Attributes": request_attributes})
        _expect_balancer_read(aws, step, _balancer_described(step))
        step.update(ctx, Resource(LB_ARN, drifted), changes)


def test_load_balancer_placement_and_tags_each_have_their_call(config: PlatformConfig) -> None:
    step = _balancer(config)
    drifted = _balancer_described(
        step, IpAddressType="dualstack", SecurityGroups=["sg-other"], TagMap={"team": "web"},
        AvailabilityZones=[{"ZoneName": "us-east-1a", "SubnetId": "subnet-aaaa"}])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(LB_ARN, drifted))
        assert [c.field for c in changes] == ["tags", "IpAddressType", "subnets",
                                              "security_groups"]
        aws.expect("elbv2", "add_tags", {}, {"ResourceArns": [LB_ARN],
                                             "Tags": aws_tags(step.tags())})
        aws.expect("elbv2", "set_ip_address_type", {}, {"LoadBalancerArn": LB_ARN,
                                                        "IpAddressType": "ipv4"})
        aws.expect("elbv2", "set_subnets", {}, {"LoadBalancerArn": LB_ARN,
                                                "Subnets": ["subnet-aaaa", "subnet-bbbb"]})
        aws.expect("elbv2", "set_security_groups", {}, {"LoadBalancerArn": LB_ARN,
                                                        "SecurityGroups": ["sg-alb"]})
        _expect_balancer_read(aws, step, _balancer_described(step))
        step.update(ctx, Resource(LB_ARN, drifted), changes)


@pytest.mark.parametrize(("state", "found"), [("active", True), ("provisioning", True),
                                              ("failed", False)])
def test_a_failed_balancer_is_not_found(config: PlatformConfig, state: str,
                                        found: bool) -> None:
    step = _balancer(config)
    data = _balancer_described(step, State={"Code": state})
    with StubbedAws() as aws:
        described = {k: v for k, v in data.items() if k not in ("Attributes", "TagMap")}
        aws.expect("elbv2", "describe_load_balancers", {"LoadBalancers": [described]},
                   {"Names": ["vivr-alb"]})
        if found:
            aws.expect("elbv2", "describe_tags", {"TagDescriptions": [
                {"ResourceArn": LB_ARN, "Tags": aws_tags(step.tags())}]})
            aws.expect("elbv2", "describe_load_balancer_attributes",
                       {"Attributes": _pairs(data["Attributes"])})
        resource = step.lookup(aws.context(config, OUTPUTS))
    assert (resource is not None) is found
    if resource is not None:
        assert resource.data["Attributes"] == data["Attributes"]


# --------------------------------------------------------------------------- listeners


def _listener(config: PlatformConfig, port: int) -> ListenerStep:
    [listener] = [li for li in config.alb.listeners if li.port == port]
    # The origin check reads a secret; the listener's own rows are tested without it.
    alb = config.alb.model_copy(update={"origin_verify": None})
    return ListenerStep(config, alb, listener)


REDIRECT_301 = {"Type": "redirect", "Order": 1, "RedirectConfig": {
    "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}",
    "Query": "#{query}", "StatusCode": "HTTP_301"}}
FORWARD = {"Type": "forward", "Order": 1, "TargetGroupArn": TG_ARN, "ForwardConfig": {
    "TargetGroups": [{"TargetGroupArn": TG_ARN, "Weight": 1}]}}


def _listener_described(step: ListenerStep, **edits: Any) -> dict[str, Any]:
    """A listener as DescribeListeners reports it after CreateListener (AWS adds Order)."""
    data: dict[str, Any] = {"ListenerArn": LISTENER_ARN, "LoadBalancerArn": LB_ARN,
                            "Port": step.listener.port, "Protocol": step.listener.protocol,
                            "DefaultActions": [REDIRECT_301 if step.listener.port == 80
                                               else FORWARD]}
    if step.https:
        data["SslPolicy"] = step.listener.ssl_policy
        data["Certificates"] = [{"CertificateArn": CERT_ARN}]
    return {**data, "TagMap": step.tags(), "Rules": {}, "ForeignRules": [], **edits}


def _redirect(status: str) -> dict[str, Any]:
    return {**REDIRECT_301, "RedirectConfig": {**REDIRECT_301["RedirectConfig"],
                                               "StatusCode": status}}


@pytest.mark.parametrize(("port", "edits", "expected"), [
    (80, {}, []),
    (443, {}, []),
    # AWS reports the defaults of a redirect it was sent without them: the same action.
    (80, {"DefaultActions": [{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]}, []),
    # A TLS policy reported on an HTTP listener is moot.
    (80, {"SslPolicy": "ELBSecurityPolicy-2016-08"}, []),
    (80, {"DefaultActions": [_redirect("HTTP_302")]},
     [("DefaultActions",
       [("redirect", "HTTPS", "443", "#{host}", "/#{path}", "#{query}", "HTTP_302")],
       [("redirect", "HTTPS", "443", "#{host}", "/#{path}", "#{query}", "HTTP_301")], False)]),
    (443, {"SslPolicy": "ELBSecurityPolicy-2016-08"},
     [("SslPolicy", "ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
       False)]),
    (443, {"Certificates": [{"CertificateArn": "arn:old", "IsDefault": True},
                            {"CertificateArn": CERT_ARN, "IsDefault": False}]},
     [("Certificates", ["arn:old"], [CERT_ARN], False)]),
    (443, {"Protocol": "HTTP", "DefaultActions": [{"Type": "forward",
                                                   "TargetGroupArn": "arn:tg-other"}]},
     [("Protocol", "HTTP", "HTTPS", False),
      ("DefaultActions", [("forward", ("arn:tg-other",))], [("forward", (TG_ARN,))],
       False)]),
])
def test_listener_drift(config: PlatformConfig, port: int, edits: dict[str, Any],
                        expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = _listener(config, port)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(LISTENER_ARN, _listener_described(step, **edits)))
    assert _changes(changes) == expected


def _expect_listener_read(aws: StubbedAws, step: ListenerStep, data: dict[str, Any]) -> None:
    described = {k: v for k, v in data.items() if k not in ("TagMap", "Rules", "ForeignRules")}
    aws.expect("elbv2", "describe_listeners", {"Listeners": [described]},
               {"ListenerArns": [LISTENER_ARN]})
    aws.expect("elbv2", "describe_tags", {"TagDescriptions": [
        {"ResourceArn": LISTENER_ARN, "Tags": aws_tags(data["TagMap"])}]},
        {"ResourceArns": [LISTENER_ARN]})
    aws.expect("elbv2", "describe_rules", {"Rules": [{"RuleArn": f"{LISTENER_ARN}/default",
                                                      "Priority": "default",
                                                      "IsDefault": True}]},
               {"ListenerArn": LISTENER_ARN})


def test_a_hand_changed_redirect_is_shown_and_put_back_by_one_modify_listener(
        config: PlatformConfig) -> None:
    """Was e2e test_hand_changed_listener_is_reported_and_repaired."""
    step = _listener(config, 80)
    drifted = _listener_described(step, DefaultActions=[_redirect("HTTP_302")])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        [change] = step.diff(ctx, Resource(LISTENER_ARN, drifted))
        assert "HTTP_302" in change.describe() and "HTTP_301" in change.describe()
        aws.expect("elbv2", "modify_listener", {}, {
            "ListenerArn": LISTENER_ARN, "Protocol": "HTTP", "Port": 80,
            "DefaultActions": [{"Type": "redirect", "RedirectConfig": {
                "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}",
                "Query": "#{query}", "StatusCode": "HTTP_301"}}]})
        _expect_listener_read(aws, step, _listener_described(step))
        repaired = step.update(ctx, Resource(LISTENER_ARN, drifted), [change])
        assert step.diff(ctx, repaired) == []


def test_https_settings_go_in_one_modify_listener_and_tags_apart(
        config: PlatformConfig) -> None:
    step = _listener(config, 443)
    drifted = _listener_described(step, SslPolicy="ELBSecurityPolicy-2016-08",
                                  Certificates=[{"CertificateArn": "arn:old"}], TagMap={})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(LISTENER_ARN, drifted))
        assert [c.field for c in changes] == ["tags", "SslPolicy", "Certificates"]
        aws.expect("elbv2", "add_tags", {}, {"ResourceArns": [LISTENER_ARN],
                                             "Tags": aws_tags(step.tags())})
        aws.expect("elbv2", "modify_listener", {}, {
            "ListenerArn": LISTENER_ARN, "Protocol": "HTTPS", "Port": 443,
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}],
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
            "Certificates": [{"CertificateArn": CERT_ARN}]})
        _expect_listener_read(aws, step, _listener_described(step))
        step.update(ctx, Resource(LISTENER_ARN, drifted), changes)


# --------------------------------------------------------------------------- origin-check rules

SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:origin-verify-AbCdEf"
HEADER_VALUE = "s3cr3t-header-value"


def _guarded(config: PlatformConfig) -> ListenerStep:
    [listener] = [li for li in config.alb.listeners if li.port == 443]
    return ListenerStep(config, config.alb, listener)


def _rule(key: str, priority: int, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"RuleArn": f"{LISTENER_ARN}/rule/{key}", "Priority": str(priority),
            "IsDefault": False, "Conditions": conditions,
            "Actions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}


def test_rules_go_in_before_the_default_denies(config: PlatformConfig) -> None:
    """Turning the check on: create the rules, then ModifyListener to deny, never the reverse
    (CloudFront's own requests would be refused in between)."""
    step = _guarded(config)
    open_forward = _listener_described(step)  # forwards to everybody, no rules yet
    outputs = {**OUTPUTS, "secret.origin_verify": {"arn": SECRET_ARN}}
    with StubbedAws() as aws:
        ctx = aws.context(config, outputs)
        aws.expect("secretsmanager", "get_secret_value", {"SecretString": HEADER_VALUE},
                   {"SecretId": SECRET_ARN})
        changes = step.diff(ctx, Resource(LISTENER_ARN, open_forward))
        assert [c.field for c in changes] == ["DefaultActions", "rule.open-paths",
                                              "rule.origin-verify"]
        assert all(HEADER_VALUE not in c.describe() for c in changes)
        assert "secret origin_verify" in changes[2].describe()
        # The update writes the value the diff read: a run reads it once.
        forward = [{"Type": "forward", "TargetGroupArn": TG_ARN}]
        aws.expect("elbv2", "create_rule", {}, {
            "ListenerArn": LISTENER_ARN, "Priority": 2, "Actions": forward,
            "Conditions": [{"Field": "path-pattern",
                            "PathPatternConfig": {"Values": ["/api/health"]}},
                           {"Field": "http-request-method",
                            "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}}],
            "Tags": aws_tags(step.rule_tags("open-paths"))})
        # Writing the origin-verify rule: is a rotation under way (no AWSPENDING here)?
        aws.expect("secretsmanager", "describe_secret",
                   {"VersionIdsToStages": {"a" * 32: ["AWSCURRENT"]}}, {"SecretId": SECRET_ARN})
        aws.expect("elbv2", "create_rule", {}, {
            "ListenerArn": LISTENER_ARN, "Priority": 1, "Actions": forward,
            "Conditions": [{"Field": "http-header", "HttpHeaderConfig": {
                "HttpHeaderName": "X-Origin-Verify", "Values": [HEADER_VALUE]}}],
            "Tags": aws_tags(step.rule_tags("origin-verify"))})
        aws.expect("elbv2", "modify_listener", {}, {
            "ListenerArn": LISTENER_ARN, "Protocol": "HTTPS", "Port": 443,
            "DefaultActions": [{"Type": "fixed-response",
                                "FixedResponseConfig": {"StatusCode": "403"}}],
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
            "Certificates": [{"CertificateArn": CERT_ARN}]})
        _expect_listener_read(aws, step, _listener_described(step))
        step.update(ctx, Resource(LISTENER_ARN, open_forward), changes)


def test_rules_go_out_only_after_the_default_forwards_again(config: PlatformConfig) -> None:
    """Turning the check off: ModifyListener to forward first, then delete our rules."""
    step = _listener(config, 443)  # origin_verify removed from the config
    header = [{"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Origin-Verify", "Values": ["sha256:digest"]}}]
    guarded = _listener_described(
        step, DefaultActions=[{"Type": "fixed-response", "Order": 1,
                               "FixedResponseConfig": {"StatusCode": "403"}}],
        Rules={"origin-verify": {**_rule("origin-verify", 1, header),
                                 "TagMap": step.rule_tags("origin-verify")}})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(LISTENER_ARN, guarded))
        assert [(c.field, c.desired) for c in changes][1:] == [("rule.origin-verify", None)]
        aws.expect("elbv2", "modify_listener", {}, {
            "ListenerArn": LISTENER_ARN, "Protocol": "HTTPS", "Port": 443,
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}],
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
            "Certificates": [{"CertificateArn": CERT_ARN}]})
        aws.expect("elbv2", "delete_rule", {}, {"RuleArn": f"{LISTENER_ARN}/rule/origin-verify"})
        _expect_listener_read(aws, step, _listener_described(step))
        step.update(ctx, Resource(LISTENER_ARN, guarded), changes)


# --------------------------------------------------------------------------- rotation
CURRENT_ID, PENDING_ID, PREVIOUS_ID = "c" * 32, "p" * 32, "o" * 32
PENDING_VALUE, PREVIOUS_VALUE = "n3w-header-value", "0ld-header-value"


def _expect_versions(aws: StubbedAws, stages: dict[str, list[str]],
                     values: dict[str, tuple[str, str]]) -> None:
    """DescribeSecret's stages, then GetSecretValue of each other version read."""
    aws.expect("secretsmanager", "describe_secret", {"VersionIdsToStages": stages},
               {"SecretId": SECRET_ARN})
    for stage, (version, value) in values.items():
        aws.expect("secretsmanager", "get_secret_value", {"SecretString": value},
                   {"SecretId": SECRET_ARN, "VersionId": version, "VersionStage": stage})


@pytest.mark.parametrize(("accepted", "stages", "read", "drifted"), [
    # No rotation ever: the current value alone, nothing more is read.
    ([HEADER_VALUE], None, {}, False),
    # After a rotation: the previous value stays accepted until the next one.
    ([HEADER_VALUE, PREVIOUS_VALUE],
     {CURRENT_ID: ["AWSCURRENT", "AWSPENDING"], PREVIOUS_ID: ["AWSPREVIOUS"]},
     {"AWSPREVIOUS": (PREVIOUS_ID, PREVIOUS_VALUE)}, False),
    # A rotation under way (setSecret done): current and pending.
    ([HEADER_VALUE, PENDING_VALUE],
     {CURRENT_ID: ["AWSCURRENT"], PENDING_ID: ["AWSPENDING"]},
     {"AWSPENDING": (PENDING_ID, PENDING_VALUE)}, False),
    # A value no version of the secret holds: drift.
    ([HEADER_VALUE, "somebody-else"], {CURRENT_ID: ["AWSCURRENT"]}, {}, True),
    # The current value missing: drift, whatever else is there.
    ([PREVIOUS_VALUE], None, {}, True),
])
def test_the_origin_verify_rule_may_hold_the_values_of_a_rotation(
        config: PlatformConfig, accepted: list[str], stages: dict[str, list[str]] | None,
        read: dict[str, tuple[str, str]], drifted: bool) -> None:
    step = _guarded(config)
    header = [{"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Origin-Verify", "Values": [digest(v) for v in accepted]}}]
    described = _listener_described(step, Rules={"origin-verify": {
        **_rule("origin-verify", 1, header), "TagMap": step.rule_tags("origin-verify")}})
    with StubbedAws() as aws:
        aws.expect("secretsmanager", "get_secret_value", {"SecretString": HEADER_VALUE},
                   {"SecretId": SECRET_ARN})
        if stages is not None:
            _expect_versions(aws, stages, read)
        ctx = aws.context(config, {**OUTPUTS, "secret.origin_verify": {"arn": SECRET_ARN}})
        changes = [c for c in step.diff(ctx, Resource(LISTENER_ARN, described))
                   if c.field == "rule.origin-verify"]
    assert bool(changes) is drifted
    assert all(v not in c.describe() for c in changes for v in accepted)


def test_a_rule_written_during_a_rotation_accepts_the_pending_value_too(
        config: PlatformConfig) -> None:
    """A repair while the rotation runs must not refuse what CloudFront may already send."""
    step = _guarded(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, {**OUTPUTS, "secret.origin_verify": {"arn": SECRET_ARN}})
        aws.expect("secretsmanager", "get_secret_value", {"SecretString": HEADER_VALUE},
                   {"SecretId": SECRET_ARN})
        wanted, _ = step.wanted_rules(ctx)
        _expect_versions(aws, {CURRENT_ID: ["AWSCURRENT"], PENDING_ID: ["AWSPENDING"]},
                         {"AWSPENDING": (PENDING_ID, PENDING_VALUE)})
        written = step.written_conditions(ctx, wanted["origin-verify"])
    assert written == [{"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Origin-Verify", "Values": [HEADER_VALUE, PENDING_VALUE]}}]
