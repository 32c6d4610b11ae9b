"""Route 53 in front of the platform, through the real CLI.

Expected values are the spec's ("High-Level Architecture": Route 53 in front
of CloudFront; "Disaster Recovery / Failover Architecture / Route53 Health
Check": the primary ALB is monitored, TTL 60 s; "Failover Region: us-west-2
/ Standby ALB") and the agreed health-check settings (HTTPS /api/health,
every 30 s, 3 failures), written here rather than read from config, so a
wrong config fails.  Everything is read back with boto3.

The failover pair is whole: PRIMARY to the primary ALB with the health
check, SECONDARY to the standby ALB in us-west-2 (``dr.alb``), both TTL 60.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws
from tests.e2e.inventory import tags_of

pytestmark = pytest.mark.e2e

ZONE = "vivr.example.com."
ALIAS_NAMES = (ZONE, f"www.{ZONE}")
ALIAS_TYPES = {"A", "AAAA"}
#: CloudFront's fixed alias zone (AWS docs, "AliasTarget").
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
FAILOVER_NAME = f"origin.{ZONE}"
FAILOVER_TTL = 60  # spec: "TTL: 60 seconds (fast failover)"
SPEC_HEALTH_CHECK = {"Type": "HTTPS", "ResourcePath": "/api/health", "Port": 443,
                     "RequestInterval": 30, "FailureThreshold": 3}
ALIAS_STEPS = ("dns-alias.vivr.example.com", "dns-alias.www.vivr.example.com")
HEALTH_STEP = "health-check.primary-alb"
FAILOVER_STEP = "dns-failover.origin.vivr.example.com"
DR = "us-west-2"
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}


def _targets(*steps: str) -> list[str]:
    return [arg for step in steps for arg in ("--target", step)]


ALL_TARGETS = _targets(*ALIAS_STEPS, FAILOVER_STEP)
ALIAS_AND_CHECK = _targets(*ALIAS_STEPS, HEALTH_STEP)


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _zone_id(aws: Aws) -> str:
    zones = [z for z in aws.client("route53").list_hosted_zones()["HostedZones"]
             if z["Name"] == ZONE]
    assert len(zones) == 1, zones
    return str(zones[0]["Id"]).rsplit("/", 1)[-1]


def _records(aws: Aws) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    """Record sets of our zone by (name, type, set identifier)."""
    reply = aws.client("route53").list_resource_record_sets(HostedZoneId=_zone_id(aws))
    return {(r["Name"], r["Type"], r.get("SetIdentifier")): dict(r)
            for r in reply["ResourceRecordSets"]}


def _health_checks(aws: Aws) -> list[dict[str, Any]]:
    return list(aws.client("route53").list_health_checks()["HealthChecks"])


def _alb_dns(aws: Aws, region: str = "us-east-1", name: str = "vivr-alb") -> str:
    [alb] = aws.client("elbv2", region).describe_load_balancers(Names=[name])["LoadBalancers"]
    return str(alb["DNSName"])


def _standby_dns(aws: Aws) -> str:
    return _alb_dns(aws, DR, "vivr-dr-alb")


def _served_without_header(aws: Aws, port: int) -> list[tuple[list[str], list[str]]]:
    """(paths, methods) of every rule of the primary's ``port`` listener with no header test."""
    elbv2 = aws.client("elbv2")
    [alb] = elbv2.describe_load_balancers(Names=["vivr-alb"])["LoadBalancers"]
    [listener] = [li for li in elbv2.describe_listeners(
        LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"] if li["Port"] == port]
    served = []
    for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
        fields = {c["Field"]: c for c in rule["Conditions"]}
        if rule["IsDefault"] or "http-header" in fields:
            continue
        assert rule["Actions"][0]["Type"] == "forward"
        served.append((fields["path-pattern"]["PathPatternConfig"]["Values"],
                       fields["http-request-method"]["HttpRequestMethodConfig"]["Values"]))
    return served


def _set_failover(aws: Aws, role: str, target: str) -> None:
    """Repoint one record of the failover pair by hand, as an operator would."""
    record: dict[str, Any] = {"Name": FAILOVER_NAME, "Type": "CNAME",
                              "SetIdentifier": role.lower(), "Failover": role,
                              "TTL": FAILOVER_TTL, "ResourceRecords": [{"Value": target}]}
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=_zone_id(aws),
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]})


