"""The live view: what it shows for the engine's phases, in what order, within the screen."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.unit.test_engine import REPO, Cloud, FakeStep
from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.engine import Engine
from vivr_provision.progress import Board, ProgressView, duration
from vivr_provision.state import LocalStateStore
from vivr_provision.steps.base import Resource, Step, StepContext


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return load_config(REPO / "config" / "production.yaml", "production")


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _busy_board(clock: Clock) -> Board:
    board = Board(total=107, clock=clock)
    for i in range(30):
        board.update(f"done-{i}", "queued")
        board.update(f"done-{i}", "created")
    board.update("broken", "reading")
    board.update("broken", "failed", "AccessDenied")
    board.update("rds.vivr-db", "creating")
    board.update("rds.vivr-db", "calling")
    board.update("rds.vivr-db", "waiting")        # since 1000
    clock.now += 30
    board.update("cloudfront", "creating")
    board.update("cloudfront", "calling")
    board.update("cloudfront", "waiting")         # since 1030
    board.update("sg.vivr-alb-sg", "reading")
    board.update("sg.vivr-alb-sg", "creating")
    board.update("sg.vivr-alb-sg", "calling")
    board.update("subnet.db-1a", "queued")
    board.update("subnet.db-1a", "reading")
    for i in range(12):
        board.update(f"sns.topic-{i:02d}", "queued")
    clock.now += 42
    return board


def test_header_counts_each_state_and_the_total_elapsed_time() -> None:
    clock = Clock()
    board = _busy_board(clock)
    assert board.header("apply", 120) == (
        "apply 1m12s  done 30/107 · calling 1 · waiting 2 · reading 1 · queued 12 · failed 1")


def test_running_steps_come_first_waiting_longest_first_then_reading_then_queued() -> None:
    clock = Clock()
    lines = _busy_board(clock).lines("apply", 80, 40)
    assert [line.split()[:2] for line in lines[1:5]] == [
        ["calling", "sg.vivr-alb-sg"], ["waiting", "rds.vivr-db"],
        ["waiting", "cloudfront"], ["reading", "subnet.db-1a"]]
    assert lines[2] == "  waiting  rds.vivr-db    create   1m12s"  # waits since the start
    assert lines[3] == "  waiting  cloudfront     create     42s"
    assert all(line.split()[0] == "queued" for line in lines[5:])
    assert len(lines) == 1 + 4 + 12


def test_the_view_fits_the_terminal_and_counts_what_it_leaves_out() -> None:
    clock = Clock()
    board = _busy_board(clock)
    lines = board.lines("apply", 80, 10)
    assert len(lines) == 10
    assert lines[-1] == "  … and 8 more queued"
    assert [line.split()[0] for line in lines[1:5]] == ["calling", "waiting", "waiting",
                                                       "reading"]
    lines = board.lines("apply", 80, 4)
    assert lines[-1] == "  … and 14 more (1 waiting, 1 reading, 12 queued)"


def test_narrow_terminals_shorten_names_and_drop_zero_counts_first() -> None:
    clock = Clock()
    board = Board(total=9, clock=clock)
    long_name = "cloudfront-origin-request-policy.vivr-production-s3-simple"
    board.update(long_name, "creating")
    board.update(long_name, "calling")
    lines = board.lines("destroy", 60, 40)
    assert all(len(line) <= 60 for line in lines)
    assert lines[0] == "destroy 0s  done 0/9 · calling 1 · failed 0"
    assert lines[1] == "  calling  cloudfront-origin-request-policy… create      0s"


def test_a_finished_step_leaves_the_rows_and_is_counted_once() -> None:
    clock = Clock()
    board = Board(total=3, clock=clock)
    for step in ("a", "b", "c"):
        board.update(step, "queued")
        board.update(step, "reading")
    board.update("a", "unchanged")
    board.update("b", "failed", "boom")
    board.update("c", "interrupted")
    assert board.lines("apply", 100, 40) == [
        "apply 0s  done 1/3 · calling 0 · waiting 0 · reading 0 · queued 0 · failed 1 · "
        "interrupted 1"]
    assert board.lines("apply", 80, 40) == ["apply 0s  done 1/3 · failed 1 · interrupted 1"]


def test_the_verb_stays_with_the_step_through_its_slot_phases() -> None:
    clock = Clock()
    board = Board(total=1, clock=clock)
    board.update("kms", "deleting")
    assert board.lines("destroy", 80, 40)[1].split()[:3] == ["queued", "kms", "delete"]
    clock.now += 5
    board.update("kms", "calling")
    clock.now += 2
    assert board.lines("destroy", 80, 40)[1].split() == ["calling", "kms", "delete", "2s"]


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (0, 59.9, 72, 3599, 3840)] == [
        "0s", "59s", "1m12s", "59m59s", "1h04m"]


def test_the_rich_drawing_uses_the_console_height_and_width() -> None:
    clock = Clock()
    out = io.StringIO()
    console = Console(file=out, width=80, height=8, color_system=None)
    view = ProgressView(107, console, "apply", clock=clock)
    for i in range(20):
        view(f"step-{i:02d}", "queued", "")
    console.print(view.renderable)
    lines = out.getvalue().splitlines()
    assert len(lines) == 7, "one line is left free below the view"
    assert lines[0] == ("apply 0s  done 0/107 · calling 0 · waiting 0 · reading 0 · queued 20 · "
                        "failed 0")
    assert lines[-1] == "  … and 15 more queued"


# --------------------------------------------------------------- what the engine reports


def _engine(config: PlatformConfig, steps: list[Step], tmp_path: Path, parallelism: int,
            observer: object) -> Engine:
    store = LocalStateStore(tmp_path / "state.json")
    state = store.load(config.project, config.environment)
    clients = ClientFactory(AwsSettings(region="us-east-1"))
    return Engine(config, steps, clients, store, state, parallelism=parallelism,
                  observer=observer)  # type: ignore[arg-type]


class Recorder:
    """An observer that checks, as it hears them, that no more steps call than there are slots."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.phases: dict[str, list[str]] = {}
        self.calling: set[str] = set()
        self.most_calling = 0
        self.lock = threading.Lock()

    def __call__(self, step: str, phase: str, detail: str) -> None:
        with self.lock:
            self.phases.setdefault(step, []).append(phase)
            if phase == "calling":
                self.calling.add(step)
            else:
                self.calling.discard(step)
            self.most_calling = max(self.most_calling, len(self.calling))


