"""The ``vivr-provision`` command line.

Every global option is accepted before or after the command
(``vivr-provision --env staging plan`` == ``vivr-provision plan --env staging``).
Exit codes: 0 ok, 1 provisioning failed, 2 usage/config error, 3 state
locked or unreadable, 130 interrupted (143 by SIGTERM).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from vivr_provision import __version__, log
from vivr_provision.aws import ClientFactory
from vivr_provision.catalog import Catalog, resolve
from vivr_provision.check import preflight, print_check, run_check
from vivr_provision.config import ENVIRONMENTS, PlatformConfig
from vivr_provision.cost import cost_lines, cost_report
from vivr_provision.engine import Engine, RunReport, StepGraph
from vivr_provision.errors import (
    ConfigError,
    Interrupted,
    ProvisionError,
    StateError,
    VivrError,
)
from vivr_provision.progress import ProgressView
from vivr_provision.render import console, emit_json, print_report, rows_table
from vivr_provision.settings import CommandOptions, aws_settings, load_effective_config
from vivr_provision.state import LocalStateStore, State, StateStore
from vivr_provision.state.s3 import S3StateStore
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import DestroyOptions

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """The options every command takes, before or after its name."""
    options = [
        click.option("--env", "env", type=click.Choice(ENVIRONMENTS), default=None,
                     help="Environment to act on (default: $VIVR_ENV or production)."),
        click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                     help="Config file (default: config/<env>.yaml)."),
        click.option("--state", "state_path", default=None, metavar="PATH|s3://BUCKET/KEY",
                     help="State file (default: state/<env>.json), or an S3 object for teams."),
        click.option("--region", default=None,
                     help="AWS region (default: $AWS_REGION, then the config)."),
        click.option("--profile", default=None, help="AWS profile (default: $AWS_PROFILE)."),
        click.option("--endpoint-url", default=None,
                     help="AWS endpoint, e.g. the local sandbox (default: $AWS_ENDPOINT_URL)."),
        click.option("--output", type=click.Choice(["text", "json"]), default=None,
                     help="text for people (default), json for machines."),
        click.option("-v", "--verbose", count=True, help="More log detail (repeatable)."),
        click.option("-q", "--quiet", is_flag=True, default=False,
                     help="Only warnings and errors."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(ctx: click.Context, kwargs: dict[str, Any]) -> CommandOptions:
    names = CommandOptions.__dataclass_fields__
    mine = CommandOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
    parent: CommandOptions = ctx.find_object(CommandOptions) or CommandOptions()
    return parent.merged(mine)


def command(func: Callable[..., int]) -> Callable[..., int]:
    """Merge global options into a ``CommandOptions`` and set up logging."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> int:
        options = _options(click.get_current_context(), kwargs)
        json_logs = True if options.output_format == "json" else None
        log.configure(options.verbosity, json_logs=json_logs)
        return func(options, **kwargs)

    return common_options(wrapper)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vivr-provision")
@common_options
@click.pass_context
def cli(ctx: click.Context, /, **kwargs: Any) -> None:
    """Build, check and tear down the VIVR AWS platform, step by step, resumably."""
    ctx.obj = CommandOptions(**kwargs)


# -- shared plumbing ---------------------------------------------------------
def open_store(location: str, clients: ClientFactory) -> StateStore:
    """The local file store, or the S3 store for ``s3://bucket/key``."""
    if location.startswith("s3://"):
        return S3StateStore(location, lambda: clients.client("s3"))
    return LocalStateStore(Path(location))


