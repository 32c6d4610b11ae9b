"""One list call answers the first lookup of many steps of the same kind.

A no-op apply (and ``status --refresh``) spends most of its calls finding
resources one by one: a ``DescribeSubnets`` per subnet, a
``DescribeSecurityGroups`` per group.  Most describe APIs also take a
filter, so one call per kind and region, filtered on the ownership tags
every resource of ours carries, returns them all; each step then takes its
own item from that answer instead of asking again.

Why it is safe:

* Each item is handed to each step **once** per run: a step that reads its
  resource again (after an update, on a retry) asks AWS.  The answer is at
  most as old as the run's first lookup of that kind, and every step's
  first lookup happens before it changes anything.  Two steps may read the
  same item (the primary and DR certificates share their validation
  records): each gets it once.
* An id the batch does not hold (a resource without our tags, one deleted
  by hand, one made after the batch was read) is looked up as before, so a
  missing item is never taken for a deleted resource.
* A batch call AWS refuses (a filter the account's policy denies) leaves
  the batch empty: every step then reads its own, as before.
* Drift seen on a batch answer is confirmed before anything is written:
  the engine finds the step's resource again (now read directly, since the
  batch serves each reader once) and compares again
  (:meth:`BatchReads.served_to`).  So a batch may come from an eventually
  consistent API (the tagging API, IAM): a stale answer costs one read,
  never a write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from vivr_provision import aws_errors


class _Batch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, Mapping[str, Any]] | None = None
        #: (reader, id) pairs already handed out.
        self.served: set[tuple[str, str]] = set()


class _Shared:
    """What every view of one run's batches shares (:meth:`BatchReads.scoped`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: dict[Hashable, _Batch] = {}
        self.loads = 0
        self.served = 0
        #: Items handed out, per reader.
        self.served_to: dict[str, int] = {}


class BatchReads:
    """The batches of one run, keyed by (service, region, kind); thread-safe."""

    def __init__(self, shared: _Shared | None = None, scope: str = "") -> None:
        self._shared = shared or _Shared()
        #: Prefix of this view's reader names (:meth:`scoped`).
        self._scope = scope

    @property
    def loads(self) -> int:
        """Batches loaded so far (every view of the run counted)."""
        return self._shared.loads

    @property
    def served(self) -> int:
        """Items handed out so far (every view of the run counted)."""
        return self._shared.served

    def scoped(self, scope: str) -> BatchReads:
        """A view of the same batches whose readers are named apart (``scope:reader``).

        For a check made before the walk with the steps' own code: the
        pre-apply backup's diff of the primary database (cli/backup.py) loads
        the batch its step then takes its item from, and the step is still
        handed it once, as in any run.  The check's read and the step's are
        moments apart, and drift either sees on a batch item is confirmed by
        a direct read before anything is written.
        """
        return BatchReads(self._shared, f"{self._scope}{scope}:")

    def _batch(self, key: Hashable) -> _Batch:
        with self._shared.lock:
            return self._shared.batches.setdefault(key, _Batch())

    def once(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """``load()``'s answer, read once per run for every caller of ``key``.

        Only for what no step of the run changes once the steps that read it
        have started: a generated secret's current value, read by the steps
        that depend on the secret's (the ALB rules of both sites and the
        CloudFront origin read the same origin-verify value).  Nothing is
        kept when ``load`` fails.
        """
        batch = self._batch(("once", key))
        with batch.lock:
            if batch.items is None:
                batch.items = {"value": load()}
                with self._shared.lock:
                    self._shared.loads += 1
            return batch.items["value"]

    def served_to(self, reader: str) -> int:
        """How many items ``reader`` has been handed so far (a count the engine compares
        before and after a step's find and diff, to know whether they read a batch)."""
        with self._shared.lock:
            return self._shared.served_to.get(self._scope + reader, 0)

    def take(self, key: Hashable, ident: str,
             load: Callable[[], Mapping[str, Mapping[str, Any]]],
             reader: str = "") -> Mapping[str, Any] | None:
        """Item ``ident`` of batch ``key`` (read once with ``load``: id -> item) for
        ``reader`` (a step's name), or None when the batch does not hold it or already
        gave it to that reader: the caller then reads it itself."""
        reader = self._scope + reader
        batch = self._batch(key)
        with batch.lock:
            if batch.items is None:
                try:
                    batch.items = dict(load())
                except (aws_errors.ClientError, aws_errors.BotoCoreError):
                    batch.items = {}
                with self._shared.lock:
                    self._shared.loads += 1
            if (reader, ident) in batch.served:
                return None
            item = batch.items.get(ident)
            if item is not None:
                batch.served.add((reader, ident))
                with self._shared.lock:
                    self._shared.served += 1
                    self._shared.served_to[reader] = self._shared.served_to.get(reader, 0) + 1
            return item
