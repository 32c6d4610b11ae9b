"""``dr promote``'s stages on botocore Stubber clients: each request, its order, the journal.

Every stage is run against a state in memory and stubbed clients that
expect exactly the calls AWS must receive (a call not announced, or with
other parameters, fails the test).  The ``save`` callback records what the
stage's journal held at each save, which proves the way back was written
*before* the mutating call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.dr_execute import StageContext, StageRefused, execute, resume_at
from vivr_provision.dr_guard import protected_steps, refuse_undoing_promotion
from vivr_provision.dr_journal import new_run
from vivr_provision.dr_runbook import PROMOTION
from vivr_provision.dr_stages import (
    check_rpo,
    database_variables,
    move_traffic,
    point_app,
    promote_db,
    record_rto,
    scale_standby,
)
from vivr_provision.dr_status import DrSteps
from vivr_provision.errors import ConfigError, ProvisionError
from vivr_provision.state import State, StepRecord
from vivr_provision.state.codec import decode, encode

NOW = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)
DR = "us-west-2"
REPLICA = "dr.rds.vivr-db-dr"
FAILOVER = "dns-failover.origin.vivr.example.com"
SOURCE = "arn:aws:rds:us-east-1:123456789012:db:vivr-db"
ADDRESS = "vivr-db-dr.abc.us-west-2.rds.amazonaws.com"
TD_OLD = "arn:aws:ecs:us-west-2:123456789012:task-definition/vivr-dr-app:4"
TD_NEW = "arn:aws:ecs:us-west-2:123456789012:task-definition/vivr-dr-app:5"
TG = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/vivr-dr-app-tg/1"
STANDBY_ALB = "vivr-dr-alb-1.us-west-2.elb.amazonaws.com"
CHECK = "hc-1"
FOUND = DrSteps(failover=(FAILOVER,), replicas=((REPLICA, DR, True),), standby_alb="dr.alb",
                standby_target_group="dr.alb-target-group", standby_ecs="dr.ecs-service")
OUTPUTS: dict[str, dict[str, Any]] = {
    REPLICA: {"id": "vivr-db-dr", "identifier": "vivr-db-dr"},
    FAILOVER: {"id": "Z1:origin", "zone_id": "/hostedzone/Z1",
               "name": "origin.vivr.example.com", "health_check_id": CHECK,
               "secondary_target": STANDBY_ALB + "."},
    "dr.ecs-service": {"id": "arn:svc", "service_name": "vivr-dr-app",
                       "cluster_name": "vivr-dr-cluster"},
    "dr.alb-target-group": {"id": TG, "target_group_arn": TG},
}


def _state(*steps: str) -> State:
    state = State(project="vivr", environment="production", account_id="123456789012",
                  region="us-east-1", created_at="x", updated_at="x")
    for step in steps or tuple(OUTPUTS):
        state.steps[step] = StepRecord(status="ready", resource_id="x", outputs=OUTPUTS[step])
    return state


class Journal:
    """The ``save`` callback: a copy of the current stage's outputs at every save."""

    def __init__(self) -> None:
        self.saves: list[dict[str, Any]] = []
        self.ctx: StageContext | None = None

    def __call__(self) -> None:
        assert self.ctx is not None
        record = self.ctx.record
        self.saves.append(dict(record.outputs) if record is not None else {})


def _context(aws: StubbedAws, state: State | None = None, found: DrSteps = FOUND,
             **kwargs: Any) -> tuple[StageContext, Journal, list[str]]:
    config = production_config()
    state = state or _state()
    run = new_run(config, "promotion", PROMOTION, NOW)
    state.dr.promotion = run
    journal, said = Journal(), []
    ctx = StageContext(config, state, aws, found, run, journal, said.append,
                       clock=lambda: NOW, **kwargs)
    journal.ctx = ctx
    ctx.record = run.stages["check-rpo"]
    return ctx, journal, said


def _db(source: str | None, status: str = "available") -> dict[str, Any]:
    db: dict[str, Any] = {"DBInstanceIdentifier": "vivr-db-dr", "DBInstanceStatus": status,
                          "DBInstanceArn": "arn:aws:rds:us-west-2:123456789012:db:vivr-db-dr",
                          "Endpoint": {"Address": ADDRESS, "Port": 5432}}
    if source:
        db["ReadReplicaSourceDBInstanceIdentifier"] = source
    return {"DBInstances": [db]}