def _distribution_domain(aws: Aws) -> str:
    [distribution] = aws.client("cloudfront").list_distributions()["DistributionList"]["Items"]
    return str(distribution["DomainName"])


def _dns(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _set_alias(aws: Aws, name: str, record_type: str, target: str) -> None:
    """Repoint an alias record by hand, as an operator in the console would."""
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=_zone_id(aws), ChangeBatch={"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": name, "Type": record_type, "AliasTarget": {
                "HostedZoneId": CLOUDFRONT_ZONE_ID, "DNSName": target,
                "EvaluateTargetHealth": False}}}]})


def _assert_alias_records(aws: Aws) -> None:
    """A and AAAA of vivr.example.com and www point at the distribution."""
    domain = _dns(_distribution_domain(aws))
    records = _records(aws)
    for name in ALIAS_NAMES:
        for record_type in ALIAS_TYPES:
            record = records[(name, record_type, None)]
            alias = record["AliasTarget"]
            assert (_dns(alias["DNSName"]), alias["HostedZoneId"],
                    alias["EvaluateTargetHealth"]) == (domain, CLOUDFRONT_ZONE_ID, False), record
            assert "TTL" not in record and "ResourceRecords" not in record


def _same(live: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Whether a DELETE request names the live record (names/targets up to the final dot)."""
    def norm(record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        out["Name"] = _dns(record["Name"])
        if "AliasTarget" in record:
            out["AliasTarget"] = {**record["AliasTarget"],
                                  "DNSName": _dns(record["AliasTarget"]["DNSName"])}
        return out
    return norm(live) == norm(sent)


def test_apply_writes_the_spec_records_and_a_reapply_changes_nothing(aws: Aws) -> None:
    result = aws.cli("apply", *ALL_TARGETS, "--output", "json")
    code, report = result.returncode, json.loads(result.stdout)
    assert code == 0, report
    assert "failover.incomplete" not in result.stderr, "the pair is whole: nothing to warn of"
    actions = _actions(report)
    assert set(actions.values()) == {"created"}
    assert {*ALIAS_STEPS, HEALTH_STEP, "cloudfront", "alb", "dr.alb", "route53-zone"} \
        <= set(actions)

    # Health check: HTTPS /api/health on the primary ALB, every 30 s, 3 failures.
    [check] = _health_checks(aws)
    config = check["HealthCheckConfig"]
    assert {k: config[k] for k in SPEC_HEALTH_CHECK} == SPEC_HEALTH_CHECK
    assert config["FullyQualifiedDomainName"] == _alb_dns(aws)
    assert (config["Inverted"], config["Disabled"]) == (False, False)
    # Health checkers cannot send X-Origin-Verify: the path they probe is the one
    # the HTTPS listener forwards without it (GET/HEAD), not its 403 default.
    assert _served_without_header(aws, config["Port"]) == [([config["ResourcePath"]],
                                                            ["GET", "HEAD"])]
    tags = tags_of(aws.client("route53").list_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check["Id"])["ResourceTagSet"])
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    state = json.loads(aws.state_path.read_text())
    [request] = aws.requests("CreateHealthCheck")
    assert request["CallerReference"] == state["steps"][HEALTH_STEP]["token"], \
        "CallerReference is the step's recorded token, so a retried create is recognised"

    # Failover: the PRIMARY record is the ALB, TTL 60, the health check attached;
    # the SECONDARY is the us-west-2 standby ALB, TTL 60, no check (answered
    # whenever the PRIMARY is unhealthy).
    records = _records(aws)
    primary = records[(FAILOVER_NAME, "CNAME", "primary")]
    assert (primary["Failover"], primary["TTL"], primary["HealthCheckId"]) == \
        ("PRIMARY", FAILOVER_TTL, check["Id"])
    assert [_dns(v["Value"]) for v in primary["ResourceRecords"]] == [_dns(_alb_dns(aws))]
    secondary = records[(FAILOVER_NAME, "CNAME", "secondary")]
    assert (secondary["Failover"], secondary["TTL"]) == ("SECONDARY", FAILOVER_TTL)
    assert "HealthCheckId" not in secondary
    assert [_dns(v["Value"]) for v in secondary["ResourceRecords"]] == \
        [_dns(_standby_dns(aws))]
    assert _dns(_standby_dns(aws)) != _dns(_alb_dns(aws))
    assert sorted(k[2] for k in records if k[0] == FAILOVER_NAME) == ["primary", "secondary"]
    outputs = json.loads(aws.state_path.read_text())["steps"][FAILOVER_STEP]["outputs"]
    assert (outputs["primary_target"], outputs["secondary_target"]) == \
        (_dns(_alb_dns(aws)), _dns(_standby_dns(aws)))

    # Route 53 in front of CloudFront.
    _assert_alias_records(aws)

    # A second apply finds everything as it is and changes nothing.
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *ALL_TARGETS)
    actions = _actions(report)
    assert code == 0 and set(actions.values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    assert len(_health_checks(aws)) == 1


def test_hand_changes_are_reported_and_repaired_but_a_repointed_record_is_kept(aws: Aws) -> None:
    """Records have no tags: their value is the only proof of ownership."""
    code, report = aws.cli_json("apply", *ALIAS_AND_CHECK)
    assert code == 0, report
    domain = _dns(_distribution_domain(aws))
    www = f"www.{ZONE}"
    _set_alias(aws, www, "A", "elsewhere.cloudfront.net")
    [check] = _health_checks(aws)
    aws.client("route53").update_health_check(HealthCheckId=check["Id"], FailureThreshold=1)

    code, report = aws.cli_json("status", "--refresh")
    steps = {s["step"]: s for s in report["steps"]}
    alias = steps["dns-alias.www.vivr.example.com"]
    assert alias["action"] == "drifted"
    assert "elsewhere.cloudfront.net." in " ".join(alias["changes"])
    assert domain in " ".join(alias["changes"])
    assert steps["dns-alias.vivr.example.com"]["action"] == "ok"
    assert steps[HEALTH_STEP]["action"] == "drifted"
    assert "FailureThreshold: 1 -> 3" in " ".join(steps[HEALTH_STEP]["changes"])

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *ALIAS_AND_CHECK)
    assert code == 0, report
    actions = _actions(report)
    assert (actions["dns-alias.www.vivr.example.com"], actions[HEALTH_STEP]) == \
        ("updated", "updated")
    assert actions["dns-alias.vivr.example.com"] == "unchanged"
    _assert_alias_records(aws)
    assert _health_checks(aws)[0]["HealthCheckConfig"]["FailureThreshold"] == 3
    repair = aws.requests("ChangeResourceRecordSets")[-1]["ChangeBatch"]["Changes"]
    assert [(c["Action"], _dns(c["ResourceRecordSet"]["Name"]), c["ResourceRecordSet"]["Type"])
            for c in repair] == [("UPSERT", www, "A")], "only the drifted type is rewritten"
    [update] = aws.requests("UpdateHealthCheck")
    assert update["HealthCheckId"] == check["Id"] and "HealthCheckVersion" in update
    assert len(aws.mutating_calls(since=mark)) == 2, "one record batch, one health-check update"

    # Someone repoints the name: destroy leaves it (and its sibling type) alone.
    _set_alias(aws, www, "A", "theirs.cloudfront.net")
    before = _records(aws)
    result = aws.cli("destroy", "--yes", "--target", "dns-alias.www.vivr.example.com")
    assert result.returncode == 1
    assert "repointed by someone else" in result.stderr
    assert "theirs.cloudfront.net." in result.stderr
    assert _records(aws) == before

    # A crash between CreateHealthCheck and its tagging call leaves an untagged
    # check: with no state, the next apply adopts it by its CallerReference.
    aws.client("route53").change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check["Id"],
        RemoveTagKeys=["ManagedBy", "Project", "Environment", "Name", "vivr:step"])
    aws.state_path.unlink()
    code, report = aws.cli_json("apply", "--target", HEALTH_STEP)
    assert code == 0, report
    assert _actions(report)[HEALTH_STEP] == "updated"
    assert [c["Id"] for c in _health_checks(aws)] == [check["Id"]], "adopted, not duplicated"
    assert len(aws.requests("CreateHealthCheck")) == 1


def test_destroy_gives_back_the_zones_and_health_checks(aws: Aws) -> None:
    listing = aws.inventory()
    before = (listing["hosted_zones"], listing["health_checks"])
    code, report = aws.cli_json("apply", *ALL_TARGETS)
    assert code == 0 and _actions(report)[FAILOVER_STEP] == "created", report
    ours = [r for k, r in _records(aws).items() if k[1] in ("A", "AAAA", "CNAME")
            and k[0] in (*ALIAS_NAMES, FAILOVER_NAME)]
    assert len(ours) == 6  # 2 names x (A, AAAA) + the PRIMARY and the SECONDARY

    code, report = aws.cli_json("destroy", "--yes", "--disable-deletion-protection",
                                *_targets("route53-zone", HEALTH_STEP))
    assert code == 0, report
    actions = _actions(report)
    assert {actions[s] for s in (*ALIAS_STEPS, FAILOVER_STEP, HEALTH_STEP, "route53-zone")} \
        == {"deleted"}
    deleted = [c["ResourceRecordSet"] for r in aws.requests("ChangeResourceRecordSets")
               for c in r["ChangeBatch"]["Changes"] if c["Action"] == "DELETE"]
    for record in ours:  # a DELETE must carry the record exactly as it is
        assert any(_same(record, d) for d in deleted), record
    listing = aws.inventory()
    assert (listing["hosted_zones"], listing["health_checks"]) == before

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes", *_targets("route53-zone", HEALTH_STEP))
    assert code == 0 and set(_actions(report).values()) == {"absent"}
    assert aws.mutating_calls(since=mark) == []



def test_a_repointed_secondary_is_repaired_by_apply_and_kept_by_destroy(aws: Aws) -> None:
    """The SECONDARY is held to the standby ALB like the PRIMARY to the primary."""
    code, report = aws.cli_json("apply", "--target", FAILOVER_STEP)
    assert code == 0, report
    standby = _dns(_standby_dns(aws))
    _set_failover(aws, "SECONDARY", "elsewhere.example.net")

    code, report = aws.cli_json("status", "--refresh")
    step = {s["step"]: s for s in report["steps"]}[FAILOVER_STEP]
    assert step["action"] == "drifted"
    assert "elsewhere.example.net." in " ".join(step["changes"])
    assert standby in " ".join(step["changes"])

    code, report = aws.cli_json("apply", "--target", FAILOVER_STEP)
    assert code == 0 and _actions(report)[FAILOVER_STEP] == "updated", report
    repair = aws.requests("ChangeResourceRecordSets")[-1]["ChangeBatch"]["Changes"]
    assert [(c["Action"], c["ResourceRecordSet"]["SetIdentifier"]) for c in repair] == \
        [("UPSERT", "secondary")], "only the drifted record of the pair is rewritten"
    secondary = _records(aws)[(FAILOVER_NAME, "CNAME", "secondary")]
    assert [_dns(v["Value"]) for v in secondary["ResourceRecords"]] == [standby]

    # Someone repoints it again: destroy leaves the whole pair alone.
    _set_failover(aws, "SECONDARY", "theirs.example.net")
    before = _records(aws)
    result = aws.cli("destroy", "--yes", "--target", FAILOVER_STEP)
    assert result.returncode == 1
    assert "repointed by someone else" in result.stderr
    assert "theirs.example.net." in result.stderr
    assert _records(aws) == before

    # Pointed back, the pair is ours again and destroy removes both records.
    code, report = aws.cli_json("apply", "--target", FAILOVER_STEP)
    assert code == 0, report
    code, report = aws.cli_json("destroy", "--yes", "--target", FAILOVER_STEP)
    assert code == 0 and _actions(report)[FAILOVER_STEP] == "deleted", report
    assert not [k for k in _records(aws) if k[0] == FAILOVER_NAME]
