"""The graph walk with in-memory steps: order, concurrency, failure, resume, tokens."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.engine import Engine, StepGraph
from vivr_provision.errors import ConfigError
from vivr_provision.state import LocalStateStore, State
from vivr_provision.state.codec import encode
from vivr_provision.steps.base import Change, Resource, Step, StepContext

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return load_config(REPO / "config" / "production.yaml", "production")


class Cloud:
    """A fake provider that records calls and can be told to fail."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: set[str] = set()
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        self.delay = 0.0
        self.tokens: dict[str, str] = {}

    def mutate(self, verb: str, name: str) -> None:
        with self.lock:
            self.calls.append((verb, name))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            if name in self.fail:
                raise RuntimeError(f"boom in {name}")
        finally:
            with self.lock:
                self.active -= 1


class FakeStep(Step):
    family = "fake"
    service = "fake"

    def __init__(self, config: PlatformConfig, key: str, cloud: Cloud,
                 deps: tuple[str, ...] = (), size: int = 1, seconds: float = 5.0) -> None:
        super().__init__(config, key)
        self.cloud = cloud
        self.deps = deps
        self.size = size
        self.expected = seconds

    @property
    def expected_seconds(self) -> float:  # type: ignore[override]
        return self.expected

    def depends_on(self) -> tuple[str, ...]:
        return self.deps

    def resource_name(self) -> str:
        return self.name

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        data = self.cloud.resources.get(self.name)
        return Resource(data["id"], dict(data)) if data and data["id"] == resource_id else None

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        data = self.cloud.resources.get(self.name)
        return Resource(data["id"], dict(data)) if data else None

    def create(self, ctx: StepContext, token: str) -> Resource:
        for dep in self.deps:
            ctx.output(dep, "id")  # dependencies' outputs are visible
        self.cloud.mutate("create", self.name)
        self.cloud.tokens[self.name] = token
        self.cloud.resources[self.name] = {"id": f"id-{self.name}", "size": self.size}
        return Resource(f"id-{self.name}", dict(self.cloud.resources[self.name]))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        if resource.data["size"] != self.size:
            return [Change("size", resource.data["size"], self.size)]
        return []

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        self.cloud.mutate("update", self.name)
        self.cloud.resources[self.name]["size"] = self.size
        return Resource(resource.id, dict(self.cloud.resources[self.name]))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        self.cloud.mutate("delete", self.name)
        del self.cloud.resources[self.name]


def make_engine(config: PlatformConfig, steps: list[Step], tmp_path: Path,
                parallelism: int = 10) -> tuple[Engine, LocalStateStore]:
    store = LocalStateStore(tmp_path / "state.json")
    state = store.load(config.project, config.environment)
    clients = ClientFactory(AwsSettings(region="us-east-1"))
    return Engine(config, steps, clients, store, state, parallelism=parallelism), store


def reload(store: LocalStateStore, config: PlatformConfig) -> State:
    return store.load(config.project, config.environment)


def diamond(config: PlatformConfig, cloud: Cloud) -> list[Step]:
    return [
        FakeStep(config, "a", cloud),
        FakeStep(config, "b", cloud, ("fake.a",)),
        FakeStep(config, "c", cloud, ("fake.a",)),
        FakeStep(config, "d", cloud, ("fake.b", "fake.c")),
        FakeStep(config, "lone", cloud),
    ]


def test_apply_respects_dependencies_and_is_idempotent(config: PlatformConfig,
                                                       tmp_path: Path) -> None:
    cloud = Cloud()
    engine, store = make_engine(config, diamond(config, cloud), tmp_path)
    report = engine.apply()
    assert report.ok
    order = [name for verb, name in cloud.calls]
    assert order.index("fake.a") < order.index("fake.b") < order.index("fake.d")
    assert order.index("fake.c") < order.index("fake.d")
    state = reload(store, config)
    assert {n: r.status for n, r in state.steps.items()} == dict.fromkeys(
        ["fake.a", "fake.b", "fake.c", "fake.d", "fake.lone"], "ready")

    cloud.calls.clear()
    engine, _ = make_engine(config, diamond(config, cloud), tmp_path)
    report = engine.apply()
    assert {r.action for r in report.results} == {"unchanged"}
    assert cloud.calls == []


