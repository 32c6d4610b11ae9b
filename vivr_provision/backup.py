"""Manual backups of the primary database: find, create and prune RDS snapshots.

The spec's "manual backups before deployments, 90-day retention".  A backup
is a manual DB snapshot named ``<identifier>-<env>-manual-<UTC stamp>``,
carrying the tool's ownership tags plus ``vivr:backup=pre-deploy`` and
``vivr:expires=<UTC instant>``: the expiry is written when the snapshot is
taken, so a snapshot keeps the retention it was promised even if the config
later shortens it (a snapshot of ours without a readable expiry falls back
to its creation time plus the configured retention).

Pruning deletes only what is provably ours and expired: a *manual*
snapshot of that instance, named with our manual prefix (so never a
``-final-`` snapshot destroy leaves), carrying our ``ManagedBy``,
``Project``, ``Environment`` and backup tags, ``available``, and past its
expiry.  A snapshot someone else took, an automated one, or one being
created is never touched.

Finding, creating and pruning are separate functions over a
:class:`~vivr_provision.steps.base.StepContext`, so the clients' retries and
rate limits apply; the selection rules are pure functions the unit tests
drive directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import MANAGED_BY, StepContext
from vivr_provision.steps.common import aws_tags, tag_map

BACKUP_TAG = "vivr:backup"
BACKUP_KIND = "pre-deploy"
EXPIRES_TAG = "vivr:expires"
RETENTION_TAG = "vivr:retention-days"
#: RDS's rule for DBSnapshotIdentifier (CreateDBSnapshot docs): 1-255 letters,
#: digits or hyphens, a letter first, no "--", no trailing hyphen.
SNAPSHOT_ID = re.compile(r"(?!.*--)[A-Za-z][A-Za-z0-9-]{0,254}(?<!-)")
ALREADY_EXISTS = "DBSnapshotAlreadyExists"
NOT_FOUND = frozenset({"DBSnapshotNotFound", "DBSnapshotNotFoundFault"})


class BackupError(Exception):
    """A backup could not be made (no instance, a name RDS refuses, a foreign twin)."""


@dataclass(frozen=True)
class Snapshot:
    """One manual DB snapshot as pruning sees it."""

    identifier: str
    instance: str
    status: str
    created: datetime | None
    tags: Mapping[str, str]
    arn: str = ""

    @classmethod
    def from_aws(cls, item: Mapping[str, Any]) -> Snapshot:
        return cls(identifier=str(item["DBSnapshotIdentifier"]),
                   instance=str(item.get("DBInstanceIdentifier", "")),
                   status=str(item.get("Status", "")),
                   created=item.get("SnapshotCreateTime"),
                   tags=tag_map(item.get("TagList")), arn=str(item.get("DBSnapshotArn", "")))


# --------------------------------------------------------------------------- rules (pure)


def utc_stamp(now: datetime) -> str:
    """``20261206-045430``: the stamp destroy's final snapshots use too."""
    return now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def manual_prefix(config: PlatformConfig) -> str:
    return f"{config.rds.identifier}-{config.environment}-manual-"


def snapshot_name(config: PlatformConfig, now: datetime) -> str:
    """``<identifier>-<env>-manual-<UTC stamp>``, checked against RDS's rule."""
    name = manual_prefix(config) + utc_stamp(now)
    if not SNAPSHOT_ID.fullmatch(name):
        raise BackupError(f"{name!r} is not a valid DB snapshot identifier (letters, digits "
                          "and single hyphens, a letter first, at most 255)")
    return name


def retention(config: PlatformConfig) -> timedelta:
    return timedelta(days=config.dr.snapshot_retention.manual_pre_deploy_days)


def backup_tags(config: PlatformConfig, name: str, now: datetime) -> dict[str, str]:
    """The ownership tags every resource of ours carries, and what makes it a backup."""
    tags = dict(config.tags)
    tags.update({
        "Project": config.project, "Environment": config.environment,
        "ManagedBy": MANAGED_BY, "Name": name, BACKUP_TAG: BACKUP_KIND,
        RETENTION_TAG: str(config.dr.snapshot_retention.manual_pre_deploy_days),
        EXPIRES_TAG: iso(now + retention(config)),
    })
    return tags


