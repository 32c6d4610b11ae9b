"""``apply``, ``plan`` and ``destroy``: the commands that walk the step graph.

Approval, the way operators of Terraform expect it: ``apply`` and
``destroy`` first plan (reads only), show the plan and ask at a terminal;
off a terminal they go ahead only with what cannot lose anything (creates
and in-place updates), and refuse replacements and deletes unless
``--yes``.  The engine is then bound to the reviewed plan, so a change
that appears between the review and the call is refused, not made.
``destroy`` refuses to start when a protected resource would stop it
halfway.  ``apply FILE`` applies a plan saved by ``plan --out FILE`` and
refuses when the state, the config or the tool changed since.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command, parallelism_option, targets_option
from vivr_provision.errors import ConfigError
from vivr_provision.settings import CommandOptions

if TYPE_CHECKING:  # imported by each command when it runs, so that --help stays fast
    from vivr_provision.cli.run import Run
    from vivr_provision.plan import Plan
    from vivr_provision.state import State
    from vivr_provision.steps.base import DestroyOptions

F = TypeVar("F", bound=Callable[..., Any])


def yes_option(func: F) -> F:
    return click.option(
        "--yes", "--auto-approve", "yes", is_flag=True,
        help="Do not ask: approve the plan, including replacements and deletes.")(func)


def destroy_flags(func: F) -> F:
    """destroy's choices; ``plan --destroy`` takes them too, so its plan matches."""
    func = click.option(
        "--disable-deletion-protection", is_flag=True,
        help="Lift deletion protection on resources that have it (after a final "
             "snapshot); without it destroy refuses to start when one is protected.")(func)
    return click.option(
        "--skip-final-snapshot", is_flag=True,
        help="Delete databases without a final snapshot (data is lost).")(func)


show_all_option = click.option("--all", "show_all", is_flag=True,
                               help="List every step, not only those that change.")


def at_terminal(options: CommandOptions) -> bool:
    """Whether a person can be asked: text output and a terminal on stdin and stdout."""
    return options.output_format == "text" and sys.stdin.isatty() and sys.stdout.isatty()


def _keep_promotion(run: Run, state: State, targets: Iterable[str], command: str, *,
                    upward: bool) -> None:
    """Refuse (exit 2) before any AWS call when the selection would undo ``dr promote``."""
    from vivr_provision.dr_guard import refuse_undoing_promotion
    from vivr_provision.dr_status import DrSteps

    if state.dr.promotion is not None:
        if upward:
            selected = run.graph.select(targets, upward=True)
        else:
            deleted, detached = run.graph.teardown(targets)
            selected = deleted | detached
        refuse_undoing_promotion(run.config, DrSteps.of(run.config, run.graph.steps), state,
                                 selected, command)


# -- apply -------------------------------------------------------------------
@cli.command()
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]",
                type=click.Path(path_type=Path, dir_okay=False))
@targets_option
@parallelism_option
@yes_option
@show_all_option
@command
def apply(options: CommandOptions, plan_file: Path | None, targets: tuple[str, ...],
          parallelism: int, *, yes: bool, show_all: bool) -> int:
    """Create or converge every resource; resumes an interrupted run.

    Shows the plan and asks first at a terminal; off a terminal, replacements
    need --yes.  With PLAN_FILE (from `plan --out`), applies exactly that plan.
    """
    from vivr_provision.batch_reads import BatchReads
    from vivr_provision.check import preflight
    from vivr_provision.cli.backup import backup_before_apply, backup_notice
    from vivr_provision.cli.run import Run, approved, finish, title

    if plan_file is not None:
        if targets:
            raise ConfigError("a saved plan carries its own targets: drop --target")
        return _apply_saved(options, plan_file, parallelism, show_all)
    run = Run(options)
    preflight(run.config)  # flows and permissions hold, or exit 2 before any AWS call
    run.graph.select(targets, upward=True)
    with run.store.lock("apply"):
        state = run.load_state()
        _keep_promotion(run, state, targets, "apply", upward=True)
        account = run.bind_account(state)
        run.resolve_catalog(state)
        reviewed = None
        if not yes:
            reviewed = run.plan(state, account, "apply", targets)
            if run.settled is not None:  # nothing to do in AWS or in state: one walk
                return finish(run.settled, run, title(run, "apply", account),
                              show_all=show_all)
            _review(run, reviewed, backup_notice(run, reviewed, targets))
        # dr.backups.before_apply: a snapshot first when the database changes (cli/backup.py);
        # what its check reads, the walk's first lookups take (batch_reads.py).
        reads = BatchReads()
        backup_before_apply(run, state, reviewed, targets, prune=yes, reads=reads)
        selected = run.graph.select(targets, upward=True)
        with run.progress(len(selected),
                          eta=run.remaining_path(state, selected, "apply")) as view:
            engine = run.engine(state, parallelism, view, reads=reads)
            if reviewed is not None:
                engine.bind_plan(approved(reviewed))
            report = engine.apply(targets)
        run.record_catalog(state)  # what the steps resolved as they changed
    return finish(report, run, title(run, "apply", account), show_all=show_all)