def _lag(aws: StubbedAws, seconds: float) -> None:
    aws.expect("rds", "describe_db_instances", _db(SOURCE),
               {"DBInstanceIdentifier": "vivr-db-dr"}, region=DR)
    aws.expect("cloudwatch", "get_metric_statistics", {"Datapoints": [
        {"Timestamp": NOW - timedelta(minutes=1), "Maximum": seconds}]}, region=DR)


# --------------------------------------------------------------------------- check-rpo

def test_check_rpo_reports_the_lag_within_the_target() -> None:
    with StubbedAws() as aws:
        _lag(aws, 2.0)
        ctx, _, _ = _context(aws)
        outputs = check_rpo(ctx)
    assert (outputs["lag_seconds"], outputs["summary"]) == (2.0, "RPO 2 s, within the 1 h target")


def test_check_rpo_refuses_a_lag_over_the_target_unless_the_loss_is_accepted() -> None:
    with StubbedAws() as aws:
        _lag(aws, 4000.0)
        ctx, _, _ = _context(aws)
        with pytest.raises(StageRefused, match="lags 4000 s, over the 1 h RPO; nothing was "
                                               "changed: rerun with --accept-rpo-loss"):
            check_rpo(ctx)
    with StubbedAws() as aws:
        _lag(aws, 4000.0)
        ctx, _, said = _context(aws, accept_rpo_loss=True)
        outputs = check_rpo(ctx)
    assert outputs["accepted_loss"] is True
    assert said == ["check-rpo: the replica lags 4000 s, over the 1 h RPO; accepted "
                    "(--accept-rpo-loss)"]


# --------------------------------------------------------------------------- promote-db

def test_promote_db_journals_the_source_promotes_with_the_primarys_backups_and_checks() -> None:
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances", _db(SOURCE), region=DR)
        aws.expect("rds", "promote_read_replica", {}, {
            "DBInstanceIdentifier": "vivr-db-dr", "BackupRetentionPeriod": 30,
            "PreferredBackupWindow": "03:00-04:00"}, region=DR)
        aws.expect("rds", "describe_db_instances", _db(None), region=DR)  # the waiter
        aws.expect("rds", "describe_db_instances", _db(None), region=DR)
        ctx, journal, _ = _context(aws)
        ctx.record = ctx.run.stages["promote-db"]
        outputs = promote_db(ctx)
    assert journal.saves == [{"identifier": "vivr-db-dr", "region": DR, "source": SOURCE}]
    assert (outputs["address"], outputs["port"], outputs["promoted_now"]) == (ADDRESS, 5432,
                                                                              True)


def test_promote_db_does_not_promote_a_standalone_instance_and_refuses_a_lingering_source(
        ) -> None:
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances", _db(None), region=DR)
        aws.expect("rds", "describe_db_instances", _db(None), region=DR)
        aws.expect("rds", "describe_db_instances", _db(None), region=DR)
        ctx, journal, _ = _context(aws)
        ctx.record = ctx.run.stages["promote-db"]
        assert promote_db(ctx)["summary"] == "vivr-db-dr is standalone and writable (it " \
                                             "already was)"
    assert journal.saves == []
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances", _db(SOURCE, "modifying"), region=DR)
        aws.expect("rds", "describe_db_instances", _db(SOURCE), region=DR)
        aws.expect("rds", "describe_db_instances", _db(SOURCE), region=DR)
        ctx, _, said = _context(aws)
        ctx.record = ctx.run.stages["promote-db"]
        with pytest.raises(ProvisionError, match="available but still a replica of"):
            promote_db(ctx)
    assert said == ["promote-db: vivr-db-dr is modifying: waiting for it"]


# --------------------------------------------------------------------------- point-app

def _service(desired: int, task_definition: str = TD_OLD) -> dict[str, Any]:
    return {"services": [{"serviceName": "vivr-dr-app", "taskDefinition": task_definition,
                          "desiredCount": desired, "runningCount": desired,
                          "deployments": [{"status": "PRIMARY"}], "status": "ACTIVE"}]}


