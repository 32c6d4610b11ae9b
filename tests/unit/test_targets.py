"""``--target`` globs and "did you mean", on the production config's real step names."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from vivr_provision.config import load_config
from vivr_provision.engine import StepGraph
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps

GRAPH = StepGraph(build_steps(load_config(REPO / "config" / "production.yaml", "production")))
RULE_STEPS = {f"sg-rules.{g}" for g in (
    "vivr-alb-sg", "vivr-app-sg", "vivr-db-sg", "vivr-cache-sg", "vivr-pgbouncer-sg",
    "bastion-sg", "vivr-pgbouncer-boot-sg")}


def test_a_glob_selects_every_matching_step_and_what_they_need() -> None:
    selected = GRAPH.select(["sg-rules.*"], upward=True)
    assert {n for n in selected if n.startswith("sg-rules.")} == RULE_STEPS
    assert {"vpc", "sg.vivr-alb-sg"} <= selected, "their dependencies come along"
    assert not any(n.startswith(("dr.", "rds.")) for n in selected)


def test_a_glob_for_destroy_selects_the_matches_and_their_dependents() -> None:
    selected = GRAPH.select(["dr.rds*"], upward=False)
    assert "dr.rds.vivr-db-dr" in selected and "vpc" not in selected


def test_names_and_globs_mix_and_a_plain_name_is_still_exact() -> None:
    assert GRAPH.select(["vpc", "subnet.db-1?"], upward=True) == {
        "vpc", "subnet.db-1a", "subnet.db-1b"}


@pytest.mark.parametrize(("target", "hint"), [
    ("sg-rule.*", "did you mean sg-rules.*"),
    ("subnet.db-1z", "did you mean subnet.db-1b, subnet.db-1a"),
    ("sg-rules.vivr-alb", "did you mean sg-rules.vivr-alb-sg"),
])
def test_a_target_that_selects_nothing_is_one_line_with_close_names(target: str,
                                                                    hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GRAPH.select(["vpc", target], upward=True)
    message = str(caught.value)
    assert message.startswith(f"unknown --target {target} ")
    assert hint in message and "\n" not in message
    assert ConfigError.exit_code == 2


def test_nothing_close_gives_no_guess() -> None:
    with pytest.raises(ConfigError) as caught:
        GRAPH.select(["zzzz*"], upward=True)
    assert "did you mean" not in str(caught.value)
    assert "vivr-provision graph" in str(caught.value)


def test_destroying_the_dr_side_deletes_only_dr_steps_and_detaches_the_primary_side() -> None:
    deleted, detached = GRAPH.teardown(["dr.*"])
    assert deleted == {n for n in GRAPH.steps if n.startswith("dr.")}, \
        "nothing of the primary side is destroyed with the standby"
    assert {"secret.database_credentials", "s3.backups", "backup-plan",
            "dns-failover.origin.vivr.example.com", "cloudfront", "dashboard",
            "iam.task_execution_role"} <= detached
    assert not detached & {"rds.vivr-db", "cache", "alb", "vpc"}, \
        "only steps that read a DR step detach; the rest is not touched"


def test_a_primary_step_still_takes_its_dependents_of_the_dr_side_with_it() -> None:
    deleted, detached = GRAPH.teardown(["rds.vivr-db"])
    assert "dr.rds.vivr-db-dr" in deleted, "only the primary side detaches from the DR side"
    assert detached <= {n for n in GRAPH.steps if not n.startswith("dr.")}


def test_a_whole_destroy_deletes_everything_and_detaches_nothing() -> None:
    assert GRAPH.teardown(None) == (set(GRAPH.steps), set())
