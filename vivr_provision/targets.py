"""Turn ``--target`` values (step names or shell-style globs) into step names.

Kept apart from the engine because it is pure string work: which steps a
pattern names, and, when it names none, which names the operator probably
meant.  ``sg-rules.*`` selects every rule step the way a shell would, so an
operator never has to paste seven names; a typo gets a "did you mean"
instead of a bare "unknown".
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Sequence

from vivr_provision.errors import ConfigError

GLOB_CHARS = frozenset("*?[")


def is_glob(target: str) -> bool:
    return any(char in GLOB_CHARS for char in target)


def family_globs(names: Iterable[str]) -> list[str]:
    """``sg-rules.*``, ``dr.*``, ``dr.subnet.*`` ...: every dotted prefix as a glob.

    These are what a mistyped glob is compared with, since a pattern
    resembles another pattern far more than any one step name.
    """
    globs: set[str] = set()
    for name in names:
        parts = name.split(".")
        globs.update(".".join(parts[:i]) + ".*" for i in range(1, len(parts)))
    return sorted(globs)


def suggestions(target: str, names: Sequence[str], limit: int = 3) -> list[str]:
    """Close names for ``target`` (difflib); globs are compared with family globs first."""
    pool = [*family_globs(names), *names] if is_glob(target) else list(names)
    return difflib.get_close_matches(target, pool, n=limit, cutoff=0.6)


def expand_targets(targets: Iterable[str], names: Sequence[str]) -> list[str]:
    """The step names ``targets`` select, in first-mention order, without repeats.

    A target is a step name or an :mod:`fnmatch` pattern over step names
    (case-sensitive, as step names are).  Raises ConfigError (exit 2) naming
    every target that selects nothing, each with close names when there are.
    """
    known = set(names)
    selected: dict[str, None] = {}
    problems: list[str] = []
    for target in targets:
        if target in known:
            matches = [target]
        elif is_glob(target):
            matches = [n for n in names if fnmatch.fnmatchcase(n, target)]
        else:
            matches = []
        if not matches:
            close = suggestions(target, names)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"{target}{hint}")
        selected.update(dict.fromkeys(matches))
    if problems:
        raise ConfigError(f"unknown --target {'; '.join(problems)}; see `vivr-provision graph` "
                          "for step names (globs like 'sg-rules.*' work too)")
    return list(selected)
