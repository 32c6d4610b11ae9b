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
* **Release only deletes our own lock** (``DeleteObject`` with ``IfMatch``),
  closing the read-then-delete race of Terraform's S3 lock file.
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
from vivr_provision.errors import ConfigError, StateError, StateLockedError
from vivr_provision.state.codec import check_identity, decode, encode, encode_next, restore
from vivr_provision.state.model import State, utc_now

PRECONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict")
NOT_FOUND = ("NoSuchKey", "404", "NotFound")
DEFAULT_LEASE_S = 120.0


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

    @property
    def lock_key(self) -> str:
        return self.key + ".lock"

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
        """Read the state (remembering its ETag for the next save), or start a fresh one."""
        try:
            reply = self._call("get_object", Key=self.key)
        except aws_errors.ClientError as exc:
            if error_code(exc) not in NOT_FOUND:
                raise
            self._etag = None
            now = utc_now()
            return State(project=project, environment=environment, created_at=now,
                         updated_at=now)
        raw = reply["Body"].read()
        state = decode(raw, self.path, "restore an earlier version of the object "
                                       "(bucket versioning) or move it away")
        check_identity(state, self.path, project, environment)
        self._etag = str(reply["ETag"])
        return state

    def save(self, state: State,
             guard: contextlib.AbstractContextManager[Any] | None = None) -> None:
        """Compare-and-swap the object; on a conflict nothing is written and StateError says why.

        ``guard`` is held while the serial moves and the document is encoded,
        not during the PUT (a network round trip): see LocalStateStore.save.
        """
        if self._lock_lost.is_set():
            raise StateError(f"lost the lock on {self.path} (its lease was taken over); "
                             "this run stops without writing state")
        body, previous = encode_next(state, guard)
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            reply = self._call("put_object", Key=self.key, Body=body,
                               ContentType="application/json", **condition)
        except BaseException as exc:
            restore(state, previous)
            if isinstance(exc, aws_errors.ClientError) and error_code(exc) in PRECONDITION_FAILED:
                raise StateError(
                    f"state {self.path} was changed by someone else since this run read it; "
                    "nothing was written (is another run holding the state without the lock?)"
                ) from None
            raise
        self._etag = str(reply["ETag"])

    def save_records(self, state: State,
                     guard: contextlib.AbstractContextManager[Collection[str]]) -> None:
        """A full compare-and-swap save for now (S3 has no append; a journal of one small
        object per durable point is the README's open item)."""
        self.save(state, guard)

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
        self._etag = str(reply["ETag"])

    # ------------------------------------------------------------------ lock

    def lock(self, operation: str) -> contextlib.AbstractContextManager[None]:
        return self._held(operation)

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
        etag = self._acquire(operation, holder)
        self._lock_lost.clear()
        stop = threading.Event()
        state = {"etag": etag}

        def renew() -> None:
            while not stop.wait(self.lease_s / 3):
                try:
                    reply = self._call("put_object", Key=self.lock_key,
                                       Body=self._lock_body(operation, holder),
                                       IfMatch=state["etag"])
                    state["etag"] = str(reply["ETag"])
                except (aws_errors.ClientError, StateError):
                    self._lock_lost.set()
                    return

        renewer = threading.Thread(target=renew, name="state-lock-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join(timeout=5)
            with contextlib.suppress(aws_errors.ClientError, StateError):
                self._call("delete_object", Key=self.lock_key, IfMatch=state["etag"])


def _lock_info(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
