"""One ``DescribeSecret`` answer for a secret's step and its rotation step.

``secret.origin_verify`` describes its secret, and ``secret-rotation.origin_verify``
(which depends on it) reads the rotation settings of the same secret from the
same call.  The secret step's first read of a run is kept in the run's batch
reads (:mod:`vivr_provision.batch_reads`, keyed by the secret's name) and
handed once to each of the two steps: the answer each step gets is the
``DescribeSecret`` reply itself, so both keep exactly the data a direct read
gives them.

Stale-safety: only the secret step's own first read loads the answer (the
rotation step never loads it, so in a destroy, which walks the rotation step
first, each reads its own); the rotation step depends on the secret step, so
in a plan, a ``status --refresh`` and a no-op apply both read before anything
in the run writes.  In an apply that changes the secret, the secret step's
writes in between (``UpdateSecret``: description and key; replicas;
``RestoreSecret``) leave the rotation settings as they were, except that a
restore clears ``DeletedDate``: the rotation step reads again directly when
the shared answer shows a deleted secret or rotation off, and drift it shows
is confirmed by the engine with a direct read.  So a write is never decided
on the shared answer alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import StepContext

#: The one secret with a rotation step (``secrets.origin_verify.rotation``).
ROTATED_SECRET_KEY = "origin_verify"


def rotation_reads(config: PlatformConfig, key: str | None) -> bool:
    """Whether a rotation step also describes secret ``key`` in every run."""
    return key == ROTATED_SECRET_KEY and config.secrets.origin_verify.rotation is not None


def shared_description(ctx: StepContext, region: str, name: str, reader: str,
                       read: Callable[[], Mapping[str, Any] | None] | None = None
                       ) -> Mapping[str, Any] | None:
    """The ``DescribeSecret`` reply for secret ``name``, once to ``reader``, or None:
    the reader then describes it itself.

    ``read``: the secret step's own describe (None when absent), which loads the
    answer on the run's first call; without it (the rotation step) only an
    answer the secret step already loaded is handed out.  A reply under
    another name (the recorded ARN of a secret renamed in the config) is not
    shared.
    """
    def load() -> dict[str, Mapping[str, Any]]:
        reply = read() if read is not None else None
        return {name: reply} if reply and reply.get("Name") == name else {}

    return ctx.reads.take(("secretsmanager", region, "describe-secret", name), name, load,
                          reader=reader)
