"""The state journal: one line per durable point, holding only the records that changed.

Why: the engine makes the state durable at every step transition (~230
times on a whole production apply) and a full save re-encodes, writes and
fsyncs the whole document (~150 KB at the end: ~20 MB per apply).  A
journal line holds the step records changed since the last durable point,
so a transition costs what changed, and the snapshot is rewritten once, when
the run ends (compaction).

A line is compact JSON ``{"serial", "updated_at", "steps": {name: record or
null}, "head": {key: value}}``: ``steps`` the changed records (null: the
record was removed), ``head`` any other top-level value that changed (the
account and region a run binds; the catalog), ``serial`` the state's serial
after it.  Reading is a snapshot plus the lines after its serial, in order:

* a line at or below the snapshot's serial is older than the snapshot (a
  full save wrote the snapshot and crashed before removing the journal):
  skipped;
* the next serial must be exactly one more, otherwise a line is missing:
  the journal is refused, nothing is guessed;
* the LAST line may be torn or unreadable: its append never returned, so
  nothing acted on it; it is ignored.  An unreadable line before the last is
  corruption and is refused.

This module is the format only; the stores do the files and objects.
"""

from __future__ import annotations

import json
from typing import Any

from vivr_provision.errors import StateCorruptError

#: Top-level keys a line never carries in ``head``: they are the line's own fields.
NOT_HEAD = frozenset({"steps", "serial", "updated_at"})

_compact = json.JSONEncoder(sort_keys=True, allow_nan=False, separators=(",", ":")).encode


def line(serial: int, updated_at: str, steps: dict[str, Any], head: dict[str, Any]) -> bytes:
    """One journal line, newline-terminated (the newline is what makes it complete)."""
    entry: dict[str, Any] = {"serial": serial, "updated_at": updated_at, "steps": steps}
    if head:
        entry["head"] = head
    return (_compact(entry) + "\n").encode()


def head_changes(durable: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The top-level values of ``current`` (a state's document without its steps) that
    differ from the durable document's."""
    return {key: value for key, value in current.items()
            if key not in NOT_HEAD and durable.get(key) != value}


def apply(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Replay one parsed line onto ``document`` (in place)."""
    steps = document.setdefault("steps", {})
    for name, record in entry["steps"].items():
        if record is None:
            steps.pop(name, None)
        else:
            steps[name] = record
    document.update(entry.get("head", {}))
    document["serial"] = entry["serial"]
    document["updated_at"] = entry["updated_at"]


def entries(raw: bytes, where: str, remedy: str) -> list[dict[str, Any]]:
    """The journal's complete, readable lines in order (a torn or unreadable last line
    dropped); an unreadable line before the last raises StateCorruptError."""
    chunks = raw.split(b"\n")
    if chunks and not chunks[-1]:
        chunks.pop()  # the last line was complete: nothing after its newline
    found = []
    for number, chunk in enumerate(chunks, 1):
        entry = parse_entry(chunk)
        if entry is None:
            if number == len(chunks):
                break  # torn: its append never returned, so nothing acted on it
            raise StateCorruptError(
                f"state journal {where} is corrupt (line {number} of {len(chunks)} is "
                f"unreadable); it was left untouched: {remedy}")
        found.append(entry)
    return found


def replay(document: dict[str, Any], raw: bytes, where: str, remedy: str) -> int:
    """Apply the journal's lines newer than ``document``'s serial; returns how many.

    A missing serial (a gap) or lines out of order raise StateCorruptError:
    replaying past a hole would invent a state that never was.
    """
    return replay_entries(document, entries(raw, where, remedy), where, remedy)


def replay_entries(document: dict[str, Any], found: list[dict[str, Any]], where: str,
                   remedy: str) -> int:
    """:func:`replay` of entries already parsed (the S3 store's: one object each)."""
    serial = document.get("serial")
    if not isinstance(serial, int):
        return 0  # not a state: validation reports it
    applied = 0
    for entry in found:
        if entry["serial"] <= serial and not applied:
            continue  # already in the snapshot (written before the journal was removed)
        if entry["serial"] != serial + 1:
            raise StateCorruptError(
                f"state journal {where} is corrupt (serial {entry['serial']} follows "
                f"{serial}: a line is missing); it was left untouched: {remedy}")
        apply(document, entry)
        serial = entry["serial"]
        applied += 1
    return applied


def last_serial(raw: bytes, where: str, remedy: str) -> int | None:
    """The serial of the journal's last readable line (None: no line)."""
    found = entries(raw, where, remedy)
    return found[-1]["serial"] if found else None


def parse_entry(chunk: bytes) -> dict[str, Any] | None:
    """A line as a parsed entry, or None when it is not one (torn, garbled)."""
    try:
        entry = json.loads(chunk)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return None
    if not isinstance(entry, dict):
        return None
    serial, steps = entry.get("serial"), entry.get("steps")
    if not isinstance(serial, int) or isinstance(serial, bool) or not isinstance(steps, dict) \
            or not isinstance(entry.get("updated_at"), str) \
            or not isinstance(entry.get("head", {}), dict):
        return None
    return entry
