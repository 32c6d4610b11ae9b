"""Where a wait polls: at once, then sparsely, densely near AWS's expected end, then backing off.

Every test runs :meth:`StepContext.poll` on a fake clock: the cancel event's
``wait`` (the only sleep a wait does) advances it, so the poll times are
exact and nothing here depends on the machine's speed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.unit.stubbed import production_config
from vivr_provision import aws_errors
from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource, StepContext, StepInterrupted, StepTimeout
from vivr_provision.steps.durations import AWS_MINUTES, Operation, aws_seconds
from vivr_provision.steps.rds import DbPrimaryStep
from vivr_provision.wait_schedule import WaitSchedule, scale_from_environment
from vivr_sandbox.timing import load_profile

REPO = Path(__file__).resolve().parents[2]


class FakeTime(threading.Event):
    """A clock that only moves when the wait sleeps; Ctrl-C arrives at ``interrupt_at``."""

    def __init__(self, interrupt_at: float | None = None) -> None:
        super().__init__()
        self.now = 0.0
        self.interrupt_at = interrupt_at
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout >= 0
        self.sleeps.append(timeout)
        if self.interrupt_at is not None and self.now + timeout >= self.interrupt_at:
            self.now = self.interrupt_at
            return True
        self.now += timeout
        return False


def _context(time: FakeTime, scale: float = 1.0, **kwargs: Any) -> StepContext:
    return StepContext(production_config(), ClientFactory(AwsSettings(region="us-east-1")),
                       lambda _: None, time, time_scale=scale, clock=time.clock, **kwargs)


#: The polls of a wait expecting 10 s, 4 s apart at most, for a resource ready at 20 s.
SCHEDULE = [0, 2, 6, 8, 10, 12, 14, 18, 22]


def _polls(ready_at: float, *, expected_s: float, delay_s: float, budget_s: float = 3600,
           scale: float = 1.0) -> list[float]:
    """The times at which a resource that becomes ready at ``ready_at`` is polled."""
    time = FakeTime()
    times: list[float] = []

    def done() -> bool:
        times.append(round(time.now, 6))
        return time.now >= ready_at

    _context(time, scale).poll("rds waiter db_instance_available", done, budget_s=budget_s,
                               delay_s=delay_s, expected_s=expected_s)
    return times


def test_polls_are_the_delay_apart_early_dense_before_the_expected_end_then_back_off() -> None:
    # expected 10 s, delay 4 s, floor 2 s: a quick second look at the floor (2), half
    # the time left (4), the floor around the end (2, 2, 2), then as long as it is
    # late (2, 4), capped at 4.
    assert _polls(20, expected_s=10, delay_s=4) == SCHEDULE


def test_an_rds_create_is_seen_within_the_floor_of_its_expected_end() -> None:
    times = _polls(900, expected_s=900, delay_s=30)
    assert times[0] == 0 and times[-1] - 900 <= 2
    assert max(b - a for a, b in itertools.pairwise(times)) <= 30
    assert len([t for t in times if 840 <= t <= 900]) >= 4  # dense near the end
    assert len(times) <= WaitSchedule(900, 30).max_polls(3600)


def test_a_late_resource_is_seen_within_about_as_long_again() -> None:
    times = _polls(1000, expected_s=900, delay_s=30)
    assert 1000 <= times[-1] <= 1000 + 30


def test_a_resource_already_ready_costs_one_poll_and_no_sleep() -> None:
    time = FakeTime()
    polls = iter([True])
    _context(time).poll("x", lambda: next(polls), budget_s=60, delay_s=30, expected_s=900)
    assert time.sleeps == []


def test_the_budget_ends_the_wait_with_the_resumable_error_and_bounded_polls() -> None:
    time = FakeTime()
    count = 0

    def never() -> bool:
        nonlocal count
        count += 1
        return False

    with pytest.raises(StepTimeout, match="did not succeed within 3600s; the resource may "
                       "still be in progress: rerun apply to keep waiting"):
        _context(time).poll("rds waiter db_instance_available", never, budget_s=3600,
                            delay_s=30, expected_s=900)
    assert time.now <= 3600
    assert count >= 3600 / 30
    assert count <= WaitSchedule(900, 30).max_polls(3600)


def test_ctrl_c_interrupts_a_sleep_and_no_poll_follows() -> None:
    time = FakeTime(interrupt_at=100)
    count = 0

    def never() -> bool:
        nonlocal count
        count += 1
        return False

    with pytest.raises(StepInterrupted, match="interrupted while waiting on rds waiter"):
        _context(time).poll("rds waiter db_instance_available", never, budget_s=3600,
                            delay_s=30, expected_s=900)
    assert time.now == 100 and count == 5  # at 0, 2, 32, 62, 92


def test_the_time_scale_compresses_the_whole_schedule() -> None:
    scaled = _polls(20 * 0.002, expected_s=10, delay_s=4, scale=0.002)
    assert scaled == [round(t * 0.002, 6) for t in SCHEDULE]


def test_the_slot_is_given_back_for_the_whole_wait() -> None:
    time = FakeTime()
    held: list[bool] = []
    idle = False

    @contextmanager
    def released() -> Iterator[None]:
        nonlocal idle
        idle = True
        yield
        idle = False

    def done() -> bool:
        held.append(idle)
        return len(held) == 3

    _context(time, idle=released).poll("x", done, budget_s=60, delay_s=5)
    assert held == [True, True, True] and not idle


def test_a_bad_time_scale_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVR_TIME_SCALE", "fast")
    with pytest.raises(ConfigError, match=r"^VIVR_TIME_SCALE='fast': expected a number in "
                       r"\(0, 1\], the sandbox's --time-scale \(1 on AWS\)$"):
        scale_from_environment()
    monkeypatch.setenv("VIVR_TIME_SCALE", "0.002")
    assert scale_from_environment() == 0.002
    monkeypatch.delenv("VIVR_TIME_SCALE")
    assert scale_from_environment() == 1.0


def test_the_products_aws_figures_are_the_timing_profiles() -> None:
    profile = load_profile(REPO / "profiles" / "aws.yaml")
    operations: tuple[Operation, ...] = ("create", "modify", "delete")
    from_profile = {kind: {op: figure.minutes for op in operations
                           if (figure := timing.figure(op)) is not None}
                    for kind, timing in profile.kinds.items()}
    assert from_profile == AWS_MINUTES


def test_the_production_steps_that_wait_on_aws_name_their_kind() -> None:
    kinds = {step.name: step.aws_kind() for step in build_steps(production_config())
             if step.aws_kind() is not None}
    assert set(kinds.values()) <= set(AWS_MINUTES)
    assert kinds["rds.vivr-db"] == "rds_instance_multi_az"
    assert kinds["dr.rds.vivr-db-dr"] == "rds_cross_region_replica"
    assert {kinds["cache"], kinds["cloudfront"], kinds["ecs-service"]} == {
        "elasticache_replication_group", "cloudfront_distribution", "ecs_service"}


@dataclass
class RecordingContext(StepContext):
    """Records the waits a step asks for instead of calling AWS."""

    waits: list[dict[str, Any]] = field(default_factory=list)

    def wait(self, service: str, waiter_name: str, **kwargs: Any) -> None:
        self.waits.append({"waiter": waiter_name, **kwargs})


def test_rds_waits_expect_the_create_or_the_modification() -> None:
    config = production_config()
    step = DbPrimaryStep(config)
    ctx = RecordingContext(config, ClientFactory(AwsSettings(region="us-east-1")),
                           lambda _: None)
    step.reread = lambda ctx: Resource("vivr-db")  # type: ignore[method-assign]
    step.wait(ctx, Resource("vivr-db", {"DBInstanceStatus": "creating"}))
    step.wait(ctx, Resource("vivr-db", {"DBInstanceStatus": "modifying"}))
    assert [w["expected_s"] for w in ctx.waits] == [
        aws_seconds("rds_instance_multi_az", "create"), aws_seconds("rds_instance_multi_az",
                                                                     "modify")] == [900, 300]


class FakeWaiter:
    """A botocore waiter whose one attempt fails until the fake clock reaches ``ready_at``."""

    def __init__(self, time: FakeTime, ready_at: float) -> None:
        self.time, self.ready_at = time, ready_at
        self.attempts: list[tuple[float, dict[str, Any]]] = []

    def wait(self, **kwargs: Any) -> None:
        self.attempts.append((self.time.now, kwargs))
        if self.time.now < self.ready_at:
            raise aws_errors.WaiterError(name="db_instance_available",
                                         reason="Max attempts exceeded", last_response={})


def test_a_botocore_waiter_is_driven_one_attempt_at_a_time_on_the_schedule() -> None:
    time = FakeTime()
    waiter = FakeWaiter(time, ready_at=20)

    class Clients:
        def client(self, service: str, region: str | None = None) -> Any:
            assert (service, region) == ("rds", "us-west-2")
            return type("Rds", (), {"get_waiter": lambda _, name: waiter})()

    ctx = _context(time)
    ctx.clients = Clients()  # type: ignore[assignment]
    ctx.wait("rds", "db_instance_available", budget_s=60, delay_s=4, expected_s=10,
             region="us-west-2", DBInstanceIdentifier="vivr-db-dr")
    assert [at for at, _ in waiter.attempts] == SCHEDULE
    assert waiter.attempts[0][1] == {"WaiterConfig": {"Delay": 0, "MaxAttempts": 1},
                                     "DBInstanceIdentifier": "vivr-db-dr"}
