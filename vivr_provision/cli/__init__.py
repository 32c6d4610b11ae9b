"""The ``vivr-provision`` command line: one module per command (group in :mod:`.app`).

Importing this package registers every command on :data:`cli`.
"""

from vivr_provision.cli import (  # noqa: F401  (each registers its commands)
    backup,
    dr,
    outputs,
    provision,
    reports,
    sandbox,
    show,
    state_cmd,
    status,
)
from vivr_provision.cli.app import cli, main

__all__ = ["cli", "main"]
