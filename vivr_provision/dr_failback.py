"""The actions of ``dr failback``'s stages (the runbook, as data, is :mod:`dr_failback_runbook`).

Same rules as the promotion's (:mod:`vivr_provision.dr_stages`): read
before acting, journal before the mutating call, waits bounded by the
stage's allowance.  What is specific here:

* **Two sittings.**  ``dr failback`` runs up to ``catch-up`` and stops:
  the rest starts a write outage, so it runs only with ``--switch``
  (:data:`SWITCH_AT`), an explicit decision taken when the replica has
  caught up, possibly hours later.
* **Names, not deletions.**  The old primary and the stale DR copy are
  snapshotted and renamed ``<id>-old-<run>``; nothing that holds data is
  deleted by the tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vivr_provision.dr_execute import Action, Skipped, StageContext
from vivr_provision.dr_failback_runbook import CATCH_UP_SECONDS, FAILBACK
from vivr_provision.dr_stages import (
    RDS_DELAY_S,
    promote_instance,
    service_of,
    standby_service,
    steer,
)
from vivr_provision.errors import ProvisionError
from vivr_provision.steps.common import absent_on
from vivr_provision.steps.kinds import DB_INSTANCE

if TYPE_CHECKING:
    from vivr_provision.config import PlatformConfig

#: The first stage of the switch: runs only with ``dr failback --switch``.
SWITCH_AT = "stop-writes"
SNAPSHOT_NOT_FOUND = frozenset({"DBSnapshotNotFound", "DBSnapshotNotFoundFault"})
#: ReplicaLag is published once a minute (RDS guide "Monitoring read replication").
LAG_DELAY_S = 60


def _budget(stage: str, delay: int) -> dict[str, int]:
    upper = next(s for s in FAILBACK if s.name == stage).duration
    assert not callable(upper)
    return {"Delay": delay, "MaxAttempts": max(1, upper.upper_seconds // delay)}


def _describe(rds: Any, identifier: str) -> dict[str, Any] | None:
    reply = absent_on(DB_INSTANCE.not_found, rds.describe_db_instances,
                      DBInstanceIdentifier=identifier)
    return dict(reply["DBInstances"][0]) if reply else None


def retired_name(identifier: str, run_id: str) -> str:
    """``vivr-db-old-<run>``: a name no config uses, tied to the failback that kept it."""
    return f"{identifier}-old-{run_id}"


def _promoted(ctx: StageContext) -> dict[str, Any]:
    promotion = ctx.state.dr.promotion
    record = promotion.stages.get("promote-db") if promotion else None
    if record is None or record.status != "done":
        raise ProvisionError("no promoted database is recorded (dr promote's promote-db is "
                             "not done): there is nothing to fail back from")
    return dict(record.outputs)


# --------------------------------------------------------------------------- check-promotion

def check_promotion(ctx: StageContext) -> Mapping[str, Any]:
    """The promoted database is standalone and available; the old primary is read (its
    placement is what the new replica copies)."""
    promoted = _promoted(ctx)
    dr = ctx.clients.client("rds", promoted["region"])
    db = _describe(dr, str(promoted["identifier"]))
    if db is None or db.get("DBInstanceStatus") != "available" \
            or db.get("ReadReplicaSourceDBInstanceIdentifier"):
        raise ProvisionError(f"the promoted {promoted['identifier']} is not a standalone "
                             "available instance: failback needs it as the source")
    old = _describe(ctx.clients.client("rds"), ctx.config.rds.identifier)
    kept = None if old is None else {
        "identifier": old["DBInstanceIdentifier"],
        "status": old.get("DBInstanceStatus"),
        "subnet_group": (old.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "security_groups": [g["VpcSecurityGroupId"] for g in old.get("VpcSecurityGroups") or []],
    }
    return {"promoted_arn": db["DBInstanceArn"], "promoted": promoted["identifier"],
            "dr_region": promoted["region"], "old_primary": kept,
            "summary": f"{promoted['identifier']} serves; old primary "
                       + (f"{kept['identifier']} is {kept['status']}" if kept else "is gone")}


# --------------------------------------------------------------------------- keep / retire

def _snapshot_and_rename(ctx: StageContext, rds: Any, identifier: str) -> dict[str, Any]:
    """Snapshot ``identifier``, then rename it to :func:`retired_name`; reads first."""
    snapshot = f"{identifier}-pre-failback-{ctx.run.id}"
    renamed = retired_name(identifier, ctx.run.id)
    if absent_on(SNAPSHOT_NOT_FOUND, rds.describe_db_snapshots,
                 DBSnapshotIdentifier=snapshot) is None:
        ctx.journal(snapshot=snapshot)
        rds.create_db_snapshot(DBInstanceIdentifier=identifier, DBSnapshotIdentifier=snapshot,
                               Tags=[{"Key": "vivr:dr-failback", "Value": ctx.run.id}])
    rds.get_waiter("db_snapshot_available").wait(
        DBSnapshotIdentifier=snapshot, WaiterConfig=_budget("keep-old-primary", RDS_DELAY_S))
    if _describe(rds, identifier) is not None:
        ctx.journal(renamed_to=renamed)
        # ApplyImmediately: a rename otherwise waits for the maintenance window.
        rds.modify_db_instance(DBInstanceIdentifier=identifier,
                               NewDBInstanceIdentifier=renamed, ApplyImmediately=True)
    rds.get_waiter("db_instance_available").wait(
        DBInstanceIdentifier=renamed, WaiterConfig=_budget("keep-old-primary", RDS_DELAY_S))
    return {"snapshot": snapshot, "renamed_to": renamed,
            "summary": f"{identifier} kept as {renamed}, snapshot {snapshot}"}


def keep_old_primary(ctx: StageContext) -> Mapping[str, Any]:
    old = ctx.outputs_of("check-promotion").get("old_primary")
    if not old:
        raise Skipped(f"no {ctx.config.rds.identifier} in {ctx.config.aws.region}: nothing "
                      "to keep")
    return _snapshot_and_rename(ctx, ctx.clients.client("rds"), str(old["identifier"]))


def retire_dr_copy(ctx: StageContext) -> Mapping[str, Any]:
    checked = ctx.outputs_of("check-promotion")
    rds = ctx.clients.client("rds", str(checked["dr_region"]))
    return _snapshot_and_rename(ctx, rds, str(checked["promoted"]))


# --------------------------------------------------------------------------- create-replica

def replica_request(config: PlatformConfig, checked: Mapping[str, Any],
                    key_arn: str) -> dict[str, Any]:
    """CreateDBInstanceReadReplica's parameters for the new us-east-1 replica.

    ``SourceRegion`` makes botocore presign the cross-region request
    (``PreSignedUrl``, RDS API reference); ``KmsKeyId`` is the primary
    region's key (an encrypted cross-region replica needs a key of its own
    region); placement copies the old primary's subnet group and groups,
    or the config's names when it is gone.
    """
    rds = config.rds
    old = checked.get("old_primary") or {}
    request: dict[str, Any] = {
        "DBInstanceIdentifier": rds.identifier,
        "SourceDBInstanceIdentifier": str(checked["promoted_arn"]),
        "SourceRegion": str(checked["dr_region"]),
        "DBInstanceClass": rds.instance_class,
        "MultiAZ": rds.multi_az,
        "DBSubnetGroupName": old.get("subnet_group") or rds.subnet_group.name,
        "KmsKeyId": key_arn,
        "Tags": [{"Key": "vivr:dr-failback", "Value": str(checked.get("run_id", ""))}],
    }
    if old.get("security_groups"):
        request["VpcSecurityGroupIds"] = list(old["security_groups"])
    return request


def create_replica(ctx: StageContext) -> Mapping[str, Any]:
    checked = {**ctx.outputs_of("check-promotion"), "run_id": ctx.run.id}
    rds = ctx.clients.client("rds")
    identifier = ctx.config.rds.identifier
    found = _describe(rds, identifier)
    if found is None:
        key = ctx.step_outputs("kms")
        if key is None:
            raise ProvisionError("kms is not applied: the new replica has no key to be "
                                 "encrypted with")
        ctx.journal(replica=identifier)
        rds.create_db_instance_read_replica(**replica_request(ctx.config, checked,
                                                              str(key["key_arn"])))
    elif found.get("ReadReplicaSourceDBInstanceIdentifier") != checked["promoted_arn"]:
        raise ProvisionError(f"{identifier} exists in {ctx.config.aws.region} and is not a "
                             f"replica of {checked['promoted_arn']}: rename it first")
    rds.get_waiter("db_instance_available").wait(
        DBInstanceIdentifier=identifier, WaiterConfig=_budget("create-replica", RDS_DELAY_S))
    return {"replica": identifier, "summary": f"{identifier} replicates "
                                              f"{checked['promoted']}"}


# --------------------------------------------------------------------------- lag

def _lag(ctx: StageContext) -> float | None:
    from vivr_provision.dr_status import replica_section

    identifier = ctx.config.rds.identifier
    section = replica_section("failback", {"identifier": identifier}, ctx.config.aws.region,
                              ctx.clients, ctx.clock())
    value = section.get("lag_seconds")
    return None if value is None else float(value)


def _wait_lag(ctx: StageContext, stage: str, at_most: float) -> float:
    config = _budget(stage, LAG_DELAY_S)
    for attempt in range(config["MaxAttempts"]):
        lag = _lag(ctx)
        if lag is not None and lag <= at_most:
            return lag
        if attempt + 1 < config["MaxAttempts"]:
            ctx.sleep(LAG_DELAY_S)
    raise ProvisionError(f"{ctx.config.rds.identifier}'s ReplicaLag did not reach "
                         f"{at_most:g} s in {config['Delay'] * config['MaxAttempts']} s")


def catch_up(ctx: StageContext) -> Mapping[str, Any]:
    lag = _wait_lag(ctx, "catch-up", CATCH_UP_SECONDS)
    return {"lag_seconds": lag, "summary": f"lag {lag:g} s: rerun with --switch to stop "
                                           "writes and switch"}


def stop_writes(ctx: StageContext) -> Mapping[str, Any]:
    """Scale the standby (the only writer) to 0, then wait for a lag of 0."""
    try:
        outputs, ecs = standby_service(ctx)
    except Skipped as why:
        ctx.say(f"stop-writes: {why}: the operator stopped the writers")
        outputs, ecs = {}, None
    if ecs is not None:
        service = service_of(ecs, outputs)
        if service.get("desiredCount"):
            ctx.journal(stopped_from=service.get("desiredCount"))
            ecs.update_service(cluster=outputs["cluster_name"],
                               service=outputs["service_name"], desiredCount=0)
        ecs.get_waiter("services_stable").wait(
            cluster=outputs["cluster_name"], services=[outputs["service_name"]],
            WaiterConfig=_budget("stop-writes", 15))
    lag = _wait_lag(ctx, "stop-writes", 0.0)
    return {"lag_seconds": lag, "summary": "writes stopped, replica lag 0"}


def promote_primary(ctx: StageContext) -> Mapping[str, Any]:
    return promote_instance(ctx, "promote-primary", ctx.config.rds.identifier,
                            ctx.config.aws.region)


def move_traffic_back(ctx: StageContext) -> Mapping[str, Any]:
    return steer(ctx, "move-traffic-back", inverted=False)


def standby_back(ctx: StageContext) -> Mapping[str, Any]:
    """The revision and count the standby ran before ``dr promote`` (its journal)."""
    outputs, ecs = standby_service(ctx)
    promotion = ctx.state.dr.promotion
    assert promotion is not None
    revision = promotion.stages["point-app"].outputs.get("previous_task_definition") \
        if "point-app" in promotion.stages else None
    count = promotion.stages["scale-standby"].outputs.get("previous_desired_count") \
        if "scale-standby" in promotion.stages else None
    request: dict[str, Any] = {"cluster": outputs["cluster_name"],
                               "service": outputs["service_name"],
                               "desiredCount": int(count or 0)}
    if revision:
        request["taskDefinition"] = revision
    ecs.update_service(**request)
    return {**{k: v for k, v in request.items() if k != "cluster"},
            "summary": f"{outputs['service_name']} back to {request['desiredCount']} tasks"}


def close(ctx: StageContext) -> Mapping[str, Any]:
    from vivr_provision.dr_journal import close_failback

    close_failback(ctx.state)
    return {"summary": "promotion and failback moved to history; run `vivr-provision apply "
                       "--target 'dr.rds.*'` to re-create the us-west-2 replica"}


ACTIONS: dict[str, Action] = {
    "check-promotion": check_promotion, "keep-old-primary": keep_old_primary,
    "create-replica": create_replica, "catch-up": catch_up, "stop-writes": stop_writes,
    "promote-primary": promote_primary, "move-traffic-back": move_traffic_back,
    "standby-back": standby_back, "retire-dr-copy": retire_dr_copy, "close": close,
}


__all__ = ["ACTIONS", "SWITCH_AT", "replica_request", "retired_name"]
