"""Read a YAML config file into :class:`PlatformConfig`, or fail with ConfigError.

Every problem is reported with the field path and the reason, one per line
(an unknown key with the names it resembles), and nothing here touches AWS,
so a bad config exits 2 before the first API call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vivr_provision.config.base import ConfigProblems
from vivr_provision.config.fields import close_names, field_names_at
from vivr_provision.config.model import PlatformConfig
from vivr_provision.errors import ConfigError

#: An unknown key in a model with at most this many fields lists them all.
MAX_LISTED_FIELDS = 12

#: libyaml's parser where PyYAML was built with it (its wheels are).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str) -> Any:
    """The document, read by libyaml: 8 ms for production.yaml, where PyYAML's own
    parser takes 60 ms, a fifth of the 0.3 s a command that only reads the config
    may take (``bench/startup.py``).

    An invalid document is read again by PyYAML's parser, whose messages are more
    precise (``found character '\\t' that cannot start any token``, where libyaml
    leaves the character out); that parse raises the error reported.
    """
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def _format_location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    """"unknown key" with the closest field names of the model that refused it."""
    fields = field_names_at(PlatformConfig, loc[:-1])
    close = close_names(str(loc[-1]), fields) if fields else []
    if close:
        return f"unknown key (did you mean {' or '.join(close)}?)"
    if fields and len(fields) <= MAX_LISTED_FIELDS:
        return f"unknown key (valid here: {', '.join(fields)})"
    return "unknown key (check the spelling)"


def validation_problems(error: ValidationError) -> list[str]:
    """One ``path: reason`` per problem, in pydantic's order.

    A cross-field check that found several problems raises ConfigProblems;
    each of them becomes its own line (prefixed with the check's path when
    it is not the top level, whose messages carry their own paths).
    """
    lines: list[str] = []
    for item in error.errors(include_url=False):
        location = _format_location(tuple(item["loc"]))
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigProblems):
            messages = cause.problems
        elif item["type"] == "extra_forbidden":
            messages = [_unknown_key(tuple(item["loc"]))]
        elif item["type"] == "missing":
            messages = ["required key missing"]
        else:
            messages = [item["msg"].removeprefix("Value error, ")]
        lines += [f"{location}: {m}" if location else m for m in messages]
    return lines


def format_problems(source: str, problems: list[str]) -> str:
    """``source: problem`` for one; a count, then one indented line per problem, for more."""
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    return "\n".join([f"{source}: {len(problems)} errors", *(f"  {p}" for p in problems)])


def parse_config(data: Any, source: str) -> PlatformConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_problems(source, validation_problems(exc))) from None


def load_config(path: Path, environment: str | None = None) -> PlatformConfig:
    """Load and validate ``path``; if ``environment`` is given the file must declare it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (use --config PATH)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = _parse_yaml(text)
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
