"""State in S3, for teams: ``--state s3://bucket/path/production.json``.

The same contract as the local file (load, save, lock, exists), with S3
conditional writes doing what ``flock`` and ``rename`` do locally:

* **Saves are compare-and-swap.**  Each save is ``PutObject`` with
  ``IfMatch`` = the ETag this run last read or wrote (``IfNoneMatch: *`` for a
  new file), so a run that lost its lock, or a second writer, gets 412 and
  stops instead of overwriting newer state.  Turn on bucket versioning: S3 then
  keeps every previous version (the local store's ``.backup``).
* **The lock is a lease, not a marker.**  ``<key>.lock`` is created with
  ``IfNoneMatch: *`` and carries who holds it and until when; the holder
  renews it (``IfMatch`` its own ETag) every third of the lease.  A crashed
  holder stops renewing, and after the lease another run takes it over with
  ``IfMatch`` = the stale lock's ETag, so two contenders cannot both win and
  nobody ever needs a ``force-unlock`` (Terraform's stuck-lock complaints).
  A holder writes nothing once its lease has run out by its own clock, even
  before its renewer notices (a process stopped past its lease: its journal
  lines would land where the run that took over never reads).
* **Release only deletes our own lock** (``DeleteObject`` with ``IfMatch``),
  closing the read-then-delete race of Terraform's S3 lock file.
* **A step transition is one small object**, not the whole state (S3 has no
  append): ``<key>.journal/<ETag>/<serial>.json`` holds one journal line
  (:mod:`vivr_provision.state.journal`), created with ``IfNoneMatch: *``.
  The ETag in its name is the state object's it applies to, so a line can
  only ever be replayed onto that object: once a save or a compaction
  replaces the object, its old lines are dead by name, whether or not their
  deletion happened.  Releasing the lock compacts (PUT the object with
  ``IfMatch``, then ``DeleteObjects`` of the lines); the next locked load
  does it after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from vivr_provision import aws_errors
from vivr_provision.aws import error_code, error_text
from vivr_provision.errors import ConfigError, StateCorruptError, StateError, StateLockedError
from vivr_provision.log import get_logger
from vivr_provision.state import journal
from vivr_provision.state.codec import (
    check_identity,
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

PRECONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict")
NOT_FOUND = ("NoSuchKey", "404", "NotFound")
DEFAULT_LEASE_S = 120.0
#: A load that finds a line deleted under it (a compaction between the reads) starts over.
LOAD_ATTEMPTS = 3
#: DeleteObjects takes at most 1,000 keys a request (S3 API reference, DeleteObjects).
DELETE_BATCH = 1000
_REMEDY = "restore an earlier version of the object (bucket versioning) or move it away"


class _JournalMoved(Exception):
    """A journal line listed a moment ago is gone: the state was compacted meanwhile."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key), or a ConfigError naming what is wrong."""
    parsed = urlparse(url)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key or key.endswith("/"):
        raise ConfigError(f"--state {url}: expected s3://BUCKET/KEY (e.g. "
                          "s3://acme-vivr-state/production.json)")
    return parsed.netloc, key


