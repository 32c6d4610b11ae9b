"""The step-graph walk: apply, destroy, plan and refresh.

Why it is shaped this way:

* Order comes from declared dependencies (stdlib ``graphlib``); cycles and
  unknown names are refused before any API call.
* Independent steps run concurrently.  ``parallelism`` bounds the steps that
  are *calling* AWS (creating, updating, deleting), not the steps that are
  *waiting*: a 30-minute RDS waiter must not hold a slot that a security
  group could use (Terraform's semaphore does exactly that).  Slots go to the
  step with the longest remaining path first.
* State is journalled: the intent (status ``creating`` + idempotency token)
  is saved before a create call, the physical id right after it, the outputs
  when the resource is usable.  ``kill -9`` at any moment leaves a state from
  which the next run resumes: ambiguous steps are settled by a lookup (id,
  then ownership tags), never by a blind re-create.
* A failure stops only the failed step's dependents; independent steps
  finish.  Ctrl-C stops starting work, lets in-flight calls finish, saves.
"""

from __future__ import annotations

import heapq
import itertools
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any, Literal

from vivr_provision import aws_errors
from vivr_provision.aws import ClientFactory, error_code, error_text
from vivr_provision.config import PlatformConfig
from vivr_provision.errors import ConfigError
from vivr_provision.log import get_logger, redact
from vivr_provision.state import Observation, State, StateStore, StepRecord, utc_now
from vivr_provision.steps.base import (
    Change,
    DependencyMissing,
    DestroyOptions,
    ReplacementRequired,
    Resource,
    Step,
    StepContext,
    StepInterrupted,
    StepRefused,
    idempotency_token,
)

log = get_logger("vivr.engine")

#: How many times an update or a delete whose call answered "already there" /
#: "not found" (a retry after a lost response) is run again, each from a
#: fresh description, while work remains.
RESUME_ATTEMPTS = 3

#: Actions a step result can report.
SUCCESS_ACTIONS = frozenset(
    {"created", "recovered", "adopted", "updated", "replaced", "unchanged", "deleted", "absent",
     "create", "update", "replace", "delete", "no-op", "ok", "missing", "drifted"}
)
#: What ``status --refresh`` records for each of its results (``StepRecord.observed``).
OBSERVED: dict[str, Literal["ok", "drifted", "missing"]] = {
    "ok": "ok", "drifted": "drifted", "missing": "missing"}
#: Actions that mean the step did not do its work (the run exits 1).
FAILED_ACTIONS = frozenset({"failed", "refused"})


def shown(value: Any) -> str:
    """A setting's value as plans print and save it: JSON, secrets redacted."""
    try:
        text = json.dumps(value, sort_keys=True, default=str, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return redact(text)


def change_record(change: Change) -> dict[str, Any]:
    """The structured form of a change (``StepResult.settings``, saved plans)."""
    return {"field": change.field, "current": shown(change.current),
            "desired": shown(change.desired), "replace": change.replace, "when": change.when}


@dataclass(frozen=True)
class Approved:
    """What a reviewed plan allows one step to do (see :meth:`Engine.bind_plan`)."""

    action: str
    fields: frozenset[str] = frozenset()


@dataclass
class StepResult:
    step: str
    action: str
    resource_id: str | None = None
    duration_s: float = 0.0
    error: str | None = None
    changes: list[str] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)
    #: What the operator must know (see :meth:`Step.notes`), shown after the table.
    notes: list[str] = field(default_factory=list)
    #: The changes as data (field, current, desired, replace, when; values redacted).
    settings: list[dict[str, Any]] = field(default_factory=list)
    #: Why the step cannot go ahead (deletion protection without the flag that
    #: lifts it, a replacement apply does not make by itself), one line each.
    blockers: list[str] = field(default_factory=list)
    #: Config values that differ from AWS but that apply leaves alone, and why
    #: (see :meth:`Step.unapplied`); plan shows them even for a no-op step.
    unapplied: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.action in SUCCESS_ACTIONS

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration_s"] = round(self.duration_s, 3)
        return data


@dataclass
class RunReport:
    command: str
    results: list[StepResult]
    duration_s: float
    interrupted: bool = False
    #: The signal that interrupted the run (2 for Ctrl-C, 15 for SIGTERM).
    stopped_by: int | None = None
    #: botocore's retries (throttling, 5xx, broken connections) per service.
    retries: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if r.action in FAILED_ACTIONS]

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok for r in self.results)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.action] = counts.get(result.action, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "duration_s": round(self.duration_s, 3),
            "summary": self.counts(),
            "retries": self.retries,
            "steps": [r.as_dict() for r in self.results],
        }


