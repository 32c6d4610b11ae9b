"""Turning state files into :class:`State` and back, shared by every store.

Reading is strict and explains itself: the schema version is checked before
anything else (a newer file may legitimately hold fields this version does
not know), and every other problem names the field.  Writing is stable,
sorted JSON so the file diffs well and two saves of one state are identical.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pydantic import ValidationError

from vivr_provision.errors import StateCorruptError, StateError
from vivr_provision.state import indented_json, journal
from vivr_provision.state.model import SCHEMA_VERSION, State, utc_now

_MAX_REPORTED_ERRORS = 3


def document(state: State, exclude: Collection[str] = ()) -> dict[str, Any]:
    """``state`` as the JSON document a snapshot holds (in this version's schema),
    without the top-level keys in ``exclude``."""
    document = state.model_dump(mode="json", exclude=set(exclude) or None)
    document["schema_version"] = SCHEMA_VERSION  # an older file is written back in this format
    return document


def encode_document(document: dict[str, Any]) -> bytes:
    """Stable, diff-friendly JSON; fails before any write if a value is not plain JSON."""
    # indented_json.dumps is json.dumps(indent=2, sort_keys=True, allow_nan=False),
    # re-encoding only the records that changed since the last save (why: its docstring).
    return (indented_json.dumps(document) + "\n").encode()


def encode(state: State) -> bytes:
    """Stable, diff-friendly JSON; fails before any write if a value is not plain JSON."""
    return encode_document(document(state))


def snapshot_next(state: State, guard: AbstractContextManager[Any] | None = None
                  ) -> tuple[dict[str, Any], bytes, tuple[int, str]]:
    """Move ``state`` to its next serial and encode it, holding ``guard`` (the caller's lock
    over ``state``) for exactly that; returns the document (what the store then knows
    to be durable, for its journal), its bytes and the (serial, updated_at) to put
    back with :func:`restore` if the write then fails.  Nothing moves if the encode
    fails."""
    with guard or nullcontext():
        previous = (state.serial, state.updated_at)
        state.serial += 1
        state.updated_at = utc_now()
        try:
            snapshot = document(state)
            return snapshot, encode_document(snapshot), previous
        except BaseException:
            restore(state, previous)
            raise


def line_next(state: State, guard: AbstractContextManager[Collection[str]],
              durable: dict[str, Any]) -> tuple[bytes, tuple[int, str], dict[str, Any]]:
    """Move ``state`` to its next serial and encode the journal line of the step records
    ``guard`` yields (holding it, the caller's lock over ``state``, for exactly that),
    with the top-level values that differ from ``durable`` (the document the store
    knows to be durable).  Returns the line, the (serial, updated_at) to put back with
    :func:`restore` if the write then fails, and the entry to apply to ``durable``
    once it succeeded.  Nothing moves if the encode fails."""
    with guard as names:
        previous = (state.serial, state.updated_at)
        state.serial += 1
        state.updated_at = utc_now()
        try:
            steps = {name: (record.model_dump(mode="json")
                            if (record := state.steps.get(name)) is not None else None)
                     for name in sorted(names)}
            head = journal.head_changes(durable, document(state, exclude=journal.NOT_HEAD))
            line = journal.line(state.serial, state.updated_at, steps, head)
        except BaseException:
            restore(state, previous)
            raise
    entry = {"serial": state.serial, "updated_at": state.updated_at, "steps": steps,
             "head": head}
    return line, previous, entry


def restore(state: State, previous: tuple[int, str]) -> None:
    """Undo :func:`snapshot_next` after a failed write (only saves move the serial, and
    callers serialise saves: no lock needed)."""
    state.serial, state.updated_at = previous


def decode(raw: bytes, where: str, remedy: str) -> State:
    """Parse file bytes; problems become a one-line StateCorruptError naming ``where``."""
    return validate(parse(raw, where, remedy), where, remedy)


def corrupt(where: str, what: str, remedy: str) -> StateCorruptError:
    """The one-line error for a state (or its journal) that cannot be read."""
    return StateCorruptError(
        f"state file {where} is corrupt ({what}); it was left untouched: {remedy}")


def parse(raw: bytes, where: str, remedy: str) -> dict[str, Any]:
    """File bytes as a document in this version's shape, not yet validated (a journal
    may still be replayed onto it: :mod:`vivr_provision.state.journal`)."""
    if not raw.strip():
        raise corrupt(where, "the file is empty", remedy)
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise corrupt(where, f"invalid JSON at line {exc.lineno} column {exc.colno}",
                      remedy) from None
    except UnicodeDecodeError:
        raise corrupt(where, "not UTF-8 text", remedy) from None
    if not isinstance(document, dict):
        raise corrupt(where, f"expected a JSON object, found {_json_type(document)}", remedy)
    version = document.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool):
        if version > SCHEMA_VERSION:
            raise StateCorruptError(
                f"state file {where} was written by a newer vivr-provision "
                f"(schema {version}, this version reads up to {SCHEMA_VERSION}); "
                "upgrade vivr-provision, the file was left untouched"
            )
        if version < 1:
            raise corrupt(where, f"schema_version {version} is not a valid schema", remedy)
    from vivr_provision.state.migrate import upgrade

    return upgrade(document)


def validate(document: dict[str, Any], where: str, remedy: str) -> State:
    """A parsed document as a :class:`State`, or a one-line StateCorruptError."""
    try:
        return State.model_validate(document)
    except ValidationError as exc:
        raise corrupt(where, _summarize(exc), remedy) from None


def check_identity(state: State, where: str, project: str, environment: str) -> None:
    """Guard against applying one environment's plan to another environment's state."""
    if (state.project, state.environment) != (project, environment):
        raise StateError(
            f"state file {where} belongs to project {state.project!r} environment "
            f"{state.environment!r}, not project {project!r} environment {environment!r}; "
            "check the state file path"
        )


def _json_type(value: object) -> str:
    """JSON's name for a decoded value, for messages an operator reads next to the file."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _summarize(error: ValidationError) -> str:
    """The first few validation problems as ``field.path: reason``, on one line."""
    problems = []
    for item in error.errors(include_url=False)[:_MAX_REPORTED_ERRORS]:
        location = ".".join(str(part) for part in item["loc"]) or "top level"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{location}: {' '.join(reason.split())}")
    if (extra := error.error_count() - _MAX_REPORTED_ERRORS) > 0:
        problems.append(f"and {extra} more")
    return "; ".join(problems)