def _definition(host: str) -> dict[str, Any]:
    return {"taskDefinition": {
        "taskDefinitionArn": TD_OLD, "family": "vivr-dr-app", "revision": 4,
        "status": "ACTIVE", "networkMode": "awsvpc", "cpu": "512", "memory": "1024",
        "requiresCompatibilities": ["FARGATE"], "compatibilities": ["EC2", "FARGATE"],
        "registeredAt": NOW,
        "containerDefinitions": [{"name": "app", "image": "app:1", "essential": True,
                                  "environment": [{"name": "DATABASE_WRITER_HOST",
                                                   "value": host},
                                                  {"name": "NODE_ENV",
                                                   "value": "production"}]}]},
        "tags": [{"key": "vivr:stack", "value": "vivr-production"}]}


def test_point_app_registers_a_revision_naming_the_promoted_database_and_rolls_to_it(
        ) -> None:
    variables = database_variables(production_config())
    assert variables["DATABASE_WRITER_HOST"] == "host"
    assert variables["DATABASE_HOST"] == "host" and variables["DATABASE_PORT"] == "port"
    assert "REDIS_HOST" not in variables
    environment = [{"name": "DATABASE_WRITER_HOST", "value": ADDRESS},
                   {"name": "NODE_ENV", "value": "production"},
                   *({"name": n, "value": ADDRESS if kind == "host" else "5432"}
                     for n, kind in variables.items() if n != "DATABASE_WRITER_HOST")]
    cluster = {"cluster": "vivr-dr-cluster", "services": ["vivr-dr-app"]}
    with StubbedAws() as aws:
        aws.expect("ecs", "describe_services", _service(0), cluster, region=DR)
        aws.expect("ecs", "describe_task_definition", _definition("old.host"),
                   {"taskDefinition": TD_OLD, "include": ["TAGS"]}, region=DR)
        aws.expect("ecs", "register_task_definition",
                   {"taskDefinition": {"taskDefinitionArn": TD_NEW}}, {
                       "family": "vivr-dr-app", "networkMode": "awsvpc", "cpu": "512",
                       "memory": "1024", "requiresCompatibilities": ["FARGATE"],
                       "containerDefinitions": [{"name": "app", "image": "app:1",
                                                 "essential": True,
                                                 "environment": environment}],
                       "tags": [{"key": "vivr:stack", "value": "vivr-production"}]},
                   region=DR)
        aws.expect("ecs", "update_service", {}, {"cluster": "vivr-dr-cluster",
                                                 "service": "vivr-dr-app",
                                                 "taskDefinition": TD_NEW}, region=DR)
        ctx, journal, _ = _context(aws)
        ctx.run.stages["promote-db"].outputs = {"address": ADDRESS, "port": 5432}
        ctx.record = ctx.run.stages["point-app"]
        outputs = point_app(ctx)
    assert journal.saves == [{"previous_task_definition": TD_OLD},
                             {"previous_task_definition": TD_OLD, "registered": TD_NEW}]
    assert outputs["task_definition"] == TD_NEW


def test_point_and_scale_are_skipped_on_a_pilot_light_without_the_standby_service() -> None:
    found = DrSteps(failover=(FAILOVER,), replicas=((REPLICA, DR, True),),
                    standby_alb="dr.alb", standby_target_group=None, standby_ecs=None)
    with StubbedAws() as aws:
        ctx, _, said = _context(aws, _state(REPLICA, FAILOVER), found)
        ctx.run.stages["check-rpo"].status = "done"
        ctx.run.stages["promote-db"].status = "done"
        ctx.run.stages["move-traffic"].status = "done"
        execute(ctx, PROMOTION, {"point-app": point_app, "scale-standby": scale_standby,
                                 "record-rto": record_rto})
    why = "no standby ECS service in the graph (dr.ecs-service): pilot light without ECS"
    assert said[:2] == [f"point-app: skipped: {why}", f"scale-standby: skipped: {why}"]
    assert ctx.run.stages["point-app"].error == why
    assert ctx.run.status == "done"


# --------------------------------------------------------------------------- scale-standby

