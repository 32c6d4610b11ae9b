"""Sandbox fixes for AWS Backup (see :mod:`vivr_sandbox.fixes` for the rules)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from vivr_sandbox.fixes.patching import add_missing, wrap

_lock = threading.Lock()


def _selections(backend: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Per backend: plan id -> selection id -> the stored selection."""
    with _lock:
        if not hasattr(backend, "vivr_selections"):
            backend.vivr_selections = {}
        found: dict[str, dict[str, dict[str, Any]]] = backend.vivr_selections
        return found


def _live_plan(backend: Any, plan_id: str) -> Any:
    from moto.backup.exceptions import ResourceNotFoundException

    plan = backend.plans.get(plan_id)
    if plan is None or plan.deletion_date is not None:
        raise ResourceNotFoundException(msg=f"Backup plan {plan_id} not found")
    return plan


def _plan_and_selection(path: str) -> tuple[str, str | None]:
    """``/backup/plans/<plan>/selections/[<selection>]`` -> (plan, selection or None)."""
    parts = [unquote(p) for p in path.split("?", maxsplit=1)[0].split("/") if p]
    plan = parts[parts.index("plans") + 1]
    rest = parts[parts.index("selections") + 1:]
    return plan, (rest[0] if rest else None)


def _fix_backup_selections() -> None:
    """AWS Backup: backup selections implemented (Create, Get, List, Delete), and a plan
    that still has selections cannot be deleted.

    moto 5.2.5 has no selection operations (every call fails), so a plan
    cannot be given resources in the sandbox.  AWS keeps them per plan: a
    duplicate name in a plan is ``AlreadyExistsException``, an unknown plan
    or selection ``ResourceNotFoundException``, and ``DeleteBackupPlan``
    answers ``InvalidRequestException`` while selections remain (API
    reference, DeleteBackupPlan: "only be deleted after all associated
    selections of resources have been deleted").
    """
    from moto.backup.exceptions import (
        AlreadyExistsException,
        InvalidRequestException,
        ResourceNotFoundException,
    )
    from moto.backup.models import BackupBackend
    from moto.backup.responses import BackupResponse
    from moto.core.utils import unix_time
    from moto.moto_api._internal import mock_random

    def create_backup_selection(self: Any, plan_id: str, selection: dict[str, Any],
                                creator_request_id: str | None) -> dict[str, Any]:
        _live_plan(self, plan_id)
        stored = _selections(self).setdefault(plan_id, {})
        if any(s["BackupSelection"]["SelectionName"] == selection["SelectionName"]
               for s in stored.values()):
            raise AlreadyExistsException(msg="Backup selection with the same name already exists")
        selection_id = str(mock_random.uuid4())
        record = {"SelectionId": selection_id, "BackupPlanId": plan_id,
                  "CreationDate": unix_time(), "CreatorRequestId": creator_request_id,
                  "BackupSelection": selection}
        stored[selection_id] = record
        return record

    def get_backup_selection(self: Any, plan_id: str, selection_id: str) -> dict[str, Any]:
        record = _selections(self).get(plan_id, {}).get(selection_id)
        if record is None:
            raise ResourceNotFoundException(msg=f"Backup selection {selection_id} not found")
        return record

    def delete_backup_selection(self: Any, plan_id: str, selection_id: str) -> None:
        get_backup_selection(self, plan_id, selection_id)
        del _selections(self)[plan_id][selection_id]

    def list_backup_selections(self: Any, plan_id: str) -> list[dict[str, Any]]:
        _live_plan(self, plan_id)
        return list(_selections(self).get(plan_id, {}).values())

    @wrap(BackupBackend, "delete_backup_plan")
    def delete_backup_plan(original: Any, self: Any, backup_plan_id: str) -> Any:
        if _selections(self).get(backup_plan_id):
            raise InvalidRequestException(
                msg="Related backup plan selections must be deleted prior to backup plan deletion")
        return original(self, backup_plan_id=backup_plan_id)

    for name, method in [("create_backup_selection", create_backup_selection),
                         ("get_backup_selection", get_backup_selection),
                         ("delete_backup_selection", delete_backup_selection),
                         ("list_backup_selections", list_backup_selections)]:
        add_missing(BackupBackend, name, method)

    def r_create(self: Any) -> str:
        plan_id, _ = _plan_and_selection(self.path)
        body = json.loads(self.body or "{}")
        record = self.backup_backend.create_backup_selection(
            plan_id, body["BackupSelection"], body.get("CreatorRequestId"))
        return json.dumps({k: record[k] for k in ("SelectionId", "BackupPlanId",
                                                  "CreationDate")})

    def r_get(self: Any) -> str:
        plan_id, selection_id = _plan_and_selection(self.path)
        return json.dumps(self.backup_backend.get_backup_selection(plan_id, selection_id))

    def r_delete(self: Any) -> str:
        plan_id, selection_id = _plan_and_selection(self.path)
        self.backup_backend.delete_backup_selection(plan_id, selection_id)
        return "{}"

    def r_list(self: Any) -> str:
        plan_id, _ = _plan_and_selection(self.path)
        listed = [{"SelectionId": r["SelectionId"], "BackupPlanId": r["BackupPlanId"],
                   "SelectionName": r["BackupSelection"]["SelectionName"],
                   "CreationDate": r["CreationDate"],
                   "IamRoleArn": r["BackupSelection"]["IamRoleArn"]}
                  for r in self.backup_backend.list_backup_selections(plan_id)]
        return json.dumps({"BackupSelectionsList": listed})

    for name, function in [("create_backup_selection", r_create),
                           ("get_backup_selection", r_get),
                           ("delete_backup_selection", r_delete),
                           ("list_backup_selections", r_list)]:
        add_missing(BackupResponse, name, function)