class Run:
    """Everything one command needs: config, steps, state store, clients."""

    def __init__(self, options: CommandOptions) -> None:
        self.options = options
        self.config: PlatformConfig = load_effective_config(options)
        self.steps = build_steps(self.config)
        self.graph = StepGraph(self.steps)
        self.clients = ClientFactory(aws_settings(options, self.config))
        self.store: StateStore = open_store(options.state_file, self.clients)
        self.catalog = Catalog()  # resolved by plan/apply only: status calls no AWS

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

    def resolve_catalog(self, state: State | None = None) -> Catalog:
        """Check versions, classes, AMIs and TLS policies against AWS's catalogs (plan, apply).

        Raises CatalogError (exit 2) before any step runs; with ``state``
        (apply, under the lock) changed values are recorded and saved.
        """
        self.catalog = resolve(self.config, self.clients)
        if state is not None and self.catalog.merge_into(state):
            self.store.save(state)  # a re-apply with nothing to change still records them
        return self.catalog

    def engine(self, state: State, parallelism: int = 10,
               observer: Callable[[str, str, str], None] | None = None,
               destroy_options: DestroyOptions | None = None) -> Engine:
        engine = Engine(self.config, self.steps, self.clients, self.store, state,
                        parallelism=parallelism, observer=observer,
                        destroy_options=destroy_options)
        engine.ctx.catalog = self.catalog
        return engine

    @contextmanager
    def progress(self, total: int) -> Iterator[ProgressView | None]:
        if self.options.output_format == "text" and sys.stderr.isatty():
            with ProgressView(total, console()) as view:
                yield view
        else:
            with nullcontext():
                yield None


def _finish(report: RunReport, run: Run, title: str) -> int:
    print_report(report, title, run.options.output_format)
    if report.interrupted:
        raise Interrupted(f"interrupted; state saved to {run.store.path}; rerun to resume",
                          signal=report.stopped_by)
    if report.failed:
        first = report.failed[0]
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise ProvisionError(
            f"step {first.step} failed: {first.error}{more}; state saved to {run.store.path}, "
            "rerun to resume"
        )
    return 0


def _title(run: Run, verb: str, account: str | None = None) -> str:
    where = f" in account {account}" if account else ""
    return (f"{verb} {run.config.project} {run.config.environment} "
            f"({run.config.aws.region}{where})")


targets_option = click.option(
    "--target", "targets", multiple=True, metavar="STEP",
    help="Limit to STEP (repeatable): apply/plan add its dependencies, destroy its dependents.")
parallelism_option = click.option(
    "--parallelism", type=click.IntRange(1, 64), default=10, show_default=True,
    help="Steps calling AWS at once (waiting steps do not count).")


# -- commands ----------------------------------------------------------------
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
    return _finish(report, run, _title(run, "apply", account))


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
    return _finish(report, run, _title(run, "plan", account))


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
    return _finish(report, run, _title(run, "destroy", account))


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


@cli.command()
@click.option("--refresh", is_flag=True,
              help="Read AWS and report drift (missing resources, changed settings).")
@command
def status(options: CommandOptions, refresh: bool) -> int:
    """Show recorded state (no AWS call unless --refresh)."""
    run = Run(options)
    state = run.load_state()
    if refresh:
        account = run.bind_account(state)
        report = run.engine(state).refresh()
        print_report(report, _title(run, "status --refresh", account), options.output_format)
        return 1 if report.failed or report.interrupted else 0
    rows: list[dict[str, Any]] = []
    for name in run.graph.order:
        record = state.steps.get(name)
        rows.append({
            "step": name,
            "status": record.status if record else "pending",
            "resource_id": record.resource_id if record else None,
            "updated_at": record.updated_at if record else None,
            "error": record.error if record else None,
            "retained": list(record.retained) if record else [],
        })
    if options.output_format == "json":
        emit_json({"environment": state.environment, "account_id": state.account_id,
                   "region": state.region, "state_file": str(run.store.path),
                   "exists": run.store.exists(), "serial": state.serial, "steps": rows})
        return 0
    out = console()
    if not run.store.exists():
        out.print(f"no state at {run.store.path}: nothing applied yet", highlight=False)
    out.print(rows_table(
        f"status {state.project} {state.environment} ({run.store.path}, serial {state.serial})",
        ["step", "status", "resource", "updated", "error"],
        [[str(r["step"]), str(r["status"]), r["resource_id"] or "-", r["updated_at"] or "-",
          r["error"] or "; ".join(f"kept: {k}" for k in r["retained"])] for r in rows]))
    return 0


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "json"]), default="text",
              show_default=True)