def is_ours(snapshot: Snapshot, config: PlatformConfig) -> bool:
    """A backup this tool took of this environment's primary (never a final snapshot)."""
    tags = snapshot.tags
    return (snapshot.instance == config.rds.identifier
            and snapshot.identifier.startswith(manual_prefix(config))
            and tags.get("ManagedBy") == MANAGED_BY
            and tags.get("Project") == config.project
            and tags.get("Environment") == config.environment
            and tags.get(BACKUP_TAG) == BACKUP_KIND)


def expires_at(snapshot: Snapshot, config: PlatformConfig) -> datetime | None:
    """The expiry written on it, else its creation time plus the configured retention."""
    written = snapshot.tags.get(EXPIRES_TAG, "")
    try:
        return datetime.strptime(written, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        pass
    if snapshot.created is None:
        return None
    return snapshot.created.astimezone(UTC) + retention(config)


def expired(snapshots: Iterable[Snapshot], config: PlatformConfig,
            now: datetime) -> list[Snapshot]:
    """The snapshots pruning may delete: ours, available and past their expiry."""
    chosen = []
    for snapshot in snapshots:
        if not is_ours(snapshot, config) or snapshot.status != "available":
            continue
        expiry = expires_at(snapshot, config)
        if expiry is not None and expiry <= now:
            chosen.append(snapshot)
    return sorted(chosen, key=lambda s: s.identifier)


# --------------------------------------------------------------------------- AWS


def _rds(ctx: StepContext) -> Any:
    return ctx.client("rds", ctx.config.aws.region)


def find_manual(ctx: StepContext) -> list[Snapshot]:
    """Every manual snapshot of the primary (tags included: DescribeDBSnapshots has them)."""
    pages = _rds(ctx).get_paginator("describe_db_snapshots").paginate(
        DBInstanceIdentifier=ctx.config.rds.identifier, SnapshotType="manual")
    return [Snapshot.from_aws(item) for page in pages for item in page.get("DBSnapshots", [])]


def create(ctx: StepContext, now: datetime) -> Snapshot:
    """Take the snapshot and wait until it is ``available`` (``dr.backups.wait_minutes``).

    A name that already exists (botocore retried a call whose answer was
    lost, or two backups in one second) is adopted when it is ours, and
    refused otherwise.
    """
    from vivr_provision.steps.rds import INSTANCE_BUSY

    config = ctx.config
    name = snapshot_name(config, now)
    try:
        reply = INSTANCE_BUSY.call(
            f"snapshot {config.rds.identifier}", _rds(ctx).create_db_snapshot,
            DBInstanceIdentifier=config.rds.identifier, DBSnapshotIdentifier=name,
            Tags=aws_tags(backup_tags(config, name, now)))
        snapshot = Snapshot.from_aws(reply["DBSnapshot"])
    except aws_errors.ClientError as exc:
        if error_code(exc) in {"DBInstanceNotFound", "DBInstanceNotFoundFault"}:
            raise BackupError(f"{config.rds.identifier} does not exist in {config.aws.region}: "
                              "nothing to back up (apply it first)") from None
        if error_code(exc) != ALREADY_EXISTS:
            raise
        snapshot = _described(ctx, name)
        if not is_ours(snapshot, config):
            raise BackupError(f"snapshot {name} already exists and is not a backup of ours; "
                              "nothing was deleted") from None
    ctx.wait("rds", "db_snapshot_available", budget_s=config.dr.backups.wait_minutes * 60,
             delay_s=15, region=config.aws.region, DBSnapshotIdentifier=name)
    return _described(ctx, name)


def _described(ctx: StepContext, name: str) -> Snapshot:
    reply = _rds(ctx).describe_db_snapshots(DBSnapshotIdentifier=name)
    return Snapshot.from_aws(reply["DBSnapshots"][0])


def delete(ctx: StepContext, snapshot: Snapshot) -> None:
    """Delete one snapshot pruning chose; one already gone is done."""
    try:
        _rds(ctx).delete_db_snapshot(DBSnapshotIdentifier=snapshot.identifier)
    except aws_errors.ClientError as exc:
        if error_code(exc) not in NOT_FOUND:
            raise


def changes_database(actions: Mapping[str, str], config: PlatformConfig) -> bool:
    """Whether a plan's step actions update or replace the primary database."""
    return actions.get(f"rds.{config.rds.identifier}") in {"update", "replace"}
