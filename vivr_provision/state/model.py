"""The state file's data model: what was provisioned, with which ids and tokens.

The state is the only memory a rerun has of earlier runs, so the model is
strict: unknown keys are rejected (a typo or a file from another tool must not
be silently dropped on the next save) and assignments are validated (an engine
bug must fail where it happens, not produce a file the next run cannot read).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 4
"""Bumped on any incompatible change; a reader refuses files newer than it knows.

2: ``catalog`` (values resolved from AWS's catalogs).  A version-1 file reads
as a version-2 one with an empty catalog and is written back as version 2;
a version-1 reader refuses a version-2 file with its "newer" message instead
of failing on the unknown key.

3: ``lineage`` (which history a file belongs to: saved plans and ``state
migrate`` check it) and each step's ``observed`` (what the last ``status
--refresh`` found).  An older file gets a new lineage when it is read and
keeps it from its next save on.

4: ``dr`` (the journal of ``dr promote`` / ``dr failback``: the run in
progress and the finished ones).  An older file reads with an empty
journal (:func:`vivr_provision.state.migrate.upgrade`); a version-3 reader
refuses a version-4 file with its "newer" message."""

StepStatus = Literal["pending", "creating", "ready", "deleting", "deleted", "failed"]

_MODEL_CONFIG = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


def utc_now() -> str:
    """Current time as ISO-8601 UTC with seconds precision, e.g. ``2025-01-31T12:00:00Z``.

    One fixed format keeps the file diff-friendly and sortable as plain text.
    """
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class Observation(BaseModel):
    """What ``status --refresh`` last found for a step, so ``status`` does not say
    ``ready`` for a resource the refresh found deleted or changed by hand."""

    model_config = _MODEL_CONFIG

    result: Literal["ok", "drifted", "missing"]
    at: str
    """ISO-8601 UTC time of the refresh; a later apply or destroy of the step supersedes it."""
    changes: list[str] = Field(default_factory=list)
    """The drifted settings, one line each (values redacted)."""


class StepRecord(BaseModel):
    """What is known about one step's resource; mutable because the engine updates it in place."""

    model_config = _MODEL_CONFIG

    status: StepStatus = "pending"
    resource_id: str | None = None
    """Physical id (``vpc-...``, ``arn:...``) once known."""
    outputs: dict[str, Any] = Field(default_factory=dict)
    """Ids, ARNs and endpoints that dependent steps read; never secrets (the file is plain JSON)."""
    token: str | None = None
    """Idempotency token used (or planned) for the create call, so a retry is not a duplicate."""
    generation: int = 0
    """Bumped when the resource is deleted, so the next create derives a new token."""
    origin: Literal["created", "adopted"] | None = None
    """Whether this tool created the resource or adopted one that already existed."""
    started_at: str | None = None
    """ISO-8601 UTC start of the current transition (creating/deleting)."""
    updated_at: str | None = None
    error: str | None = None
    """Last error, one line."""
    retained: list[str] = Field(default_factory=list)
    """What the last delete deliberately kept (final snapshot, secret in its recovery window)."""
    written: list[dict[str, str]] = Field(default_factory=list)
    """What the step wrote into a container another step owns (ACM's validation records in
    the hosted zone), journalled before the write and kept after the step's own resource is
    gone, so the container's step can recognise it as ours (``StepContext.written_into``)."""
    observed: Observation | None = None
    """What the last ``status --refresh`` found; cleared by the step's next transition."""


class CatalogRecord(BaseModel):
    """One value resolved from AWS's catalog at the last apply (see ``vivr_provision.catalog``)."""

    model_config = _MODEL_CONFIG

    requested: str
    """What the config said, e.g. ``"16"``."""
    value: str
    """What AWS's catalog gave, e.g. ``"16.15"``."""
    regions: list[str]
    source: str
    """The API that said so."""
    resolved_at: str


RunStatus = Literal["pending", "running", "done", "failed", "skipped"]


class DrStageRecord(BaseModel):
    """One stage of a DR run: saved *before* its first mutating call (``running``)."""

    model_config = _MODEL_CONFIG

    status: RunStatus = "pending"
    started_at: str | None = None
    finished_at: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    """What later stages, ``dr status`` and the way back need (ids, endpoints, revisions,
    timings); never a secret: the file is plain JSON."""
    error: str | None = None
    """Why the stage failed or was skipped, one line."""


class DrRun(BaseModel):
    """One ``dr promote`` or ``dr failback``: its stages in runbook order."""

    model_config = _MODEL_CONFIG

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    kind: Literal["promotion", "failback"]
    started_at: str
    finished_at: str | None = None
    status: Literal["running", "done", "failed"] = "running"
    rto_seconds: int
    rpo_seconds: int
    stages: dict[str, DrStageRecord] = Field(default_factory=dict)
    """Stage name -> record; a dict keeps the runbook's order (JSON objects keep theirs in
    Python, and the runner reads the order from the runbook, not from here)."""


class DrJournal(BaseModel):
    """The DR runs of this environment: the one in progress or in force, and history.

    ``promotion`` is the last promotion that has not been failed back: while
    it is set (whatever its status), apply and plan refuse to touch what it
    changed (:mod:`vivr_provision.dr_guard`).  ``failback`` is a failback in
    progress.  A finished failback moves both to ``history``.
    """

    model_config = _MODEL_CONFIG

    promotion: DrRun | None = None
    failback: DrRun | None = None
    history: list[DrRun] = Field(default_factory=list)


class State(BaseModel):
    """Everything one project/environment pair has provisioned."""

    model_config = _MODEL_CONFIG

    schema_version: int = SCHEMA_VERSION
    project: str
    environment: str
    account_id: str | None = None
    region: str | None = None
    serial: int = 0
    """Incremented by every save, so two copies of the file can be ordered."""
    lineage: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Fixed when the state is first created: two files with the same serial but
    another lineage are different histories (a saved plan from another state).
    A file older than schema 3 gets one derived from its identity and creation
    time, so reading it twice gives the same lineage before it is saved."""
    created_at: str
    updated_at: str
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    catalog: dict[str, CatalogRecord] = Field(default_factory=dict)
    """Catalog values the last apply resolved (engine versions, classes, AMIs, TLS policies)."""
    dr: DrJournal = Field(default_factory=DrJournal)
    """The journal of ``dr promote`` and ``dr failback`` (schema 4)."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_lineage(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lineage" not in data and "created_at" in data:
            seed = f"{data.get('project')}/{data.get('environment')}/{data['created_at']}"
            data = {**data, "lineage": uuid.uuid5(uuid.NAMESPACE_URL, seed).hex}
        return data

    def record(self, step: str) -> StepRecord:
        """Return the record of ``step``, creating a pending one on first use.

        The returned object is the one stored in :attr:`steps`, so updating it
        updates the state that the next save writes.
        """
        existing = self.steps.get(step)
        if existing is None:
            existing = self.steps[step] = StepRecord()
        return existing
