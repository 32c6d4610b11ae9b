"""``dr ...``: the disaster-recovery commands (issue 11); ``dr status`` reads only.

The report itself is :mod:`vivr_provision.dr_status` (what is read and how
it is judged) and :mod:`vivr_provision.dr_status_text` (its text layout);
``dr promote --dry-run`` is :mod:`vivr_provision.dr_runbook` (the stages as
data), :mod:`vivr_provision.dr_promote` (resolved against this environment)
and :mod:`vivr_provision.dr_promote_text`.  This module only wires them to
the state and the clients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command, group_options
from vivr_provision.errors import ConfigError, VivrError
from vivr_provision.settings import CommandOptions

if TYPE_CHECKING:
    from vivr_provision.cli.run import Run
    from vivr_provision.config import PlatformConfig
    from vivr_provision.state import State


@cli.group()
@group_options
def dr() -> None:
    """Disaster recovery: the us-west-2 standby, replicas and failover."""


@dr.command("status")
@command
def status(options: CommandOptions) -> int:
    """Which side serves, replica state and lag, the RPO a promotion would give,
    standby capacity and health checks. Reads only: changes nothing, takes no lock."""
    from vivr_provision.cli.run import Run
    from vivr_provision.dr_status import DrSteps, applied, build_report
    from vivr_provision.dr_status_text import report_lines
    from vivr_provision.render import emit_json

    run = Run(options)
    if not run.config.dr.enabled:
        raise ConfigError(f"dr is not enabled for {run.config.environment} (dr.enabled: "
                          "false): there is no DR side to report on")
    if not run.store.exists():
        raise VivrError(f"no state at {run.store.path}: nothing applied yet "
                        "(run `vivr-provision apply`)")
    state = run.load_state()
    found = DrSteps.of(run.config, run.graph.steps)
    if not applied(state, found):
        raise VivrError(f"nothing of the DR side is applied in {run.store.path} "
                        "(apply the failover records and the DR replica first, e.g. "
                        "`vivr-provision apply --target 'dr.*' --target 'dns-failover.*'`)")
    run.bind_account(state)  # the credentials must be for the state's account
    report = build_report(run.config, state, found, run.clients)
    if options.output_format == "json":
        emit_json(report)
    else:
        click.echo("\n".join(report_lines(report)))
    return 0


@dr.command("promote")
@click.option("--dry-run", is_flag=True, default=False,
              help="Print the stages, their expected durations and the RTO/RPO budgets; "
                   "change nothing.")
@click.option("--yes", is_flag=True, default=False,
              help="Do not ask for the environment name (required off a terminal).")
@click.option("--accept-rpo-loss", is_flag=True, default=False,
              help="Promote even when the replica's lag is over dr.rpo_hours or unreadable "
                   "(writes not yet replicated are lost).")
@command
def promote(options: CommandOptions, dry_run: bool, yes: bool, accept_rpo_loss: bool) -> int:
    """Promote the DR region: the runbook's stages in order, journalled in state.

    With --dry-run: each stage with its AWS calls, expected duration (and the
    source of the figure), whether it can be undone and whether it is possible
    yet; the total against dr.rto_hours; the DR replica's lag against
    dr.rpo_hours. Reads only.

    Without it: asks for the environment name (--yes skips; off a terminal
    --yes is required), holds the state lock, and runs check-rpo, promote-db,
    point-app, scale-standby, move-traffic and record-rto, saving each stage
    before it acts. An interrupted promotion resumes at its first stage not
    done when rerun."""
    if dry_run:
        return _promote_dry_run(options)
    from vivr_provision.dr_execute import StageContext, execute, parse_iso
    from vivr_provision.dr_journal import promotion_to_run
    from vivr_provision.dr_runbook import PROMOTION
    from vivr_provision.dr_stages import ACTIONS
    from vivr_provision.dr_status import DrSteps
    from vivr_provision.render import emit_json
    from vivr_provision.state import utc_now

    with _dr_session(options, "promote", yes) as (run, state, account):
        promotion, resume = promotion_to_run(run.config, state, PROMOTION,
                                             parse_iso(utc_now()))
        if promotion.status == "done":
            click.echo(f"promotion {promotion.id} finished at {promotion.finished_at}: "
                       f"{run.config.dr.region} serves; nothing to do (`vivr-provision dr "
                       "failback` is the way back)", err=True)
            return 0
        where = (f"{run.config.project} {run.config.environment} in account {account}: "
                 f"{run.config.aws.region} -> {run.config.dr.region}")
        if resume is not None:
            click.echo(f"resuming promotion {promotion.id} at {resume}", err=True)
        if not yes:
            _confirm(run.config.environment, f"Promote {where}?")
        if resume is None:
            click.echo(f"promotion {promotion.id}: {where}", err=True)
        ctx = StageContext(run.config, state, run.clients, DrSteps.of(run.config,
                                                                      run.graph.steps),
                           promotion, lambda: run.store.save(state),
                           lambda line: click.echo(line, err=True),
                           accept_rpo_loss=accept_rpo_loss, sleep=_sleep)
        execute(ctx, PROMOTION, ACTIONS)
    if options.output_format == "json":
        emit_json(promotion.model_dump(mode="json"))
    else:
        rto = promotion.stages["record-rto"].outputs
        click.echo(f"promotion {promotion.id} done: {run.config.dr.region} serves; "
                   f"{rto.get('summary', '')}")
    return 0


@dr.command("failback")
@click.option("--dry-run", is_flag=True, default=False,
              help="Print the stages, their durations and the operator's decisions; "
                   "change nothing.")
@click.option("--switch", is_flag=True, default=False,
              help="Run the switch too: stop writes, promote the us-east-1 replica, move "
                   "traffic back (a write outage).")
@click.option("--yes", is_flag=True, default=False,
              help="Do not ask for the environment name (required off a terminal).")
@command
def failback(options: CommandOptions, dry_run: bool, switch: bool, yes: bool) -> int:
    """The way back after `dr promote`: journalled stages, like the promotion.

    Without --switch: checks the promotion, snapshots and renames the old
    primary (never deletes it), creates the new cross-region replica in the
    primary region and waits until it has caught up, then stops. With
    --switch: stops writes (the standby service to 0), promotes the new
    replica, un-inverts the health check, returns the standby to its size,
    retires the DR copy (snapshot, rename) and closes the promotion."""
    if dry_run:
        return _failback_dry_run(options)
    from vivr_provision.dr_execute import StageContext, execute, parse_iso, resume_at
    from vivr_provision.dr_failback import ACTIONS, SWITCH_AT
    from vivr_provision.dr_failback_runbook import FAILBACK
    from vivr_provision.dr_journal import new_run
    from vivr_provision.dr_runbook import PROMOTION
    from vivr_provision.dr_status import DrSteps
    from vivr_provision.render import emit_json
    from vivr_provision.state import utc_now

    with _dr_session(options, "failback", yes) as (run, state, account):
        promotion = state.dr.promotion
        if promotion is None:
            raise VivrError("no promotion is recorded: there is nothing to fail back from")
        if promotion.status != "done":
            raise VivrError(f"promotion {promotion.id} is {promotion.status} at "
                            f"{resume_at(promotion, PROMOTION)}: finish it with "
                            "`vivr-provision dr promote` first")
        back = state.dr.failback
        if back is None:
            back = state.dr.failback = new_run(run.config, "failback", FAILBACK,
                                               parse_iso(utc_now()))
        else:
            click.echo(f"resuming failback {back.id} at {resume_at(back, FAILBACK)}",
                       err=True)
        stages = FAILBACK if switch else FAILBACK[:[s.name for s in FAILBACK].index(SWITCH_AT)]
        where = (f"{run.config.project} {run.config.environment} in account {account}: "
                 f"{run.config.dr.region} -> {run.config.aws.region}")
        if not yes:
            _confirm(run.config.environment, f"Fail back {where}"
                     + (" (with the switch: writes stop)?" if switch else " (up to catch-up)?"))
        ctx = StageContext(run.config, state, run.clients,
                           DrSteps.of(run.config, run.graph.steps), back,
                           lambda: run.store.save(state), lambda line: click.echo(line, err=True),
                           sleep=_sleep)
        execute(ctx, stages, ACTIONS, last=switch)
    if options.output_format == "json":
        emit_json(back.model_dump(mode="json"))
    elif switch:
        click.echo(f"failback {back.id} done: {run.config.aws.region} serves; run "
                   "`vivr-provision apply --target 'dr.rds.*'` to re-create the replica")
    else:
        click.echo(f"failback {back.id}: the new replica has caught up; when ready for the "
                   "write outage, run `vivr-provision dr failback --switch`")
    return 0


def _failback_dry_run(options: CommandOptions) -> int:
    """Reads the state only (no AWS call): the runbook and the promotion it would undo."""
    from vivr_provision.cli.run import Run
    from vivr_provision.dr_promote import failback_dry_run
    from vivr_provision.dr_promote_text import failback_lines
    from vivr_provision.dr_status import DrSteps
    from vivr_provision.render import emit_json
    from vivr_provision.state import State, utc_now

    run = Run(options)
    _dr_enabled(run.config, "there is nothing to fail back")
    if run.store.exists():
        state = run.load_state()
    else:
        now = utc_now()
        state = State(project=run.config.project, environment=run.config.environment,
                      created_at=now, updated_at=now)
    document = failback_dry_run(run.config, state, DrSteps.of(run.config, run.graph.steps))
    if options.output_format == "json":
        emit_json(document)
    else:
        click.echo("\n".join(failback_lines(document)))
    return 0


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


@contextlib.contextmanager
def _dr_session(options: CommandOptions, verb: str, yes: bool,
                ) -> Iterator[tuple[Run, State, str]]:
    """What `dr promote` and `dr failback` share before their stages: refuse off a
    terminal without --yes (before any AWS call), the state that must exist, the
    lock held for the whole run, and the account the state belongs to."""
    from vivr_provision.cli.provision import at_terminal
    from vivr_provision.cli.run import Run

    if not yes and not at_terminal(options):
        raise VivrError(f"dr {verb} changes both regions and asks for the environment name: "
                        "pass --yes when not at a terminal (nothing was changed)")
    run = Run(options)
    nothing = "nothing to promote" if verb == "promote" else "nothing to fail back"
    _dr_enabled(run.config, f"there is {nothing}")
    if not run.store.exists():
        raise VivrError(f"no state at {run.store.path}: nothing applied yet, {nothing}")
    with run.store.lock(f"dr {verb}"):
        state = run.load_state()
        yield run, state, run.bind_account(state)


def _confirm(environment: str, question: str) -> None:
    """The environment name, typed: a promotion is not undone by pressing Enter."""
    click.echo(question, err=True)
    answer = click.prompt("Type the environment name to confirm", default="",
                          show_default=False, err=True)
    if answer.strip() != environment:
        raise ConfigError("not confirmed; nothing was changed")


def _dr_enabled(config: PlatformConfig, what: str) -> None:
    if not config.dr.enabled:
        raise ConfigError(f"dr is not enabled for {config.environment} (dr.enabled: "
                          f"false): {what}")


def _promote_dry_run(options: CommandOptions) -> int:
    from vivr_provision.cli.run import Run
    from vivr_provision.dr_promote import dry_run as build_dry_run
    from vivr_provision.dr_promote_text import dry_run_lines
    from vivr_provision.dr_status import DrSteps
    from vivr_provision.render import emit_json
    from vivr_provision.state import State, utc_now

    run = Run(options)
    _dr_enabled(run.config, "there is nothing to promote")
    found = DrSteps.of(run.config, run.graph.steps)
    clients = None
    if run.store.exists():
        state = run.load_state()
        if any(step in state.steps for step, _, cross in found.replicas if cross):
            run.bind_account(state)  # the lag is read only with the state's own credentials
            clients = run.clients
    else:  # the runbook is worth reading before anything is applied: every stage says why not
        now = utc_now()
        state = State(project=run.config.project, environment=run.config.environment,
                      created_at=now, updated_at=now)
    document = build_dry_run(run.config, state, found, clients)
    if options.output_format == "json":
        emit_json(document)
    else:
        click.echo("\n".join(dry_run_lines(document)))
    return 0


__all__ = ["dr"]
