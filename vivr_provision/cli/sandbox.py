"""``sandbox``: hands over to the local emulator's own command group."""

from __future__ import annotations

from typing import Any

import click

from vivr_provision.cli.app import cli
from vivr_provision.errors import ConfigError


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
