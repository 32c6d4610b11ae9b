"""``apply``, ``plan`` and ``destroy``: the commands that walk the step graph."""

from __future__ import annotations

import sys

import click

from vivr_provision.check import preflight
from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command, parallelism_option, targets_option
from vivr_provision.cli.run import Run, finish, title
from vivr_provision.errors import ConfigError
from vivr_provision.settings import CommandOptions
from vivr_provision.steps.base import DestroyOptions


@cli.command()
@targets_option
@parallelism_option
@command
def apply(options: CommandOptions, targets: tuple[str, ...], parallelism: int) -> int:
    """Create or converge every resource; resumes an interrupted run."""
    run = Run(options)
    preflight(run.config)  # flows and permissions hold, or exit 2 before any AWS call
    run.graph.select(targets, upward=True)
    with run.store.lock("apply"):
        state = run.load_state()
        account = run.bind_account(state)
        run.resolve_catalog(state)
        with run.progress(len(run.steps)) as view:
            report = run.engine(state, parallelism, view).apply(targets)
    return finish(report, run, title(run, "apply", account))


@cli.command()
@targets_option
@click.option("--destroy", "for_destroy", is_flag=True, help="Plan a destroy instead.")
@command
def plan(options: CommandOptions, targets: tuple[str, ...], for_destroy: bool) -> int:
    """Show what apply (or destroy) would change, from reads only."""
    run = Run(options)
    if not for_destroy:  # a broken config must never stand in the way of tearing down
        preflight(run.config)
    run.graph.select(targets, upward=not for_destroy)
    state = run.load_state()
    account = run.bind_account(state)
    if not for_destroy:
        run.resolve_catalog()
    report = run.engine(state).plan(targets, destroy=for_destroy)
    return finish(report, run, title(run, "plan", account))


@cli.command()
@targets_option
@parallelism_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--skip-final-snapshot", is_flag=True,
              help="Delete databases without a final snapshot (data is lost).")
@click.option("--disable-deletion-protection", is_flag=True,
              help="Lift deletion protection on resources that have it (after a final "
                   "snapshot); without it a protected database stops the destroy.")
@command
def destroy(options: CommandOptions, targets: tuple[str, ...], parallelism: int, *,
            yes: bool, skip_final_snapshot: bool, disable_deletion_protection: bool) -> int:
    """Delete what this tool created, in reverse dependency order."""
    run = Run(options)
    run.graph.select(targets, upward=False)
    choices = DestroyOptions(skip_final_snapshot=skip_final_snapshot,
                             disable_deletion_protection=disable_deletion_protection)
    with run.store.lock("destroy"):
        state = run.load_state()
        account = run.bind_account(state)
        if not yes:
            _confirm_destroy(run, account, choices)
        with run.progress(len(run.steps)) as view:
            report = run.engine(state, parallelism, view, choices).destroy(targets)
    return finish(report, run, title(run, "destroy", account))


def _confirm_destroy(run: Run, account: str, choices: DestroyOptions) -> None:
    if not sys.stdin.isatty():
        raise ConfigError("destroy asks for confirmation: pass --yes when not at a terminal")
    env = run.config.environment
    if choices.skip_final_snapshot:
        click.echo("--skip-final-snapshot: databases are deleted WITHOUT a final snapshot",
                   err=True)
    if choices.disable_deletion_protection:
        click.echo("--disable-deletion-protection: protected resources will be unprotected "
                   "and deleted", err=True)
    answer = click.prompt(
        f"Destroy {run.config.project} {env} in account {account} ({run.config.aws.region})? "
        f"Type the environment name to confirm", default="", show_default=False)
    if answer.strip() != env:
        raise ConfigError("destroy not confirmed; nothing was deleted")
