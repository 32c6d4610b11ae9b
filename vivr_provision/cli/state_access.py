"""The state store of a command that reads or edits state only (``output``, ``state ...``).

Unlike :class:`vivr_provision.cli.run.Run` this builds no steps, engine or
AWS clients: a local state needs none, and boto3 is imported (lazily) only
for an ``s3://`` location.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vivr_provision.settings import CommandOptions, aws_settings, load_effective_config

if TYPE_CHECKING:  # the config and state models load when a command runs, not for --help
    from vivr_provision.aws import ClientFactory
    from vivr_provision.config import PlatformConfig
    from vivr_provision.state import State, StateStore


def store_at(location: str, options: CommandOptions, config: PlatformConfig,
             clients: ClientFactory | None = None) -> StateStore:
    """The local file store, or the S3 store for ``s3://bucket/key``.

    The S3 store uses ``clients`` when the command has them (``Run``), else a
    factory made here: boto3 is imported only for an ``s3://`` location.
    """
    if not location.startswith("s3://"):
        from vivr_provision.state import LocalStateStore

        return LocalStateStore(Path(location))
    from vivr_provision.aws import ClientFactory  # boto3: only for S3
    from vivr_provision.state.s3 import S3StateStore

    factory = clients or ClientFactory(aws_settings(options, config))
    return S3StateStore(location, lambda: factory.client("s3"))


class StateAccess:
    """The config (for the project and environment the state must belong to) and the store."""

    def __init__(self, options: CommandOptions) -> None:
        self.options = options
        self.config = load_effective_config(options)
        self.store = store_at(options.state_file, options, self.config)

    def load(self) -> State:
        return self.store.load(self.config.project, self.config.environment)


__all__ = ["StateAccess", "store_at"]