def _apply_saved(options: CommandOptions, path: Path, parallelism: int, show_all: bool) -> int:
    """``apply FILE``: check the plan still holds, then do only what it shows."""
    from vivr_provision.check import preflight
    from vivr_provision.cli.backup import backup_before_apply
    from vivr_provision.cli.run import Run, approved, finish, title
    from vivr_provision.plan import Plan, PlanRefused, config_digest
    from vivr_provision.render import blocked_lines
    from vivr_provision.steps.base import DestroyOptions

    saved = Plan.load(path)
    run = Run(options)
    if saved.kind == "apply":
        preflight(run.config)
    with run.store.lock(saved.kind):
        state = run.load_state()
        _keep_promotion(run, state, saved.targets, saved.kind, upward=saved.kind == "apply")
        account = run.bind_account(state)
        saved.check_current(project=run.config.project, environment=run.config.environment,
                            digest=config_digest(run.config), serial=state.serial,
                            lineage=state.lineage, account=account)
        choices = DestroyOptions(**saved.destroy_options)
        if saved.kind == "destroy" and saved.blocked:
            raise PlanRefused(f"the saved plan cannot run: {blocked_lines(saved.blocked)[0]}")
        if saved.kind == "apply":
            run.resolve_catalog(state)
            backup_before_apply(run, state, saved, saved.targets, prune=True)  # reviewed
        selected = run.graph.select(saved.targets, upward=saved.kind == "apply")
        with run.progress(len(selected), eta=run.remaining_path(
                state, selected, "apply" if saved.kind == "apply" else "destroy")) as view:
            engine = run.engine(state, parallelism, view, choices)
            engine.bind_plan(approved(saved))
            report = (engine.apply(saved.targets) if saved.kind == "apply"
                      else engine.destroy(saved.targets))
        if saved.kind == "apply":
            run.record_catalog(state)
    return finish(report, run, title(run, f"{saved.kind} {path}", account), show_all=show_all)


def _review(run: Run, plan: Plan, notice: str = "") -> None:
    """Show the plan (and ``notice``) and ask at a terminal; refuse destructive changes
    off one."""
    from vivr_provision.plan import PlanRefused
    from vivr_provision.render import plan_prompt_counts, print_plan

    options = run.options
    if not plan.changed:
        return
    names = ", ".join(s.step for s in plan.destructive[:5]) + (
        ", ..." if len(plan.destructive) > 5 else "")
    if not at_terminal(options):
        if plan.destructive:
            print_plan(plan, options.output_format)
            raise PlanRefused(
                f"apply would replace {len(plan.destructive)} resource(s) ({names}); nothing "
                "was changed: review with `vivr-provision plan`, then rerun with --yes "
                "(or at a terminal, which asks)")
        return
    print_plan(plan, "text")  # its first line names the account and region
    if notice:
        click.echo(notice, err=True)
    if not click.confirm(f"Apply {plan_prompt_counts(plan)} to {run.config.project} "
                         f"{run.config.environment}?", default=False, err=True):
        raise ConfigError("apply not confirmed; nothing was changed")


def _where(run: Run, plan: Plan) -> str:
    return (f"{run.config.project} {run.config.environment} in account {plan.account_id} "
            f"({run.config.aws.region})")


