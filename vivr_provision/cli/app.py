"""The ``vivr-provision`` command group and its console-script entry point.

Exit codes: 0 ok, 1 provisioning failed, 2 usage/config error, 3 state
locked or unreadable, 130 interrupted (143 by SIGTERM).  Each command lives
in its own module of this package and registers itself on :data:`cli`.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from vivr_provision import __version__, log
from vivr_provision.cli.options import common_options
from vivr_provision.errors import VivrError
from vivr_provision.settings import CommandOptions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vivr-provision")
@common_options
@click.pass_context
def cli(ctx: click.Context, /, **kwargs: Any) -> None:
    """Build, check and tear down the VIVR AWS platform, step by step, resumably."""
    ctx.obj = CommandOptions(**kwargs)


def main() -> None:
    """Console-script entry point: map failures to one line and an exit code."""
    try:
        code = cli.main(prog_name="vivr-provision", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(_detailed(2))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except VivrError as exc:
        click.echo(f"error: {log.redact(str(exc))}", err=True)
        sys.exit(_detailed(exc.exit_code))
    sys.exit(code if isinstance(code, int) else 0)


def _detailed(code: int) -> int:
    """Under ``--detailed-exitcode`` every error exits 1: 2 means "changes" there."""
    return 1 if code == 2 and "--detailed-exitcode" in sys.argv[1:] else code
