"""The step contract: one AWS resource (or one tight group) per step.

A step declares what it depends on and knows how to find, create, diff,
update, wait for, delete and describe its resource.  The engine decides the
order, the concurrency and the bookkeeping; a step never touches the state
file.  Steps read every value from the config object.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vivr_provision import aws_errors
from vivr_provision.aws import ClientFactory
from vivr_provision.batch_reads import BatchReads
from vivr_provision.catalog import Catalog
from vivr_provision.config import PlatformConfig
from vivr_provision.log import get_logger
from vivr_provision.steps.durations import Operation, aws_seconds
from vivr_provision.steps.kinds import Kind
from vivr_provision.wait_schedule import WaitSchedule, scale_from_environment

polls = get_logger("vivr.wait")

MANAGED_BY = "vivr-provision"
STEP_TAG = "vivr:step"


class StepInterrupted(Exception):
    """The run is being cancelled (Ctrl-C); the step stops at a safe point."""


class StepRefused(Exception):
    """The step would do what the reviewed plan did not show; nothing was done."""


class StepTimeout(Exception):
    """A waiter exhausted its budget; the resource may still become ready."""


class DependencyMissing(Exception):
    """A dependency's outputs are not available (it was never applied)."""


class ReplacementRequired(Exception):
    """A setting drifted that AWS cannot change in place."""


@dataclass
class Resource:
    """What a step found or created: its physical id and the raw description."""

    id: str
    data: dict[str, Any] = field(default_factory=dict)
    #: Set by a create that brought back a resource a destroy had scheduled for
    #: deletion (a secret in its recovery window, a KMS key pending deletion), so
    #: the report says ``recovered``: the operator learns old data came back.
    recovered: bool = False


@dataclass(frozen=True)
class Change:
    """One setting that differs between AWS and the config."""

    field: str
    current: Any
    desired: Any
    replace: bool = False
    #: When the change takes effect, if not at once (e.g. "in the maintenance window").
    when: str = ""

    def describe(self) -> str:
        verb = "replace" if self.replace else "update"
        if self.when:
            verb += f" {self.when}"
        return f"{self.field}: {self.current!r} -> {self.desired!r} ({verb})"


def idempotency_token(project: str, environment: str, step: str, generation: int) -> str:
    """A deterministic token (32 hex chars fit every AWS token field we use).

    Derived from the stack, the step and the generation, so a crashed run that
    repeats the create call after a restart gets the original resource back
    instead of a duplicate, and a re-create after a delete gets a new one.
    """
    seed = f"{project}/{environment}/{step}/{generation}".encode()
    return hashlib.sha256(seed).hexdigest()[:32]


@dataclass(frozen=True)
class DestroyOptions:
    """What the operator allowed ``destroy`` to do beyond deleting.

    Data is never lost by default: databases leave a final snapshot unless
    ``skip_final_snapshot``, and deletion protection is only lifted when the
    operator said so (``--disable-deletion-protection``).
    """

    skip_final_snapshot: bool = False
    disable_deletion_protection: bool = False


