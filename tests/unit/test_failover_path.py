"""The failover path CloudFront takes (issue 11 item 2), on config and stubbed clients.

CloudFront's application origin is the failover name, so its step orders
after the failover pair (and the standby's listener) and destroy reverses
that; both ALBs' certificates carry the name, derived from the failover
records; a certificate that lacks it is replaced by a new one made before
the old one is deleted; the SECONDARY's own check exists only when config
asks, and config refuses one the standby would answer 403.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.config import PlatformConfig, parse_config
from vivr_provision.config.edge import AlbOriginConfig
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.acm import REPLACES_TAG, CertificateStep, token_for_acm
from vivr_provision.steps.base import Resource
from vivr_provision.steps.cloudfront.distribution import DistributionStep
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.dr import dr_site
from vivr_provision.steps.records import FailoverRecordStep, HealthCheckStep

NAME = "origin.vivr.example.com"
FAILOVER = f"dns-failover.{NAME}"
STANDBY_CHECK = "health-check.standby-alb"
ALB_DNS = "vivr-alb-1234567890.us-east-1.elb.amazonaws.com"
STANDBY_DNS = "vivr-dr-alb-987654321.us-west-2.elb.amazonaws.com"
OLD_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/00000000-0000-0000-0000-00000000000a"
NEW_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/00000000-0000-0000-0000-00000000000b"
CHECK = {"type": "HTTPS", "resource_path": "/api/health", "port": 443,
         "request_interval_seconds": 30, "failure_threshold": 3}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _production_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    return data


def _with_standby_check(open_path: bool = True) -> PlatformConfig:
    data = _production_data()
    data["route53"]["failover_records"][0]["secondary_health_check"] = dict(CHECK)
    if open_path:
        data["dr"]["alb"]["origin_verify"]["open_paths"] = ["/api/health"]
    return parse_config(data, "production.yaml")


def _steps(config: PlatformConfig) -> dict[str, Any]:
    return {s.name: s for s in build_steps(config)}


# --------------------------------------------------------------------------- CloudFront


def test_the_app_origin_is_the_failover_name_and_orders_after_the_pair(
        config: PlatformConfig) -> None:
    [app] = [o for o in config.cloudfront.origins if isinstance(o, AlbOriginConfig)]
    step = DistributionStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, {"alb": {"dns_name": ALB_DNS}})
        assert step.origin_domain(ctx, app) == NAME
    deps = set(step.depends_on())
    # The name resolves before CloudFront uses it; destroy deletes CloudFront
    # first, then the pair, then either ALB's HTTPS listener.
    assert {FAILOVER, "alb-listener.443", dr_site(config).step("alb-listener.443")} <= deps


def test_without_a_failover_record_the_origin_stays_the_albs_own_name() -> None:
    data = _production_data()
    del data["cloudfront"]["origins"][0]["failover_record"]
    config = parse_config(data, "production.yaml")
    [app] = [o for o in config.cloudfront.origins if isinstance(o, AlbOriginConfig)]
    step = DistributionStep(config)
    with StubbedAws() as aws:
        assert step.origin_domain(aws.context(config, {"alb": {"dns_name": ALB_DNS}}),
                                  app) == ALB_DNS
    assert FAILOVER not in step.depends_on()


def test_an_origin_on_a_name_no_failover_record_writes_is_refused() -> None:
    data = _production_data()
    data["cloudfront"]["origins"][0]["failover_record"] = "app.vivr.example.com"
    with pytest.raises(ConfigError, match=r"cloudfront.origins\[0\].failover_record "
                                          r"app.vivr.example.com is not a name of "
                                          r"route53.failover_records"):
        parse_config(data, "production.yaml")


# --------------------------------------------------------------------------- certificates


def _request(names: list[str], token: str, tags: dict[str, str]) -> dict[str, Any]:
    return {"DomainName": "vivr.example.com", "ValidationMethod": "DNS",
            "KeyAlgorithm": "RSA_2048", "IdempotencyToken": token,
            "Tags": aws_tags(tags), "SubjectAlternativeNames": names}


def _described(arn: str, names: list[str], tags: dict[str, str], aws: StubbedAws,
               region: str = "us-east-1", **extra: Any) -> None:
    aws.expect("acm", "describe_certificate", {"Certificate": {
        "CertificateArn": arn, "DomainName": "vivr.example.com",
        "SubjectAlternativeNames": ["vivr.example.com", *names], "Status": "ISSUED",
        **extra}}, {"CertificateArn": arn}, region=region)
    aws.expect("acm", "list_tags_for_certificate", {"Tags": aws_tags(tags)},
               {"CertificateArn": arn}, region=region)


@pytest.mark.parametrize("step_name", ["acm", "dr.acm"])
def test_both_certificates_are_requested_with_the_failover_name(
        config: PlatformConfig, step_name: str) -> None:
    step = _steps(config)[step_name]
    assert isinstance(step, CertificateStep)
    names = ["www.vivr.example.com", NAME]
    arn = OLD_ARN.replace("us-east-1", step.region)
    with StubbedAws() as aws:
        aws.expect("acm", "request_certificate", {"CertificateArn": arn},
                   _request(names, "t" * 32, step.tags()), region=step.region)
        _described(arn, names, step.tags(), aws, region=step.region)
        created = step.create(aws.context(config), "t" * 32)
    assert created.id == arn


def test_a_certificate_without_the_failover_name_is_replaced_before_it_is_deleted(
        config: PlatformConfig) -> None:
    step = CertificateStep(config)
    old = Resource(OLD_ARN, {"CertificateArn": OLD_ARN, "DomainName": "vivr.example.com",
                             "SubjectAlternativeNames": ["vivr.example.com",
                                                         "www.vivr.example.com"],
                             "Status": "ISSUED", "TagMap": step.tags()})
    names = ["www.vivr.example.com", NAME]
    with StubbedAws() as aws:
        ctx = aws.context(config)
        [change] = step.diff(ctx, old)  # the zone is not read: the records are the new one's
        assert change.describe() == (
            "subject_alternative_names: ['www.vivr.example.com'] -> "
            "['origin.vivr.example.com', 'www.vivr.example.com'] (replace: a new certificate; "
            "its listeners and CloudFront move to it in this apply, the old one is deleted by "
            "the next apply once unused)")
        assert change.replace is False, "apply makes it (the engine stops on replace=True)"
        new_tags = {**step.tags(), REPLACES_TAG: OLD_ARN}
        aws.expect("acm", "request_certificate", {"CertificateArn": NEW_ARN},
                   _request(names, _replacement_token(step), new_tags))
        _described(NEW_ARN, names, new_tags, aws)
        new = step.update(ctx, old, [change])  # no DeleteCertificate: the old one is in use
    assert new.id == NEW_ARN


def _replacement_token(step: CertificateStep) -> str:
    """What a rerun after a crash sends again (ACM then answers the same ARN)."""
    seed = "|".join([OLD_ARN, "vivr.example.com", *sorted(step.sans), "RSA_2048", "DNS"])
    return token_for_acm(hashlib.sha256(seed.encode()).hexdigest())


def _new(step: CertificateStep) -> Resource:
    return Resource(NEW_ARN, {
        "CertificateArn": NEW_ARN, "DomainName": "vivr.example.com",
        "SubjectAlternativeNames": ["vivr.example.com", "www.vivr.example.com", NAME],
        "Status": "ISSUED", "TagMap": {**step.tags(), REPLACES_TAG: OLD_ARN}})


def test_the_replaced_certificate_is_deleted_once_nothing_uses_it(
        config: PlatformConfig) -> None:
    step = CertificateStep(config)
    names = ["www.vivr.example.com"]
    with StubbedAws() as aws:
        ctx = aws.context(config)  # no zone outputs: DNS records are not read here
        # Still used by the listener: no change, a note saying why.
        _described(OLD_ARN, names, step.tags(), aws,
                   InUseBy=["arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2"])
        assert step.diff(ctx, _new(step)) == []
        _described(OLD_ARN, names, step.tags(), aws,
                   InUseBy=["arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2"])
        [note] = step.notes(ctx, _new(step))
        assert note.startswith(f"certificate {OLD_ARN} (replaced) is still used by ")
        # Released: plan shows its deletion, apply deletes it.
        _described(OLD_ARN, names, step.tags(), aws)
        [change] = step.diff(ctx, _new(step))
        assert change.describe() == f"replaced_certificate: {OLD_ARN!r} -> None (update)"
        _described(OLD_ARN, names, step.tags(), aws)
        aws.expect("acm", "delete_certificate", {}, {"CertificateArn": OLD_ARN})
        _described(NEW_ARN, ["www.vivr.example.com", NAME],
                   {**step.tags(), REPLACES_TAG: OLD_ARN}, aws)
        step.update(ctx, _new(step), [change])


# --------------------------------------------------------------------------- the SECONDARY


def test_the_secondary_has_no_check_in_production(config: PlatformConfig) -> None:
    steps = _steps(config)
    assert STANDBY_CHECK not in steps
    record = steps[FAILOVER]
    assert isinstance(record, FailoverRecordStep)
    with StubbedAws() as aws:
        secondary = record.secondary(aws.context(config, {"dr.alb": {"dns_name": STANDBY_DNS}}))
    assert "HealthCheckId" not in secondary


def test_a_secondary_check_probes_the_standby_and_rides_on_the_secondary() -> None:
    config = _with_standby_check()
    steps = _steps(config)
    check, record = steps[STANDBY_CHECK], steps[FAILOVER]
    assert isinstance(check, HealthCheckStep) and isinstance(record, FailoverRecordStep)
    assert check.depends_on() == ("dr.alb",)
    assert STANDBY_CHECK in record.depends_on()
    assert check.resource_name() == "vivr-dr-alb-health"
    outputs = {"dr.alb": {"dns_name": STANDBY_DNS},
               STANDBY_CHECK: {"health_check_id": "standby-check-id"}}
    with StubbedAws() as aws:
        ctx = aws.context(config, outputs)
        assert check.desired(ctx) == {
            "Type": "HTTPS", "FullyQualifiedDomainName": STANDBY_DNS, "Port": 443,
            "ResourcePath": "/api/health", "RequestInterval": 30, "FailureThreshold": 3,
            "EnableSNI": True, "Inverted": False, "Disabled": False}
        assert record.secondary(ctx)["HealthCheckId"] == "standby-check-id"
    assert check.tags()["vivr:step"] == STANDBY_CHECK, "told apart from the primary's check"


def test_a_secondary_check_the_standby_would_answer_403_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"secondary_health_check.resource_path /api/health: "
                                          r".*add it to dr.alb.origin_verify.open_paths"):
        _with_standby_check(open_path=False)