def test_scale_standby_scales_to_the_primarys_count_and_waits_for_healthy_targets() -> None:
    cluster = {"cluster": "vivr-dr-cluster", "services": ["vivr-dr-app"]}
    healthy = {"TargetHealthDescriptions": [
        {"Target": {"Id": f"10.1.0.{i}"}, "TargetHealth": {"State": "healthy"}}
        for i in range(3)]}
    with StubbedAws() as aws:
        aws.expect("ecs", "describe_services", _service(0), cluster, region=DR)
        aws.expect("ecs", "update_service", {}, {"cluster": "vivr-dr-cluster",
                                                 "service": "vivr-dr-app",
                                                 "desiredCount": 3}, region=DR)
        aws.expect("ecs", "describe_services", _service(3), cluster, region=DR)  # the waiter
        aws.expect("elbv2", "describe_target_health", {"TargetHealthDescriptions": []},
                   {"TargetGroupArn": TG}, region=DR)
        aws.expect("elbv2", "describe_target_health", healthy, {"TargetGroupArn": TG},
                   region=DR)
        ctx, journal, _ = _context(aws)
        ctx.record = ctx.run.stages["scale-standby"]
        outputs = scale_standby(ctx)
    assert journal.saves == [{"previous_desired_count": 0}]
    assert outputs["summary"] == "3 tasks, 3 healthy targets"


# --------------------------------------------------------------------------- move-traffic

def test_move_traffic_inverts_the_check_at_its_version_and_verifies_the_answer() -> None:
    check = {"HealthCheck": {"Id": CHECK, "CallerReference": "r", "HealthCheckVersion": 7,
                             "HealthCheckConfig": {"Type": "HTTPS", "Inverted": False}}}
    success = {"HealthCheckObservations": [
        {"StatusReport": {"Status": "Success: HTTP Status Code 200"}}]}
    with StubbedAws() as aws:
        aws.expect("route53", "get_health_check", check, {"HealthCheckId": CHECK})
        aws.expect("route53", "update_health_check", check, {
            "HealthCheckId": CHECK, "HealthCheckVersion": 7, "Inverted": True})
        aws.expect("route53", "get_health_check_status", success, {"HealthCheckId": CHECK})
        aws.expect("route53", "test_dns_answer", {
            "Nameserver": "ns", "RecordName": "origin.vivr.example.com", "RecordType": "CNAME",
            "RecordData": [STANDBY_ALB], "ResponseCode": "NOERROR", "Protocol": "UDP"}, {
            "HostedZoneId": "Z1", "RecordName": "origin.vivr.example.com",
            "RecordType": "CNAME"})
        ctx, journal, _ = _context(aws)
        ctx.record = ctx.run.stages["move-traffic"]
        outputs = move_traffic(ctx)
    assert journal.saves == [{"health_check_id": CHECK, "previous_inverted": False}]
    assert outputs["answers"] == {"origin.vivr.example.com": STANDBY_ALB}


# --------------------------------------------------------------------------- the run

def test_a_failed_stage_stops_the_run_and_a_rerun_resumes_there() -> None:
    calls: list[str] = []

    def fails(ctx: StageContext) -> dict[str, Any]:
        calls.append("promote-db")
        raise RuntimeError("boom")

    def works(name: str) -> Any:
        return lambda ctx: calls.append(name) or {}

    actions = {s.name: works(s.name) for s in PROMOTION}
    with StubbedAws() as aws:
        ctx, _, _ = _context(aws)
        with pytest.raises(ProvisionError, match=r"stage promote-db failed: boom; state saved"):
            execute(ctx, PROMOTION, {**actions, "promote-db": fails})
        assert (ctx.run.status, ctx.run.stages["promote-db"].error) == ("failed", "boom")
        assert resume_at(ctx.run, PROMOTION) == "promote-db"
        execute(ctx, PROMOTION, actions)
    assert calls == ["check-rpo", "promote-db", "promote-db", "point-app", "scale-standby",
                     "move-traffic", "record-rto"]
    assert ctx.run.status == "done" and resume_at(ctx.run, PROMOTION) is None


def test_record_rto_sets_the_elapsed_time_against_the_rto() -> None:
    with StubbedAws() as aws:
        ctx, _, _ = _context(aws)
        ctx.clock = lambda: NOW + timedelta(minutes=20)
        assert record_rto(ctx)["summary"] == "1200 s elapsed, within the 4 h RTO"


# --------------------------------------------------------------------------- guard and state

