"""Options every command takes, and the decorator that merges them.

Every global option is accepted before or after the command
(``vivr-provision --env staging plan`` == ``vivr-provision plan --env staging``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vivr_provision import log
from vivr_provision.cli.complete import complete_steps
from vivr_provision.environments import ENVIRONMENTS
from vivr_provision.settings import CommandOptions

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """The options every command takes, before or after its name."""
    options = [
        click.option("--env", "env", type=click.Choice(ENVIRONMENTS), default=None,
                     help="Environment to act on (default: $VIVR_ENV or production)."),
        click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                     help="Config file (default: $VIVR_CONFIG, else config/<env>.yaml in the "
                          "nearest of the current directory and its parents that has it: "
                          "the project root)."),
        click.option("--state", "state_path", default=None, metavar="PATH|s3://BUCKET/KEY",
                     help="State file (default: state/<env>.json under the project root), "
                          "or an S3 object for teams."),
        click.option("--region", default=None,
                     help="AWS region (default: $AWS_REGION, then the config)."),
        click.option("--profile", default=None, help="AWS profile (default: $AWS_PROFILE)."),
        click.option("--endpoint-url", default=None,
                     help="AWS endpoint, e.g. the local sandbox (default: $AWS_ENDPOINT_URL)."),
        click.option("--output", type=click.Choice(["text", "json"]), default=None,
                     help="text for people (default), json for machines."),
        click.option("-v", "--verbose", count=True,
                     help="-v: a log line per step; -vv: also every AWS call, retry and poll."),
        click.option("-q", "--quiet", is_flag=True, default=False,
                     help="Only warnings and errors (no live view)."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
                     help="Log lines as text or JSON (default: text on a terminal, "
                          "JSON lines otherwise)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(ctx: click.Context, kwargs: dict[str, Any]) -> CommandOptions:
    names = CommandOptions.__dataclass_fields__
    mine = CommandOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
    parent: CommandOptions = ctx.find_object(CommandOptions) or CommandOptions()
    return parent.merged(mine)


def group_options(func: Callable[..., None]) -> Callable[..., None]:
    """For a command group (``state``): its global options reach its subcommands."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> None:
        context = click.get_current_context()
        context.obj = _options(context, kwargs)
        func(**kwargs)

    return common_options(wrapper)


def command(func: Callable[..., int]) -> Callable[..., int]:
    """Merge global options into a ``CommandOptions`` and set up logging.

    Logging is set up for the first event: a command that logs nothing never
    imports structlog (see :mod:`vivr_provision.log`).
    """

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> int:
        options = _options(click.get_current_context(), kwargs)
        log.configure_on_first_use(options.verbosity, json_logs=options.json_logs)
        return func(options, **kwargs)

    return common_options(wrapper)


targets_option = click.option(
    "--target", "targets", multiple=True, metavar="STEP", shell_complete=complete_steps,
    help="Limit to STEP (repeatable; a glob such as 'sg-rules.*' names several): "
         "apply/plan add its dependencies, destroy its dependents.")
parallelism_option = click.option(
    "--parallelism", type=click.IntRange(1, 64), default=10, show_default=True,
    help="Steps calling AWS at once (waiting steps do not count).")