class SlotGate:
    """A semaphore that hands free slots to the highest-priority waiter first.

    A thread holding a slot can give it back while it only waits
    (:meth:`released`, used by ``StepContext.wait``), so a 30-minute RDS or
    CloudFront waiter inside create or delete does not keep a step that could
    call AWS from starting; the slot is taken again, at the same priority,
    when the wait is over.

    ``on_phase`` hears, in the thread concerned, what the live view must show
    truthfully: ``queued`` (no slot free yet), ``calling`` (holds a slot),
    ``waiting`` (gave it back to wait) and ``reading`` (done calling, going
    on without a slot).  It is told before a slot is given back and after
    one is taken, so it never sees more steps calling than there are slots.
    """

    def __init__(self, slots: int, cancel: threading.Event,
                 on_phase: Callable[[str], None] = lambda phase: None) -> None:
        self._free = slots
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int]] = []
        #: Each waiter's own condition (on the one lock): a free slot wakes the next
        #: in line only, not every waiter (on a wide apply, dozens queue at once).
        self._turns: dict[tuple[float, int], threading.Condition] = {}
        self._seq = itertools.count()
        self._cancel = cancel
        self._held = threading.local()
        self._on_phase = on_phase

    def _acquire(self, priority: float) -> None:
        entry = (-priority, next(self._seq))
        with self._lock:
            if not (self._free > 0 and not self._queue):
                self._on_phase("queued")
            heapq.heappush(self._queue, entry)
            turn = self._turns[entry] = threading.Condition(self._lock)
            try:
                while not (self._free > 0 and self._queue[0] == entry):
                    if self._cancel.is_set():
                        raise StepInterrupted("interrupted while waiting for a slot")
                    turn.wait(0.2)
                self._free -= 1
            finally:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
                del self._turns[entry]
                self._wake_next()  # a slot may still be free for the next in line
        self._held.priority = priority
        self._on_phase("calling")

    def _release(self) -> None:
        self._held.priority = None
        with self._lock:
            self._free += 1
            self._wake_next()

    def _wake_next(self) -> None:
        """Wake the first in line when a slot is free (call it holding the lock)."""
        if self._free > 0 and self._queue:
            self._turns[self._queue[0]].notify()

    @contextmanager
    def slot(self, priority: float) -> Iterator[None]:
        self._acquire(priority)
        try:
            yield
        finally:
            self._on_phase("reading")
            self._release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Give this thread's slot back for the ``with`` block (no-op without one)."""
        priority = getattr(self._held, "priority", None)
        if priority is None:
            yield
            return
        self._on_phase("waiting")
        self._release()
        try:
            yield
        finally:
            self._acquire(priority)