def test_apply_is_refused_only_on_what_a_started_stage_changed() -> None:
    config = production_config()
    with StubbedAws() as aws:
        ctx, _, _ = _context(aws)
    state = ctx.state
    assert protected_steps(config, FOUND, state) == [], "nothing acted yet"
    state.dr.promotion.stages["promote-db"].status = "running"  # type: ignore[union-attr]
    state.dr.promotion.stages["move-traffic"].status = "done"  # type: ignore[union-attr]
    assert protected_steps(config, FOUND, state) == ["rds.vivr-db", REPLICA,
                                                     "health-check.primary-alb"]
    refuse_undoing_promotion(config, FOUND, state, ["dr.vpc"], "apply")
    with pytest.raises(ConfigError, match=r"^plan would undo promotion \w+ \(running, started "
                                          r"2026-12-06T05:00:00Z\) on health-check.primary-alb;"
                                          r" nothing was changed: run `vivr-provision dr "
                                          r"failback` first"):
        refuse_undoing_promotion(config, FOUND, state, ["health-check.primary-alb"], "plan")


def test_a_schema_3_state_reads_with_an_empty_journal_and_saves_as_schema_4() -> None:
    old = (b'{"schema_version": 3, "project": "vivr", "environment": "production", '
           b'"created_at": "x", "updated_at": "x", "lineage": "abc"}')
    state = decode(old, "state.json", "restore it")
    assert (state.dr.promotion, state.dr.history) == (None, [])
    assert b'"schema_version": 4' in encode(state)
    with StubbedAws() as aws:
        ctx, _, _ = _context(aws)
    again = decode(encode(ctx.state), "state.json", "restore it")
    assert again.dr.promotion == ctx.state.dr.promotion


# --------------------------------------------------------------------------- failback

PROMOTED_ARN = "arn:aws:rds:us-west-2:123456789012:db:vivr-db-dr"
KEY = "arn:aws:kms:us-east-1:123456789012:key/mrk-1"


def _failback(aws: StubbedAws) -> tuple[StageContext, Journal]:
    from vivr_provision.dr_failback_runbook import FAILBACK

    ctx, journal, _ = _context(aws)
    promotion = ctx.run
    promotion.stages["point-app"].outputs = {"previous_task_definition": TD_OLD}
    promotion.stages["scale-standby"].outputs = {"previous_desired_count": 1}
    back = new_run(ctx.config, "failback", FAILBACK, NOW)
    ctx.state.dr.failback = back
    ctx.run = back
    ctx.state.steps["kms"] = StepRecord(status="ready", outputs={"key_arn": KEY})
    back.stages["check-promotion"].outputs = {
        "promoted_arn": PROMOTED_ARN, "promoted": "vivr-db-dr", "dr_region": DR,
        "old_primary": {"identifier": "vivr-db", "subnet_group": "vivr-db-subnets",
                        "security_groups": ["sg-db"]}}
    return ctx, journal


def test_failback_keeps_the_old_primary_snapshotted_and_renamed_never_deleted() -> None:
    from vivr_provision.dr_failback import keep_old_primary

    with StubbedAws() as aws:
        ctx, journal = _failback(aws)
        run = ctx.run.id
        snapshot = f"vivr-db-pre-failback-{run}"
        aws.expect_error("rds", "describe_db_snapshots", "DBSnapshotNotFound",
                         params={"DBSnapshotIdentifier": snapshot})
        aws.expect("rds", "create_db_snapshot", {}, {
            "DBInstanceIdentifier": "vivr-db", "DBSnapshotIdentifier": snapshot,
            "Tags": [{"Key": "vivr:dr-failback", "Value": run}]})
        aws.expect("rds", "describe_db_snapshots", {"DBSnapshots": [{"Status": "available"}]})
        aws.expect("rds", "describe_db_instances", _db(None),
                   {"DBInstanceIdentifier": "vivr-db"})
        aws.expect("rds", "modify_db_instance", {}, {
            "DBInstanceIdentifier": "vivr-db", "NewDBInstanceIdentifier": f"vivr-db-old-{run}",
            "ApplyImmediately": True})
        aws.expect("rds", "describe_db_instances", _db(None),
                   {"DBInstanceIdentifier": f"vivr-db-old-{run}"})
        ctx.record = ctx.run.stages["keep-old-primary"]
        outputs = keep_old_primary(ctx)
    assert journal.saves == [{"snapshot": snapshot},
                             {"snapshot": snapshot, "renamed_to": f"vivr-db-old-{run}"}]
    assert outputs["summary"] == f"vivr-db kept as vivr-db-old-{run}, snapshot {snapshot}"


