"""The DR region's standby ALB, through the real CLI.

Spec "Disaster Recovery / Failover Architecture": the failover region
us-west-2 holds a standby ALB that Route 53 fails over to.  Expected values
are written here rather than read from config (the spec's listener rules as
the primary's: HTTPS 443 with the certificate for vivr.example.com, HTTP 80
redirecting with a 301; the agreed DR network: two public subnets in
us-west-2a/b behind vivr-dr-alb-sg), so a wrong config fails.  Everything is
read back with boto3 in us-west-2.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws
from tests.e2e.inventory import tags_of

pytestmark = pytest.mark.e2e

DR = "us-west-2"
LISTENERS = ("--target", "dr.alb-listener.443", "--target", "dr.alb-listener.80")
DR_STEPS = {"dr.vpc", "dr.igw", "dr.subnet.dr-public-2a", "dr.subnet.dr-public-2b",
            "dr.rtb.vivr-dr-public-rt", "dr.sg.vivr-dr-alb-sg", "dr.sg-rules.vivr-dr-alb-sg",
            "dr.acm", "dr.alb-target-group", "dr.alb", "dr.alb-listener.443",
            "dr.alb-listener.80", "dr.s3.logs"}
DOMAIN = "vivr.example.com"
ZONE = f"{DOMAIN}."
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
ANY = "0.0.0.0/0"


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _owned(tags: dict[str, str], name: str) -> None:
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    assert tags.get("Name") == name


def _balancer(aws: Aws) -> dict[str, Any]:
    [balancer] = aws.client("elbv2", DR).describe_load_balancers(
        Names=["vivr-dr-alb"])["LoadBalancers"]
    return dict(balancer)


def _listeners(aws: Aws) -> dict[int, dict[str, Any]]:
    listeners = aws.client("elbv2", DR).describe_listeners(
        LoadBalancerArn=_balancer(aws)["LoadBalancerArn"])["Listeners"]
    by_port = {listener["Port"]: dict(listener) for listener in listeners}
    assert len(by_port) == len(listeners), "one listener per port"
    return by_port


def _certificates(aws: Aws, region: str) -> list[str]:
    return [c["CertificateArn"] for c in
            aws.client("acm", region).list_certificates()["CertificateSummaryList"]]


def _validation_cnames(aws: Aws) -> dict[str, list[str]]:
    route53 = aws.client("route53")
    [zone] = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == ZONE]
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    return {r["Name"]: [v["Value"] for v in r["ResourceRecords"]] for r in records
            if r["Type"] == "CNAME" and r["Name"].startswith("_")}


def _requests_in(aws: Aws, operation: str, region: str) -> list[dict[str, Any]]:
    """Parameters of every ``operation`` the CLI sent to ``region``."""
    calls = [json.loads(line) for line in aws.record_path.read_text().splitlines()]
    return [c["params"] for c in calls if c["operation"] == operation and c["region"] == region]


def test_apply_builds_the_standby_alb_in_the_dr_region(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    actions = _actions(report)
    assert {actions[s] for s in DR_STEPS} == {"created"}
    assert not [s for s in actions if s.startswith(("alb", "ecs", "dns-failover"))], \
        "the standby needs nothing of the primary's balancer"
    ec2, elbv2 = aws.client("ec2", DR), aws.client("elbv2", DR)

    # Internet-facing, in the two DR public subnets (one per AZ), behind vivr-dr-alb-sg.
    alb = _balancer(aws)
    assert (alb["Scheme"], alb["Type"], alb["IpAddressType"], alb["State"]["Code"]) == \
        ("internet-facing", "application", "ipv4", "active")
    assert alb["LoadBalancerArn"].split(":")[3] == DR
    subnets = ec2.describe_subnets(
        SubnetIds=[z["SubnetId"] for z in alb["AvailabilityZones"]])["Subnets"]
    assert {tags_of(s)["Name"]: (s["CidrBlock"], s["AvailabilityZone"]) for s in subnets} == {
        "dr-public-2a": ("10.1.1.0/24", "us-west-2a"),
        "dr-public-2b": ("10.1.2.0/24", "us-west-2b")}
    [vpc] = ec2.describe_vpcs(VpcIds=[alb["VpcId"]])["Vpcs"]
    assert (tags_of(vpc)["Name"], vpc["CidrBlock"]) == ("vivr-dr-vpc", "10.1.0.0/16")
    [group] = ec2.describe_security_groups(GroupIds=alb["SecurityGroups"])["SecurityGroups"]
    assert group["GroupName"] == "vivr-dr-alb-sg"
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
    [app] = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["vivr-dr-app-sg"]}])["SecurityGroups"]
    assert {(r["IsEgress"], r["IpProtocol"], r["FromPort"], r["ToPort"],
             r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"])
            for r in rules} == {(False, "tcp", 80, 80, ANY), (False, "tcp", 443, 443, ANY),
                                (True, "tcp", 3000, 3000, app["GroupId"])}
    # Reachable: both subnets route 0.0.0.0/0 to the DR VPC's internet gateway.
    [igw] = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    for subnet in subnets:
        [table] = ec2.describe_route_tables(Filters=[
            {"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}])["RouteTables"]
        assert {r.get("DestinationCidrBlock"): r.get("GatewayId") for r in table["Routes"]}[
            ANY] == igw["InternetGatewayId"]
    _owned(tags_of(elbv2.describe_tags(ResourceArns=[alb["LoadBalancerArn"]])[
        "TagDescriptions"][0]), "vivr-dr-alb")
    attributes = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
        LoadBalancerArn=alb["LoadBalancerArn"])["Attributes"]}
    assert attributes["deletion_protection.enabled"] == "true"
    # Access logs (issue 12) into the DR site's log bucket, in us-west-2 as an ALB
    # requires, under alb/ as the primary's; its policy admits ELB's delivery there.
    assert {k: attributes[k] for k in ("access_logs.s3.enabled", "access_logs.s3.bucket",
                                       "access_logs.s3.prefix")} == {
        "access_logs.s3.enabled": "true", "access_logs.s3.bucket": "vivr-logs-dr",
        "access_logs.s3.prefix": "alb"}
    west = aws.client("s3", DR)
    assert west.get_bucket_location(Bucket="vivr-logs-dr")["LocationConstraint"] == DR
    delivery = [s for s in json.loads(west.get_bucket_policy(Bucket="vivr-logs-dr")["Policy"])[
        "Statement"] if s["Principal"] == {
            "Service": "logdelivery.elasticloadbalancing.amazonaws.com"}]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in delivery] == [
        ("Allow", "s3:PutObject", f"arn:aws:s3:::vivr-logs-dr/alb/AWSLogs/{aws.account}/*")]

    # A standby: its target group is empty until the standby tier is activated.
    [target_group] = elbv2.describe_target_groups(Names=["vivr-dr-app-tg"])["TargetGroups"]
    assert (target_group["Protocol"], target_group["Port"], target_group["TargetType"],
            target_group["VpcId"], target_group["HealthCheckPath"]) == \
        ("HTTP", 3000, "ip", alb["VpcId"], "/api/health")
    assert elbv2.describe_target_health(
        TargetGroupArn=target_group["TargetGroupArn"])["TargetHealthDescriptions"] == []

    # HTTPS 443 with an ISSUED us-west-2 certificate for vivr.example.com (+ www).
    [dr_arn] = _certificates(aws, DR)
    [primary_arn] = _certificates(aws, "us-east-1")
    certificate = aws.client("acm", DR).describe_certificate(CertificateArn=dr_arn)["Certificate"]
    assert (certificate["Status"], certificate["DomainName"]) == ("ISSUED", DOMAIN)
    # origin.: the failover name CloudFront's app origin is (issue 11), derived.
    assert set(certificate["SubjectAlternativeNames"]) == \
        {DOMAIN, f"www.{DOMAIN}", f"origin.{DOMAIN}"}
    assert dr_arn.split(":")[3] == DR and dr_arn != primary_arn
    _owned(tags_of(aws.client("acm", DR).list_tags_for_certificate(CertificateArn=dr_arn)),
           DOMAIN)
    [requested] = _requests_in(aws, "RequestCertificate", DR)
    assert (requested["ValidationMethod"], requested["KeyAlgorithm"]) == ("DNS", "RSA_2048")
    # ACM names the same CNAME per account and domain in every region: one set serves both.
    cnames = _validation_cnames(aws)
    for option in certificate["DomainValidationOptions"]:
        wanted = option["ResourceRecord"]
        assert cnames[wanted["Name"]] == [wanted["Value"]], option["DomainName"]
    listeners = _listeners(aws)
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert [c["CertificateArn"] for c in https["Certificates"]] == [dr_arn]
    # Issue 12: FIPS and post-quantum, TLS 1.3 and 1.2 (spec "TLS 1.2+").
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09"
    # As the primary: 403 unless CloudFront's header carries the (primary-region) secret.
    assert [(a["Type"], a["FixedResponseConfig"]["StatusCode"])
            for a in https["DefaultActions"]] == [("fixed-response", "403")]
    rules = [r for r in elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]
             if not r["IsDefault"]]
    [rule] = rules  # no open path: nothing probes the standby
    [condition] = rule["Conditions"]
    value = aws.client("secretsmanager").get_secret_value(
        SecretId="vivr/production/cloudfront/origin-verify")["SecretString"]
    assert (condition["Field"], condition["HttpHeaderConfig"]["HttpHeaderName"],
            condition["HttpHeaderConfig"]["Values"]) == ("http-header", "X-Origin-Verify", [value])
    assert [(a["Type"], a["TargetGroupArn"]) for a in rule["Actions"]] == \
        [("forward", target_group["TargetGroupArn"])]
    _owned(tags_of(elbv2.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]),
           "vivr-dr-alb-https-443-origin-verify")
    assert _requests_in(aws, "GetSecretValue", "us-east-1")
    assert not _requests_in(aws, "GetSecretValue", DR), "the secret lives in the primary region"
    assert value not in aws.state_path.read_text()
    http = listeners[80]
    [action] = http["DefaultActions"]
    redirect = action["RedirectConfig"]
    assert (http["Protocol"], action["Type"], redirect["Protocol"], redirect["Port"],
            redirect["StatusCode"]) == ("HTTP", "redirect", "HTTPS", "443", "HTTP_301")

    # A second apply finds everything as it is and changes nothing.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, report
    assert set(_actions(report).values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []


def test_destroy_keeps_shared_validation_records_then_gives_back_everything(aws: Aws) -> None:
    before = aws.inventory()
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    cnames = _validation_cnames(aws)
    assert cnames

    # The DR certificate goes (with the listener that uses it); the primary
    # one still validates and renews through the same CNAMEs, so they stay,
    # and nothing is reported as kept: they are the primary step's.
    code, report = aws.cli_json("destroy", "--yes", "--target", "dr.acm")
    assert code == 0, report
    steps = {s["step"]: s for s in report["steps"]}
    assert (steps["dr.acm"]["action"], steps["dr.alb-listener.443"]["action"]) == \
        ("deleted", "deleted")
    assert steps["dr.acm"]["retained"] == []
    assert _certificates(aws, DR) == []
    assert set(_listeners(aws)) == {80}
    assert _validation_cnames(aws) == cnames
    code, status = aws.cli_json("status", "--refresh")
    assert {s["step"]: s["action"] for s in status["steps"]}["acm"] == "ok"

    # Re-made, it validates through the records already there: no record write.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *LISTENERS)
    assert code == 0, report
    assert (_actions(report)["dr.acm"], _actions(report)["dr.alb-listener.443"]) == \
        ("created", "created")
    assert "route53.ChangeResourceRecordSets" not in aws.mutating_calls(since=mark)

    # Deletion protection holds until the operator lifts it: the balancer,
    # and everything it stands on, stay. (kms: the origin-check secret the
    # standby's HTTPS listener reads is encrypted with it; dr.s3.logs: the balancer's
    # access-log bucket, which it only writes into.)
    targets = ("--target", "dr.vpc", "--target", "route53-zone", "--target", "kms",
               "--target", "dr.s3.logs")
    # destroy plans first and refuses before any delete (it would stop halfway).
    mark = len(aws.calls())
    protected = aws.cli("destroy", "--yes", *targets, "--output", "json")
    assert protected.returncode == 1
    assert "would stop halfway at 1 protected one(s) (dr.alb); nothing was deleted" in \
        protected.stderr
    assert aws.mutating_calls(since=mark) == []
    assert _balancer(aws)["State"]["Code"] == "active"
    planned = {s["step"]: s for s in json.loads(protected.stdout)["steps"]}
    assert planned["dr.alb"]["blockers"] == [
        "vivr-dr-alb has deletion protection; rerun destroy with "
        "--disable-deletion-protection to lift it"]
    assert planned["dr.vpc"]["action"] == "delete" and not planned["dr.vpc"]["blockers"]

    code, report = aws.cli_json("destroy", "--yes", "--disable-deletion-protection", *targets)
    assert code == 0, [s for s in report["steps"] if s["error"]]
    second = _actions(report)
    assert (second["dr.alb"], second["dr.alb-target-group"], second["dr.vpc"]) == \
        ("deleted", "deleted", "deleted")
    assert {"deleted"} == {second[s] for s in (*DR_STEPS, "acm", "route53-zone")}
    assert aws.inventory() == before, "both regions are back to the listing before apply"

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes", *targets)
    assert code == 0 and set(_actions(report).values()) == {"absent"}
    assert aws.mutating_calls(since=mark) == []
