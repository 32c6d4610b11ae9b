"""Resolve what a command runs against: flags > environment variables > config.

Kept apart from the CLI so the precedence rules are one small, tested
function rather than scattered ``or`` chains.  Every command imports this
module to parse its options, so the config models are imported only when a
config is loaded (``--help`` needs none of them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vivr_provision import project
from vivr_provision.aws import AwsSettings
from vivr_provision.errors import ConfigError

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig


@dataclass(frozen=True)
class CommandOptions:
    """Options shared by every command (each may be given before or after it)."""

    env: str | None = None
    config_path: Path | None = None
    state_path: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    output: str | None = None
    verbose: int = 0
    quiet: bool = False
    log_format: str | None = None

    def merged(self, override: CommandOptions) -> CommandOptions:
        """``override`` (options after the command) wins over ``self``."""
        values = {}
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(override, name)
            values[name] = theirs if theirs not in (None, 0, False) else mine
        return CommandOptions(**values)

    @property
    def environment(self) -> str:
        return self.env or os.environ.get("VIVR_ENV") or "production"

    @property
    def config_file(self) -> Path:
        """``--config``, ``$VIVR_CONFIG``, or config/<env>.yaml of the project found
        from the cwd upwards (:mod:`vivr_provision.project`)."""
        return project.config_file(self.environment, self.config_path)

    @property
    def state_file(self) -> str:
        """A local path, or ``s3://bucket/key`` for the team store; by default
        state/<env>.json beside the project's config/ directory."""
        return project.state_file(self.environment, self.state_path)

    @property
    def output_format(self) -> str:
        return self.output or "text"

    @property
    def verbosity(self) -> int:
        return -1 if self.quiet else self.verbose

    @property
    def json_logs(self) -> bool | None:
        """JSON log lines when asked, or with ``--output json``; None: decided by the terminal."""
        if self.log_format is not None:
            return self.log_format == "json"
        return True if self.output_format == "json" else None


def load_effective_config(options: CommandOptions) -> PlatformConfig:
    """The config with a region override applied and re-validated.

    Re-validation matters: availability zones in the file must belong to the
    region actually used, so ``--region eu-west-1`` on a us-east-1 config
    fails with a field path instead of a half-built VPC.
    """
    from vivr_provision.config import load_config, parse_config

    config = load_config(options.config_file, options.environment)
    region = options.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region and region != config.aws.region:
        data = config.model_dump()
        data["aws"]["region"] = region
        config = parse_config(data, f"{options.config_file} (region {region} from flag/env)")
    return config


def aws_settings(options: CommandOptions, config: PlatformConfig) -> AwsSettings:
    return AwsSettings(
        region=config.aws.region,
        profile=options.profile or os.environ.get("AWS_PROFILE") or None,
        endpoint_url=options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        retry_mode=config.aws.retry_mode,
        max_attempts=config.aws.max_attempts,
        max_calls_per_second=config.aws.max_calls_per_second,
        api_budgets=_api_budgets(config),
    )


def _api_budgets(config: PlatformConfig) -> str:
    """``VIVR_API_BUDGETS`` (to compare in a bench) or the config's ``aws.api_budgets``."""
    chosen = os.environ.get("VIVR_API_BUDGETS") or config.aws.api_budgets
    if chosen not in ("documented", "flat"):
        raise ConfigError(f"VIVR_API_BUDGETS={chosen!r}: expected documented or flat")
    return chosen