def test_failback_creates_the_new_replica_across_regions_with_the_primary_key() -> None:
    from vivr_provision.dr_failback import create_replica

    with StubbedAws() as aws:
        ctx, journal = _failback(aws)
        aws.expect_error("rds", "describe_db_instances", "DBInstanceNotFound",
                         params={"DBInstanceIdentifier": "vivr-db"})
        # botocore turns SourceRegion into a presigned URL (PreSignedUrl) before the stub.
        aws.expect("rds", "create_db_instance_read_replica", {}, None)
        aws.expect("rds", "describe_db_instances", _db(PROMOTED_ARN))
        ctx.record = ctx.run.stages["create-replica"]
        create_replica(ctx)
    from vivr_provision.dr_failback import replica_request

    request = replica_request(ctx.config, {**ctx.outputs_of("check-promotion"),
                                           "run_id": "r1"}, KEY)
    assert request == {
        "DBInstanceIdentifier": "vivr-db", "SourceDBInstanceIdentifier": PROMOTED_ARN,
        "SourceRegion": DR, "DBInstanceClass": ctx.config.rds.instance_class,
        "MultiAZ": True, "DBSubnetGroupName": "vivr-db-subnets", "KmsKeyId": KEY,
        "VpcSecurityGroupIds": ["sg-db"], "Tags": [{"Key": "vivr:dr-failback",
                                                    "Value": "r1"}]}
    assert journal.saves == [{"replica": "vivr-db"}]


def test_failback_returns_the_standby_to_its_revision_and_size() -> None:
    from vivr_provision.dr_failback import standby_back

    with StubbedAws() as aws:
        ctx, _ = _failback(aws)
        aws.expect("ecs", "update_service", {}, {
            "cluster": "vivr-dr-cluster", "service": "vivr-dr-app", "desiredCount": 1,
            "taskDefinition": TD_OLD}, region=DR)
        assert standby_back(ctx)["summary"] == "vivr-dr-app back to 1 tasks"


def test_dr_status_shows_a_failback_waiting_for_the_switch() -> None:
    from vivr_provision.dr_status import failback_view
    from vivr_provision.dr_status_text import report_lines

    with StubbedAws() as aws:
        ctx, _ = _failback(aws)
    for name in ("check-promotion", "keep-old-primary", "create-replica", "catch-up"):
        ctx.run.stages[name].status = "done"
    view = failback_view(ctx.state, NOW)
    assert view is not None and (view["state"], view["stage"]) == ("in progress",
                                                                   "stop-writes")
    none = {"state": "not built"}
    lines = report_lines({
        "project": "vivr", "environment": "production", "region": "us-east-1",
        "dr_region": DR, "checked_at": "now", "promotion": None, "failback": view,
        "edge": {"state": "not built"},
        "failover": [], "replicas": [], "standby": {"alb": none, "target_group": none,
                                                    "ecs_service": none},
        "targets": {"rto_hours": 4, "rpo_hours": 1}})
    assert f"Failback {ctx.run.id}" in lines
    assert "  state:            waiting for `dr failback --switch`" in lines
    assert "    catch-up:       done" in lines and "    stop-writes:    pending" in lines


def test_each_stage_is_saved_running_before_its_action_and_done_after() -> None:
    seen: list[tuple[str, str, int]] = []
    with StubbedAws() as aws:
        ctx, journal, _ = _context(aws)

        def action(name: str) -> Any:
            def run(inner: StageContext) -> dict[str, Any]:
                record = inner.run.stages[name]
                seen.append((name, record.status, len(journal.saves)))
                return {}
            return run

        execute(ctx, PROMOTION, {s.name: action(s.name) for s in PROMOTION})
    # Stage n's action sees itself running and saved: 2 saves per earlier stage + its own.
    assert seen == [(s.name, "running", 2 * n + 1) for n, s in enumerate(PROMOTION)]
    assert len(journal.saves) == 2 * len(PROMOTION) + 1, "the run's own done is saved too"
