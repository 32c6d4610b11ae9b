"""The load balancer, its certificate and the hosted zone, through the real CLI.

Expected values are the spec's ("Load Balancer Configuration"; Route53 and
ACM in the architecture; ../shared/spec/infrastructure-requirements.md),
written here rather than read from config, so a wrong config fails.
Settings the emulator does not keep are checked in the request the tool
sent (``aws.requests``), which is what real AWS would receive.
Single drift rules (a hand-changed listener, a deleted validation record)
are proven on stubbed clients: tests/unit/test_alb_drift.py and
tests/unit/test_dns_drift.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Aws
from tests.e2e.inventory import tags_of
from vivr_sandbox.dns import registrar

pytestmark = pytest.mark.e2e

LISTENERS = ("--target", "alb-listener.443", "--target", "alb-listener.80")
EDGE_STEPS = {"route53-zone", "acm", "alb-target-group", "alb", "alb-listener.443",
              "alb-listener.80"}
EDGE_KINDS = ("load_balancers", "listeners", "target_groups", "certificates")
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
DOMAIN = "vivr.example.com"
ZONE = "vivr.example.com."
ORIGIN_SECRET = "vivr/production/cloudfront/origin-verify"


def _owned(tags: dict[str, str], name: str) -> None:
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    assert tags.get("Name") == name


def _elb_tags(aws: Aws, arn: str) -> dict[str, str]:
    return tags_of(aws.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"][0])


def _attributes(items: list[dict[str, str]]) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in items}


def _names_of(aws: Aws, describe: str, key: str, id_key: str, ids: list[str]) -> set[str]:
    items = getattr(aws.client("ec2"), describe)(**{id_key: ids})[key]
    return {tags_of(i)["Name"] for i in items}


def _zone(aws: Aws) -> dict[str, Any]:
    zones = [z for z in aws.client("route53").list_hosted_zones()["HostedZones"]
             if z["Name"] == ZONE]
    assert len(zones) == 1, zones
    return dict(zones[0])


def _records(aws: Aws, zone_id: str) -> list[dict[str, Any]]:
    return list(aws.client("route53").list_resource_record_sets(
        HostedZoneId=zone_id)["ResourceRecordSets"])


def _balancer(aws: Aws) -> dict[str, Any]:
    balancers = aws.client("elbv2").describe_load_balancers(Names=["vivr-alb"])["LoadBalancers"]
    assert len(balancers) == 1, "exactly one vivr-alb"
    return dict(balancers[0])


def _listeners(aws: Aws) -> dict[int, dict[str, Any]]:
    listeners = aws.client("elbv2").describe_listeners(
        LoadBalancerArn=_balancer(aws)["LoadBalancerArn"])["Listeners"]
    by_port = {listener["Port"]: dict(listener) for listener in listeners}
    assert len(by_port) == len(listeners), "one listener per port"
    return by_port


def _edge_listing(aws: Aws) -> dict[str, Any]:
    listing = aws.inventory()
    return {"hosted_zones": listing["hosted_zones"],
            **{kind: listing["us-east-1"][kind] for kind in EDGE_KINDS}}


def test_plan_on_a_fresh_account_creates_every_edge_step(aws: Aws) -> None:
    code, report = aws.cli_json("plan")
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert {actions[s] for s in EDGE_STEPS} == {"create"}
    assert aws.mutating_calls() == []


def test_apply_builds_the_load_balancer_as_the_spec_says(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, report
    assert {s["step"] for s in report["steps"]} >= EDGE_STEPS
    elbv2 = aws.client("elbv2")

    # Load balancer: internet-facing application LB in public-1a/1b behind vivr-alb-sg.
    alb = _balancer(aws)
    assert (alb["Scheme"], alb["Type"], alb["IpAddressType"]) == \
        ("internet-facing", "application", "ipv4")
    assert alb["State"]["Code"] == "active"
    subnets = [z["SubnetId"] for z in alb["AvailabilityZones"]]
    assert _names_of(aws, "describe_subnets", "Subnets", "SubnetIds", subnets) == \
        {"public-1a", "public-1b"}
    groups = aws.client("ec2").describe_security_groups(GroupIds=alb["SecurityGroups"])
    assert [g["GroupName"] for g in groups["SecurityGroups"]] == ["vivr-alb-sg"]
    assert _names_of(aws, "describe_vpcs", "Vpcs", "VpcIds", [alb["VpcId"]]) == {"vivr-vpc"}
    _owned(_elb_tags(aws, alb["LoadBalancerArn"]), "vivr-alb")
    attributes = _attributes(elbv2.describe_load_balancer_attributes(
        LoadBalancerArn=alb["LoadBalancerArn"])["Attributes"])
    assert attributes["access_logs.s3.enabled"] == "true"       # spec: access logs to S3
    assert attributes["access_logs.s3.bucket"] == "vivr-logs"  # spec: access logs to S3
    assert attributes["access_logs.s3.prefix"] == "alb"
    assert attributes["routing.http.xff_header_processing.mode"] == "append"  # client IP
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "true"

    # Target group: HTTP 3000, IP targets, /api/health every 30 s.
    group = elbv2.describe_target_groups(Names=["vivr-app-tg"])["TargetGroups"][0]
    assert (group["Protocol"], group["Port"], group["TargetType"], group["VpcId"]) == \
        ("HTTP", 3000, "ip", alb["VpcId"])
    assert (group["HealthCheckPath"], group["HealthCheckProtocol"], group["HealthCheckPort"]) \
        == ("/api/health", "HTTP", "3000")
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"],
            group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (30, 5, 2, 2)
    _owned(_elb_tags(aws, group["TargetGroupArn"]), "vivr-app-tg")
    group_attributes = _attributes(elbv2.describe_target_group_attributes(
        TargetGroupArn=group["TargetGroupArn"])["Attributes"])
    assert group_attributes["deregistration_delay.timeout_seconds"] == "30"
    assert group_attributes["stickiness.enabled"] == "false"
    assert group_attributes["stickiness.type"] == "lb_cookie"

    # Certificate: issued for vivr.example.com (+ www), validated by DNS in our zone.
    acm = aws.client("acm")
    arns = [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]]
    assert len(arns) == 1
    certificate = acm.describe_certificate(CertificateArn=arns[0])["Certificate"]
    assert certificate["Status"] == "ISSUED"
    assert certificate["DomainName"] == DOMAIN
    # origin.: the failover name CloudFront's app origin is (issue 11), derived.
    assert set(certificate["SubjectAlternativeNames"]) == \
        {DOMAIN, f"www.{DOMAIN}", f"origin.{DOMAIN}"}
    _owned(tags_of(acm.list_tags_for_certificate(CertificateArn=arns[0])), DOMAIN)
    zone = _zone(aws)
    assert zone["Config"]["PrivateZone"] is False
    records = {(r["Name"], r["Type"]): [v["Value"] for v in r.get("ResourceRecords", [])]
               for r in _records(aws, zone["Id"])}
    for option in certificate["DomainValidationOptions"]:
        wanted = option["ResourceRecord"]
        assert records[(wanted["Name"], "CNAME")] == [wanted["Value"]], option["DomainName"]
    zone_tags = aws.client("route53").list_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone["Id"].rsplit("/", 1)[-1])
    _owned(tags_of(zone_tags["ResourceTagSet"]), DOMAIN)

    # Listeners: 443 forwards with the certificate and a TLS 1.3 policy; 80 redirects (301).
    listeners = _listeners(aws)
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert [c["CertificateArn"] for c in https["Certificates"]] == [arns[0]]
    # Issue 12: FIPS and post-quantum, TLS 1.3 and 1.2 (spec "TLS 1.2+").
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09"
    # Forwarding only with CloudFront's header (test_https_serves_only_cloudfront below).
    assert [(a["Type"], a["FixedResponseConfig"]["StatusCode"])
            for a in https["DefaultActions"]] == [("fixed-response", "403")]
    http = listeners[80]
    assert http["Protocol"] == "HTTP"
    redirect = http["DefaultActions"][0]["RedirectConfig"]
    assert (http["DefaultActions"][0]["Type"], redirect["Protocol"], redirect["Port"],
            redirect["StatusCode"]) == ("redirect", "HTTPS", "443", "HTTP_301")
    for listener in listeners.values():
        _owned(_elb_tags(aws, listener["ListenerArn"]),
               f"vivr-alb-{listener['Protocol'].lower()}-{listener['Port']}")

    # What the emulator does not keep or honour, in the requests themselves.
    [requested] = aws.requests("RequestCertificate")
    assert requested["ValidationMethod"] == "DNS"
    assert requested["KeyAlgorithm"] == "RSA_2048"
    assert re.fullmatch(r"\w{1,32}", requested["IdempotencyToken"])
    [zone_request] = aws.requests("CreateHostedZone")
    state = json.loads(aws.state_path.read_text())
    assert zone_request["CallerReference"] == state["steps"]["route53-zone"]["token"], \
        "CallerReference is the step's recorded token, so a retried create is recognised"
    sent = {r["Port"]: r for r in aws.requests("CreateListener")}
    assert "SslPolicy" not in sent[80], "an HTTP listener carries no TLS policy"
    assert sent[443]["SslPolicy"] == https["SslPolicy"]

    # A second apply finds everything as it is and changes nothing.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, report
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []


def test_destroy_gives_back_what_apply_added(aws: Aws) -> None:
    before = _edge_listing(aws)
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    targets = ("--target", "route53-zone", "--target", "acm", "--target", "alb-target-group",
               "--target", "alb")

    # The spec's deletion protection holds until the operator lifts it.
    mark = len(aws.calls())
    protected = aws.cli("destroy", "--yes", *targets)
    assert protected.returncode == 1
    assert "! vivr-alb has deletion protection" in protected.stdout
    assert "protected one(s) (alb); nothing was deleted" in protected.stderr
    assert aws.mutating_calls(since=mark) == []
    assert _balancer(aws)["State"]["Code"] == "active"
    assert aws.client("elbv2").describe_target_groups(Names=["vivr-app-tg"])["TargetGroups"], \
        "the target group goes only after the load balancer"

    code, report = aws.cli_json("destroy", "--yes", "--disable-deletion-protection", *targets)
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert set(actions) >= EDGE_STEPS  # destroy targets take their dependents
    assert (actions["alb"], actions["alb-target-group"]) == ("deleted", "deleted")
    assert _edge_listing(aws) == before
    lifted = [r for r in aws.requests("ModifyLoadBalancerAttributes")
              if {"Key": "deletion_protection.enabled", "Value": "false"} in r["Attributes"]]
    assert len(lifted) == 1

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes", *targets)
    assert code == 0 and {s["action"] for s in report["steps"]} == {"absent"}
    assert aws.mutating_calls(since=mark) == []


def test_zone_is_adopted_after_a_crash_but_never_a_foreign_one(aws: Aws) -> None:
    route53 = aws.client("route53")
    foreign = route53.create_hosted_zone(Name=ZONE, CallerReference="someone-else")
    result = aws.cli("apply", "--target", "route53-zone")
    assert result.returncode == 1
    assert "not created by vivr-provision" in result.stderr
    route53.delete_hosted_zone(Id=foreign["HostedZone"]["Id"])

    # A crash between CreateHostedZone and its tagging call leaves an untagged
    # zone whose CallerReference is the step's deterministic token.
    assert aws.cli("apply", "--target", "route53-zone").returncode == 0
    token = aws.requests("CreateHostedZone")[0]["CallerReference"]
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    zone_id = _zone(aws)["Id"]
    route53.change_tags_for_resource(ResourceType="hostedzone",
                                     ResourceId=zone_id.rsplit("/", 1)[-1],
                                     RemoveTagKeys=["ManagedBy", "Project", "Environment",
                                                    "Name", "vivr:step"])
    aws.state_path.unlink()
    code, report = aws.cli_json("apply", "--target", "route53-zone")
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["route53-zone"] == "updated"
    assert _zone(aws)["Id"] == zone_id, "adopted, not duplicated"


def test_zone_with_records_of_others_is_not_deleted(aws: Aws) -> None:
    assert aws.cli("apply", "--target", "route53-zone").returncode == 0
    zone_id = _zone(aws)["Id"]
    record = {"Name": f"mail.{ZONE}", "Type": "MX", "TTL": 300,
              "ResourceRecords": [{"Value": "10 mx.example.net."}]}
    route53 = aws.client("route53")
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]})

    result = aws.cli("destroy", "--yes", "--target", "route53-zone")
    assert result.returncode == 1
    assert f"mail.{ZONE} MX" in result.stderr
    assert _zone(aws)["Id"] == zone_id

    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]})
    assert aws.cli("destroy", "--yes", "--target", "route53-zone").returncode == 0
    assert aws.client("route53").list_hosted_zones()["HostedZones"] == []


def _rules(aws: Aws, region: str = "us-east-1") -> dict[str, dict[str, Any]]:
    """The HTTPS listener's rules by priority ("default" included), with their tags."""
    elbv2 = aws.client("elbv2", region)
    balancer = elbv2.describe_load_balancers()["LoadBalancers"][0]
    [https] = [li for li in elbv2.describe_listeners(
        LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"] if li["Port"] == 443]
    rules = elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]
    return {str(r["Priority"]): {**r, "Tags": _elb_tags(aws, r["RuleArn"])
                                 if not r["IsDefault"] else {}} for r in rules}


def _condition(rule: dict[str, Any], field: str) -> dict[str, Any]:
    [condition] = [c for c in rule["Conditions"] if c["Field"] == field]
    return dict(condition)


def test_https_serves_only_cloudfront(aws: Aws) -> None:
    """Spec: CloudFront sends X-Origin-Verify; the ALB forwards nothing else but the health path.

    The emulator does not evaluate listener rules on traffic: the rules are
    read back, and what a request without the header gets is the default
    action (fixed response 403).
    """
    result = aws.cli("apply", "--target", "alb-listener.443", "--output", "json")
    assert result.returncode == 0, result.stderr
    value = aws.client("secretsmanager").get_secret_value(SecretId=ORIGIN_SECRET)["SecretString"]
    group = aws.client("elbv2").describe_target_groups(Names=["vivr-app-tg"])["TargetGroups"][0]
    forward = [("forward", group["TargetGroupArn"])]

    rules = _rules(aws)
    assert set(rules) == {"default", "1", "2"}
    [deny] = rules["default"]["Actions"]
    assert (deny["Type"], deny["FixedResponseConfig"]["StatusCode"]) == ("fixed-response", "403")
    header = _condition(rules["1"], "http-header")["HttpHeaderConfig"]
    assert (header["HttpHeaderName"], header["Values"]) == ("X-Origin-Verify", [value])
    assert [(a["Type"], a["TargetGroupArn"]) for a in rules["1"]["Actions"]] == forward
    assert len(rules["1"]["Conditions"]) == 1, "the header alone opens the listener"
    # Route 53 health checkers send no header: /api/health alone, GET/HEAD only.
    assert _condition(rules["2"], "path-pattern")["PathPatternConfig"]["Values"] == \
        ["/api/health"]
    assert sorted(_condition(rules["2"], "http-request-method")[
        "HttpRequestMethodConfig"]["Values"]) == ["GET", "HEAD"]
    assert [(a["Type"], a["TargetGroupArn"]) for a in rules["2"]["Actions"]] == forward
    for priority, key in (("1", "origin-verify"), ("2", "open-paths")):
        _owned(rules[priority]["Tags"], f"vivr-alb-https-443-{key}")
        assert rules[priority]["Tags"]["vivr:rule"] == key
    # The listener is created denying; its rules come after (never open in between).
    [created] = aws.requests("CreateListener")
    assert created["DefaultActions"] == [
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}]
    assert len(aws.requests("CreateRule")) == 2
    # The value goes to AWS and nowhere else.
    assert value not in aws.state_path.read_text()
    assert value not in result.stdout + result.stderr

    # A hand-edited value is drift: plan names the rule, never either value.
    aws.client("elbv2").modify_rule(RuleArn=rules["1"]["RuleArn"], Conditions=[
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Origin-Verify",
                                                     "Values": ["guessed-value"]}}])
    aws.client("elbv2").delete_rule(RuleArn=rules["2"]["RuleArn"])
    plan = aws.cli("plan", "--output", "json")
    assert plan.returncode == 0, plan.stderr
    step = {s["step"]: s for s in json.loads(plan.stdout)["steps"]}["alb-listener.443"]
    changes = " ".join(step["changes"])
    assert step["action"] == "update", step
    assert "rule.origin-verify" in changes and "another value" in changes
    assert "secret origin_verify" in changes
    assert "rule.open-paths: None ->" in changes
    for secret in (value, "guessed-value"):
        assert secret not in plan.stdout + plan.stderr

    result = aws.cli("apply", "--target", "alb-listener.443", "--output", "json")
    assert result.returncode == 0, result.stderr
    actions = {s["step"]: s["action"] for s in json.loads(result.stdout)["steps"]}
    assert actions["alb-listener.443"] == "updated"
    repaired = _rules(aws)
    assert _condition(repaired["1"], "http-header")["HttpHeaderConfig"]["Values"] == [value]
    assert repaired["1"]["RuleArn"] == rules["1"]["RuleArn"], "modified in place"
    assert "2" in repaired and repaired["2"]["Tags"]["vivr:rule"] == "open-paths"
    assert value not in aws.state_path.read_text() + result.stdout + result.stderr
    code, report = aws.cli_json("apply", "--target", "alb-listener.443")
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}


