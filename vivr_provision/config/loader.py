"""Read a YAML config file into :class:`PlatformConfig`, or fail with ConfigError.

Every problem is reported with the field path and the reason, and nothing
here touches AWS, so a bad config exits 2 before the first API call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vivr_provision.config.model import PlatformConfig
from vivr_provision.errors import ConfigError


def _format_location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: ``path: reason`` (root-level checks carry their own path)."""
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        location = _format_location(tuple(item["loc"]))
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        if location:
            lines.append(f"{location}: {message}")
        else:
            lines.extend(message.split("; "))
    return "; ".join(lines)


def parse_config(data: Any, source: str) -> PlatformConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}") from None


def load_config(path: Path, environment: str | None = None) -> PlatformConfig:
    """Load and validate ``path``; if ``environment`` is given the file must declare it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (use --config PATH)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    config = parse_config(data, str(path))
    if environment is not None and config.environment != environment:
        raise ConfigError(
            f"{path}: environment: the file declares {config.environment!r} "
            f"but --env is {environment!r}"
        )
    return config
