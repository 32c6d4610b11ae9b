"""Manual database backups on Stubber clients: the name RDS accepts, the tags a backup
carries, and pruning that deletes only our expired backups.

Each request is announced with its exact parameters, so a wrong name, a
missing tag or a delete of a snapshot that is not ours fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision import backup
from vivr_provision.cli.backup import take
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.steps.common import aws_tags

NOW = datetime(2026, 12, 6, 4, 54, 30, tzinfo=UTC)
NAME = "vivr-db-production-manual-20261206-045430"
OURS = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision",
        backup.BACKUP_TAG: "pre-deploy"}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _snapshot(name: str, *, tags: dict[str, str], created: datetime = NOW,
              status: str = "available", instance: str = "vivr-db") -> dict[str, Any]:
    return {"DBSnapshotIdentifier": name, "DBInstanceIdentifier": instance,
            "SnapshotCreateTime": created, "Status": status, "SnapshotType": "manual",
            "DBSnapshotArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:{name}",
            "TagList": aws_tags(tags)}


def _expiring(days_ago: int) -> dict[str, str]:
    return {**OURS, backup.EXPIRES_TAG: backup.iso(NOW - timedelta(days=days_ago))}


def test_the_name_is_identifier_environment_manual_and_the_utc_stamp(
        config: PlatformConfig) -> None:
    assert backup.snapshot_name(config, NOW) == NAME
    staging = load_config(REPO / "config" / "staging.yaml", "staging")
    assert backup.snapshot_name(staging, NOW).endswith("-staging-manual-20261206-045430")


@pytest.mark.parametrize(("name", "valid"), [
    (NAME, True), ("a", True), ("1-db", False), ("db--x", False), ("db-", False),
    ("db_x", False), ("a" * 255, True), ("a" * 256, False)])
def test_snapshot_identifiers_follow_the_rds_rule(name: str, valid: bool) -> None:
    assert bool(backup.SNAPSHOT_ID.fullmatch(name)) is valid


def test_create_sends_the_name_and_ownership_backup_and_expiry_tags_then_waits(
        config: PlatformConfig) -> None:
    tags = {**config.tags, **OURS, "Name": NAME, backup.RETENTION_TAG: "90",
            backup.EXPIRES_TAG: "2027-03-06T04:54:30Z"}
    aws = StubbedAws()
    aws.expect("rds", "create_db_snapshot",
               {"DBSnapshot": _snapshot(NAME, tags=tags, status="creating")},
               {"DBInstanceIdentifier": "vivr-db", "DBSnapshotIdentifier": NAME,
                "Tags": aws_tags(tags)})
    aws.expect("rds", "describe_db_snapshots",  # the waiter's poll
               {"DBSnapshots": [_snapshot(NAME, tags=tags)]}, {"DBSnapshotIdentifier": NAME})
    aws.expect("rds", "describe_db_snapshots",
               {"DBSnapshots": [_snapshot(NAME, tags=tags)]}, {"DBSnapshotIdentifier": NAME})
    with aws:
        made = backup.create(aws.context(config), NOW)
    assert made.identifier == NAME and made.status == "available"
    assert backup.expires_at(made, config) == NOW + timedelta(days=90)


def test_prune_selects_only_our_available_backups_past_their_expiry(
        config: PlatformConfig) -> None:
    old = NOW - timedelta(days=91)
    snapshots = [backup.Snapshot.from_aws(s) for s in [
        _snapshot("vivr-db-production-manual-20260101-000000", tags=_expiring(1)),
        # No expiry written: creation time + 90 days decides.
        _snapshot("vivr-db-production-manual-20260906-000000", tags=OURS, created=old),
        _snapshot("vivr-db-production-manual-20261201-000000", tags=OURS),
        _snapshot("vivr-db-production-manual-20261205-000000", tags=_expiring(-30)),
        # Foreign: no ownership tags, or another environment's, or someone's own name.
        _snapshot("vivr-db-production-manual-20260102-000000",
                  tags={backup.BACKUP_TAG: "pre-deploy",
                        backup.EXPIRES_TAG: "2026-01-01T00:00:00Z"}),
        _snapshot("vivr-db-production-manual-20260103-000000",
                  tags={**_expiring(1), "Environment": "staging"}),
        _snapshot("before-migration", tags=_expiring(1)),
        # What destroy leaves, even with our tags on it.
        _snapshot("vivr-db-production-final-20260101-000000", tags=_expiring(1)),
        # Still being created, or of another instance.
        _snapshot("vivr-db-production-manual-20260104-000000", tags=_expiring(1),
                  status="creating"),
        _snapshot("vivr-db-production-manual-20260105-000000", tags=_expiring(1),
                  instance="vivr-db-replica-1"),
    ]]
    chosen = [s.identifier for s in backup.expired(snapshots, config, NOW)]
    assert chosen == ["vivr-db-production-manual-20260101-000000",
                      "vivr-db-production-manual-20260906-000000"]


def _expect_backup(aws: StubbedAws, config: PlatformConfig,
                   listed: list[dict[str, Any]]) -> None:
    tags = {**config.tags, **OURS, "Name": NAME}
    aws.expect("rds", "create_db_snapshot", {"DBSnapshot": _snapshot(NAME, tags=tags)})
    for _ in range(2):
        aws.expect("rds", "describe_db_snapshots", {"DBSnapshots": [_snapshot(NAME, tags=tags)]},
                   {"DBSnapshotIdentifier": NAME})
    aws.expect("rds", "describe_db_snapshots",
               {"DBSnapshots": [_snapshot(NAME, tags=tags), *listed]},
               {"DBInstanceIdentifier": "vivr-db", "SnapshotType": "manual"})


LISTED = [
    _snapshot("vivr-db-production-manual-20260101-000000", tags=_expiring(1)),
    _snapshot("vivr-db-production-manual-20261201-000000", tags=OURS),
    _snapshot("manual-by-hand", tags={}),
    _snapshot("vivr-db-production-final-20260101-000000",
              tags={k: v for k, v in OURS.items() if k != backup.BACKUP_TAG}),
]


def test_a_backup_prunes_exactly_the_expired_one_with_approval(config: PlatformConfig) -> None:
    aws = StubbedAws()
    _expect_backup(aws, config, LISTED)
    aws.expect("rds", "delete_db_snapshot", {},
               {"DBSnapshotIdentifier": "vivr-db-production-manual-20260101-000000"})
    with aws:
        report = take(aws.context(config), NOW, prune=True)
    assert report.created is not None and report.created.identifier == NAME
    assert [s.identifier for s in report.pruned] == ["vivr-db-production-manual-20260101-000000"]
    assert report.kept_expired == []


def test_without_approval_the_expired_backup_is_kept_and_named(config: PlatformConfig) -> None:
    aws = StubbedAws()
    _expect_backup(aws, config, LISTED)  # no delete_db_snapshot announced: none may be sent
    with aws:
        report = take(aws.context(config), NOW, prune=False)
    assert report.pruned == []
    assert [s.identifier for s in report.kept_expired] == [
        "vivr-db-production-manual-20260101-000000"]
    lines = report.lines(lambda s: "x")
    assert "kept 1 expired backup(s) (vivr-db-production-manual-20260101-000000)" in lines[-1]
    assert "--yes" in lines[-1]


def test_a_name_taken_by_our_own_backup_is_adopted_and_a_foreign_one_refused(
        config: PlatformConfig) -> None:
    tags = {**OURS, "Name": NAME}
    aws = StubbedAws()
    aws.expect_error("rds", "create_db_snapshot", backup.ALREADY_EXISTS)
    for _ in range(2):
        aws.expect("rds", "describe_db_snapshots", {"DBSnapshots": [_snapshot(NAME, tags=tags)]},
                   {"DBSnapshotIdentifier": NAME})
    aws.expect("rds", "describe_db_snapshots", {"DBSnapshots": [_snapshot(NAME, tags=tags)]},
               {"DBSnapshotIdentifier": NAME})
    with aws:
        assert backup.create(aws.context(config), NOW).identifier == NAME

    aws = StubbedAws()
    aws.expect_error("rds", "create_db_snapshot", backup.ALREADY_EXISTS)
    aws.expect("rds", "describe_db_snapshots", {"DBSnapshots": [_snapshot(NAME, tags={})]},
               {"DBSnapshotIdentifier": NAME})
    with aws, pytest.raises(backup.BackupError, match="not a backup of ours"):
        backup.create(aws.context(config), NOW)


def test_no_instance_is_one_clear_error(config: PlatformConfig) -> None:
    aws = StubbedAws()
    aws.expect_error("rds", "create_db_snapshot", "DBInstanceNotFound", status=404)
    with aws, pytest.raises(backup.BackupError, match="vivr-db does not exist in us-east-1"):
        backup.create(aws.context(config), NOW)


@pytest.mark.parametrize(("action", "wanted"), [
    ("update", True), ("replace", True), ("no-op", False), ("create", False), (None, False)])
def test_only_an_update_or_replacement_of_the_primary_asks_for_a_backup(
        config: PlatformConfig, action: str | None, wanted: bool) -> None:
    actions = {"rds.vivr-db-replica-1": "update", "alb": "replace"}
    if action is not None:
        actions["rds.vivr-db"] = action
    assert backup.changes_database(actions, config) is wanted


def test_pre_apply_backups_are_on_by_default(config: PlatformConfig) -> None:
    assert config.dr.backups.before_apply is True
    assert config.dr.snapshot_retention.manual_pre_deploy_days == 90