def test_the_engine_reports_queued_reading_calling_and_waiting_truthfully(
        config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.delay = 0.1

    class WaitsAfterCreate(FakeStep):
        def create(self, ctx: StepContext, token: str) -> Resource:
            created = super().create(ctx, token)
            with ctx.idle():  # what StepContext.wait does around its polls
                time.sleep(0.05)
            return created

    steps: list[Step] = [FakeStep(config, f"s{i}", cloud) for i in range(5)]
    steps.append(WaitsAfterCreate(config, "slow", cloud, seconds=100))
    recorder = Recorder(slots=1)
    assert _engine(config, steps, tmp_path, 1, recorder).apply().ok
    assert recorder.most_calling == 1, "never more steps calling than --parallelism"
    slow = recorder.phases["fake.slow"]
    assert slow[:3] == ["queued", "reading", "creating"]
    # "queued" again wherever the slot was taken when it asked for one
    assert [p for p in slow[3:] if p != "queued"] == [
        "calling", "waiting", "calling", "reading", "created"]
    queued_for_a_slot = [s for s, p in recorder.phases.items() if p[3] == "queued"]
    assert len(queued_for_a_slot) >= 3, "with one slot, the others wait their turn as queued"
    for phases in recorder.phases.values():
        assert phases[-1] == "created" and "calling" in phases

    recorder = Recorder(slots=1)
    again = _engine(config, steps, tmp_path, 1, recorder).apply()
    assert {r.action for r in again.results} == {"unchanged"}
    assert set(map(tuple, recorder.phases.values())) == {("queued", "reading", "unchanged")}


def test_columns_only_widen_so_rows_do_not_jump_between_refreshes() -> None:
    board = Board(total=2, clock=Clock())
    board.update("dr.sg-rules.vivr-dr-alb-sg", "reading")
    board.update("vpc", "reading")
    board.update("dr.sg-rules.vivr-dr-alb-sg", "unchanged")
    widest = len("dr.sg-rules.vivr-dr-alb-sg")
    assert board.lines("apply", 80, 40)[1] == f"  reading  {'vpc':<{widest}} {'':<7}{'0s':>7}"
