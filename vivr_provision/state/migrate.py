"""Copy a state from one store to another (local file <-> S3) as it is; read older schemas.

A migrated state must stay the same state: same serial (a copy is not a
newer version; a saved plan made against it still matches) and same lineage
(project, environment and creation time: the identity every store checks).
So the copy is written with the stores' ``write_copy`` rather than ``save``,
both stores are locked for the duration, and the copy is read back and
compared before success is reported.  The source is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vivr_provision.errors import ConfigError, StateError

if TYPE_CHECKING:  # the state models load with the first state read, not for --help
    from vivr_provision.state import State, StateStore


def upgrade(document: dict[str, Any]) -> dict[str, Any]:
    """An older state document in the current schema's shape, before it is validated.

    Both stores read through :func:`vivr_provision.state.codec.decode`, which
    calls this, so a file and an S3 object upgrade alike; the upgraded form is
    written back by the next save (``encode`` stamps the current version).

    3 -> 4: the DR journal (``dr``) starts empty: a state from before it has
    never recorded a promotion.  (1 -> 2 and 2 -> 3 are defaults in the model:
    an empty catalog, a lineage derived from the file's identity.)
    """
    version = document.get("schema_version")
    if isinstance(version, int) and version < 4 and "dr" not in document:
        document = {**document, "dr": {"promotion": None, "failback": None, "history": []}}
    return document


def lineage(state: State) -> str:
    """The history a copy keeps (``State.lineage``), as ``migrate`` reports it."""
    return state.lineage


def migrate(source: StateStore, destination: StateStore, project: str, environment: str, *,
            force: bool, reread: Callable[[], StateStore]) -> State:
    """Copy ``source``'s state to ``destination`` under both locks; returns the state copied.

    ``reread`` opens the destination afresh, so the check reads what was
    stored, not what this process remembers writing.  Raises ConfigError
    (nothing written) when there is nothing to copy or the destination
    exists without ``force``.
    """
    from vivr_provision.state.codec import encode

    if str(source.path) == str(destination.path):
        raise ConfigError(f"--to {destination.path} is the current state; nothing to migrate")
    with source.lock("state migrate"), destination.lock("state migrate"):
        if not source.exists():
            raise ConfigError(f"no state at {source.path}: nothing to migrate")
        state = source.load(project, environment)
        if destination.exists() and not force:
            raise ConfigError(f"{destination.path} already exists; nothing was written "
                              "(--force replaces it)")
        destination.write_copy(state, overwrite=force)
        copy = reread().load(project, environment)
        if (copy.serial, lineage(copy)) != (state.serial, lineage(state)) \
                or encode(copy) != encode(state):
            raise StateError(f"the copy at {destination.path} does not read back as the state "
                             f"of {source.path}; keep using {source.path}")
    return state


__all__ = ["lineage", "migrate", "upgrade"]
