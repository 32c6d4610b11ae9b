"""Exception types that carry the process exit code the CLI reports.

Exit codes are part of the user contract (README): 0 success, 1 provisioning
failed (state saved, a rerun resumes), 2 usage or config error (nothing
touched), 3 state locked or unreadable, 130 interrupted (143 by SIGTERM).
"""

from __future__ import annotations


class VivrError(Exception):
    """Base class: a failure with a one-line message and an exit code."""

    exit_code = 1


class ConfigError(VivrError):
    """The config file or the command line is wrong; no AWS call was made."""

    exit_code = 2


class StateError(VivrError):
    """The state file cannot be used (locked, corrupt, newer schema, other account)."""

    exit_code = 3


class StateLockedError(StateError):
    """Another run holds the state lock."""


class StateCorruptError(StateError):
    """The state file is unreadable or from a newer schema; it is left untouched."""


class ProvisionError(VivrError):
    """One or more steps failed; state is saved and a rerun resumes."""

    exit_code = 1


class EndpointError(VivrError):
    """The AWS endpoint could not be reached or refused our credentials."""

    exit_code = 1


class Interrupted(VivrError):
    """The run was interrupted (Ctrl-C, SIGTERM); in-flight calls finished and state was saved.

    Exits ``128 + signal`` as shells report a signalled process: 130 for
    Ctrl-C, 143 for SIGTERM.
    """

    exit_code = 130

    def __init__(self, message: str, *, signal: int | None = None) -> None:
        super().__init__(message)
        if signal is not None:
            self.exit_code = 128 + signal
