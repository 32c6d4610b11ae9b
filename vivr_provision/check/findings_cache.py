"""parliament's findings, remembered per set of documents in the user's cache directory.

Why: importing parliament takes ~0.2 s (it parses its 10 MB IAM definition
and imports ``pkg_resources``), more than everything else ``check`` does, and
``plan``/``apply`` run the check first.  Its findings depend only on the
documents and on parliament's version, so they are stored under a digest of
both: a config whose policies did not change is checked without importing
parliament, and any change to a document, to parliament or to the stored
form (:data:`FORMAT`) is a different key, never a stale answer.

Where: the user's cache directory (:mod:`vivr_provision.user_cache`).  The
cache is only a shortcut: a directory that cannot be read or written, or a
damaged entry, means parliament runs.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from vivr_provision import user_cache

#: Bumped when what is stored per finding changes.
FORMAT = 1
#: Entries kept; older ones (other configs, older parliament versions) are removed.
KEEP = 32
#: Findings per document, in document order: ``[[issue, detail], ...]``.
Findings = list[list[list[str]]]
#: The entries' file names start with this.
FAMILY = "lint-"


def key(documents: list[dict[str, Any]]) -> str | None:
    """The digest of the documents and of parliament's version (None: not installed)."""
    try:
        version = metadata.version("parliament")
    except metadata.PackageNotFoundError:
        return None
    return user_cache.digest(json.dumps(
        {"format": FORMAT, "parliament": version, "documents": documents}, sort_keys=True))


def _name(digest: str) -> str:
    return f"{FAMILY}{digest}.json"


def load(digest: str, documents: int) -> Findings | None:
    """What was stored under ``digest`` for that many documents, or None."""
    stored = user_cache.read(_name(digest))
    try:
        found = json.loads(stored) if stored is not None else None
    except ValueError:
        return None
    if not isinstance(found, list) or len(found) != documents:
        return None
    return found


def save(digest: str, findings: Findings) -> None:
    """Store atomically and keep the newest :data:`KEEP` (:func:`user_cache.write`)."""
    user_cache.write(_name(digest), json.dumps(findings).encode(), family=FAMILY, keep=KEEP)
