"""Local JSON state file: atomic, private, locked, and never overwritten when unreadable.

The state file is the only record of which AWS resources exist and which
idempotency tokens were used, so losing or mangling it means orphaned (and
billed) resources. Hence:

* writes go to a temp file in the same directory and are renamed into place,
  so a crash leaves either the old or the new file, never half of one;
* every file is created 0600 (it holds account ids and ARNs);
* the previous version is kept at ``<path>.backup`` for an operator to restore
  (a hard link to the replaced file, so keeping it costs no copy);
* a file that cannot be read is reported and left exactly as it is, for both
  ``load`` and ``save``;
* one run at a time holds an exclusive ``flock`` on ``<path>.lock``, which the
  kernel drops when the holder dies, so a crashed run never wedges the state.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vivr_provision.errors import StateError, StateLockedError
from vivr_provision.state.codec import check_identity, decode, encode, encode_next, restore
from vivr_provision.state.model import State, utc_now

_FILE_MODE = 0o600
_DIR_MODE = 0o700
# Filesystems that cannot fsync a directory say so with one of these; the rename itself succeeded.
_DIR_FSYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF})


class LocalStateStore:
    """JSON file store: atomic writes, 0600, exclusive lock, never overwrites what it cannot read.

    ``path`` is the state file; ``.lock``, ``.lock.info`` and ``.backup`` siblings sit beside it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        #: The file this store wrote last, as (inode, size, mtime) and the (project,
        #: environment) it holds: a save of the same state does not read it again.
        self._written: tuple[tuple[int, int, int] | None, str, str] | None = None

    @property
    def lock_path(self) -> Path:
        """The file ``flock`` is taken on; its contents are filelock's business, not ours."""
        return self.path.with_name(self.path.name + ".lock")

    @property
    def lock_info_path(self) -> Path:
        """Who holds the lock, as JSON, so a blocked run can say whom it is waiting for."""
        return self.path.with_name(self.path.name + ".lock.info")

    @property
    def backup_path(self) -> Path:
        """The version before the last save, for recovering from a bad save by hand."""
        return self.path.with_name(self.path.name + ".backup")

    def exists(self) -> bool:
        """True when a state file is present (whether or not it is readable)."""
        return self.path.exists()

    # ------------------------------------------------------------------ load

    def load(self, project: str, environment: str) -> State:
        """Read the state, or start a fresh one (not written) when there is no file yet.

        Raises StateCorruptError when the file is unreadable as a state and
        StateError when it belongs to another project/environment; the file is
        never modified either way.
        """
        raw = self._read_raw()
        if raw is None:
            now = utc_now()
            return State(project=project, environment=environment, created_at=now, updated_at=now)
        state = self._parse(raw)
        self._check_identity(state, project, environment)
        return state

    def _read_raw(self) -> bytes | None:
        """File contents, or None when there is no file; other OS errors become StateError."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StateError(f"cannot read state file {self.path} ({reason})") from exc

    def _parse(self, raw: bytes) -> State:
        return decode(raw, str(self.path), self._remedy())

    def _remedy(self) -> str:
        if self.backup_path.exists():
            return f"restore it from {self.backup_path} or move it away"
        return "restore it from a backup or move it away"

    def _check_identity(self, state: State, project: str, environment: str) -> None:
        check_identity(state, str(self.path), project, environment)

    # ------------------------------------------------------------------ save

    def save(self, state: State,
             guard: contextlib.AbstractContextManager[Any] | None = None) -> None:
        """Write ``state`` atomically, bumping its serial and keeping the previous file as backup.

        On failure the state file is unchanged, no temp file is left behind and
        ``state.serial``/``updated_at`` are restored, so a retry writes the same
        serial it would have written the first time.

        ``guard`` (the engine's lock over ``state``) is held only while the
        serial moves and the document is encoded, not during the write and
        fsyncs: other threads go on reading and changing the state while the
        snapshot reaches the disk.  Callers serialise saves themselves (the
        engine's save lock), so files still land in serial order.

        Why it is cheap enough to call on every step transition (a whole
        apply saves ~300 times): the file on disk is re-read and re-checked
        only when it is not the one this store wrote last (same inode, size
        and mtime), and the backup is a second name for the previous file's
        inode, not a copy, so a save is one encode, one write and two fsyncs.
        """
        payload, previous = encode_next(state, guard)
        try:
            self.path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            current = self._current_signature(state)
            temp_name = _write_temp(self.path, payload)
            try:
                if current is not None:
                    self._keep_as_backup()
                os.replace(temp_name, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
                raise
        except BaseException:
            restore(state, previous)
            raise
        _fsync_directory(self.path.parent)
        self._written = (_signature(self.path), state.project, state.environment)

    def write_copy(self, state: State, *, overwrite: bool) -> None:
        """Write ``state`` exactly as it is, serial included: ``state migrate`` copies a state
        here without making it look like a newer version of itself.

        Refuses (StateError) to replace an existing file unless ``overwrite``; a replaced
        file, readable or not, is kept at ``.backup``, since the operator forced it.
        """
        raw = self._read_raw()
        if raw is not None and not overwrite:
            raise StateError(f"{self.path} already exists; nothing was written")
        self.path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        if raw is not None:
            _replace_atomically(self.backup_path, raw)
        _replace_atomically(self.path, encode(state))
        _fsync_directory(self.path.parent)

    def _current_signature(self, state: State) -> tuple[int, int, int] | None:
        """The file now on disk (None: there is none), checked to be a readable state of ours.

        A file we cannot read may be the operator's only copy of something
        important; it is reported instead of overwritten.  The file this
        store wrote last is not read again.
        """
        current = _signature(self.path)
        if current is None or self._written == (current, state.project, state.environment):
            return current
        raw = self._read_raw()
        if raw is None:
            return None
        self._check_identity(self._parse(raw), state.project, state.environment)
        return current

    def _keep_as_backup(self) -> None:
        """Make ``.backup`` the current file: a hard link to its inode (already durable), or a
        copy where the filesystem has no hard links."""
        link_name = f"{self.backup_path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            os.link(self.path, link_name)
        except OSError:
            raw = self._read_raw()
            if raw is not None:
                _replace_atomically(self.backup_path, raw)
            return
        try:
            os.replace(link_name, self.backup_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link_name)
            raise

    # ------------------------------------------------------------------ lock

    def lock(self, operation: str) -> contextlib.AbstractContextManager[None]:
        """Hold the exclusive state lock for the ``with`` block, or raise StateLockedError at once.

        Each call takes a fresh ``flock`` on its own descriptor, so a second
        holder conflicts even inside the same process (filelock instances are
        reentrant, which would otherwise let two runs in one process share the
        state). The state file itself is never touched.
        """
        return self._held(operation)

    @contextlib.contextmanager
    def _held(self, operation: str) -> Iterator[None]:
        from filelock import FileLock, Timeout  # here: `status` reads state without a lock

        self.path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        # No soft fallback: a marker file survives a SIGKILL, a kernel flock does not.
        file_lock = FileLock(
            self.lock_path, timeout=0, mode=_FILE_MODE, blocking=False, fallback_to_soft=False
        )
        try:
            file_lock.acquire()
        except Timeout:
            raise StateLockedError(self._conflict_message()) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StateError(f"cannot lock state file {self.lock_path} ({reason})") from exc
        try:
            self._write_lock_info(operation)
            yield
        finally:
            try:
                # Before releasing: afterwards the file may already be the next holder's.
                with contextlib.suppress(FileNotFoundError):
                    self.lock_info_path.unlink()
            finally:
                file_lock.release()

    def _write_lock_info(self, operation: str) -> None:
        """Record who holds the lock in a sidecar file (filelock may truncate the lock file)."""
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": utc_now(),
            "operation": operation,
        }
        _replace_atomically(self.lock_info_path, (json.dumps(info, sort_keys=True) + "\n").encode())

    def _conflict_message(self) -> str:
        """Name the holder if its sidecar file says who it is.

        Deleting the lock file is never suggested: the kernel already releases
        a dead holder's lock, and unlinking a live holder's lock file would let
        a second run lock a new inode while the first is still writing.
        """
        hint = (
            "wait for it to finish or stop it (the lock is released automatically when "
            f"that process exits; do not delete {self.lock_path})"
        )
        info = self._read_lock_info()
        if info is None:
            return f"state is locked by another process; {hint}"
        return (
            f"state is locked by PID {info['pid']} on {info['host']} since {info['since']} "
            f"({info['operation']}); {hint}"
        )

    def _read_lock_info(self) -> dict[str, str] | None:
        """The holder's sidecar fields as text, or None when missing or unreadable."""
        try:
            document: Any = json.loads(self.lock_info_path.read_bytes())
        except (OSError, ValueError):
            return None
        keys = ("pid", "host", "since", "operation")
        if not isinstance(document, dict) or not all(key in document for key in keys):
            return None
        return {key: str(document[key]) for key in keys}


# ---------------------------------------------------------------------- helpers


def _replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a 0600 temp file beside ``path``, fsync it and rename it over ``path``.

    The temp file is removed if anything fails, so a failed write leaves the
    directory as it was. The caller fsyncs the directory once afterwards.
    """
    temp_name = _write_temp(path, data)
    try:
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def _write_temp(path: Path, data: bytes) -> str:
    """A durable 0600 temp file beside ``path`` holding ``data`` (removed again on failure)."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)  # mkstemp's 0600 is still subject to umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return temp_name


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from another without reading it, or None if absent."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable: without it a power cut can bring back the old directory entry."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)
