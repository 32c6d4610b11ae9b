"""parliament's findings, remembered per set of documents in the user's cache directory.

Why: importing parliament takes ~0.2 s (it parses its 10 MB IAM definition
and imports ``pkg_resources``), more than everything else ``check`` does, and
``plan``/``apply`` run the check first.  Its findings depend only on the
documents and on parliament's version, so they are stored under a digest of
both: a config whose policies did not change is checked without importing
parliament, and any change to a document, to parliament or to the stored
form (:data:`FORMAT`) is a different key, never a stale answer.

Where: ``$VIVR_CACHE_DIR``, else ``$XDG_CACHE_HOME/vivr-provision``, else
``~/.cache/vivr-provision``.  The cache is only a shortcut: a directory that
cannot be read or written, or a damaged entry, means parliament runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

#: Bumped when what is stored per finding changes.
FORMAT = 1
#: Entries kept; older ones (other configs, older parliament versions) are removed.
KEEP = 32
#: Findings per document, in document order: ``[[issue, detail], ...]``.
Findings = list[list[list[str]]]


def directory() -> Path:
    if os.environ.get("VIVR_CACHE_DIR"):
        return Path(os.environ["VIVR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vivr-provision"


def key(documents: list[dict[str, Any]]) -> str | None:
    """The digest of the documents and of parliament's version (None: not installed)."""
    try:
        version = metadata.version("parliament")
    except metadata.PackageNotFoundError:
        return None
    text = json.dumps({"format": FORMAT, "parliament": version, "documents": documents},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _path(digest: str) -> Path:
    return directory() / f"lint-{digest}.json"


def load(digest: str, documents: int) -> Findings | None:
    """What was stored under ``digest`` for that many documents, or None."""
    try:
        found = json.loads(_path(digest).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, list) or len(found) != documents:
        return None
    return found


def save(digest: str, findings: Findings) -> None:
    """Store atomically (a reader never sees half an entry) and keep the newest :data:`KEEP`."""
    folder = directory()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".lint-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(findings, out)
        os.replace(temporary, _path(digest))
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return
    with contextlib.suppress(OSError):
        entries = sorted(folder.glob("lint-*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