class StepGraph:
    """Steps by name with validated dependencies."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps: dict[str, Step] = {}
        for step in steps:
            if step.name in self.steps:
                raise ConfigError(f"two steps are named {step.name!r}")
            self.steps[step.name] = step
        self.deps: dict[str, set[str]] = {}
        for name, step in self.steps.items():
            unknown = [d for d in step.depends_on() if d not in self.steps]
            if unknown:
                raise ConfigError(f"step {name} depends on unknown step(s) {', '.join(unknown)}")
            self.deps[name] = set(step.depends_on())
        try:
            self.order = list(TopologicalSorter(self.deps).static_order())
        except CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise ConfigError(f"the step graph has a cycle: {cycle}") from None
        self.dependents: dict[str, set[str]] = {n: set() for n in self.steps}
        for name, deps in self.deps.items():
            for dep in deps:
                self.dependents[dep].add(name)

    def closure(self, names: Iterable[str], *, upward: bool) -> set[str]:
        """``names`` plus their dependencies (upward) or their dependents."""
        edges = self.deps if upward else self.dependents
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(edges[name])
        return seen

    def select(self, targets: Iterable[str] | None, *, upward: bool) -> set[str]:
        """The steps ``targets`` (names or globs such as ``sg-rules.*``) select, with
        their dependencies (upward) or dependents; every step when there are none."""
        from vivr_provision.targets import expand_targets

        targets = list(targets or [])
        if not targets:
            return set(self.steps)
        return self.closure(expand_targets(targets, self.order), upward=upward)

    def teardown(self, targets: Iterable[str] | None) -> tuple[set[str], set[str]]:
        """What a destroy of ``targets`` deletes, and the steps outside it that only detach.

        Everything that depends on a deleted step is deleted too, except a
        step that outlives a dependency on another site
        (:attr:`~vivr_provision.steps.base.Step.detaches_other_sites`): a
        destroy of the DR side (``--target 'dr.*'``) removes the secrets'
        replicas, not the secrets, and leaves the primary database alone.
        Without targets every step is deleted and nothing detaches.
        """
        from vivr_provision.targets import expand_targets

        if not targets:
            return set(self.steps), set()
        deleted: set[str] = set()
        stack = list(expand_targets(list(targets), self.order))
        while stack:
            name = stack.pop()
            if name in deleted:
                continue
            deleted.add(name)
            stack.extend(d for d in self.dependents[name] if not self.detaches(d, name))
        detached = {d for n in deleted for d in self.dependents[n]} - deleted
        return deleted, detached

    def detaches(self, dependent: str, dependency: str) -> bool:
        """Whether ``dependent`` outlives ``dependency`` being destroyed (see teardown)."""
        step = self.steps[dependent]
        return step.detaches_other_sites and \
            step.site.prefix != self.steps[dependency].site.prefix

    def priorities(self, names: set[str], *, reverse: bool) -> dict[str, float]:
        """Longest remaining path (in expected seconds) from each step to the end."""
        after = self.deps if reverse else self.dependents
        order = self.order if reverse else list(reversed(self.order))
        prio: dict[str, float] = {}
        for name in order:
            if name not in names:
                continue
            tail = max((prio[n] for n in after[name] if n in names and n in prio), default=0.0)
            prio[name] = self.steps[name].expected_seconds + tail
        return prio


class Engine:
    """Runs one command over the step graph against one state."""

    def __init__(
        self,
        config: PlatformConfig,
        steps: Iterable[Step],
        clients: ClientFactory,
        store: StateStore,
        state: State,
        *,
        parallelism: int = 10,
        observer: Callable[[str, str, str], None] | None = None,
        destroy_options: DestroyOptions | None = None,
    ) -> None:
        self.config = config
        self.graph = StepGraph(steps)
        self.store = store
        self.state = state
        self.cancel = threading.Event()
        #: The signal that stopped the walk (SIGINT, SIGTERM), if one did.
        self.stopped_by: int | None = None
        #: The step each worker thread runs, for the gate's phases.
        self._running = threading.local()
        self.gate = SlotGate(max(1, parallelism), self.cancel, on_phase=self._slot_phase)
        self.clients = clients
        self._lock = threading.RLock()
        # Coalesced saves (_make_durable): changes counted, and how many are on disk.
        self._save_lock = threading.Lock()
        self._changes = 0
        self._durable = 0
        #: Step records changed since the last durable point (what the next one writes).
        self._dirty: set[str] = set()
        self._outputs: dict[str, Mapping[str, Any]] = {
            name: dict(rec.outputs) for name, rec in state.steps.items()
            if rec.status == "ready" and rec.outputs
        }
        self.ctx = StepContext(config, clients, self._outputs_of, self.cancel,
                               account_id=state.account_id or "000000000000",
                               destroy_options=destroy_options or DestroyOptions(),
                               idle=self.gate.released, note_written=self._note_written,
                               forget_written=self._forget_written,
                               written_into=self._written_into)
        # What state recorded, kept apart from the run's outputs, which plan and refresh
        # clear (steps' outputs are replaced whole, never changed in place).
        self.ctx.recorded_outputs = dict(self._outputs).get
        self._observer = observer
        #: What a reviewed plan allows each step to do (None: no plan bound).
        self._approved: dict[str, Approved] | None = None
        #: Steps downstream of a planned change: their updates follow from it.
        self._induced: set[str] = set()

    def bind_plan(self, approved: Mapping[str, Approved]) -> None:
        """Do only what a reviewed plan showed (``apply`` after approval, ``apply FILE``).

        A step whose live state no longer matches its planned action is
        refused (``refused``, nothing written) instead of doing unreviewed
        work: a replacement or a delete the plan did not show never happens.
        An in-place update of a step downstream of a planned change is
        allowed, because the plan cannot know the ids a create will return.
        """
        self._approved = dict(approved)
        changing = [n for n, a in approved.items() if a.action != "no-op"]
        self._induced = self.graph.closure(changing, upward=False) - set(changing)

    def _check_approved(self, step: Step, action: str, diff: list[Change]) -> None:
        if self._approved is None:
            return
        planned = self._approved.get(step.name, Approved("no-op"))
        fields = {c.field for c in diff}
        if action == "no-op" or action == planned.action == "replace":
            return
        if planned.action == "create" and action != "replace":
            return  # planned before its dependencies existed: nothing destructive
        if planned.action == action == "update" and not planned.fields:
            return  # an existing step planned before its dependencies existed: in place
        if action == "update" and planned.action in ("update", "replace") and \
                fields <= planned.fields:
            return
        if action in ("update", "create") and step.name in self._induced:
            return
        if action == "delete" and planned.action == "delete":
            return
        now = action + (f" ({', '.join(sorted(fields))})" if fields else "")
        raise StepRefused(
            f"changed since the plan was reviewed (planned {planned.action}, now {now}); "
            "nothing was done: run plan again")

    # -- bookkeeping -------------------------------------------------------
    def _outputs_of(self, name: str) -> Mapping[str, Any] | None:
        with self._lock:
            return self._outputs.get(name)

    def _record(self, name: str) -> StepRecord:
        with self._lock:
            return self.state.record(name).model_copy(deep=True)

    def _commit(self, name: str, **changes: Any) -> None:
        """Update one record and return once a save that includes the change is durable.

        Never call it holding ``self._lock``: it takes the save lock, and a
        saver holding that waits for ``self._lock``.
        """
        with self._lock:
            record = self.state.record(name)
            for key, value in changes.items():
                setattr(record, key, value)
            record.updated_at = utc_now()
            record.observed = None  # what a refresh found is superseded
            self._changes += 1
            self._dirty.add(name)
            ticket = self._changes
        self._make_durable(ticket)

    def _make_durable(self, ticket: int) -> None:
        """Make the records changed up to change ``ticket`` durable, unless a durable point
        made after it already covers them.

        Why coalesced: every step transition must be durable before the step
        goes on (the intent before a create).  Transitions that arrive while
        one durable point is being written wait for the next one, which
        covers them all: on a wide apply many threads share one write.  The
        store is told only which records changed (a journal line of those,
        not the whole state: ``StateStore.save_records``).
        """
        with self._save_lock:
            if self._durable >= ticket:
                return
            covered: list[int] = []
            taken: set[str] = set()

            @contextmanager
            def changed() -> Iterator[set[str]]:
                # The engine lock is held while the store encodes, not while
                # it writes: changes made during the write wait for the next
                # durable point.  ``covered`` is what the encoded records hold.
                with self._lock:
                    covered.append(self._changes)
                    taken.update(self._dirty)
                    self._dirty = set()
                    yield taken

            try:
                self.store.save_records(self.state, changed())
            except BaseException:
                with self._lock:  # not durable: the next durable point writes them
                    self._dirty |= taken
                raise
            self._durable = covered[-1]

    def _note_written(self, name: str, entries: list[dict[str, str]]) -> None:
        """Journal what a step is about to write into another step's container (saved now)."""
        with self._lock:
            known = self.state.record(name).written
            added = [dict(e) for e in entries if e not in known]
        if added:
            self._commit(name, written=[*known, *added])

    def _forget_written(self, name: str, entries: list[dict[str, str]]) -> None:
        with self._lock:
            known = self.state.record(name).written
            kept = [e for e in known if e not in entries]
        if len(kept) != len(known):
            self._commit(name, written=kept)

    def _written_into(self, container: str) -> list[dict[str, str]]:
        with self._lock:
            return [dict(e) for record in self.state.steps.values() for e in record.written
                    if e.get("container") == container]

    def _notify(self, name: str, phase: str, detail: str = "") -> None:
        """Tell the observer (the live view) where a step is.

        Phases: ``queued`` (ready, no worker or no slot yet), ``reading``
        (find, describe, diff), ``creating``/``updating``/``deleting`` (the
        call it is about to make: it queues for a slot), ``calling`` (holds a
        slot), ``waiting`` (a waiter, slot given back), then the step's
        result action (``created``, ``failed`` ...).
        """
        if self._observer is not None:
            self._observer(name, phase, detail)

    def _slot_phase(self, phase: str) -> None:
        name = getattr(self._running, "step", None)
        if name is not None:
            self._notify(name, phase)

    # -- the walk ----------------------------------------------------------
    @contextmanager
    def _ctrl_c_cancels(self) -> Iterator[None]:
        """While walking, the first Ctrl-C or SIGTERM sets :attr:`cancel` instead of raising.

        A KeyboardInterrupt can land anywhere in the main thread, including
        between a create call and the state write of the step it belongs to;
        turning it into a flag lets every step stop at a safe point.  SIGTERM
        (a CI job cancelled, a container stopped, ``kill``) is the same
        request from a machine and gets the same answer.  A second signal
        raises as usual (the operator insists).  :attr:`stopped_by` keeps the
        first signal's number: the CLI exits ``128 + signal`` as shells do.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def _on_signal(signum: int, frame: Any) -> None:
            if self.cancel.is_set():
                raise KeyboardInterrupt
            how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            log.warning("interrupted", signal=how,
                        note="finishing calls in flight, then saving state; "
                        "press Ctrl-C again to abort at once")
            self.stopped_by = signum
            self.cancel.set()

        previous = {signum: signal.signal(signum, _on_signal)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _walk(self, names: set[str], *, reverse: bool,
              work: Callable[[Step, float], StepResult]) -> tuple[list[StepResult], bool]:
        edges = self.graph.dependents if reverse else self.graph.deps
        sorter: TopologicalSorter[str] = TopologicalSorter(
            {n: {d for d in edges[n] if d in names} for n in names}
        )
        sorter.prepare()
        priorities = self.graph.priorities(names, reverse=reverse)
        results: dict[str, StepResult] = {}
        workers = max(1, min(len(names), 64))
        with self._ctrl_c_cancels(), \
                ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool:
            running: dict[Future[StepResult], str] = {}
            while True:
                if not self.cancel.is_set():
                    for name in sorted(sorter.get_ready(), key=lambda n: -priorities[n]):
                        step = self.graph.steps[name]
                        self._notify(name, "queued")
                        running[pool.submit(self._guarded, work, step, priorities[name])] = name
                if not running:
                    break
                done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    result = future.result()
                    results[name] = result
                    if result.ok:
                        sorter.done(name)
        interrupted = self.cancel.is_set()
        ordered = [n for n in (reversed(self.graph.order) if reverse else self.graph.order)
                   if n in names]
        for name in ordered:
            if name not in results:
                results[name] = self._not_run(name, results, edges, interrupted)
        return [results[n] for n in ordered], interrupted

    def _not_run(self, name: str, results: dict[str, StepResult],
                 edges: dict[str, set[str]], interrupted: bool) -> StepResult:
        blockers = sorted(n for n in self.graph.closure(edges[name], upward=True)
                          if n in results and not results[n].ok) if edges is self.graph.deps \
            else sorted(n for n in self._downstream(name) if n in results and not results[n].ok)
        if blockers:
            return StepResult(name, "blocked", error=f"blocked by {', '.join(blockers)}")
        reason = "interrupted before it started" if interrupted else "not started"
        return StepResult(name, "skipped", error=reason)

    def _downstream(self, name: str) -> set[str]:
        return self.graph.closure(self.graph.dependents[name], upward=False)

    def _guarded(self, work: Callable[[Step, float], StepResult], step: Step,
                 priority: float) -> StepResult:
        started = time.monotonic()
        bound = log.bind(step=step.name)
        self._running.step = step.name
        self._notify(step.name, "reading")
        try:
            result = work(step, priority)
        except StepInterrupted as exc:
            result = StepResult(step.name, "interrupted", error=str(exc))
            bound.info("step.interrupted", reason=str(exc))
        except StepRefused as exc:
            result = StepResult(step.name, "refused", error=str(exc))
            bound.error("step.refused", reason=str(exc))
        except Exception as exc:
            message = redact(error_text(exc))  # it goes to state and the report
            result = StepResult(step.name, "failed", error=message)
            with self._lock:
                record = self.state.steps.get(step.name)
            if record is not None or not isinstance(exc, ConfigError):
                self._commit(step.name, error=message, status="failed")
            bound.error("step.failed", error=message, code=error_code(exc))
        result.duration_s = time.monotonic() - started
        if result.ok:
            bound.info("step." + result.action, resource_id=result.resource_id,
                       duration_s=round(result.duration_s, 3),
                       **({"changes": result.changes} if result.changes else {}))
        self._running.step = None
        self._notify(step.name, result.action, result.error or result.resource_id or "")
        return result

    # -- apply -------------------------------------------------------------
    def apply(self, targets: Iterable[str] | None = None) -> RunReport:
        names = self.graph.select(targets, upward=True)
        started = time.monotonic()
        results, interrupted = self._walk(names, reverse=False, work=self._apply_step)
        return RunReport("apply", results, time.monotonic() - started, interrupted,
                         stopped_by=self.stopped_by, retries=self.clients.retries.counts())

    def _apply_step(self, step: Step, priority: float) -> StepResult:
        record = self._record(step.name)
        resource, diff = self._find_and_diff(step, record.resource_id)
        changes: list[Change] = []
        if resource is None:
            self._check_approved(step, "create", [])
            resource, existed = self._create(step, priority, record)
            action = "recovered" if resource.recovered else "created"
            if existed:
                # The create's first attempt succeeded and its answer was lost:
                # what it did not finish (tags, attachments, rules) is drift.
                resource, changes = self._converge(step, priority, resource,
                                                   step.diff(self.ctx, resource))
        else:
            replace = [c for c in diff if c.replace]
            self._check_approved(step, "replace" if replace else "update" if diff else "no-op",
                                 diff)
            if replace and step.replace_automatically:
                return self._replace_step(step, priority, record, resource, replace)
            if diff:
                resource, changes = self._converge(step, priority, resource, diff)
                action = "updated"
            elif record.status == "ready" and record.resource_id == resource.id:
                action = "unchanged"
            else:
                action = "adopted"
            if action != "unchanged" and record.resource_id != resource.id:
                self._commit(step.name, resource_id=resource.id,
                             origin=record.origin or "adopted")
        resource = self._await_ready(step, resource)
        outputs = step.outputs(resource)
        with self._lock:
            self._outputs[step.name] = outputs
        if action != "unchanged" or record.outputs != outputs or record.error or \
                record.observed is not None:
            self._commit(step.name, status="ready", resource_id=resource.id, outputs=outputs,
                         error=None)
        return StepResult(step.name, action, resource.id,
                          changes=[c.describe() for c in changes],
                          settings=[change_record(c) for c in changes],
                          notes=self._notes(step, resource))

    def _converge(self, step: Step, priority: float, resource: Resource,
                  diff: list[Change]) -> tuple[Resource, list[Change]]:
        """Update in place; a setting only a replacement can change stops the step."""
        replace = [c for c in diff if c.replace]
        if replace:
            raise ReplacementRequired(
                f"{step.name}: {'; '.join(c.describe() for c in replace)}: AWS cannot change "
                f"this in place; run `vivr-provision destroy --target {step.name}` then apply"
            )
        if not diff:
            return resource, []
        described = list(diff)
        self._notify(step.name, "updating")
        for attempt in range(1, RESUME_ATTEMPTS + 1):
            try:
                with self.gate.slot(priority):
                    return step.update(self.ctx, resource, diff), described
            except aws_errors.ClientError as exc:
                # An update call (authorize, attach, put) answered "already there" or
                # a revoke "not found" after botocore retried it: what is left is
                # whatever the fresh description still lacks.
                if attempt == RESUME_ATTEMPTS or error_code(exc) not in (
                        step.exists_codes() | step.gone_codes()):
                    raise
                found = step.find(self.ctx, resource.id)
                if found is None:
                    raise
                resource, diff = found, step.diff(self.ctx, found)
                log.info("step.update_resumed", step=step.name, code=error_code(exc),
                         remaining=len(diff))
                if not diff:
                    return resource, described
        raise AssertionError("unreachable")

    def _notes(self, step: Step, resource: Resource | None) -> list[str]:
        """The step's notes; a dependency not applied yet (plan) just means none yet."""
        lines = self.ctx.catalog.notes_for(step.name)
        with suppress(DependencyMissing):
            lines = lines + step.notes(self.ctx, resource)
        return [redact(line) for line in lines]

    def _create(self, step: Step, priority: float,
                record: StepRecord) -> tuple[Resource, bool]:
        """Journal the intent (status + token), call create, record the physical id.

        Returns the resource and whether it was already there: a create whose
        first attempt AWS applied but whose answer was lost is retried by
        botocore, and the retry answers "already exists" (one of the step's
        :meth:`~Step.exists_codes`; or "not found" for a revoke inside it).
        The resource is then looked up again, with the ownership check, and
        taken as created; what the create did not finish is converged as
        drift.  Only a resource that is not ours, or none at all, leaves the
        error standing.
        """
        token = self._token_for(step, record)
        self._commit(step.name, status="creating", token=token, started_at=utc_now(),
                     error=None, generation=record.generation, retained=[])
        self._notify(step.name, "creating")
        existed = False
        with self.gate.slot(priority):
            for attempt in range(1, RESUME_ATTEMPTS + 1):
                try:
                    resource = step.create(self.ctx, token)
                    break
                except aws_errors.ClientError as exc:
                    if error_code(exc) not in step.exists_codes() | step.gone_codes():
                        raise
                    found = step.find(self.ctx, None)
                    if found is not None:
                        log.info("step.create_found_existing", step=step.name,
                                 code=error_code(exc), resource_id=found.id)
                        resource, existed = found, True
                        break
                    if attempt == RESUME_ATTEMPTS:
                        raise
                    # An inner call (a revoke before any rule of ours existed) had
                    # finished; nothing to adopt yet: create again, as a rerun would.
                    log.info("step.create_resumed", step=step.name, code=error_code(exc),
                             attempt=attempt)
        self._commit(step.name, resource_id=resource.id, origin="created")
        log.info("step.creating", step=step.name, resource_id=resource.id)
        return resource, existed

    def _await_ready(self, step: Step, resource: Resource) -> Resource:
        """Wait (outside any slot) until the resource is usable."""
        if not step.is_ready(resource):
            self._notify(step.name, "waiting")
            log.info("step.waiting", step=step.name, resource_id=resource.id)
        return step.wait(self.ctx, resource)

    def _replace_step(self, step: Step, priority: float, record: StepRecord,
                      resource: Resource, replace: list[Change]) -> StepResult:
        """Delete then re-create a stateless resource whose fixed settings drifted.

        The delete is journalled like a destroy (so a crash in between leaves
        a record that the next apply simply re-creates), then the create runs
        under a new generation's token.
        """
        changes = [c.describe() for c in replace]
        log.info("step.replacing", step=step.name, resource_id=resource.id, changes=changes)
        self._commit(step.name, status="deleting", started_at=utc_now(), error=None)
        self._notify(step.name, "deleting")
        with self.gate.slot(priority):
            self._delete(step, resource, record)
        self._commit(step.name, status="deleted", resource_id=None, outputs={}, token=None,
                     generation=record.generation + 1)
        created, _ = self._create(step, priority, self._record(step.name))
        created = self._await_ready(step, created)
        outputs = step.outputs(created)
        with self._lock:
            self._outputs[step.name] = outputs
        self._commit(step.name, status="ready", resource_id=created.id, outputs=outputs,
                     error=None)
        return StepResult(step.name, "replaced", created.id, changes=changes,
                          settings=[change_record(c) for c in replace],
                          notes=self._notes(step, created))

    def _token_for(self, step: Step, record: StepRecord) -> str:
        """The idempotency token of this create call.

        A create that never recorded a resource id (crashed, interrupted or
        failed) is repeated with the same token, so AWS returns what the first
        call made.  A resource that did exist and is now gone (deleted by hand)
        gets a new generation: its old token would hand back the dead resource.
        """
        if record.token and not record.resource_id:
            return record.token
        if record.token:
            record.generation += 1
        return idempotency_token(self.config.project, self.config.environment, step.name,
                                 record.generation)

    # -- destroy -----------------------------------------------------------
    def destroy(self, targets: Iterable[str] | None = None) -> RunReport:
        names, detached = self.graph.teardown(targets)
        started = time.monotonic()
        results, interrupted = self._walk(
            names | detached, reverse=True,
            work=self._teardown_work(names, detached, self._destroy_step, self._detach_step))
        return RunReport("destroy", results, time.monotonic() - started, interrupted,
                         stopped_by=self.stopped_by, retries=self.clients.retries.counts())

    def _destroy_step(self, step: Step, priority: float) -> StepResult:
        record = self._record(step.name)
        resource = step.find(self.ctx, record.resource_id)
        if resource is None:
            if record.status not in ("pending", "deleted"):
                # A token whose resource is gone (never made, or removed by hand)
                # must not be reused: AWS would hand back the dead resource.
                self._commit(step.name, status="deleted", resource_id=None, outputs={},
                             error=None, token=None,
                             generation=record.generation + (1 if record.token else 0))
            return StepResult(step.name, "absent")
        self._check_approved(step, "delete", [])
        self._commit(step.name, status="deleting", started_at=utc_now(), error=None)
        self._notify(step.name, "deleting")
        with self.gate.slot(priority):
            retained = self._delete(step, resource, record)
        with self._lock:
            self._outputs.pop(step.name, None)
        self._commit(step.name, status="deleted", resource_id=None, outputs={}, token=None,
                     retained=retained,
                     generation=record.generation + (1 if record.token else 0))
        for line in retained:
            log.info("step.retained", step=step.name, kept=line)
        return StepResult(step.name, "deleted", resource.id, retained=retained)

    def _teardown_work(self, deleted: set[str], detached: set[str],
                       delete: Callable[[Step, float], StepResult],
                       detach: Callable[[Step, float, frozenset[str]], StepResult],
                       ) -> Callable[[Step, float], StepResult]:
        """The walk's work for a teardown: ``delete`` the deleted steps, ``detach`` the
        others from the deleted steps they depend on."""
        def work(step: Step, priority: float) -> StepResult:
            if step.name not in detached:
                return delete(step, priority)
            gone = frozenset(self.graph.deps[step.name] & deleted)
            return detach(step, priority, gone)
        return work

    def _detach_step(self, step: Step, priority: float, gone: frozenset[str]) -> StepResult:
        """Let ``step`` go on without the steps in ``gone``, which are about to be deleted:
        its :meth:`~vivr_provision.steps.base.Step.detach`, then its outputs saved again."""
        record = self._record(step.name)
        resource = step.find(self.ctx, record.resource_id)
        if resource is None:
            return StepResult(step.name, "absent")
        changes = step.detach_changes(self.ctx, resource, gone)
        self._check_approved(step, "update" if changes else "no-op", changes)
        if not changes:
            return StepResult(step.name, "unchanged", resource.id)
        self._notify(step.name, "updating")
        with self.gate.slot(priority):
            step.detach(self.ctx, resource, changes)
        resource = step.find(self.ctx, resource.id) or resource
        outputs = step.outputs(resource)
        with self._lock:
            self._outputs[step.name] = outputs
        self._commit(step.name, outputs=outputs, error=None)
        return StepResult(step.name, "updated", resource.id,
                          changes=[c.describe() for c in changes],
                          settings=[change_record(c) for c in changes])

    def _plan_detach(self, step: Step, priority: float, gone: frozenset[str]) -> StepResult:
        record = self.state.steps.get(step.name)
        resource = step.find(self.ctx, record.resource_id if record else None)
        if resource is None:
            return StepResult(step.name, "no-op")
        changes = step.detach_changes(self.ctx, resource, gone)
        if not changes:
            return StepResult(step.name, "no-op", resource.id)
        return StepResult(step.name, "update", resource.id,
                          changes=[c.describe() for c in changes],
                          settings=[change_record(c) for c in changes])

    def _delete(self, step: Step, resource: Resource, record: StepRecord) -> list[str]:
        """Delete, where "not found" after a retry means done.

        A delete (or a detach, revoke, disassociate inside it) whose answer
        was lost is retried by botocore and answers "not found" (one of the
        step's :meth:`~Step.gone_codes`).  Whether the step is done is then
        decided by looking: gone means deleted; still there means an inner
        call had finished, and the delete runs again from the fresh
        description (at most :data:`RESUME_ATTEMPTS` times).
        """
        for attempt in range(1, RESUME_ATTEMPTS + 1):
            try:
                return step.delete(self.ctx, resource) or []
            except aws_errors.ClientError as exc:
                if error_code(exc) not in step.gone_codes():
                    raise
                again = step.find(self.ctx, record.resource_id)
                if again is None:
                    log.info("step.delete_found_gone", step=step.name, code=error_code(exc))
                    return []
                if attempt == RESUME_ATTEMPTS:
                    raise
                log.info("step.delete_resumed", step=step.name, code=error_code(exc),
                         attempt=attempt)
                resource = again
        raise AssertionError("unreachable")

    # -- plan / refresh ----------------------------------------------------
    def plan(self, targets: Iterable[str] | None = None, *, destroy: bool = False) -> RunReport:
        """What apply (or destroy) would do, from reads only; nothing is saved."""
        started = time.monotonic()
        if destroy:
            # destroy's walk goes from dependents to dependencies, so it finds
            # resources by the recorded outputs as destroy itself does (a rule
            # step needs its group's id).
            names, detached = self.graph.teardown(targets)
            results, interrupted = self._walk(
                names | detached, reverse=True,
                work=self._teardown_work(names, detached, self._plan_destroy,
                                         self._plan_detach))
        else:
            # apply's plan reads each dependency before its dependents.
            self._outputs.clear()
            results, interrupted = self._walk(self.graph.select(targets, upward=True),
                                              reverse=False, work=self._plan_apply)
        return RunReport("plan", results, time.monotonic() - started, interrupted,
                         stopped_by=self.stopped_by, retries=self.clients.retries.counts())

    def settled(self, report: RunReport) -> bool:
        """Whether this engine's plan shows that apply would change nothing, in AWS or
        in state: every step no-op, recorded ``ready`` with the same id and outputs.

        ``apply`` then skips its own walk (the plan's reads were the same reads),
        so a no-change apply costs one walk, not two.
        """
        if report.command != "plan" or not report.ok:
            return False
        with self._lock:
            for result in report.results:
                record = self.state.steps.get(result.step)
                if result.action != "no-op" or record is None or record.status != "ready" \
                        or record.resource_id != result.resource_id or record.error \
                        or record.observed is not None \
                        or record.outputs != self._outputs.get(result.step):
                    return False
        return True

    def _find_and_diff(self, step: Step, resource_id: str | None
                       ) -> tuple[Resource | None, list[Change]]:
        """The step's resource and its drift; drift seen through a batch answer is
        confirmed by a direct read before anyone acts on it.

        A first lookup may be answered from a batch (batch_reads.py), and some
        batches come from eventually consistent APIs (the tagging API, IAM's
        account listing).  Finding the resource again reads it directly (the
        batch serves each reader once), so a stale batch answer costs one read,
        never a write; one that shows no drift is taken as it is.
        """
        served = self.ctx.reads.served_to(step.name)
        resource = step.find(self.ctx, resource_id)
        if resource is None:
            return None, []
        diff = step.diff(self.ctx, resource)
        if diff and self.ctx.reads.served_to(step.name) > served:
            again = step.find(self.ctx, resource_id)
            if again is None:
                return None, []
            resource, diff = again, step.diff(self.ctx, again)
            log.info("step.drift_confirmed", step=step.name, remaining=len(diff))
        return resource, diff

    def _observe(self, step: Step) -> tuple[Resource | None, list[Change]]:
        record = self.state.steps.get(step.name)
        resource, diff = self._find_and_diff(step, record.resource_id if record else None)
        if resource is not None:
            with self._lock:
                self._outputs[step.name] = step.outputs(resource)
        return resource, diff

    def _missing_dependency(self, step: Step) -> bool:
        return any(self._outputs_of(dep) is None for dep in step.depends_on())

    def _plan_apply(self, step: Step, priority: float) -> StepResult:
        if self._missing_dependency(step):
            record = self.state.steps.get(step.name)
            if record is not None and record.status == "ready" and record.resource_id:
                # It exists (e.g. the primary side after a destroy of the DR side):
                # what it reads from the missing steps is compared once they exist.
                return StepResult(step.name, "update", record.resource_id,
                                  changes=["settings read from its dependencies, once "
                                           "they exist"], notes=self._notes(step, None))
            return StepResult(step.name, "create", changes=["after its dependencies"],
                              notes=self._notes(step, None))
        resource, diff = self._observe(step)
        notes = self._notes(step, resource)
        if resource is None:
            return StepResult(step.name, "create", notes=notes)
        unapplied = [redact(line) for line in step.unapplied(self.ctx, resource)]
        if not diff:
            return StepResult(step.name, "no-op", resource.id, notes=notes, unapplied=unapplied)
        replace = [c for c in diff if c.replace]
        blockers = [] if not replace or step.replace_automatically else [
            f"AWS cannot change {', '.join(c.field for c in replace)} in place and apply does "
            f"not replace this resource by itself: run `vivr-provision destroy --target "
            f"{step.name}` then apply"]
        return StepResult(step.name, "replace" if replace else "update", resource.id,
                          changes=[c.describe() for c in diff], notes=notes,
                          settings=[change_record(c) for c in diff], blockers=blockers,
                          unapplied=unapplied)

    def _plan_destroy(self, step: Step, priority: float) -> StepResult:
        record = self.state.steps.get(step.name)
        resource = step.find(self.ctx, record.resource_id if record else None)
        if resource is None:
            return StepResult(step.name, "no-op")
        return StepResult(step.name, "delete", resource.id,
                          blockers=[redact(b) for b in step.delete_blockers(self.ctx, resource)])

    def refresh(self) -> RunReport:
        """Drift report for every step the state records as applied."""
        names = {n for n, rec in self.state.steps.items()
                 if n in self.graph.steps and rec.status in ("ready", "creating", "failed")}
        names = self.graph.closure(names, upward=True) & {
            n for n in self.graph.steps if n in self.state.steps}
        started = time.monotonic()
        self._outputs.clear()
        results, interrupted = self._walk(names, reverse=False, work=self._refresh_step)
        self._record_observations(results)
        return RunReport("status", results, time.monotonic() - started, interrupted,
                         stopped_by=self.stopped_by, retries=self.clients.retries.counts())

    def _record_observations(self, results: list[StepResult]) -> None:
        """Keep what the refresh found in state (one save), so ``status`` shows it later."""
        now = utc_now()
        with self._lock:
            changed = False
            for result in results:
                record = self.state.steps.get(result.step)
                if record is None or result.action not in OBSERVED:
                    continue
                seen = Observation(result=OBSERVED[result.action], at=now,
                                   changes=list(result.changes))
                if record.observed is None or record.observed.result != seen.result or \
                        record.observed.changes != seen.changes:
                    record.observed = seen
                    changed = True
            if changed:
                self.store.save(self.state)

    def _refresh_step(self, step: Step, priority: float) -> StepResult:
        if self._missing_dependency(step):
            return StepResult(step.name, "missing", changes=["a dependency is missing"])
        resource, diff = self._observe(step)
        if resource is None:
            return StepResult(step.name, "missing")
        if diff:
            return StepResult(step.name, "drifted", resource.id,
                              changes=[c.describe() for c in diff],
                              settings=[change_record(c) for c in diff])
        return StepResult(step.name, "ok", resource.id)
