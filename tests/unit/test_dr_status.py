"""``dr status``: how the report is judged and assembled, on stubbed AWS answers.

Route 53 does not say which failover record it answers; the report works it
out from the records and their checks, so those rules are tested here case
by case.  The assembly is run against Stubber clients that expect exactly
the read calls the report makes (an unexpected call, a mutating one
included, fails the test).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.dr_status import DrSteps, applied, build_report, check_health, serving_side
from vivr_provision.dr_status_text import WIDTH, report_lines
from vivr_provision.state import State, StepRecord
from vivr_provision.steps import build_steps

NOW = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)
ZONE = "Z0123456789ABC"
CHECK = "e323646c-33a5-4bd7-b1d7-e8135856e97c"
PRIMARY_ALB = "vivr-alb-1.us-east-1.elb.amazonaws.com"
DR_ALB = "vivr-dr-alb-1.us-west-2.elb.amazonaws.com"
LB_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/vivr-dr-alb/4b84"
TG_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/vivr-dr-app-tg/9b80"
SOURCE_ARN = "arn:aws:rds:us-east-1:123456789012:db:vivr-db"
FAILOVER = "dns-failover.origin.vivr.example.com"


def _ok(*statuses: str) -> list[dict[str, Any]]:
    return [{"Region": "us-east-1", "IPAddress": "192.0.2.1",
             "StatusReport": {"Status": s, "CheckedTime": NOW}} for s in statuses]


@pytest.mark.parametrize(("settings", "observations", "state"), [
    ({}, _ok("Success: HTTP Status Code 200"), "healthy"),
    ({}, _ok("Failure: Connection timed out"), "unhealthy"),
    # Route 53: healthy when more than 18 % of the checkers say so (1 of 5 = 20 %).
    ({}, _ok("Success: 200", *["Failure: timeout"] * 4), "healthy"),
    ({}, _ok("Success: 200", *["Failure: timeout"] * 5), "unhealthy"),
    ({}, [], "unknown"),
    ({"Inverted": True}, _ok("Success: 200"), "unhealthy"),
    ({"Disabled": True}, _ok("Failure: timeout"), "healthy"),
    ({"Disabled": True, "Inverted": True}, [], "unhealthy"),
])
def test_a_check_is_judged_as_route53_judges_it(settings: dict[str, Any],
                                                observations: list[dict[str, Any]],
                                                state: str) -> None:
    assert check_health(settings, observations) == state


@pytest.mark.parametrize(("primary", "secondary", "side"), [
    ("healthy", "healthy", "primary"),
    ("unhealthy", "healthy", "secondary"),
    ("unhealthy", "unhealthy", "primary"),   # both down: Route 53 answers the PRIMARY
    ("unknown", "healthy", "unknown"),
    ("unhealthy", "unknown", "unknown"),
    ("unhealthy", None, "primary"),
    (None, "healthy", "secondary"),
    (None, None, "none"),
])
def test_the_serving_side_follows_route53s_failover_rules(primary: str | None,
                                                         secondary: str | None,
                                                         side: str) -> None:
    records = {"primary": None if primary is None else {"health": primary},
               "secondary": None if secondary is None else {"health": secondary}}
    assert serving_side(records)[0] == side


def _state() -> State:
    state = State(project="vivr", environment="production", account_id="123456789012",
                  region="us-east-1", serial=7, created_at="2026-12-01T00:00:00Z",
                  updated_at="2026-12-01T00:00:00Z")
    outputs: dict[str, dict[str, Any]] = {
        FAILOVER: {"id": f"{ZONE}:origin.vivr.example.com.", "zone_id": ZONE,
                   "name": "origin.vivr.example.com", "ttl": 60, "health_check_id": CHECK},
        "rds.vivr-db-replica-1": {"id": "vivr-db-replica-1", "identifier": "vivr-db-replica-1",
                                  "region": "us-east-1"},
        "dr.rds.vivr-db-dr": {"id": "vivr-db-dr", "identifier": "vivr-db-dr",
                              "region": "us-west-2"},
        "dr.alb": {"id": LB_ARN, "load_balancer_arn": LB_ARN, "name": "vivr-dr-alb"},
        "dr.alb-target-group": {"id": TG_ARN, "target_group_arn": TG_ARN,
                                "name": "vivr-dr-app-tg"},
    }
    for step, recorded in outputs.items():
        state.steps[step] = StepRecord(status="ready", resource_id=recorded["id"],
                                       outputs=recorded)
    return state


def _record(failover: str, target: str, check: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"Name": "origin.vivr.example.com.", "Type": "CNAME",
                              "SetIdentifier": failover.lower(), "Failover": failover,
                              "TTL": 60, "ResourceRecords": [{"Value": target}]}
    if check:
        record["HealthCheckId"] = check
    return record


def _expect_route53(aws: StubbedAws, observed: str, *, inverted: bool = False) -> None:
    other = {**_record("PRIMARY", "x"), "Name": "www.vivr.example.com."}
    aws.expect("route53", "list_resource_record_sets", {
        "ResourceRecordSets": [_record("PRIMARY", PRIMARY_ALB, CHECK),
                               _record("SECONDARY", DR_ALB), other],
        "IsTruncated": False, "MaxItems": "10"},
        {"HostedZoneId": ZONE, "StartRecordName": "origin.vivr.example.com.",
         "MaxItems": "10"})
    aws.expect("route53", "get_health_check", {"HealthCheck": {
        "Id": CHECK, "CallerReference": "r", "HealthCheckVersion": 1,
        "HealthCheckConfig": {"Type": "HTTPS", "FullyQualifiedDomainName": PRIMARY_ALB,
                              "ResourcePath": "/api/health", "Inverted": inverted,
                              "Disabled": False}}}, {"HealthCheckId": CHECK})
    aws.expect("route53", "get_health_check_status",
               {"HealthCheckObservations": _ok(observed, observed, observed)},
               {"HealthCheckId": CHECK})


def _lag_request(identifier: str) -> dict[str, Any]:
    return {"Namespace": "AWS/RDS", "MetricName": "ReplicaLag",
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": identifier}],
            "StartTime": datetime(2026, 12, 6, 4, 55, tzinfo=UTC), "EndTime": NOW,
            "Period": 60, "Statistics": ["Maximum"]}


def _expect_replica(aws: StubbedAws, identifier: str, region: str, source: str | None,
                    lag: list[tuple[int, float]]) -> None:
    db: dict[str, Any] = {"DBInstanceIdentifier": identifier, "DBInstanceStatus": "available",
                          "Endpoint": {"Address": f"{identifier}.x.{region}.rds.amazonaws.com"}}
    if source:
        db["ReadReplicaSourceDBInstanceIdentifier"] = source
    aws.expect("rds", "describe_db_instances", {"DBInstances": [db]},
               {"DBInstanceIdentifier": identifier}, region=region)
    points = [{"Timestamp": datetime(2026, 12, 6, 4, minute, tzinfo=UTC), "Maximum": value}
              for minute, value in lag]
    aws.expect("cloudwatch", "get_metric_statistics",
               {"Label": "ReplicaLag", "Datapoints": points}, _lag_request(identifier),
               region=region)


def _expect_standby(aws: StubbedAws, healthy: int) -> None:
    aws.expect("elbv2", "describe_load_balancers", {"LoadBalancers": [
        {"LoadBalancerArn": LB_ARN, "DNSName": DR_ALB, "State": {"Code": "active"}}]},
        {"LoadBalancerArns": [LB_ARN]}, region="us-west-2")
    aws.expect("elbv2", "describe_target_health", {"TargetHealthDescriptions": [
        {"Target": {"Id": f"10.1.1.{i}"}, "TargetHealth": {"State": "healthy"}}
        for i in range(healthy)] + [
        {"Target": {"Id": "10.1.2.9"}, "TargetHealth": {"State": "initial"}}]},
        {"TargetGroupArn": TG_ARN}, region="us-west-2")


def _report(aws: StubbedAws, state: State) -> dict[str, Any]:
    config = production_config()
    found = DrSteps.of(config, {s.name: s for s in build_steps(config)})
    with aws:
        return build_report(config, state, found, aws, now=NOW)


def test_the_report_reads_each_side_and_works_out_the_rpo_of_a_promotion_now() -> None:
    aws = StubbedAws()
    _expect_route53(aws, "Success: HTTP Status Code 200. OK")
    _expect_replica(aws, "vivr-db-replica-1", "us-east-1", "vivr-db", [(58, 0.2)])
    # The newest datapoint wins, whatever order CloudWatch answers in.
    _expect_replica(aws, "vivr-db-dr", "us-west-2", SOURCE_ARN, [(59, 0.8), (57, 3.0)])
    _expect_standby(aws, healthy=2)
    report = _report(aws, _state())

    [failover] = report["failover"]
    assert (failover["side"], failover["why"]) == ("primary",
                                                   "the PRIMARY's health check is healthy")
    assert failover["primary"]["target"] == PRIMARY_ALB
    assert failover["primary"]["health_check"]["healthy_checkers"] == 3
    assert (failover["secondary"]["target"], failover["secondary"]["health_check_id"]) == \
        (DR_ALB, None)
    replicas = {r["identifier"]: r for r in report["replicas"]}
    dr = replicas["vivr-db-dr"]
    assert (dr["status"], dr["source"], dr["cross_region"]) == ("available", SOURCE_ARN, True)
    assert (dr["lag_seconds"], dr["lag_at"]) == (0.8, "2026-12-06T04:59:00Z")
    assert dr["rpo"] == {"seconds": 0.8, "last_replicated_at": "2026-12-06T04:58:59Z",
                         "target_seconds": 3600, "within_target": True}
    assert "rpo" not in replicas["vivr-db-replica-1"], "only a promotion of the DR replica"
    assert report["standby"]["alb"] == {"step": "dr.alb", "name": "vivr-dr-alb",
                                        "state": "active", "dns_name": DR_ALB}
    assert report["standby"]["target_group"]["healthy"] == 2
    assert report["standby"]["target_group"]["registered"] == 3
    assert report["standby"]["ecs_service"] == {"step": "dr.ecs-service", "state": "not applied"}
    assert report["targets"] == {"rto_hours": 4, "rpo_hours": 1}

    lines = report_lines(report)
    assert max(len(line) for line in lines) <= WIDTH
    for line in ("  serving:          primary (us-east-1)",
                 "  replica lag:      0.8 s at 2026-12-06T04:59:00Z",
                 "  last replicated:  2026-12-06T04:58:59Z",
                 "  RPO if promoted:  0.8 s, within the 1 h target",
                 "  healthy targets:  2 of 3 registered (vivr-dr-app-tg)",
                 "  ECS service:      not applied",
                 "  RTO:              4 h"):
        assert line in lines
    assert lines.index("Cross-region replica vivr-db-dr (us-west-2)") < \
        lines.index("Same-region replica vivr-db-replica-1 (us-east-1)")


def test_the_standby_redis_is_reported_with_its_state_and_size() -> None:
    aws = StubbedAws()
    _expect_route53(aws, "Success: HTTP Status Code 200. OK")
    _expect_replica(aws, "vivr-db-replica-1", "us-east-1", "vivr-db", [(58, 0.2)])
    _expect_replica(aws, "vivr-db-dr", "us-west-2", SOURCE_ARN, [(59, 0.8)])
    _expect_standby(aws, healthy=0)
    aws.expect("elasticache", "describe_replication_groups", {"ReplicationGroups": [{
        "ReplicationGroupId": "vivr-dr-cache", "Status": "available",
        "CacheNodeType": "cache.t3.small", "MemberClusters": ["vivr-dr-cache-001"],
        "NodeGroups": [{"PrimaryEndpoint": {"Address": "master.vivr-dr-cache.x.usw2",
                                            "Port": 6379}}]}]},
        {"ReplicationGroupId": "vivr-dr-cache"}, region="us-west-2")
    state = _state()
    state.steps["dr.cache"] = StepRecord(status="ready", resource_id="vivr-dr-cache", outputs={
        "id": "vivr-dr-cache", "replication_group_id": "vivr-dr-cache", "port": 6379})
    report = _report(aws, state)
    assert report["standby"]["redis"] == {
        "step": "dr.cache", "name": "vivr-dr-cache", "state": "available",
        "node_type": "cache.t3.small", "nodes": 1, "endpoint": "master.vivr-dr-cache.x.usw2"}
    lines = report_lines(report)
    assert "  Redis:            vivr-dr-cache: available, 1 x cache.t3.small" in lines
    assert max(len(line) for line in lines) <= WIDTH


def test_after_a_promotion_the_report_says_the_secondary_serves_a_standalone_db() -> None:
    aws = StubbedAws()
    _expect_route53(aws, "Success: HTTP Status Code 200. OK", inverted=True)
    aws.expect_error("rds", "describe_db_instances", "DBInstanceNotFound",
                     "DBInstance vivr-db-replica-1 not found.",
                     {"DBInstanceIdentifier": "vivr-db-replica-1"})
    _expect_replica(aws, "vivr-db-dr", "us-west-2", None, [])
    _expect_standby(aws, healthy=0)
    report = _report(aws, _state())

    assert report["failover"][0]["side"] == "secondary"
    assert report["failover"][0]["primary"]["health_check"]["inverted"] is True
    replicas = {r["identifier"]: r for r in report["replicas"]}
    assert replicas["vivr-db-replica-1"]["status"] == \
        "unreadable: DBInstanceNotFound: DBInstance vivr-db-replica-1 not found."
    assert replicas["vivr-db-dr"]["rpo"]["seconds"] is None
    lines = report_lines(report)
    assert "  serving:          secondary (us-west-2)" in lines
    assert "    health check:   unhealthy, 3 of 3 checkers ok (inverted)" in lines
    assert "  source:           none (standalone: promoted or not a replica)" in lines
    assert "  replica lag:      no datapoint (last 5 minutes)" in lines
    assert "  RPO if promoted:  unknown (target 1 h)" in lines


def test_steps_not_applied_are_named_and_read_nothing() -> None:
    state = _state()
    for step in (FAILOVER, "rds.vivr-db-replica-1", "dr.alb", "dr.alb-target-group"):
        del state.steps[step]
    aws = StubbedAws()
    _expect_replica(aws, "vivr-db-dr", "us-west-2", SOURCE_ARN, [])
    report = _report(aws, state)
    assert report["failover"][0]["why"] == "not applied"
    assert {r["step"]: r["status"] for r in report["replicas"]}["rds.vivr-db-replica-1"] == \
        "not applied"
    assert report["standby"]["alb"] == {"step": "dr.alb", "state": "not applied"}
    lines = report_lines(report)
    assert "  ALB:              not applied" in lines


def test_nothing_of_the_dr_side_applied_is_told_apart() -> None:
    config = production_config()
    found = DrSteps.of(config, {s.name: s for s in build_steps(config)})
    empty = State(project="vivr", environment="production", created_at="x", updated_at="x")
    assert applied(empty, found) == []
    assert set(applied(_state(), found)) == {FAILOVER, "rds.vivr-db-replica-1",
                                             "dr.rds.vivr-db-dr", "dr.alb",
                                             "dr.alb-target-group"}


def _with_distribution(state: State, origin: str) -> State:
    state.steps["cloudfront"] = StepRecord(status="ready", resource_id="E2DIST", outputs={
        "id": "E2DIST", "distribution_id": "E2DIST", "origin_domains": {"app": origin}})
    state.steps["alb"] = StepRecord(status="ready", resource_id="lb", outputs={
        "id": "lb", "dns_name": PRIMARY_ALB})
    state.steps["dr.alb"].outputs["dns_name"] = DR_ALB
    return state


def _expect_distribution(aws: StubbedAws, origin: str) -> None:
    """GetDistribution, read live (the origin may have been edited since apply)."""
    aws.expect("cloudfront", "get_distribution", {"Distribution": {
        "Id": "E2DIST", "ARN": "arn:aws:cloudfront::123456789012:distribution/E2DIST",
        "Status": "Deployed", "LastModifiedTime": NOW, "InProgressInvalidationBatches": 0,
        "DomainName": "d1.cloudfront.net", "ActiveTrustedSigners": {"Enabled": False,
                                                                    "Quantity": 0},
        "DistributionConfig": {
            "CallerReference": "r", "Comment": "vivr-cdn", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "app", "DomainName": origin}]},
            "DefaultCacheBehavior": {"TargetOriginId": "app",
                                     "ViewerProtocolPolicy": "https-only"}}}},
        {"Id": "E2DIST"})


@pytest.mark.parametrize(("origin", "through", "line"), [
    ("origin.vivr.example.com", "failover",
     "  path:             failover, follows the side Route 53 answers"),
    # Before issue 11: a failover of the records would not have moved CloudFront.
    (PRIMARY_ALB, "primary-alb",
     "  path:             primary-alb, the ALB itself: a failover does not move it"),
])
def test_the_report_says_where_cloudfronts_app_origin_points(origin: str, through: str,
                                                            line: str) -> None:
    aws = StubbedAws()
    _expect_distribution(aws, origin)
    _expect_route53(aws, "Success: HTTP Status Code 200. OK")
    _expect_replica(aws, "vivr-db-replica-1", "us-east-1", "vivr-db", [])
    _expect_replica(aws, "vivr-db-dr", "us-west-2", SOURCE_ARN, [])
    _expect_standby(aws, healthy=0)
    report = _report(aws, _with_distribution(_state(), origin))
    assert report["edge"] == {"step": "cloudfront", "distribution_id": "E2DIST",
                              "origin_id": "app", "origin_domain": origin, "through": through,
                              "why": report["edge"]["why"]}
    lines = report_lines(report)
    assert max(len(x) for x in lines) <= WIDTH
    assert lines[lines.index("CloudFront (application origin)") + 1] == \
        f"  origin:           app -> {origin}"
    assert line in lines
