"""Desired-versus-current comparison of nested AWS documents, for plan and drift.

Ordinary dicts in a desired document are projections (only the keys we set
count); :class:`Exact` maps are compared in both directions.  Used by the
ECS steps today; the seed of the one drift engine issue 8 asks for.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.steps.base import Change

#: Changes listed one by one in plan output; the rest are summarised.
MAX_LISTED_CHANGES = 12


class Exact(dict[str, Any]):
    """A map compared key by key in both directions (extra keys in AWS are drift).

    Ordinary dicts in a desired document are *projections*: only the keys we
    set are compared, so fields AWS adds (``cpu: 0``, ``mountPoints``) never
    count as drift.  Environment variables and secrets are different: an
    extra one in the running definition is a real difference.
    """


def differences(current: Any, desired: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``(path, current, desired)`` for every setting where AWS differs from what we set.

    Dicts are compared on the desired keys only (``Exact`` on both sides' keys),
    lists element by element (list elements that are dicts with a ``name``
    are labelled by it), scalars by equality (so 70 == 70.0).
    """
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return [(path, current, desired)]
        keys = list(desired)
        if isinstance(desired, Exact):
            keys += sorted(k for k in current if k not in desired)
        found: list[tuple[str, Any, Any]] = []
        for key in keys:
            found += differences(current.get(key), desired.get(key),
                                 f"{path}.{key}" if path else str(key))
        return found
    if isinstance(desired, list):
        if not isinstance(current, list) or len(current) != len(desired):
            return [(path, current, desired)]
        found = []
        for index, (now, wanted) in enumerate(zip(current, desired, strict=True)):
            label = wanted.get("name", index) if isinstance(wanted, dict) else index
            found += differences(now, wanted, f"{path}[{label}]")
        return found
    return [] if current == desired else [(path, current, desired)]


def changes_from(found: list[tuple[str, Any, Any]], prefix: str = "") -> list[Change]:
    """In-place changes for plan output, one per setting, summarised past a limit."""
    changes = [Change(prefix + path, current, desired)
               for path, current, desired in found[:MAX_LISTED_CHANGES]]
    if len(found) > MAX_LISTED_CHANGES:
        rest = [path for path, _, _ in found[MAX_LISTED_CHANGES:]]
        changes.append(Change(prefix + "(more settings)", f"{len(rest)} differ", rest))
    return changes
