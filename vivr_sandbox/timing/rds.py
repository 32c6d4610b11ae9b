"""RDS under a timing profile: DB instances are creating, modifying, deleting for AWS's durations.

moto 5.2.5 reports ``available`` already in the CreateDBInstance response,
applies a modification at once and removes a deleted instance at once.  On
AWS a Multi-AZ instance is ``creating`` for about 15 minutes, a cross-region
replica for about 25, a modification with ApplyImmediately is ``modifying``,
and a deleted instance stays listed as ``deleting`` until it is gone (then
DBInstanceNotFound).  ``db_instance_available`` keeps polling on
``creating``/``modifying`` (its failure acceptors are deleted, deleting,
failed, incompatible-*); ``db_instance_deleted`` keeps polling on
``deleting`` and succeeds on DBInstanceNotFound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.attributes import time_attribute
from vivr_sandbox.timing.clock import begin, forget, held, hold_deleted


def instance_kind(database: Any, backend: Any) -> str:
    """The profile kind of a DB instance: replica (same or cross-region) or primary."""
    if getattr(database, "is_replica", False):
        source = str(getattr(database, "source_db_instance_identifier", "") or "")
        parts = source.split(":")
        cross_region = source.startswith("arn:") and len(parts) > 3 \
            and parts[3] != backend.region_name
        return "rds_cross_region_replica" if cross_region else "rds_read_replica"
    return "rds_instance_multi_az" if getattr(database, "multi_az", False) else "rds_instance"


def _time_db_instances() -> None:
    """RDS: DB instances report creating / modifying / deleting for the profile's durations."""
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import DBInstance, RDSBackend

    time_attribute(DBInstance, "status")

    @wrap(RDSBackend, "create_db_instance")
    def create_db_instance(original: Any, self: Any, db_kwargs: Any) -> Any:
        database = original(self, db_kwargs)
        begin(database, instance_kind(database, self), "create", {"status": "creating"})
        return database

    @wrap(RDSBackend, "create_db_instance_read_replica")
    def create_db_instance_read_replica(original: Any, self: Any, db_kwargs: Any) -> Any:
        replica = original(self, db_kwargs)
        forget(replica)  # moto copies the source object, phase included
        begin(replica, instance_kind(replica, self), "create", {"status": "creating"})
        return replica

    @wrap(RDSBackend, "modify_db_instance")
    def modify_db_instance(original: Any, self: Any, db_instance_identifier: str,
                           db_kwargs: Any) -> Any:
        # Without ApplyImmediately AWS keeps the change pending (no status change).
        immediately = bool(db_kwargs.get("apply_immediately"))
        database = original(self, db_instance_identifier, db_kwargs)
        if immediately:
            begin(database, instance_kind(database, self), "modify", {"status": "modifying"})
        return database

    @wrap(RDSBackend, "delete_db_instance")
    def delete_db_instance(original: Any, self: Any, db_instance_identifier: str,
                           *args: Any, **kwargs: Any) -> Any:
        existing = self.databases.get(db_instance_identifier)
        if existing is not None and held(existing):
            raise RDSClientError("InvalidDBInstanceState",
                                 f"Instance {db_instance_identifier} is already being deleted.")
        kind = instance_kind(existing, self) if existing is not None else "rds_instance"
        database = original(self, db_instance_identifier, *args, **kwargs)
        forget(database)  # moto stores "deleting"; no earlier phase may hide it

        def release() -> None:
            if self.databases.get(db_instance_identifier) is database:
                del self.databases[db_instance_identifier]

        if hold_deleted(database, self.account_id, kind, release):
            self.databases[db_instance_identifier] = database
        return database


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_db_instances]
