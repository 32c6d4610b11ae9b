"""A plan people review and machines keep: what apply or destroy will do, step by step.

``plan`` builds one from the engine's read-only walk; ``apply`` and
``destroy`` show it and ask before replacing or deleting; ``plan --out
FILE`` saves it and ``apply FILE`` applies exactly it.  A saved plan is
bound to the history it was made from: the state's lineage and serial, a
digest of the effective config and the tool version.  Anything else
having changed since means the review no longer holds, so ``apply FILE``
refuses (Terraform's "Saved plan is stale").

Values in a plan are already redacted (see ``engine.shown``): a plan file
never holds a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vivr_provision import __version__
from vivr_provision.errors import ConfigError, VivrError

PLAN_FORMAT = 1
"""Bumped on any change of the saved file's shape; a reader refuses other versions."""

Kind = Literal["apply", "destroy"]
#: Plan actions in the order the summary line counts them, with their markers.
MARKERS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}
#: The summary line's wording per action.
SUMMARY = (("create", "to add"), ("update", "to change"), ("replace", "to replace"),
           ("delete", "to destroy"))

_STRICT = ConfigDict(extra="forbid", strict=True)


class PlanRefused(VivrError):
    """The plan cannot go ahead as asked (approval missing, protected resources,
    a stale saved plan); nothing was changed."""

    exit_code = 1


class PlannedChange(BaseModel):
    """One setting that differs: values as shown (JSON, redacted)."""

    model_config = _STRICT

    field: str
    current: str
    desired: str
    replace: bool = False
    #: When it takes effect if not at once ("in the maintenance window").
    when: str = ""

    def line(self) -> str:
        suffix = " (forces replacement)" if self.replace else (
            f" ({self.when.replace('in the', 'at the')})" if self.when else "")
        return f"{self.field}: {self.current} → {self.desired}{suffix}"


class PlannedStep(BaseModel):
    """What one step will do."""

    model_config = _STRICT

    step: str
    action: Literal["create", "update", "replace", "delete", "no-op"]
    resource_id: str | None = None
    #: The changed settings as data (what the text shows under the step).
    settings: list[PlannedChange] = Field(default_factory=list)
    #: The same, one line each as ``status --refresh`` and run reports word them.
    changes: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    #: Why it cannot go ahead as asked (deletion protection, a replacement apply will not make).
    blockers: list[str] = Field(default_factory=list)
    #: Config values apply leaves alone on purpose, with why (shown even for no-op).
    unapplied: list[str] = Field(default_factory=list)
    #: Planned before its dependencies exist: the settings are known only at apply.
    after_dependencies: bool = False

    @property
    def deferred(self) -> bool:
        return bool(self.settings) and all(c.when for c in self.settings)


class Plan(BaseModel):
    """Everything ``plan --out`` saves and ``apply FILE`` checks before applying."""

    model_config = _STRICT

    format: int = PLAN_FORMAT
    kind: Kind
    project: str
    environment: str
    region: str
    account_id: str
    tool_version: str = __version__
    created_at: str
    state_serial: int
    state_lineage: str
    config_digest: str
    targets: list[str] = Field(default_factory=list)
    #: destroy's choices (``skip_final_snapshot``, ``disable_deletion_protection``).
    destroy_options: dict[str, bool] = Field(default_factory=dict)
    steps: list[PlannedStep]

    # -- what it says ------------------------------------------------------
    @property
    def changed(self) -> list[PlannedStep]:
        return [s for s in self.steps if s.action != "no-op"]

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action, _ in SUMMARY}
        for step in self.changed:
            counts[step.action] += 1
        return counts

    def summary(self) -> str:
        """``Plan: 3 to add, 2 to change, 1 to replace, 0 to destroy.`` or ``No changes.``"""
        if not self.changed:
            return "No changes."
        counts = self.counts()
        return "Plan: " + ", ".join(f"{counts[a]} {words}" for a, words in SUMMARY) + "."

    @property
    def destructive(self) -> list[PlannedStep]:
        """Steps that replace or delete a resource: these need an explicit approval."""
        return [s for s in self.steps if s.action in ("replace", "delete")]

    @property
    def blocked(self) -> list[PlannedStep]:
        return [s for s in self.steps if s.blockers]

    def as_dict(self) -> dict[str, Any]:
        document = self.model_dump(mode="json")
        document["summary"] = {"text": self.summary(), **self.counts(),
                               "no_op": len(self.steps) - len(self.changed)}
        return document

    # -- saved plans -------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically (a half-written plan must never be applied)."""
        data = (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"no saved plan at {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path} is not a saved plan ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
            found = document.get("format") if isinstance(document, dict) else None
            raise ConfigError(f"{path} is not a saved plan of this version "
                              f"(format {found!r}, this version reads {PLAN_FORMAT})")
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path} is not a valid saved plan ({where}: {first['msg']})") \
                from None

    def check_current(self, *, project: str, environment: str, digest: str,
                      serial: int, lineage: str, account: str) -> None:
        """Refuse when what the plan was reviewed against has changed since."""
        stale = []
        if (project, environment) != (self.project, self.environment):
            stale.append(f"it is for {self.project} {self.environment}, "
                         f"not {project} {environment}")
        if self.tool_version != __version__:
            stale.append(f"it was made by vivr-provision {self.tool_version}, "
                         f"this is {__version__}")
        if self.state_serial == serial == 0:
            pass  # planned before the first save: every empty state is the same one
        elif lineage != self.state_lineage:
            stale.append("the state is another history (lineage differs)")
        elif serial != self.state_serial:
            stale.append(f"the state changed (serial {self.state_serial} → {serial})")
        if digest != self.config_digest:
            stale.append("the config changed")
        if account != self.account_id:
            stale.append(f"it was made for account {self.account_id}, "
                         f"the credentials are for {account}")
        if stale:
            raise PlanRefused(f"the saved plan is stale: {'; '.join(stale)}; "
                              "nothing was changed: run plan again")


def config_digest(config: Any) -> str:
    """SHA-256 of the effective config (a pydantic model), key order independent."""
    document = json.dumps(config.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()