class S3StateStore:
    """State object + lease lock in one S3 bucket (versioning recommended)."""

    def __init__(self, url: str, client: Callable[[], Any], *,
                 lease_s: float = DEFAULT_LEASE_S) -> None:
        self.bucket, self.key = parse_s3_url(url)
        self.path = url
        self._client = client
        self.lease_s = lease_s
        self._etag: str | None = None
        self._lock_lost = threading.Event()
        #: The durable document (the object plus its journal) as this store last read or
        #: wrote it: what a line is a change of, and what compaction writes.
        self._document: dict[str, Any] | None = None
        #: The journal lines on the current object (read or written by this store).
        self._journal_keys: list[str] = []
        #: A line's PUT failed: the next durable point is a full save.
        self._journal_broken = False
        self._holding = False
        #: The wall clock the lease is judged by (what the lock's ``expires_epoch`` is).
        self.clock: Callable[[], float] = time.time
        #: Until when our lease surely runs: the clock read just before each lock write
        #: plus the lease, never later than the ``expires_epoch`` that write carries.
        self._lease_until = 0.0

    @property
    def lock_key(self) -> str:
        return self.key + ".lock"

    @property
    def journal_prefix(self) -> str:
        return self.key + ".journal/"

    def _journal_folder(self, etag: str) -> str:
        """Where the lines applying to the object with ``etag`` live."""
        return f"{self.journal_prefix}{etag.strip(chr(34))}/"

    def _call(self, operation: str, **params: Any) -> Any:
        """One S3 call; anything but the expected conditions becomes a StateError."""
        try:
            return getattr(self._client(), operation)(Bucket=self.bucket, **params)
        except aws_errors.ClientError as exc:
            if error_code(exc) in PRECONDITION_FAILED + NOT_FOUND:
                raise
            raise StateError(f"state {self.path}: {error_text(exc)}") from None

    def exists(self) -> bool:
        try:
            self._call("head_object", Key=self.key)
        except aws_errors.ClientError:
            return False
        return True

    # ------------------------------------------------------------------ load / save

    def load(self, project: str, environment: str) -> State:
        """Read the state (the object plus its journal; remembering its ETag for the next
        save), or start a fresh one.  Under the lock, a crashed run's journal is then
        folded into the object."""
        for _ in range(LOAD_ATTEMPTS):
            try:
                return self._load(project, environment)
            except _JournalMoved:
                continue
        raise StateError(f"state {self.path} kept changing while it was read; try again")

    def _load(self, project: str, environment: str) -> State:
        try:
            reply = self._call("get_object", Key=self.key)
        except aws_errors.ClientError as exc:
            if error_code(exc) not in NOT_FOUND:
                raise
            self._etag, self._document, self._journal_keys = None, None, []
            now = utc_now()
            return State(project=project, environment=environment, created_at=now,
                         updated_at=now)
        raw = reply["Body"].read()
        etag = str(reply["ETag"])
        snapshot = parse(raw, self.path, _REMEDY)
        folder = self._journal_folder(etag)
        keys = self._list(folder)
        replayed = journal.replay_entries(snapshot, [self._line(key) for key in keys],
                                          f"s3://{self.bucket}/{folder}", _REMEDY)
        state = validate(snapshot, self.path, _REMEDY)
        check_identity(state, self.path, project, environment)
        self._etag, self._document, self._journal_keys = etag, document(state), keys
        if self._holding:
            self._fold_after_crash(replayed)
        return state

    def _line(self, key: str) -> dict[str, Any]:
        try:
            body = self._call("get_object", Key=key)["Body"].read()
        except aws_errors.ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise _JournalMoved from None
            raise
        entry = journal.parse_entry(body)
        if entry is None:  # a PUT is all or nothing: an unreadable line was damaged
            raise StateCorruptError(
                f"state journal object s3://{self.bucket}/{key} is corrupt (unreadable); it "
                f"was left untouched: {_REMEDY}")
        return entry

    def _list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, in key order (serials are zero-padded: their order)."""
        keys: list[str] = []
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            reply = self._call("list_objects_v2", **params)
            keys.extend(str(item["Key"]) for item in reply.get("Contents", []))
            if not reply.get("IsTruncated"):
                return keys
            params["ContinuationToken"] = reply["NextContinuationToken"]

    def _fold_after_crash(self, replayed: int) -> None:
        """Under the lock: fold a crashed run's lines into the object, drop dead lines."""
        stray = self._list(self.journal_prefix)
        if replayed:
            self._compact_quietly()
        live = set(self._journal_keys)  # still needed if the compaction failed
        with contextlib.suppress(aws_errors.ClientError, StateError):
            self._delete([key for key in stray if key not in live])

    def save(self, state: State,
             guard: contextlib.AbstractContextManager[Any] | None = None) -> None:
        """Compare-and-swap the object; on a conflict nothing is written and StateError says why.

        ``guard`` is held while the serial moves and the document is encoded,
        not during the PUT (a network round trip): see LocalStateStore.save.
        """
        if self._lock_is_lost():
            raise StateError(f"lost the lock on {self.path} (its lease ran out or was taken "
                             "over); this run stops without writing state")
        snapshot, body, previous = snapshot_next(state, guard)
        try:
            self._put_state(body)
        except BaseException:
            restore(state, previous)
            raise
        self._document = snapshot
        self._drop_journal()  # dead already: their folder names the replaced object

    def _put_state(self, body: bytes) -> None:
        """Compare-and-swap the state object with ``body``."""
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            reply = self._call("put_object", Key=self.key, Body=body,
                               ContentType="application/json", **condition)
        except aws_errors.ClientError as exc:
            if error_code(exc) in PRECONDITION_FAILED:
                raise StateError(
                    f"state {self.path} was changed by someone else since this run read it; "
                    "nothing was written (is another run holding the state without the lock?)"
                ) from None
            raise
        self._etag = str(reply["ETag"])

    def save_records(self, state: State,
                     guard: contextlib.AbstractContextManager[Collection[str]]) -> None:
        """Make the records ``guard`` yields durable as one journal object (see the module),
        or by a full :meth:`save` when there is no object to hang it on or the last line
        failed.  Same contract as :meth:`save`."""
        if self._journal_broken or self._lock_is_lost() or self._etag is None \
                or self._document is None or self._document.get("serial") != state.serial:
            self.save(state, guard)
            return
        document_now = self._document
        line, previous, entry = line_next(state, guard, document_now)
        key = f"{self._journal_folder(self._etag)}{state.serial:012d}.json"
        try:
            # IfNoneMatch: a second writer on the same object and serial gets 412.
            self._call("put_object", Key=key, Body=line, ContentType="application/json",
                       IfNoneMatch="*")
        except BaseException as exc:
            restore(state, previous)
            self._journal_broken = True
            if isinstance(exc, aws_errors.ClientError) and error_code(exc) in PRECONDITION_FAILED:
                raise StateError(
                    f"state {self.path} was changed by someone else since this run read it; "
                    "nothing was written (is another run holding the state without the lock?)"
                ) from None
            raise
        self._journal_keys.append(key)
        journal.apply(document_now, entry)

    def compact(self) -> None:
        """Write the object plus its journal as the object (same serial) and delete the
        lines."""
        if self._journal_keys and self._document is not None:
            self._compact()

    def _compact(self) -> None:
        assert self._document is not None
        self._put_state(encode_document(self._document))
        self._drop_journal()

    def _drop_journal(self) -> None:
        """Delete lines the object no longer needs; a failure leaves only dead lines."""
        keys, self._journal_keys, self._journal_broken = self._journal_keys, [], False
        with contextlib.suppress(aws_errors.ClientError, StateError):
            self._delete(keys)

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            self._call("delete_objects", Delete={
                "Objects": [{"Key": key} for key in keys[start:start + DELETE_BATCH]],
                "Quiet": True})

    def write_copy(self, state: State, *, overwrite: bool) -> None:
        """Write ``state`` exactly as it is, serial included (``state migrate``).

        Without ``overwrite`` the put is conditional on there being no object
        (``IfNoneMatch: *``), so a copy never lands on a state someone else
        just wrote; with it, bucket versioning keeps the replaced object.
        """
        condition = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            reply = self._call("put_object", Key=self.key, Body=encode(state),
                               ContentType="application/json", **condition)
        except aws_errors.ClientError as exc:
            if error_code(exc) in PRECONDITION_FAILED:
                raise StateError(f"{self.path} already exists; nothing was written") from None
            raise
        self._etag = str(reply["ETag"])  # any journal there named the replaced object: dead
        self._document, self._journal_keys = None, []

    # ------------------------------------------------------------------ lock

    def lock(self, operation: str) -> contextlib.AbstractContextManager[None]:
        return self._held(operation)

    def _lock_is_lost(self) -> bool:
        """Whether this run can no longer count on its lock: a renewal failed, or, while it
        holds the lock, the lease ran out before a renewal (a process stopped longer
        than the lease: a suspended laptop, a paused container).  Another run may then
        have taken the lock over and folded the journal: a line written now would
        never be read, and the step after it would act without a durable intent.  The
        renewer notices only at its next turn; this is read before every write."""
        if self._holding and self.clock() >= self._lease_until:
            self._lock_lost.set()
        return self._lock_lost.is_set()

    def _lock_body(self, operation: str, holder: str) -> bytes:
        now = time.time()
        return json.dumps({
            "id": holder, "pid": os.getpid(), "host": socket.gethostname(),
            "since": utc_now(), "operation": operation,
            "expires": datetime.fromtimestamp(now + self.lease_s, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "expires_epoch": now + self.lease_s,
        }).encode()

    def _acquire(self, operation: str, holder: str) -> str:
        """Create the lock, or take over an expired one; returns our lock's ETag."""
        body = self._lock_body(operation, holder)
        try:
            return str(self._call("put_object", Key=self.lock_key, Body=body,
                                  IfNoneMatch="*")["ETag"])
        except aws_errors.ClientError as exc:
            if error_code(exc) not in PRECONDITION_FAILED:
                raise
        try:
            current = self._call("get_object", Key=self.lock_key)
        except aws_errors.ClientError:  # released in between: try once more from the start
            return str(self._call("put_object", Key=self.lock_key, Body=body,
                                  IfNoneMatch="*")["ETag"])
        info = _lock_info(current["Body"].read())
        if info is not None and float(info.get("expires_epoch", 0)) > time.time():
            raise StateLockedError(
                f"state is locked by PID {info.get('pid')} on {info.get('host')} since "
                f"{info.get('since')} ({info.get('operation')}); its lease runs until "
                f"{info.get('expires')} and is renewed while that run lives")
        try:  # expired or unreadable: take it over, unless someone else just did
            return str(self._call("put_object", Key=self.lock_key, Body=body,
                                  IfMatch=current["ETag"])["ETag"])
        except aws_errors.ClientError as exc:
            if error_code(exc) in PRECONDITION_FAILED:
                raise StateLockedError(
                    f"state {self.path} was just locked by another run") from None
            raise

    @contextlib.contextmanager
    def _held(self, operation: str) -> Iterator[None]:
        holder = uuid.uuid4().hex
        sent = self.clock()
        etag = self._acquire(operation, holder)
        self._lease_until = sent + self.lease_s
        self._lock_lost.clear()
        stop = threading.Event()
        state = {"etag": etag}

        def renew() -> None:
            while not stop.wait(self.lease_s / 3):
                try:
                    sent = self.clock()
                    reply = self._call("put_object", Key=self.lock_key,
                                       Body=self._lock_body(operation, holder),
                                       IfMatch=state["etag"])
                    state["etag"] = str(reply["ETag"])
                    self._lease_until = sent + self.lease_s
                except (aws_errors.ClientError, StateError):
                    self._lock_lost.set()
                    return

        renewer = threading.Thread(target=renew, name="state-lock-lease", daemon=True)
        renewer.start()
        try:
            self._holding = True
            yield
        finally:
            self._holding = False
            self._compact_quietly()
            stop.set()
            renewer.join(timeout=5)
            with contextlib.suppress(aws_errors.ClientError, StateError):
                self._call("delete_object", Key=self.lock_key, IfMatch=state["etag"])

    def _compact_quietly(self) -> None:
        """Fold the journal in while the lock is ours (on release: before it is deleted); a
        failure changes nothing durable (the next locked load folds it), so it is logged,
        not raised, and the next durable point is a full compare-and-swap save."""
        if self._lock_is_lost():
            return
        try:
            self.compact()
        except (aws_errors.ClientError, StateError) as exc:
            self._journal_broken = True
            get_logger("vivr.state").warning("state.compaction_failed", state=self.path,
                                             reason=str(exc))


def _lock_info(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