@dataclass
class StepContext:
    """What a step may use while it runs: config, clients, dependency outputs."""

    config: PlatformConfig
    clients: ClientFactory
    outputs_of: Callable[[str], Mapping[str, Any] | None]
    cancel: threading.Event = field(default_factory=threading.Event)
    account_id: str = "000000000000"
    destroy_options: DestroyOptions = field(default_factory=DestroyOptions)
    #: Gives the engine's concurrency slot back while the step only waits.
    idle: Callable[[], AbstractContextManager[None]] = nullcontext
    #: Values resolved from AWS's catalogs before the walk (engine versions, AMIs ...).
    catalog: Catalog = field(default_factory=Catalog)
    #: Journal ``(step, entries)`` a step is about to write into a container another
    #: step owns (each entry names its ``container``), before writing them.
    note_written: Callable[[str, list[dict[str, str]]], None] = lambda step, entries: None
    #: Drop entries a step has removed again.
    forget_written: Callable[[str, list[dict[str, str]]], None] = lambda step, entries: None
    #: Every entry any step (present or already deleted) journalled for a container.
    written_into: Callable[[str], list[dict[str, str]]] = lambda container: []
    #: First lookups answered by one list call per kind and region (batch_reads.py).
    reads: BatchReads = field(default_factory=BatchReads)
    #: The outputs state recorded for a step when the run began (None: none).  Only a
    #: hint for what a batch asks for (which ids): plan and refresh clear the run's
    #: outputs and fill them as steps run, so a batch loaded early would miss the
    #: steps still to come.  Never a fact a step acts on: that is :meth:`output`.
    recorded_outputs: Callable[[str], Mapping[str, Any] | None] = lambda step: None
    #: Multiplies every wait's durations: ``$VIVR_TIME_SCALE`` for a time-scaled sandbox.
    time_scale: float = field(default_factory=scale_from_environment)
    #: The clock waits measure with (a fake one in unit tests).
    clock: Callable[[], float] = time.monotonic

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients.client(service, region)

    def output(self, step: str, key: str) -> Any:
        outputs = self.outputs_of(step)
        if not outputs or key not in outputs:
            raise DependencyMissing(f"{step} has not been applied (no {key} recorded)")
        return outputs[key]

    def has_outputs(self, step: str) -> bool:
        return bool(self.outputs_of(step))

    def wait(
        self,
        service: str,
        waiter_name: str,
        *,
        budget_s: float,
        delay_s: float | None = None,
        expected_s: float = 0.0,
        region: str | None = None,
        **params: Any,
    ) -> None:
        """Poll a botocore waiter until success, failure, the budget or Ctrl-C.

        botocore's own budgets are too short for several services (ElastiCache
        10 min, ACM 5 min), and its sleep cannot be interrupted, so the waiter
        is driven one attempt at a time with our own budget and a cancellable
        sleep.  A throttled poll is retried by botocore's retry mode, never
        treated as success.  ``expected_s`` is how long AWS typically takes
        (:mod:`vivr_provision.steps.durations`): the polls gather near its end.
        """
        waiter = self.client(service, region).get_waiter(waiter_name)

        def succeeded() -> bool:
            try:
                waiter.wait(WaiterConfig={"Delay": 0, "MaxAttempts": 1}, **params)
            except aws_errors.WaiterError as exc:
                if not str(exc.kwargs.get("reason", "")).startswith("Max attempts exceeded"):
                    raise
                return False
            return True

        self.poll(f"{service} waiter {waiter_name}", succeeded, budget_s=budget_s,
                  delay_s=delay_s if delay_s is not None else float(waiter.config.delay),
                  expected_s=expected_s, subject=_subject(params))

    def poll(self, what: str, done: Callable[[], bool], *, budget_s: float,
             delay_s: float, expected_s: float = 0.0, subject: str = "") -> None:
        """Call ``done`` until it is true, the budget is spent or Ctrl-C.

        The one poller: botocore waiters go through it (:meth:`wait`), and so
        do transitions no waiter covers (an Auto Scaling group or a capacity
        provider being deleted).  While it sleeps the step gives its
        concurrency slot back (waiting is not working).  Each poll is logged
        at ``-vv`` (``aws.poll``: ``subject`` names the resource, ``ready`` its
        answer), so a bench can count polls per step.

        Polls follow :class:`~vivr_provision.wait_schedule.WaitSchedule`: at
        once, then at most ``delay_s`` apart, densest near ``expected_s``.
        Every duration is multiplied by :attr:`time_scale`.
        """
        schedule = WaitSchedule.scaled(expected_s, delay_s, self.time_scale)
        budget = budget_s * self.time_scale
        started = self.clock()
        with self.idle():
            for attempt in itertools.count(1):
                ready = done()
                waited = self.clock() - started
                polls.debug("aws.poll", what=what, subject=subject, attempt=attempt,
                            ready=ready, waited_s=round(waited, 3))
                if ready:
                    return
                sleep = schedule.sleep_after(waited)
                if waited + sleep > budget:
                    raise StepTimeout(
                        f"{what} did not succeed within {budget_s:.0f}s; the resource may "
                        "still be in progress: rerun apply to keep waiting")
                if self.cancel.wait(sleep):
                    raise StepInterrupted(f"interrupted while waiting on {what}")


