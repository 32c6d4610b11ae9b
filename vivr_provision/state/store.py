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
  kernel drops when the holder dies, so a crashed run never wedges the state;
* a step transition appends only the changed records to ``<path>.journal``
  (one fsync'd line, :mod:`vivr_provision.state.journal`) instead of
  rewriting the file; the journal is folded into the file (compaction) when
  the lock is released, and by the next locked load after a crash.  Every
  reader sees the file plus the journal.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import tempfile
import threading
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from vivr_provision.errors import StateCorruptError, StateError, StateLockedError
from vivr_provision.log import get_logger
from vivr_provision.state import journal
from vivr_provision.state.codec import (
    check_identity,
    decode,
    document,
    encode,
    encode_document,
    line_next,
    parse,
    restore,
    snapshot_next,
    validate,
)
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
        #: The durable document (the file plus this store's journal) as this store last
        #: read or wrote it: what a journal line is a change of, and what compaction writes.
        self._document: dict[str, Any] | None = None
        #: Bytes in the journal this store appends to; None: it has none.
        self._journal_size: int | None = None
        #: An append failed: the next durable point is a full save (the journal may end torn).
        self._journal_broken = False
        #: This store holds the lock: a load may compact, the release compacts.
        self._holding = False

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

    @property
    def journal_path(self) -> Path:
        """The changes made durable since the file was last written (see the module)."""
        return self.path.with_name(self.path.name + ".journal")

    def exists(self) -> bool:
        """True when a state file is present (whether or not it is readable)."""
        return self.path.exists()

    # ------------------------------------------------------------------ load

    def load(self, project: str, environment: str) -> State:
        """Read the state (the file plus its journal), or start a fresh one (not written)
        when there is no file yet.

        Raises StateCorruptError when the file or the journal is unreadable as
        a state and StateError when it belongs to another project/environment;
        nothing is modified either way.  Under the lock a journal left by a
        crashed run is then folded into the file.
        """
        # The journal first: a compaction between the two reads then leaves a newer file,
        # whose serial makes the journal's lines skipped, never a file older than the
        # journal's first line (which would read as a gap).
        journal_raw = self._read_optional(self.journal_path)
        signature = _signature(self.path)
        raw = self._read_raw()
        if raw is None:
            if journal_raw is not None:
                raise StateCorruptError(
                    f"state journal {self.journal_path} has no state file {self.path} to "
                    f"apply to; it was left untouched: {self._remedy()}, or move the "
                    "journal away")
            now = utc_now()
            return State(project=project, environment=environment, created_at=now, updated_at=now)
        snapshot = parse(raw, str(self.path), self._remedy())
        if journal_raw is not None:
            journal.replay(snapshot, journal_raw, str(self.journal_path), self._journal_remedy())
        state = validate(snapshot, str(self.path), self._remedy())
        self._check_identity(state, project, environment)
        if self._journal_size is None:  # what is durable is what was just read
            self._document = document(state)
            self._written = (signature, project, environment)
            if journal_raw is not None and self._holding:
                self._journal_size = 0  # a crashed run's journal, ours to fold in now
                self._compact_quietly()
        return state

    def _journal_remedy(self) -> str:
        return f"{self._remedy()} and move {self.journal_path.name} away"

    def _read_optional(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StateError(f"cannot read {path} ({reason})") from exc

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

        The file on disk is re-read and re-checked only when it is not the
        one this store wrote last (same inode, size and mtime), and the backup
        is a second name for the previous file's inode, not a copy.  The
        journal is removed once the new file (whose serial is above every
        line) is durable; one this store did not write must be older than
        ``state`` (StateError otherwise, nothing written).  The engine's step
        transitions use :meth:`save_records` instead.
        """
        self._check_journal_superseded(state)
        snapshot, payload, previous = snapshot_next(state, guard)
        try:
            self._write_snapshot(payload, state.project, state.environment)
        except BaseException:
            restore(state, previous)
            raise
        self._document = snapshot
        self._drop_journal()  # after the file: until then its lines are the newest record

    def save_records(self, state: State,
                     guard: contextlib.AbstractContextManager[Collection[str]]) -> None:
        """Make ``state`` durable by appending the records named by ``guard`` (which yields
        them, holding the caller's lock over ``state``) to the journal, or by a full
        :meth:`save` when this store cannot vouch for the file under the journal.

        Same contract as :meth:`save`: the serial moves by one, the encode
        happens under ``guard`` and the write (one ``write`` and ``fdatasync``
        of a line) outside it; on failure ``state.serial``/``updated_at`` are
        restored and the next call is a full save, which supersedes whatever
        the failed append left.
        """
        if not self._can_journal(state):
            self.save(state, guard)
            return
        assert self._document is not None
        line, previous, entry = line_next(state, guard, self._document)
        try:
            self._append(line)
        except BaseException:
            restore(state, previous)
            raise
        journal.apply(self._document, entry)

    def compact(self) -> None:
        """Fold this store's journal into the file (the file then reads exactly as the file
        plus the journal did, serial included) and remove the journal."""
        if self._journal_size is not None:
            self._compact()

    def _compact(self) -> None:
        assert self._document is not None
        payload = encode_document(self._document)
        self._write_snapshot(payload, str(self._document["project"]),
                             str(self._document["environment"]))
        self._drop_journal()

    def _can_journal(self, state: State) -> bool:
        """Whether a line appended now lands on the durable state this store knows: the
        file is the one it read or wrote last and no other journal is in the way."""
        if self._journal_broken or self._document is None or self._written is None \
                or self._document.get("serial") != state.serial:
            return False
        if self._written != (_signature(self.path), state.project, state.environment):
            return False
        return self._journal_size is not None or not self.journal_path.exists()

    def _append(self, line: bytes) -> None:
        """Append one line durably; the first one creates the journal atomically."""
        if self._journal_size is None:
            self._journal_size = 0  # ours from here on, even if the creation fails halfway
            try:
                _replace_atomically(self.journal_path, line)
                _fsync_directory(self.path.parent)  # the new name is durable too
            except BaseException:
                self._journal_broken = True
                raise
            self._journal_size = len(line)
            return
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        try:
            _write_all(fd, line)
            # fdatasync: the data and the size that reaches it, not the timestamps.
            getattr(os, "fdatasync", os.fsync)(fd)
        except BaseException:
            self._journal_broken = True
            with contextlib.suppress(OSError):  # best effort: a torn last line is ignored anyway
                os.ftruncate(fd, self._journal_size)
            raise
        finally:
            os.close(fd)
        self._journal_size += len(line)

    def _drop_journal(self) -> None:
        """Remove the journal once a file that holds all of it is durable.  No directory
        fsync: a removal lost to a power cut brings back lines the file's serial skips."""
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()
        self._journal_size = None
        self._journal_broken = False

    def _check_journal_superseded(self, state: State) -> None:
        """Refuse a full save that a journal this store did not write would outlive: its
        lines newer than the saved serial would be replayed over the new file."""
        if self._journal_size is not None:
            return  # ours: every line is at or below state.serial
        raw = self._read_optional(self.journal_path)
        if raw is None:
            return
        last = journal.last_serial(raw, str(self.journal_path), self._journal_remedy())
        if last is not None and last > state.serial:
            raise StateError(
                f"state journal {self.journal_path} holds changes up to serial {last}, newer "
                f"than this state (serial {state.serial}); nothing was written: load the "
                "state again")

    def _write_snapshot(self, payload: bytes, project: str, environment: str) -> None:
        """The atomic path: temp file, fsync, backup link, rename, directory fsync."""
        self.path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        current = self._current_signature(project, environment)
        temp_name = _write_temp(self.path, payload)
        try:
            if current is not None:
                self._keep_as_backup()
            os.replace(temp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        _fsync_directory(self.path.parent)
        self._written = (_signature(self.path), project, environment)

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
        if self.journal_path.exists():
            # Folded first (the replaced state, whole, becomes the backup), so no line of
            # it can ever be replayed over the copy.
            raw = self._fold_journal(raw)
        if raw is not None:
            _replace_atomically(self.backup_path, raw)
        _replace_atomically(self.path, encode(state))
        _fsync_directory(self.path.parent)
        self._written = self._document = None

    def _fold_journal(self, raw: bytes | None) -> bytes | None:
        """Write the file plus the journal as the file, remove the journal; the new bytes."""
        if raw is not None:
            snapshot = parse(raw, str(self.path), self._remedy())
            journal_raw = self._read_optional(self.journal_path) or b""
            journal.replay(snapshot, journal_raw, str(self.journal_path), self._journal_remedy())
            state = validate(snapshot, str(self.path), self._remedy())
            raw = encode(state)
            _replace_atomically(self.path, raw)
            _fsync_directory(self.path.parent)
        self._drop_journal()
        return raw

    def _current_signature(self, project: str, environment: str
                           ) -> tuple[int, int, int] | None:
        """The file now on disk (None: there is none), checked to be a readable state of ours.

        A file we cannot read may be the operator's only copy of something
        important; it is reported instead of overwritten.  The file this
        store wrote last is not read again.
        """
        current = _signature(self.path)
        if current is None or self._written == (current, project, environment):
            return current
        raw = self._read_raw()
        if raw is None:
            return None
        self._check_identity(self._parse(raw), project, environment)
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
            self._holding = True
            yield
        finally:
            self._holding = False
            try:
                self._compact_quietly()
            finally:
                self._release(file_lock)

    def _compact_quietly(self) -> None:
        """Fold the journal into the file (on release: before another run can take the
        lock).  A failure changes nothing durable (the file plus the journal still read
        as the state; the next durable point is then a full save, and the next locked
        load folds them): it is logged, not raised over what the command reports."""
        try:
            self.compact()
        except (OSError, StateError) as exc:
            self._journal_broken = True
            get_logger("vivr.state").warning(
                "state.compaction_failed", journal=str(self.journal_path),
                reason=getattr(exc, "strerror", None) or str(exc))

    def _release(self, file_lock: Any) -> None:
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


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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