@command
def graph(options: CommandOptions, fmt: str) -> int:
    """Print the step graph (steps in apply order with their dependencies)."""
    run = Run(options)
    order = run.graph.order
    if fmt == "json" or options.output_format == "json":
        emit_json({"steps": [{"step": n, "depends_on": sorted(run.graph.deps[n]),
                              "service": run.graph.steps[n].service} for n in order]})
    elif fmt == "dot":
        lines = ["digraph vivr {", "  rankdir=LR;"]
        lines += [f'  "{d}" -> "{n}";' for n in order for d in sorted(run.graph.deps[n])]
        lines += [f'  "{n}";' for n in order if not run.graph.deps[n]]
        click.echo("\n".join([*lines, "}"]))
    else:
        for name in order:
            deps = sorted(run.graph.deps[name])
            click.echo(f"{name}" + (f"  <- {', '.join(deps)}" if deps else ""))
    return 0


@cli.command()
@command
def cost(options: CommandOptions) -> int:
    """Print the monthly cost estimate of the environment (no AWS call)."""
    config = load_effective_config(options)
    report = cost_report(config)
    if options.output_format == "json":
        emit_json(report)
        return 0
    currency = report["currency"]
    rows = []
    for line in cost_lines(config):
        note = ""
        if line.recomputed is not None and abs(line.recomputed - line.monthly) >= 0.01:
            note = f"{line.recomputed:.2f} at {report['hours_per_month']} h"
        rows.append([line.category, line.service, line.size, f"{line.quantity:g}",
                     f"{line.unit_cost:g}/{line.unit}", f"{line.monthly:.2f}", note])
    out = console()
    out.print(rows_table(
        f"monthly cost estimate, {config.project} {config.environment} ({currency})",
        ["category", "service", "size", "qty", "unit cost", "monthly", "note"], rows))
    for category, total in report["by_category"].items():
        out.print(f"  {category:<18} {total:>9.2f}", highlight=False)
    out.print(f"total per month: {report['total_monthly']:.2f} {currency}", highlight=False)
    return 0


@cli.command()
@command
def check(options: CommandOptions) -> int:
    """Prove the traffic flows and permissions from the config alone (no AWS call).

    Exit 0 when every flow, permission and lint finding holds, 1 naming each
    that does not.  plan and apply run the same check first.
    """
    report = run_check(load_effective_config(options))
    print_check(report, options.output_format)
    return 0 if report.ok else 1


@cli.command(add_help_option=False, context_settings={
    "ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def sandbox(ctx: click.Context) -> Any:
    """Local AWS emulator (moto) for first runs and demos; no AWS account needed.

    A stand-in: the sandbox is its own package (``vivr_sandbox``, the
    ``sandbox`` extra), imported only here, when this command runs, so the
    product's commands never load it or moto.  Everything after ``sandbox``
    (``start``, ``--help`` ...) goes to the real command group.
    """
    try:
        from vivr_sandbox.cli import sandbox as group
    except ImportError as exc:
        raise ConfigError("the sandbox is not installed: pip install "
                          f"'vivr-provision[sandbox]' ({exc})") from None
    return group.main(args=ctx.args, prog_name=ctx.command_path, standalone_mode=False)


def main() -> None:
    """Console-script entry point: map failures to one line and an exit code."""
    try:
        code = cli.main(prog_name="vivr-provision", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except VivrError as exc:
        structlog.get_logger("vivr").debug("exit", exit_code=exc.exit_code)
        click.echo(f"error: {log.redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
