"""Provisioning state: the data model and the stores that persist it (local file, S3)."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

from vivr_provision.state.model import (
    SCHEMA_VERSION,
    CatalogRecord,
    DrJournal,
    DrRun,
    DrStageRecord,
    Observation,
    State,
    StepRecord,
    StepStatus,
    utc_now,
)
from vivr_provision.state.store import LocalStateStore


class StateStore(Protocol):
    """What the engine and the CLI need of a store; local and S3 stores both provide it."""

    @property
    def path(self) -> Path | str:
        """Where the state lives, for messages."""

    def exists(self) -> bool: ...

    def load(self, project: str, environment: str) -> State: ...

    def save(self, state: State,
             guard: contextlib.AbstractContextManager[Any] | None = None) -> None:
        """Bump the serial and encode under ``guard`` (the caller's lock over ``state``),
        then write outside it."""

    def save_records(self, state: State,
                     guard: contextlib.AbstractContextManager[Collection[str]]) -> None:
        """Make durable the step records ``guard`` yields (names, under the caller's lock
        over ``state``): a journal line where the store keeps one, else a full save."""

    def lock(self, operation: str) -> contextlib.AbstractContextManager[None]: ...

    def write_copy(self, state: State, *, overwrite: bool) -> None:
        """Write ``state`` as it is, serial untouched (``state migrate``)."""


__all__ = [
    "SCHEMA_VERSION",
    "CatalogRecord",
    "DrJournal",
    "DrRun",
    "DrStageRecord",
    "LocalStateStore",
    "Observation",
    "State",
    "StateStore",
    "StepRecord",
    "StepStatus",
    "utc_now",
]
