"""Find the project a command runs in, the way git finds ``.git``.

Why: the defaults ``config/<env>.yaml`` and ``state/<env>.json`` used to be
relative to the current directory, so the tool only worked from the top of
the checkout.  Now the nearest ancestor of the current directory that holds
``config/<env>.yaml`` is the project root, and both defaults live under it:
running from ``docs/`` or ``state/`` uses the same config and state as
running from the top.  Nothing heavy is imported here (``--help`` stays fast).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vivr_provision.errors import ConfigError

#: Names a config file with no --config flag (overrides the search).
CONFIG_ENV_VAR = "VIVR_CONFIG"


def config_relpath(environment: str) -> Path:
    return Path("config") / f"{environment}.yaml"


def find_root(environment: str, start: Path | None = None) -> Path | None:
    """The nearest of ``start`` (default: cwd) and its ancestors holding config/<env>.yaml."""
    here = (start or Path.cwd()).absolute()
    for directory in (here, *here.parents):
        if (directory / config_relpath(environment)).is_file():
            return directory
    return None


def _shown(path: Path) -> Path:
    """``path`` relative to the cwd when it is below it (shorter messages), else absolute."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def config_file(environment: str, explicit: Path | None,
                environ: Mapping[str, str] | None = None) -> Path:
    """``--config``, else ``$VIVR_CONFIG``, else config/<env>.yaml of the project root.

    Raises ConfigError (exit 2) in one line naming where it looked when
    there is no flag, no variable and no ancestor with that file.
    """
    if explicit is not None:
        return explicit
    from_env = (os.environ if environ is None else environ).get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    root = find_root(environment)
    if root is None:
        raise ConfigError(
            f"no {config_relpath(environment)} in {Path.cwd().absolute()} or any parent "
            f"directory; run inside the project or pass --config PATH (or set {CONFIG_ENV_VAR})")
    return _shown(root / config_relpath(environment))


def state_file(environment: str, explicit: str | None) -> str:
    """``--state``, else state/<env>.json of the project root (the cwd outside any project)."""
    if explicit:
        return explicit
    root = find_root(environment)
    relative = Path("state") / f"{environment}.json"
    return str(relative if root is None else _shown(root / relative))
