"""Plans people review: markers, summary, 80-column text, saved files, and the engine
held to what was reviewed (issue 10, items 1-4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.text import Text

from tests.unit.test_engine import Cloud, FakeStep, make_engine
from vivr_provision import __version__
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.engine import Approved
from vivr_provision.errors import ConfigError
from vivr_provision.log import register_secret
from vivr_provision.plan import Plan, PlannedChange, PlannedStep, PlanRefused, config_digest
from vivr_provision.render import plan_lines, short_id

REPO = Path(__file__).resolve().parents[2]
ARN = ("arn:aws:elasticloadbalancing:us-east-1:123456789012:"
       "loadbalancer/app/vivr-alb/50dc6c495c0c9188")


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return load_config(REPO / "config" / "production.yaml", "production")


def _plan(steps: list[PlannedStep], kind: str = "apply", serial: int = 7) -> Plan:
    return Plan.model_validate({
        "kind": kind, "project": "vivr", "environment": "production", "region": "us-east-1",
        "account_id": "123456789012", "created_at": "2026-12-06T04:00:00Z",
        "state_serial": serial, "state_lineage": "abc", "config_digest": "d1",
        "steps": [s.model_dump() for s in steps]})


def _mixed() -> Plan:
    return _plan([
        PlannedStep(step="vpc", action="no-op", resource_id="vpc-0123"),
        PlannedStep(step="dashboard", action="create"),
        PlannedStep(step="rds.vivr-db", action="update", resource_id="vivr-db", settings=[
            PlannedChange(field="BackupRetentionPeriod", current="7", desired="30"),
            PlannedChange(field="DBInstanceClass", current='"db.t3.small"',
                          desired='"db.t3.medium"', when="in the maintenance window")]),
        PlannedStep(step="pgbouncer", action="replace", resource_id="i-0abc", settings=[
            PlannedChange(field="user_data", current='"a"', desired='"b"', replace=True)]),
        PlannedStep(step="alb", action="update", resource_id=ARN, settings=[
            PlannedChange(field="idle_timeout", current="60", desired="120")]),
    ])


def _plain(lines: list[str]) -> list[str]:
    return [Text.from_markup(line).plain for line in lines]


def test_each_marker_its_settings_and_the_summary_line_at_80_columns() -> None:
    lines = _plain(plan_lines(_mixed(), width=80))
    text = "\n".join(lines).replace("\n          ", " ")  # a wrapped setting reads as one
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    marked = {line.split()[1]: line.split()[0] for line in lines if line[:3].strip()
              in ("+", "~", "-/+", "-")}
    assert marked == {"dashboard": "+", "rds.vivr-db": "~", "pgbouncer": "-/+", "alb": "~"}
    assert "vpc" not in text, "unchanged steps are listed only with --all"
    assert "BackupRetentionPeriod: 7 → 30" in text
    assert 'DBInstanceClass: "db.t3.small" → "db.t3.medium" (at the maintenance window)' in text
    assert 'user_data: "a" → "b" (forces replacement)' in text
    assert lines[-1] == "Plan: 1 to add, 2 to change, 1 to replace, 0 to destroy."
    assert "loadbalancer/app/vivr-alb/50dc6c495c0c9188" in text, "the ARN lost only its prefix"
    assert "vpc-0123" in "\n".join(_plain(plan_lines(_mixed(), show_all=True, width=80)))


def test_a_config_value_apply_leaves_alone_is_said_even_with_no_changes() -> None:
    plan = _plan([PlannedStep(step="ecs-service", action="no-op", resource_id="svc", unapplied=[
        "ecs.service.desired_count 5 is not applied: auto scaling owns the task count"])])
    lines = _plain(plan_lines(plan, width=80))
    assert lines[-1] == "No changes."
    assert "Config values apply leaves alone:" in lines
    assert "      ecs-service: ecs.service.desired_count 5 is not applied: auto scaling owns" \
        in lines


def test_no_changes_is_one_line_and_long_ids_are_shortened_in_the_middle() -> None:
    quiet = _plan([PlannedStep(step="vpc", action="no-op", resource_id="vpc-0123")])
    assert _plain(plan_lines(quiet, width=80))[-1] == "No changes."
    assert quiet.summary() == "No changes." and not quiet.changed
    assert short_id("i-0123456789abcdef0123456789", 12) == "i-012…456789"
    assert len(short_id(ARN, 20)) == 20 and short_id(ARN, 20).endswith("5c0c9188")


def test_the_destroy_summary_and_what_needs_approval() -> None:
    plan = _plan([PlannedStep(step="vpc", action="delete", resource_id="vpc-1"),
                  PlannedStep(step="rds.vivr-db", action="delete", resource_id="vivr-db",
                              blockers=["vivr-db has deletion protection"])], kind="destroy")
    assert plan.summary() == "Plan: 0 to add, 0 to change, 0 to replace, 2 to destroy."
    assert [s.step for s in plan.destructive] == ["vpc", "rds.vivr-db"]
    assert [s.step for s in plan.blocked] == ["rds.vivr-db"]
    assert "! vivr-db has deletion protection" in "\n".join(_plain(plan_lines(plan)))
    document = plan.as_dict()
    assert document["summary"] == {"text": plan.summary(), "create": 0, "update": 0,
                                   "replace": 0, "delete": 2, "no_op": 0}


def test_a_saved_plan_round_trips_and_refuses_what_changed_since(tmp_path: Path) -> None:
    path = tmp_path / "plans" / "p.json"
    plan = _mixed()
    plan.save(path)
    loaded = Plan.load(path)
    assert loaded == plan and loaded.tool_version == __version__
    same = {"project": "vivr", "environment": "production", "digest": "d1", "serial": 7,
            "lineage": "abc", "account": "123456789012"}
    loaded.check_current(**same)
    for change, says in [({"serial": 8}, "the state changed (serial 7 → 8)"),
                         ({"lineage": "xyz"}, "another history"),
                         ({"digest": "d2"}, "the config changed"),
                         ({"account": "999999999999"}, "made for account 123456789012"),
                         ({"environment": "staging"}, "not vivr staging")]:
        with pytest.raises(PlanRefused, match="stale") as caught:
            loaded.check_current(**{**same, **change})
        assert says in str(caught.value)


def test_a_plan_of_a_never_saved_state_holds_for_any_empty_state() -> None:
    plan = _plan([PlannedStep(step="vpc", action="create")], serial=0)
    plan.check_current(project="vivr", environment="production", digest="d1", serial=0,
                       lineage="new-random-one", account="123456789012")


def test_files_that_are_not_plans_get_one_line(tmp_path: Path) -> None:
    for content, says in [("{", "is not a saved plan"), ('{"format": 9}', "format 9"),
                          ('{"format": 1, "kind": "apply"}', "is not a valid saved plan")]:
        path = tmp_path / "bad.json"
        path.write_text(content)
        with pytest.raises(ConfigError, match=says):
            Plan.load(path)
    with pytest.raises(ConfigError, match="no saved plan"):
        Plan.load(tmp_path / "missing.json")


def test_the_config_digest_follows_the_config(config: PlatformConfig) -> None:
    changed = config.model_copy(update={"project": "other"})
    assert config_digest(config) == config_digest(config.model_copy())
    assert config_digest(changed) != config_digest(config)


def test_secrets_never_reach_a_plan(config: PlatformConfig, tmp_path: Path) -> None:
    """Values are redacted when the engine records them, so a saved plan holds none."""
    register_secret("hunter2-origin-verify")
    cloud = Cloud()
    step = FakeStep(config, "header", cloud)
    engine, _ = make_engine(config, [step], tmp_path)
    engine.apply()
    cloud.resources["fake.header"]["size"] = "hunter2-origin-verify"
    engine, _ = make_engine(config, [FakeStep(config, "header", cloud)], tmp_path)
    [result] = engine.plan().results
    assert result.settings == [{"field": "size", "current": '"***redacted***"',
                                "desired": "1", "replace": False, "when": ""}]
    assert "hunter2" not in json.dumps(result.settings)


# -- the engine held to the reviewed plan ----------------------------------------
def _applied(config: PlatformConfig, cloud: Cloud, tmp_path: Path) -> None:
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    assert engine.apply().ok


def _chain(config: PlatformConfig, cloud: Cloud) -> list[FakeStep]:
    return [FakeStep(config, "a", cloud), FakeStep(config, "b", cloud, ("fake.a",)),
            FakeStep(config, "lone", cloud)]


def test_an_update_the_plan_did_not_show_is_refused_and_nothing_is_written(
        config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    _applied(config, cloud, tmp_path)
    cloud.resources["fake.lone"]["size"] = 9  # drifted after the review
    engine, store = make_engine(config, _chain(config, cloud), tmp_path)
    before = store.path.read_bytes()
    engine.bind_plan({"fake.a": Approved("no-op"), "fake.b": Approved("no-op"),
                      "fake.lone": Approved("no-op")})
    report = engine.apply()
    actions = {r.step: r.action for r in report.results}
    assert actions == {"fake.a": "unchanged", "fake.b": "unchanged", "fake.lone": "refused"}
    assert "changed since the plan was reviewed (planned no-op, now update (size))" in \
        report.failed[0].error
    assert ("update", "fake.lone") not in cloud.calls
    assert store.path.read_bytes() == before, "a refusal writes nothing"


def test_planned_updates_and_what_follows_from_a_planned_change_go_ahead(
        config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    _applied(config, cloud, tmp_path)
    cloud.resources["fake.a"]["size"] = 5
    cloud.resources["fake.b"]["size"] = 5  # downstream of a: follows from its change
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    engine.bind_plan({"fake.a": Approved("update", frozenset({"size"})),
                      "fake.b": Approved("no-op"), "fake.lone": Approved("no-op")})
    report = engine.apply()
    assert {r.step: r.action for r in report.results} == {
        "fake.a": "updated", "fake.b": "updated", "fake.lone": "unchanged"}


def test_a_delete_the_plan_did_not_show_is_refused(config: PlatformConfig,
                                                   tmp_path: Path) -> None:
    cloud = Cloud()
    _applied(config, cloud, tmp_path)
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    engine.bind_plan({"fake.b": Approved("delete"), "fake.a": Approved("no-op"),
                      "fake.lone": Approved("delete")})
    report = engine.destroy()
    actions = {r.step: r.action for r in report.results}
    assert actions == {"fake.b": "deleted", "fake.lone": "deleted", "fake.a": "refused"}
    assert "fake.a" in cloud.resources


def test_a_plan_settles_apply_only_when_aws_and_state_both_agree(
        config: PlatformConfig, tmp_path: Path) -> None:
    """A no-change apply is one walk; anything apply would still write keeps the second."""
    cloud = Cloud()
    _applied(config, cloud, tmp_path)
    engine, store = make_engine(config, _chain(config, cloud), tmp_path)
    assert engine.settled(engine.plan())
    state = store.load(config.project, config.environment)
    del state.steps["fake.lone"]  # forgotten (state rm): apply would adopt and record it
    store.save(state)
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    report = engine.plan()
    assert {r.action for r in report.results} == {"no-op"}
    assert not engine.settled(report)
    engine.apply()
    cloud.resources["fake.a"]["size"] = 4
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    assert not engine.settled(engine.plan())


def test_a_step_name_longer_than_its_column_still_fits_80_columns() -> None:
    """The name is never cut; the id gives up the room the name takes beyond its column."""
    from vivr_provision.engine import RunReport, StepResult
    from vivr_provision.render import report_lines

    long_name = "alarm.vivr-production-pgbouncer-status-check"
    report = RunReport("apply", [
        StepResult("vpc", "created", "vpc-0123456789abcdef0", duration_s=0.4),
        StepResult(long_name, "created", f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
                   f"{long_name.removeprefix('alarm.')}", duration_s=0.3)], 1.0)
    lines = _plain(report_lines(report, "apply vivr production", width=80))
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert any(long_name in line and "created" in line for line in lines)


def test_an_existing_step_whose_dependency_is_gone_is_planned_in_place_and_may_update(
        config: PlatformConfig, tmp_path: Path) -> None:
    """After a destroy of only its dependency (the DR side), a step that still exists is
    a change, not an add; apply bound to that plan may update it once the dependency is
    back (the plan could not know what the dependency's new outputs change)."""
    cloud = Cloud()
    _applied(config, cloud, tmp_path)
    engine, store = make_engine(config, _chain(config, cloud), tmp_path)
    state = store.load(config.project, config.environment)
    state.steps["fake.a"].status, state.steps["fake.a"].outputs = "deleted", {}
    state.steps["fake.a"].resource_id = None
    store.save(state)
    del cloud.resources["fake.a"]
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    planned = {r.step: r for r in engine.plan().results}
    assert (planned["fake.a"].action, planned["fake.b"].action) == ("create", "update")
    assert planned["fake.b"].resource_id == state.steps["fake.b"].resource_id

    cloud.resources["fake.b"]["size"] = 5  # what it reads from a differs once a is back
    engine, _ = make_engine(config, _chain(config, cloud), tmp_path)
    engine.bind_plan({"fake.a": Approved("create"), "fake.b": Approved("update"),
                      "fake.lone": Approved("no-op")})
    report = engine.apply()
    assert {r.step: r.action for r in report.results} == {
        "fake.a": "created", "fake.b": "updated", "fake.lone": "unchanged"}
