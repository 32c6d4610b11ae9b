"""The state file's indented JSON, re-encoding only the entries that changed since the last save.

Why: the engine saves the whole state on every step transition (~250 times
on a whole-platform apply, under its lock), and ``json.dumps`` with
``indent`` runs in pure Python (CPython's C encoder is used only without
``indent``): 2-4 ms a save, a sixth of the apply's client CPU, for a
document of which one step record changed.

How: :func:`dumps` returns exactly ``json.dumps(document, indent=2,
sort_keys=True, allow_nan=False)`` (a unit test compares them byte for
byte).  Each entry of a top-level mapping (a step record, a catalog entry)
is keyed by its compact encoding, which the C encoder makes in a tenth of
the time; when that is the text the entry had last time, its indented text
is reused.  Indenting a fragment deeper is adding spaces after each newline,
since a JSON string never holds a raw newline.  A value that is not plain
JSON fails in the compact encoding, before anything is written, as before.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_INDENT = "  "

#: (top-level key, entry key) -> (compact text, indented text) of the entry last encoded.
_fragments: dict[tuple[str, str], tuple[str, str]] = {}
_lock = threading.Lock()
#: The compact form that keys the cache (one encoder: ``json.dumps`` builds one per call).
_compact = json.JSONEncoder(sort_keys=True, allow_nan=False, separators=(",", ":")).encode


def dumps(document: dict[str, Any]) -> str:
    """``json.dumps(document, indent=2, sort_keys=True, allow_nan=False)``, faster on a
    document that mostly repeats the last one encoded."""
    if not document or not _str_keys(document):
        return _indented(document)
    lines = []
    for key in sorted(document):
        value = document[key]
        if isinstance(value, dict) and value and _str_keys(value):
            text = _mapping(key, value)
        else:
            text = _deeper(_indented(value), 1)
        lines.append(f"{_INDENT}{json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _mapping(name: str, mapping: dict[str, Any]) -> str:
    """A top-level mapping's text, two levels deep, each entry's from the cache when unchanged."""
    lines = []
    for key in sorted(mapping):
        value = mapping[key]
        compact = _compact(value)
        with _lock:
            cached = _fragments.get((name, key))
        if cached is not None and cached[0] == compact:
            text = cached[1]
        else:
            text = _deeper(_indented(value), 2)
            with _lock:
                _fragments[(name, key)] = (compact, text)
        lines.append(f"{_INDENT * 2}{json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + f"\n{_INDENT}}}"


def _indented(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False)


def _deeper(text: str, levels: int) -> str:
    """``text`` as it reads ``levels`` levels further in (its first line stays where it is)."""
    return text.replace("\n", "\n" + _INDENT * levels)


def _str_keys(mapping: dict[Any, Any]) -> bool:
    """Only string keys: ``sort_keys`` orders them the way ``sorted`` does."""
    return all(isinstance(key, str) for key in mapping)