def _acm_config(aws: Aws, **acm: Any) -> Path:
    data = yaml.safe_load(aws.config.read_text())
    data["acm"].update(acm)
    path = aws.workdir / f"production-acm-{len(list(aws.workdir.glob('production-acm-*')))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _name_servers(aws: Aws) -> list[str]:
    zone_id = _zone(aws)["Id"]
    return list(aws.client("route53").get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"])


def test_an_undelegated_zone_fails_validation_fast_with_the_name_servers_to_set(
        aws: Aws) -> None:
    """The registrar (outside the account) still points elsewhere: ACM can never validate."""
    config = _acm_config(aws, delegation_check_after_seconds=2)
    registrar.point(aws.account, DOMAIN, ["ns1.previous-dns-host.example"])
    try:
        started = time.monotonic()
        code, report = aws.cli_json("apply", "--target", "acm", config=config)
        elapsed = time.monotonic() - started
        assert code == 1, report
        step = {s["step"]: s for s in report["steps"]}["acm"]
        assert step["action"] == "failed"
        error = step["error"]
        assert "PENDING_VALIDATION 2s after its validation records went into" in error
        assert "most likely not delegated" in error and "could not be checked" in error
        servers = _name_servers(aws)
        assert len(servers) == 4 and all(ns in error for ns in servers), error
        assert "\n" not in error and "rerun apply" in error
        assert elapsed < 60, "fails after the configured 2 s, not the 60-minute budget"
        # State saved: the certificate is recorded, so a rerun resumes on it.
        [arn] = [c["CertificateArn"] for c in aws.client("acm").list_certificates()[
            "CertificateSummaryList"]]
        record = json.loads(aws.state_path.read_text())["steps"]["acm"]
        assert (record["status"], record["resource_id"]) == ("failed", arn)
        assert aws.client("acm").describe_certificate(CertificateArn=arn)["Certificate"][
            "Status"] == "PENDING_VALIDATION"
    finally:
        registrar.clear(aws.account, DOMAIN)

    # The operator set the name servers at the registrar: the rerun finishes on the same one.
    started = time.monotonic()
    code, report = aws.cli_json("apply", "--target", "acm", config=config)
    assert code == 0, report
    assert time.monotonic() - started < 30
    assert len(aws.requests("RequestCertificate")) == 1
    assert aws.client("acm").describe_certificate(CertificateArn=arn)["Certificate"][
        "Status"] == "ISSUED"


def test_wait_mode_says_why_it_waits_and_finishes_once_the_parent_zone_delegates(
        aws: Aws) -> None:
    """A parent zone in the same account is checkable: no NS record for us means no delegation."""
    route53 = aws.client("route53")
    parent = route53.create_hosted_zone(Name="example.com", CallerReference="parent-zone")[
        "HostedZone"]["Id"]
    aws.config = _acm_config(aws, on_undelegated_zone="wait")
    process = aws.popen("apply", "--target", "acm")
    try:
        deadline, reason = time.monotonic() + 60, None
        assert process.stderr is not None
        while reason is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if "acm.validation.blocked" in line:
                reason = json.loads(line)["reason"]
        assert reason is not None, "the wait states its reason"
        assert "cannot validate: hosted zone vivr.example.com is not delegated" in reason
        assert "parent zone example.com in this account has no NS record" in reason
        servers = _name_servers(aws)
        assert all(ns in reason for ns in servers), reason
        assert "in hosted zone example.com" in reason
        assert process.poll() is None, "still waiting, as configured"
        # What the message asks for: the delegation in the parent zone.
        route53.change_resource_record_sets(HostedZoneId=parent, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {
                "Name": DOMAIN, "Type": "NS", "TTL": 172800,
                "ResourceRecords": [{"Value": ns} for ns in servers]}}]})
        process.communicate(timeout=90)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    [summary] = aws.client("acm").list_certificates()["CertificateSummaryList"]
    assert aws.client("acm").describe_certificate(CertificateArn=summary["CertificateArn"])[
        "Certificate"]["Status"] == "ISSUED"
