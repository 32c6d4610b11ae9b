"""Hosted zone, health check, certificate and record drift, on stubbed clients.

Each case is what Route 53 or ACM describes (the resource as the step
would create it, with edits) and the changes plan shows; converging cases
announce the exact requests apply sends (tags apart, one UpdateHealthCheck
with the version read afresh, validation records and repointed records as
one ChangeResourceRecordSets UPSERT of just what drifted).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.acm import CertificateStep
from vivr_provision.steps.base import Change, Resource
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.dns import HostedZoneStep
from vivr_provision.steps.records import AliasRecordStep, FailoverRecordStep, HealthCheckStep

ZONE_ID = "Z0123456789ABCDEFGHIJ"
ALB_DNS = "vivr-alb-1234567890.us-east-1.elb.amazonaws.com"
STANDBY_DNS = "vivr-dr-alb-987654321.us-west-2.elb.amazonaws.com"
DISTRIBUTION = "d111111abcdef8.cloudfront.net"
CERT_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"
CHECK_ID = "abcdef11-2222-3333-4444-555555fedcba"
OUTPUTS: dict[str, dict[str, Any]] = {
    "route53-zone": {"zone_id": ZONE_ID, "name": "vivr.example.com"},
    "alb": {"dns_name": ALB_DNS, "canonical_hosted_zone_id": "Z35SXDOTRQ7X7K"},
    "dr.alb": {"dns_name": STANDBY_DNS},
    "health-check.primary-alb": {"health_check_id": CHECK_ID},
    "cloudfront": {"domain_name": DISTRIBUTION, "hosted_zone_id": "Z2FDTNDATAQYW2"},
}
IN_SYNC = {"ChangeInfo": {"Id": "/change/C1", "Status": "INSYNC",
                          "SubmittedAt": "2026-12-06T00:00:00Z"}}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _changes(changes: list[Change]) -> list[tuple[str, Any, Any, bool]]:
    return [(c.field, c.current, c.desired, c.replace) for c in changes]


# --------------------------------------------------------------------------- hosted zone


def _zone_described(step: HostedZoneStep, **edits: Any) -> dict[str, Any]:
    return {"Id": f"/hostedzone/{ZONE_ID}", "Name": "vivr.example.com.",
            "CallerReference": "0" * 32,
            "Config": {"Comment": "VIVR production public zone", "PrivateZone": False},
            "NameServers": ["ns-1.awsdns-01.org"], "TagMap": step.tags(), **edits}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"Name": "VIVR.example.com"}, []),  # DNS names compare without case or final dot
    ({"Config": {"Comment": "edited", "PrivateZone": False}},
     [("comment", "edited", "VIVR production public zone", False)]),
    ({"Config": {"PrivateZone": False}},
     [("comment", "", "VIVR production public zone", False)]),
    ({"Config": {"Comment": "VIVR production public zone", "PrivateZone": True}},
     [("private_zone", True, False, True)]),
    ({"Name": "other.example.com."},
     [("name", "other.example.com.", "vivr.example.com.", True)]),
])
def test_zone_drift(config: PlatformConfig, edits: dict[str, Any],
                    expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = HostedZoneStep(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config), Resource(ZONE_ID, _zone_described(step, **edits)))
    assert _changes(changes) == expected


def test_zone_tags_of_others_are_left_alone(config: PlatformConfig) -> None:
    step = HostedZoneStep(config)
    tags = {"team": "dns", **step.tags(), "ManagedBy": "someone"}
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config), Resource(ZONE_ID, _zone_described(
            step, TagMap=tags)))
    assert _changes(changes) == [("tags", {"ManagedBy": "someone"},
                                  {"ManagedBy": "vivr-provision"}, False)]


def test_zone_comment_and_tags_each_have_their_call(config: PlatformConfig) -> None:
    step = HostedZoneStep(config)
    drifted = _zone_described(step, Config={"Comment": "edited", "PrivateZone": False},
                              TagMap={})
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = step.diff(ctx, Resource(ZONE_ID, drifted))
        assert [c.field for c in changes] == ["tags", "comment"]
        aws.expect("route53", "change_tags_for_resource", {}, {
            "ResourceType": "hostedzone", "ResourceId": ZONE_ID,
            "AddTags": aws_tags(step.tags())})
        aws.expect("route53", "update_hosted_zone_comment", {"HostedZone": {
            "Id": ZONE_ID, "Name": "vivr.example.com.", "CallerReference": "0" * 32}},
            {"Id": ZONE_ID, "Comment": "VIVR production public zone"})
        described = _zone_described(step)
        aws.expect("route53", "get_hosted_zone", {
            "HostedZone": {k: described[k] for k in ("Id", "Name", "CallerReference",
                                                     "Config")},
            "DelegationSet": {"NameServers": described["NameServers"]}}, {"Id": ZONE_ID})
        aws.expect("route53", "list_tags_for_resource", {"ResourceTagSet": {
            "ResourceType": "hostedzone", "ResourceId": ZONE_ID,
            "Tags": aws_tags(step.tags())}},
            {"ResourceType": "hostedzone", "ResourceId": ZONE_ID})
        step.update(ctx, Resource(ZONE_ID, drifted), changes)


# --------------------------------------------------------------------------- health check


def _check_step(config: PlatformConfig) -> HealthCheckStep:
    check = config.route53.failover_records[0].health_check
    return HealthCheckStep(config, check)


def _check(config: dict[str, Any]) -> dict[str, Any]:
    return {"Id": CHECK_ID, "CallerReference": "0" * 32, "HealthCheckVersion": 7,
            "HealthCheckConfig": config}


#: The spec's check of the primary ALB, as Route 53 reports it.
SPEC_CHECK = {"Type": "HTTPS", "FullyQualifiedDomainName": ALB_DNS, "Port": 443,
              "ResourcePath": "/api/health", "RequestInterval": 30, "FailureThreshold": 3,
              "EnableSNI": True, "Inverted": False, "Disabled": False}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"FullyQualifiedDomainName": ALB_DNS.upper() + "."}, []),  # DNS ignores case
    ({"FullyQualifiedDomainName": ALB_DNS + "."}, []),
    ({"Inverted": None, "Disabled": None}, []),  # not reported: Route 53's default, false
    ({"FailureThreshold": 1}, [("FailureThreshold", 1, 3, False)]),
    ({"FullyQualifiedDomainName": "old-alb.elb.amazonaws.com", "Disabled": True},
     [("FullyQualifiedDomainName", "old-alb.elb.amazonaws.com", ALB_DNS, False),
      ("Disabled", True, False, False)]),
    ({"Type": "HTTP", "RequestInterval": 10},
     [("Type", "HTTP", "HTTPS", True), ("RequestInterval", 10, 30, True)]),
])
def test_health_check_drift(config: PlatformConfig, edits: dict[str, Any],
                            expected: list[tuple[str, Any, Any, bool]]) -> None:
    step = _check_step(config)
    reported = {k: v for k, v in {**SPEC_CHECK, **edits}.items() if v is not None}
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(CHECK_ID, {**_check(reported), "TagMap": step.tags()}))
    assert _changes(changes) == expected


def test_health_check_settings_go_in_one_update_with_a_fresh_version_and_tags_apart(
        config: PlatformConfig) -> None:
    """Was part of e2e test_hand_changes_are_reported_and_repaired_...: FailureThreshold 1 -> 3."""
    step = _check_step(config)
    drifted = {**_check({**SPEC_CHECK, "FailureThreshold": 1, "EnableSNI": False}),
               "TagMap": {}}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(CHECK_ID, drifted))
        assert [c.describe() for c in changes][1:] == [
            "FailureThreshold: 1 -> 3 (update)", "EnableSNI: False -> True (update)"]
        aws.expect("route53", "change_tags_for_resource", {}, {
            "ResourceType": "healthcheck", "ResourceId": CHECK_ID,
            "AddTags": aws_tags(step.tags())})
        aws.expect("route53", "get_health_check", {"HealthCheck": _check(SPEC_CHECK)},
                   {"HealthCheckId": CHECK_ID})
        settable = {k: v for k, v in SPEC_CHECK.items() if k not in ("Type", "RequestInterval")}
        aws.expect("route53", "update_health_check", {"HealthCheck": _check(SPEC_CHECK)},
                   {"HealthCheckId": CHECK_ID, "HealthCheckVersion": 7, **settable})
        aws.expect("route53", "get_health_check", {"HealthCheck": _check(SPEC_CHECK)},
                   {"HealthCheckId": CHECK_ID})
        aws.expect("route53", "list_tags_for_resource", {"ResourceTagSet": {
            "ResourceType": "healthcheck", "ResourceId": CHECK_ID,
            "Tags": aws_tags(step.tags())}},
            {"ResourceType": "healthcheck", "ResourceId": CHECK_ID})
        step.update(ctx, Resource(CHECK_ID, drifted), changes)


# --------------------------------------------------------------------------- certificate

APEX_RECORD = {"Name": "_a1.vivr.example.com.", "Type": "CNAME",
               "Value": "_b1.acm-validations.aws."}
WWW_RECORD = {"Name": "_a2.www.vivr.example.com.", "Type": "CNAME",
              "Value": "_b2.acm-validations.aws."}
#: The failover name, a SAN derived from route53.failover_records (issue 11).
ORIGIN_RECORD = {"Name": "_a3.origin.vivr.example.com.", "Type": "CNAME",
                 "Value": "_b3.acm-validations.aws."}


def _certificate(**edits: Any) -> dict[str, Any]:
    return {"CertificateArn": CERT_ARN, "DomainName": "vivr.example.com",
            "SubjectAlternativeNames": ["vivr.example.com", "www.vivr.example.com",
                                        "origin.vivr.example.com"],
            "Status": "ISSUED", "KeyAlgorithm": "RSA-2048",
            "DomainValidationOptions": [
                {"DomainName": "vivr.example.com", "ValidationMethod": "DNS",
                 "ResourceRecord": APEX_RECORD},
                {"DomainName": "www.vivr.example.com", "ValidationMethod": "DNS",
                 "ResourceRecord": WWW_RECORD},
                {"DomainName": "origin.vivr.example.com", "ValidationMethod": "DNS",
                 "ResourceRecord": ORIGIN_RECORD}], **edits}


def _in_zone(record: dict[str, str]) -> dict[str, Any]:
    return {"Name": record["Name"], "Type": "CNAME", "TTL": 300,
            "ResourceRecords": [{"Value": record["Value"]}]}


def _expect_record_read(aws: StubbedAws, record: dict[str, str], present: bool) -> None:
    aws.expect("route53", "list_resource_record_sets", {
        "ResourceRecordSets": [_in_zone(record)] if present else [],
        "IsTruncated": False, "MaxItems": "10"},
        {"HostedZoneId": ZONE_ID, "StartRecordName": record["Name"],
         "StartRecordType": "CNAME", "MaxItems": "10"})


@pytest.mark.parametrize(("edits", "present", "expected"), [
    ({}, (True, True, True), []),
    ({}, (True, False, True),
     [("validation_records", ["_a2.www.vivr.example.com."], "present in the hosted zone",
       False)]),
    ({"Status": "PENDING_VALIDATION"}, (True, True, True), []),
    # What asks for a replacement is reported alone: the zone is not read.
    ({"Status": "EXPIRED"}, None, [("status", "EXPIRED", "ISSUED", True)]),
    ({"SubjectAlternativeNames": ["vivr.example.com"]}, None,
     [("subject_alternative_names", [], ["origin.vivr.example.com", "www.vivr.example.com"],
       True)]),
    # A certificate from before the failover name was derived: a new one (ACM
    # cannot add a name), which plan shows as a replacement.
    ({"SubjectAlternativeNames": ["vivr.example.com", "www.vivr.example.com"]}, None,
     [("subject_alternative_names", ["www.vivr.example.com"],
       ["origin.vivr.example.com", "www.vivr.example.com"], True)]),
    ({"KeyAlgorithm": "EC-prime256v1"}, None,
     [("key_algorithm", "EC_prime256v1", "RSA_2048", True)]),
    ({"KeyAlgorithm": None}, (True, True, True), []),
    ({"DomainName": "vivr.example.net"}, None,
     [("domain_name", "vivr.example.net", "vivr.example.com", True),
      ("subject_alternative_names",
       ["origin.vivr.example.com", "vivr.example.net", "www.vivr.example.com"],
       ["origin.vivr.example.com", "www.vivr.example.com"], True)]),
    ({"DomainValidationOptions": [
        {"DomainName": "vivr.example.com", "ValidationMethod": "EMAIL"},
        {"DomainName": "www.vivr.example.com", "ValidationMethod": "DNS",
         "ResourceRecord": WWW_RECORD}]}, None,
     [("validation_method", ["DNS", "EMAIL"], "DNS", True)]),
])
def test_certificate_drift(config: PlatformConfig, edits: dict[str, Any],
                           present: tuple[bool, bool, bool] | None,
                           expected: list[tuple[str, Any, Any, bool]]) -> None:
    """The last element: plan says the change is a replacement (a new certificate)."""
    step = CertificateStep(config)
    data = {k: v for k, v in _certificate(**edits).items() if v is not None}
    with StubbedAws() as aws:
        if present is not None:
            _expect_record_read(aws, APEX_RECORD, present[0])
            _expect_record_read(aws, WWW_RECORD, present[1])
            _expect_record_read(aws, ORIGIN_RECORD, present[2])
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(CERT_ARN, {**data, "TagMap": step.tags()}))
    assert [(c.field, c.current, c.desired, "(replace: a new certificate;" in c.describe())
            for c in changes] == expected


def test_a_deleted_validation_record_is_written_back_with_the_tags(
        config: PlatformConfig) -> None:
    """Was e2e test_missing_validation_record_is_written_back: ACM renews through it."""
    step = CertificateStep(config)
    drifted = {**_certificate(), "TagMap": {}}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        _expect_record_read(aws, APEX_RECORD, False)
        _expect_record_read(aws, WWW_RECORD, True)
        _expect_record_read(aws, ORIGIN_RECORD, True)
        changes = step.diff(ctx, Resource(CERT_ARN, drifted))
        assert [c.field for c in changes] == ["tags", "validation_records"]
        assert "_a1.vivr.example.com." in changes[1].describe()
        aws.expect("acm", "add_tags_to_certificate", {}, {
            "CertificateArn": CERT_ARN, "Tags": aws_tags(step.tags())})
        _expect_record_read(aws, APEX_RECORD, False)  # read again, not trusted
        _expect_record_read(aws, WWW_RECORD, True)
        _expect_record_read(aws, ORIGIN_RECORD, True)
        aws.expect("route53", "change_resource_record_sets", IN_SYNC, {
            "HostedZoneId": ZONE_ID, "ChangeBatch": {
                "Comment": "vivr-provision acm: ACM validation of vivr.example.com",
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": _in_zone(APEX_RECORD)}]}})
        aws.expect("acm", "describe_certificate", {"Certificate": _certificate()},
                   {"CertificateArn": CERT_ARN})
        aws.expect("acm", "list_tags_for_certificate", {"Tags": aws_tags(step.tags())},
                   {"CertificateArn": CERT_ARN})
        step.update(ctx, Resource(CERT_ARN, drifted), changes)  # and no new certificate


# --------------------------------------------------------------------------- records


def _alias(name: str, record_type: str, target: str, zone: str = "Z2FDTNDATAQYW2",
           evaluate: bool = False) -> dict[str, Any]:
    return {"Name": name, "Type": record_type, "AliasTarget": {
        "HostedZoneId": zone, "DNSName": target, "EvaluateTargetHealth": evaluate}}


def test_only_the_repointed_alias_type_is_rewritten(config: PlatformConfig) -> None:
    """Was part of e2e test_hand_changes_are_reported_and_repaired_...: www A repointed."""
    [record] = [r for r in config.route53.records if r.name == "www.vivr.example.com"]
    step = AliasRecordStep(config, record)
    www = "www.vivr.example.com."
    records = {"A": _alias(www, "A", "elsewhere.cloudfront.net."),
               "AAAA": _alias(www, "AAAA", DISTRIBUTION + ".")}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        resource = Resource(f"{ZONE_ID}:{www}", {"ZoneId": ZONE_ID, "Records": records})
        [change] = step.diff(ctx, resource)
        assert change.field == "A"
        assert "elsewhere.cloudfront.net." in str(change.current)
        assert DISTRIBUTION in str(change.desired)
        aws.expect("route53", "change_resource_record_sets", IN_SYNC, {
            "HostedZoneId": ZONE_ID, "ChangeBatch": {
                "Comment": f"vivr-provision {step.name}: alias {www} to cloudfront",
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": _alias(
                    www, "A", DISTRIBUTION + ".")}]}})
        for record_type in ("A", "AAAA"):
            aws.expect("route53", "list_resource_record_sets", {
                "ResourceRecordSets": [_alias(www, record_type, DISTRIBUTION + ".")],
                "IsTruncated": False, "MaxItems": "10"},
                {"HostedZoneId": ZONE_ID, "StartRecordName": www,
                 "StartRecordType": record_type, "MaxItems": "10"})
        repaired = step.update(ctx, resource, [change])
        assert step.diff(ctx, repaired) == []


def test_only_the_repointed_failover_record_is_rewritten(config: PlatformConfig) -> None:
    [record] = config.route53.failover_records
    step = FailoverRecordStep(config, record)
    name = "origin.vivr.example.com."
    desired = step.desired(StubbedAws().context(config, OUTPUTS))
    records = {"primary": desired["primary"],
               "secondary": {**desired["secondary"],
                             "ResourceRecords": [{"Value": "elsewhere.example.net"}]}}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        resource = Resource(f"{ZONE_ID}:{name}", {"ZoneId": ZONE_ID, "Records": records})
        [change] = step.diff(ctx, resource)
        assert change.field == "secondary"
        assert "elsewhere.example.net" in str(change.current)
        assert STANDBY_DNS in str(change.desired)
        aws.expect("route53", "change_resource_record_sets", IN_SYNC, {
            "HostedZoneId": ZONE_ID, "ChangeBatch": {
                "Comment": f"vivr-provision {step.name}: failover pair {name}",
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": desired["secondary"]}]}})
        for slot in ("primary", "secondary"):
            aws.expect("route53", "list_resource_record_sets", {
                "ResourceRecordSets": [desired[slot]], "IsTruncated": False,
                "MaxItems": "10"},
                {"HostedZoneId": ZONE_ID, "StartRecordName": name, "StartRecordType": "CNAME",
                 "StartRecordIdentifier": slot, "MaxItems": "10"})
        step.update(ctx, resource, [change])


# ------------------------------------------------------------------ deleting the zone

_ZONE = "/hostedzone/Z1"
_SOA = {"Name": "vivr.example.com.", "Type": "SOA", "TTL": 900,
        "ResourceRecords": [{"Value": "ns-1. admin. 1 7200 900 1209600 86400"}]}
_CNAME = {"Name": "_abc.vivr.example.com.", "Type": "CNAME", "TTL": 300,
          "ResourceRecords": [{"Value": "_xyz.acm-validations.aws."}]}


@pytest.mark.parametrize("journalled", [True, False], ids=["ours", "someone-elses"])
def test_the_zone_deletes_records_journalled_as_ours_and_keeps_others(
        journalled: bool) -> None:
    """A validation CNAME whose certificate step is gone is ours if the journal says
    so (deleted with the zone); any other record keeps the zone."""
    config = production_config()
    step = HostedZoneStep(config)
    entry = {"container": "hosted-zone:Z1", "name": "_abc.vivr.example.com.",
             "type": "CNAME", "value": "_xyz.acm-validations.aws."}
    with StubbedAws() as aws:
        ctx = aws.context(config)
        journal = [entry] if journalled else []
        ctx.written_into = lambda container: journal if container == "hosted-zone:Z1" else []
        aws.expect("route53", "list_resource_record_sets",
                   {"ResourceRecordSets": [_SOA, _CNAME], "IsTruncated": False,
                    "MaxItems": "300"}, {"HostedZoneId": "Z1"})
        if not journalled:
            with pytest.raises(RuntimeError, match=r"_abc\.vivr\.example\.com\. CNAME"):
                step.delete(ctx, Resource(_ZONE, {"Name": "vivr.example.com."}))
            return
        aws.expect("route53", "change_resource_record_sets",
                   {"ChangeInfo": {"Id": "/change/C1", "Status": "INSYNC",
                                   "SubmittedAt": "2026-12-06T00:00:00Z"}},
                   {"HostedZoneId": "Z1", "ChangeBatch": {
                       "Comment": "vivr-provision route53-zone: records this tool wrote",
                       "Changes": [{"Action": "DELETE", "ResourceRecordSet": _CNAME}]}})
        aws.expect("route53", "delete_hosted_zone",
                   {"ChangeInfo": {"Id": "/change/C2", "Status": "PENDING",
                                   "SubmittedAt": "2026-12-06T00:00:00Z"}}, {"Id": _ZONE})
        step.delete(ctx, Resource(_ZONE, {"Name": "vivr.example.com."}))