# -- plan --------------------------------------------------------------------
@cli.command()
@targets_option
@click.option("--destroy", "for_destroy", is_flag=True, help="Plan a destroy instead.")
@destroy_flags
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Save the plan to FILE for `vivr-provision apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 with no changes, 2 with changes, 1 on any error.")
@show_all_option
@command
def plan(options: CommandOptions, targets: tuple[str, ...], *, for_destroy: bool,
         skip_final_snapshot: bool, disable_deletion_protection: bool, out: Path | None,
         detailed_exitcode: bool, show_all: bool) -> int:
    """Show what apply (or destroy) would change, from reads only."""
    from vivr_provision.check import preflight
    from vivr_provision.cli.run import Run
    from vivr_provision.render import print_plan
    from vivr_provision.steps.base import DestroyOptions

    run = Run(options)
    if not for_destroy:  # a broken config must never stand in the way of tearing down
        preflight(run.config)
    run.graph.select(targets, upward=not for_destroy)
    state = run.load_state()
    _keep_promotion(run, state, targets, "plan --destroy" if for_destroy else "plan",
                    upward=not for_destroy)
    account = run.bind_account(state)
    if not for_destroy:
        run.resolve_catalog(state, record=False)
    choices = DestroyOptions(skip_final_snapshot=skip_final_snapshot,
                             disable_deletion_protection=disable_deletion_protection)
    made = run.plan(state, account, "destroy" if for_destroy else "apply", targets, choices)
    print_plan(made, options.output_format, show_all=show_all)
    if out is not None:
        made.save(out)
        click.echo(f"Saved the plan to {out}; apply exactly it with "
                   f"`vivr-provision apply {out}`.", err=True)
    return 2 if detailed_exitcode and made.changed else 0


# -- destroy -----------------------------------------------------------------
@cli.command()
@targets_option
@parallelism_option
@yes_option
@destroy_flags
@show_all_option
@command
def destroy(options: CommandOptions, targets: tuple[str, ...], parallelism: int, *,
            yes: bool, skip_final_snapshot: bool, disable_deletion_protection: bool,
            show_all: bool) -> int:
    """Delete what this tool created, in reverse dependency order.

    Plans the whole teardown first and refuses to start when a protected
    resource would stop it halfway (see --disable-deletion-protection).
    """
    from vivr_provision.cli.run import Run, approved, finish, title
    from vivr_provision.plan import PlanRefused
    from vivr_provision.render import print_plan
    from vivr_provision.steps.base import DestroyOptions

    run = Run(options)
    selected = run.graph.select(targets, upward=False)
    choices = DestroyOptions(skip_final_snapshot=skip_final_snapshot,
                             disable_deletion_protection=disable_deletion_protection)
    with run.store.lock("destroy"):
        state = run.load_state()
        _keep_promotion(run, state, targets, "destroy", upward=False)
        account = run.bind_account(state)
        reviewed = run.plan(state, account, "destroy", targets, choices)
        if reviewed.blocked:
            print_plan(reviewed, options.output_format)
            names = ", ".join(s.step for s in reviewed.blocked)
            raise PlanRefused(
                f"destroy of {len(reviewed.changed)} resource(s) would stop halfway at "
                f"{len(reviewed.blocked)} protected one(s) ({names}); nothing was deleted: "
                "rerun with --disable-deletion-protection to lift the protection (databases "
                "still leave a final snapshot unless --skip-final-snapshot)")
        if not yes:
            _confirm_destroy(run, reviewed, choices)
        with run.progress(len(selected),
                          eta=run.remaining_path(state, selected, "destroy")) as view:
            engine = run.engine(state, parallelism, view, choices)
            engine.bind_plan(approved(reviewed))
            report = engine.destroy(targets)
    return finish(report, run, title(run, "destroy", account), show_all=show_all)


def _confirm_destroy(run: Run, plan: Plan, choices: DestroyOptions) -> None:
    from vivr_provision.render import print_plan

    if not plan.changed:
        return  # nothing to delete: the walk only settles the records
    if not at_terminal(run.options):
        raise ConfigError(
            f"destroy would delete {len(plan.changed)} resource(s) and asks for confirmation: "
            "pass --yes when not at a terminal (nothing was deleted)")
    print_plan(plan, "text")
    if choices.skip_final_snapshot:
        click.echo("--skip-final-snapshot: databases are deleted WITHOUT a final snapshot",
                   err=True)
    if choices.disable_deletion_protection:
        click.echo("--disable-deletion-protection: protected resources will be unprotected "
                   "and deleted", err=True)
    env = run.config.environment
    click.echo(f"Destroy {len(plan.changed)} resource(s) of {_where(run, plan)}?", err=True)
    answer = click.prompt("Type the environment name to confirm", default="",
                          show_default=False, err=True)
    if answer.strip() != env:
        raise ConfigError("destroy not confirmed; nothing was deleted")
