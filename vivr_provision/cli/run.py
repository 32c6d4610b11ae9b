"""What a command that touches AWS or state needs: config, steps, store, clients."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING, Literal

import click

from vivr_provision import gc_policy
from vivr_provision.aws import ClientFactory
from vivr_provision.catalog import Catalog
from vivr_provision.catalog_requests import lazy
from vivr_provision.cli.state_access import store_at
from vivr_provision.config import PlatformConfig
from vivr_provision.engine import Approved, Engine, RunReport, StepGraph, StepResult
from vivr_provision.errors import Interrupted, ProvisionError, StateError
from vivr_provision.log import redact
from vivr_provision.settings import CommandOptions, aws_settings, load_effective_config
from vivr_provision.state import State, StateStore, StepRecord, utc_now
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import DestroyOptions

if TYPE_CHECKING:  # plan models and rich load where they are used (`graph` needs neither)
    from vivr_provision.batch_reads import BatchReads
    from vivr_provision.eta import RemainingPath
    from vivr_provision.plan import Kind, Plan
    from vivr_provision.progress import ProgressView


class Run:
    """Everything one command needs: config, steps, state store, clients."""

    def __init__(self, options: CommandOptions) -> None:
        self.options = options
        self.config: PlatformConfig = load_effective_config(options)
        self.steps = build_steps(self.config)
        self.graph = StepGraph(self.steps)
        self.clients = ClientFactory(aws_settings(options, self.config))
        self.store: StateStore = store_at(options.state_file, options, self.config,
                                            self.clients)
        self.catalog = Catalog()  # resolved by plan/apply only: status calls no AWS
        #: The last apply plan's report as an apply's, when apply has nothing to do.
        self.settled: RunReport | None = None
        gc_policy.keep_long_lived_out_of_gc()  # imports, config, steps: see the module

    def load_state(self) -> State:
        return self.store.load(self.config.project, self.config.environment)

    def bind_account(self, state: State) -> str:
        """Refuse to use a state file with another account or region."""
        account = self.clients.whoami()
        region = self.config.aws.region
        if state.account_id and state.account_id != account:
            raise StateError(
                f"{self.store.path} belongs to account {state.account_id}, but the credentials "
                f"are for account {account}; use the right profile or another --state"
            )
        if state.region and state.region != region:
            raise StateError(
                f"{self.store.path} was applied in {state.region}, not {region}; "
                "use --region or another --state"
            )
        state.account_id, state.region = account, region
        return account

    def resolve_catalog(self, state: State, *, record: bool = True) -> Catalog:
        """Check versions, classes, AMIs and TLS policies against AWS's catalogs (plan, apply)
        for every step state does not record as built, and every value the config
        changed since state recorded it validated: a value the catalog refuses fails
        here, before any step runs (CatalogError, exit 2).

        What the built steps send is asked only if one of them is about to change
        (after plan's walk, :meth:`plan`; or by the step itself, ``Catalog.demand``),
        so a no-op asks nothing.  With ``record`` (apply, under the lock) changed values
        are recorded in state and saved.
        """
        self.catalog = lazy(self.config, self.clients, state.catalog)
        self.catalog.demand(name for name in self.graph.steps
                            if not _built(state.steps.get(name)))
        for name in self.catalog.changed():
            self.catalog.ask(name)
        if record:
            self.record_catalog(state)
        return self.catalog

    def record_catalog(self, state: State) -> None:
        """Save what the catalog resolved so far, when it differs from state's record."""
        if self.catalog.merge_into(state):
            self.store.save(state)  # a re-apply with nothing to change still records them

    def engine(self, state: State, parallelism: int = 10,
               observer: Callable[[str, str, str], None] | None = None,
               destroy_options: DestroyOptions | None = None,
               reads: BatchReads | None = None) -> Engine:
        from vivr_provision.malloc_arenas import limit_malloc_arenas

        limit_malloc_arenas()  # before the engine's workers exist: see the module
        gc_policy.long_lived_made()  # the state, steps and catalog the run keeps
        engine = Engine(self.config, self.steps, self.clients, self.store, state,
                        parallelism=parallelism, observer=observer,
                        destroy_options=destroy_options)
        engine.ctx.catalog = self.catalog
        if reads is not None:  # the batches a check before the walk loaded (cli/backup.py)
            engine.ctx.reads = reads
        return engine

    def remaining_path(self, state: State, selected: set[str],
                       direction: Literal["apply", "destroy"]) -> RemainingPath:
        """What the live view estimates the time left from (:mod:`vivr_provision.eta`)."""
        from vivr_provision.eta import RemainingPath
        from vivr_provision.wait_schedule import scale_from_environment

        graph = self.graph
        made = {name for name, record in state.steps.items()
                if record.status == "ready" and record.resource_id}
        return RemainingPath.of({n: graph.steps[n] for n in selected},
                                graph.deps if direction == "apply" else graph.dependents,
                                graph.order, direction, made=made,
                                scale=scale_from_environment())

    @contextmanager
    def progress(self, total: int, command: str = "",
                 eta: RemainingPath | None = None) -> Iterator[ProgressView | None]:
        """The live view of ``total`` selected steps, on a terminal; None elsewhere.

        ``total`` is what the run selected (``len(run.graph.select(targets, ...))``),
        ``command`` heads the view (default: the click command's name).  Not
        drawn with ``-q`` (only warnings and errors) or when log lines are JSON
        (they are for machines).
        """
        from rich.console import Console

        from vivr_provision.progress import ProgressView

        if (sys.stderr.isatty() and not self.options.quiet
                and self.options.json_logs is not True):
            context = click.get_current_context(silent=True)
            title = command or (context.info_name if context else None) or ""
            with ProgressView(total, Console(stderr=True, emoji=False), title,
                              eta=eta) as view:
                yield view
        else:
            with nullcontext():
                yield None


    def _notes(self, result: StepResult) -> list[str]:
        """A plan result's notes, with the catalog values resolved after its walk."""
        late = [redact(n) for n in self.catalog.notes_for(result.step)]
        return [n for n in late if n not in result.notes] + list(result.notes)

    def plan(self, state: State, account: str, kind: Kind, targets: Iterable[str],
             destroy_options: DestroyOptions | None = None) -> Plan:
        """The reviewed form of what apply or destroy would do (reads only, no save).

        A step whose reads failed makes the plan fail (ProvisionError): a
        plan with a hole in it must not be approved.
        """
        from vivr_provision.plan import Plan, PlannedChange, PlannedStep, config_digest

        choices = destroy_options or DestroyOptions()
        selected = self.graph.select(targets, upward=kind == "apply")
        with self.progress(len(selected), "plan") as view:
            engine = self.engine(state, observer=view, destroy_options=choices)
            report = engine.plan(targets, destroy=kind == "destroy")
        if report.interrupted or report.failed:
            finish(report, self, title(self, "plan", account))
        if kind == "apply":
            # What the steps about to change send is validated now (exit 2 if refused).
            self.catalog.demand(r.step for r in report.results if r.action in _CHANGING)
        self.settled = None
        if kind == "apply" and engine.settled(report):
            self.settled = RunReport("apply", [
                StepResult(r.step, "unchanged", r.resource_id, notes=r.notes)
                for r in report.results], report.duration_s, retries=report.retries)
        steps = [PlannedStep(
            step=r.step, action=_PLAN_ACTIONS[r.action], resource_id=r.resource_id,
            settings=[PlannedChange(**c) for c in r.settings],
            changes=[redact(c) for c in r.changes if r.settings], notes=self._notes(r),
            blockers=list(r.blockers), unapplied=list(r.unapplied),
            after_dependencies=r.action == "create" and "after its dependencies" in r.changes,
        ) for r in report.results]
        return Plan(kind=kind, project=self.config.project,
                    environment=self.config.environment, region=self.config.aws.region,
                    account_id=account, created_at=utc_now(), state_serial=state.serial,
                    state_lineage=state.lineage, config_digest=config_digest(self.config),
                    targets=list(targets), destroy_options=asdict(choices), steps=steps)


#: Plan actions that create or change a resource: what they send is validated first.
_CHANGING = frozenset({"create", "update", "replace"})


def _built(record: StepRecord | None) -> bool:
    """Whether state records the step's resource as built (its catalog values were
    validated when it was made)."""
    return record is not None and record.status == "ready" and bool(record.resource_id)


#: Engine plan results as plan actions.
_PLAN_ACTIONS: dict[str, Literal["create", "update", "replace", "delete", "no-op"]] = {
    "create": "create", "update": "update", "replace": "replace", "delete": "delete",
    "no-op": "no-op"}


def approved(plan: Plan) -> dict[str, Approved]:
    """What the engine may do per step once ``plan`` was reviewed (``Engine.bind_plan``)."""
    return {s.step: Approved(s.action, frozenset(c.field for c in s.settings))
            for s in plan.steps}


def finish(report: RunReport, run: Run, title: str, *, show_all: bool = False) -> int:
    from vivr_provision.render import print_report

    print_report(report, title, run.options.output_format, show_all=show_all)
    if report.interrupted:
        raise Interrupted(f"interrupted; state saved to {run.store.path}; rerun to resume",
                          signal=report.stopped_by)
    if report.failed:
        first = report.failed[0]
        if len(report.failed) == 1:
            what = f"step {first.step} {first.action}: {first.error}"
        else:
            names = ", ".join(r.step for r in report.failed)
            what = f"{len(report.failed)} steps did not finish ({names}); " \
                   f"first, {first.step}: {first.error}"
        raise ProvisionError(f"{what}; state saved to {run.store.path}, rerun to resume")
    return 0


def title(run: Run, verb: str, account: str | None = None) -> str:
    where = f" in account {account}" if account else ""
    return (f"{verb} {run.config.project} {run.config.environment} "
            f"({run.config.aws.region}{where})")