def test_failure_blocks_dependents_only_and_rerun_resumes(config: PlatformConfig,
                                                          tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.fail = {"fake.b"}
    engine, store = make_engine(config, diamond(config, cloud), tmp_path)
    report = engine.apply()
    actions = {r.step: r.action for r in report.results}
    assert actions == {"fake.a": "created", "fake.b": "failed", "fake.c": "created",
                       "fake.d": "blocked", "fake.lone": "created"}
    assert "boom in fake.b" in (report.failed[0].error or "")
    state = reload(store, config)
    assert state.steps["fake.b"].status == "failed"
    assert "boom" in (state.steps["fake.b"].error or "")

    cloud.fail = set()
    cloud.calls.clear()
    engine, store = make_engine(config, diamond(config, cloud), tmp_path)
    report = engine.apply()
    assert report.ok
    assert sorted(cloud.calls) == [("create", "fake.b"), ("create", "fake.d")]
    assert reload(store, config).steps["fake.b"].error is None


def test_parallelism_bounds_concurrent_mutations(config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.delay = 0.05
    steps: list[Step] = [FakeStep(config, f"s{i}", cloud) for i in range(12)]
    engine, _ = make_engine(config, steps, tmp_path, parallelism=3)
    assert engine.apply().ok
    assert cloud.max_active == 3


def test_longest_path_starts_first(config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    steps: list[Step] = [
        FakeStep(config, "quick", cloud, seconds=1),
        FakeStep(config, "slow", cloud, seconds=100),
        FakeStep(config, "after-quick", cloud, ("fake.quick",), seconds=1),
    ]
    engine, _ = make_engine(config, steps, tmp_path, parallelism=1)
    assert engine.apply().ok
    assert cloud.calls[0] == ("create", "fake.slow")


def test_drift_is_updated_and_planned(config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    engine, _ = make_engine(config, diamond(config, cloud), tmp_path)
    engine.apply()
    cloud.resources["fake.c"]["size"] = 7
    engine, _ = make_engine(config, diamond(config, cloud), tmp_path)
    plan = {r.step: r for r in engine.plan().results}
    assert plan["fake.c"].action == "update"
    assert plan["fake.c"].changes == ["size: 7 -> 1 (update)"]
    assert plan["fake.a"].action == "no-op"
    report = engine.apply()
    assert {r.step: r.action for r in report.results}["fake.c"] == "updated"


def test_plan_on_empty_account_mutates_nothing(config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    engine, store = make_engine(config, diamond(config, cloud), tmp_path)
    report = engine.plan()
    assert {r.action for r in report.results} == {"create"}
    assert cloud.calls == []
    assert not store.exists()


def test_destroy_runs_in_reverse_and_second_destroy_is_noop(config: PlatformConfig,
                                                            tmp_path: Path) -> None:
    cloud = Cloud()
    engine, store = make_engine(config, diamond(config, cloud), tmp_path)
    engine.apply()
    cloud.calls.clear()
    report = engine.destroy()
    assert report.ok
    order = [name for verb, name in cloud.calls]
    assert order.index("fake.d") < order.index("fake.b") < order.index("fake.a")
    assert cloud.resources == {}
    state = reload(store, config)
    assert {r.status for r in state.steps.values()} == {"deleted"}
    assert all(r.generation == 1 for r in state.steps.values())
    cloud.calls.clear()
    engine, _ = make_engine(config, diamond(config, cloud), tmp_path)
    assert {r.action for r in engine.destroy().results} == {"absent"}
    assert cloud.calls == []


def test_tokens_are_reused_for_unfinished_creates_and_renewed_after_delete(
        config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    steps: list[Step] = [FakeStep(config, "a", cloud)]
    engine, store = make_engine(config, steps, tmp_path)
    cloud.fail = {"fake.a"}
    engine.apply()
    first = reload(store, config).steps["fake.a"].token
    cloud.fail = set()
    engine, _ = make_engine(config, steps, tmp_path)
    engine.apply()
    assert cloud.tokens["fake.a"] == first, "a retried create reuses its token"
    engine, _ = make_engine(config, steps, tmp_path)
    engine.destroy()
    engine, _ = make_engine(config, steps, tmp_path)
    engine.apply()
    assert cloud.tokens["fake.a"] != first, "a re-create after delete gets a new token"


def test_targets_select_dependencies_for_apply_and_dependents_for_destroy(
        config: PlatformConfig) -> None:
    graph = StepGraph(diamond(config, Cloud()))
    assert graph.select(["fake.b"], upward=True) == {"fake.a", "fake.b"}
    assert graph.select(["fake.b"], upward=False) == {"fake.b", "fake.d"}
    with pytest.raises(ConfigError, match=r"unknown --target fake\.x"):
        graph.select(["fake.x"], upward=True)


def test_cycles_and_unknown_dependencies_are_refused(config: PlatformConfig) -> None:
    cloud = Cloud()
    with pytest.raises(ConfigError, match="cycle"):
        StepGraph([FakeStep(config, "a", cloud, ("fake.b",)),
                   FakeStep(config, "b", cloud, ("fake.a",))])
    with pytest.raises(ConfigError, match="unknown step"):
        StepGraph([FakeStep(config, "a", cloud, ("fake.nope",))])
    with pytest.raises(ConfigError, match="two steps"):
        StepGraph([FakeStep(config, "a", cloud), FakeStep(config, "a", cloud)])


def test_interrupt_stops_new_work_and_keeps_finished_steps(config: PlatformConfig,
                                                           tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.delay = 0.1
    steps: list[Step] = [FakeStep(config, "a", cloud)]
    steps += [FakeStep(config, f"n{i}", cloud, ("fake.a",)) for i in range(5)]
    engine, store = make_engine(config, steps, tmp_path, parallelism=1)
    threading.Timer(0.15, engine.cancel.set).start()
    report = engine.apply()
    assert report.interrupted
    actions = {r.step: r.action for r in report.results}
    assert actions["fake.a"] == "created"
    assert "skipped" in actions.values() or "interrupted" in actions.values()
    state = reload(store, config)
    assert state.steps["fake.a"].status == "ready"


def test_a_failure_message_carrying_a_secret_is_redacted_in_state(
        config: PlatformConfig, tmp_path: Path) -> None:
    from vivr_provision import log

    log.register_secret("hunter2-very-secret")

    class Leaky(FakeStep):
        def create(self, ctx: StepContext, token: str) -> Resource:
            raise RuntimeError("AWS said: password hunter2-very-secret is invalid")

    engine, store = make_engine(config, [Leaky(config, "a", Cloud())], tmp_path)
    report = engine.apply()
    assert "hunter2" not in (report.failed[0].error or "")
    assert "hunter2" not in store.path.read_text()
    assert log.REDACTED in (reload(store, config).steps["fake.a"].error or "")


def test_a_step_that_waits_inside_delete_gives_its_slot_to_others(
        config: PlatformConfig, tmp_path: Path) -> None:
    """parallelism 1: while 'slow' waits for its deletion, 'quick' still gets to call AWS."""
    cloud = Cloud()
    finished: list[str] = []

    class SlowToDelete(FakeStep):
        def delete(self, ctx: StepContext, resource: Resource) -> None:
            super().delete(ctx, resource)
            with ctx.idle():  # what StepContext.wait does around its polling
                deadline = time.monotonic() + 5
                while "fake.quick" not in finished and time.monotonic() < deadline:
                    time.sleep(0.01)
            finished.append(self.name)

    class Quick(FakeStep):
        def delete(self, ctx: StepContext, resource: Resource) -> None:
            super().delete(ctx, resource)
            finished.append(self.name)

    steps: list[Step] = [SlowToDelete(config, "slow", cloud, seconds=100),
                         Quick(config, "quick", cloud, seconds=1)]
    engine, _ = make_engine(config, steps, tmp_path, parallelism=1)
    assert engine.apply().ok
    engine, _ = make_engine(config, steps, tmp_path, parallelism=1)
    assert engine.destroy().ok
    assert finished == ["fake.quick", "fake.slow"], "quick ran while slow was only waiting"


# ------------------------------------------------------------- lost responses, retried calls


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Call")


class LostAnswerStep(FakeStep):
    """A step whose calls AWS applies and then answers with an error, as a botocore
    retry after a lost response sees them: ``create`` makes the resource (without
    its ``size``: the part of the create that never ran) and answers "exists";
    ``delete`` removes ``deletes_applied`` times before answering "not found"."""

    def __init__(self, config: PlatformConfig, key: str, cloud: Cloud, *,
                 create_code: str | None = None, delete_code: str | None = None,
                 delete_applies: bool = True, update_code: str | None = None) -> None:
        super().__init__(config, key, cloud, size=3)
        self.create_code = create_code
        self.update_code = update_code
        self.delete_code = delete_code
        self.delete_applies = delete_applies

    def exists_codes(self) -> frozenset[str]:
        return frozenset({"AlreadyExists"})

    def gone_codes(self) -> frozenset[str]:
        return frozenset({"NotFound"})

    def create(self, ctx: StepContext, token: str) -> Resource:
        if self.create_code is None:
            return super().create(ctx, token)
        self.cloud.mutate("create", self.name)
        self.cloud.resources[self.name] = {"id": f"id-{self.name}", "size": 0}
        raise _client_error(self.create_code)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        resource = super().update(ctx, resource, changes)
        if self.update_code is not None:
            raise _client_error(self.update_code)
        return resource

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        if self.delete_code is None:
            return super().delete(ctx, resource)
        self.cloud.mutate("delete", self.name)
        if self.delete_applies:
            del self.cloud.resources[self.name]
        code, self.delete_code = self.delete_code, None  # the next attempt works
        raise _client_error(code)


def test_a_create_answered_already_exists_adopts_and_finishes_it(config: PlatformConfig,
                                                                 tmp_path: Path) -> None:
    cloud = Cloud()
    step = LostAnswerStep(config, "a", cloud, create_code="AlreadyExists")
    engine, store = make_engine(config, [step], tmp_path)
    report = engine.apply()
    assert report.ok, report.failed
    assert report.results[0].action == "created"
    assert cloud.calls == [("create", "fake.a"), ("update", "fake.a")]
    assert cloud.resources["fake.a"]["size"] == 3
    record = reload(store, config).steps["fake.a"]
    assert (record.status, record.resource_id, record.origin) == ("ready", "id-fake.a", "created")


@pytest.mark.parametrize("code", ["AlreadyExists", "AccessDenied"])
def test_a_create_error_stands_when_nothing_of_ours_is_there(config: PlatformConfig,
                                                            tmp_path: Path, code: str) -> None:
    cloud = Cloud()
    step = LostAnswerStep(config, "a", cloud, create_code=code)
    step.find_by_tags = lambda ctx: None  # type: ignore[method-assign]
    engine, store = make_engine(config, [step], tmp_path)
    report = engine.apply()
    assert not report.ok
    assert code in (report.failed[0].error or "")
    assert reload(store, config).steps["fake.a"].status == "failed"


def test_a_delete_answered_not_found_is_done_when_the_resource_is_gone(
        config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    engine, store = make_engine(config, [LostAnswerStep(config, "a", cloud)], tmp_path)
    assert engine.apply().ok
    step = LostAnswerStep(config, "a", cloud, delete_code="NotFound")
    engine, store = make_engine(config, [step], tmp_path)
    report = engine.destroy()
    assert report.ok, report.failed
    assert report.results[0].action == "deleted"
    assert cloud.calls.count(("delete", "fake.a")) == 1
    assert reload(store, config).steps["fake.a"].status == "deleted"


def test_a_delete_answered_not_found_while_the_resource_stays_runs_again(
        config: PlatformConfig, tmp_path: Path) -> None:
    """An inner call (a detach) had finished; the resource itself is still there."""
    cloud = Cloud()
    engine, _ = make_engine(config, [LostAnswerStep(config, "a", cloud)], tmp_path)
    assert engine.apply().ok
    step = LostAnswerStep(config, "a", cloud, delete_code="NotFound", delete_applies=False)
    engine, _ = make_engine(config, [step], tmp_path)
    assert engine.destroy().ok
    assert cloud.calls.count(("delete", "fake.a")) == 2
    assert "fake.a" not in cloud.resources


def test_a_delete_error_that_is_not_a_not_found_stands(config: PlatformConfig,
                                                        tmp_path: Path) -> None:
    cloud = Cloud()
    engine, _ = make_engine(config, [LostAnswerStep(config, "a", cloud)], tmp_path)
    assert engine.apply().ok
    step = LostAnswerStep(config, "a", cloud, delete_code="DependencyViolation",
                          delete_applies=False)
    engine, _ = make_engine(config, [step], tmp_path)
    report = engine.destroy()
    assert not report.ok and "DependencyViolation" in (report.failed[0].error or "")
    assert cloud.calls.count(("delete", "fake.a")) == 1


@pytest.mark.parametrize(("code", "ok"), [("AlreadyExists", True), ("NotFound", True),
                                          ("Throttling", False)])
def test_an_update_answered_already_done_is_judged_by_a_fresh_description(
        config: PlatformConfig, tmp_path: Path, code: str, ok: bool) -> None:
    cloud = Cloud()
    engine, _ = make_engine(config, [LostAnswerStep(config, "a", cloud)], tmp_path)
    assert engine.apply().ok
    cloud.resources["fake.a"]["size"] = 1
    engine, _ = make_engine(config, [LostAnswerStep(config, "a", cloud, update_code=code)],
                            tmp_path)
    report = engine.apply()
    assert report.ok is ok
    assert cloud.resources["fake.a"]["size"] == 3
    assert cloud.calls.count(("update", "fake.a")) == 1


class BatchedStep(FakeStep):
    """Finds its resource in a batch listing first (a stale copy the test chooses),
    and reads it directly once the batch has served it (batch_reads.py)."""

    def __init__(self, config: PlatformConfig, key: str, cloud: Cloud,
                 listing: dict[str, dict[str, Any]]) -> None:
        super().__init__(config, key, cloud)
        self.listing = listing

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        item = ctx.reads.take(("fake", "listing"), self.name, lambda: self.listing, self.name)
        if item is not None:
            return Resource(item["id"], dict(item))
        self.cloud.calls.append(("describe", self.name))
        return super().describe_by_id(ctx, resource_id)


@pytest.mark.parametrize("run", ["apply", "plan", "refresh"])
def test_drift_seen_in_a_stale_batch_is_confirmed_by_a_direct_read_before_any_write(
        config: PlatformConfig, tmp_path: Path, run: str) -> None:
    cloud = Cloud()
    engine, _ = make_engine(config, [FakeStep(config, "a", cloud)], tmp_path)
    engine.apply()
    # The batch (an eventually consistent listing) still shows an older size.
    stale = {"fake.a": {"id": "id-fake.a", "size": 7}}
    engine, _ = make_engine(config, [BatchedStep(config, "a", cloud, stale)], tmp_path)
    cloud.calls.clear()
    report = getattr(engine, run)()
    action = {r.step: r for r in report.results}["fake.a"]
    assert action.action in ("unchanged", "no-op", "ok")
    assert not action.changes
    assert cloud.calls == [("describe", "fake.a")]


def test_drift_confirmed_by_the_direct_read_is_converged(config: PlatformConfig,
                                                         tmp_path: Path) -> None:
    cloud = Cloud()
    engine, _ = make_engine(config, [FakeStep(config, "a", cloud)], tmp_path)
    engine.apply()
    cloud.resources["fake.a"]["size"] = 7
    listing = {"fake.a": {"id": "id-fake.a", "size": 7}}
    engine, _ = make_engine(config, [BatchedStep(config, "a", cloud, listing)], tmp_path)
    cloud.calls.clear()
    report = engine.apply()
    assert {r.step: r.action for r in report.results}["fake.a"] == "updated"
    assert cloud.calls == [("describe", "fake.a"), ("update", "fake.a")]


def test_a_batch_answer_without_drift_is_taken_as_it_is(config: PlatformConfig,
                                                        tmp_path: Path) -> None:
    cloud = Cloud()
    engine, _ = make_engine(config, [FakeStep(config, "a", cloud)], tmp_path)
    engine.apply()
    listing = {"fake.a": {"id": "id-fake.a", "size": 1}}
    engine, _ = make_engine(config, [BatchedStep(config, "a", cloud, listing)], tmp_path)
    cloud.calls.clear()
    engine.apply()
    assert cloud.calls == []


def test_each_durable_point_appends_one_journal_line_of_only_the_changed_records(
        config: PlatformConfig, tmp_path: Path) -> None:
    cloud = Cloud()
    engine, store = make_engine(config, diamond(config, cloud), tmp_path, parallelism=1)
    committed: list[list[str]] = []
    real = store.save_records

    def counted(state: State, guard: Any) -> None:
        @contextmanager
        def seen() -> Iterator[Any]:
            with guard as names:
                committed.append(sorted(names))
                yield names
        real(state, seen())

    store.save_records = counted  # type: ignore[method-assign]
    assert engine.apply().ok

    written = [json.loads(line) for line in store.journal_path.read_bytes().splitlines()]
    # The first durable point has no file under it: a full save; every later one is one
    # line of exactly the records the engine handed over (coalesced across workers).
    assert [sorted(line["steps"]) for line in written] == committed[1:]
    assert [line["serial"] for line in written] == list(range(2, len(committed) + 1))
    durable = json.loads(store.path.read_bytes())["steps"]
    for line in written:  # only changed records: each differs from its durable version
        for name, record in line["steps"].items():
            assert durable.get(name) != record
            durable[name] = record
    assert not store.backup_path.exists()  # the file was written once
    assert encode(reload(store, config)) == encode(engine.state)


def _failing_once(store: LocalStateStore, failing_call: int) -> list[list[str]]:
    """Make ``store.save_records`` fail (disk full) on call ``failing_call``; returns the
    names each call was handed."""
    handed: list[list[str]] = []
    real = store.save_records

    def disk_full_once(state: State, guard: Any) -> None:
        with guard as names:
            handed.append(sorted(names))
        if len(handed) == failing_call:
            raise OSError(28, "No space left on device")

        @contextmanager
        def again() -> Iterator[Any]:
            yield names
        real(state, again())

    store.save_records = disk_full_once  # type: ignore[method-assign]
    return handed


def test_a_create_waits_for_its_intent_to_be_durable(config: PlatformConfig,
                                                     tmp_path: Path) -> None:
    cloud = Cloud()
    engine, store = make_engine(config, [FakeStep(config, "a", cloud)], tmp_path)
    _failing_once(store, 1)  # the intent (creating + token) cannot be written

    assert [r.action for r in engine.apply().results] == ["failed"]
    assert cloud.calls == []
    assert reload(store, config).steps["fake.a"].status == "failed"


def test_records_of_a_failed_durable_point_are_written_by_the_next_one(
        config: PlatformConfig, tmp_path: Path) -> None:
    engine, store = make_engine(config, [], tmp_path)
    handed = _failing_once(store, 1)
    with pytest.raises(OSError):
        engine._commit("fake.x", status="creating")
    engine._commit("fake.y", status="creating")

    assert handed == [["fake.x"], ["fake.x", "fake.y"]]
    assert sorted(reload(store, config).steps) == ["fake.x", "fake.y"]
