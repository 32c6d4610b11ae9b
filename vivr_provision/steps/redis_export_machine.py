"""The Redis export's state machine definition (Amazon States Language), as data.

One execution a day (started by the EventBridge Scheduler schedule):

1. ``CreateSnapshot`` of the replication group, named
   ``<snapshot_prefix>-<UTC date>-<execution name>``: unique per run (a
   second run the same day gets another name), and the date makes the
   objects in the bucket readable.  ElastiCache takes it from a replica
   when the group has one.
2. ``DescribeSnapshots`` every ``poll_seconds`` until it is ``available``.
3. ``CopySnapshot`` with ``TargetBucket``: the export.  The ``.rdb`` files
   land in the bucket under the snapshot's name.
4. ``DeleteSnapshot`` of the intermediate snapshot (the export is the copy
   kept; the automatic snapshots keep their own retention).  ElastiCache
   refuses to delete a snapshot while it is being exported
   (``InvalidSnapshotState``), so the delete retries until the export is done.

Why not a schedule alone: a universal target
(``arn:aws:scheduler:::aws-sdk:elasticache:copySnapshot``) sends the same
input every day, and CopySnapshot needs a source that exists (an automatic
snapshot's name changes daily) and a target name that does not (a fixed
``TargetSnapshotName`` fails from the second day on).  Step Functions'
AWS SDK integrations (``arn:aws:states:::aws-sdk:elasticache:<action>``)
call the same APIs with names computed per execution.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config.archive import RedisExportConfig

#: Step Functions' AWS SDK integration: ``arn:aws:states:::aws-sdk:<service>:<apiAction>``
#: (Step Functions developer guide, "AWS SDK service integrations"; the action in camelCase).
SDK = "arn:aws:states:::aws-sdk:elasticache:"

#: The snapshot states in which work is still going on (ElastiCache API reference,
#: Snapshot.SnapshotStatus: creating | available | restoring | copying | deleting;
#: an export in progress shows as copying or, on newer engines, exporting).
IN_PROGRESS = ("creating", "copying", "exporting")


def _status_choice(ready: str, waiting: str, failed: str) -> dict[str, Any]:
    """Go on when available, wait again while in progress, fail otherwise."""
    in_progress = [{"Variable": "$.status.Status", "StringEquals": status, "Next": waiting}
                   for status in IN_PROGRESS]
    return {"Type": "Choice",
            "Choices": [{"Variable": "$.status.Status", "StringEquals": "available",
                         "Next": ready}, *in_progress],
            "Default": failed}


def _describe(next_state: str) -> dict[str, Any]:
    return {"Type": "Task", "Resource": SDK + "describeSnapshots",
            "Parameters": {"SnapshotName.$": "$.snapshot.SnapshotName"},
            "ResultSelector": {"Status.$": "$.Snapshots[0].SnapshotStatus"},
            "ResultPath": "$.status", "Next": next_state}


def definition(export: RedisExportConfig, replication_group: str, bucket: str) -> dict[str, Any]:
    """The state machine for ``replication_group`` exporting into ``bucket``."""
    wait = export.poll_seconds
    # Intrinsic functions (States.Format, States.StringSplit, States.ArrayGetItem):
    # the date part of the execution's ISO start time, then the execution's name.
    name = ("States.Format('{}-{}-{}', '" + export.snapshot_prefix + "', "
            "States.ArrayGetItem(States.StringSplit($$.Execution.StartTime, 'T'), 0), "
            "$$.Execution.Name)")
    return {
        "Comment": f"Daily export of ElastiCache {replication_group} to s3://{bucket} "
                   "(vivr-provision backup.redis_export)",
        "StartAt": "CreateSnapshot",
        "TimeoutSeconds": export.timeout_minutes * 60,
        "States": {
            "CreateSnapshot": {
                "Type": "Task", "Resource": SDK + "createSnapshot",
                "Parameters": {"ReplicationGroupId": replication_group, "SnapshotName.$": name},
                "ResultSelector": {"SnapshotName.$": "$.Snapshot.SnapshotName"},
                "ResultPath": "$.snapshot", "Next": "WaitForSnapshot"},
            "WaitForSnapshot": {"Type": "Wait", "Seconds": wait, "Next": "SnapshotStatus"},
            "SnapshotStatus": _describe("SnapshotReady"),
            "SnapshotReady": _status_choice("Export", "WaitForSnapshot", "SnapshotFailed"),
            "SnapshotFailed": {"Type": "Fail", "Error": "SnapshotFailed",
                               "Cause": "the snapshot did not become available"},
            "Export": {
                "Type": "Task", "Resource": SDK + "copySnapshot",
                "Parameters": {"SourceSnapshotName.$": "$.snapshot.SnapshotName",
                               "TargetSnapshotName.$": "$.snapshot.SnapshotName",
                               "TargetBucket": bucket},
                "ResultPath": None, "Next": "WaitForExport"},
            "WaitForExport": {"Type": "Wait", "Seconds": wait, "Next": "ExportStatus"},
            "ExportStatus": _describe("ExportDone"),
            "ExportDone": _status_choice("DeleteSnapshot", "WaitForExport", "ExportFailed"),
            "ExportFailed": {"Type": "Fail", "Error": "ExportFailed",
                             "Cause": "the snapshot is in an unexpected state after the export"},
            "DeleteSnapshot": {
                "Type": "Task", "Resource": SDK + "deleteSnapshot",
                "Parameters": {"SnapshotName.$": "$.snapshot.SnapshotName"},
                # InvalidSnapshotState while the export still reads it: retry.
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": wait,
                           "MaxAttempts": 10, "BackoffRate": 1.5}],
                "ResultPath": None, "End": True},
        },
    }


def sdk_calls(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(apiAction, Parameters)`` of every SDK task, for checks against botocore's model."""
    return [(state["Resource"].removeprefix(SDK), state.get("Parameters", {}))
            for state in document["States"].values()
            if state.get("Type") == "Task" and state.get("Resource", "").startswith(SDK)]
