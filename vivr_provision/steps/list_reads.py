"""The list calls that answer the first lookup of many alarms or log groups at once.

Each function is the ``load`` of a :mod:`vivr_provision.batch_reads` batch:
one paginated call per region, filtered server-side as narrowly as the API
allows, returning ``name -> item`` in exactly the shape the step's own read
returns, so its diff sees the same data.  The limits quoted are botocore's
service models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: DescribeAlarms' ``MaxRecords``: 1..100.
ALARM_PAGE = 100
#: DescribeLogGroups' ``logGroupIdentifiers``: 1..50 names per call (``limit`` is 1..50 too).
LOG_GROUPS_PER_CALL = 50


def common_prefix(names: Iterable[str]) -> str:
    """The longest prefix all ``names`` share ("" when they share none): that of the
    first and last in sorted order."""
    ordered = sorted(names)
    if not ordered:
        return ""
    first, last = ordered[0], ordered[-1]
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b),
                min(len(first), len(last)))
    return first[:size]


def alarms_by_prefix(cloudwatch: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """Alarm name -> ``DescribeAlarms``' ``MetricAlarms`` item, for every metric alarm
    whose name starts with ``prefix``.  ``AlarmNamePrefix`` cannot be combined with
    ``AlarmNames``; without ``AlarmTypes`` only metric alarms are returned, as the
    by-name read returns them (``MetricAlarms[0]``)."""
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, PaginationConfig={"PageSize": ALARM_PAGE})
    return {str(a["AlarmName"]): a for page in pages for a in page.get("MetricAlarms", [])}


def log_groups_by_name(logs: Any, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Log group name -> ``DescribeLogGroups`` item for each of ``names`` that exists.

    ``logGroupIdentifiers`` is the one exact-name filter (names of the caller's
    own account; at most 50, and no other filter beside it); the names share no
    useful prefix (``/vivr/...``, ``/aws/rds/...``, ``aws-waf-logs-...``), and
    ``logGroupNamePattern`` (a substring) would return only ``arn``,
    ``creationTime`` and ``logGroupName``.  Groups are matched by name again here,
    so an endpoint that ignored the filter still gives each step its own group.
    """
    wanted = sorted(set(names))
    found: dict[str, dict[str, Any]] = {}
    paginator = logs.get_paginator("describe_log_groups")
    for start in range(0, len(wanted), LOG_GROUPS_PER_CALL):
        chunk = wanted[start:start + LOG_GROUPS_PER_CALL]
        for page in paginator.paginate(logGroupIdentifiers=chunk):
            found.update({str(g["logGroupName"]): g for g in page.get("logGroups", [])
                          if g["logGroupName"] in chunk})
    return found


#: DescribeDBInstances' ``MaxRecords``: 20..100 (botocore model documentation).
DB_INSTANCE_PAGE = 100


def db_instances_by_id(rds: Any, identifiers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Identifier -> ``DescribeDBInstances`` item for each of ``identifiers`` that exists,
    in one call: the ``db-instance-id`` filter takes identifiers (or ARNs) and, unlike
    ``DBInstanceIdentifier``, answers an empty list rather than ``DBInstanceNotFound``
    for one that is missing."""
    pages = rds.get_paginator("describe_db_instances").paginate(
        Filters=[{"Name": "db-instance-id", "Values": sorted(set(identifiers))}],
        PaginationConfig={"PageSize": DB_INSTANCE_PAGE})
    return {str(db["DBInstanceIdentifier"]): db for page in pages
            for db in page.get("DBInstances", [])}
