"""What the ACM step can learn about a zone's delegation from AWS (Stubber clients)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vivr_provision.config import load_config
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.delegation import ancestors, check_delegation

REPO = Path(__file__).resolve().parents[2]
OURS = ["ns-1.awsdns-01.org", "ns-2.awsdns-02.com", "ns-3.awsdns-03.net", "ns-4.awsdns-04.co.uk"]
UNREGISTERED = ("InvalidInput", "Domain vivr.example.com is not associated with this account")


class _Clients:
    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients[service]


@pytest.fixture
def stubs() -> dict[str, Any]:
    return {service: boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                                  aws_secret_access_key="x")
            for service in ("route53", "route53domains")}


def _check(clients: dict[str, Any]) -> Any:
    config = load_config(REPO / "config" / "production.yaml", "production")
    ctx = StepContext(config, _Clients(clients), {}.get)  # type: ignore[arg-type]
    return check_delegation(ctx, "vivr.example.com", OURS)


def test_ancestors_stop_above_the_top_level_domain() -> None:
    assert ancestors("a.vivr.example.com") == ["vivr.example.com", "example.com"]
    assert ancestors("example.com") == []


@pytest.mark.parametrize(("listed", "delegated"), [
    (["ns1.old-host.example"], False), ([n.upper() + "." for n in OURS], True)])
def test_a_domain_registered_here_is_judged_by_its_registrar_name_servers(
        stubs: dict[str, Any], listed: list[str], delegated: bool) -> None:
    with Stubber(stubs["route53domains"]) as domains:
        domains.add_response("get_domain_detail", {
            "DomainName": "vivr.example.com", "Nameservers": [{"Name": n} for n in listed]},
            {"DomainName": "vivr.example.com"})
        found = _check(stubs)
    assert found.delegated is delegated
    assert "Route 53 Domains lists" in found.finding and "Route 53 Domains" in found.where


def test_a_parent_zone_here_without_our_ns_record_proves_no_delegation(
        stubs: dict[str, Any]) -> None:
    with Stubber(stubs["route53domains"]) as domains, Stubber(stubs["route53"]) as route53:
        domains.add_client_error("get_domain_detail", *UNREGISTERED)
        route53.add_response("list_hosted_zones_by_name", {
            "HostedZones": [{"Id": "/hostedzone/ZPARENT", "Name": "example.com.",
                             "CallerReference": "x", "Config": {"PrivateZone": False}}],
            "IsTruncated": False, "MaxItems": "10"},
            {"DNSName": "example.com.", "MaxItems": "10"})
        route53.add_response("list_resource_record_sets", {
            "ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "10"},
            {"HostedZoneId": "ZPARENT", "StartRecordName": "vivr.example.com.",
             "StartRecordType": "NS", "MaxItems": "10"})
        found = _check(stubs)
    assert found.delegated is False
    assert found.finding == "parent zone example.com in this account has no NS record for " \
        "vivr.example.com"


def test_a_registrar_outside_the_account_is_unknown_not_guessed(stubs: dict[str, Any]) -> None:
    with Stubber(stubs["route53domains"]) as domains, Stubber(stubs["route53"]) as route53:
        domains.add_client_error("get_domain_detail", *UNREGISTERED)
        route53.add_response("list_hosted_zones_by_name", {
            "HostedZones": [{"Id": "/hostedzone/ZOTHER", "Name": "examples.net.",
                             "CallerReference": "x"}],
            "IsTruncated": False, "MaxItems": "10"},
            {"DNSName": "example.com.", "MaxItems": "10"})
        found = _check(stubs)
    assert found.delegated is None
    assert "could not be checked" in found.finding
