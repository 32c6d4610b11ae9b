"""The failover path's certificates and the SECONDARY's own check, through the real CLI.

Production leaves it off (see config/production.yaml, route53.failover_records):
tests/e2e/test_dns_records.py reads back a SECONDARY without a check, and
tests/e2e/test_cloudfront.py the app origin on the failover name; the
certificates' derived SAN is read back in test_edge_alb.py and
test_dr_standby.py.  Here a config that turns the check on (as a warm
standby would) builds ``health-check.standby-alb`` and attaches it to the
SECONDARY.  One apply of the failover record and its dependencies, read back
in both regions; a plan afterwards changes nothing (the two checks are told
apart by their step tag, never confused).  And the way an existing
certificate gains the failover name: a new one, then the old one deleted by
the next apply (ACM cannot edit names, and refuses to delete one in use).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Aws
from tests.e2e.inventory import tags_of

pytestmark = pytest.mark.e2e

NAME = "origin.vivr.example.com"
FAILOVER = f"dns-failover.{NAME}"
CHECK = {"type": "HTTPS", "resource_path": "/api/health", "port": 443,
         "request_interval_seconds": 30, "failure_threshold": 3}


def _config(tmp_path: Path) -> Path:
    """production.yaml with the SECONDARY's check on and /api/health open on the standby."""
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    [record] = data["route53"]["failover_records"]
    record["secondary_health_check"] = dict(CHECK)
    data["dr"]["alb"]["origin_verify"]["open_paths"] = ["/api/health"]
    path = tmp_path / "production-standby-check.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _failover_sets(aws: Aws) -> dict[str, dict[str, Any]]:
    route53 = aws.client("route53")
    [zone] = route53.list_hosted_zones()["HostedZones"]
    sets = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    return {s["Failover"]: s for s in sets if s["Name"] == f"{NAME}." and s.get("Failover")}


def test_the_secondary_gets_the_standby_albs_own_check_when_config_asks(
        aws: Aws, tmp_path: Path) -> None:
    config = _config(tmp_path)
    code, report = aws.cli_json("apply", "--target", FAILOVER, config=config)
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert actions["health-check.standby-alb"] == actions[FAILOVER] == "created"

    primary_alb = aws.client("elbv2").describe_load_balancers(
        Names=["vivr-alb"])["LoadBalancers"][0]["DNSName"]
    standby_alb = aws.client("elbv2", "us-west-2").describe_load_balancers(
        Names=["vivr-dr-alb"])["LoadBalancers"][0]["DNSName"]
    route53 = aws.client("route53")
    checks = {}
    for check in route53.list_health_checks()["HealthChecks"]:
        tags = tags_of(route53.list_tags_for_resource(
            ResourceType="healthcheck", ResourceId=check["Id"])["ResourceTagSet"])
        checks[tags["Name"]] = check
    assert set(checks) == {"vivr-alb-health", "vivr-dr-alb-health"}
    standby = checks["vivr-dr-alb-health"]["HealthCheckConfig"]
    assert (standby["Type"], standby["FullyQualifiedDomainName"], standby["Port"],
            standby["ResourcePath"], standby["RequestInterval"],
            standby["FailureThreshold"]) == ("HTTPS", standby_alb, 443, "/api/health", 30, 3)

    records = _failover_sets(aws)
    assert set(records) == {"PRIMARY", "SECONDARY"}
    secondary, primary = records["SECONDARY"], records["PRIMARY"]
    assert [v["Value"] for v in secondary["ResourceRecords"]] == [standby_alb]
    assert secondary["HealthCheckId"] == checks["vivr-dr-alb-health"]["Id"]
    assert [v["Value"] for v in primary["ResourceRecords"]] == [primary_alb]
    assert primary["HealthCheckId"] == checks["vivr-alb-health"]["Id"]

    # The request: the SECONDARY carries the standby check (what real AWS reads).
    written = [c["ResourceRecordSet"] for r in aws.requests("ChangeResourceRecordSets")
               for c in r["ChangeBatch"]["Changes"]
               if c["ResourceRecordSet"].get("SetIdentifier") == "secondary"]
    assert [w["HealthCheckId"] for w in written] == [secondary["HealthCheckId"]]

    # Nothing left to do: each check is found as its own step's.
    code, plan = aws.cli_json("plan", "--target", FAILOVER, config=config)
    assert code == 0, plan
    assert {s["action"] for s in plan["steps"]} == {"no-op"}, \
        [(s["step"], s["action"], s.get("changes")) for s in plan["steps"]
         if s["action"] != "no-op"]


def _before_issue_11(tmp_path: Path) -> Path:
    """production.yaml as it was: no failover record, so no origin.vivr.example.com SAN."""
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["route53"]["failover_records"] = []
    del data["cloudfront"]["origins"][0]["failover_record"]
    path = tmp_path / "production-before.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _names(aws: Aws, arn: str) -> set[str]:
    certificate = aws.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    return set(certificate["SubjectAlternativeNames"])


def test_a_certificate_without_the_failover_name_is_replaced_then_the_old_one_deleted(
        aws: Aws, tmp_path: Path) -> None:
    code, report = aws.cli_json("apply", "--target", "acm", config=_before_issue_11(tmp_path))
    assert code == 0, report
    [old] = [c["CertificateArn"] for c in
             aws.client("acm").list_certificates()["CertificateSummaryList"]]
    assert NAME not in _names(aws, old)

    # Planned and approved as an update whose line says what it is; no blocker.
    code, report = aws.cli_json("apply", "--target", "acm")
    assert code == 0, report
    [step] = [s for s in report["steps"] if s["step"] == "acm"]
    assert step["action"] == "updated"
    [change] = step["changes"]
    assert change.startswith("subject_alternative_names: ") and \
        "(replace: a new certificate;" in change, change
    state = yaml.safe_load(aws.state_path.read_text())
    new = state["steps"]["acm"]["resource_id"]
    assert new != old and NAME in _names(aws, new)
    tags = tags_of(aws.client("acm").list_tags_for_certificate(CertificateArn=new))
    assert tags["vivr:replaces"] == old
    listed = {c["CertificateArn"] for c in
              aws.client("acm").list_certificates()["CertificateSummaryList"]}
    assert listed == {old, new}, "the old one stays until nothing uses it"

    code, report = aws.cli_json("apply", "--target", "acm")
    assert code == 0, report
    [step] = [s for s in report["steps"] if s["step"] == "acm"]
    assert step["action"] == "updated" and step["changes"] == \
        [f"replaced_certificate: {old!r} -> None (update)"]
    assert [c["CertificateArn"] for c in
            aws.client("acm").list_certificates()["CertificateSummaryList"]] == [new]
