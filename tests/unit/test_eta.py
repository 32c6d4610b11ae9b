"""The time left a run shows: the longest expected path through its unfinished steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_engine import REPO
from tests.unit.test_progress import Clock
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.engine import StepGraph
from vivr_provision.eta import OWN_CALLS_S, RemainingPath
from vivr_provision.progress import Board, estimate
from vivr_provision.steps import build_steps


@pytest.fixture(scope="module")
def graph() -> StepGraph:
    config: PlatformConfig = load_config(REPO / "config" / "production.yaml", "production")
    return StepGraph(build_steps(config))


def _path(graph: StepGraph, targets: list[str], direction: str = "apply",
          made: set[str] | None = None, scale: float = 1.0) -> RemainingPath:
    selected = graph.select(targets, upward=direction == "apply")
    return RemainingPath.of({n: graph.steps[n] for n in selected},
                            graph.deps if direction == "apply" else graph.dependents,
                            graph.order, direction,  # type: ignore[arg-type]
                            made=made or set(), scale=scale)


def test_a_fresh_apply_is_as_long_as_its_longest_chain_of_aws_durations(
        graph: StepGraph) -> None:
    path = _path(graph, ["cache"])
    chain = graph.select(["cache"], upward=True)
    left = path.remaining(set(), {})
    # The replication group alone is 12 minutes on AWS; the steps before it add
    # their own calls, far less than the sum of every selected step.
    assert 12 * 60 + OWN_CALLS_S < left < 12 * 60 + OWN_CALLS_S * len(chain)


def test_the_estimate_falls_as_steps_finish_and_a_started_wait_counts_down(
        graph: StepGraph) -> None:
    path = _path(graph, ["cache"])
    before = set(graph.select(["cache"], upward=True)) - {"cache"}
    assert path.remaining(before, {}) == pytest.approx(12 * 60 + OWN_CALLS_S)
    assert path.remaining(before, {"cache": ("create", 600.0)}) == \
        pytest.approx(2 * 60 + OWN_CALLS_S)
    # Later than AWS usually is: nothing more is predicted for it.
    assert path.remaining(before, {"cache": ("create", 900.0)}) == 0.0


def test_what_the_state_records_as_made_costs_only_its_calls_and_an_update_a_modify(
        graph: StepGraph) -> None:
    selected = graph.select(["cache"], upward=True)
    path = _path(graph, ["cache"], made=set(selected))
    assert path.remaining(set(), {}) < OWN_CALLS_S * len(selected)
    others = set(selected) - {"cache"}
    assert path.remaining(others, {"cache": ("update", 0.0)}) == \
        pytest.approx(8 * 60 + OWN_CALLS_S)


def test_destroy_runs_the_other_way_with_delete_durations(graph: StepGraph) -> None:
    selected = graph.select(["vpc"], upward=False)
    path = _path(graph, ["vpc"], "destroy", made=set(selected))
    # CloudFront's disable-then-delete (15 min) is on a path that ends at the VPC.
    assert path.remaining(set(), {}) > 15 * 60
    nothing_made = _path(graph, ["vpc"], "destroy")
    assert nothing_made.remaining(set(), {}) < OWN_CALLS_S * len(selected)


def test_a_time_scaled_sandbox_scales_aws_durations_but_not_the_calls(
        graph: StepGraph) -> None:
    path = _path(graph, ["cache"], scale=0.01)
    before = set(graph.select(["cache"], upward=True)) - {"cache"}
    assert path.remaining(before, {}) == pytest.approx(12 * 60 * 0.01 + OWN_CALLS_S)


def test_estimates_read_to_the_minute() -> None:
    assert [estimate(s) for s in (0.4, 40, 89, 1450, 3900)] == \
        ["~0s", "~40s", "~1m", "~24m", "~1h05m"]


def test_the_header_shows_the_time_left_and_drops_it_last_when_narrow(
        graph: StepGraph, tmp_path: Path) -> None:
    clock = Clock()
    board = Board(total=2, clock=clock, eta=_path(graph, ["cache"]))
    for step in graph.select(["cache"], upward=True) - {"cache"}:
        board.update(step, "created")
    board.update("cache", "creating")
    board.update("cache", "calling")
    board.update("cache", "waiting")
    clock.now += 300
    assert board.header("apply", 80).startswith("apply 5m00s eta ~7m  done ")
    clock.now += 600
    assert "eta" not in board.header("apply", 80), "late: no estimate"
    assert "eta" not in Board(total=1, clock=clock).header("apply", 80)
    fresh = Board(total=2, clock=clock, eta=_path(graph, ["cache"]))
    assert fresh.header("apply", 80).startswith("apply 0s eta ~12m  done 0/2")
    assert fresh.header("apply", 26) == "apply 0s  done 0/2"
