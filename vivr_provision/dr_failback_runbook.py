"""The failback runbook as data: from the promoted us-west-2 database back to us-east-1.

The same :class:`~vivr_provision.dr_runbook.Stage` table as the promotion,
with one more column, ``decision``: a failback is planned, not an
emergency, and it has a write outage (``stop-writes`` to
``move-traffic-back``) that someone must choose to start.

Why this shape:

* **Nothing that holds data is deleted.**  The old primary is
  snapshotted and renamed (``<id>-old-<run>``), never deleted: it may hold
  writes that never reached us-west-2 (up to the lag check-rpo recorded).
  The stale us-west-2 copy is likewise snapshotted and renamed once the new
  primary serves.  Deleting either is the operator's decision, by hand.
* **The new primary takes the old name.**  The new us-east-1 replica is
  created as ``rds.identifier`` (``vivr-db``): an RDS endpoint is
  ``<identifier>.<account hash>.<region>.rds.amazonaws.com``, so the
  primary region's app, PgBouncer and the state's step all find it where
  they did, and ``apply`` adopts it as the primary.
* **The write outage is explicit.**  Replication is asynchronous; the only
  way to switch without losing a write is to stop writing (scale the
  standby service, the only writer, to 0), let the lag reach 0, and only
  then promote.  The stage says so and what clients see meanwhile.
"""

from __future__ import annotations

from vivr_provision.dr_runbook import ROUTE53_PROPAGATION_SECONDS, Duration, Stage

#: Spec "replication lag < 1 second": the new replica is caught up at or under it.
CATCH_UP_SECONDS = 1.0

FAILBACK: tuple[Stage, ...] = (
    Stage(
        name="check-promotion",
        does="Read the recorded promotion, the promoted {dr_region} database and the old "
             "primary in {region}: both regions answer.",
        operations=("rds:DescribeDBInstances",),
        duration=Duration(1, 10, "estimate: two reads"),
        reversible=True, reversal="reads only, nothing to undo", mutating=False,
        decision="Fail back only once {region} is healthy again, in a planned low-traffic "
                 "window: stages 5 to 7 stop writes."),
    Stage(
        name="keep-old-primary",
        does="Snapshot the old {region} primary, then rename it to <id>-old-<run> so the "
             "new replica can take its name; it is never deleted.",
        operations=("rds:CreateDBSnapshot", "waiter db_snapshot_available",
                    "rds:ModifyDBInstance NewDBInstanceIdentifier", "waiter "
                    "db_instance_available"),
        duration=Duration(900, 7200, "estimate: a first manual snapshot copies the whole "
                                     "volume (RDS guide 'Creating a DB snapshot': incremental "
                                     "after the first); a rename restarts nothing"),
        reversible=True, reversal="rename it back (ModifyDBInstance) before create-replica",
        mutating=True,
        decision="The old primary may hold writes never replicated (up to the lag check-rpo "
                 "recorded): reconcile them from the snapshot if they matter. Delete the "
                 "renamed instance yourself once sure; the tool never does."),
    Stage(
        name="create-replica",
        does="Create {identifier} in {region} as a cross-region read replica of the promoted "
             "{dr_region} database, encrypted with the primary key.",
        operations=("rds:CreateDBInstanceReadReplica (SourceRegion)",
                    "waiter db_instance_available"),
        duration=Duration(3600, 6 * 3600,
                          "estimate: RDS guide 'Working with DB instance read replicas': "
                          "creation copies a snapshot across regions; time grows with the "
                          "size of the database"),
        reversible=True, reversal="delete the new replica; nothing else changed",
        mutating=True),
    Stage(
        name="catch-up",
        does="Wait until the new replica's ReplicaLag is at most "
             f"{CATCH_UP_SECONDS:g} s (spec: replication lag < 1 second).",
        operations=("cloudwatch:GetMetricStatistics",),
        duration=Duration(300, 3600, "estimate: the backlog of writes made during creation"),
        reversible=True, reversal="reads only, nothing to undo", mutating=False),
    Stage(
        name="stop-writes",
        does="Scale the standby service (the only writer) to 0 tasks; wait until the lag "
             "is 0.",
        operations=("ecs:UpdateService desiredCount=0", "waiter services_stable",
                    "cloudwatch:GetMetricStatistics"),
        duration=Duration(120, 900, "estimate: ECS drains the tasks (deregistration delay), "
                                    "then one ReplicaLag datapoint a minute"),
        reversible=True, reversal="scale the standby back up: writes resume in {dr_region}",
        mutating=True,
        decision="The write outage starts here: clients get the ALB's 503 (CloudFront's "
                 "error page) until move-traffic-back. On a pilot light without a standby "
                 "service, stop the writers yourself before confirming."),
    Stage(
        name="promote-primary",
        does="Promote {identifier} in {region} to a standalone instance; wait until "
             "writable.",
        operations=("rds:PromoteReadReplica", "waiter db_instance_available"),
        duration=Duration(600, 3600, "AWS RDS guide 'Promoting a read replica to be a "
                                     "standalone DB instance' (as promote-db)"),
        reversible=False,
        reversal="a promoted instance never becomes a replica again; {dr_region} still holds "
                 "the copy of the moment writes stopped",
        mutating=True),
    Stage(
        name="move-traffic-back",
        does="Un-invert the primary's health check so the failover answers the PRIMARY "
             "again; verify what DNS answers.",
        operations=("route53:UpdateHealthCheck", "route53:GetHealthCheckStatus",
                    "route53:TestDNSAnswer"),
        duration=Duration(90, 90 + ROUTE53_PROPAGATION_SECONDS + 60,
                          "Route 53 guide: the check turns healthy after its failure "
                          "threshold of successes; then the record's TTL"),
        reversible=True, reversal="invert the check again",
        mutating=True,
        decision="Check that the primary region's app answers (its target group healthy) "
                 "before confirming: this sends every client there."),
    Stage(
        name="standby-back",
        does="Return the standby service to the task definition and task count it had "
             "before the promotion.",
        operations=("ecs:UpdateService",),
        duration=Duration(60, 600, "estimate: one call; a warm standby's tasks restart"),
        reversible=True, reversal="scale it again (`dr promote` does)", mutating=True),
    Stage(
        name="retire-dr-copy",
        does="Snapshot the standalone {dr_region} instance and rename it to <id>-old-<run>, "
             "so `apply` re-creates the cross-region replica under its name.",
        operations=("rds:CreateDBSnapshot", "waiter db_snapshot_available",
                    "rds:ModifyDBInstance NewDBInstanceIdentifier"),
        duration=Duration(900, 7200, "estimate: as keep-old-primary"),
        reversible=True, reversal="rename it back", mutating=True,
        decision="Delete the renamed copy yourself once the new replica is in sync; then "
                 "`vivr-provision apply --target 'dr.rds.*'` re-creates the replica."),
    Stage(
        name="close",
        does="Move the promotion and this failback to history: apply manages every step "
             "again.",
        operations=(),
        duration=Duration(1, 5, "one state save"),
        reversible=True, reversal="a record only", mutating=False),
)

__all__ = ["CATCH_UP_SECONDS", "FAILBACK"]
