"""Shell completion of step names for ``--target`` (click 8's completion protocol).

Commands and options complete through click itself; step names exist only
once the config is loaded, so this callback builds the step list lazily,
only when the shell asks, with the ``--env``/``--config`` typed so far.
Any failure (no config here, a broken one) gives no completions rather than
a traceback in the middle of the operator's command line.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from vivr_provision.settings import CommandOptions


def _typed_options(ctx: click.Context) -> CommandOptions:
    """The global options given so far, before and after the command name."""
    names = CommandOptions.__dataclass_fields__
    merged = CommandOptions()
    for level in reversed(_chain(ctx)):  # the group first: what follows the command wins
        merged = merged.merged(CommandOptions(
            **{k: v for k, v in level.params.items() if k in names and v is not None}))
    return merged


def _chain(ctx: click.Context) -> list[click.Context]:
    chain: list[click.Context] = []
    current: click.Context | None = ctx
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


def step_names(options: CommandOptions) -> list[str]:
    """Every step name of the environment's config, in apply order."""
    from vivr_provision.engine import StepGraph
    from vivr_provision.settings import load_effective_config
    from vivr_provision.steps import build_steps

    return StepGraph(build_steps(load_effective_config(options))).order


def complete_steps(ctx: click.Context, param: click.Parameter,
                   incomplete: str) -> list[CompletionItem]:
    """Step names starting with what is typed; none when the config cannot be read."""
    try:
        names = step_names(_typed_options(ctx))
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def _recorded(ctx: click.Context) -> list[str]:
    """Step names recorded in the state the typed options point at (state only, no AWS)."""
    from vivr_provision.cli.state_access import StateAccess

    return sorted(StateAccess(_typed_options(ctx)).load().steps)


def complete_recorded_steps(ctx: click.Context, param: click.Parameter,
                            incomplete: str) -> list[CompletionItem]:
    """Steps of the state (``state show``/``rm``); none when the state cannot be read."""
    try:
        names = _recorded(ctx)
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def complete_outputs(ctx: click.Context, param: click.Parameter,
                     incomplete: str) -> list[CompletionItem]:
    """Output names with a value in the state (``output NAME``)."""
    try:
        from vivr_provision.cli.state_access import StateAccess
        from vivr_provision.output_values import resolve

        names = [value.name for value in resolve(StateAccess(_typed_options(ctx)).load())]
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]
