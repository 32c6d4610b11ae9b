"""Files kept between runs in the user's cache directory: shortcuts, never the truth.

Where: ``$VIVR_CACHE_DIR``, else ``$XDG_CACHE_HOME/vivr-provision``, else
``~/.cache/vivr-provision``.  Each entry is named by a digest of everything
its content depends on (:func:`digest`), so a changed input is another name,
never a stale answer.  A directory that cannot be read or written, or a
damaged entry, only means the work is done again: :func:`read` answers None
and :func:`write` gives up quietly.  Users: parliament's findings
(:mod:`vivr_provision.check.findings_cache`) and botocore's decoded data
files (:mod:`vivr_provision.aws_models`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def directory() -> Path:
    if os.environ.get("VIVR_CACHE_DIR"):
        return Path(os.environ["VIVR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vivr-provision"


def digest(*parts: object) -> str:
    """SHA-256 of the parts' text, joined: the name of what depends on exactly them."""
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def read(name: str) -> bytes | None:
    """The entry ``name``, or None when there is none or it cannot be read."""
    try:
        return (directory() / name).read_bytes()
    except OSError:
        return None


def write(name: str, data: bytes, *, family: str, keep: int) -> None:
    """Store ``data`` as ``name`` atomically (a reader never sees half an entry), then
    keep only the newest ``keep`` entries whose names start with ``family``."""
    folder = directory()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{family}", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, folder / name)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return
    with contextlib.suppress(OSError):
        entries = list(folder.glob(f"{family}*"))
        if len(entries) <= keep:  # the usual case: no file's age is needed
            return
        for old in sorted(entries, key=lambda p: p.stat().st_mtime)[:-keep]:
            old.unlink(missing_ok=True)