def _fix_update_backup_plan() -> None:
    """AWS Backup: UpdateBackupPlan implemented, and a deleted plan's name is free again.

    moto 5.2.5 has no UpdateBackupPlan (a changed rule could not be
    converged in the sandbox), and it refuses ``CreateBackupPlan`` for the
    name of a plan it has already deleted (it keeps deleted plans to list
    them with ``IncludeDeleted``); AWS accepts it, so an apply after a
    destroy failed only here.  An update replaces the plan document and
    gives the plan a new ``VersionId``, as AWS does.
    """
    from moto.backup.models import BackupBackend, Plan
    from moto.backup.responses import BackupResponse
    from moto.moto_api._internal import mock_random

    @wrap(BackupBackend, "create_backup_plan")
    def create_backup_plan(original: Any, self: Any, **params: Any) -> Any:
        name = params["backup_plan"]["BackupPlanName"]
        deleted = {key: plan for key, plan in self.plans.items()
                   if plan.deletion_date is not None
                   and plan.backup_plan.get("BackupPlanName") == name}
        for key in deleted:
            del self.plans[key]
        try:
            return original(self, **params)
        finally:
            self.plans.update(deleted)

    def update_backup_plan(self: Any, plan_id: str, document: dict[str, Any]) -> Any:
        plan = _live_plan(self, plan_id)
        fresh = Plan(backup_plan=document, creator_request_id=plan.creator_request_id,
                     backend=self)
        plan.backup_plan = fresh.backup_plan
        plan.version_id = mock_random.get_random_string(length=48)
        return plan

    add_missing(BackupBackend, "update_backup_plan", update_backup_plan)

    def r_update(self: Any) -> str:
        plan_id = unquote(self.path.split("?")[0].rstrip("/").split("/")[-1])
        body = json.loads(self.body or "{}")
        plan = self.backup_backend.update_backup_plan(plan_id, body["BackupPlan"])
        return json.dumps({"BackupPlanId": plan.backup_plan_id,
                           "BackupPlanArn": plan.backup_plan_arn,
                           "CreationDate": plan.creation_date, "VersionId": plan.version_id})

    add_missing(BackupResponse, "update_backup_plan", r_update)


FIXES: list[Callable[[], None]] = [_fix_backup_selections, _fix_update_backup_plan]
