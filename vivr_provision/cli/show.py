"""``show FILE``: print a saved plan, from the file alone (no AWS call, no state)."""

from __future__ import annotations

from pathlib import Path

import click

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command
from vivr_provision.settings import CommandOptions


@cli.command()
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--all", "show_all", is_flag=True, help="List every step, not only changes.")
@command
def show(options: CommandOptions, plan_file: Path, *, show_all: bool) -> int:
    """Print a plan saved by `plan --out FILE` (what `apply FILE` would do)."""
    from vivr_provision.plan import Plan  # here, not above: --help stays fast
    from vivr_provision.render import print_plan

    saved = Plan.load(plan_file)
    print_plan(saved, options.output_format, show_all=show_all)
    if options.output_format == "text":
        click.echo(f"made {saved.created_at} from state serial {saved.state_serial} "
                   f"by vivr-provision {saved.tool_version}", err=True)
    return 0
