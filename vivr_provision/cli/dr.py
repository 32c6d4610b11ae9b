"""``dr ...``: the disaster-recovery commands (issue 11); ``dr status`` reads only.

The report itself is :mod:`vivr_provision.dr_status` (what is read and how
it is judged) and :mod:`vivr_provision.dr_status_text` (its text layout);
this module only wires them to the state and the clients.
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


__all__ = ["dr"]
