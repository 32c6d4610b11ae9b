"""``dr promote --dry-run``: the runbook's order, its budgets and what blocks a stage.

The stage model is resolved against the production graph (and the same
graph without its standby ECS service) and hand-made states; the RPO read runs on Stubber
clients that expect exactly the two reads ``dr status`` makes of the DR
replica (a mutating call would fail the test).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.dr_promote import dry_run, stage_views, totals
from vivr_provision.dr_promote_text import WIDTH, dry_run_lines, duration_text
from vivr_provision.dr_runbook import PROMOTION
from vivr_provision.dr_status import DrSteps
from vivr_provision.state import State, StepRecord
from vivr_provision.steps import build_steps

NOW = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)
SOURCE_ARN = "arn:aws:rds:us-east-1:123456789012:db:vivr-db"
FAILOVER = "dns-failover.origin.vivr.example.com"
REPLICA = "dr.rds.vivr-db-dr"
NOT_BUILT = ("not possible yet: the standby ECS service is not built yet (no "
             "dr.ecs-service step in the graph)")


def _found() -> DrSteps:
    config = production_config()
    return DrSteps.of(config, {s.name: s for s in build_steps(config)})


def _state(*steps: str) -> State:
    state = State(project="vivr", environment="production", account_id="123456789012",
                  region="us-east-1", created_at="x", updated_at="x")
    outputs = {REPLICA: {"id": "vivr-db-dr", "identifier": "vivr-db-dr"},
               FAILOVER: {"id": "Z1:origin", "name": "origin.vivr.example.com"},
               "dr.ecs-service": {"id": "arn:svc", "service_name": "vivr-dr-app"},
               "dr.alb-target-group": {"id": "arn:tg", "target_group_arn": "arn:tg"}}
    for step in steps:
        state.steps[step] = StepRecord(status="ready", resource_id="x", outputs=outputs[step])
    return state


def test_the_stages_follow_the_issues_order_and_say_what_they_call() -> None:
    assert [s.name for s in PROMOTION] == ["check-rpo", "promote-db", "point-app",
                                           "scale-standby", "move-traffic", "record-rto"]
    calls = {s.name: s.operations for s in PROMOTION}
    assert "rds:PromoteReadReplica" in calls["promote-db"]
    assert "ecs:UpdateService" in calls["scale-standby"]
    assert "route53:UpdateHealthCheck" in calls["move-traffic"]
    assert [s.name for s in PROMOTION if not s.mutating] == ["check-rpo", "record-rto"]
    assert [s.name for s in PROMOTION if not s.reversible] == ["promote-db"]


def test_durations_worked_out_from_the_config_name_their_inputs() -> None:
    views = {v["name"]: v for v in stage_views(production_config(), _state(), _found())}
    # Route 53: 3 failures 30 s apart, then the 60 s TTL; up to 60 s more to propagate.
    move = views["move-traffic"]
    assert (move["typical_seconds"], move["upper_seconds"]) == (150, 210)
    assert "3 failures 30 s apart" in move["source"]
    # Task start (120 s, up to 600 s) + 2 healthy checks 30 s apart.
    scale = views["scale-standby"]
    assert (scale["typical_seconds"], scale["upper_seconds"]) == (180, 720)
    assert scale["does"] == ("Scale the standby service to the primary's 3 tasks; "
                             "wait for 3 healthy targets.")
    assert "several minutes or longer" in views["promote-db"]["source"]


def test_a_stage_is_not_possible_while_its_step_is_missing_or_not_applied() -> None:
    config = production_config()
    built = _found()
    assert built.standby_ecs == "dr.ecs-service"
    found = DrSteps(failover=built.failover, replicas=built.replicas,
                    standby_alb=built.standby_alb,
                    standby_target_group=built.standby_target_group, standby_ecs=None)
    views = {v["name"]: v for v in stage_views(config, _state(REPLICA, FAILOVER), found)}
    assert {n for n, v in views.items() if v["possible"]} == {
        "check-rpo", "promote-db", "move-traffic", "record-rto"}
    for name in ("point-app", "scale-standby"):
        assert f"not possible yet: {views[name]['why_not']}" == NOT_BUILT

    with_service = DrSteps(failover=found.failover, replicas=found.replicas,
                           standby_alb=found.standby_alb,
                           standby_target_group=found.standby_target_group,
                           standby_ecs="dr.ecs-service")
    views = {v["name"]: v for v in stage_views(config, _state(REPLICA), with_service)}
    assert views["point-app"]["why_not"] == (
        "the standby ECS service is not applied (dr.ecs-service: "
        "`vivr-provision apply --target dr.ecs-service`)")
    assert views["move-traffic"]["why_not"].startswith("the failover record is not applied")
    applied = _state(REPLICA, FAILOVER, "dr.ecs-service", "dr.alb-target-group")
    views = {v["name"]: v for v in stage_views(config, applied, with_service)}
    assert all(v["possible"] for v in views.values())
    assert views["scale-standby"]["steps"] == ["dr.ecs-service", "dr.alb-target-group"]


def test_the_total_is_judged_on_the_allowance_against_the_rto() -> None:
    views = stage_views(production_config(), _state(), _found())
    typical = sum(v["typical_seconds"] for v in views)
    upper = sum(v["upper_seconds"] for v in views)
    assert (typical, upper) == (992, 5145)
    within = totals(views, rto_hours=4)
    assert (within["within_rto"], within["margin_seconds"]) == (True, 4 * 3600 - 5145)
    # One hour holds the typical sum (16 min 32 s) but not the allowance (1 h 25 min).
    over = totals(views, rto_hours=1)
    assert (over["within_rto"], over["margin_seconds"]) == (False, 3600 - 5145)
    assert (over["stages"], over["possible"]) == (6, 1)


def _expect_replica(aws: StubbedAws, source: str | None, lag: list[tuple[int, float]]) -> None:
    db: dict[str, Any] = {"DBInstanceIdentifier": "vivr-db-dr",
                          "DBInstanceStatus": "available"}
    if source:
        db["ReadReplicaSourceDBInstanceIdentifier"] = source
    aws.expect("rds", "describe_db_instances", {"DBInstances": [db]},
               {"DBInstanceIdentifier": "vivr-db-dr"}, region="us-west-2")
    points = [{"Timestamp": datetime(2026, 12, 6, 4, minute, tzinfo=UTC), "Maximum": value}
              for minute, value in lag]
    aws.expect("cloudwatch", "get_metric_statistics",
               {"Label": "ReplicaLag", "Datapoints": points}, None, region="us-west-2")


def _document(aws: StubbedAws | None, state: State) -> dict[str, Any]:
    if aws is None:
        return dry_run(production_config(), state, _found(), None, now=NOW)
    with aws:
        return dry_run(production_config(), state, _found(), aws, now=NOW)


def test_the_rpo_budget_is_the_dr_replicas_lag_read_as_dr_status_reads_it() -> None:
    aws = StubbedAws()
    _expect_replica(aws, SOURCE_ARN, [(59, 0.8), (57, 3.0)])
    document = _document(aws, _state(REPLICA, FAILOVER))
    rpo = document["rpo"]
    assert (rpo["readable"], rpo["lag_seconds"], rpo["last_replicated_at"],
            rpo["within_target"], rpo["target_seconds"]) == (
        True, 0.8, "2026-12-06T04:58:59Z", True, 3600)

    lines = dry_run_lines(document)
    assert max(len(line) for line in lines) <= WIDTH
    assert lines[:2] == ["dr promote --dry-run vivr production: us-east-1 -> us-west-2",
                         "checked at 2026-12-06T05:00:00Z; nothing was changed"]
    for expected in (
            "1. check-rpo                                                    ~1 s, up to 10 s",
            "2. promote-db                                                 ~10 min, up to 1 h",
            "   reversible: no: a promoted instance never becomes a replica again; the way",
            "   calls:      rds:PromoteReadReplica, waiter db_instance_available",
            "   not possible yet: the standby ECS service is not applied (dr.ecs-service:",
            "RTO budget (4 h)",
            "   stages:     ~16 min 32 s typical, up to 1 h 25 min",
            "   verdict:    within the 4 h RTO, 2 h 34 min left for detection and the",
            "   possible:   4 of 6 stages now (the others say why not)",
            "RPO budget (1 h)",
            "   replica:    vivr-db-dr (us-west-2): available",
            "   lag:        0.8 s at 2026-12-06T04:59:00Z",
            "   verdict:    a promotion now loses 0.8 s, within the 1 h target"):
        assert expected in lines, f"{expected!r} not in:\n" + "\n".join(lines)


@pytest.mark.parametrize(("source", "lag", "why"), [
    (SOURCE_ARN, [], "no ReplicaLag datapoint in the last 5 minutes"),
    (None, [(59, 0.0)], "vivr-db-dr has no source: already standalone (promoted) or not a "
                        "replica"),
])
def test_an_rpo_that_cannot_be_read_says_why_and_is_never_zero(
        source: str | None, lag: list[tuple[int, float]], why: str) -> None:
    aws = StubbedAws()
    _expect_replica(aws, source, lag)
    rpo = _document(aws, _state(REPLICA))["rpo"]
    assert (rpo["readable"], rpo["why"], rpo["lag_seconds"]) == (False, why, None)


def test_nothing_applied_reads_nothing_and_says_so() -> None:
    document = _document(None, _state())
    assert document["rpo"]["why"] == "dr.rds.vivr-db-dr is not applied"
    lines = dry_run_lines(document)
    assert max(len(line) for line in lines) <= WIDTH
    assert "   verdict:    not readable: dr.rds.vivr-db-dr is not applied" in lines
    assert "   possible:   1 of 6 stages now (the others say why not)" in lines


def test_an_rto_too_short_for_the_allowance_is_called_over() -> None:
    document = _document(None, _state())
    document["rto"] = {"hours": 1, **totals(document["stages"], rto_hours=1)}
    assert "   verdict:    OVER the 1 h RTO by 25 min 45 s" in dry_run_lines(document)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (59, "59 s"), (60, "1 min"), (992, "16 min 32 s"), (3600, "1 h"),
    (5145, "1 h 25 min"), (14400, "4 h")])
def test_durations_read_as_a_person_says_them(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text
