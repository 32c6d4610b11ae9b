"""``output [NAME]``: the endpoints, names and ARNs of what was applied, like ``terraform output``.

Read from the state file alone (each step's recorded ``outputs``) through the
table in :mod:`vivr_provision.outputs`: no AWS call, no step classes, and no
secret value (the table names secrets' ARNs only).
"""

from __future__ import annotations

import json

import click

from vivr_provision import log
from vivr_provision.cli.app import cli
from vivr_provision.cli.complete import complete_outputs
from vivr_provision.cli.options import command
from vivr_provision.cli.state_access import StateAccess
from vivr_provision.errors import ConfigError, VivrError
from vivr_provision.output_values import (
    OutputValue,
    known_names,
    resolve,
    suggestions,
    text_value,
    unresolved,
)
from vivr_provision.settings import CommandOptions


@cli.command()
@click.argument("name", required=False, shell_complete=complete_outputs)
@command
def output(options: CommandOptions, name: str | None) -> int:
    """Show the endpoints, names and ARNs recorded by apply (no AWS call).

    With NAME, print only that value, raw (for scripts: lists one item a line).
    """
    access = StateAccess(options)
    state = access.load()
    values = resolve(state)
    if name is not None:
        value = _one(values, name, str(access.store.path))
        click.echo(log.redact(json.dumps(value.as_json(), indent=2)
                              if options.output_format == "json"
                              else text_value(value.value, separator="\n")))
        return 0
    if options.output_format == "json":
        document = {value.name: value.as_json() for value in values}
        click.echo(log.redact(json.dumps(document, indent=2)))
        return 0
    if not values:
        click.echo(f"no outputs: nothing applied yet in {access.store.path} "
                   "(run `vivr-provision apply`)", err=True)
        return 0
    click.echo(_aligned(values))
    return 0


def _one(values: list[OutputValue], name: str, where: str) -> OutputValue:
    """The output ``name``, or a one-line error: unknown (exit 2) or not applied yet (1)."""
    for value in values:
        if value.name == name:
            return value
    spec = unresolved(name)
    if spec is not None:
        raise VivrError(f"output {name} has no value yet: step {spec.step} is not applied "
                        f"in {where} (run `vivr-provision apply`)")
    close = suggestions(name, known_names(values))
    hint = f"; did you mean {close[0]}?" if close else \
        "; `vivr-provision output` lists them"
    raise ConfigError(f"no output named {name!r}{hint}")


def _aligned(values: list[OutputValue]) -> str:
    """``name = value`` lines with the ``=`` signs in one column."""
    width = max(len(value.name) for value in values)
    return "\n".join(f"{value.name:<{width}} = {log.redact(text_value(value.value))}"
                     for value in values)


__all__ = ["output"]