def _subject(params: Mapping[str, Any]) -> str:
    """The resource a waiter polls, for the ``aws.poll`` log line (ids and names only)."""
    return " ".join(f"{key}={value}" for key, value in sorted(params.items()))


@dataclass(frozen=True)
class Site:
    """Where a step lives: the primary region (default) or another one, e.g. DR.

    Steps of another site carry a name prefix (``dr.vpc``) so one graph can
    hold the same resource family in two regions; :meth:`step` names a
    sibling step of the same site.
    """

    prefix: str = ""
    region: str | None = None

    def step(self, name: str) -> str:
        return self.prefix + name


class Step(ABC):
    """Base class of every step; subclasses declare metadata as class attributes."""

    #: Family name; the step name is ``family`` or ``family.key``.
    family: ClassVar[str]
    #: boto3 service the step talks to (for documentation and rate limiting).
    service: ClassVar[str]
    #: Typical seconds this step takes on real AWS: orders the critical path first.
    expected_seconds: ClassVar[float] = 5.0
    #: Budget for the create/update waiter and for the delete waiter.
    wait_budget_s: ClassVar[float] = 600.0
    #: The kind of :mod:`~vivr_provision.steps.durations` (and of the sandbox's timing
    #: profile) whose AWS durations this step waits out; None: AWS answers at once.
    timing_kind: ClassVar[str | None] = None
    #: The resource kinds whose codes settle a call retried after a lost answer
    #: (:meth:`exists_codes`, :meth:`gone_codes`), for steps without one ``kind``.
    kinds: ClassVar[tuple[Kind, ...]] = ()
    #: Whether apply may delete and re-create the resource when a setting that
    #: cannot change in place drifted.  Only for stateless resources (an EC2
    #: instance whose user data changed); stateful ones make apply stop instead.
    replace_automatically: ClassVar[bool] = False
    #: Whether this step outlives its dependencies on another site (the DR
    #: region): a destroy of only that site (``--target 'dr.*'``) calls
    #: :meth:`detach` on it instead of destroying it too.  For primary-side
    #: resources that only point at the standby (a secret's replica, a bucket's
    #: replication, a plan's copy, the failover's SECONDARY, a policy's ARN).
    detaches_other_sites: ClassVar[bool] = False

    def __init__(self, config: PlatformConfig, key: str | None = None, *,
                 site: Site | None = None) -> None:
        self.config = config
        self.key = key
        self.site = site or Site()

    @property
    def name(self) -> str:
        return self.site.prefix + (self.family if self.key is None else f"{self.family}.{self.key}")

    @property
    def region(self) -> str:
        return self.site.region or self.config.aws.region

    def depends_on(self) -> tuple[str, ...]:
        """Names of the steps whose outputs this step reads."""
        return ()

    def aws_kind(self) -> str | None:
        """:attr:`timing_kind`, or the one the config selects (Multi-AZ or not ...)."""
        return self.timing_kind

    def aws_seconds(self, operation: Operation) -> float:
        """How long AWS typically takes to ``operation`` this step's resource: where
        its waits poll densely (:mod:`vivr_provision.wait_schedule`)."""
        return aws_seconds(self.aws_kind(), operation)

    @abstractmethod
    def resource_name(self) -> str:
        """The human name of the resource (its Name tag)."""

    def tags(self) -> dict[str, str]:
        """Ownership tags carried by everything this step creates."""
        tags = dict(self.config.tags)
        tags.update(
            {
                "Project": self.config.project,
                "Environment": self.config.environment,
                "ManagedBy": MANAGED_BY,
                "Name": self.resource_name(),
                STEP_TAG: self.name,
            }
        )
        return tags

    # -- lifecycle ---------------------------------------------------------
    def find(self, ctx: StepContext, resource_id: str | None) -> Resource | None:
        """Locate the resource: by the recorded id first, then by ownership tags."""
        if resource_id:
            found = self.describe_by_id(ctx, resource_id)
            if found is not None:
                return found
        return self.find_by_tags(ctx)

    @abstractmethod
    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The live resource with this id, or None if it is gone."""

    @abstractmethod
    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """The live resource carrying this step's ownership tags, or None."""

    @abstractmethod
    def create(self, ctx: StepContext, token: str) -> Resource:
        """Create the resource, passing ``token`` where the API takes one."""

    def exists_codes(self) -> frozenset[str]:
        """Error codes by which a call of :meth:`create` says its work is already done.

        What a create, put, authorize or associate answers when botocore
        retried it after a lost response: the engine then looks the resource
        up and adopts it if it is ours (see ``Engine._create``).  By default
        the already-exists codes of :attr:`kinds`.
        """
        return frozenset().union(*(kind.already_exists for kind in self.kinds))

    def gone_codes(self) -> frozenset[str]:
        """Error codes by which a call of :meth:`delete` says its work is already done
        (the engine then checks that the resource is really gone); by default the
        not-found codes of :attr:`kinds`."""
        return frozenset().union(*(kind.not_found for kind in self.kinds))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        """Settings that drifted from the config (empty when converged)."""
        return []

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """Converge in-place changes; only called with changes that are not ``replace``."""
        raise NotImplementedError(f"{self.name} cannot update {[c.field for c in changes]}")

    def is_ready(self, resource: Resource) -> bool:
        """Whether the resource is usable without waiting."""
        return True

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        """Block until usable; returns the fresh description."""
        return resource

    @abstractmethod
    def delete(self, ctx: StepContext, resource: Resource) -> list[str] | None:
        """Delete the resource and wait until it is gone.

        Returns what was deliberately kept (a final snapshot, a secret in its
        recovery window, a key pending deletion), one line each, so destroy
        can tell the operator; None when nothing was kept.
        """

    def unapplied(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Config values that differ from AWS but that apply deliberately leaves
        alone, each with why (a count auto scaling owns), one line each.

        Not drift (apply would undo nothing), yet a changed config value that
        does nothing must not pass silently: ``plan`` lists these even when
        the step has no change.
        """
        return []

    def detach_changes(self, ctx: StepContext, resource: Resource,
                       gone: frozenset[str]) -> list[Change]:
        """What :meth:`detach` would change so ``resource`` no longer uses the steps in
        ``gone`` (being destroyed); read-only, for plan and for the approval check.

        Default: nothing, for a reference AWS lets dangle (an ARN in a policy, a
        dashboard widget) or a dependency kept only to order creation.
        """
        return []

    def detach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """Make :meth:`detach_changes`' ``changes`` before the steps they name are deleted."""
        return None  # nothing to change unless detach_changes found something

    def delete_blockers(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Why :meth:`delete` would stop with ``ctx.destroy_options`` (deletion
        protection the operator did not allow lifting), one line each.

        ``destroy`` asks every step before deleting anything, so a protected
        database refuses the whole teardown up front instead of stopping it
        halfway, after its dependents are gone.
        """
        return []

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """Ids/ARNs/endpoints dependents read (never secret values)."""
        return {"id": resource.id}

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """What the operator must know about this step after plan or apply, one line each.

        For facts that are neither a change nor an error: a value resolved
        from AWS's catalog, a secret that still needs a value (and the
        command that sets it), a log AWS cannot deliver where the spec asks.
        ``resource`` is None when plan finds nothing yet.  Never a secret.
        """
        return []


class NamedStep(Step):
    """A step whose resource is found by the name the config gives it.

    For these resources the name is the identity AWS enforces (a log group,
    a DB instance identifier, an alarm name), so the id recorded in state
    adds nothing: both ways of finding it are :meth:`lookup`, which reads
    the resource by name and refuses a same-named one without our
    ownership tags.
    """

    @abstractmethod
    def lookup(self, ctx: StepContext) -> Resource | None:
        """The live resource with this step's name (ours), or None."""

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self.lookup(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self.lookup(ctx)
