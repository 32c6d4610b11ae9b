"""``dr ...``: the disaster-recovery commands (issue 11); ``dr status`` reads only.

The report itself is :mod:`vivr_provision.dr_status` (what is read and how
it is judged) and :mod:`vivr_provision.dr_status_text` (its text layout);
``dr promote --dry-run`` is :mod:`vivr_provision.dr_runbook` (the stages as
data), :mod:`vivr_provision.dr_promote` (resolved against this environment)
and :mod:`vivr_provision.dr_promote_text`.  This module only wires them to
the state and the clients.
"""

from __future__ import annotations

import click

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command, group_options
from vivr_provision.errors import ConfigError, VivrError
from vivr_provision.settings import CommandOptions


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


PROMOTE_REFUSED = ("dr promote runs only with --dry-run in this version: the standby tier is "
                   "not built yet; see `dr promote --dry-run`")


@dr.command("promote")
@click.option("--dry-run", is_flag=True, default=False,
              help="Print the stages, their expected durations and the RTO/RPO budgets; "
                   "change nothing.")
@command
def promote(options: CommandOptions, dry_run: bool) -> int:
    """Promote the DR region: the runbook's stages in order (only --dry-run for now).

    With --dry-run: each stage with its AWS calls, expected duration (and the
    source of the figure), whether it can be undone and whether it is possible
    yet; the total against dr.rto_hours; the DR replica's lag against
    dr.rpo_hours. Reads only."""
    if not dry_run:
        raise ConfigError(PROMOTE_REFUSED)
    from vivr_provision.cli.run import Run
    from vivr_provision.dr_promote import dry_run as build_dry_run
    from vivr_provision.dr_promote_text import dry_run_lines
    from vivr_provision.dr_status import DrSteps
    from vivr_provision.render import emit_json
    from vivr_provision.state import State, utc_now

    run = Run(options)
    if not run.config.dr.enabled:
        raise ConfigError(f"dr is not enabled for {run.config.environment} (dr.enabled: "
                          "false): there is nothing to promote")
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
